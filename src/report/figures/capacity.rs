//! What each circuit costs (`capacity.csv`): dollars per million requests against hit@1 (the
//! accuracy-cost frontier), and the replicas each circuit needs against the arrival rate; one
//! panel for the fewest and one for the most active clients of the plan.

use std::path::Path;

use super::chart::{save_panels, LineChart, Series};
use super::Figure;
use crate::results::capacity::CapacityRow;
use crate::results::ExperimentResults;
use crate::stats::group_in_order;

pub fn figures(results: &ExperimentResults, dir: &Path) -> anyhow::Result<Vec<Figure>> {
    let Some(rows) = results.capacity.as_ref() else {
        return Ok(Vec::new());
    };
    let feasible: Vec<&CapacityRow> = rows.iter().filter(|r| r.feasible).collect();
    if feasible.is_empty() {
        return Ok(Vec::new());
    }
    let clients = client_counts(&feasible);
    let mut figures = Vec::new();
    if let Some(figure) = frontier(&feasible, &clients, dir)? {
        figures.push(figure);
    }
    figures.push(replicas(&feasible, &clients, dir)?);
    Ok(figures)
}

/// The fewest and the most active clients planned for (one count when they are the same).
fn client_counts(rows: &[&CapacityRow]) -> Vec<usize> {
    let counts = rows.iter().map(|r| r.clients);
    let (fewest, most) = (counts.clone().min(), counts.max());
    match (fewest, most) {
        (Some(fewest), Some(most)) if fewest != most => vec![fewest, most],
        (Some(only), _) => vec![only],
        _ => Vec::new(),
    }
}

/// The middle load of the plan (a multiple of each circuit's own capacity).
fn middle_load(rows: &[&CapacityRow]) -> f64 {
    let mut loads: Vec<f64> = rows.iter().map(|r| r.load).collect();
    loads.sort_by(f64::total_cmp);
    loads.dedup();
    loads[loads.len() / 2]
}

/// One curve per pipeline through its bit widths: hit@1 against dollars per million requests at
/// the middle load; `None` when no circuit has a hit@1 (no `model.csv`).
fn frontier(
    rows: &[&CapacityRow],
    clients: &[usize],
    dir: &Path,
) -> anyhow::Result<Option<Figure>> {
    let load = middle_load(rows);
    let panels: Vec<LineChart> = clients
        .iter()
        .map(|&count| {
            let mut chart = LineChart::new(
                &format!("{count} active clients"),
                "dollars per million requests (log)",
                "hit@1 (held-out users)",
            )
            .log_x();
            let at = |r: &&&CapacityRow| r.clients == count && r.load == load;
            let points = rows.iter().filter(at).copied().collect::<Vec<_>>();
            for (pipeline, circuits) in group_in_order(&points, |r| r.pipeline.to_string()) {
                let points: Vec<(f64, f64)> = circuits
                    .iter()
                    .filter_map(|r| Some((r.dollars_per_million?, r.hit_at_1?)))
                    .collect();
                if !points.is_empty() {
                    chart = chart.series(Series::new(pipeline, points).with_markers());
                }
            }
            chart
        })
        .filter(|chart| !chart.series.is_empty())
        .collect();
    if panels.is_empty() {
        return Ok(None);
    }
    let figure = Figure::new(
        dir,
        "capacity_frontier.png",
        format!(
            "Accuracy against cost: each point is one circuit (a pipeline at one bit width), its \
             hit@1 against the dollars per million requests of its cheapest deployment at {load} \
             times one replica's capacity, meeting the plan's objective; circuits that cannot \
             meet it are absent. Left to right: the fewest and the most active clients, whose \
             evaluation keys the replicas hold."
        ),
    );
    save_panels(&figure.path, &panels)?;
    Ok(Some(figure))
}

/// Replicas against arrival rate, one curve per circuit: every `glwe-argmax` width and the widest
/// circuit of each other pipeline.
fn replicas(rows: &[&CapacityRow], clients: &[usize], dir: &Path) -> anyhow::Result<Figure> {
    let shown = |r: &CapacityRow| {
        r.pipeline == crate::fhe::Pipeline::GlweArgmax
            || rows
                .iter()
                .filter(|o| o.pipeline == r.pipeline)
                .all(|o| o.bits <= r.bits)
    };
    let panels: Vec<LineChart> = clients
        .iter()
        .map(|&count| {
            let mut chart = LineChart::new(
                &format!("{count} active clients"),
                "requests per second (log)",
                "replicas (log)",
            )
            .log_x()
            .log_y()
            .legend_at(plotters::chart::SeriesLabelPosition::UpperLeft);
            let planned: Vec<&CapacityRow> = rows
                .iter()
                .copied()
                .filter(|r| r.clients == count && shown(r))
                .collect();
            for (circuit, points) in
                group_in_order(&planned, |r| format!("{} {}b", r.pipeline, r.bits))
            {
                let points = points
                    .iter()
                    .filter_map(|r| Some((r.rate_rps, r.replicas? as f64)))
                    .collect();
                chart = chart.series(Series::new(circuit, points).with_markers());
            }
            chart
        })
        .collect();
    let figure = Figure::new(
        dir,
        "capacity_replicas.png",
        "Replicas the cheapest deployment needs against the arrival rate, per circuit (every \
         glwe-argmax width; the widest circuit of the other pipelines), log-log. Left to right: \
         the fewest and the most active clients; where the clients' evaluation keys outgrow a \
         replica's memory, keys and not CPU set the count.",
    );
    save_panels(&figure.path, &panels)?;
    Ok(figure)
}
