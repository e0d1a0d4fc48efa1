//! `scaling.csv`: throughput against replicas, measured on local replicas or simulated.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::fhe::Pipeline;
use crate::output::{ms, Table};

/// Where a scaling row's replicas ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Backend {
    /// `cipherscale serve` children on this machine, behind the round-robin proxy.
    Local,
    /// The simulator, with a node (one slot) per replica.
    SimNodePerReplica,
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Backend::Local => "local",
            Backend::SimNodePerReplica => "sim-node-per-replica",
        })
    }
}

/// One row of `scaling.csv`: one circuit on N replicas, measured or simulated.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScalingRow {
    /// The split seed whose model and held-out users were served.
    pub seed: u64,
    pub pipeline: Pipeline,
    pub bits: u32,
    pub backend: Backend,
    pub replicas: usize,
    pub clients: usize,
    pub requests: usize,
    pub throughput_rps: f64,
    /// Throughput over the same backend's one-replica throughput.
    pub speedup: f64,
    /// Speedup per replica: 1 is perfectly linear.
    pub efficiency: f64,
    pub latency_ms_median: f64,
    pub latency_ms_p95: f64,
    /// Answers that differ from the plaintext model's (local only).
    pub wrong: usize,
}

/// Throughput, speedup and efficiency per circuit, backend and replica count.
pub fn table(rows: &[ScalingRow]) -> Table {
    let mut table = Table::new(&[
        "circuit",
        "backend",
        "replicas",
        "clients",
        "requests",
        "requests/s",
        "speedup",
        "efficiency",
        "latency median",
        "wrong",
    ])
    .align_left(0)
    .align_left(1);
    for row in rows {
        table.row(vec![
            format!("{} {}b", row.pipeline, row.bits),
            row.backend.to_string(),
            row.replicas.to_string(),
            row.clients.to_string(),
            row.requests.to_string(),
            format!("{:.2}", row.throughput_rps),
            format!("{:.2}", row.speedup),
            format!("{:.2}", row.efficiency),
            ms(row.latency_ms_median),
            row.wrong.to_string(),
        ]);
    }
    table
}
