//! `capacity.csv`: the cheapest deployment of each circuit for each load and client count;
//! `capacity_live.csv`: planned points run on live local replicas; and
//! the circuits' profiles the planner starts from, read from an experiment's measured results:
//! `fhe.csv` (evaluation, client and wire costs, key size, memory, the cores it ran on),
//! `argmax_checks.csv` (one evaluation time per checked `glwe-argmax` request) and `model.csv`
//! (hit@1 of the circuit's model).

use serde::{Deserialize, Serialize};

use crate::capacity::live::LiveCheck;
use crate::capacity::{plan_all, CapacitySpec, LivePoint, Plan, Planned, Profile};
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
        let deployed = match &planned.plan {
            Plan::Deploy(d) => Some(d),
            Plan::Infeasible(_) => None,
        };
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

/// One row of `capacity_live.csv`: a planned point run on live local replicas, beside the
/// planner and the simulator.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CapacityLiveRow {
    pub pipeline: Pipeline,
    pub bits: u32,
    pub rate_rps: f64,
    pub replicas: usize,
    pub cores_per_replica: usize,
    /// Planned busy share of each replica.
    pub utilisation: f64,
    pub quantile: f64,
    /// Requests sent under load, answered with 200, and answered wrong or undecryptable
    /// (calibration included); calibration requests.
    pub sent: usize,
    pub answered: usize,
    pub wrong: usize,
    pub calibration_requests: usize,
    pub achieved_rps: f64,
    /// How late the sender was, 99th percentile.
    pub sender_lag_ms_p99: f64,
    /// The response-time quantile, client work included: planned from the profile, planned and
    /// simulated from the calibration, live, and the live one's distribution-free 95% interval
    /// (absent where too few requests bound it).
    pub predicted_s: f64,
    pub calibrated_s: f64,
    pub simulated_s: f64,
    pub live_s: f64,
    pub live_low_s: Option<f64>,
    pub live_high_s: Option<f64>,
    /// Mean evaluation milliseconds (key lookup included): profiled, calibrated, under load.
    pub planned_eval_ms: f64,
    pub calibration_eval_ms: f64,
    pub loaded_eval_ms: f64,
    /// Mean milliseconds outside the replica (proxy, HTTP, ciphertext transfer), which the
    /// profile omits: calibrated, under load.
    pub calibration_transport_ms: f64,
    pub loaded_transport_ms: f64,
}

impl CapacityLiveRow {
    pub fn new(point: &LivePoint, quantile: f64, check: &LiveCheck) -> Self {
        let finite = |v: f64| v.is_finite().then_some(v);
        let (d, run) = (&check.deployment, &check.run);
        Self {
            pipeline: point.pipeline,
            bits: point.bits,
            rate_rps: point.rate_rps,
            replicas: d.replicas,
            cores_per_replica: d.cores_per_replica,
            utilisation: d.utilisation,
            quantile,
            sent: run.sent,
            answered: run.answered,
            wrong: run.wrong,
            calibration_requests: run.calibration.len(),
            achieved_rps: run.achieved_rps,
            sender_lag_ms_p99: run.lag_ms_p99,
            predicted_s: d.predicted_s,
            calibrated_s: check.calibrated_s,
            simulated_s: check.simulated_s,
            live_s: check.live_s,
            live_low_s: finite(check.live_interval_s.0),
            live_high_s: finite(check.live_interval_s.1),
            planned_eval_ms: check.planned_eval_ms,
            calibration_eval_ms: check.calibration_eval_ms,
            loaded_eval_ms: check.loaded_eval_ms,
            calibration_transport_ms: check.calibration_transport_ms,
            loaded_transport_ms: check.loaded_transport_ms,
        }
    }
}

pub const LIVE_NOTE: &str = "The `capacity` stage's live points: the planned replicas started on \
this machine (`cipherscale serve` children behind the local proxy, one worker each); first \
requests one at a time (calibration), then Poisson arrivals at the planned rate for a fixed time, \
from one client whose requests were encrypted beforehand; every answer decrypted and checked; the \
first tenth of the loaded requests left out. `planned` is the plan from the profile (`fhe.csv`); \
`calibrated` and `simulated` are the planner and the simulator fed the calibration: the replicas' \
own evaluation times (`Server-Timing`) and the transport (proxy, HTTP, ciphertext transfer) added \
to the client's work. `live` is the client-seen quantile plus the profiled client work, with its \
distribution-free 95% interval.\n\n";

/// The live points beside their plans.
pub fn live_table(rows: &[CapacityLiveRow]) -> Table {
    let mut table = Table::new(&[
        "circuit",
        "req/s (sent)",
        "replicas x cores",
        "answered (wrong)",
        "planned",
        "calibrated",
        "simulated",
        "live [95% CI]",
        "live / calibrated",
        "eval ms: profile, calibration, loaded",
        "transport ms",
    ])
    .align_left(0);
    let seconds = |v: Option<f64>| v.map_or("-".into(), |v| format!("{v:.4}"));
    for r in rows {
        table.row(vec![
            format!("{} {}b", r.pipeline, r.bits),
            format!("{} ({:.2})", r.rate_rps, r.achieved_rps),
            format!("{} x {}", r.replicas, r.cores_per_replica),
            format!("{}/{} ({})", r.answered, r.sent, r.wrong),
            format!("{:.4}", r.predicted_s),
            format!("{:.4}", r.calibrated_s),
            format!("{:.4}", r.simulated_s),
            format!(
                "{:.4} [{}, {}]",
                r.live_s,
                seconds(r.live_low_s),
                seconds(r.live_high_s)
            ),
            format!("{:.2}", r.live_s / r.calibrated_s),
            format!(
                "{:.2}, {:.2}, {:.2}",
                r.planned_eval_ms, r.calibration_eval_ms, r.loaded_eval_ms
            ),
            format!(
                "{:.2} -> {:.2}",
                r.calibration_transport_ms, r.loaded_transport_ms
            ),
        ]);
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
