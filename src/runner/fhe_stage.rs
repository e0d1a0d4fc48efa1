//! Stage `fhe`: every pipeline at every bit width, on held-out examples of the primary split.
//! For each, times client key generation, encryption, server evaluation (bytes in, bytes out) and
//! decryption, records message sizes and peak memory, and checks the decrypted result against the
//! quantized plaintext model.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context;
use indicatif::ProgressBar;
use serde::{Deserialize, Serialize};

use super::argmax_ledger::{CheckKey, Ledger, Tally};
use super::Experiment;
use crate::data::Example;
use crate::fhe::{
    argmax::GlweArgmax, glwe::GlwePacked, integer::Integer, lwe::Lwe, Circuit, Pipeline, Shape,
};
use crate::model::{FloatModel, QuantizedModel};
use crate::report::{CsvSink, Table};
use crate::stats::percentile;

/// One row of `fhe.csv`: one pipeline at one bit width.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FheRow {
    pub experiment: String,
    pub seed: u64,
    pub pipeline: Pipeline,
    /// Weight width; for `glwe-argmax`, the score width `p`.
    pub bits: u32,
    /// The published tfhe parameter set and what the circuit derives from it.
    pub params: String,
    /// Circuit size actually evaluated (inputs x outputs); reduced for `integer`.
    pub inputs: usize,
    pub outputs: usize,
    /// Examples checked; for `glwe-argmax`, every example in its ledger (`argmax_checks.csv`),
    /// which accumulates across runs.
    pub samples: usize,
    /// Examples evaluated in this run: the latency columns are over these.
    #[serde(default)]
    pub timed: usize,
    /// Programmable bootstraps per request (0 for the leveled circuits).
    pub bootstraps: usize,
    /// Fraction of samples whose decrypted top pick equals the plaintext quantized model's.
    pub agreement: f64,
    /// Samples whose decrypted scores differ from the plaintext scores in any output.
    pub decryption_errors: usize,
    /// hit@1 of the decrypted top pick; empty for a reduced circuit.
    pub hit_at_1: Option<f64>,
    pub keygen_ms: f64,
    pub encrypt_ms: f64,
    pub eval_ms_median: f64,
    pub eval_ms_p95: f64,
    pub decrypt_ms: f64,
    pub request_bytes: usize,
    pub response_bytes: usize,
    pub eval_key_bytes: usize,
    /// Peak resident memory of this cell (the process high-water mark, reset before the cell).
    pub peak_rss_mb: f64,
    /// `integer` only: eval time scaled linearly to the full circuit (an extrapolation).
    pub eval_ms_extrapolated_full: Option<f64>,
    pub cores: usize,
    pub git_rev: String,
}

/// The spec's (pipeline, width) cells, in order.
pub(super) fn cells(spec: &crate::spec::Spec) -> Vec<(Pipeline, u32)> {
    let bit_widths = if spec.fhe.bit_widths.is_empty() {
        &spec.model.bit_widths
    } else {
        &spec.fhe.bit_widths
    };
    let widths = |pipeline: Pipeline| match pipeline {
        Pipeline::GlweArgmax => &spec.fhe.argmax.bits,
        _ => bit_widths,
    };
    spec.fhe
        .pipelines
        .iter()
        .flat_map(|&p| widths(p).iter().map(move |&b| (p, b)))
        .collect()
}

/// The model a cell's circuit runs: weights rounded to `bits`, or scores for `glwe-argmax`.
pub(super) fn quantize_for(model: &FloatModel, pipeline: Pipeline, bits: u32) -> QuantizedModel {
    match pipeline {
        Pipeline::GlweArgmax => QuantizedModel::quantize_scores(model, bits),
        _ => QuantizedModel::quantize(model, bits),
    }
}

