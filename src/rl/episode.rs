//! Runs a policy for one episode and measures it.

use super::env::{Action, AutoscaleEnv};
use super::policy::{Policy, View};
use super::Backend;
use crate::stats::percentile;

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
    let mut metrics = EpisodeMetrics::default();
    let mut latencies = Vec::new();
    let mut previous = env.replicas();
    loop {
        let action = decide(env, policy, &observation);
        let (transition, info) = env.act(action)?;
        metrics.episode_return += transition.reward;
        let config = &env.config;
        let probe = info.probe.map_or(crate::sim::Outcome::TimedOut, |l| {
            crate::sim::Outcome::Answered(l)
        });
        for outcome in std::iter::once(&probe).chain(&info.burst) {
            let latency = config.counted_latency(outcome);
            latencies.push(latency);
            if outcome.latency().is_none() || latency > config.slo_s {
                metrics.slo_violations += 1;
            }
        }
        metrics.heals += usize::from(info.healed);
        metrics.scaling_actions += usize::from(info.replicas != previous);
        previous = info.replicas;
        metrics.replicas.push(info.replicas);
        observation = transition.observation;
        if transition.terminated || transition.truncated {
            break;
        }
    }
    metrics.requests = latencies.len();
    metrics.mean_latency_s = latencies.iter().sum::<f64>() / latencies.len().max(1) as f64;
    metrics.p95_latency_s = percentile(&latencies, 0.95);
    metrics.pod_seconds = env.backend().totals().pod_seconds - start_pods;
    metrics.mean_replicas =
        metrics.replicas.iter().sum::<usize>() as f64 / metrics.replicas.len().max(1) as f64;
    Ok(metrics)
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
