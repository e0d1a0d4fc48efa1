//! Stage `rl-live`: the first seed's trained policy on local replicas of the calibration
//! circuit (real encrypted requests), episode by episode beside the simulator's prediction for
//! the same workload seeds: the sim-to-real gap. Writes `rl_live.csv`.

use std::time::Instant;

use anyhow::{ensure, Context};
use serde::Serialize;

use super::rl_stage::{agent_env, calibrate, checkpoint_path, cluster_config, EVAL_SEED_BASE};
use super::Experiment;
use crate::deploy::local::LocalConfig;
use crate::report::{CsvSink, Table};
use crate::rl::backend::SimBackend;
use crate::rl::episode::{run_episode, EpisodeMetrics};
use crate::rl::live::LiveBackend;
use crate::rl::ppo::{Ppo, PpoPolicy};
use crate::rl::{AutoscaleEnv, EnvConfig};
use crate::sim::ClusterConfig;
use crate::spec::LiveSpec;
use crate::stats::mean;

/// One row of `rl_live.csv`: one episode, measured live or predicted by the simulator.
#[derive(Debug, Clone, Serialize)]
pub struct LiveRow {
    pub experiment: String,
    pub policy: String,
    pub seed: u64,
    pub episode: usize,
    /// `live` or `sim`.
    pub backend: String,
    #[serde(rename = "return")]
    pub episode_return: f64,
    pub mean_latency_s: f64,
    pub p95_latency_s: f64,
    pub slo_violations: usize,
    pub requests: usize,
    pub heals: usize,
    pub mean_replicas: f64,
    pub wall_s: f64,
    pub git_rev: String,
}

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
    let agent = rl.agents.first().context("rl.agents is empty")?;
    let env = EnvConfig {
        steps: live.steps,
        step_interval_s: live.step_interval_s,
        ..agent_env(&rl.env, agent)
    };
    let seed = *rl.seeds.first().context("rl.seeds is empty")?;
    let mut policy = trained_policy(experiment, &agent.name, &env, seed)?;
    let mut backend = start_replicas(experiment)?;
    let result = compare(experiment, live, &env, sim, &mut backend, &mut policy, seed);
    let stopped = backend.teardown();
    result.and(stopped)
}

/// Agent `name`'s policy of training seed `seed`.
fn trained_policy(
    experiment: &Experiment,
    name: &str,
    env: &EnvConfig,
    seed: u64,
) -> anyhow::Result<PpoPolicy> {
    let rl = &experiment.spec.rl;
    let path = checkpoint_path(&experiment.out.join("rl"), name, seed);
    ensure!(
        path.exists(),
        "no trained policy at {}: run the `rl` stage first",
        path.display()
    );
    let mut agent = Ppo::new(
        rl.ppo.clone(),
        env.observation.features(),
        env.action_count(),
        seed,
    );
    agent.load(&path)?;
    Ok(PpoPolicy {
        name: name.into(),
        env: env.clone(),
        agent,
    })
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
    env: &EnvConfig,
    sim: ClusterConfig,
    backend: &mut LiveBackend,
    policy: &mut PpoPolicy,
    seed: u64,
) -> anyhow::Result<()> {
    let mut sim_env = AutoscaleEnv::new(env.clone(), SimBackend::new(sim))?;
    let mut live_env = AutoscaleEnv::new(env.clone(), backend)?;
    let mut sink = CsvSink::create(&experiment.out.join("rl_live.csv"))?;
    let progress = super::stage_progress(super::Stage::RlLive, live.episodes);
    let (mut live_latency, mut sim_latency) = (Vec::new(), Vec::new());
    for episode in 0..live.episodes {
        let workload = EVAL_SEED_BASE + episode as u64;
        let started = Instant::now();
        let measured = run_episode(&mut live_env, policy, workload)?;
        let wall_s = started.elapsed().as_secs_f64();
        let predicted = run_episode(&mut sim_env, policy, workload)?;
        for (name, m, wall) in [("live", &measured, wall_s), ("sim", &predicted, 0.0)] {
            sink.push(&row(experiment, &policy.name, seed, episode, name, m, wall))?;
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

fn row(
    experiment: &Experiment,
    policy_name: &str,
    seed: u64,
    episode: usize,
    backend: &str,
    m: &EpisodeMetrics,
    wall_s: f64,
) -> LiveRow {
    LiveRow {
        experiment: experiment.spec.name.clone(),
        policy: policy_name.into(),
        seed,
        episode,
        backend: backend.into(),
        episode_return: m.episode_return,
        mean_latency_s: m.mean_latency_s,
        p95_latency_s: m.p95_latency_s,
        slo_violations: m.slo_violations,
        requests: m.requests,
        heals: m.heals,
        mean_replicas: m.mean_replicas,
        wall_s,
        git_rev: experiment.git_rev.clone(),
    }
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
