//! Where the environment's requests go: a simulated cluster, or live replicas.

use crate::sim::cluster::Totals;
use crate::sim::{Cluster, ClusterConfig, Outcome};

/// The cluster an [`super::AutoscaleEnv`] acts on. Times are in seconds of the backend's clock
/// (simulated or wall).
pub trait Backend {
    /// Starts an episode with `replicas` ready replicas and nothing in flight.
    fn reset(&mut self, seed: u64, replicas: usize) -> anyhow::Result<()>;
    /// Scales to `replicas` (new ones are ready after the start-up delay).
    fn scale(&mut self, replicas: usize) -> anyhow::Result<()>;
    /// Restarts every replica (self-healing) and waits until they are ready.
    fn restart(&mut self) -> anyhow::Result<()>;
    /// Lets time pass.
    fn wait(&mut self, seconds: f64) -> anyhow::Result<()>;
    /// Sends `n` concurrent requests and waits for their outcomes (bounded by `timeout_s`).
    /// `key` names the first of them (the rest follow it): a simulator draws their service times
    /// from it, so that every policy meets the same work.
    fn send(&mut self, n: usize, timeout_s: f64, key: u64) -> anyhow::Result<Vec<Outcome>>;
    /// Seconds since the episode started.
    fn now(&self) -> f64;
    /// Running totals (pod-seconds, busy and available slot-seconds, background requests).
    fn totals(&self) -> Totals;
}

/// A borrowed backend is a backend (the caller keeps it, e.g. to tear it down).
impl<B: Backend + ?Sized> Backend for &mut B {
    fn reset(&mut self, seed: u64, replicas: usize) -> anyhow::Result<()> {
        (**self).reset(seed, replicas)
    }
    fn scale(&mut self, replicas: usize) -> anyhow::Result<()> {
        (**self).scale(replicas)
    }
    fn restart(&mut self) -> anyhow::Result<()> {
        (**self).restart()
    }
    fn wait(&mut self, seconds: f64) -> anyhow::Result<()> {
        (**self).wait(seconds)
    }
    fn send(&mut self, n: usize, timeout_s: f64, key: u64) -> anyhow::Result<Vec<Outcome>> {
        (**self).send(n, timeout_s, key)
    }
    fn now(&self) -> f64 {
        (**self).now()
    }
    fn totals(&self) -> Totals {
        (**self).totals()
    }
}

/// The simulator as a backend: each episode is a fresh [`Cluster`] seeded by the episode.
#[derive(Clone)]
pub struct SimBackend {
    config: ClusterConfig,
    cluster: Cluster,
}

impl SimBackend {
    pub fn new(config: ClusterConfig) -> Self {
        let cluster = Cluster::new(config.clone(), 0);
        Self { config, cluster }
    }

    pub fn config(&self) -> &ClusterConfig {
        &self.config
    }
}

impl Backend for SimBackend {
    fn reset(&mut self, seed: u64, replicas: usize) -> anyhow::Result<()> {
        self.cluster = Cluster::with_ready_replicas(self.config.clone(), seed, replicas);
        Ok(())
    }

    fn scale(&mut self, replicas: usize) -> anyhow::Result<()> {
        self.cluster.scale(replicas);
        Ok(())
    }

    fn restart(&mut self) -> anyhow::Result<()> {
        self.cluster.restart();
        self.cluster.wait(self.config.startup_s);
        Ok(())
    }

    fn wait(&mut self, seconds: f64) -> anyhow::Result<()> {
        self.cluster.wait(seconds);
        Ok(())
    }

    fn send(&mut self, n: usize, timeout_s: f64, key: u64) -> anyhow::Result<Vec<Outcome>> {
        Ok(self.cluster.send_keyed(n, timeout_s, key))
    }

    fn now(&self) -> f64 {
        self.cluster.now()
    }

    fn totals(&self) -> Totals {
        self.cluster.totals()
    }
}
