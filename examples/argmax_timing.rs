//! One-shot timing of `glwe-argmax` for the widths too slow for criterion: per width and
//! design (the radix circuit the pipeline plans, and the wide one it replaced, in turns within
//! one run), key generation, the replica's key build, then `RUNS` requests, each checked against
//! the design's plaintext answer.
//!
//! `cargo run --release --example argmax_timing [-- BITS,.. [RUNS]]` (default 2,3,4,5,6 and 3)
//! prints one line per width and writes `results/bench/argmax_timing.csv`. The model is
//! synthetic (`FloatModel::sparse_random`, seeded, 50 movies); cost depends on the width and the
//! shape, as long as the quantized weights are not all zero (checked).

use std::time::Instant;

use cipherscale::fhe::argmax::{Design, GlweArgmax};
use cipherscale::fhe::{Circuit, Shape};
use cipherscale::model::{FloatModel, QuantizedModel};
use cipherscale::output::{CsvSink, Stamp};
use cipherscale::results::bench::ArgmaxTimingRow as Row;
use cipherscale::stats::percentile;

const MOVIES: usize = 50;
/// Liked sets of the timed requests, cycled.
const LIKED: [&[usize]; 3] = [&[0, 3, 7, 11, 18, 22, 29, 35, 41, 48], &[5], &[2, 9, 30]];

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let widths: Vec<u32> = match args.next() {
        Some(list) => list
            .split(',')
            .map(|b| b.trim().parse())
            .collect::<Result<_, _>>()
            .map_err(|e| anyhow::anyhow!("widths are comma-separated integers: {e}"))?,
        None => (2..=6).collect(),
    };
    let runs: usize = args.next().map(|r| r.parse()).transpose()?.unwrap_or(3);
    anyhow::ensure!(runs > 0, "at least one run per width");
    let path = std::path::Path::new("results/bench/argmax_timing.csv");
    let mut sink = CsvSink::create(path, &Stamp::here("bench"))?;
    for bits in widths {
        for design in [Design::Wide, Design::Radix] {
            let row = time(bits, design, runs)?;
            println!(
            "p={bits} {}: eval median {:.0} ms (min {:.0}, max {:.0}, {} runs, {}/{} correct); \
             {} bootstraps; key {:.1} MB, generated in {:.1} s, built in {:.1} s",
            row.design,
            row.eval_ms_median,
            row.eval_ms_min,
            row.eval_ms_max,
            row.runs,
            row.correct,
            row.runs,
            row.bootstraps,
            row.eval_key_bytes as f64 / 1e6,
            row.keygen_s,
            row.server_build_s
        );
            sink.push(&row)?;
        }
    }
    println!("wrote {}", sink.finish()?.display());
    Ok(())
}

fn time(bits: u32, design: Design, runs: usize) -> anyhow::Result<Row> {
    let model = QuantizedModel::quantize_scores(&FloatModel::sparse_random(MOVIES, 1), bits);
    let nonzero = model.weights.iter().flatten().filter(|&&w| w != 0).count();
    anyhow::ensure!(
        nonzero >= MOVIES,
        "the synthetic model has {nonzero} nonzero weights at {bits} bits: too few to time"
    );
    let circuit = GlweArgmax::plan_design(&Shape::of(&model), design)?;
    let started = Instant::now();
    let (key, eval_key) = circuit.keygen();
    let keygen_s = started.elapsed().as_secs_f64();
    let started = Instant::now();
    let server = circuit.server(&model, &eval_key)?;
    let server_build_s = started.elapsed().as_secs_f64();
    let mut eval_ms = Vec::with_capacity(runs);
    let (mut correct, mut response_bytes) = (0, 0);
    for run in 0..runs {
        let liked = LIKED[run % LIKED.len()];
        let request = circuit.encrypt(&key, liked);
        let started = Instant::now();
        let response = GlweArgmax::eval(&server, &request)?;
        eval_ms.push(started.elapsed().as_secs_f64() * 1e3);
        response_bytes = response.len();
        let answer = circuit.decrypt(&key, &response)?;
        correct += usize::from(answer == circuit.answer(&model, liked));
    }
    Ok(Row {
        bits,
        design: design.name().into(),
        params: circuit.params(),
        bootstraps: circuit.bootstraps(),
        runs,
        eval_ms_median: percentile(&eval_ms, 0.5),
        eval_ms_min: eval_ms.iter().copied().fold(f64::INFINITY, f64::min),
        eval_ms_max: eval_ms.iter().copied().fold(0.0, f64::max),
        keygen_s,
        server_build_s,
        eval_key_bytes: eval_key.len(),
        response_bytes,
        correct,
    })
}
