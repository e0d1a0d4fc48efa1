//! Stage `fhe`: every pipeline at every bit width, on held-out examples of the primary split,
//! through [`crate::fhe::check`] (keygen, encrypt, evaluate, decrypt, compare with the plaintext
//! model; sizes and peak memory). Writes `fhe.csv`; `--cell` measures some cells and keeps the
//! other rows.

use std::time::Duration;

use anyhow::Context;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::{Experiment, Stage};
use crate::data::Example;
use crate::fhe::check::{measure_cell, Checks, Slice};
use crate::fhe::{quantize_for, Pipeline};
use crate::output::{read_stamped, Stamp};
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
    // Measuring some cells only: the file keeps the other cells' rows, with the stamps of the
    // runs that measured them.
    let kept: Vec<(FheRow, Stamp)> = match experiment.fhe_cells.is_empty() {
        true => Vec::new(),
        false => read_stamped(&path)?.unwrap_or_default(),
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
            &samples,
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
    let kept_rows = kept.iter().map(|(row, _)| row.clone()).collect();
    let rows = fhe::merge(&all_cells, measured, kept_rows);
    for row in &rows {
        let cell = (row.pipeline, row.bits);
        let earlier = kept
            .iter()
            .find(|(k, _)| (k.pipeline, k.bits) == cell && !chosen.contains(&cell));
        match earlier {
            Some((_, stamp)) => sink.push_stamped(row, stamp)?,
            None => sink.push(row)?,
        }
    }
    super::finish_stage(
        progress,
        sink,
        &[fhe::table(&rows), fhe::ratio_table(&rows)],
    )
}

/// The held-out examples a pipeline is checked on: for `glwe-argmax`, `fhe.argmax.samples` of
/// them drawn at random (seeded by the split seed) across all users, so that its hit@1 speaks
/// for every user and not for the first ones in order; `fhe.samples` (all when absent) in order
/// for the others; `integer` takes its slice of them itself.
fn samples_for(experiment: &Experiment, pipeline: Pipeline, test: &[Example]) -> Vec<Example> {
    let fhe = &experiment.spec.fhe;
    match pipeline {
        Pipeline::GlweArgmax => random_sample(test, fhe.argmax.samples, experiment.spec.seed),
        Pipeline::Integer => test.to_vec(),
        _ => test[..fhe.samples.unwrap_or(test.len()).min(test.len())].to_vec(),
    }
}

/// `count` of `examples` drawn without replacement, seeded, in the drawn order.
fn random_sample(examples: &[Example], count: usize, seed: u64) -> Vec<Example> {
    let mut order: Vec<&Example> = examples.iter().collect();
    order.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
    order.into_iter().take(count).cloned().collect()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_argmax_sample_is_seeded_and_spread_over_users() {
        // 100 users with 10 held-out examples each, in user order.
        let test: Vec<Example> = (0..1000)
            .map(|i| Example {
                user: i / 10,
                liked: vec![],
                label: i as usize % 10,
            })
            .collect();
        let sample = random_sample(&test, 200, 7);
        let key = |e: &Example| (e.user, e.label);
        let distinct: std::collections::BTreeSet<_> = sample.iter().map(key).collect();
        assert_eq!(distinct.len(), 200, "drawn without replacement");
        let again: Vec<_> = random_sample(&test, 200, 7).iter().map(key).collect();
        assert_eq!(again, sample.iter().map(key).collect::<Vec<_>>(), "seeded");
        let users: std::collections::BTreeSet<u32> = sample.iter().map(|e| e.user).collect();
        assert!(
            users.len() > 80,
            "the first 200 in order would be 20 users: {}",
            users.len()
        );
        assert_eq!(random_sample(&test[..5], 200, 7).len(), 5);
    }
}
