//! PPO agents in the autoscaling study: what an agent observes and what its actions mean, the
//! environment it trains in, and the trained agent as a [`Controller`].

use serde::{Deserialize, Serialize};

use super::env::{EpisodeMeter, EpisodeMetrics, ScalingEnv};
use super::{feature_count, features, Controller, Limits, Signals};
use crate::rl::ppo::Actor;
use crate::rl::{Environment, Transition};

/// What the agent observes ([`features`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ObservationKind {
    /// The paper's `(t, p)`, scaled to about [0, 1].
    #[default]
    Paper,
    /// `(t, p)` plus what the environment tells about load: the stress-cycle phase and
    /// utilisation (bursts), or the arrival rate, its recent mean, the queue, ready replicas and
    /// the time of day (open loop).
    Rich,
}

/// What the agent's action means.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ActionSpace {
    /// The paper's: 0 scale down, 1 no-op, 2 scale up.
    #[default]
    Step,
    /// Action i sets `min_replicas + i` replicas (what the HPA and the static counts do).
    Target,
}

impl std::fmt::Display for ActionSpace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Step => "step",
            Self::Target => "target",
        })
    }
}

impl ActionSpace {
    /// How many actions there are under `limits`.
    pub fn count(self, limits: &Limits) -> usize {
        match self {
            Self::Step => 3,
            Self::Target => limits.max_replicas - limits.min_replicas + 1,
        }
    }

    /// The replica count that action `index` asks for when `replicas` run.
    pub fn target(self, index: usize, replicas: usize, limits: &Limits) -> usize {
        let wanted = match (self, index) {
            (Self::Step, 0) => replicas.saturating_sub(1),
            (Self::Step, 1) => replicas,
            (Self::Step, _) => replicas + 1,
            (Self::Target, i) => limits.min_replicas + i,
        };
        limits.clamp(wanted)
    }
}

/// A [`ScalingEnv`] as PPO trains in it: features in, an action index out, reward = -cost.
/// `episodes` gives the training episode for each seed PPO draws.
pub struct AgentEnv<E: ScalingEnv, F: FnMut(u64) -> E::Episode> {
    pub env: E,
    episodes: F,
    observation: ObservationKind,
    actions: ActionSpace,
    signals: Signals,
    meter: EpisodeMeter,
    /// Every finished training episode, in order.
    pub finished: Vec<EpisodeMetrics>,
}

impl<E: ScalingEnv, F: FnMut(u64) -> E::Episode> AgentEnv<E, F> {
    pub fn new(env: E, episodes: F, observation: ObservationKind, actions: ActionSpace) -> Self {
        Self {
            env,
            episodes,
            observation,
            actions,
            signals: Signals::default(),
            meter: EpisodeMeter::default(),
            finished: Vec::new(),
        }
    }
}

impl<E: ScalingEnv, F: FnMut(u64) -> E::Episode> Environment for AgentEnv<E, F> {
    fn observation_len(&self) -> usize {
        feature_count(self.observation, self.env.limits().open_loop)
    }

    fn actions(&self) -> usize {
        self.actions.count(self.env.limits())
    }

    fn reset(&mut self, seed: u64) -> anyhow::Result<Vec<f32>> {
        let episode = (self.episodes)(seed);
        self.signals = self.env.reset(&episode)?;
        self.meter = EpisodeMeter::new(self.signals.replicas);
        Ok(features(self.observation, &self.signals, self.env.limits()))
    }

    fn step(&mut self, action: usize) -> anyhow::Result<Transition> {
        let limits = self.env.limits();
        let target = self.actions.target(action, self.signals.replicas, limits);
        let step = self.env.step(target)?;
        self.meter.record(&step);
        let done = self.env.done();
        if done {
            self.finished.push(std::mem::take(&mut self.meter).finish());
        }
        self.signals = step.signals;
        Ok(Transition {
            observation: features(self.observation, &self.signals, self.env.limits()),
            reward: -step.cost,
            terminated: false,
            truncated: done,
        })
    }
}

/// A trained agent acting greedily; it counts the actions it takes (collapse diagnostics).
pub struct PpoController {
    pub name: String,
    pub agent: Actor,
    pub observation: ObservationKind,
    pub actions: ActionSpace,
    /// How often each action index was taken since [`PpoController::clear_counts`].
    pub counts: Vec<usize>,
}

impl PpoController {
    pub fn new(
        name: String,
        agent: Actor,
        observation: ObservationKind,
        actions: ActionSpace,
    ) -> Self {
        Self {
            name,
            agent,
            observation,
            actions,
            counts: Vec::new(),
        }
    }

    pub fn clear_counts(&mut self) {
        self.counts.clear();
    }
}

