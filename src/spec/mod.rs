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

/// Which ratings to load and how to turn them into recommendation examples.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct DataSpec {
    pub dataset: DatasetKind,
    /// Pool size: the N most-rated movies.
    pub movies: usize,
    /// A rating at or above this counts as "liked".
    pub liked_threshold: f32,
    /// Users with fewer liked movies in the pool make no examples.
    pub min_liked: usize,
    /// Fraction of eligible users held out for evaluation.
    pub test_fraction: f64,
}

impl Default for DataSpec {
    fn default() -> Self {
        Self {
            dataset: DatasetKind::MlLatestSmall,
            movies: 50,
            liked_threshold: 4.0,
            min_liked: 2,
            test_fraction: 0.2,
        }
    }
}

/// The dataset a data directory must hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum DatasetKind {
    /// GroupLens `ml-latest-small`: its published row counts are checked.
    MlLatestSmall,
    /// Any directory in the MovieLens CSV format (no count check), e.g. a test fixture.
    MovielensCsv,
}

/// The plaintext model and its quantized variants.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ModelSpec {
    pub kind: ModelKind,
    /// Candidate L2 penalties (`0.5 * l2 * |W|^2` added to the summed log-loss; sklearn's C = 1/l2).
    /// With more than one, the best on a validation split of the training users is used.
    pub l2: Vec<f64>,
    /// Fraction of the training users held out to choose `l2`.
    pub validation_fraction: f64,
    /// Iteration cap for the L-BFGS optimiser.
    pub max_iterations: u64,
    /// Signed integer widths to quantize weights and bias to.
    pub bit_widths: Vec<u32>,
    /// Split seeds the model stage trains and evaluates over.
    pub seeds: Vec<u64>,
}

impl Default for ModelSpec {
    fn default() -> Self {
        Self {
            kind: ModelKind::LogisticRegression,
            l2: vec![1.0, 3.0, 10.0, 30.0],
            validation_fraction: 0.2,
            max_iterations: 300,
            bit_widths: (2..=8).collect(),
            seeds: vec![7, 8, 9],
        }
    }
}

/// The encrypted-inference stage: which pipelines, at which widths, on how many examples.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct FheSpec {
    pub pipelines: Vec<crate::fhe::Pipeline>,
    /// Widths to build circuits at; empty means `model.bit_widths`.
    pub bit_widths: Vec<u32>,
    /// Held-out examples pushed through each circuit; absent means all of them.
    pub samples: Option<usize>,
    /// The reduced size the slow `integer` baseline runs at.
    pub integer: IntegerSpec,
    /// Score widths and sample count of the slow private-output `glwe-argmax` circuit.
    pub argmax: ArgmaxSpec,
}

impl Default for FheSpec {
    fn default() -> Self {
        use crate::fhe::Pipeline;
        Self {
            pipelines: vec![Pipeline::GlwePacked, Pipeline::Lwe, Pipeline::Integer],
            bit_widths: Vec::new(),
            samples: None,
            integer: IntegerSpec::default(),
            argmax: ArgmaxSpec::default(),
        }
    }
}

/// `glwe-argmax` runs at its own score widths `p` (each on its own published parameter set), on
/// the first `samples` held-out examples, stopping early once a width has used `budget_minutes`
/// in a run; the checks accumulate across runs (`argmax_checks.csv`).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ArgmaxSpec {
    pub bits: Vec<u32>,
    pub samples: usize,
    /// Wall-clock cap per width and run. Absent: none.
    pub budget_minutes: Option<f64>,
}

impl Default for ArgmaxSpec {
    fn default() -> Self {
        Self {
            bits: crate::fhe::argmax::SCORE_BITS.collect(),
            samples: 200,
            budget_minutes: None,
        }
    }
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

/// `integer` runs on the first `inputs` movies and `outputs` outputs of the model.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct IntegerSpec {
    pub inputs: usize,
    pub outputs: usize,
    pub samples: usize,
}

impl Default for IntegerSpec {
    fn default() -> Self {
        Self {
            inputs: 4,
            outputs: 2,
            samples: 3,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ModelKind {
    /// Multinomial (softmax) logistic regression.
    LogisticRegression,
}

#[cfg(test)]
mod tests;
