//! The paper's MDP ([`AutoscaleEnv`]: probe latency, stress bursts every k steps, recovery
//! scaling, self-healing) as a [`ScalingEnv`]: its cost is minus the paper's reward.

use super::env::{ScalingEnv, StepRecord};
use super::{Limits, Signals};
use crate::rl::env::{Action, AutoscaleEnv, EnvConfig};
use crate::rl::Backend;
use crate::sim::Outcome;

/// The paper's environment over a backend (the simulator, or live replicas).
#[derive(Clone)]
pub struct PaperEnv<B: Backend> {
    env: AutoscaleEnv<B>,
    limits: Limits,
}

impl<B: Backend> PaperEnv<B> {
    /// `capacity_rps` and `startup_s` describe the deployed circuit (for controllers that size
    /// from them).
    pub fn new(
        config: EnvConfig,
        backend: B,
        capacity_rps: f64,
        startup_s: f64,
    ) -> anyhow::Result<Self> {
        let limits = Limits {
            min_replicas: config.min_replicas,
            max_replicas: config.max_replicas,
            step_s: config.step_interval_s,
            startup_steps: if config.step_interval_s > 0.0 {
                (startup_s / config.step_interval_s).ceil() as usize
            } else {
                0
            },
            latency_clip_s: config.latency_clip_s,
            slo_s: config.slo_s,
            capacity_rps,
            admission: usize::MAX,
            open_loop: false,
        };
        Ok(Self {
            env: AutoscaleEnv::new(config, backend)?,
            limits,
        })
    }

    pub fn inner(&self) -> &AutoscaleEnv<B> {
        &self.env
    }

    pub fn config(&self) -> &EnvConfig {
        &self.env.config
    }

    fn signals(&self, arrivals: usize) -> Signals {
        let (env, c) = (&self.env, &self.env.config);
        let last = env.last();
        Signals {
            step: env.step_index(),
            now_s: env.backend().now(),
            replicas: env.replicas(),
            ready: env.replicas(),
            arrivals,
            arrival_rate: arrivals as f64 / c.step_interval_s.max(f64::MIN_POSITIVE),
            recent_rate: 0.0,
            queue: 0,
            utilization: last.utilization,
            latency_s: last.probe_s,
            violations: 0,
            rejected: 0,
            phase: (env.step_index() % c.stress_every) as f64 / c.stress_every as f64,
            stress_penalty: last.stress_penalty,
        }
    }
}

impl<B: Backend> ScalingEnv for PaperEnv<B> {
    /// The workload seed (bursts and service times).
    type Episode = u64;

    fn limits(&self) -> &Limits {
        &self.limits
    }

    fn reset(&mut self, seed: &u64) -> anyhow::Result<Signals> {
        self.env.start(*seed)?;
        Ok(self.signals(0))
    }

    fn step(&mut self, replicas: usize) -> anyhow::Result<StepRecord> {
        let pods_before = self.env.backend().totals().pod_seconds;
        let info = self.env.act(Action::Target(replicas))?;
        let c = &self.env.config;
        let probe = info.probe.map_or(Outcome::TimedOut, Outcome::Answered);
        let outcomes: Vec<Outcome> = std::iter::once(probe)
            .chain(info.burst.iter().copied())
            .collect();
        let latencies: Vec<f64> = outcomes.iter().map(|o| c.counted_latency(o)).collect();
        let violations = outcomes
            .iter()
            .zip(&latencies)
            .filter(|(o, &l)| o.latency().is_none() || l > c.slo_s)
            .count();
        let rejected = outcomes.iter().filter(|o| **o == Outcome::Refused).count();
        let timed_out = outcomes.iter().filter(|o| **o == Outcome::TimedOut).count();
        let mut signals = self.signals(outcomes.len());
        signals.violations = violations;
        signals.rejected = rejected;
        Ok(StepRecord {
            signals,
            cost: -info.reward,
            requests: outcomes.len(),
            violations,
            rejected,
            timed_out,
            latencies,
            pod_seconds: self.env.backend().totals().pod_seconds - pods_before,
            healed: info.healed,
        })
    }

    fn done(&self) -> bool {
        self.env.done()
    }

    fn episode_steps(&self) -> usize {
        self.env.config.steps
    }

    /// Replicas after the step (recovery scaling included); they start within a step.
    fn state_key(&self) -> (usize, usize) {
        (self.env.replicas(), 0)
    }
}
