//! The `rl:` section: the autoscaling environment, the simulator's calibration, PPO, baselines.

use serde::{Deserialize, Serialize};

use crate::fhe::Pipeline;
use crate::rl::ppo::PpoConfig;
use crate::rl::{ActionSpace, EnvConfig, ObservationKind};
use crate::sim::Split;

/// Train PPO on the simulator for `episodes` on each of `seeds`, then evaluate it and every
/// baseline on `eval_episodes` shared workload seeds; optionally run the policy live.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RlSpec {
    /// The circuit whose measured service time calibrates the simulator (`serve.csv`, else
    /// `fhe.csv` of this experiment).
    pub calibrate: Calibration,
    pub cluster: SimSpec,
    pub env: EnvConfig,
    pub ppo: PpoConfig,
    /// PPO agents to train, each on every seed; the first is the paper's and runs live.
    pub agents: Vec<AgentSpec>,
    /// Training episodes per seed (the paper: 100).
    pub episodes: usize,
    /// Training seeds: one policy each.
    pub seeds: Vec<u64>,
    /// Evaluation episodes per policy, on workload seeds shared by every policy.
    pub eval_episodes: usize,
    /// Slot utilisation the HPA clone aims at.
    pub hpa_target_utilization: f64,
    /// The threshold rule scales up above `up` and down below `down` times the median service
    /// time.
    pub threshold_up: f64,
    pub threshold_down: f64,
    /// Run the first agent's first-seed policy on the local backend (sim-to-real gap); absent: skipped.
    pub live: Option<LiveSpec>,
}

impl Default for RlSpec {
    fn default() -> Self {
        Self {
            calibrate: Calibration::default(),
            cluster: SimSpec::default(),
            env: EnvConfig::default(),
            ppo: PpoConfig {
                n_steps: 100,
                batch_size: 50,
                ..PpoConfig::default()
            },
            agents: vec![AgentSpec::default()],
            episodes: 100,
            seeds: vec![1, 2, 3, 4, 5],
            eval_episodes: 20,
            hpa_target_utilization: 0.6,
            threshold_up: 1.5,
            threshold_down: 1.2,
            live: None,
        }
    }
}

/// One PPO agent: what it observes, what its actions mean, how long it trains. The
/// environment's dynamics are the same for every agent and baseline.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AgentSpec {
    /// Its policy name in the results (`ppo...`).
    pub name: String,
    /// `step` (the paper's scale down / stay / up) or `target` (one action per replica count).
    #[serde(default)]
    pub actions: ActionSpace,
    /// `paper` (probe latency, replicas) or `rich` (also the stress-cycle phase and utilisation).
    #[serde(default)]
    pub observation: ObservationKind,
    /// Training episodes per seed; absent: `rl.episodes`.
    #[serde(default)]
    pub episodes: Option<usize>,
}

impl Default for AgentSpec {
    fn default() -> Self {
        Self {
            name: "ppo".into(),
            actions: ActionSpace::Step,
            observation: ObservationKind::Paper,
            episodes: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Calibration {
    pub pipeline: Pipeline,
    pub bits: u32,
}

impl Default for Calibration {
    fn default() -> Self {
        Self {
            pipeline: Pipeline::GlweArgmax,
            bits: 4,
        }
    }
}

/// How the simulated cluster runs the circuit (the service time comes from the calibration).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct SimSpec {
    /// Requests one replica evaluates at once.
    pub slots_per_replica: usize,
    /// Requests all replicas together evaluate at once (replicas sharing one host); absent: a
    /// replica per node.
    pub host_slots: Option<usize>,
    pub split: Split,
    pub startup_s: f64,
    pub background_rps: f64,
}

impl Default for SimSpec {
    fn default() -> Self {
        Self {
            slots_per_replica: 1,
            host_slots: None,
            split: Split::RoundRobin,
            startup_s: 2.0,
            background_rps: 0.0,
        }
    }
}

/// The live run: episodes on local replicas, shorter than the simulated ones (wall time).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct LiveSpec {
    pub episodes: usize,
    pub steps: usize,
    pub step_interval_s: f64,
    /// Evaluation slots of this machine (replicas share it): the simulator it is compared
    /// with uses the same.
    pub host_slots: usize,
}

impl Default for LiveSpec {
    fn default() -> Self {
        Self {
            episodes: 5,
            steps: 10,
            step_interval_s: 2.0,
            host_slots: 1,
        }
    }
}