pub fn run(experiment: &Experiment) -> anyhow::Result<()> {
    let spec = &experiment.spec;
    let (split, tuned) = experiment.split_and_fit(spec.seed)?;
    let all_cells = cells(spec);
    let chosen: Vec<(Pipeline, u32)> = all_cells
        .iter()
        .copied()
        .filter(|c| experiment.fhe_cells.is_empty() || experiment.fhe_cells.contains(c))
        .collect();
    let path = experiment.out.join("fhe.csv");
    // Measuring some cells only: the file keeps the other cells' rows.
    let kept: Vec<FheRow> = if experiment.fhe_cells.is_empty() {
        Vec::new()
    } else {
        crate::report::read::optional(&path)?.unwrap_or_default()
    };
    let progress = super::stage_progress(super::Stage::Fhe, chosen.len());
    let mut measured = Vec::new();
    for &(pipeline, bits) in &chosen {
        progress.set_message(format!("{pipeline} {bits}b"));
        let quantized = quantize_for(&tuned.model, pipeline, bits);
        let row = measure_cell(experiment, pipeline, &quantized, &split.test, &progress)
            .with_context(|| format!("{pipeline} at {bits} bits"))?;
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
    let mut sink = CsvSink::create(&path)?;
    let rows = merge_rows(&all_cells, measured, kept);
    for row in &rows {
        sink.push(row)?;
    }
    super::finish_stage(progress, sink, &[summary_table(&rows), ratio_table(&rows)])
}

/// The rows of `fhe.csv` in the spec's cell order: the measured ones, else the kept ones.
fn merge_rows(cells: &[(Pipeline, u32)], measured: Vec<FheRow>, kept: Vec<FheRow>) -> Vec<FheRow> {
    let find = |rows: &[FheRow], &(pipeline, bits): &(Pipeline, u32)| {
        rows.iter()
            .find(|r| r.pipeline == pipeline && r.bits == bits)
            .cloned()
    };
    cells
        .iter()
        .filter_map(|cell| find(&measured, cell).or_else(|| find(&kept, cell)))
        .collect()
}

fn measure_cell(
    experiment: &Experiment,
    pipeline: Pipeline,
    quantized: &QuantizedModel,
    test: &[Example],
    progress: &ProgressBar,
) -> anyhow::Result<FheRow> {
    let fhe = &experiment.spec.fhe;
    let all = fhe.samples.unwrap_or(test.len()).min(test.len());
    reset_peak_rss();
    let mut row = match pipeline {
        Pipeline::GlwePacked => {
            measure::<GlwePacked>(quantized, &test[..all], Checks::ThisRun, progress)?
        }
        Pipeline::Lwe => measure::<Lwe>(quantized, &test[..all], Checks::ThisRun, progress)?,
        Pipeline::Integer => measure_integer_slice(experiment, quantized, test, progress)?,
        Pipeline::GlweArgmax => {
            let argmax = &fhe.argmax;
            let checks = Checks::Ledger {
                path: &experiment.out.join("argmax_checks.csv"),
                seed: experiment.spec.seed,
                git_rev: &experiment.git_rev,
                budget: argmax
                    .budget_minutes
                    .map(|m| Duration::from_secs_f64(m * 60.0)),
            };
            let samples = &test[..argmax.samples.min(test.len())];
            measure::<GlweArgmax>(quantized, samples, checks, progress)?
        }
    };
    row.peak_rss_mb = peak_rss_mb();
    row.experiment = experiment.spec.name.clone();
    row.seed = experiment.spec.seed;
    row.git_rev = experiment.git_rev.clone();
    Ok(row)
}

/// The `integer` baseline on the spec's slice of the model (first inputs and outputs), with
/// the liked sets cut to that slice; its full-size time is a linear extrapolation.
fn measure_integer_slice(
    experiment: &Experiment,
    quantized: &QuantizedModel,
    test: &[Example],
    progress: &ProgressBar,
) -> anyhow::Result<FheRow> {
    let slice = &experiment.spec.fhe.integer;
    let reduced = quantized.restrict(slice.inputs, slice.outputs);
    let samples: Vec<Example> = test
        .iter()
        .take(slice.samples)
        .map(|e| Example {
            liked: e
                .liked
                .iter()
                .copied()
                .filter(|&j| j < slice.inputs)
                .collect(),
            ..e.clone()
        })
        .collect();
    let mut row = measure::<Integer>(&reduced, &samples, Checks::ThisRun, progress)?;
    let full = (quantized.weights.len() * experiment.pool.len()) as f64;
    row.eval_ms_extrapolated_full =
        Some(row.eval_ms_median * full / (row.inputs * row.outputs) as f64);
    row.hit_at_1 = None;
    Ok(row)
}

/// How a cell's checks are counted.
enum Checks<'a> {
    /// Every sample, in this run.
    ThisRun,
    /// In the ledger at `path`, which accumulates across runs: examples it lacks come first, and
    /// after `budget` the run stops at the end of the example under way.
    Ledger {
        path: &'a Path,
        seed: u64,
        git_rev: &'a str,
        budget: Option<Duration>,
    },
}

