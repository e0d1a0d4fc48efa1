//! The autoscaling study: controllers that choose a replica count, the environments they are
//! judged in, and the protocol that judges them (tune on validation, train on train, test once).
//!
//! Every controller — static counts, the Kubernetes HPA v2 algorithm, a KEDA-style queue
//! scaler, a latency rule, a forecaster with a queueing sizer, MPC, PPO, and the oracle — sees
//! the same [`Signals`] after each step and answers with a replica count ([`Controller`]), so the
//! same code runs in the simulator here and against live replicas elsewhere.
//!
//! - [`env`]: [`ScalingEnv`] (reset, step to a replica count, cost), the episode meter.
//! - [`open_loop`]: open-loop arrivals of a workload through the simulated cluster, with the
//!   replicas' admission limit and timeout; cost = replica-seconds at a price plus a penalty per
//!   request over the SLO or refused.
//! - [`paper`]: the paper's MDP (probe, bursts, recovery, healing) as a [`ScalingEnv`].
//! - [`rules`]: static, HPA v2, KEDA-style queue scaler, latency threshold.
//! - [`forecast`], [`queue_model`], [`mpc`]: Holt forecasts with a learned daily profile, the
//!   simulator's steady-state violation table, the forecast sizer and MPC.
//! - [`oracle`]: dynamic programming over replica counts with the episode's actual arrivals.
//! - [`agent`]: PPO agents as environments for training and as controllers, collapse
//!   diagnostics.
//! - [`protocol`]: choosing, training and testing every controller on one workload;
//!   [`arenas`]: the open-loop and bursts workloads with their controller families and grids;
//!   [`summary`]: interquartile means, intervals, probabilities of improvement.

pub mod agent;
pub mod arenas;
pub mod env;
pub mod forecast;
pub mod mpc;
pub mod open_loop;
pub mod oracle;
pub mod paper;
pub mod protocol;
pub mod queue_model;
pub mod rules;
pub mod summary;

pub use env::{run_episode, EpisodeMetrics, ScalingEnv, StepRecord};

use agent::ObservationKind;

/// What a controller sees after each step (before the first: the episode's start).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Signals {
    /// Steps taken so far in the episode.
    pub step: usize,
    /// Seconds since the episode started.
    pub now_s: f64,
    /// Replicas asked for (the deployment's size) and replicas ready to serve.
    pub replicas: usize,
    pub ready: usize,
    /// Requests that arrived in the last step, and per second.
    pub arrivals: usize,
    pub arrival_rate: f64,
    /// Mean arrival rate over the last few steps.
    pub recent_rate: f64,
    /// Requests waiting or evaluating at the end of the last step.
    pub queue: usize,
    /// Busy share of the ready replicas' evaluation slots in the last step.
    pub utilization: f64,
    /// The paper's `t`: the probe's latency (bursts) or the last step's 95th percentile
    /// (open loop), failures counted as the failed latency, clipped.
    pub latency_s: f64,
    /// Requests over the SLO, refused or timed out in the last step.
    pub violations: usize,
    pub rejected: usize,
    /// Fraction of the day (open loop) or of the stress cycle (bursts) at the next step.
    pub phase: f64,
    /// The paper's stress penalty of the last step (bursts).
    pub stress_penalty: f64,
}

/// What does not change within an environment: its bounds and units.
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    pub min_replicas: usize,
    pub max_replicas: usize,
    /// Seconds between decisions.
    pub step_s: f64,
    /// Whole steps before a new replica serves.
    pub startup_steps: usize,
    /// Latencies are clipped to this in observations (and failures count as it).
    pub latency_clip_s: f64,
    pub slo_s: f64,
    /// Requests per second one replica completes when always busy.
    pub capacity_rps: f64,
    /// Requests one replica holds (evaluating and waiting) before it refuses more.
    pub admission: usize,
    /// Open-loop arrivals (true) or the paper's probe and bursts (false).
    pub open_loop: bool,
}

impl Limits {
    pub fn clamp(&self, replicas: usize) -> usize {
        replicas.clamp(self.min_replicas, self.max_replicas)
    }
}

/// Chooses the replica count for the next step.
pub trait Controller {
    /// Its name in the results (`static-4`, `hpa`, `mpc`, `ppo-rich`, ...).
    fn name(&self) -> String;
    /// Forgets the last episode (histories, windows, forecasts).
    fn reset(&mut self) {}
    /// The replica count for the next step, given what the last one showed.
    fn decide(&mut self, signals: &Signals, limits: &Limits) -> usize;
}

impl<C: Controller + ?Sized> Controller for Box<C> {
    fn name(&self) -> String {
        (**self).name()
    }
    fn reset(&mut self) {
        (**self).reset()
    }
    fn decide(&mut self, signals: &Signals, limits: &Limits) -> usize {
        (**self).decide(signals, limits)
    }
}

/// A fixed plan, one count per step (the oracle's, replayed).
pub struct Schedule {
    pub name: String,
    pub plan: Vec<usize>,
}

impl Controller for Schedule {
    fn name(&self) -> String {
        self.name.clone()
    }

    fn decide(&mut self, signals: &Signals, _: &Limits) -> usize {
        self.plan
            .get(signals.step)
            .or(self.plan.last())
            .copied()
            .unwrap_or(signals.replicas)
    }
}

/// The features an agent observes, each scaled to about [0, 1].
///
/// - `paper`: `(t, p)`, the latency and the replica count.
/// - `rich` on the paper's bursts: also the stress-cycle phase and the utilisation.
/// - `rich` on an open-loop workload: also the arrival rate and its recent mean (per the
///   maximum fleet's capacity), the queue (per the fleet's admission limit), ready replicas and
///   the time of day (sine and cosine).
pub fn features(kind: ObservationKind, s: &Signals, limits: &Limits) -> Vec<f32> {
    let max = limits.max_replicas as f64;
    let mut f = vec![
        (s.latency_s / limits.latency_clip_s).min(1.0),
        s.replicas as f64 / max,
    ];
    match (kind, limits.open_loop) {
        (ObservationKind::Paper, _) => {}
        (ObservationKind::Rich, false) => f.extend([s.phase, s.utilization]),
        (ObservationKind::Rich, true) => {
            let fleet = max * limits.capacity_rps;
            let angle = std::f64::consts::TAU * s.phase;
            f.extend([
                s.arrival_rate / fleet,
                s.recent_rate / fleet,
                (s.queue as f64 / (max * limits.admission as f64)).min(1.0),
                s.ready as f64 / max,
                0.5 + 0.5 * angle.sin(),
                0.5 + 0.5 * angle.cos(),
            ]);
        }
    }
    f.into_iter().map(|x| x as f32).collect()
}

/// How many features [`features`] gives.
pub fn feature_count(kind: ObservationKind, open_loop: bool) -> usize {
    match (kind, open_loop) {
        (ObservationKind::Paper, _) => 2,
        (ObservationKind::Rich, false) => 4,
        (ObservationKind::Rich, true) => 8,
    }
}
