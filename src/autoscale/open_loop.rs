//! Open-loop load through the simulated cluster: a workload's arrivals come whatever the
//! replicas do, each step's cost is the replica-seconds at a price plus a penalty per request
//! that missed the SLO (answered late, refused at the admission limit, or dropped at the
//! server's timeout).

use std::collections::VecDeque;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::env::{ScalingEnv, StepRecord};
use super::{Limits, Signals};
use crate::sim::cluster::Totals;
use crate::sim::{Arrival, Cluster, ClusterConfig, Log};
use crate::stats::percentile;
use crate::workload::Episode;

/// The open-loop environment's constants (`rl.open_loop` in a spec).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OpenLoopConfig {
    /// Seconds between decisions.
    pub step_s: f64,
    pub min_replicas: usize,
    pub max_replicas: usize,
    /// Ready at the start of every episode (midnight: little load).
    pub initial_replicas: usize,
    /// Seconds from scale-up until a new replica serves (image, keys, model: the cold start).
    pub startup_s: f64,
    /// A request answered later than this violates the SLO.
    pub slo_s: f64,
    /// The replicas' request timeout: a request still waiting this long is dropped (a 504).
    pub timeout_s: f64,
    /// Requests a replica queues beyond its evaluation slots before answering 503.
    pub queue_per_replica: usize,
    /// Price of one replica for one hour (starting, serving or draining).
    pub price_per_replica_hour: f64,
    /// Penalty per request over the SLO, refused or timed out.
    pub penalty_per_violation: f64,
}

impl Default for OpenLoopConfig {
    fn default() -> Self {
        Self {
            step_s: 30.0,
            min_replicas: 1,
            max_replicas: 12,
            initial_replicas: 2,
            startup_s: 60.0,
            slo_s: 15.0,
            timeout_s: 30.0,
            queue_per_replica: 2,
            price_per_replica_hour: 0.10,
            penalty_per_violation: 0.005,
        }
    }
}

impl OpenLoopConfig {
    /// The rules a spec's `rl.open_loop` must follow.
    pub fn check(&self) -> anyhow::Result<()> {
        anyhow::ensure!(self.step_s > 0.0, "step_s must be positive");
        anyhow::ensure!(
            1 <= self.min_replicas
                && self.min_replicas <= self.initial_replicas
                && self.initial_replicas <= self.max_replicas,
            "need 1 <= min_replicas <= initial_replicas <= max_replicas"
        );
        anyhow::ensure!(
            0.0 < self.slo_s && self.slo_s <= self.timeout_s,
            "need 0 < slo_s <= timeout_s"
        );
        anyhow::ensure!(
            self.startup_s >= 0.0 && self.price_per_replica_hour >= 0.0,
            "startup_s and price_per_replica_hour must not be negative"
        );
        anyhow::ensure!(
            self.penalty_per_violation >= 0.0,
            "penalty_per_violation must not be negative"
        );
        Ok(())
    }

    /// The price of `pod_seconds` plus the penalty of `violations`.
    pub fn cost(&self, pod_seconds: f64, violations: usize) -> f64 {
        self.price_per_replica_hour / 3600.0 * pod_seconds
            + self.penalty_per_violation * violations as f64
    }
}

/// An episode with its arrivals drawn (shared by every controller that runs it).
#[derive(Debug)]
pub struct Prepared {
    pub episode: Episode,
    pub arrivals: Vec<Arrival>,
}

impl Prepared {
    pub fn new(episode: Episode, capacity_rps: f64) -> Arc<Self> {
        let arrivals = episode.arrivals(capacity_rps);
        Arc::new(Self { episode, arrivals })
    }
}

/// Steps over which `recent_rate` is averaged.
const RECENT_STEPS: usize = 4;

