//! Reading results back: the columns the figures and the report use, one struct per CSV file
//! (the autoscaling study's rows are those its stage writes, from [`crate::results`]). Columns
//! not named here are ignored, so older files with extra columns still read.

use std::path::Path;

use anyhow::Context;
use serde::de::DeserializeOwned;
use serde::Deserialize;

pub use crate::results::autoscale::{
    CollapseRow, LiveRow, ReplicaRow, StepRow, SummaryRow, TrainRow, TuningRow, WorkloadRow,
};

/// Every row of `path`, or `None` when the file does not exist (a stage that did not run).
pub fn optional<T: DeserializeOwned>(path: &Path) -> anyhow::Result<Option<Vec<T>>> {
    if !path.exists() {
        return Ok(None);
    }
    let mut reader =
        csv::Reader::from_path(path).with_context(|| format!("opening {}", path.display()))?;
    let rows = reader
        .deserialize()
        .enumerate()
        .map(|(i, row)| row.with_context(|| format!("{} row {}", path.display(), i + 2)))
        .collect::<anyhow::Result<Vec<T>>>()?;
    Ok(Some(rows))
}

/// `model.csv`: one model variant on one split seed.
#[derive(Debug, Clone, Deserialize)]
pub struct ModelRow {
    pub seed: u64,
    pub variant: String,
    pub bits: Option<u32>,
    pub hit_at_1: f64,
    pub hit_at_5: f64,
    pub top1_agreement_with_float: f64,
    pub examples: usize,
    pub git_rev: String,
}

/// `fhe.csv`: one pipeline at one bit width.
#[derive(Debug, Clone, Deserialize)]
pub struct FheRow {
    pub pipeline: String,
    pub bits: u32,
    pub params: String,
    pub inputs: usize,
    pub outputs: usize,
    pub samples: usize,
    /// Examples evaluated in the run that wrote the row (absent in files before it existed).
    #[serde(default)]
    pub timed: usize,
    pub bootstraps: usize,
    pub agreement: f64,
    pub decryption_errors: usize,
    pub hit_at_1: Option<f64>,
    pub keygen_ms: f64,
    pub eval_ms_median: f64,
    pub eval_ms_p95: f64,
    pub request_bytes: u64,
    pub response_bytes: u64,
    pub eval_key_bytes: u64,
    pub peak_rss_mb: f64,
    pub eval_ms_extrapolated_full: Option<f64>,
    pub git_rev: String,
}

impl FheRow {
    /// Evaluation time of the full 50 x 50 circuit: measured, or extrapolated for a reduced one.
    pub fn full_eval_ms(&self) -> f64 {
        self.eval_ms_extrapolated_full
            .unwrap_or(self.eval_ms_median)
    }
}

/// `serve.csv`: one replica serving one circuit to a number of clients.
#[derive(Debug, Clone, Deserialize)]
pub struct ServeRow {
    pub pipeline: String,
    pub bits: u32,
    pub workers: usize,
    pub clients: usize,
    pub requests: usize,
    pub throughput_rps: f64,
    pub latency_ms_median: f64,
    pub latency_ms_p95: f64,
    pub wrong: usize,
    pub git_rev: String,
}

/// `scaling.csv`: throughput of N replicas, measured locally or simulated.
#[derive(Debug, Clone, Deserialize)]
pub struct ScalingRow {
    pub pipeline: String,
    pub bits: u32,
    pub backend: String,
    pub replicas: usize,
    pub clients: usize,
    pub requests: usize,
    pub throughput_rps: f64,
    pub speedup: f64,
    pub efficiency: f64,
    pub latency_ms_median: f64,
    pub wrong: usize,
    pub cores: usize,
    pub git_rev: String,
}

/// `stages.csv`: one stage of one `cipherscale run`, with its wall time.
#[derive(Debug, Clone, serde::Serialize, Deserialize)]
pub struct StageRow {
    pub experiment: String,
    pub stage: String,
    pub quick: bool,
    pub finished_unix_s: u64,
    pub wall_s: f64,
    pub cores: usize,
    pub git_rev: String,
}

/// `reproduce.csv` (in the results root): one `cipherscale reproduce`, with its wall time.
#[derive(Debug, Clone, serde::Serialize, Deserialize)]
pub struct ReproduceRow {
    pub specs: String,
    pub quick: bool,
    pub finished_unix_s: u64,
    pub wall_s: f64,
    pub cores: usize,
    pub git_rev: String,
}

/// Everything one experiment folder holds; a file that is absent is `None`.
#[derive(Debug, Clone, Default)]
pub struct ExperimentResults {
    pub name: String,
    pub model: Option<Vec<ModelRow>>,
    pub fhe: Option<Vec<FheRow>>,
    pub serve: Option<Vec<ServeRow>>,
    pub scaling: Option<Vec<ScalingRow>>,
    pub workloads: Option<Vec<WorkloadRow>>,
    pub tuning: Option<Vec<TuningRow>>,
    pub train: Option<Vec<TrainRow>>,
    pub summary: Option<Vec<SummaryRow>>,
    pub diagnostics: Option<Vec<CollapseRow>>,
    pub steps: Option<Vec<StepRow>>,
    pub replicas: Option<Vec<ReplicaRow>>,
    pub live: Option<Vec<LiveRow>>,
    pub stages: Option<Vec<StageRow>>,
}

impl ExperimentResults {
    pub fn load(dir: &Path) -> anyhow::Result<Self> {
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        Ok(Self {
            name,
            model: optional(&dir.join("model.csv"))?,
            fhe: optional(&dir.join("fhe.csv"))?,
            serve: optional(&dir.join("serve.csv"))?,
            scaling: optional(&dir.join("scaling.csv"))?,
            workloads: optional(&dir.join("rl_workloads.csv"))?,
            tuning: optional(&dir.join("rl_tuning.csv"))?,
            train: optional(&dir.join("rl_train.csv"))?,
            summary: optional(&dir.join("rl_summary.csv"))?,
            diagnostics: optional(&dir.join("rl_diagnostics.csv"))?,
            steps: optional(&dir.join("rl_steps.csv"))?,
            replicas: optional(&dir.join("rl_replicas.csv"))?,
            live: optional(&dir.join("rl_live.csv"))?,
            stages: optional(&dir.join("stages.csv"))?,
        })
    }

    /// Whether the folder holds any result this module reads.
    pub fn is_empty(&self) -> bool {
        self.model.is_none()
            && self.fhe.is_none()
            && self.serve.is_none()
            && self.scaling.is_none()
            && self.summary.is_none()
    }
}
