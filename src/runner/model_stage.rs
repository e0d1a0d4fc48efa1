//! Stage `model`: per split seed, train the float model, quantize it at every bit width (and to
//! the p-bit scores `glwe-argmax` runs, when that pipeline is in the spec), and evaluate all of
//! them with the popularity baseline on the held-out users.

use serde::Serialize;

use super::Experiment;
use crate::data::{Example, Split};
use crate::fhe::Pipeline;
use crate::model::{evaluate, FloatModel, Popularity, QuantizedModel, Recommender};
use crate::report::{CsvSink, Table};
use crate::stats::Summary;

/// One row of `model.csv`: one model variant evaluated on one split.
#[derive(Debug, Clone, Serialize)]
pub struct ModelRow {
    pub experiment: String,
    pub seed: u64,
    /// `popularity`, `float`, `quantized` (b-bit weights) or `scores` (p-bit scores, the model
    /// `glwe-argmax` runs).
    pub variant: &'static str,
    /// Weight width, or score width for `scores`; empty for `popularity` and `float`.
    pub bits: Option<u32>,
    pub hit_at_1: f64,
    pub hit_at_5: f64,
    /// Fraction of held-out examples whose top pick equals the float model's.
    pub top1_agreement_with_float: f64,
    /// Held-out examples evaluated.
    pub examples: usize,
    pub train_examples: usize,
    pub movies: usize,
    /// Signed bits any integer score of this model fits in; empty unless quantized.
    pub accumulator_bits: Option<u32>,
    /// L2 penalty chosen on the validation users; empty for `popularity`.
    pub l2: Option<f64>,
    pub git_rev: String,
}

pub fn run(experiment: &Experiment) -> anyhow::Result<()> {
    let seeds = &experiment.spec.model.seeds;
    let path = experiment.out.join("model.csv");
    let mut sink = CsvSink::create(&path)?;
    let progress = super::stage_progress(super::Stage::Model, seeds.len());
    let mut rows = Vec::new();
    for &seed in seeds {
        progress.set_message(format!("seeds (training seed {seed})"));
        for row in evaluate_seed(experiment, seed)? {
            sink.push(&row)?;
            rows.push(row);
        }
        progress.inc(1);
    }
    super::finish_stage(progress, sink, &[summary_table(&rows)])
}

/// Every variant's row for one split seed.
fn evaluate_seed(experiment: &Experiment, seed: u64) -> anyhow::Result<Vec<ModelRow>> {
    let spec = &experiment.spec;
    let (split, tuned) = experiment.split_and_fit(seed)?;
    let movies = experiment.pool.len();
    let float = tuned.model;
    let float_top1 = top1(&float, &split.test);
    let row = |variant, bits, model: &dyn Recommender, accumulator_bits| {
        let eval = evaluate(model, &split.test);
        ModelRow {
            experiment: spec.name.clone(),
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
            l2: (variant != "popularity").then_some(tuned.l2),
            git_rev: experiment.git_rev.clone(),
        }
    };
    let popularity = Popularity::fit(&split.train_users, movies);
    let mut rows = vec![
        row("popularity", None, &popularity, None),
        row("float", None, &float as &dyn Recommender, None),
    ];
    for &bits in &spec.model.bit_widths {
        let quantized = QuantizedModel::quantize(&float, bits);
        rows.push(row(
            "quantized",
            Some(bits),
            &quantized,
            Some(quantized.accumulator_bits()),
        ));
    }
    if spec.fhe.pipelines.contains(&Pipeline::GlweArgmax) {
        for &p in &spec.fhe.argmax.bits {
            let scores = QuantizedModel::quantize_scores(&float, p);
            rows.push(row(
                "scores",
                Some(p),
                &scores,
                Some(scores.accumulator_bits()),
            ));
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

/// Mean and spread over seeds of each variant, with its gap to the float model.
fn summary_table(rows: &[ModelRow]) -> Table {
    let mut table = Table::new(&[
        "variant",
        "bits",
        "seeds",
        "hit@1 mean",
        "95% CI",
        "sd",
        "min",
        "max",
        "vs float (pp, paired)",
        "hit@5 mean",
        "agree w/ float",
    ])
    .align_left(0);
    let float_hit_1: std::collections::BTreeMap<u64, f64> = select(rows, "float", None)
        .map(|r| (r.seed, r.hit_at_1))
        .collect();
    let mut variants: Vec<(&str, Option<u32>)> = Vec::new();
    for key in rows.iter().map(|r| (r.variant, r.bits)) {
        if !variants.contains(&key) {
            variants.push(key);
        }
    }
    for (variant, bits) in variants {
        let hit_1 = Summary::of(select(rows, variant, bits).map(|r| r.hit_at_1));
        let hit_5 = Summary::of(select(rows, variant, bits).map(|r| r.hit_at_5));
        // Per-seed differences to the float model on the same split: the paired comparison.
        let gap =
            Summary::of(select(rows, variant, bits).map(|r| r.hit_at_1 - float_hit_1[&r.seed]));
        let agree = Summary::of(select(rows, variant, bits).map(|r| r.top1_agreement_with_float));
        table.row(vec![
            variant.into(),
            bits.map_or("-".into(), |b| b.to_string()),
            hit_1.n.to_string(),
            format!("{:.4}", hit_1.mean),
            format!("±{:.4}", hit_1.ci95()),
            format!("{:.4}", hit_1.sd),
            format!("{:.4}", hit_1.min),
            format!("{:.4}", hit_1.max),
            format!("{:+.2} ±{:.2}", 100.0 * gap.mean, 100.0 * gap.ci95()),
            format!("{:.4}", hit_5.mean),
            format!("{:.4}", agree.mean),
        ]);
    }
    table
}

fn select<'a>(
    rows: &'a [ModelRow],
    variant: &'a str,
    bits: Option<u32>,
) -> impl Iterator<Item = &'a ModelRow> + 'a {
    rows.iter()
        .filter(move |r| r.variant == variant && r.bits == bits)
}