/// The environment: one cluster per episode; cloning forks it (the oracle searches that way).
#[derive(Clone)]
pub struct OpenLoopEnv {
    config: OpenLoopConfig,
    cluster_config: ClusterConfig,
    limits: Limits,
    cluster: Cluster,
    episode: Option<Arc<Prepared>>,
    cursor: usize,
    step: usize,
    steps: usize,
    recent: VecDeque<f64>,
    totals: Totals,
}

impl OpenLoopEnv {
    /// `cluster` gives the circuit's service time and how replicas run it; the start-up delay,
    /// admission limit and timeout come from `config`.
    pub fn new(config: OpenLoopConfig, cluster: ClusterConfig) -> anyhow::Result<Self> {
        config.check()?;
        let cluster_config = ClusterConfig {
            startup_s: config.startup_s,
            queue_per_replica: Some(config.queue_per_replica),
            timeout_s: Some(config.timeout_s),
            background_rps: 0.0,
            ..cluster
        };
        let limits = Limits {
            min_replicas: config.min_replicas,
            max_replicas: config.max_replicas,
            step_s: config.step_s,
            startup_steps: (config.startup_s / config.step_s).ceil() as usize,
            latency_clip_s: config.timeout_s,
            slo_s: config.slo_s,
            capacity_rps: cluster_config.replica_capacity_rps(),
            admission: cluster_config.slots_per_replica + config.queue_per_replica,
            open_loop: true,
        };
        Ok(Self {
            cluster: Cluster::new(cluster_config.clone(), 0),
            config,
            cluster_config,
            limits,
            episode: None,
            cursor: 0,
            step: 0,
            steps: 0,
            recent: VecDeque::new(),
            totals: Totals::default(),
        })
    }

    pub fn config(&self) -> &OpenLoopConfig {
        &self.config
    }

    pub fn cluster_config(&self) -> &ClusterConfig {
        &self.cluster_config
    }

    /// Steps in an episode of `duration_s` seconds.
    pub fn steps_for(&self, duration_s: f64) -> usize {
        (duration_s / self.config.step_s).ceil() as usize
    }

    fn episode(&self) -> anyhow::Result<&Arc<Prepared>> {
        self.episode
            .as_ref()
            .ok_or_else(|| anyhow::anyhow!("step before reset"))
    }

    /// Dispatches the arrivals of `[now, end)` and runs the cluster to `end`.
    fn run_until(&mut self, end: f64) -> anyhow::Result<usize> {
        let prepared = Arc::clone(self.episode()?);
        let arrivals = &prepared.arrivals;
        let first = self.cursor;
        while self.cursor < arrivals.len() && arrivals[self.cursor].time < end {
            self.cursor += 1;
        }
        self.cluster.offer(&arrivals[first..self.cursor], end);
        Ok(self.cursor - first)
    }

    /// The SLO violations charged to the step `[start, end)`: each request the step it
    /// becomes one, that is, refused at arrival, or late at `arrival + slo` (answered after it,
    /// dropped at the timeout, or still waiting at the step's end). Charging at the deadline
    /// rather than at the answer keeps every step's cost a consequence of recent decisions.
    fn charged_violations(&self, log: &Log, start: f64, end: f64) -> usize {
        let slo = self.config.slo_s;
        let due_now = |arrival: f64| arrival + slo >= start;
        let late_answered = log
            .answered
            .iter()
            .filter(|&&(arrival, latency)| latency > slo && due_now(arrival))
            .count();
        let dropped = log.timed_out.iter().filter(|&&a| due_now(a)).count();
        let overdue = self
            .cluster
            .pending_arrivals()
            .into_iter()
            .filter(|&a| due_now(a) && a + slo < end)
            .count();
        log.rejected + late_answered + dropped + overdue
    }

