//! Stage `scaling`: throughput against replicas (paper B's near-linear claim). Local replicas
//! (`cipherscale serve` children behind the round-robin proxy, one worker each) are measured up
//! to the configured counts with `clients_per_replica` closed-loop clients each; beyond this
//! machine the simulator, calibrated from one local replica answering one client, predicts a
//! cluster with a node per replica. Writes `scaling.csv`.

use anyhow::Context;

use super::{Experiment, Stage};
use crate::data::Example;
use crate::deploy::local::{LocalConfig, LocalDeployer};
use crate::deploy::Deployer;
use crate::load::closed_loop::{self, ClosedLoopRun};
use crate::results::files;
use crate::results::scaling::{self, Backend, ScalingRow};
use crate::serve::Artifacts;
use crate::sim::{Cluster, ClusterConfig, ServiceTime};
use crate::spec::ServeCell;

/// Seed of the simulated service times.
const SIM_SEED: u64 = 11;

pub fn run(experiment: &Experiment) -> anyhow::Result<()> {
    let spec = &experiment.spec.scaling;
    if spec.cells.is_empty() {
        tracing::info!("no scaling.cells in the spec: nothing to scale");
        return Ok(());
    }
    let (split, tuned) = experiment.split_and_fit(experiment.spec.seed)?;
    let mut sink = experiment.sink(files::SCALING)?;
    let steps = spec.cells.len() * (1 + spec.replicas.len() + spec.simulated.len());
    let progress = super::stage_progress(Stage::Scaling, steps);
    let mut rows = Vec::new();
    for cell in &spec.cells {
        let (artifacts, served) = experiment.servable(&tuned, cell.pipeline, cell.bits)?;
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
    super::finish_stage(progress, sink, &[scaling::table(&rows)])
}

/// The one-replica one-client calibration, then every local replica count in turn.
fn measure_local(
    experiment: &Experiment,
    cell: &ServeCell,
    artifacts: &Artifacts,
    deployer: &mut LocalDeployer,
    examples: &[Example],
    progress: &indicatif::ProgressBar,
) -> anyhow::Result<(ClosedLoopRun, Vec<ScalingRow>)> {
    let spec = &experiment.spec.scaling;
    deployer.deploy()?;
    deployer.scale(1)?;
    let endpoint = deployer
        .endpoint()
        .context("the local deployer has no endpoint")?;
    let circuit = format!("{} {}b", cell.pipeline, cell.bits);
    progress.set_message(format!("{circuit}: calibrating on 1 replica, 1 client"));
    let calibration = closed_loop::run(&endpoint, artifacts, cell.requests, 1, examples)?;
    progress.inc(1);
    let mut runs = Vec::new();
    for &replicas in &spec.replicas {
        progress.set_message(format!("{circuit}: {replicas} local replicas"));
        deployer.scale(replicas)?;
        let clients = replicas * spec.clients_per_replica;
        let requests = cell.requests * replicas;
        let run = closed_loop::run(&endpoint, artifacts, requests, clients, examples)?;
        runs.push((replicas, run));
        progress.inc(1);
    }
    Ok((calibration, rows(experiment, cell, Backend::Local, &runs)))
}

/// The rows of `(replicas, run)` on one backend, speedups over the first (fewest) count's
/// throughput.
fn rows(
    experiment: &Experiment,
    cell: &ServeCell,
    backend: Backend,
    runs: &[(usize, ClosedLoopRun)],
) -> Vec<ScalingRow> {
    let single = runs.first().map_or(f64::NAN, |(_, run)| run.throughput_rps);
    runs.iter()
        .map(|(replicas, run)| {
            let speedup = run.throughput_rps / single;
            ScalingRow {
                seed: experiment.spec.seed,
                pipeline: cell.pipeline,
                bits: cell.bits,
                backend,
                replicas: *replicas,
                clients: run.clients,
                requests: run.requests,
                throughput_rps: run.throughput_rps,
                speedup,
                efficiency: speedup / *replicas as f64,
                latency_ms_median: run.latency_ms_median,
                latency_ms_p95: run.latency_ms_p95,
                wrong: run.wrong,
            }
        })
        .collect()
}

/// A cluster with a node per replica (one slot each, as the local replicas have one worker),
/// service time from the one-client calibration; each count answers a burst of `requests` per
/// replica, and throughput is requests over the time until the last answer.
fn simulate(
    experiment: &Experiment,
    cell: &ServeCell,
    calibration: &ClosedLoopRun,
    progress: &indicatif::ProgressBar,
) -> Vec<ScalingRow> {
    let service = ServiceTime::lognormal_from_quantiles(
        calibration.latency_ms_median / 1e3,
        calibration.latency_ms_p95 / 1e3,
    );
    let config = ClusterConfig::new(service);
    let mut runs = Vec::new();
    for &replicas in &experiment.spec.scaling.simulated {
        let requests = cell.requests * replicas;
        runs.push((replicas, simulated_burst(&config, replicas, requests)));
        progress.inc(1);
    }
    rows(experiment, cell, Backend::SimNodePerReplica, &runs)
}

/// `requests` sent at once to `replicas` ready simulated replicas, as a closed-loop run with a
/// client per request.
fn simulated_burst(config: &ClusterConfig, replicas: usize, requests: usize) -> ClosedLoopRun {
    let mut cluster = Cluster::with_ready_replicas(config.clone(), SIM_SEED, replicas);
    let latencies_ms: Vec<f64> = cluster
        .send(requests, f64::INFINITY)
        .iter()
        .filter_map(|o| Some(o.latency()? * 1e3))
        .collect();
    let makespan_s = latencies_ms.iter().copied().fold(0.0, f64::max) / 1e3;
    ClosedLoopRun::from_latencies(requests, latencies_ms, makespan_s, 0)
}
