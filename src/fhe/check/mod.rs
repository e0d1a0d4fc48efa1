//! The check harness: held-out examples through the client (keygen, encrypt), the server
//! (evaluate bytes to bytes) and the client again (decrypt), compared with the plaintext model,
//! timed, and sized on the wire. `glwe-argmax` checks go through the [`ledger`], which
//! accumulates them across runs.

mod ledger;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use indicatif::ProgressBar;

pub use ledger::{CheckKey, CheckRow, Ledger, Tally, MIN_TIMED};

use super::{argmax::GlweArgmax, glwe::GlwePacked, integer::Integer, lwe::Lwe};
use super::{Circuit, Pipeline, Shape};
use crate::data::Example;
use crate::model::QuantizedModel;
use crate::output::{peak_rss_mb, reset_peak_rss, Stamp};
use crate::stats::percentile;

/// One circuit measured on a set of examples.
#[derive(Debug, Clone, PartialEq)]
pub struct CellMeasurement {
    pub pipeline: Pipeline,
    pub bits: u32,
    pub params: String,
    /// Circuit size evaluated (inputs x outputs).
    pub inputs: usize,
    pub outputs: usize,
    /// Every example checked: this run's, or the ledger's.
    pub tally: Tally,
    /// Examples evaluated in this run: the latencies are over these.
    pub timed: usize,
    pub bootstraps: usize,
    pub keygen_ms: f64,
    pub encrypt_ms: f64,
    pub eval_ms_median: f64,
    pub eval_ms_p95: f64,
    pub decrypt_ms: f64,
    pub request_bytes: usize,
    pub response_bytes: usize,
    pub eval_key_bytes: usize,
    /// The process's resident-set high-water mark over the cell.
    pub peak_rss_mb: f64,
    /// A slice of the model was run: its full-size time, scaled linearly (no hit@1).
    pub eval_ms_extrapolated_full: Option<f64>,
}

impl CellMeasurement {
    /// hit@1 of the decrypted top picks; none for a slice of the model.
    pub fn hit_at_1(&self) -> Option<f64> {
        let n = self.tally.examples.max(1) as f64;
        self.eval_ms_extrapolated_full
            .is_none()
            .then(|| self.tally.hits as f64 / n)
    }
}

/// How a cell's checks are counted.
pub enum Checks<'a> {
    /// Every sample, in this run.
    ThisRun,
    /// In the ledger at `path`, which accumulates across runs: examples it lacks come first, and
    /// after `budget` the run stops at the end of the example under way.
    Ledger {
        path: PathBuf,
        seed: u64,
        stamp: &'a Stamp,
        budget: Option<Duration>,
    },
}

/// The slow `integer` baseline runs on the first `inputs` movies and `outputs` outputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slice {
    pub inputs: usize,
    pub outputs: usize,
    pub samples: usize,
}

/// Measures `pipeline` for `model` on `samples` (on a slice of both for `integer`), with the
/// peak memory of the cell.
pub fn measure_cell(
    pipeline: Pipeline,
    model: &QuantizedModel,
    samples: &[Example],
    checks: Checks,
    integer: Slice,
    progress: &ProgressBar,
) -> anyhow::Result<CellMeasurement> {
    reset_peak_rss();
    let mut measured = match pipeline {
        Pipeline::GlwePacked => measure::<GlwePacked>(model, samples, checks, progress)?,
        Pipeline::Lwe => measure::<Lwe>(model, samples, checks, progress)?,
        Pipeline::Integer => measure_slice(model, samples, integer, progress)?,
        Pipeline::GlweArgmax => measure::<GlweArgmax>(model, samples, checks, progress)?,
    };
    measured.peak_rss_mb = peak_rss_mb();
    Ok(measured)
}

/// The `integer` baseline on a slice of the model, with the liked sets cut to that slice; its
/// full-size time is a linear extrapolation.
fn measure_slice(
    model: &QuantizedModel,
    samples: &[Example],
    slice: Slice,
    progress: &ProgressBar,
) -> anyhow::Result<CellMeasurement> {
    let reduced = model.restrict(slice.inputs, slice.outputs);
    let cut: Vec<Example> = samples
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
    let mut measured = measure::<Integer>(&reduced, &cut, Checks::ThisRun, progress)?;
    let full = (model.weights.len() * model.weights.first().map_or(0, Vec::len)) as f64;
    let size = (measured.inputs * measured.outputs).max(1) as f64;
    measured.eval_ms_extrapolated_full = Some(measured.eval_ms_median * full / size);
    Ok(measured)
}

/// One example checked.
struct Check {
    user: u32,
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
        hit_ci95: ledger::hit_ci95(done.iter().map(|c| (c.user, c.hit))),
    }
}

/// A planned circuit with its keys and server, ready to check examples.
struct Bench<'a, C: Circuit> {
    circuit: &'a C,
    client_key: &'a C::ClientKey,
    server: &'a C::Server,
    model: &'a QuantizedModel,
    /// `pipeline bits`, for progress and logs.
    label: String,
}