    fn signals(&self, end: f64, step_s: f64, counted: &[f64], record: &StepRecord) -> Signals {
        let episode = &self.episode.as_ref().expect("reset").episode;
        let latency = if counted.is_empty() {
            0.0
        } else {
            percentile(counted, 0.95).min(self.limits.latency_clip_s)
        };
        Signals {
            step: self.step,
            now_s: end,
            replicas: self.cluster.desired(),
            ready: self.cluster.ready(),
            arrivals: record.signals.arrivals,
            arrival_rate: record.signals.arrivals as f64 / step_s,
            recent_rate: self.recent.iter().sum::<f64>() / self.recent.len().max(1) as f64,
            queue: self.cluster.backlog(),
            utilization: record.signals.utilization,
            latency_s: latency,
            violations: record.violations,
            rejected: record.rejected,
            phase: episode.day_fraction(end),
            stress_penalty: 0.0,
        }
    }
}

impl ScalingEnv for OpenLoopEnv {
    type Episode = Arc<Prepared>;

    fn limits(&self) -> &Limits {
        &self.limits
    }

    fn reset(&mut self, episode: &Arc<Prepared>) -> anyhow::Result<Signals> {
        let c = &self.config;
        self.cluster = Cluster::with_ready_replicas(
            self.cluster_config.clone(),
            episode.episode.seed,
            c.initial_replicas,
        );
        self.steps = self.steps_for(episode.episode.duration_s());
        self.episode = Some(Arc::clone(episode));
        self.cursor = 0;
        self.step = 0;
        self.recent.clear();
        self.totals = self.cluster.totals();
        Ok(Signals {
            replicas: c.initial_replicas,
            ready: c.initial_replicas,
            ..Signals::default()
        })
    }

    fn step(&mut self, replicas: usize) -> anyhow::Result<StepRecord> {
        anyhow::ensure!(!self.done(), "step after the episode ended");
        let target = self.limits.clamp(replicas);
        if target != self.cluster.desired() {
            self.cluster.scale(target);
        }
        let duration = self.episode()?.episode.duration_s();
        let start = self.step as f64 * self.config.step_s;
        let end = (start + self.config.step_s).min(duration);
        let arrivals = self.run_until(end)?;
        let totals = self.cluster.totals();
        let pod_seconds = totals.pod_seconds - self.totals.pod_seconds;
        let slots = totals.slot_seconds - self.totals.slot_seconds;
        let busy = totals.busy_seconds - self.totals.busy_seconds;
        self.totals = totals;
        self.step += 1;
        if self.done() {
            // Requests still in the system are answered (or dropped) and counted here.
            self.cluster.drain();
        }
        let log = self.cluster.take_log();
        let violations = self.charged_violations(&log, start, end);
        let failed = log.rejected + log.timed_out.len();
        let mut counted = log.latencies();
        counted.extend(std::iter::repeat_n(self.limits.latency_clip_s, failed));
        let step_s = (end - start).max(f64::MIN_POSITIVE);
        self.recent.push_back(arrivals as f64 / step_s);
        if self.recent.len() > RECENT_STEPS {
            self.recent.pop_front();
        }
        let mut record = StepRecord {
            cost: self.config.cost(pod_seconds, violations),
            requests: log.answered.len() + failed,
            violations,
            rejected: log.rejected,
            timed_out: log.timed_out.len(),
            pod_seconds,
            ..StepRecord::default()
        };
        record.signals.arrivals = arrivals;
        record.signals.utilization = if slots > 0.0 {
            (busy / slots).min(1.0)
        } else {
            0.0
        };
        record.signals = self.signals(end, step_s, &counted, &record);
        record.latencies = counted;
        Ok(record)
    }

    fn done(&self) -> bool {
        self.step >= self.steps
    }

    fn episode_steps(&self) -> usize {
        self.steps
    }

