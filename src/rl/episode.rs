//! Runs a policy for one episode and measures it.

use super::env::{Action, AutoscaleEnv, EnvConfig, StepInfo};
use super::policy::{Policy, View};
use super::Backend;
use crate::sim::Outcome;
use crate::stats::{mean, percentile};

/// One episode of one policy, as `rl_eval.csv` reports it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EpisodeMetrics {
    pub episode_return: f64,
    /// Over every probe and burst request, failures counted as the failed latency.
    pub mean_latency_s: f64,
    pub p95_latency_s: f64,
    /// Requests slower than the SLO, or failed.
    pub slo_violations: usize,
    pub requests: usize,
    pub pod_seconds: f64,
    pub mean_replicas: f64,
    /// Steps whose replica count differed from the step before.
    pub scaling_actions: usize,
    pub heals: usize,
    /// Replicas at the end of each step.
    pub replicas: Vec<usize>,
}

/// Accumulates one episode's metrics step by step.
#[derive(Debug, Default)]
pub struct EpisodeMeter {
    metrics: EpisodeMetrics,
    latencies: Vec<f64>,
    previous: Option<usize>,
}

impl EpisodeMeter {
    /// A meter for an episode that starts with `replicas`.
    pub fn new(replicas: usize) -> Self {
        Self {
            previous: Some(replicas),
            ..Self::default()
        }
    }

    /// Adds a step: its reward and what happened.
    pub fn record(&mut self, config: &EnvConfig, reward: f64, info: &StepInfo) {
        let m = &mut self.metrics;
        m.episode_return += reward;
        let probe = info.probe.map_or(Outcome::TimedOut, Outcome::Answered);
        for outcome in std::iter::once(&probe).chain(&info.burst) {
            let latency = config.counted_latency(outcome);
            self.latencies.push(latency);
            if outcome.latency().is_none() || latency > config.slo_s {
                m.slo_violations += 1;
            }
        }
        m.heals += usize::from(info.healed);
        m.scaling_actions += usize::from(self.previous != Some(info.replicas));
        self.previous = Some(info.replicas);
        m.replicas.push(info.replicas);
    }

    /// The episode's metrics; `pod_seconds` is what the backend billed during it.
    pub fn finish(mut self, pod_seconds: f64) -> EpisodeMetrics {
        let m = &mut self.metrics;
        m.requests = self.latencies.len();
        m.mean_latency_s = mean(&self.latencies);
        m.p95_latency_s = percentile(&self.latencies, 0.95);
        m.pod_seconds = pod_seconds;
        m.mean_replicas = m.replicas.iter().sum::<usize>() as f64 / m.replicas.len().max(1) as f64;
        self.metrics
    }
}

/// Runs `policy` for one episode of `env` seeded by `seed` (common random numbers: the same seed
/// gives every policy the same bursts and service times).
pub fn run_episode<B: Backend>(
    env: &mut AutoscaleEnv<B>,
    policy: &mut dyn Policy,
    seed: u64,
) -> anyhow::Result<EpisodeMetrics> {
    policy.reset();
    let mut observation = env.start(seed)?;
    let start_pods = env.backend().totals().pod_seconds;
    let mut meter = EpisodeMeter::new(env.replicas());
    loop {
        let action = decide(env, policy, &observation);
        let (transition, info) = env.act(action)?;
        meter.record(&env.config, transition.reward, &info);
        observation = transition.observation;
        if transition.terminated || transition.truncated {
            break;
        }
    }
    Ok(meter.finish(env.backend().totals().pod_seconds - start_pods))
}

fn decide<B: Backend>(env: &AutoscaleEnv<B>, policy: &mut dyn Policy, obs: &[f32]) -> Action {
    let view = View {
        observation: obs,
        last: env.last(),
        replicas: env.replicas(),
        upcoming_burst: env.upcoming_burst(),
        now: env.backend().now(),
        config: &env.config,
    };
    policy.act(&view)
}
