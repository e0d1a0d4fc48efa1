//! Experiment specs: the YAML files under `experiments/` that drive the runner.
//!
//! A spec is parsed with `deny_unknown_fields` and validated before anything runs, so a typo or an
//! out-of-range value stops the run with a message that names the file and the field.
//! An optional `quick:` mapping is deep-merged over the spec when the runner is given `--quick`.

mod error;
mod load;
mod rl;
mod stage;
mod validate;

pub use error::SpecError;
pub use load::{load, load_str};
pub use rl::{AgentSpec, Calibration, LiveSpec, RlSpec, SimSpec};
pub use stage::Stage;
pub use validate::check_capacity;

// Each domain owns its configuration; a spec assembles them.
pub use crate::capacity::CapacitySpec;
pub use crate::data::{DataSpec, DatasetKind};
pub use crate::fhe::config::{ArgmaxSpec, FheSpec, IntegerSpec};
pub use crate::model::config::{ModelKind, ModelSpec};

use serde::{Deserialize, Serialize};

/// One experiment, as written in `experiments/*.yaml`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    /// Names the results folder (`results/<name>/`): lowercase letters, digits, `-` and `_`.
    pub name: String,
    /// The primary seed: the data split used by single-seed stages.
    pub seed: u64,
    /// Stages to run, in their fixed order; absent: all of them.
    #[serde(default = "all_stages")]
    pub stages: Vec<Stage>,
    #[serde(default)]
    pub data: DataSpec,
    #[serde(default)]
    pub model: ModelSpec,
    #[serde(default)]
    pub fhe: FheSpec,
    #[serde(default)]
    pub capacity: CapacitySpec,
    #[serde(default)]
    pub serve: ServeSpec,
    #[serde(default)]
    pub deploy: DeploySpec,
    #[serde(default)]
    pub rl: RlSpec,
    #[serde(default)]
    pub scaling: ScalingSpec,
    /// Overrides that `--quick` deep-merges over this spec, kept as written.
    #[serde(default, skip_serializing)]
    pub quick: Option<yaml_serde::Value>,
}

fn all_stages() -> Vec<Stage> {
    Stage::ALL.to_vec()
}

/// The service benchmark: each circuit served by one replica on loopback, measured at each
/// number of concurrent clients. No cells: the stage does nothing.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServeSpec {
    pub cells: Vec<ServeCell>,
    /// Concurrent clients to measure at.
    pub clients: Vec<usize>,
    /// The replica's evaluation workers; absent: one per core.
    pub workers: Option<usize>,
}

impl Default for ServeSpec {
    fn default() -> Self {
        Self {
            cells: Vec::new(),
            clients: vec![1, 2],
            workers: None,
        }
    }
}

/// Where the experiments that scale the service run it.
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct DeploySpec {
    pub backend: DeployBackend,
    pub kube: KubeSpec,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DeployBackend {
    /// `cipherscale serve` child processes behind a loopback proxy.
    #[default]
    Local,
    /// A Deployment and a Service in a Kubernetes cluster.
    Kube,
}

/// The cluster, namespace and image of the `kube` backend.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct KubeSpec {
    /// kubeconfig context; absent: the current one.
    pub context: Option<String>,
    /// Created for the run and deleted with it: never a namespace you already use.
    pub namespace: String,
    /// The serve image built from the Dockerfile.
    pub image: String,
}

impl Default for KubeSpec {
    fn default() -> Self {
        Self {
            context: None,
            namespace: "cipherscale".into(),
            image: "cipherscale:latest".into(),
        }
    }
}

/// Throughput against replicas: local replicas up to the cores, the simulator beyond.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ScalingSpec {
    /// Circuits to scale; `requests` is per replica (the load grows with the replicas).
    pub cells: Vec<ServeCell>,
    /// Local replica counts (one evaluation worker each), measured on this machine.
    pub replicas: Vec<usize>,
    /// Concurrent clients per replica (closed loop): 2 keeps each replica's worker busy.
    pub clients_per_replica: usize,
    /// Replica counts simulated with a node per replica, calibrated from one local replica.
    pub simulated: Vec<usize>,
}

impl Default for ScalingSpec {
    fn default() -> Self {
        Self {
            cells: Vec::new(),
            replicas: vec![1, 2],
            clients_per_replica: 2,
            simulated: vec![1, 2, 4, 8, 16, 32],
        }
    }
}

/// One served circuit and how many requests each measurement sends.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ServeCell {
    pub pipeline: crate::fhe::Pipeline,
    /// Weight width, or score width `p` for `glwe-argmax`.
    pub bits: u32,
    pub requests: usize,
}

#[cfg(test)]
mod tests;
