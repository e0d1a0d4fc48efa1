//! Stage `scaling`: throughput against replicas (paper B's near-linear claim). Local replicas
//! (`cipherscale serve` children behind the round-robin proxy, one worker each) are measured up
//! to the configured counts with `clients_per_replica` closed-loop clients each; beyond this
//! machine the simulator, calibrated from one local replica answering one client, predicts a
//! cluster with a node per replica. Writes `scaling.csv`.

use anyhow::Context;
use serde::Serialize;

use super::serve_stage::{measure, servable, ServeRow};
use super::Experiment;
use crate::data::Example;
use crate::deploy::local::{LocalConfig, LocalDeployer};
use crate::deploy::Deployer;
use crate::report::{CsvSink, Table};
use crate::serve::Artifacts;
use crate::sim::{Cluster, ClusterConfig, ServiceTime};
use crate::spec::ServeCell;

/// One row of `scaling.csv`: one circuit on N replicas, measured or simulated.
#[derive(Debug, Clone, Serialize)]
pub struct ScalingRow {
    pub experiment: String,
    pub seed: u64,
    pub pipeline: crate::fhe::Pipeline,
    pub bits: u32,
    /// `local` (measured here) or `sim-node-per-replica`.
    pub backend: &'static str,
    pub replicas: usize,
    pub clients: usize,
    pub requests: usize,
    pub throughput_rps: f64,
    /// Throughput over the same backend's one-replica throughput.
    pub speedup: f64,
    /// Speedup per replica: 1 is perfectly linear.
    pub efficiency: f64,
    pub latency_ms_median: f64,
    pub latency_ms_p95: f64,
    /// Answers that differ from the plaintext model's (local only).
    pub wrong: usize,
    pub cores: usize,
    pub git_rev: String,
}

/// Seed of the simulated service times.
const SIM_SEED: u64 = 11;

pub fn run(experiment: &Experiment) -> anyhow::Result<()> {
    let spec = &experiment.spec.scaling;
    if spec.cells.is_empty() {
        tracing::info!("no scaling.cells in the spec: nothing to scale");
        return Ok(());
    }
    let (split, tuned) = experiment.split_and_fit(experiment.spec.seed)?;
    let mut sink = CsvSink::create(&experiment.out.join("scaling.csv"))?;
    let steps = spec.cells.len() * (1 + spec.replicas.len() + spec.simulated.len());
    let progress = super::stage_progress(super::Stage::Scaling, steps);
    let mut rows = Vec::new();
    for cell in &spec.cells {
        let (artifacts, served) = servable(experiment, &tuned, cell)?;
        let mut local = LocalConfig::new(served.path().to_owned())?;
        local.workers = 1;
        let mut deployer = LocalDeployer::new(local);
        let measured = measure_local(
            experiment,
            cell,
            &artifacts,
            &mut deployer,
            &split.test,
            &progress,
        );
        let stopped = deployer.teardown();
        let (calibration, local_rows) =
            measured
                .and_then(|m| stopped.map(|()| m))
                .with_context(|| {
                    format!("scaling {} {}b on local replicas", cell.pipeline, cell.bits)
                })?;
        let simulated = simulate(experiment, cell, &calibration, &progress);
        for row in local_rows.iter().chain(&simulated) {
            sink.push(row)?;
        }
        rows.extend(local_rows.into_iter().chain(simulated));
    }
    super::finish_stage(progress, sink, &[summary_table(&rows)])
}

