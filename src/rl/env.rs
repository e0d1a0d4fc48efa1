//! The paper's autoscaling MDP (section 4 and Algorithm 1) over any [`Backend`].
//!
//! One step: apply the action; wait `step_interval_s`; probe with one request (its latency `t`,
//! a failure counting `failed_latency_s`, clipped to `[0, latency_clip_s]`); self-heal if the probe
//! failed and the last healing is older than the cool-down (restart, probe again, `-10` if it still
//! fails); every `stress_every`-th step a burst of n concurrent requests (n uniform in
//! `stress_min..=stress_max`, drawn per episode from the workload seed) whose penalty
//! `5 (1 - success) + 2 max(0, mean - 2)` is subtracted, and if positive, automatic recovery adds
//! `max(1, floor(penalty / 2))` replicas (up to the maximum). The reward is
//! `-t - 0.1 p - penalty_stress - 2 max(0, p - r_max) - penalty_heal`, with p the replicas at the
//! end of the step. All constants come from [`EnvConfig`]; the defaults are the paper's, except
//! the client timeout (see [`EnvConfig::client_timeout_s`]).

use anyhow::ensure;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::Backend;
use crate::sim::cluster::Totals;
use crate::sim::Outcome;

/// The environment's constants; the defaults are the paper's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EnvConfig {
    /// Steps per episode (a time limit: the last step is truncated, not terminal).
    pub steps: usize,
    /// Seconds between one step's action and its probe.
    pub step_interval_s: f64,
    pub min_replicas: usize,
    pub max_replicas: usize,
    pub initial_replicas: usize,
    /// Reward per replica per step (0.1).
    pub replica_cost: f64,
    /// Probe latency is clipped to this (10 s).
    pub latency_clip_s: f64,
    /// A stress test every this many steps.
    pub stress_every: usize,
    pub stress_min: usize,
    pub stress_max: usize,
    /// A request without an answer after this long has failed. The paper's client used 5 s; a
    /// circuit whose single evaluation takes longer would fail every request, so ours is 10 s.
    pub client_timeout_s: f64,
    /// A failed request counts as this long (10 s).
    pub failed_latency_s: f64,
    /// Stress penalty `failure_weight (1 - success) + latency_weight max(0, mean - threshold)`.
    pub stress_failure_weight: f64,
    pub stress_latency_weight: f64,
    pub stress_latency_threshold_s: f64,
    /// Resource penalty `resource_weight max(0, p - resource_threshold)` (Algorithm 1: 2 and 5).
    pub resource_threshold: usize,
    pub resource_weight: f64,
    /// Automatic recovery scaling after a positive stress penalty.
    pub recovery: bool,
    /// Self-healing: no second restart within this many seconds.
    pub heal_cooldown_s: f64,
    /// Subtracted when the probe still fails after healing (10).
    pub heal_failure_penalty: f64,
    /// A request slower than this (or failed) violates the SLO (metric only, not in the reward).
    pub slo_s: f64,
}

impl Default for EnvConfig {
    fn default() -> Self {
        Self {
            steps: 20,
            step_interval_s: 10.0,
            min_replicas: 1,
            max_replicas: 10,
            initial_replicas: 1,
            replica_cost: 0.1,
            latency_clip_s: 10.0,
            stress_every: 5,
            stress_min: 5,
            stress_max: 10,
            client_timeout_s: 10.0,
            failed_latency_s: 10.0,
            stress_failure_weight: 5.0,
            stress_latency_weight: 2.0,
            stress_latency_threshold_s: 2.0,
            resource_threshold: 5,
            resource_weight: 2.0,
            recovery: true,
            heal_cooldown_s: 30.0,
            heal_failure_penalty: 10.0,
            slo_s: 10.0,
        }
    }
}

impl EnvConfig {
    /// Equation 4: the stress penalty of a burst's outcomes.
    pub fn stress_penalty(&self, outcomes: &[Outcome]) -> f64 {
        if outcomes.is_empty() {
            return 0.0;
        }
        let n = outcomes.len() as f64;
        let answered = outcomes.iter().filter(|o| o.latency().is_some()).count() as f64;
        let mean = outcomes
            .iter()
            .map(|o| self.counted_latency(o))
            .sum::<f64>()
            / n;
        self.stress_failure_weight * (1.0 - answered / n)
            + self.stress_latency_weight * (mean - self.stress_latency_threshold_s).max(0.0)
    }

