//! `capacity.csv`: the cheapest deployment of each circuit for each load and client count
//! (`live.rs`: `capacity_live.csv`, planned points run on live local replicas; `threads.rs`:
//! `capacity_threads.csv` and `capacity_shapes.csv`, one core against all and the plans both
//! ways); and the circuits' profiles the planner starts from, read from an experiment's
//! measured results: `fhe.csv` (evaluation, client and wire costs, key size, memory, the cores it ran on),
//! `argmax_checks.csv` (one evaluation time per checked `glwe-argmax` request) and `model.csv`
//! (hit@1 of the circuit's model).

mod live;
mod threads;

pub use live::{live_table, CapacityLiveRow, LIVE_NOTE};
pub use threads::{shapes_table, threads_table, ShapeRow, ThreadsRow, SHAPES_NOTE};

use serde::{Deserialize, Serialize};

use crate::capacity::{plan_all, CapacitySpec, Plan, Planned, Profile};
use crate::fhe::Pipeline;
use crate::output::{Stamp, Table};
use crate::results::fhe::FheRow;
use crate::results::model::{ModelRow, Variant};
use crate::results::CheckRow;
use crate::sim::ServiceTime;
use crate::stats::mean;

/// One row of `capacity.csv`: one circuit, one demand, its plan (or why there is none).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CapacityRow {
    pub pipeline: Pipeline,
    pub bits: u32,
    /// Plaintext hit@1 of the circuit's model, mean over split seeds.
    pub hit_at_1: Option<f64>,
    /// The rate as a multiple of one replica's capacity, and in requests per second.
    pub load: f64,
    pub rate_rps: f64,
    pub clients: usize,
    pub quantile: f64,
    pub objective_s: f64,
    pub feasible: bool,
    /// Why no deployment meets the objective (empty when one does).
    pub reason: String,
    pub replicas: Option<usize>,
    pub cores_per_replica: Option<usize>,
    pub key_gib_per_replica: Option<f64>,
    pub memory_gib_per_replica: Option<f64>,
    pub utilisation: Option<f64>,
    /// The planner's and the simulator's response-time quantile, client work included.
    pub predicted_s: Option<f64>,
    pub simulated_s: Option<f64>,
    pub dollars_per_hour: Option<f64>,
    pub dollars_per_million: Option<f64>,
}

impl CapacityRow {
    pub fn new(profile: &Profile, planned: &Planned) -> Self {
        let deployed = planned.plan.deployment();
        let d = |f: fn(&crate::capacity::Deployment) -> f64| deployed.map(f);
        Self {
            pipeline: profile.pipeline,
            bits: profile.bits,
            hit_at_1: profile.hit_at_1,
            load: planned.load,
            rate_rps: planned.demand.rate_rps,
            clients: planned.demand.clients,
            quantile: planned.demand.quantile,
            objective_s: planned.demand.objective_s,
            feasible: deployed.is_some(),
            reason: match &planned.plan {
                Plan::Infeasible(reason) => reason.clone(),
                Plan::Deploy(_) => String::new(),
            },
            replicas: deployed.map(|d| d.replicas),
            cores_per_replica: deployed.map(|d| d.cores_per_replica),
            key_gib_per_replica: d(|d| d.key_gib_per_replica),
            memory_gib_per_replica: d(|d| d.memory_gib_per_replica),
            utilisation: d(|d| d.utilisation),
            predicted_s: d(|d| d.predicted_s),
            simulated_s: planned.simulated_s,
            dollars_per_hour: d(|d| d.dollars_per_hour),
            dollars_per_million: d(|d| d.dollars_per_million),
        }
    }
}

pub const NOTE: &str = "`cipherscale plan`: the fewest replicas (one evaluation worker each, on \
the cores the circuit was measured on) whose p95, client encryption and decryption included, meets \
the objective, with each replica holding its share of the clients' evaluation keys (compressed \
size: a lower bound) within 64 GiB; M/G/1 per replica with the measured service times, checked in \
the simulator on the same samples. Loads are multiples of one replica's capacity; prices are GCP \
E2 on-demand (us-central1) and AWS internet egress list prices.\n\n";

/// Every profiled circuit planned as `spec` says, as rows.
pub fn plan_results(profiles: &[Profile], spec: &CapacitySpec) -> Vec<CapacityRow> {
    profiles
        .iter()
        .flat_map(|profile| {
            let planned = plan_all(profile, spec);
            planned
                .iter()
                .map(|p| CapacityRow::new(profile, p))
                .collect::<Vec<_>>()
        })
        .collect()
}

