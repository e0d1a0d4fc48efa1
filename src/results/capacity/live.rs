//! `capacity_live.csv`: planned points run on live local replicas, beside their plans.

use serde::{Deserialize, Serialize};

use crate::capacity::live::LiveCheck;
use crate::capacity::LivePoint;
use crate::fhe::Pipeline;
use crate::output::Table;

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
    /// Under load, the objective's quantile of the wait in a replica's queue and of the
    /// transport, ms.
    pub loaded_queue_ms_tail: f64,
    pub loaded_transport_ms_tail: f64,
    /// Cores kept busy during the loaded run by this process (the sender and the proxy) and by
    /// the whole machine.
    pub client_proxy_cores: f64,
    pub machine_busy_cores: f64,
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
            loaded_queue_ms_tail: check.loaded_queue_ms_tail,
            loaded_transport_ms_tail: check.loaded_transport_ms_tail,
            client_proxy_cores: run.busy.process,
            machine_busy_cores: run.busy.machine,
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
distribution-free 95% interval. The loaded tail splits it: the quantile of the wait in the \
replica's queue and of the transport. The plan gives the replicas their cores to themselves; here \
the sender and the proxy (this process) run on the same cores, and `cores busy` says how many they \
and the whole machine kept busy during the load.\n\n";

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
        "loaded tail ms: queue, transport",
        "cores busy: client + proxy, machine",
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
            format!(
                "{:.2}, {:.2}",
                r.loaded_queue_ms_tail, r.loaded_transport_ms_tail
            ),
            format!("{:.2}, {:.2}", r.client_proxy_cores, r.machine_busy_cores),
        ]);
    }
    table
}
