//! `serve.csv`: one replica serving each circuit to 1, 2, ... closed-loop clients.

use serde::{Deserialize, Serialize};

use crate::fhe::Pipeline;
use crate::load::closed_loop::ClosedLoopRun;
use crate::output::{ms, Table};

/// One row of `serve.csv`: one circuit at one client count.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServeRow {
    /// The split seed whose model and held-out users were served.
    pub seed: u64,
    pub pipeline: Pipeline,
    pub bits: u32,
    /// Evaluation workers of the replica.
    pub workers: usize,
    pub clients: usize,
    pub requests: usize,
    pub wall_s: f64,
    pub throughput_rps: f64,
    /// Per request at the client: encrypt, HTTP, evaluate, decrypt.
    pub latency_ms_median: f64,
    pub latency_ms_p95: f64,
    /// Answers that differ from the plaintext model's.
    pub wrong: usize,
}

impl ServeRow {
    /// The row of one closed-loop run of the circuit `(pipeline, bits)` on a replica with
    /// `workers`, split `seed`.
    pub fn new(seed: u64, circuit: (Pipeline, u32), workers: usize, run: &ClosedLoopRun) -> Self {
        Self {
            seed,
            pipeline: circuit.0,
            bits: circuit.1,
            workers,
            clients: run.clients,
            requests: run.requests,
            wall_s: run.wall_s,
            throughput_rps: run.throughput_rps,
            latency_ms_median: run.latency_ms_median,
            latency_ms_p95: run.latency_ms_p95,
            wrong: run.wrong,
        }
    }
}

/// Throughput and latency per circuit and client count, with the gain over one client.
pub fn table(rows: &[ServeRow]) -> Table {
    let mut table = Table::new(&[
        "circuit",
        "workers",
        "clients",
        "requests",
        "requests/s",
        "vs 1 client",
        "latency median",
        "latency p95",
        "wrong",
    ])
    .align_left(0);
    for row in rows {
        let single = rows
            .iter()
            .find(|o| o.pipeline == row.pipeline && o.bits == row.bits && o.clients == 1);
        table.row(vec![
            format!("{} {}b", row.pipeline, row.bits),
            row.workers.to_string(),
            row.clients.to_string(),
            row.requests.to_string(),
            format!("{:.2}", row.throughput_rps),
            single.map_or("-".into(), |s| {
                format!("{:.2}x", row.throughput_rps / s.throughput_rps)
            }),
            ms(row.latency_ms_median),
            ms(row.latency_ms_p95),
            row.wrong.to_string(),
        ]);
    }
    table
}
