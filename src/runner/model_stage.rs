//! Stage `model`: per split seed, train the float model, quantize it at every bit width (and to
//! the p-bit scores `glwe-argmax` runs, when that pipeline is in the spec), and evaluate all of
//! them with the popularity baseline on the held-out users. Writes `model.csv`.

use super::{Experiment, Stage};
use crate::data::{Example, Split};
use crate::fhe::Pipeline;
use crate::model::{evaluate, FloatModel, Popularity, QuantizedModel, Recommender};
use crate::results::files;
use crate::results::model::{self, ModelRow, Variant};

pub fn run(experiment: &Experiment) -> anyhow::Result<()> {
    let seeds = &experiment.spec.model.seeds;
    let mut sink = experiment.sink(files::MODEL)?;
    let progress = super::stage_progress(Stage::Model, seeds.len());
    let mut rows = Vec::new();
    for &seed in seeds {
        progress.set_message(format!("seeds (training seed {seed})"));
        for row in evaluate_seed(experiment, seed)? {
            sink.push(&row)?;
            rows.push(row);
        }
        progress.inc(1);
    }
    super::finish_stage(progress, sink, &[model::table(&rows)])
}

/// Every variant's row for one split seed.
fn evaluate_seed(experiment: &Experiment, seed: u64) -> anyhow::Result<Vec<ModelRow>> {
    let spec = &experiment.spec;
    let (split, tuned) = experiment.split_and_fit(seed)?;
    let movies = experiment.task()?.pool.len();
    let float = tuned.model;
    let float_top1 = top1(&float, &split.test);
    let row = |variant, bits, model: &dyn Recommender, accumulator_bits| {
        let eval = evaluate(model, &split.test);
        ModelRow {
            seed,
            variant,
            bits,
            hit_at_1: eval.hit_at_1,
            hit_at_5: eval.hit_at_5,
            top1_agreement_with_float: agreement(&top1(model, &split.test), &float_top1),
            examples: eval.examples,
            train_examples: split.train.len(),
            movies,
            accumulator_bits,
            l2: (variant != Variant::Popularity).then_some(tuned.l2),
        }
    };
    let popularity = Popularity::fit(&split.train_users, movies);
    let mut rows = vec![
        row(Variant::Popularity, None, &popularity, None),
        row(Variant::Float, None, &float as &dyn Recommender, None),
    ];
    for &bits in &spec.model.bit_widths {
        let quantized = QuantizedModel::quantize(&float, bits);
        let accumulator = Some(quantized.accumulator_bits());
        rows.push(row(Variant::Quantized, Some(bits), &quantized, accumulator));
    }
    if spec.fhe.pipelines.contains(&Pipeline::GlweArgmax) {
        for &p in &spec.fhe.argmax.bits {
            let scores = QuantizedModel::quantize_scores(&float, p);
            let accumulator = Some(scores.accumulator_bits());
            rows.push(row(Variant::Scores, Some(p), &scores, accumulator));
        }
    }
    log_seed(seed, &split, &float, &tuned.validation_hit_at_1);
    Ok(rows)
}

fn log_seed(seed: u64, split: &Split, float: &FloatModel, validation: &[(f64, f64)]) {
    tracing::info!(
        "seed {seed}: {} train / {} test users, {} / {} examples, {} movies; validation hit@1 by l2: {validation:?}",
        split.train_users.len(),
        split.test_users.len(),
        split.train.len(),
        split.test.len(),
        float.movies()
    );
}

fn top1(model: &dyn Recommender, examples: &[Example]) -> Vec<Option<usize>> {
    examples
        .iter()
        .map(|e| model.top_k(e, 1).first().copied())
        .collect()
}

fn agreement(a: &[Option<usize>], b: &[Option<usize>]) -> f64 {
    let same = a.iter().zip(b).filter(|(x, y)| x == y).count();
    same as f64 / a.len().max(1) as f64
}
