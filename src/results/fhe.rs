//! `fhe.csv`: every pipeline at every bit width, measured on held-out examples.

use serde::{Deserialize, Serialize};

use crate::fhe::check::CellMeasurement;
use crate::fhe::Pipeline;
use crate::output::{bytes, ms, Table};

/// One row of `fhe.csv`: one pipeline at one bit width.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FheRow {
    /// The split seed whose held-out examples were checked.
    pub seed: u64,
    pub pipeline: Pipeline,
    /// Weight width; for `glwe-argmax`, the score width `p`.
    pub bits: u32,
    /// The published tfhe parameter set and what the circuit derives from it.
    pub params: String,
    /// Circuit size actually evaluated (inputs x outputs); reduced for `integer`.
    pub inputs: usize,
    pub outputs: usize,
    /// Examples checked; for `glwe-argmax`, every example in its ledger (`argmax_checks.csv`),
    /// which accumulates across runs.
    pub samples: usize,
    /// Examples evaluated in the run that wrote the row: the latency columns are over these.
    #[serde(default)]
    pub timed: usize,
    /// Programmable bootstraps per request (0 for the leveled circuits).
    pub bootstraps: usize,
    /// Fraction of samples whose decrypted top pick equals the plaintext quantized model's.
    pub agreement: f64,
    /// Samples whose decrypted scores differ from the plaintext scores in any output.
    pub decryption_errors: usize,
    /// hit@1 of the decrypted top pick; empty for a reduced circuit.
    pub hit_at_1: Option<f64>,
    /// Half-width of hit@1's 95% interval over the checked examples, clustered by user; empty
    /// in rows written before it was measured.
    #[serde(default)]
    pub hit_at_1_ci95: Option<f64>,
    pub keygen_ms: f64,
    pub encrypt_ms: f64,
    pub eval_ms_median: f64,
    pub eval_ms_p95: f64,
    pub decrypt_ms: f64,
    pub request_bytes: u64,
    pub response_bytes: u64,
    pub eval_key_bytes: u64,
    /// Peak resident memory of this cell (the process high-water mark, reset before the cell).
    pub peak_rss_mb: f64,
    /// `integer` only: eval time scaled linearly to the full circuit (an extrapolation).
    pub eval_ms_extrapolated_full: Option<f64>,
}

impl FheRow {
    /// The row of one measured cell, checked on split `seed`.
    pub fn new(seed: u64, m: &CellMeasurement) -> Self {
        Self {
            seed,
            pipeline: m.pipeline,
            bits: m.bits,
            params: m.params.clone(),
            inputs: m.inputs,
            outputs: m.outputs,
            samples: m.tally.examples,
            timed: m.timed,
            bootstraps: m.bootstraps,
            agreement: m.tally.agreement(),
            decryption_errors: m.tally.errors,
            hit_at_1: m.hit_at_1(),
            hit_at_1_ci95: m.hit_at_1().map(|_| m.tally.hit_ci95),
            keygen_ms: m.keygen_ms,
            encrypt_ms: m.encrypt_ms,
            eval_ms_median: m.eval_ms_median,
            eval_ms_p95: m.eval_ms_p95,
            decrypt_ms: m.decrypt_ms,
            request_bytes: m.request_bytes as u64,
            response_bytes: m.response_bytes as u64,
            eval_key_bytes: m.eval_key_bytes as u64,
            peak_rss_mb: m.peak_rss_mb,
            eval_ms_extrapolated_full: m.eval_ms_extrapolated_full,
        }
    }

    /// Evaluation time of the full 50 x 50 circuit: measured, or extrapolated for a reduced one.
    pub fn full_eval_ms(&self) -> f64 {
        self.eval_ms_extrapolated_full
            .unwrap_or(self.eval_ms_median)
    }

    fn total_bytes(&self) -> f64 {
        (self.request_bytes + self.response_bytes) as f64
    }
}

/// The rows of `fhe.csv` in the order of `cells`: the measured one of each cell, else the one
/// kept from the file (measuring some cells only replaces theirs).
pub fn merge(cells: &[(Pipeline, u32)], measured: Vec<FheRow>, kept: Vec<FheRow>) -> Vec<FheRow> {
    let find = |rows: &[FheRow], &(pipeline, bits): &(Pipeline, u32)| {
        rows.iter()
            .find(|r| r.pipeline == pipeline && r.bits == bits)
            .cloned()
    };
    cells
        .iter()
        .filter_map(|cell| find(&measured, cell).or_else(|| find(&kept, cell)))
        .collect()
}

pub const NOTE: &str = "*checked*: examples whose decrypted answer was compared with the \
plaintext model's; for `glwe-argmax`, every check in `argmax_checks.csv`, which accumulates across \
runs. *timed*: examples evaluated by the run that wrote the row, which the latency columns cover.\n\n";

/// Each circuit's agreement, cost per request and sizes.
pub fn table(rows: &[FheRow]) -> Table {
    let mut table = Table::new(&[
        "pipeline",
        "bits",
        "checked",
        "timed",
        "agreement",
        "hit@1 (95% CI by user)",
        "PBS/request",
        "eval median",
        "eval p95",
        "request",
        "response",
        "eval key",
        "keygen",
        "parameters",
    ])
    .align_left(0)
    .align_left(13);
    for row in rows {
        let eval = match row.eval_ms_extrapolated_full {
            Some(full) => format!(
                "{} ({}x{}; full: {})",
                ms(row.eval_ms_median),
                row.inputs,
                row.outputs,
                ms(full)
            ),
            None => ms(row.eval_ms_median),
        };
        table.row(vec![
            row.pipeline.to_string(),
            row.bits.to_string(),
            row.samples.to_string(),
            row.timed.to_string(),
            format!("{:.3}", row.agreement),
            match (row.hit_at_1, row.hit_at_1_ci95) {
                (Some(hit), Some(ci)) => format!("{hit:.3} ± {ci:.3}"),
                (Some(hit), None) => format!("{hit:.3}"),
                (None, _) => "-".into(),
            },
            row.bootstraps.to_string(),
            eval,
            ms(row.eval_ms_p95),
            bytes(row.request_bytes),
            bytes(row.response_bytes),
            bytes(row.eval_key_bytes),
            ms(row.keygen_ms),
            row.params.split(" (").next().unwrap_or_default().to_owned(),
        ]);
    }
    table
}

/// The `glwe-packed` and `lwe` rows of each width measured with both.
pub fn packed_against_lwe(rows: &[FheRow]) -> Vec<(u32, &FheRow, &FheRow)> {
    let find = |p: Pipeline, b: u32| rows.iter().find(|r| r.pipeline == p && r.bits == b);
    rows.iter()
        .filter(|r| r.pipeline == Pipeline::GlwePacked)
        .filter_map(|packed| Some((packed.bits, packed, find(Pipeline::Lwe, packed.bits)?)))
        .collect()
}

/// `glwe-packed` against `lwe` at each width: paper B's speed and size claims.
pub fn ratio_table(rows: &[FheRow]) -> Table {
    let mut table = Table::new(&[
        "bits",
        "eval speedup (lwe / glwe)",
        "bytes saved (req+resp)",
    ]);
    for (bits, packed, lwe) in packed_against_lwe(rows) {
        table.row(vec![
            bits.to_string(),
            format!("{:.1}x", lwe.eval_ms_median / packed.eval_ms_median),
            format!(
                "{:.1}%",
                100.0 * (1.0 - packed.total_bytes() / lwe.total_bytes())
            ),
        ]);
    }
    table
}
