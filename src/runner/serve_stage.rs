//! Stage `serve`: one replica per served circuit on loopback, driven by 1, 2, ... concurrent
//! clients, each with its own keys, sending held-out users' liked sets. Records throughput and
//! client-side latency (encryption and decryption included), and checks every answer against the
//! plaintext model. Clients and replica share this machine's cores.

use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use serde::Serialize;

use super::fhe_stage::quantize_for;
use super::Experiment;
use crate::data::Example;
use crate::lock;
use crate::model::Tuned;
use crate::report::{CsvSink, Table};
use crate::serve::client::Recommender;
use crate::serve::{Artifacts, InProcess, ServeConfig};
use crate::spec::ServeCell;
use crate::stats::percentile;

/// One row of `serve.csv`: one circuit at one client count.
#[derive(Debug, Clone, Serialize)]
pub struct ServeRow {
    pub experiment: String,
    pub seed: u64,
    pub pipeline: crate::fhe::Pipeline,
    pub bits: u32,
    pub workers: usize,
    pub clients: usize,
    pub requests: usize,
    pub wall_s: f64,
    pub throughput_rps: f64,
    /// Per request at the client: encrypt, HTTP, evaluate, decrypt.
    pub latency_ms_median: f64,
    pub latency_ms_p95: f64,
    /// Answers that differ from the plaintext model's.
    pub wrong: usize,
    pub cores: usize,
    pub git_rev: String,
}

pub fn run(experiment: &Experiment) -> anyhow::Result<()> {
    let spec = &experiment.spec.serve;
    if spec.cells.is_empty() {
        tracing::info!("no serve.cells in the spec: nothing to serve");
        return Ok(());
    }
    let (split, tuned) = experiment.split_and_fit(experiment.spec.seed)?;
    let mut sink = CsvSink::create(&experiment.out.join("serve.csv"))?;
    let progress =
        super::stage_progress(super::Stage::Serve, spec.cells.len() * spec.clients.len());
    let mut rows = Vec::new();
    for cell in &spec.cells {
        let (artifacts, served) = servable(experiment, &tuned, cell)?;
        let mut config = ServeConfig::new(served.path().to_owned());
        config.workers = spec.workers.unwrap_or(config.workers);
        config.queue = 64;
        let workers = config.workers;
        let replica = InProcess::replica(config, Duration::from_secs(600))?;
        for &clients in &spec.clients {
            progress.set_message(format!(
                "{} {}b, {clients} clients",
                cell.pipeline, cell.bits
            ));
            let mut row = measure(&replica.base, &artifacts, cell, clients, &split.test)
                .with_context(|| format!("serving {} {}b", cell.pipeline, cell.bits))?;
            row.workers = workers;
            row.experiment = experiment.spec.name.clone();
            row.seed = experiment.spec.seed;
            row.git_rev = experiment.git_rev.clone();
            tracing::info!(
                "{} {}b, {clients} clients: {:.2} requests/s",
                row.pipeline,
                row.bits,
                row.throughput_rps
            );
            sink.push(&row)?;
            rows.push(row);
            progress.inc(1);
        }
    }
    super::finish_stage(progress, sink, &[summary_table(&rows)])
}

/// A cell's circuit, built for the tuned model and saved to a temporary folder for replicas to
/// serve (removed when the folder handle drops).
pub(super) fn servable(
    experiment: &Experiment,
    tuned: &Tuned,
    cell: &ServeCell,
) -> anyhow::Result<(Artifacts, tempfile::TempDir)> {
    let model = quantize_for(&tuned.model, cell.pipeline, cell.bits);
    let artifacts = Artifacts::build(cell.pipeline, model, experiment.pool.titles.clone())?;
    let served = tempfile::tempdir()?;
    artifacts.save(served.path())?;
    Ok((artifacts, served))
}

/// `clients` threads share `cell.requests` requests (user `i` goes to client `i % clients`);
/// keys are made and uploaded before the clock starts.
pub(super) fn measure(
    base: &str,
    artifacts: &Artifacts,
    cell: &ServeCell,
    clients: usize,
    examples: &[Example],
) -> anyhow::Result<ServeRow> {
    let recommenders = (0..clients)
        .map(|_| {
            let recommender = Recommender::connect(base, None)?;
            recommender.upload()?;
            Ok(recommender)
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let latencies = Mutex::new(Vec::with_capacity(cell.requests));
    let wrong = Mutex::new(0usize);
    let start = Arc::new(Barrier::new(clients + 1));
    let mut wall = Duration::ZERO;
    std::thread::scope(|scope| -> anyhow::Result<()> {
        let handles: Vec<_> = recommenders
            .iter()
            .enumerate()
            .map(|(c, recommender)| {
                let (start, latencies, wrong) = (start.clone(), &latencies, &wrong);
                scope.spawn(move || -> anyhow::Result<()> {
                    start.wait();
                    for i in (c..cell.requests).step_by(clients) {
                        let liked = &examples[i % examples.len()].liked;
                        let sent = Instant::now();
                        let output = recommender.recommend(liked)?;
                        lock(latencies).push(sent.elapsed().as_secs_f64() * 1e3);
                        let expected = artifacts.circuit.expected(&artifacts.model, liked);
                        *lock(wrong) += usize::from(output != expected);
                    }
                    Ok(())
                })
            })
            .collect();
        start.wait();
        let began = Instant::now();
        for handle in handles {
            handle
                .join()
                .map_err(|_| anyhow::anyhow!("a client thread panicked"))??;
        }
        wall = began.elapsed();
        Ok(())
    })?;
    let latencies = latencies.into_inner().unwrap_or_default();
    Ok(ServeRow {
        experiment: String::new(),
        seed: 0,
        pipeline: cell.pipeline,
        bits: cell.bits,
        workers: 0,
        clients,
        requests: latencies.len(),
        wall_s: wall.as_secs_f64(),
        throughput_rps: latencies.len() as f64 / wall.as_secs_f64(),
        latency_ms_median: percentile(&latencies, 0.5),
        latency_ms_p95: percentile(&latencies, 0.95),
        wrong: wrong.into_inner().unwrap_or_default(),
        cores: std::thread::available_parallelism().map_or(1, usize::from),
        git_rev: String::new(),
    })
}

fn summary_table(rows: &[ServeRow]) -> Table {
    let mut table = Table::new(&[
        "pipeline",
        "bits",
        "workers",
        "clients",
        "requests",
        "req/s",
        "latency ms",
        "p95",
        "wrong",
        "vs 1 client",
    ])
    .align_left(0);
    for r in rows {
        let single = rows
            .iter()
            .find(|o| o.pipeline == r.pipeline && o.bits == r.bits && o.clients == 1);
        table.row(vec![
            r.pipeline.to_string(),
            r.bits.to_string(),
            r.workers.to_string(),
            r.clients.to_string(),
            r.requests.to_string(),
            format!("{:.2}", r.throughput_rps),
            format!("{:.1}", r.latency_ms_median),
            format!("{:.1}", r.latency_ms_p95),
            r.wrong.to_string(),
            single.map_or("-".into(), |s| {
                format!("{:.2}x", r.throughput_rps / s.throughput_rps)
            }),
        ]);
    }
    table
}
