//! Throughput against replicas (`scaling.csv`): measured on local replicas up to the cores,
//! simulated beyond, against perfect linear scaling.

use std::path::Path;

use super::chart::{save_panels, LineChart, Series};
use super::Figure;
use crate::results::scaling::{Backend, ScalingRow};
use crate::results::ExperimentResults;

pub fn figures(results: &ExperimentResults, dir: &Path) -> anyhow::Result<Vec<Figure>> {
    let Some(stamped) = results.scaling.as_ref().filter(|s| !s.is_empty()) else {
        return Ok(Vec::new());
    };
    let scaling = results.scaling_rows().unwrap_or_default();
    let local_most = scaling
        .iter()
        .filter(|r| r.backend == Backend::Local)
        .map(|r| r.replicas)
        .max()
        .unwrap_or(1) as f64;
    let mut speedup = LineChart::new(
        "Measured on this machine",
        "replicas",
        "speedup over one replica",
    );
    let mut efficiency = LineChart::new(
        "Efficiency, measured and simulated",
        "replicas",
        "speedup / replicas",
    );
    // Local curves first, so that each keeps its colour in both panels.
    let mut curves = curves(&scaling);
    curves.sort_by_key(|(_, rows)| rows[0].backend != Backend::Local);
    for (label, rows) in curves {
        let points =
            |f: fn(&ScalingRow) -> f64| rows.iter().map(|r| (r.replicas as f64, f(r))).collect();
        if rows[0].backend == Backend::Local {
            speedup = speedup.series(Series::new(&label, points(|r| r.speedup)).with_markers());
        }
        efficiency = efficiency.series(Series::new(label, points(|r| r.efficiency)).with_markers());
    }
    let linear = vec![(1.0, 1.0), (local_most, local_most)];
    speedup = speedup.series(Series::new("linear", linear).dashed());
    let figure = Figure::new(
        dir,
        "scaling.png",
        format!(
            "Throughput of N replicas over one replica's, per circuit. Left: local replicas of this \
             {}-core machine (they share its cores). Right: speedup per replica, measured and \
             simulated with a node per replica (each with its own cores; near-linear by \
             construction, bent only by uneven service times).",
            stamped[0].1.cores
        ),
    );
    save_panels(&figure.path, &[speedup, efficiency])?;
    Ok(vec![figure])
}

/// One curve per circuit and backend, in file order.
fn curves(rows: &[ScalingRow]) -> Vec<(String, Vec<&ScalingRow>)> {
    crate::stats::group_in_order(rows, |r| {
        format!("{} {}b, {}", r.pipeline, r.bits, r.backend)
    })
}