/// The one-replica one-client calibration, then every local replica count in turn.
fn measure_local(
    experiment: &Experiment,
    cell: &ServeCell,
    artifacts: &Artifacts,
    deployer: &mut LocalDeployer,
    examples: &[Example],
    progress: &indicatif::ProgressBar,
) -> anyhow::Result<(ServeRow, Vec<ScalingRow>)> {
    let spec = &experiment.spec.scaling;
    deployer.deploy()?;
    deployer.scale(1)?;
    let endpoint = deployer
        .endpoint()
        .context("the local deployer has no endpoint")?;
    progress.set_message(format!(
        "{} {}b: calibrating on 1 replica, 1 client",
        cell.pipeline, cell.bits
    ));
    let calibration = measure(&endpoint, artifacts, cell, 1, examples)?;
    progress.inc(1);
    let mut rows: Vec<ScalingRow> = Vec::new();
    for &replicas in &spec.replicas {
        progress.set_message(format!(
            "{} {}b: {replicas} local replicas",
            cell.pipeline, cell.bits
        ));
        deployer.scale(replicas)?;
        let clients = replicas * spec.clients_per_replica;
        let load = ServeCell {
            requests: cell.requests * replicas,
            ..cell.clone()
        };
        let served = measure(&endpoint, artifacts, &load, clients, examples)?;
        let single = rows
            .first()
            .map_or(served.throughput_rps, |r| r.throughput_rps);
        rows.push(ScalingRow {
            backend: "local",
            replicas,
            speedup: served.throughput_rps / single,
            efficiency: served.throughput_rps / single / replicas as f64,
            ..row_from(experiment, &served)
        });
        progress.inc(1);
    }
    Ok((calibration, rows))
}

fn row_from(experiment: &Experiment, served: &ServeRow) -> ScalingRow {
    ScalingRow {
        experiment: experiment.spec.name.clone(),
        seed: experiment.spec.seed,
        pipeline: served.pipeline,
        bits: served.bits,
        backend: "local",
        replicas: 1,
        clients: served.clients,
        requests: served.requests,
        throughput_rps: served.throughput_rps,
        speedup: 1.0,
        efficiency: 1.0,
        latency_ms_median: served.latency_ms_median,
        latency_ms_p95: served.latency_ms_p95,
        wrong: served.wrong,
        cores: served.cores,
        git_rev: experiment.git_rev.clone(),
    }
}

/// A cluster with a node per replica (one slot each, as the local replicas have one worker),
/// service time from the one-client calibration; each count answers a burst of `requests` per
/// replica, and throughput is requests over the time until the last answer.
fn simulate(
    experiment: &Experiment,
    cell: &ServeCell,
    calibration: &ServeRow,
    progress: &indicatif::ProgressBar,
) -> Vec<ScalingRow> {
    let service = ServiceTime::lognormal_from_quantiles(
        calibration.latency_ms_median / 1e3,
        calibration.latency_ms_p95 / 1e3,
    );
    let config = ClusterConfig::new(service);
    let spec = &experiment.spec.scaling;
    let mut rows: Vec<ScalingRow> = Vec::new();
    for &replicas in &spec.simulated {
        let mut cluster = Cluster::with_ready_replicas(config.clone(), SIM_SEED, replicas);
        let requests = cell.requests * replicas;
        let latencies: Vec<f64> = cluster
            .send(requests, f64::INFINITY)
            .iter()
            .filter_map(|o| o.latency())
            .collect();
        let makespan = latencies.iter().copied().fold(0.0, f64::max);
        let throughput = latencies.len() as f64 / makespan;
        let single = rows.first().map_or(throughput, |r| r.throughput_rps);
        let ms: Vec<f64> = latencies.iter().map(|s| s * 1e3).collect();
        rows.push(ScalingRow {
            backend: "sim-node-per-replica",
            replicas,
            clients: requests,
            requests: latencies.len(),
            throughput_rps: throughput,
            speedup: throughput / single,
            efficiency: throughput / single / replicas as f64,
            latency_ms_median: crate::stats::percentile(&ms, 0.5),
            latency_ms_p95: crate::stats::percentile(&ms, 0.95),
            wrong: 0,
            ..row_from(experiment, calibration)
        });
        progress.inc(1);
    }
    rows
}

fn summary_table(rows: &[ScalingRow]) -> Table {
    let mut table = Table::new(&[
        "circuit",
        "backend",
        "replicas",
        "clients",
        "req/s",
        "speedup",
        "efficiency",
        "latency ms",
        "wrong",
    ])
    .align_left(0)
    .align_left(1);
    for r in rows {
        table.row(vec![
            format!("{} {}b", r.pipeline, r.bits),
            r.backend.into(),
            r.replicas.to_string(),
            r.clients.to_string(),
            format!("{:.2}", r.throughput_rps),
            format!("{:.2}", r.speedup),
            format!("{:.2}", r.efficiency),
            format!("{:.1}", r.latency_ms_median),
            r.wrong.to_string(),
        ]);
    }
    table
}
