//! The circuit figures: evaluation latency and bytes against bit width per pipeline
//! (`fhe.csv`), hit@1 against bit width (`model.csv`).

use std::collections::BTreeMap;
use std::path::Path;

use super::chart::{save_panels, LineChart, Series};
use super::Figure;
use crate::results::fhe::FheRow;
use crate::results::model::ModelRow;
use crate::results::ExperimentResults;
use crate::stats::{mean, Summary};

pub fn figures(results: &ExperimentResults, dir: &Path) -> anyhow::Result<Vec<Figure>> {
    let mut figures = Vec::new();
    if let Some(fhe) = results.fhe.as_ref().filter(|f| !f.is_empty()) {
        figures.push(latency(fhe, dir)?);
        figures.push(bytes(fhe, dir)?);
    }
    if let Some(model) = results.model.as_ref().filter(|m| !m.is_empty()) {
        figures.push(accuracy(model, dir)?);
    }
    Ok(figures)
}

/// Rows per pipeline, in the order pipelines first appear.
fn by_pipeline(fhe: &[FheRow]) -> Vec<(String, Vec<&FheRow>)> {
    crate::stats::group_in_order(fhe, |r| r.pipeline.to_string())
}

fn latency(fhe: &[FheRow], dir: &Path) -> anyhow::Result<Figure> {
    let mut chart = LineChart::new(
        "Server evaluation time per request",
        "bit width (weights; scores for glwe-argmax)",
        "milliseconds (log scale)",
    )
    .log_y()
    .legend_at(plotters::chart::SeriesLabelPosition::MiddleRight);
    for (pipeline, rows) in by_pipeline(fhe) {
        let extrapolated = rows.iter().any(|r| r.eval_ms_extrapolated_full.is_some());
        let label = match extrapolated {
            true => format!("{pipeline} (extrapolated to 50 x 50)"),
            false => pipeline,
        };
        let points = rows
            .iter()
            .map(|r| (r.bits as f64, r.full_eval_ms()))
            .collect();
        // A reduced circuit's spread says nothing about the full one's.
        let band = match extrapolated {
            true => Vec::new(),
            false => rows
                .iter()
                .map(|r| (r.bits as f64, r.eval_ms_median, r.eval_ms_p95))
                .collect(),
        };
        chart = chart.series(Series::new(label, points).with_band(band).with_markers());
    }
    let figure = Figure::new(
        dir,
        "fhe_latency_vs_bits.png",
        "Median evaluation time of one request on the server per pipeline and bit width (band: \
         median to p95), log scale.",
    );
    chart.save(&figure.path)?;
    Ok(figure)
}

fn bytes(fhe: &[FheRow], dir: &Path) -> anyhow::Result<Figure> {
    let mut wire = LineChart::new(
        "Bytes on the wire",
        "bit width",
        "request + response bytes (log)",
    )
    .log_y();
    let mut keys =
        LineChart::new("Evaluation key", "bit width", "bytes uploaded once (log)").log_y();
    for (pipeline, rows) in by_pipeline(fhe) {
        let per_request = rows
            .iter()
            .map(|r| (r.bits as f64, (r.request_bytes + r.response_bytes) as f64))
            .collect();
        wire = wire.series(Series::new(&pipeline, per_request).with_markers());
        let key: Vec<(f64, f64)> = rows
            .iter()
            .filter(|r| r.eval_key_bytes > 0)
            .map(|r| (r.bits as f64, r.eval_key_bytes as f64))
            .collect();
        if !key.is_empty() {
            keys = keys.series(Series::new(&pipeline, key).with_markers());
        }
    }
    let figure = Figure::new(
        dir,
        "fhe_bytes_vs_bits.png",
        "Left: bytes of one request and its response per pipeline. Right: the evaluation key the \
         client uploads once (pipelines without one, the leveled circuits, are absent).",
    );
    match keys.series.is_empty() {
        true => wire.save(&figure.path)?,
        false => save_panels(&figure.path, &[wire, keys])?,
    }
    Ok(figure)
}

fn accuracy(model: &[ModelRow], dir: &Path) -> anyhow::Result<Figure> {
    let mut variants: BTreeMap<String, BTreeMap<u32, Vec<f64>>> = BTreeMap::new();
    let mut flat: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for row in model {
        match row.bits {
            Some(bits) => variants
                .entry(row.variant.to_string())
                .or_default()
                .entry(bits)
                .or_default()
                .push(row.hit_at_1),
            None => flat
                .entry(row.variant.to_string())
                .or_default()
                .push(row.hit_at_1),
        }
    }
    let widths: Vec<f64> = variants
        .values()
        .flat_map(|by_bits| by_bits.keys().map(|&b| b as f64))
        .collect();
    let (lo, hi) = (
        widths.iter().copied().fold(f64::INFINITY, f64::min),
        widths.iter().copied().fold(f64::NEG_INFINITY, f64::max),
    );
    let mut chart = LineChart::new(
        "hit@1 against bit width",
        "bit width",
        "hit@1 (held-out users)",
    )
    .legend_at(plotters::chart::SeriesLabelPosition::LowerRight);
    for (variant, by_bits) in &variants {
        let points = by_bits.iter().map(|(&b, v)| (b as f64, mean(v))).collect();
        let band = by_bits
            .iter()
            .map(|(&b, v)| {
                let spread = Summary::of(v.iter().copied());
                (b as f64, spread.min, spread.max)
            })
            .collect();
        chart = chart.series(
            Series::new(variant.as_str(), points)
                .with_band(band)
                .with_markers(),
        );
    }
    for (variant, values) in &flat {
        let level = mean(values);
        chart =
            chart.series(Series::new(variant.as_str(), vec![(lo, level), (hi, level)]).dashed());
    }
    let figure = Figure::new(
        dir,
        "hit_at_1_vs_bits.png",
        "hit@1 of the quantized models (weights: the leveled circuits; scores: glwe-argmax) against \
         bit width, mean over split seeds with the min..max band; float model and popularity dashed.",
    );
    chart.save(&figure.path)?;
    Ok(figure)
}