    /// Replicas asked for and replicas ready: a starting replica does not serve yet.
    fn state_key(&self) -> (usize, usize) {
        (self.cluster.desired(), self.cluster.ready())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::autoscale::{run_episode, Schedule};
    use crate::sim::ServiceTime;
    use crate::workload::Split;

    /// Two minutes of 1 request per second at 2 s a request, steps of 30 s, no compression.
    fn setup(startup_s: f64) -> (OpenLoopEnv, Arc<Prepared>) {
        let config = OpenLoopConfig {
            initial_replicas: 1,
            startup_s,
            slo_s: 3.0,
            timeout_s: 10.0,
            queue_per_replica: 1,
            price_per_replica_hour: 3600.0,
            penalty_per_violation: 10.0,
            ..OpenLoopConfig::default()
        };
        let env = OpenLoopEnv::new(
            config,
            ClusterConfig::new(ServiceTime::Deterministic { seconds: 2.0 }),
        )
        .unwrap();
        let arrivals = (0..120)
            .map(|i| Arrival {
                time: i as f64,
                key: i,
            })
            .collect();
        let episode = Episode {
            split: Split::Test,
            index: 0,
            label: "t".into(),
            load: vec![2.0, 2.0],
            bin_s: 60.0,
            seed: 1,
        };
        (env, Arc::new(Prepared { episode, arrivals }))
    }

    #[test]
    fn an_overloaded_replica_refuses_and_two_keep_up() {
        let (mut env, episode) = setup(0.0);
        // One replica, 1 request/s at 2 s each: it answers every other request, queues one,
        // and refuses the rest at its admission limit (1 evaluating + 1 waiting).
        let mut one = Schedule {
            name: "one".into(),
            plan: vec![1; 4],
        };
        let m = run_episode(&mut env, &mut one, &episode).unwrap();
        assert_eq!(m.requests, 120);
        assert!(m.rejected >= 55 && m.rejected <= 61, "{}", m.rejected);
        // Two replicas: every request answered in 2 s, nothing violated; cost is 2 pods x 120 s.
        let mut two = Schedule {
            name: "two".into(),
            plan: vec![2; 4],
        };
        let m = run_episode(&mut env, &mut two, &episode).unwrap();
        assert_eq!((m.violations, m.rejected), (0, 0));
        assert!((m.cost - 240.0).abs() < 1e-6, "{}", m.cost);
        assert_eq!(m.mean_latency_s, 2.0);
    }

    #[test]
    fn every_violation_is_charged_once_in_the_step_of_its_deadline() {
        let (mut env, episode) = setup(0.0);
        let mut one = Schedule {
            name: "one".into(),
            plan: vec![1; 4],
        };
        let m = run_episode(&mut env, &mut one, &episode).unwrap();
        // The same requests through a bare cluster, resolved all at once.
        let mut cluster = Cluster::with_ready_replicas(env.cluster_config().clone(), 1, 1);
        cluster.offer(&episode.arrivals, 120.0);
        cluster.drain();
        let log = cluster.take_log();
        let late = log.answered.iter().filter(|&&(_, l)| l > 3.0).count();
        assert_eq!(m.violations, late + log.rejected + log.timed_out.len());
        assert!(m.violations > 60, "{}", m.violations);
    }

    #[test]
    fn scaling_up_pays_only_after_the_cold_start() {
        let (mut env, episode) = setup(30.0);
        env.reset(&episode).unwrap();
        let first = env.step(2).unwrap();
        // The second replica starts during the first step (billed) but does not serve yet.
        assert_eq!((first.signals.replicas, first.signals.ready), (2, 2));
        assert!((first.pod_seconds - 60.0).abs() < 1e-9);
        assert!(first.rejected > 10, "{}", first.rejected);
        let second = env.step(2).unwrap();
        assert_eq!(second.rejected, 0);
        assert!((second.signals.arrival_rate - 1.0).abs() < 1e-9);
    }

    #[test]
    fn clones_fork_the_same_run() {
        let (mut env, episode) = setup(0.0);
        env.reset(&episode).unwrap();
        env.step(1).unwrap();
        let mut fork = env.clone();
        assert_eq!(env.step(3).unwrap(), fork.step(3).unwrap());
    }
}
