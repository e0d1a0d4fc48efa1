//! A rehearsal: replicas and p95 latency per interval, live against simulated, per controller.

use std::path::Path;

use super::chart::{save_stacked, LineChart, Series};
use super::Figure;
use crate::operate::rehearsal::RehearsalRow;
use crate::results::ExperimentResults;
use crate::stats::group_in_order;

/// The rehearsal figure, when the folder holds `rehearsal.csv`.
pub fn figures(results: &ExperimentResults, dir: &Path) -> anyhow::Result<Vec<Figure>> {
    let Some(rows) = results.rehearsal.as_deref().filter(|r| !r.is_empty()) else {
        return Ok(Vec::new());
    };
    let figure = Figure::new(
        dir,
        "rehearsal.png",
        "Replicas and p95 latency against time: each controller on live local replicas (solid) \
         and the simulator on the same arrival rates (dashed).",
    );
    rehearsal(rows, &figure.path)?;
    Ok(vec![figure])
}

/// Two stacked panels: replicas asked for, and p95 latency, against time; a solid line per
/// controller live and a dashed one for the simulator's run on the same arrivals.
pub fn rehearsal(rows: &[RehearsalRow], path: &Path) -> anyhow::Result<()> {
    super::chart::register_font()?;
    let mut replicas = LineChart::new(
        "Replicas: live (solid) and simulated (dashed)",
        "seconds",
        "replicas",
    );
    let mut latency = LineChart::new("p95 latency per interval", "seconds", "p95 (s)");
    for (key, group) in group_in_order(rows, |r| (r.controller.clone(), r.source.clone())) {
        let label = format!("{} {}", key.0, key.1);
        let dashed = key.1 == "sim";
        let series = |y: fn(&RehearsalRow) -> f64| Series {
            label: label.clone(),
            points: group.iter().map(|r| (r.t_s, y(r))).collect(),
            dashed,
            ..Series::default()
        };
        replicas = replicas.series(series(|r| r.replicas as f64));
        latency = latency.series(series(|r| r.p95_s));
    }
    save_stacked(path, &[replicas, latency])
}
