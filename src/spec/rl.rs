//! The `rl:` section: the autoscaling study (workloads, environments, controllers, PPO) and
//! the simulator's calibration.

use serde::{Deserialize, Serialize};

use crate::autoscale::agent::{ActionSpace, ObservationKind};
use crate::autoscale::arenas::Tuning;
use crate::autoscale::open_loop::OpenLoopConfig;
use crate::fhe::Pipeline;
use crate::rl::ppo::PpoConfig;
use crate::rl::EnvConfig;
use crate::sim::Split;
use crate::workload::{BurstsSpec, WorkloadSpec};

/// The autoscaling study: on each workload, every controller tuned on validation episodes, PPO
/// trained on training episodes on every seed, all tested once on the test episodes beside the
/// oracle; optionally the paper's policy run live.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RlSpec {
    /// The circuit whose measured service time calibrates the simulator (`serve.csv`, else
    /// `fhe.csv` of this experiment).
    pub calibrate: Calibration,
    pub cluster: SimSpec,
    /// The paper's MDP (the `bursts` workload).
    pub env: EnvConfig,
    /// The open-loop environment (every other workload).
    pub open_loop: OpenLoopConfig,
    pub workloads: Vec<WorkloadSpec>,
    pub ppo: PpoConfig,
    /// PPO agents, each trained on every seed of every workload it names.
    pub agents: Vec<AgentSpec>,
    /// Training episodes per seed on `bursts` (the paper: 100) and on open-loop workloads (days).
    pub episodes: usize,
    pub open_loop_episodes: usize,
    /// Training seeds: one policy each.
    pub seeds: Vec<u64>,
    /// The grids every controller is tuned over on validation episodes.
    pub tuning: Tuning,
    /// Run the first agent's first-seed `bursts` policy on local replicas (sim-to-real gap);
    /// absent: skipped.
    pub live: Option<LiveSpec>,
}

impl Default for RlSpec {
    fn default() -> Self {
        Self {
            calibrate: Calibration::default(),
            cluster: SimSpec::default(),
            env: EnvConfig::default(),
            open_loop: OpenLoopConfig::default(),
            workloads: vec![WorkloadSpec::Bursts(BurstsSpec::default())],
            ppo: PpoConfig {
                n_steps: 100,
                batch_size: 50,
                ..PpoConfig::default()
            },
            agents: vec![AgentSpec::default()],
            episodes: 100,
            open_loop_episodes: 200,
            seeds: (1..=10).collect(),
            tuning: Tuning::default(),
            live: None,
        }
    }
}

impl RlSpec {
    /// The agents that train on `workload`, with their training episodes there.
    pub fn agents_for(&self, workload: &WorkloadSpec) -> Vec<(AgentSpec, usize)> {
        let name = workload.name();
        let default = match workload {
            WorkloadSpec::Bursts(_) => self.episodes,
            _ => self.open_loop_episodes,
        };
        self.agents
            .iter()
            .filter(|a| a.workloads.as_ref().is_none_or(|w| w.contains(&name)))
            .map(|a| (a.clone(), a.episodes.unwrap_or(default)))
            .collect()
    }
}

/// One PPO agent: what it observes, what its actions mean, how long it trains, where. The
/// environment's dynamics are the same for every agent and baseline.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AgentSpec {
    /// Its policy name in the results (`ppo...`).
    pub name: String,
    /// `step` (the paper's scale down / stay / up) or `target` (one action per replica count).
    #[serde(default)]
    pub actions: ActionSpace,
    /// `paper` (latency, replicas) or `rich` (also what the environment tells about load).
    #[serde(default)]
    pub observation: ObservationKind,
    /// Training episodes per seed; absent: `rl.episodes` (bursts) or `rl.open_loop_episodes`.
    #[serde(default)]
    pub episodes: Option<usize>,
    /// Names of the workloads it trains on; absent: all.
    #[serde(default)]
    pub workloads: Option<Vec<String>>,
}

impl Default for AgentSpec {
    fn default() -> Self {
        Self {
            name: "ppo".into(),
            actions: ActionSpace::Step,
            observation: ObservationKind::Paper,
            episodes: None,
            workloads: None,
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

impl SimSpec {
    /// The simulated cluster of this spec, evaluating in `service` time per request.
    pub fn cluster(&self, service: crate::sim::ServiceTime) -> crate::sim::ClusterConfig {
        crate::sim::ClusterConfig {
            service,
            slots_per_replica: self.slots_per_replica,
            host_slots: self.host_slots,
            split: self.split,
            startup_s: self.startup_s,
            background_rps: self.background_rps,
            queue_per_replica: None,
            timeout_s: None,
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
