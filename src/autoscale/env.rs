//! What every autoscaling environment offers the controllers, and how an episode is measured.

use super::{Controller, Limits, Signals};
use crate::stats::{mean, percentile};

/// An environment in which a replica count is chosen every step.
pub trait ScalingEnv {
    /// What fixes an episode (a workload day and its arrivals, or a workload seed).
    type Episode;
    fn limits(&self) -> &Limits;
    /// Starts `episode`; returns what a controller sees before the first step.
    fn reset(&mut self, episode: &Self::Episode) -> anyhow::Result<Signals>;
    /// Runs one step with `replicas` (clamped to the limits) and says what it cost.
    fn step(&mut self, replicas: usize) -> anyhow::Result<StepRecord>;
    /// Whether the episode has ended.
    fn done(&self) -> bool;
    /// Steps in the episode begun by the last `reset`.
    fn episode_steps(&self) -> usize;
    /// What tells states apart for the oracle's search (e.g. replicas asked for and ready).
    fn state_key(&self) -> (usize, usize);
}

/// One step: what it cost and what the controllers will see.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StepRecord {
    pub signals: Signals,
    /// Lower is better: price of the replica-seconds plus the SLO penalties (open loop), or
    /// minus the paper's reward (bursts).
    pub cost: f64,
    /// Requests resolved in the step (answered, refused or timed out).
    pub requests: usize,
    pub violations: usize,
    /// Refused at arrival (no replica ready, or the admission limit).
    pub rejected: usize,
    /// Dropped unserved at the replicas' timeout.
    pub timed_out: usize,
    /// Latencies of the step's requests, failures counted as the failed latency.
    pub latencies: Vec<f64>,
    /// Replica-seconds billed in the step (starting, ready and draining pods).
    pub pod_seconds: f64,
    /// The environment restarted the replicas (the paper's self-healing).
    pub healed: bool,
}

/// One controller on one episode.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EpisodeMetrics {
    pub cost: f64,
    pub requests: usize,
    pub violations: usize,
    pub rejected: usize,
    pub mean_latency_s: f64,
    pub p95_latency_s: f64,
    pub pod_seconds: f64,
    pub mean_replicas: f64,
    /// Steps whose replica count differs from the step before.
    pub scaling_actions: usize,
    /// Steps in which the environment restarted the replicas.
    pub heals: usize,
    /// Replicas asked for in each step.
    pub replicas: Vec<usize>,
    /// What each step showed.
    pub steps: Vec<StepTrace>,
}

/// One step of an episode: what the simulator saw and what it cost.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct StepTrace {
    /// The step's end, in seconds since the episode started.
    pub time_s: f64,
    pub arrivals: usize,
    pub arrival_rate: f64,
    /// Requests resolved (answered, refused or dropped), refused, dropped at the timeout.
    pub completions: usize,
    pub rejected: usize,
    pub timed_out: usize,
    /// Waiting or evaluating at the step's end.
    pub queue: usize,
    pub replicas: usize,
    pub ready: usize,
    /// Median and 95th percentile of the step's latencies (failures counted as the failed
    /// latency; 0 without requests).
    pub p50_latency_s: f64,
    pub p95_latency_s: f64,
    pub violations: usize,
    pub pod_seconds: f64,
    pub cost: f64,
}

/// Accumulates an episode's metrics step by step.
#[derive(Debug, Default)]
pub struct EpisodeMeter {
    metrics: EpisodeMetrics,
    latencies: Vec<f64>,
    previous: usize,
}

impl EpisodeMeter {
    /// A meter for an episode that starts with `replicas`.
    pub fn new(replicas: usize) -> Self {
        Self {
            previous: replicas,
            ..Self::default()
        }
    }

    pub fn record(&mut self, step: &StepRecord) {
        let m = &mut self.metrics;
        let s = &step.signals;
        m.cost += step.cost;
        m.requests += step.requests;
        m.violations += step.violations;
        m.rejected += step.rejected;
        m.pod_seconds += step.pod_seconds;
        m.scaling_actions += usize::from(s.replicas != self.previous);
        m.heals += usize::from(step.healed);
        self.previous = s.replicas;
        m.replicas.push(s.replicas);
        let quantile = |q| match step.latencies.is_empty() {
            true => 0.0,
            false => percentile(&step.latencies, q),
        };
        m.steps.push(StepTrace {
            time_s: s.now_s,
            arrivals: s.arrivals,
            arrival_rate: s.arrival_rate,
            completions: step.requests,
            rejected: step.rejected,
            timed_out: step.timed_out,
            queue: s.queue,
            replicas: s.replicas,
            ready: s.ready,
            p50_latency_s: quantile(0.5),
            p95_latency_s: quantile(0.95),
            violations: step.violations,
            pod_seconds: step.pod_seconds,
            cost: step.cost,
        });
        self.latencies.extend(&step.latencies);
    }

    pub fn finish(mut self) -> EpisodeMetrics {
        let m = &mut self.metrics;
        m.mean_latency_s = mean(&self.latencies);
        m.p95_latency_s = percentile(&self.latencies, 0.95);
        if m.p95_latency_s.is_nan() {
            m.p95_latency_s = 0.0;
        }
        m.mean_replicas = m.replicas.iter().sum::<usize>() as f64 / m.replicas.len().max(1) as f64;
        self.metrics
    }
}

/// Runs `controller` for one episode of `env`.
pub fn run_episode<E: ScalingEnv>(
    env: &mut E,
    controller: &mut dyn Controller,
    episode: &E::Episode,
) -> anyhow::Result<EpisodeMetrics> {
    controller.reset();
    let mut signals = env.reset(episode)?;
    let mut meter = EpisodeMeter::new(signals.replicas);
    while !env.done() {
        let replicas = controller.decide(&signals, env.limits());
        let step = env.step(replicas)?;
        meter.record(&step);
        signals = step.signals;
    }
    Ok(meter.finish())
}
