//! Stage `rl-live`: the first agent's first-seed policy for the paper's `bursts` workload on
//! local replicas of the calibration circuit (real encrypted requests), episode by episode beside
//! the simulator's prediction for the same workload seeds: the sim-to-real gap. Writes
//! `rl_live.csv`.

use std::time::Instant;

use anyhow::{ensure, Context};

use super::rl_stage::{calibrate, cluster_config};
use super::Experiment;
use crate::autoscale::agent::PpoController;
use crate::autoscale::arenas::BurstsArena;
use crate::autoscale::paper::PaperEnv;
use crate::autoscale::protocol::checkpoint_file;
use crate::autoscale::{feature_count, run_episode, ScalingEnv};
use crate::deploy::local::LocalConfig;
use crate::report::{CsvSink, Table};
use crate::results::autoscale::LiveRow;
use crate::rl::backend::SimBackend;
use crate::rl::live::LiveBackend;
use crate::rl::ppo::Ppo;
use crate::rl::EnvConfig;
use crate::sim::ClusterConfig;
use crate::spec::LiveSpec;
use crate::stats::mean;
use crate::workload::{Split, WorkloadSpec};

pub fn run(experiment: &Experiment) -> anyhow::Result<()> {
    let rl = &experiment.spec.rl;
    let Some(live) = &rl.live else {
        tracing::info!("no rl.live in the spec: nothing to run live");
        return Ok(());
    };
    let (service, _) = calibrate(&experiment.out, rl)?;
    let sim = ClusterConfig {
        host_slots: Some(live.host_slots),
        ..cluster_config(rl, service)
    };
    let bursts = rl
        .workloads
        .iter()
        .find(|w| matches!(w, WorkloadSpec::Bursts(_)))
        .context("rl.workloads has no `bursts` workload")?;
    let (agent, _) = rl
        .agents_for(bursts)
        .into_iter()
        .next()
        .context("no agent trains on the `bursts` workload")?;
    let env = EnvConfig {
        steps: live.steps,
        step_interval_s: live.step_interval_s,
        ..rl.env.clone()
    };
    let seed = *rl.seeds.first().context("rl.seeds is empty")?;
    let mut backend = start_replicas(experiment)?;
    let result = (|| {
        let mut live_env = PaperEnv::new(
            env.clone(),
            &mut backend,
            sim.replica_capacity_rps(),
            sim.startup_s,
        )?;
        let mut sim_env = PaperEnv::new(
            env,
            SimBackend::new(sim.clone()),
            sim.replica_capacity_rps(),
            sim.startup_s,
        )?;
        let checkpoint =
            experiment
                .out
                .join("rl")
                .join(checkpoint_file(&bursts.name(), &agent.name, seed));
        let mut policy = trained_policy(experiment, &agent, &checkpoint, seed, sim_env.limits())?;
        compare(
            experiment,
            live,
            &mut live_env,
            &mut sim_env,
            &mut policy,
            seed,
        )
    })();
    let stopped = backend.teardown();
    result.and(stopped)
}

/// The agent's policy saved at `path` by the `rl` stage.
fn trained_policy(
    experiment: &Experiment,
    agent: &crate::spec::AgentSpec,
    path: &std::path::Path,
    seed: u64,
    limits: &crate::autoscale::Limits,
) -> anyhow::Result<PpoController> {
    ensure!(
        path.exists(),
        "no trained policy at {}: run the `rl` stage first",
        path.display()
    );
    let mut ppo = Ppo::new(
        experiment.spec.rl.ppo.clone(),
        feature_count(agent.observation, false),
        agent.actions.count(limits),
        seed,
    );
    ppo.load(path)?;
    Ok(PpoController::new(
        agent.name.clone(),
        ppo.into_actor(),
        agent.observation,
        agent.actions,
    ))
}

fn start_replicas(experiment: &Experiment) -> anyhow::Result<LiveBackend> {
    let c = &experiment.spec.rl.calibrate;
    let artifacts = experiment
        .out
        .join("artifacts")
        .join(format!("{}-{}b", c.pipeline, c.bits));
    ensure!(
        artifacts.join("circuit.json").exists(),
        "no artifacts for {} {}b in {}: run the `artifacts` stage with that circuit first",
        c.pipeline,
        c.bits,
        artifacts.display()
    );
    let mut local = LocalConfig::new(artifacts)?;
    local.workers = 1;
    // The first two movies of the pool: any liked set costs the same under encryption.
    LiveBackend::start(local, &[0, 1])
}

fn compare(
    experiment: &Experiment,
    live: &LiveSpec,
    live_env: &mut PaperEnv<&mut LiveBackend>,
    sim_env: &mut PaperEnv<SimBackend>,
    policy: &mut PpoController,
    seed: u64,
) -> anyhow::Result<()> {
    let mut sink = CsvSink::create(&experiment.out.join("rl_live.csv"))?;
    let progress = super::stage_progress(super::Stage::RlLive, live.episodes);
    let (mut live_latency, mut sim_latency) = (Vec::new(), Vec::new());
    for episode in 0..live.episodes {
        let workload = BurstsArena::seed(Split::Test, episode);
        let started = Instant::now();
        let measured = run_episode(live_env, policy, &workload)?;
        let wall_s = started.elapsed().as_secs_f64();
        let predicted = run_episode(sim_env, policy, &workload)?;
        for (backend, m, wall) in [("live", &measured, wall_s), ("sim", &predicted, 0.0)] {
            sink.push(&LiveRow {
                experiment: experiment.spec.name.clone(),
                policy: policy.name.clone(),
                seed,
                episode,
                backend: backend.into(),
                episode_return: -m.cost,
                mean_latency_s: m.mean_latency_s,
                p95_latency_s: m.p95_latency_s,
                slo_violations: m.violations,
                requests: m.requests,
                heals: m.heals,
                mean_replicas: m.mean_replicas,
                wall_s: wall,
                git_rev: experiment.git_rev.clone(),
            })?;
        }
        live_latency.push(measured.mean_latency_s);
        sim_latency.push(predicted.mean_latency_s);
        progress.inc(1);
    }
    progress.finish_and_clear();
    let path = sink.finish()?;
    crate::report::emit(gap_table(&live_latency, &sim_latency))?;
    crate::report::emit(format_args!("wrote {}", path.display()))?;
    Ok(())
}

fn gap_table(live: &[f64], sim: &[f64]) -> Table {
    let mut table = Table::new(&[
        "episodes",
        "live mean latency s",
        "sim mean latency s",
        "live / sim",
    ]);
    table.row(vec![
        live.len().to_string(),
        format!("{:.2}", mean(live)),
        format!("{:.2}", mean(sim)),
        format!("{:.2}", mean(live) / mean(sim)),
    ]);
    table
}