/// One example through the client, the server and the client again.
struct Check {
    encrypt_ms: f64,
    eval_ms: f64,
    decrypt_ms: f64,
    request_bytes: usize,
    response_bytes: usize,
    /// The decrypted and the plaintext model's top pick.
    decrypted: Option<usize>,
    expected: Option<usize>,
    /// Every decrypted output equals the plaintext one.
    exact: bool,
    /// The decrypted top pick is the example's hidden movie.
    hit: bool,
}

/// This run's checks counted as the ledger counts its own.
fn tally_of(done: &[Check]) -> Tally {
    let count = |f: fn(&Check) -> bool| done.iter().filter(|c| f(c)).count();
    Tally {
        examples: done.len(),
        agree: count(|c| c.decrypted == c.expected),
        errors: count(|c| !c.exact),
        hits: count(|c| c.hit),
    }
}

fn check_one<C: Circuit>(
    circuit: &C,
    client_key: &C::ClientKey,
    server: &C::Server,
    model: &QuantizedModel,
    example: &Example,
) -> anyhow::Result<Check> {
    let started = Instant::now();
    let request = circuit.encrypt(client_key, &example.liked);
    let encrypt_ms = elapsed_ms(started);
    let started = Instant::now();
    let response = C::eval(server, &request)?;
    let eval_ms = elapsed_ms(started);
    let started = Instant::now();
    let scores = circuit.decrypt(client_key, &response)?;
    let decrypt_ms = elapsed_ms(started);
    let expected = C::expected(model, &example.liked);
    let decrypted = C::top_pick(&scores);
    Ok(Check {
        encrypt_ms,
        eval_ms,
        decrypt_ms,
        request_bytes: request.len(),
        response_bytes: response.len(),
        decrypted,
        expected: C::top_pick(&expected),
        exact: scores == expected,
        hit: decrypted == Some(example.label),
    })
}

/// A top pick as the ledger writes it (-1: none).
fn index(pick: Option<usize>) -> i64 {
    pick.map_or(-1, |i| i as i64)
}

/// Runs samples through client and server and compares with the plaintext model.
fn measure<C: Circuit>(
    model: &QuantizedModel,
    samples: &[Example],
    checks: Checks,
    progress: &ProgressBar,
) -> anyhow::Result<FheRow> {
    let circuit = C::plan(&Shape::of(model))?;
    let (mut ledger, budget) = match checks {
        Checks::ThisRun => (None, None),
        Checks::Ledger {
            path,
            seed,
            git_rev,
            budget,
        } => {
            let key = CheckKey::new(model, circuit.params(), seed);
            let answer = |e: &Example| index(C::top_pick(&C::expected(model, &e.liked)));
            let ledger = Ledger::open(path, key, samples, answer)?;
            (Some((ledger, git_rev)), budget)
        }
    };
    let scheduled: Vec<&Example> = match &ledger {
        Some((ledger, _)) => ledger.schedule(samples),
        None => samples.iter().collect(),
    };
    let label = format!("{} {}b", circuit.pipeline(), model.bits);
    let started = Instant::now();
    let (client_key, eval_key) = circuit.keygen();
    let keygen_ms = elapsed_ms(started);
    let server = circuit.server(model, &eval_key)?;
    let measuring = Instant::now();
    let mut done: Vec<Check> = Vec::new();
    for example in &scheduled {
        if let Some(budget) = budget.filter(|&b| measuring.elapsed() > b) {
            tracing::warn!(
                "{label}: stopped at {} of {} scheduled examples, past the {:.1}-minute budget",
                done.len(),
                scheduled.len(),
                budget.as_secs_f64() / 60.0
            );
            break;
        }
        progress.set_message(format!(
            "{label}: sample {}/{}",
            done.len() + 1,
            scheduled.len()
        ));
        let check = check_one(&circuit, &client_key, &server, model, example)?;
        if let Some((ledger, git_rev)) = &mut ledger {
            let eval_ms = (check.eval_ms * 10.0).round() / 10.0;
            let (expected, decrypted) = (index(check.expected), index(check.decrypted));
            ledger.record(example, expected, decrypted, eval_ms, git_rev)?;
        }
        done.push(check);
        if ledger.is_some() && done.len().is_multiple_of(10) {
            log_progress(&label, &done, scheduled.len());
        }
    }
    let tally = match &ledger {
        Some((ledger, _)) => ledger.tally(),
        None => tally_of(&done),
    };
    let n = tally.examples.max(1) as f64;
    let column = |f: fn(&Check) -> f64| done.iter().map(f).collect::<Vec<f64>>();
    let eval = column(|c| c.eval_ms);
    let last = done.last();
    Ok(FheRow {
        experiment: String::new(),
        seed: 0,
        pipeline: circuit.pipeline(),
        bits: model.bits,
        params: circuit.params(),
        inputs: model.weights.first().map_or(0, Vec::len),
        outputs: model.weights.len(),
        samples: tally.examples,
        timed: done.len(),
        bootstraps: circuit.bootstraps(),
        agreement: tally.agree as f64 / n,
        decryption_errors: tally.errors,
        hit_at_1: Some(tally.hits as f64 / n),
        keygen_ms,
        encrypt_ms: percentile(&column(|c| c.encrypt_ms), 0.5),
        eval_ms_median: percentile(&eval, 0.5),
        eval_ms_p95: percentile(&eval, 0.95),
        decrypt_ms: percentile(&column(|c| c.decrypt_ms), 0.5),
        request_bytes: last.map_or(0, |c| c.request_bytes),
        response_bytes: last.map_or(0, |c| c.response_bytes),
        eval_key_bytes: eval_key.len(),
        peak_rss_mb: 0.0,
        eval_ms_extrapolated_full: None,
        cores: std::thread::available_parallelism().map_or(1, usize::from),
        git_rev: String::new(),
    })
}