impl Controller for PpoController {
    fn name(&self) -> String {
        self.name.clone()
    }

    fn decide(&mut self, s: &Signals, limits: &Limits) -> usize {
        let action = self.agent.greedy(&features(self.observation, s, limits));
        if self.counts.len() <= action {
            self.counts.resize(action + 1, 0);
        }
        self.counts[action] += 1;
        self.actions.target(action, s.replicas, limits)
    }
}

/// What a saved policy was trained on, written beside its checkpoint as `<checkpoint>.json`:
/// the weights alone cannot tell which observation and actions they expect (every network has
/// the same padded shape).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyCard {
    pub agent: String,
    pub workload: String,
    pub seed: u64,
    pub observation: ObservationKind,
    pub actions: ActionSpace,
    /// Trained on open-loop arrivals (true) or the paper's probe and bursts (false).
    pub open_loop: bool,
    pub features: usize,
    pub action_count: usize,
    pub min_replicas: usize,
    pub max_replicas: usize,
    /// Seconds between decisions in training.
    pub step_s: f64,
}

impl PolicyCard {
    pub fn new(
        agent: &str,
        workload: &str,
        seed: u64,
        plan: (ObservationKind, ActionSpace),
        limits: &Limits,
    ) -> Self {
        let (observation, actions) = plan;
        Self {
            agent: agent.into(),
            workload: workload.into(),
            seed,
            observation,
            actions,
            open_loop: limits.open_loop,
            features: feature_count(observation, limits.open_loop),
            action_count: actions.count(limits),
            min_replicas: limits.min_replicas,
            max_replicas: limits.max_replicas,
            step_s: limits.step_s,
        }
    }

    /// Where the card of `checkpoint` lives.
    pub fn path_for(checkpoint: &std::path::Path) -> std::path::PathBuf {
        let mut name = checkpoint.as_os_str().to_owned();
        name.push(".json");
        name.into()
    }

    pub fn save(&self, checkpoint: &std::path::Path) -> anyhow::Result<()> {
        let text = serde_json::to_string_pretty(self)?;
        crate::output::write_atomic(&Self::path_for(checkpoint), text.as_bytes(), false)
    }

    /// The card beside `checkpoint`, with an error that says what to do when it is missing.
    pub fn load(checkpoint: &std::path::Path) -> anyhow::Result<Self> {
        use anyhow::Context;
        anyhow::ensure!(
            checkpoint.is_file(),
            "no PPO checkpoint at {}: the `rl` stage writes them to results/<experiment>/rl/",
            checkpoint.display()
        );
        let path = Self::path_for(checkpoint);
        let text = std::fs::read_to_string(&path).with_context(|| {
            format!(
                "reading {}, which says what {} was trained on (re-run the `rl` stage to write it)",
                path.display(),
                checkpoint.display()
            )
        })?;
        serde_json::from_str(&text)
            .with_context(|| format!("{} is not a policy card", path.display()))
    }

    /// Refuses limits the policy was not trained for: another observation shape or action
    /// count would feed the network inputs it never saw.
    pub fn check(&self, limits: &Limits) -> anyhow::Result<()> {
        let features = feature_count(self.observation, limits.open_loop);
        anyhow::ensure!(
            self.open_loop == limits.open_loop && features == self.features,
            "this policy ({} on {}) was trained on {} observations of {} features; here it would \
             see {} observations of {features}: use a checkpoint of an open-loop workload",
            self.agent,
            self.workload,
            if self.open_loop {
                "open-loop"
            } else {
                "bursts"
            },
            self.features,
            if limits.open_loop {
                "open-loop"
            } else {
                "bursts"
            },
        );
        anyhow::ensure!(
            (self.min_replicas, self.max_replicas) == (limits.min_replicas, limits.max_replicas),
            "this policy was trained for {}..={} replicas, not {}..={}: set --min-replicas {} \
             --max-replicas {}",
            self.min_replicas,
            self.max_replicas,
            limits.min_replicas,
            limits.max_replicas,
            self.min_replicas,
            self.max_replicas,
        );
        Ok(())
    }

    /// The trained policy as a controller, after [`PolicyCard::check`].
    pub fn controller(
        &self,
        checkpoint: &std::path::Path,
        ppo: crate::rl::ppo::PpoConfig,
        limits: &Limits,
    ) -> anyhow::Result<PpoController> {
        self.check(limits)?;
        let mut trained =
            crate::rl::ppo::Ppo::new(ppo, self.features, self.action_count, self.seed);
        trained.load(checkpoint)?;
        Ok(PpoController::new(
            format!("{}:{}", self.agent, self.workload),
            trained.into_actor(),
            self.observation,
            self.actions,
        ))
    }
}