    /// The resource penalty of running `replicas`.
    pub fn resource_penalty(&self, replicas: usize) -> f64 {
        self.resource_weight * replicas.saturating_sub(self.resource_threshold) as f64
    }

    /// Replicas after automatic recovery from a stress penalty.
    pub fn recovered_replicas(&self, replicas: usize, penalty: f64) -> usize {
        if !self.recovery || penalty <= 0.0 {
            return replicas;
        }
        let add = ((penalty / 2.0).floor() as usize).max(1);
        (replicas + add).min(self.max_replicas)
    }

    /// A request's latency as the reward counts it: failures count `failed_latency_s`.
    pub fn counted_latency(&self, outcome: &Outcome) -> f64 {
        outcome.latency().unwrap_or(self.failed_latency_s)
    }

    /// The rules a spec's `rl.env` must follow.
    pub fn check(&self) -> anyhow::Result<()> {
        ensure!(self.steps >= 1, "rl.env.steps must be at least 1");
        ensure!(
            1 <= self.min_replicas
                && self.min_replicas <= self.initial_replicas
                && self.initial_replicas <= self.max_replicas,
            "rl.env: need 1 <= min_replicas <= initial_replicas <= max_replicas"
        );
        ensure!(
            self.stress_every >= 1,
            "rl.env.stress_every must be at least 1"
        );
        ensure!(
            1 <= self.stress_min
                && self.stress_min <= self.stress_max
                && self.stress_max < KEYS_PER_STEP as usize - 2,
            "rl.env: need 1 <= stress_min <= stress_max <= 1000"
        );
        ensure!(
            self.client_timeout_s > 0.0 && self.step_interval_s >= 0.0,
            "rl.env: client_timeout_s must be positive and step_interval_s not negative"
        );
        Ok(())
    }
}

/// A scaling decision: the agent's three actions, or a replica count (baselines that set the
/// deployment's size directly, as the HPA does).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Down,
    Stay,
    Up,
    Target(usize),
}

impl Action {
    /// The agent's action index: 0 scale down, 1 no-op, 2 scale up.
    pub fn from_index(index: usize) -> Self {
        match index {
            0 => Self::Down,
            1 => Self::Stay,
            _ => Self::Up,
        }
    }
}

/// What happened in one step, for policies and metrics.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StepInfo {
    pub probe: Option<f64>,
    /// The probe latency the reward used (failures counted, clipped).
    pub probe_s: f64,
    pub burst: Vec<Outcome>,
    pub stress_penalty: f64,
    pub resource_penalty: f64,
    pub healed: bool,
    pub heal_failed: bool,
    /// Replicas at the end of the step.
    pub replicas: usize,
    /// Busy share of ready evaluation slots during the step.
    pub utilization: f64,
    pub reward: f64,
}

/// Requests of one step are keyed from `step * KEYS_PER_STEP`: the probe, the re-probe after
/// healing, then the burst.
const KEYS_PER_STEP: u64 = 1024;

/// The environment. Bursts of an episode are drawn at reset, so that an oracle can know them.
#[derive(Clone)]
pub struct AutoscaleEnv<B: Backend> {
    pub config: EnvConfig,
    backend: B,
    step: usize,
    replicas: usize,
    last_heal: Option<f64>,
    bursts: Vec<Option<usize>>,
    last: StepInfo,
    totals: Totals,
}

impl<B: Backend> AutoscaleEnv<B> {
    pub fn new(config: EnvConfig, backend: B) -> anyhow::Result<Self> {
        config.check()?;
        Ok(Self {
            replicas: config.initial_replicas,
            config,
            backend,
            step: 0,
            last_heal: None,
            bursts: Vec::new(),
            last: StepInfo::default(),
            totals: Totals::default(),
        })
    }

    pub fn backend(&self) -> &B {
        &self.backend
    }

    pub fn backend_mut(&mut self) -> &mut B {
        &mut self.backend
    }

    pub fn replicas(&self) -> usize {
        self.replicas
    }

    /// The step about to be taken (0-based).
    pub fn step_index(&self) -> usize {
        self.step
    }

    /// The size of the burst the next step sends, if it is a stress step.
    pub fn upcoming_burst(&self) -> Option<usize> {
        self.bursts.get(self.step).copied().flatten()
    }

    /// What happened in the last step.
    pub fn last(&self) -> &StepInfo {
        &self.last
    }