/// A long check's progress in the log (the progress bar is hidden when stderr is not a terminal).
fn log_progress(label: &str, done: &[Check], scheduled: usize) {
    let eval: Vec<f64> = done.iter().map(|c| c.eval_ms).collect();
    let median = percentile(&eval, 0.5);
    let left = (scheduled - done.len()) as f64 * median / 60e3;
    tracing::info!(
        "{label}: {}/{scheduled} examples this run, eval median {:.1} s, ~{left:.0} min to go",
        done.len(),
        median / 1e3
    );
}

fn elapsed_ms(started: Instant) -> f64 {
    started.elapsed().as_secs_f64() * 1e3
}

/// Resets the kernel's resident-set high-water mark of this process (Linux; no-op elsewhere).
fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// The resident-set high-water mark in MiB, or NaN where /proc is missing.
fn peak_rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| {
            rest.trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<f64>()
                .ok()
        })
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

fn summary_table(rows: &[FheRow]) -> Table {
    let mut table = Table::new(&[
        "pipeline",
        "bits",
        "size",
        "checked",
        "timed",
        "PBS",
        "agree",
        "errors",
        "encrypt ms",
        "eval ms",
        "p95",
        "decrypt ms",
        "request B",
        "response B",
        "eval key B",
    ])
    .align_left(0);
    for r in rows {
        table.row(vec![
            r.pipeline.to_string(),
            r.bits.to_string(),
            format!("{}x{}", r.inputs, r.outputs),
            r.samples.to_string(),
            r.timed.to_string(),
            r.bootstraps.to_string(),
            format!("{:.4}", r.agreement),
            r.decryption_errors.to_string(),
            format!("{:.2}", r.encrypt_ms),
            format!("{:.2}", r.eval_ms_median),
            format!("{:.2}", r.eval_ms_p95),
            format!("{:.2}", r.decrypt_ms),
            r.request_bytes.to_string(),
            r.response_bytes.to_string(),
            r.eval_key_bytes.to_string(),
        ]);
    }
    table
}

/// `glwe-packed` against `lwe` at each width: paper B's speed and size claims.
fn ratio_table(rows: &[FheRow]) -> Table {
    let mut table = Table::new(&[
        "bits",
        "eval speedup (lwe / glwe)",
        "bytes saved (req+resp)",
    ]);
    let find = |p: Pipeline, b: u32| rows.iter().find(|r| r.pipeline == p && r.bits == b);
    for glwe in rows.iter().filter(|r| r.pipeline == Pipeline::GlwePacked) {
        let Some(lwe) = find(Pipeline::Lwe, glwe.bits) else {
            continue;
        };
        let bytes = |r: &FheRow| (r.request_bytes + r.response_bytes) as f64;
        table.row(vec![
            glwe.bits.to_string(),
            format!("{:.1}x", lwe.eval_ms_median / glwe.eval_ms_median),
            format!("{:.1}%", 100.0 * (1.0 - bytes(glwe) / bytes(lwe))),
        ]);
    }
    table
}
