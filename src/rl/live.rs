//! The live backend: local replicas of a circuit ([`LocalDeployer`]) driven by the load module,
//! on the wall clock. Every request is a real encrypted recommendation.

use std::time::{Duration, Instant};

use anyhow::Context;

use super::Backend;
use crate::deploy::local::{LocalConfig, LocalDeployer};
use crate::deploy::Deployer;
use crate::load::{LoadPlan, Payload, Profile};
use crate::serve::client::Recommender;
use crate::sim::cluster::Totals;
use crate::sim::Outcome;

/// Local replicas behind the proxy, one prepared encrypted request, and a pod-seconds meter.
/// Drive it from one long-lived thread (replicas die with the thread that started them).
pub struct LiveBackend {
    deployer: LocalDeployer,
    /// The replicas' key store and the client's keys, removed with the backend.
    _state: tempfile::TempDir,
    runtime: tokio::runtime::Runtime,
    base: String,
    payload: Payload,
    episode_start: Instant,
    replicas: usize,
    metered_at: Instant,
    pod_seconds: f64,
    seed: u64,
}

impl LiveBackend {
    /// Deploys one replica of `config`'s circuit with a fresh key store, makes client keys (the
    /// secret key stays in this process and a private temporary folder), uploads the evaluation
    /// key and encrypts one request for the `liked` movies.
    pub fn start(mut config: LocalConfig, liked: &[usize]) -> anyhow::Result<Self> {
        crate::load::install_interrupt_handler();
        let state = tempfile::tempdir().context("creating a folder for keys")?;
        config.key_store = state.path().join("keys.sqlite");
        let key_cache = state.path().join("client");
        let mut deployer = LocalDeployer::new(config);
        deployer.deploy()?;
        deployer.scale(1)?;
        let base = deployer
            .endpoint()
            .context("the local deployer has no endpoint")?;
        let recommender = Recommender::connect(&base, Some(&key_cache))?;
        let key = recommender.upload()?;
        let payload = Payload::Post {
            path: "/v1/recommend".into(),
            body: std::sync::Arc::new(recommender.encrypt(liked)),
            headers: key
                .map(|id| vec![(crate::serve::KEY_HEADER.to_owned(), id.to_string())])
                .unwrap_or_default(),
        };
        Ok(Self {
            deployer,
            _state: state,
            runtime: tokio::runtime::Runtime::new().context("starting the async runtime")?,
            base,
            payload,
            episode_start: Instant::now(),
            replicas: 1,
            metered_at: Instant::now(),
            pod_seconds: 0.0,
            seed: 0,
        })
    }

    /// Stops every replica and the proxy.
    pub fn teardown(&mut self) -> anyhow::Result<()> {
        self.deployer.teardown()
    }

    fn meter(&mut self) {
        let now = Instant::now();
        self.pod_seconds += self.replicas as f64 * (now - self.metered_at).as_secs_f64();
        self.metered_at = now;
    }

    fn check_interrupt() -> anyhow::Result<()> {
        anyhow::ensure!(!crate::load::interrupted(), "interrupted by Ctrl-C");
        Ok(())
    }
}

impl Backend for LiveBackend {
    /// Drains and stops every replica (abandoned requests of the last episode finish), then
    /// starts `replicas` fresh ones.
    fn reset(&mut self, seed: u64, replicas: usize) -> anyhow::Result<()> {
        self.deployer.scale(0)?;
        self.deployer.scale(replicas)?;
        self.seed = seed;
        self.replicas = replicas;
        self.episode_start = Instant::now();
        self.metered_at = self.episode_start;
        Ok(())
    }

    fn scale(&mut self, replicas: usize) -> anyhow::Result<()> {
        Self::check_interrupt()?;
        self.meter();
        self.deployer.scale(replicas)?;
        self.meter();
        self.replicas = replicas;
        Ok(())
    }

    fn restart(&mut self) -> anyhow::Result<()> {
        self.deployer.restart()
    }

    fn wait(&mut self, seconds: f64) -> anyhow::Result<()> {
        Self::check_interrupt()?;
        std::thread::sleep(Duration::from_secs_f64(seconds.max(0.0)));
        Ok(())
    }

    fn send(&mut self, n: usize, timeout_s: f64, _key: u64) -> anyhow::Result<Vec<Outcome>> {
        Self::check_interrupt()?;
        self.seed += 1;
        let plan = LoadPlan {
            base: self.base.clone(),
            payload: self.payload.clone(),
            profile: if n == 1 {
                Profile::Probe
            } else {
                Profile::Stress { min: n, max: n }
            },
            timeout: Duration::from_secs_f64(timeout_s),
            max_requests: n,
            max_duration: Duration::from_secs_f64(timeout_s + 5.0),
            seed: self.seed,
        };
        let (records, _) = self.runtime.block_on(crate::load::run(&plan))?;
        Ok(records
            .iter()
            .map(|r| match r.status {
                _ if r.ok() => Outcome::Answered(r.latency_ms / 1e3),
                0 => Outcome::TimedOut,
                _ => Outcome::Refused,
            })
            .collect())
    }

    fn now(&self) -> f64 {
        self.episode_start.elapsed().as_secs_f64()
    }

    /// Pod-seconds only: slot utilisation is not measured live (no HPA runs here).
    fn totals(&self) -> Totals {
        let pending = self.replicas as f64 * self.metered_at.elapsed().as_secs_f64();
        Totals {
            pod_seconds: self.pod_seconds + pending,
            ..Totals::default()
        }
    }
}
