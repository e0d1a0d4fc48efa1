//! Stage `rl-live`: the first agent's first-seed policy for the paper's `bursts` workload on
//! local replicas of the calibration circuit (real encrypted requests), episode by episode beside
//! the simulator's prediction for the same workload seeds: the sim-to-real gap. Writes
//! `rl_live.csv`.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{ensure, Context};

use super::calibrate;
use crate::autoscale::agent::PpoController;
use crate::autoscale::arenas::BurstsArena;
use crate::autoscale::paper::PaperEnv;
use crate::autoscale::protocol::checkpoint_file;
use crate::autoscale::{feature_count, run_episode, ScalingEnv};
use crate::deploy::local::LocalConfig;
use crate::output::{emit, Table};
use crate::results::autoscale::LiveRow;
use crate::results::files;
use crate::rl::backend::SimBackend;
use crate::rl::live::LiveBackend;
use crate::rl::ppo::Ppo;
use crate::rl::EnvConfig;
use crate::runner::{Experiment, Stage};
use crate::sim::ClusterConfig;
use crate::spec::{AgentSpec, LiveSpec};
use crate::stats::mean;
use crate::workload::{Split, WorkloadSpec};

/// What the live run compares: the tested agent's checkpoint, the live episodes' environment,
/// and the simulated cluster that predicts them.
struct Comparison {
    agent: AgentSpec,
    checkpoint: PathBuf,
    seed: u64,
    env: EnvConfig,
    sim: ClusterConfig,
}

pub fn run(experiment: &Experiment) -> anyhow::Result<()> {
    let rl = &experiment.spec.rl;
    let Some(live) = &rl.live else {
        tracing::info!("no rl.live in the spec: nothing to run live");
        return Ok(());
    };
    let comparison = plan(experiment, live)?;
    let mut backend = start_replicas(experiment)?;
    let result = compare_on(experiment, live, &comparison, &mut backend);
    let stopped = backend.teardown();
    result.and(stopped)
}

/// The first agent trained on the `bursts` workload, its first seed, on the live episodes'
/// length, beside the calibrated simulator with this machine's evaluation slots.
fn plan(experiment: &Experiment, live: &LiveSpec) -> anyhow::Result<Comparison> {
    let rl = &experiment.spec.rl;
    let (service, _) = calibrate(&experiment.out, rl)?;
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
    let seed = *rl.seeds.first().context("rl.seeds is empty")?;
    let checkpoint = checkpoint_file(&bursts.name(), &agent.name, seed);
    Ok(Comparison {
        checkpoint: experiment.out.join("rl").join(checkpoint),
        agent,
        seed,
        env: EnvConfig {
            steps: live.steps,
            step_interval_s: live.step_interval_s,
            ..rl.env.clone()
        },
        sim: ClusterConfig {
            host_slots: Some(live.host_slots),
            ..rl.cluster.cluster(service)
        },
    })
}

/// The trained policy on the live replicas of `backend` and on the simulator, episode by episode.
fn compare_on(
    experiment: &Experiment,
    live: &LiveSpec,
    c: &Comparison,
    backend: &mut LiveBackend,
) -> anyhow::Result<()> {
    let (capacity, startup) = (c.sim.replica_capacity_rps(), c.sim.startup_s);
    let mut live_env = PaperEnv::new(c.env.clone(), backend, capacity, startup)?;
    let sim_backend = SimBackend::new(c.sim.clone());
    let mut sim_env = PaperEnv::new(c.env.clone(), sim_backend, capacity, startup)?;
    let limits = sim_env.limits();
    let mut policy = trained_policy(experiment, &c.agent, &c.checkpoint, c.seed, limits)?;
    compare(
        experiment,
        live,
        &mut live_env,
        &mut sim_env,
        &mut policy,
        c.seed,
    )
}

/// The agent's policy saved at `path` by the `rl` stage.
fn trained_policy(
    experiment: &Experiment,
    agent: &AgentSpec,
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
    let mut sink = experiment.sink(files::RL_LIVE)?;
    let progress = crate::runner::stage_progress(Stage::RlLive, live.episodes);
    let (mut live_latency, mut sim_latency) = (Vec::new(), Vec::new());
    for episode in 0..live.episodes {
        let workload = BurstsArena::seed(Split::Test, episode);
        let started = Instant::now();
        let measured = run_episode(live_env, policy, &workload)?;
        let wall_s = started.elapsed().as_secs_f64();
        let predicted = run_episode(sim_env, policy, &workload)?;
        for (backend, m, wall) in [("live", &measured, wall_s), ("sim", &predicted, 0.0)] {
            sink.push(&LiveRow {
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
            })?;
        }
        live_latency.push(measured.mean_latency_s);
        sim_latency.push(predicted.mean_latency_s);
        progress.inc(1);
    }
    progress.finish_and_clear();
    let path = sink.finish()?;
    emit(gap_table(&live_latency, &sim_latency))?;
    emit(format_args!("wrote {}", path.display()))?;
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