impl<C: Circuit> Bench<'_, C> {
    /// One example through the client, the server and the client again.
    fn check(&self, example: &Example) -> anyhow::Result<Check> {
        let started = Instant::now();
        let request = self.circuit.encrypt(self.client_key, &example.liked);
        let encrypt_ms = elapsed_ms(started);
        let started = Instant::now();
        let response = C::eval(self.server, &request)?;
        let eval_ms = elapsed_ms(started);
        let started = Instant::now();
        let scores = self.circuit.decrypt(self.client_key, &response)?;
        let decrypt_ms = elapsed_ms(started);
        let expected = C::expected(self.model, &example.liked);
        let decrypted = C::top_pick(&scores, &example.liked);
        Ok(Check {
            user: example.user,
            encrypt_ms,
            eval_ms,
            decrypt_ms,
            request_bytes: request.len(),
            response_bytes: response.len(),
            decrypted,
            expected: C::top_pick(&expected, &example.liked),
            exact: scores == expected,
            hit: decrypted == Some(example.label),
        })
    }

    /// Checks `scheduled` in order, each recorded in the ledger if there is one, until the
    /// examples or the `budget` run out.
    fn check_all(
        &self,
        scheduled: &[&Example],
        ledger: &mut Option<Ledger>,
        budget: Option<Duration>,
        progress: &ProgressBar,
    ) -> anyhow::Result<Vec<Check>> {
        let label = &self.label;
        let started = Instant::now();
        let mut done: Vec<Check> = Vec::new();
        for example in scheduled {
            if let Some(budget) = budget.filter(|&b| started.elapsed() > b) {
                tracing::warn!(
                    "{label}: stopped at {} of {} scheduled examples, past the {:.1}-minute budget",
                    done.len(),
                    scheduled.len(),
                    budget.as_secs_f64() / 60.0
                );
                break;
            }
            let at = format!("{label}: sample {}/{}", done.len() + 1, scheduled.len());
            progress.set_message(at);
            let check = self.check(example)?;
            if let Some(ledger) = ledger {
                let eval_ms = (check.eval_ms * 10.0).round() / 10.0;
                let (expected, decrypted) = (index(check.expected), index(check.decrypted));
                ledger.record(example, expected, decrypted, eval_ms)?;
            }
            done.push(check);
            if ledger.is_some() && done.len().is_multiple_of(10) {
                log_progress(label, &done, scheduled.len());
            }
        }
        Ok(done)
    }
}

/// A top pick as the ledger writes it (-1: none).
fn index(pick: Option<usize>) -> i64 {
    pick.map_or(-1, |i| i as i64)
}

/// The ledger of `checks` for this circuit and model, if it keeps one, and the time budget.
fn open_ledger<C: Circuit>(
    circuit: &C,
    model: &QuantizedModel,
    samples: &[Example],
    checks: Checks,
) -> anyhow::Result<(Option<Ledger>, Option<Duration>)> {
    let Checks::Ledger {
        path,
        seed,
        stamp,
        budget,
    } = checks
    else {
        return Ok((None, None));
    };
    let key = CheckKey::new(model, circuit.params(), seed);
    let answer = |e: &Example| index(C::top_pick(&C::expected(model, &e.liked), &e.liked));
    let ledger = Ledger::open(&path, key, stamp.clone(), samples, answer)?;
    Ok((Some(ledger), budget))
}

/// Runs samples through client and server and compares with the plaintext model.
fn measure<C: Circuit>(
    model: &QuantizedModel,
    samples: &[Example],
    checks: Checks,
    progress: &ProgressBar,
) -> anyhow::Result<CellMeasurement> {
    let circuit = C::plan(&Shape::of(model))?;
    let (mut ledger, budget) = open_ledger(&circuit, model, samples, checks)?;
    let scheduled: Vec<&Example> = match &ledger {
        Some(ledger) => ledger.schedule(samples),
        None => samples.iter().collect(),
    };
    let started = Instant::now();
    let (client_key, eval_key) = circuit.keygen();
    let keygen_ms = elapsed_ms(started);
    let server = circuit.server(model, &eval_key)?;
    let bench = Bench {
        circuit: &circuit,
        client_key: &client_key,
        server: &server,
        model,
        label: format!("{} {}b", circuit.pipeline(), model.bits),
    };
    let done = bench.check_all(&scheduled, &mut ledger, budget, progress)?;
    let tally = ledger
        .as_ref()
        .map_or_else(|| tally_of(&done), Ledger::tally);
    let column = |f: fn(&Check) -> f64| done.iter().map(f).collect::<Vec<f64>>();
    let eval = column(|c| c.eval_ms);
    let last = done.last();
    Ok(CellMeasurement {
        pipeline: circuit.pipeline(),
        bits: model.bits,
        params: circuit.params(),
        inputs: model.weights.first().map_or(0, Vec::len),
        outputs: model.weights.len(),
        tally,
        timed: done.len(),
        bootstraps: circuit.bootstraps(),
        keygen_ms,
        encrypt_ms: percentile(&column(|c| c.encrypt_ms), 0.5),
        eval_ms_median: percentile(&eval, 0.5),
        eval_ms_p95: percentile(&eval, 0.95),
        decrypt_ms: percentile(&column(|c| c.decrypt_ms), 0.5),
        request_bytes: last.map_or(0, |c| c.request_bytes),
        response_bytes: last.map_or(0, |c| c.response_bytes),
        eval_key_bytes: eval_key.len(),
        peak_rss_mb: f64::NAN,
        eval_ms_extrapolated_full: None,
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

/// Milliseconds since `started`.
pub fn elapsed_ms(started: Instant) -> f64 {
    started.elapsed().as_secs_f64() * 1e3
}
