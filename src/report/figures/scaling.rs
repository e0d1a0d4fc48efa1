//! Throughput against replicas (`scaling.csv`): measured on local replicas up to the cores,
//! simulated beyond, against perfect linear scaling.

use std::path::Path;

use super::chart::{LineChart, Series};
use super::Figure;
use crate::report::read::{ExperimentResults, ScalingRow};

pub fn figures(results: &ExperimentResults, dir: &Path) -> anyhow::Result<Vec<Figure>> {
    let Some(scaling) = results.scaling.as_ref().filter(|s| !s.is_empty()) else {
        return Ok(Vec::new());
    };
    let most = scaling.iter().map(|r| r.replicas).max().unwrap_or(1) as f64;
    let mut chart = LineChart::new(
        "Throughput against replicas",
        "replicas",
        "speedup over one replica",
    )
    .series(Series::new("linear", vec![(1.0, 1.0), (most, most)]).dashed());
    for (label, rows) in curves(scaling) {
        let points = rows
            .iter()
            .map(|r| (r.replicas as f64, r.speedup))
            .collect();
        chart = chart.series(Series::new(label, points).with_markers());
    }
    let figure = Figure::new(
        dir,
        "scaling.png",
        format!(
            "Throughput of N replicas over one replica's, per circuit: measured on local replicas \
             of this {}-core machine, and simulated with one replica per node (each with its own \
             cores) or all replicas sharing this machine's cores.",
            scaling[0].cores
        ),
    );
    chart.save(&figure.path)?;
    Ok(vec![figure])
}

/// One curve per circuit and backend, in file order.
fn curves(rows: &[ScalingRow]) -> Vec<(String, Vec<&ScalingRow>)> {
    crate::report::group_in_order(rows, |r| {
        format!("{} {}b, {}", r.pipeline, r.bits, r.backend)
    })
}
