//! Stage `fhe`: every pipeline at every bit width, on held-out examples of the primary split,
//! through [`crate::fhe::check`] (keygen, encrypt, evaluate, decrypt, compare with the plaintext
//! model; sizes and peak memory). Writes `fhe.csv`; `--cell` measures some cells and keeps the
//! other rows.

use std::time::Duration;

use anyhow::Context;

use super::{Experiment, Stage};
use crate::data::Example;
use crate::fhe::check::{measure_cell, Checks, Slice};
use crate::fhe::{quantize_for, Pipeline};
use crate::output::read_rows;
use crate::results::fhe::{self, FheRow};
use crate::results::files;

pub fn run(experiment: &Experiment) -> anyhow::Result<()> {
    let spec = &experiment.spec;
    let (split, tuned) = experiment.split_and_fit(spec.seed)?;
    let all_cells = experiment.cells();
    let chosen: Vec<(Pipeline, u32)> = all_cells
        .iter()
        .copied()
        .filter(|c| experiment.fhe_cells.is_empty() || experiment.fhe_cells.contains(c))
        .collect();
    let path = experiment.out.join(files::FHE);
    // Measuring some cells only: the file keeps the other cells' rows.
    let kept: Vec<FheRow> = match experiment.fhe_cells.is_empty() {
        true => Vec::new(),
        false => read_rows(&path)?.unwrap_or_default(),
    };
    let progress = super::stage_progress(Stage::Fhe, chosen.len());
    let mut measured = Vec::new();
    for &(pipeline, bits) in &chosen {
        progress.set_message(format!("{pipeline} {bits}b"));
        let model = quantize_for(&tuned.model, pipeline, bits);
        let samples = samples_for(experiment, pipeline, &split.test);
        let checks = checks_for(experiment, pipeline);
        let cell = measure_cell(
            pipeline,
            &model,
            samples,
            checks,
            slice(experiment),
            &progress,
        )
        .with_context(|| format!("{pipeline} at {bits} bits"))?;
        let row = FheRow::new(spec.seed, &cell);
        tracing::info!(
            "{pipeline} {bits}b: agreement {:.4} over {} examples, eval median {:.2} ms, request {} B, response {} B",
            row.agreement,
            row.samples,
            row.eval_ms_median,
            row.request_bytes,
            row.response_bytes
        );
        measured.push(row);
        progress.inc(1);
    }
    let mut sink = experiment.sink(files::FHE)?;
    let rows = fhe::merge(&all_cells, measured, kept);
    for row in &rows {
        sink.push(row)?;
    }
    super::finish_stage(
        progress,
        sink,
        &[fhe::table(&rows), fhe::ratio_table(&rows)],
    )
}

/// The held-out examples a pipeline is checked on: `fhe.argmax.samples` for `glwe-argmax`,
/// `fhe.samples` (all when absent) for the others; `integer` takes its slice of them itself.
fn samples_for<'a>(
    experiment: &Experiment,
    pipeline: Pipeline,
    test: &'a [Example],
) -> &'a [Example] {
    let fhe = &experiment.spec.fhe;
    let count = match pipeline {
        Pipeline::GlweArgmax => fhe.argmax.samples,
        Pipeline::Integer => test.len(),
        _ => fhe.samples.unwrap_or(test.len()),
    };
    &test[..count.min(test.len())]
}

/// `glwe-argmax` checks accumulate in the ledger under the spec's time budget; the others are
/// checked in full in each run.
fn checks_for(experiment: &Experiment, pipeline: Pipeline) -> Checks<'_> {
    if pipeline != Pipeline::GlweArgmax {
        return Checks::ThisRun;
    }
    let budget = experiment.spec.fhe.argmax.budget_minutes;
    Checks::Ledger {
        path: experiment.out.join(files::ARGMAX_CHECKS),
        seed: experiment.spec.seed,
        stamp: &experiment.stamp,
        budget: budget.map(|m| Duration::from_secs_f64(m * 60.0)),
    }
}

fn slice(experiment: &Experiment) -> Slice {
    let integer = &experiment.spec.fhe.integer;
    Slice {
        inputs: integer.inputs,
        outputs: integer.outputs,
        samples: integer.samples,
    }
}