/// What each circuit costs at each load and client count: replicas, memory, the predicted and
/// simulated quantile, dollars per million requests; or why it cannot be served.
pub fn table(rows: &[CapacityRow]) -> Table {
    let mut table = Table::new(&[
        "circuit",
        "hit@1",
        "req/s",
        "clients",
        "objective",
        "replicas x cores",
        "GiB/replica (keys)",
        "busy",
        "planned",
        "simulated",
        "$/h",
        "$/1M requests",
    ])
    .align_left(0);
    let opt = |v: Option<f64>, digits: usize| v.map_or("-".into(), |v| format!("{v:.digits$}"));
    for r in rows {
        let mut cells = vec![
            format!("{} {}b", r.pipeline, r.bits),
            opt(r.hit_at_1, 3),
            format!("{:.3}", r.rate_rps),
            r.clients.to_string(),
            format!("p{:.0} <= {} s", 100.0 * r.quantile, r.objective_s),
        ];
        match (r.replicas, r.cores_per_replica) {
            (Some(replicas), Some(cores)) => cells.extend([
                format!("{replicas} x {cores}"),
                format!(
                    "{:.2} ({:.2})",
                    r.memory_gib_per_replica.unwrap_or(f64::NAN),
                    r.key_gib_per_replica.unwrap_or(f64::NAN)
                ),
                opt(r.utilisation.map(|u| 100.0 * u), 0) + "%",
                opt(r.predicted_s, 3),
                opt(r.simulated_s, 3),
                opt(r.dollars_per_hour, 3),
                opt(r.dollars_per_million, 2),
            ]),
            _ => cells.extend(["infeasible", "-", "-", "-", "-", "-", "-"].map(String::from)),
        }
        table.row(cells);
    }
    table
}

/// Service-time samples a fit is represented by.
const FIT_POINTS: usize = 400;
/// Per-request checks needed to use them rather than the fit.
const MIN_SAMPLES: usize = 20;

/// One profile per measured full-size circuit (the reduced `integer` one is left out: its time
/// at full size is an extrapolation).
pub fn profiles(fhe: &[(FheRow, Stamp)], checks: &[CheckRow], model: &[ModelRow]) -> Vec<Profile> {
    fhe.iter()
        .filter(|(row, _)| row.eval_ms_extrapolated_full.is_none() && row.timed > 0)
        .map(|(row, stamp)| Profile {
            pipeline: row.pipeline,
            bits: row.bits,
            service_s: service_samples(row, checks),
            client_s: (row.encrypt_ms + row.decrypt_ms) / 1e3,
            cores: stamp.cores.max(1),
            base_gib: row.peak_rss_mb / 1024.0,
            key_bytes: row.eval_key_bytes,
            response_bytes: row.response_bytes,
            hit_at_1: plaintext_hit_at_1(model, row.pipeline, row.bits),
        })
        .collect()
}

/// The circuit's measured evaluation times where the ledger holds enough of them (the same
/// circuit parameters), else quantiles of the lognormal through the measured median and p95.
fn service_samples(row: &FheRow, checks: &[CheckRow]) -> Vec<f64> {
    let measured: Vec<f64> = checks
        .iter()
        .filter(|c| c.bits == row.bits && c.params == row.params)
        .map(|c| c.eval_ms / 1e3)
        .collect();
    if row.pipeline == Pipeline::GlweArgmax && measured.len() >= MIN_SAMPLES {
        return measured;
    }
    let fit =
        ServiceTime::lognormal_from_quantiles(row.eval_ms_median / 1e3, row.eval_ms_p95 / 1e3);
    (0..FIT_POINTS)
        .map(|i| fit.quantile((i as f64 + 0.5) / FIT_POINTS as f64))
        .collect()
}

/// Mean hit@1 over split seeds of the plaintext model the circuit runs.
fn plaintext_hit_at_1(model: &[ModelRow], pipeline: Pipeline, bits: u32) -> Option<f64> {
    let variant = match pipeline {
        Pipeline::GlweArgmax => Variant::Scores,
        _ => Variant::Quantized,
    };
    let hits: Vec<f64> = model
        .iter()
        .filter(|r| r.variant == variant && r.bits == Some(bits))
        .map(|r| r.hit_at_1)
        .collect();
    (!hits.is_empty()).then(|| mean(&hits))
}