/// Whether a policy's actions collapsed: the entropy of its action distribution (bits) and the
/// share of steps with its most frequent action.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Collapse {
    pub entropy_bits: f64,
    pub modal_action: usize,
    pub modal_share: f64,
    pub distinct_actions: usize,
}

impl Collapse {
    /// A policy that takes one action on at least this share of steps is reported as constant.
    pub const CONSTANT_SHARE: f64 = 0.99;

    pub fn of(counts: &[usize]) -> Self {
        let total = counts.iter().sum::<usize>().max(1) as f64;
        let entropy_bits: f64 = counts
            .iter()
            .filter(|&&c| c > 0)
            .map(|&c| {
                let p = c as f64 / total;
                -p * p.log2()
            })
            .sum();
        let (modal_action, &modal) = counts
            .iter()
            .enumerate()
            .max_by_key(|&(_, c)| *c)
            .unwrap_or((0, &0));
        Self {
            // + 0.0 turns the -0.0 of a single action into 0.
            entropy_bits: entropy_bits + 0.0,
            modal_action,
            modal_share: modal as f64 / total,
            distinct_actions: counts.iter().filter(|&&c| c > 0).count(),
        }
    }

    pub fn constant(&self) -> bool {
        self.modal_share >= Self::CONSTANT_SHARE
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collapse_is_read_off_the_action_counts() {
        let constant = Collapse::of(&[0, 50, 0]);
        assert_eq!((constant.entropy_bits, constant.modal_action), (0.0, 1));
        assert!(constant.constant());
        let uniform = Collapse::of(&[10, 10, 10, 10]);
        assert!((uniform.entropy_bits - 2.0).abs() < 1e-12);
        assert_eq!((uniform.modal_share, uniform.distinct_actions), (0.25, 4));
        assert!(!uniform.constant());
    }

    fn limits(min_replicas: usize, max_replicas: usize, open_loop: bool) -> Limits {
        Limits {
            min_replicas,
            max_replicas,
            step_s: 1.0,
            startup_steps: 0,
            latency_clip_s: 1.0,
            slo_s: 1.0,
            capacity_rps: 1.0,
            admission: 1,
            open_loop,
        }
    }

    #[test]
    fn a_card_refuses_another_observation_shape_or_other_bounds() {
        let rich = (ObservationKind::Rich, ActionSpace::Target);
        let trained = limits(1, 12, true);
        let card = PolicyCard::new("ppo-rich", "nasa", 1, rich, &trained);
        card.check(&trained).unwrap();

        let bursts = card.check(&limits(1, 12, false)).unwrap_err().to_string();
        assert!(
            bursts.contains("open-loop") && bursts.contains("bursts"),
            "{bursts}"
        );
        let bounds = card.check(&limits(1, 4, true)).unwrap_err().to_string();
        assert!(
            bounds.contains("--min-replicas 1 --max-replicas 12"),
            "{bounds}"
        );
        let paper = PolicyCard::new(
            "ppo",
            "bursts",
            1,
            Default::default(),
            &limits(1, 12, false),
        );
        let error = paper.check(&trained).unwrap_err().to_string();
        assert!(error.contains("open-loop workload"), "{error}");
    }

    #[test]
    fn a_checkpoint_without_its_card_says_how_to_get_one() {
        let dir = tempfile::tempdir().unwrap();
        let checkpoint = dir.path().join("nasa-ppo-seed1.safetensors");
        let missing = PolicyCard::load(&checkpoint).unwrap_err().to_string();
        assert!(missing.contains("no PPO checkpoint"), "{missing}");
        std::fs::write(&checkpoint, b"weights").unwrap();
        let error = format!("{:#}", PolicyCard::load(&checkpoint).unwrap_err());
        assert!(error.contains("re-run the `rl` stage"), "{error}");
        let card = PolicyCard::new("ppo", "nasa", 1, Default::default(), &limits(1, 12, true));
        card.save(&checkpoint).unwrap();
        assert_eq!(PolicyCard::load(&checkpoint).unwrap(), card);
    }

    #[test]
    fn actions_map_to_counts_within_the_limits() {
        let limits = limits(2, 5, true);
        assert_eq!(ActionSpace::Target.count(&limits), 4);
        assert_eq!(ActionSpace::Target.target(3, 2, &limits), 5);
        assert_eq!(ActionSpace::Step.target(0, 2, &limits), 2);
        assert_eq!(ActionSpace::Step.target(2, 5, &limits), 5);
        assert_eq!(ActionSpace::Step.target(2, 3, &limits), 4);
    }
}