    /// Starts an episode: the workload (burst sizes) and the backend's randomness from `seed`.
    pub fn start(&mut self, seed: u64) -> anyhow::Result<()> {
        let mut workload = ChaCha8Rng::seed_from_u64(seed ^ 0x5745_4c4f_4144);
        let c = &self.config;
        self.bursts = (1..=c.steps)
            .map(|s| {
                (s % c.stress_every == 0)
                    .then(|| workload.random_range(c.stress_min..=c.stress_max))
            })
            .collect();
        self.backend.reset(seed, c.initial_replicas)?;
        self.step = 0;
        self.replicas = c.initial_replicas;
        self.last_heal = None;
        self.totals = self.backend.totals();
        self.last = StepInfo {
            replicas: self.replicas,
            ..StepInfo::default()
        };
        Ok(())
    }

    /// Whether the episode's steps are all taken.
    pub fn done(&self) -> bool {
        self.step >= self.config.steps
    }

    /// Takes one step.
    pub fn act(&mut self, action: Action) -> anyhow::Result<StepInfo> {
        let mut info = StepInfo::default();
        self.apply(action)?;
        self.backend.wait(self.config.step_interval_s)?;
        let probe = self.probe(0)?;
        info.probe = probe;
        info.probe_s = probe
            .unwrap_or(self.config.failed_latency_s)
            .clamp(0.0, self.config.latency_clip_s);
        if probe.is_none() {
            self.heal(&mut info)?;
        }
        if let Some(n) = self.upcoming_burst() {
            self.stress(n, &mut info)?;
        }
        info.replicas = self.replicas;
        info.resource_penalty = self.config.resource_penalty(self.replicas);
        info.utilization = self.step_utilization();
        info.reward = -info.probe_s
            - self.config.replica_cost * self.replicas as f64
            - info.stress_penalty
            - info.resource_penalty
            - if info.heal_failed {
                self.config.heal_failure_penalty
            } else {
                0.0
            };
        self.step += 1;
        self.last = info.clone();
        Ok(info)
    }

    fn apply(&mut self, action: Action) -> anyhow::Result<()> {
        let (low, high) = (self.config.min_replicas, self.config.max_replicas);
        let target = match action {
            Action::Down => self.replicas.saturating_sub(1),
            Action::Stay => self.replicas,
            Action::Up => self.replicas + 1,
            Action::Target(n) => n,
        }
        .clamp(low, high);
        if target != self.replicas {
            self.backend.scale(target)?;
            self.replicas = target;
        }
        Ok(())
    }

    /// The key of the step's request number `offset`.
    fn key(&self, offset: u64) -> u64 {
        self.step as u64 * KEYS_PER_STEP + offset
    }

    fn probe(&mut self, offset: u64) -> anyhow::Result<Option<f64>> {
        let outcome = self
            .backend
            .send(1, self.config.client_timeout_s, self.key(offset))?;
        Ok(outcome.first().and_then(Outcome::latency))
    }

    /// Algorithm 1's self-healing: restart unless healed within the cool-down, then re-probe.
    fn heal(&mut self, info: &mut StepInfo) -> anyhow::Result<()> {
        let now = self.backend.now();
        if self
            .last_heal
            .is_some_and(|at| now - at < self.config.heal_cooldown_s)
        {
            return Ok(());
        }
        self.backend.restart()?;
        self.last_heal = Some(now);
        info.healed = true;
        info.heal_failed = self.probe(1)?.is_none();
        Ok(())
    }

    fn stress(&mut self, n: usize, info: &mut StepInfo) -> anyhow::Result<()> {
        info.burst = self
            .backend
            .send(n, self.config.client_timeout_s, self.key(2))?;
        info.stress_penalty = self.config.stress_penalty(&info.burst);
        let recovered = self
            .config
            .recovered_replicas(self.replicas, info.stress_penalty);
        if recovered != self.replicas {
            self.backend.scale(recovered)?;
            self.replicas = recovered;
        }
        Ok(())
    }

    fn step_utilization(&mut self) -> f64 {
        let now = self.backend.totals();
        let busy = now.busy_seconds - self.totals.busy_seconds;
        let slots = now.slot_seconds - self.totals.slot_seconds;
        self.totals = now;
        if slots > 0.0 {
            (busy / slots).min(1.0)
        } else {
            0.0
        }
    }
}
