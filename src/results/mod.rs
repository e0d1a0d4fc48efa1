//! The results files: one `Serialize + Deserialize` row type per CSV file, used by the stage that
//! writes it and by the report that reads it back, with the tables made of it beside it. Every
//! file ends with the [`Stamp`](crate::output::Stamp) columns (experiment, git revision, cores,
//! machine), written and read by [`crate::output`].
//!
//! - [`model`]: `model.csv`; [`fhe`]: `fhe.csv` (and `argmax_checks.csv`, whose row the check
//!   harness owns: [`CheckRow`]); [`serve`]: `serve.csv`; [`scaling`]: `scaling.csv`.
//! - [`autoscale`]: the autoscaling study's `rl_*.csv`; [`rehearsal`]: `rehearsal.csv`
//!   (`cipherscale rehearse`).
//! - [`runs`]: `stages.csv` and `reproduce.csv`, the wall times of runs; [`bench`]: the files
//!   under `results/bench/`.
//! - [`ExperimentResults`]: everything one experiment folder holds, read back.

pub mod autoscale;
pub mod bench;
pub mod capacity;
pub mod fhe;
pub mod model;
pub mod rehearsal;
pub mod runs;
pub mod scaling;
pub mod serve;

pub use crate::fhe::check::CheckRow;

use std::path::Path;

use crate::output::{read_rows, read_stamped, Stamp};
use autoscale::{
    CollapseRow, EvalRow, LiveRow, ReplicaRow, StepRow, SummaryRow, TrainRow, TuningRow,
    WorkloadRow,
};
use capacity::{CapacityLiveRow, CapacityRow, ShapeRow, ThreadsRow};
use fhe::FheRow;
use model::ModelRow;
use runs::StageRow;
use scaling::ScalingRow;
use serve::ServeRow;

/// The files' names, as stages write them into `results/<experiment>/`.
pub mod files {
    pub const MODEL: &str = "model.csv";
    pub const FHE: &str = "fhe.csv";
    pub const ARGMAX_CHECKS: &str = "argmax_checks.csv";
    pub const SERVE: &str = "serve.csv";
    pub const SCALING: &str = "scaling.csv";
    pub const STAGES: &str = "stages.csv";
    /// In the results root, not in an experiment's folder.
    pub const REPRODUCE: &str = "reproduce.csv";
    pub const RL_WORKLOADS: &str = "rl_workloads.csv";
    pub const RL_TUNING: &str = "rl_tuning.csv";
    pub const RL_TRAIN: &str = "rl_train.csv";
    pub const RL_EVAL: &str = "rl_eval.csv";
    pub const RL_SUMMARY: &str = "rl_summary.csv";
    pub const RL_DIAGNOSTICS: &str = "rl_diagnostics.csv";
    pub const RL_STEPS: &str = "rl_steps.csv";
    pub const RL_REPLICAS: &str = "rl_replicas.csv";
    pub const RL_LIVE: &str = "rl_live.csv";
    pub const CAPACITY: &str = "capacity.csv";
    pub const CAPACITY_LIVE: &str = "capacity_live.csv";
    pub const CAPACITY_THREADS: &str = "capacity_threads.csv";
    pub const CAPACITY_SHAPES: &str = "capacity_shapes.csv";
    pub const REHEARSAL: &str = "rehearsal.csv";
}

/// Everything one experiment folder holds; a file that is absent is `None`. Rows whose stamp
/// the report shows (the machine's cores, the revision) keep it.
#[derive(Debug, Clone, Default)]
pub struct ExperimentResults {
    pub name: String,
    pub model: Option<Vec<ModelRow>>,
    pub fhe: Option<Vec<FheRow>>,
    pub checks: Option<Vec<CheckRow>>,
    pub serve: Option<Vec<ServeRow>>,
    pub scaling: Option<Vec<(ScalingRow, Stamp)>>,
    pub workloads: Option<Vec<WorkloadRow>>,
    pub tuning: Option<Vec<TuningRow>>,
    pub train: Option<Vec<TrainRow>>,
    pub eval: Option<Vec<EvalRow>>,
    pub summary: Option<Vec<SummaryRow>>,
    pub diagnostics: Option<Vec<CollapseRow>>,
    pub steps: Option<Vec<StepRow>>,
    pub replicas: Option<Vec<ReplicaRow>>,
    pub live: Option<Vec<LiveRow>>,
    pub capacity: Option<Vec<CapacityRow>>,
    pub capacity_live: Option<Vec<CapacityLiveRow>>,
    pub capacity_threads: Option<Vec<ThreadsRow>>,
    pub capacity_shapes: Option<Vec<ShapeRow>>,
    pub rehearsal: Option<Vec<rehearsal::RehearsalRow>>,
    pub stages: Option<Vec<(StageRow, Stamp)>>,
}

impl ExperimentResults {
    /// Reads every results file of `dir`; a malformed one is named with its row.
    pub fn load(dir: &Path) -> anyhow::Result<Self> {
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        Ok(Self {
            name,
            model: read_rows(&dir.join(files::MODEL))?,
            fhe: read_rows(&dir.join(files::FHE))?,
            checks: read_rows(&dir.join(files::ARGMAX_CHECKS))?,
            serve: read_rows(&dir.join(files::SERVE))?,
            scaling: read_stamped(&dir.join(files::SCALING))?,
            workloads: read_rows(&dir.join(files::RL_WORKLOADS))?,
            tuning: read_rows(&dir.join(files::RL_TUNING))?,
            train: read_rows(&dir.join(files::RL_TRAIN))?,
            eval: read_rows(&dir.join(files::RL_EVAL))?,
            summary: read_rows(&dir.join(files::RL_SUMMARY))?,
            diagnostics: read_rows(&dir.join(files::RL_DIAGNOSTICS))?,
            steps: read_rows(&dir.join(files::RL_STEPS))?,
            replicas: read_rows(&dir.join(files::RL_REPLICAS))?,
            live: read_rows(&dir.join(files::RL_LIVE))?,
            capacity: read_rows(&dir.join(files::CAPACITY))?,
            capacity_live: read_rows(&dir.join(files::CAPACITY_LIVE))?,
            capacity_threads: read_rows(&dir.join(files::CAPACITY_THREADS))?,
            capacity_shapes: read_rows(&dir.join(files::CAPACITY_SHAPES))?,
            rehearsal: read_rows(&dir.join(files::REHEARSAL))?,
            stages: read_stamped(&dir.join(files::STAGES))?,
        })
    }

    /// Whether the folder holds any result the report shows.
    pub fn is_empty(&self) -> bool {
        self.model.is_none()
            && self.fhe.is_none()
            && self.serve.is_none()
            && self.scaling.is_none()
            && self.summary.is_none()
            && self.rehearsal.is_none()
    }

    /// The scaling rows without their stamps.
    pub fn scaling_rows(&self) -> Option<Vec<ScalingRow>> {
        let rows = self.scaling.as_ref()?;
        Some(rows.iter().map(|(row, _)| row.clone()).collect())
    }
}
