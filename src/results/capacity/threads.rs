//! `capacity_threads.csv`: circuits timed on one evaluation thread and on all cores, with what
//! their evaluation key costs a replica once built; `capacity_shapes.csv`: each demand planned
//! with all cores per replica (vertical) and with one (horizontal), and which is cheaper.

use serde::{Deserialize, Serialize};

use crate::capacity::threads::{Shapes, ThreadTimes};
use crate::capacity::Deployment;
use crate::fhe::Pipeline;
use crate::output::Table;
use crate::stats::percentile;

/// One row of `capacity_threads.csv`: one circuit on one thread and on `threads`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ThreadsRow {
    pub pipeline: Pipeline,
    pub bits: u32,
    pub requests: usize,
    pub threads: usize,
    /// Evaluation milliseconds per request, median and p95, on one thread and on `threads`.
    pub one_thread_ms_median: f64,
    pub one_thread_ms_p95: f64,
    pub threads_ms_median: f64,
    pub threads_ms_p95: f64,
    /// One thread's median over `threads`' median.
    pub speedup: f64,
    /// The evaluation key as uploaded, and the resident memory a replica grew by building it.
    pub key_bytes: usize,
    pub built_key_mib: f64,
    pub key_build_ms: f64,
}

impl ThreadsRow {
    pub fn new(times: &ThreadTimes) -> Self {
        Self {
            pipeline: times.pipeline,
            bits: times.bits,
            requests: times.one_ms.len(),
            threads: times.threads,
            one_thread_ms_median: percentile(&times.one_ms, 0.5),
            one_thread_ms_p95: percentile(&times.one_ms, 0.95),
            threads_ms_median: percentile(&times.many_ms, 0.5),
            threads_ms_p95: percentile(&times.many_ms, 0.95),
            speedup: times.speedup(),
            key_bytes: times.key_bytes,
            built_key_mib: times.built_key_mib,
            key_build_ms: times.key_build_ms,
        }
    }
}

/// One row of `capacity_shapes.csv`: one circuit and demand, the cheapest deployment with all
/// cores per replica and with one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShapeRow {
    pub pipeline: Pipeline,
    pub bits: u32,
    pub load: f64,
    pub rate_rps: f64,
    pub clients: usize,
    pub speedup: f64,
    pub vertical_cores: usize,
    pub vertical_replicas: Option<usize>,
    pub vertical_predicted_s: Option<f64>,
    pub vertical_dollars_per_million: Option<f64>,
    pub horizontal_replicas: Option<usize>,
    pub horizontal_predicted_s: Option<f64>,
    pub horizontal_dollars_per_million: Option<f64>,
    /// `vertical`, `horizontal`, `either` (the same cost) or `neither` (no shape meets the
    /// objective).
    pub cheaper: String,
}

impl ShapeRow {
    pub fn new(pipeline: Pipeline, bits: u32, cores: usize, speedup: f64, s: &Shapes) -> Self {
        let (wide, narrow) = (s.vertical.deployment(), s.horizontal.deployment());
        let field = |d: Option<&Deployment>, f: fn(&Deployment) -> f64| d.map(f);
        Self {
            pipeline,
            bits,
            load: s.load,
            rate_rps: s.demand.rate_rps,
            clients: s.demand.clients,
            speedup,
            vertical_cores: cores,
            vertical_replicas: wide.map(|d| d.replicas),
            vertical_predicted_s: field(wide, |d| d.predicted_s),
            vertical_dollars_per_million: field(wide, |d| d.dollars_per_million),
            horizontal_replicas: narrow.map(|d| d.replicas),
            horizontal_predicted_s: field(narrow, |d| d.predicted_s),
            horizontal_dollars_per_million: field(narrow, |d| d.dollars_per_million),
            cheaper: cheaper(wide, narrow).into(),
        }
    }
}

/// Which shape costs less per request; within 0.1% is a tie.
fn cheaper(wide: Option<&Deployment>, narrow: Option<&Deployment>) -> &'static str {
    match (wide, narrow) {
        (None, None) => "neither",
        (Some(_), None) => "vertical",
        (None, Some(_)) => "horizontal",
        (Some(w), Some(n)) => {
            let ratio = n.dollars_per_million / w.dollars_per_million;
            match ratio {
                r if (r - 1.0).abs() < 1e-3 => "either",
                r if r < 1.0 => "horizontal",
                _ => "vertical",
            }
        }
    }
}

pub const SHAPES_NOTE: &str = "The `capacity` stage's thread timings: each request evaluated on \
one thread and on all of this machine's cores in turn (the order alternating), every answer \
checked. `speedup` is one thread's median over all cores'. `key built` is the resident memory a \
replica grew by building the uploaded key, `build` the time it took (a key-cache miss, besides \
reading the store). The plans below put the same demands on replicas of all cores (vertical, the \
profile as measured) and of one core (horizontal, each request `speedup` times longer): a speedup \
under the core count makes one-core replicas do more per core, where the objective lets them.\n\n";

/// One circuit per row: times on one thread and on all cores, and the key's cost.
pub fn threads_table(rows: &[ThreadsRow]) -> Table {
    let mut table = Table::new(&[
        "circuit",
        "requests",
        "1 thread ms (p95)",
        "all cores ms (p95)",
        "speedup",
        "key uploaded",
        "key built",
        "build ms",
    ])
    .align_left(0);
    for r in rows {
        table.row(vec![
            format!("{} {}b", r.pipeline, r.bits),
            r.requests.to_string(),
            format!("{:.1} ({:.1})", r.one_thread_ms_median, r.one_thread_ms_p95),
            format!(
                "{:.1} ({:.1}) on {}",
                r.threads_ms_median, r.threads_ms_p95, r.threads
            ),
            format!("{:.2}x", r.speedup),
            crate::output::bytes(r.key_bytes as u64),
            format!("{:.0} MiB", r.built_key_mib),
            format!("{:.0}", r.key_build_ms),
        ]);
    }
    table
}

/// Each demand with both shapes' replicas, quantile and cost, and the cheaper one.
pub fn shapes_table(rows: &[ShapeRow]) -> Table {
    let mut table = Table::new(&[
        "circuit",
        "req/s",
        "clients",
        "vertical: replicas x cores, p95, $/1M",
        "horizontal: replicas x 1, p95, $/1M",
        "cheaper",
    ])
    .align_left(0);
    let shape = |replicas: Option<usize>, cores: usize, s: Option<f64>, cost: Option<f64>| match (
        replicas, s, cost,
    ) {
        (Some(n), Some(s), Some(cost)) => format!("{n} x {cores}, {s:.2} s, {cost:.2}"),
        _ => "infeasible".into(),
    };
    for r in rows {
        table.row(vec![
            format!("{} {}b", r.pipeline, r.bits),
            format!("{:.3}", r.rate_rps),
            r.clients.to_string(),
            shape(
                r.vertical_replicas,
                r.vertical_cores,
                r.vertical_predicted_s,
                r.vertical_dollars_per_million,
            ),
            shape(
                r.horizontal_replicas,
                1,
                r.horizontal_predicted_s,
                r.horizontal_dollars_per_million,
            ),
            r.cheaper.clone(),
        ]);
    }
    table
}
