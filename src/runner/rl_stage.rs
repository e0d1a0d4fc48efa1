//! Stage `rl`: PPO trained on the simulator calibrated from the measured circuit, on several
//! seeds, then every policy (each seed's PPO, static k, HPA clone, threshold rule, oracle)
//! evaluated on the same workload seeds. Writes `rl_train.csv`, `rl_eval.csv`,
//! `rl_replicas.csv`, `rl_summary.csv` and the checkpoints under `rl/`.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use serde::Serialize;

use super::Experiment;
use crate::report::{read, CsvSink};
use crate::rl::backend::SimBackend;
use crate::rl::episode::{run_episode, EpisodeMeter, EpisodeMetrics};
use crate::rl::policy::{Hpa, Oracle, Policy, Static, StepToward, Threshold};
use crate::rl::ppo::{Ppo, PpoPolicy};
use crate::rl::{AutoscaleEnv, EnvConfig, Environment, Transition};
use crate::sim::{ClusterConfig, ServiceTime};
use crate::spec::{AgentSpec, RlSpec};

/// Evaluation workload seeds start here (training episodes use seeds below it).
pub const EVAL_SEED_BASE: u64 = 1 << 40;

/// One row of `rl_train.csv`: one training episode.
#[derive(Debug, Clone, Serialize)]
pub struct TrainRow {
    pub experiment: String,
    pub policy: String,
    pub seed: u64,
    pub episode: usize,
    #[serde(rename = "return")]
    pub episode_return: f64,
    pub mean_latency_s: f64,
    pub mean_replicas: f64,
    pub git_rev: String,
}

/// One row of `rl_eval.csv`: one policy on one evaluation episode.
#[derive(Debug, Clone, Serialize)]
pub struct EvalRow {
    pub experiment: String,
    pub policy: String,
    /// PPO's training seed; 0 for baselines.
    pub seed: u64,
    pub episode: usize,
    #[serde(rename = "return")]
    pub episode_return: f64,
    pub mean_latency_s: f64,
    pub p95_latency_s: f64,
    pub slo_violations: usize,
    pub pod_seconds: f64,
    pub mean_replicas: f64,
    pub scaling_actions: usize,
    pub heals: usize,
    /// What the simulator was calibrated from.
    pub service: String,
    pub git_rev: String,
}

pub fn run(experiment: &Experiment) -> anyhow::Result<()> {
    let rl = &experiment.spec.rl;
    let (service, source) = calibrate(&experiment.out, rl)?;
    tracing::info!("rl: simulator calibrated from {source}: {service:?}");
    let cluster = cluster_config(rl, service);
    let agents = train_all(experiment, &cluster)?;
    super::rl_eval::evaluate(experiment, &cluster, &source, agents)
}

/// Trains every agent of the spec on every seed; saves checkpoints and `rl_train.csv`.
fn train_all(
    experiment: &Experiment,
    cluster: &ClusterConfig,
) -> anyhow::Result<Vec<TrainedAgent>> {
    let rl = &experiment.spec.rl;
    let checkpoints = experiment.out.join("rl");
    std::fs::create_dir_all(&checkpoints)
        .with_context(|| format!("creating {}", checkpoints.display()))?;
    let episodes = |a: &AgentSpec| a.episodes.unwrap_or(rl.episodes);
    let runs = rl.agents.iter().map(episodes).sum::<usize>() * rl.seeds.len();
    let progress = super::stage_progress(super::Stage::Rl, runs);
    let mut sink = CsvSink::create(&experiment.out.join("rl_train.csv"))?;
    let mut agents = Vec::new();
    for spec in &rl.agents {
        let env = agent_env(&rl.env, spec);
        for &seed in &rl.seeds {
            progress.set_message(format!("training {}, seed {seed}", spec.name));
            let trainee = Trainee {
                name: &spec.name,
                env: &env,
                seed,
                episodes: episodes(spec),
            };
            let agent = train(experiment, cluster, &trainee, &mut sink, &progress)?;
            agent.save(&checkpoint_path(&checkpoints, &spec.name, seed))?;
            let policy = PpoPolicy {
                name: spec.name.clone(),
                env: env.clone(),
                agent,
            };
            agents.push(TrainedAgent { seed, policy });
        }
    }
    progress.finish_and_clear();
    crate::report::emit(format_args!("wrote {}", sink.finish()?.display()))?;
    Ok(agents)
}

/// Where agent `name`'s trained actor and critic of seed `seed` are saved.
pub fn checkpoint_path(dir: &Path, name: &str, seed: u64) -> PathBuf {
    dir.join(format!("{name}-seed{seed}.safetensors"))
}

/// The environment an agent sees: the spec's, with the agent's observation and actions.
pub fn agent_env(env: &EnvConfig, agent: &AgentSpec) -> EnvConfig {
    EnvConfig {
        actions: agent.actions,
        observation: agent.observation,
        ..env.clone()
    }
}

/// A PPO policy and the seed it was trained with.
pub struct TrainedAgent {
    pub seed: u64,
    pub policy: PpoPolicy,
}

/// What one training run is.
struct Trainee<'a> {
    name: &'a str,
    env: &'a EnvConfig,
    seed: u64,
    episodes: usize,
}

/// The simulated cluster of the spec with the measured service time.
pub fn cluster_config(rl: &RlSpec, service: ServiceTime) -> ClusterConfig {
    ClusterConfig {
        service,
        slots_per_replica: rl.cluster.slots_per_replica,
        host_slots: rl.cluster.host_slots,
        split: rl.cluster.split,
        startup_s: rl.cluster.startup_s,
        background_rps: rl.cluster.background_rps,
    }
}

fn train(
    experiment: &Experiment,
    cluster: &ClusterConfig,
    trainee: &Trainee,
    sink: &mut CsvSink,
    progress: &indicatif::ProgressBar,
) -> anyhow::Result<Ppo> {
    let (rl, seed) = (&experiment.spec.rl, trainee.seed);
    let env = AutoscaleEnv::new(trainee.env.clone(), SimBackend::new(cluster.clone()))?;
    let mut env = Recording::new(env);
    let mut agent = Ppo::new(rl.ppo.clone(), env.observation_len(), env.actions(), seed);
    let mut next = seed << 20;
    let mut seeds = || {
        next += 1;
        next
    };
    let steps = trainee.episodes * rl.env.steps;
    agent.train(&mut env, steps, &mut seeds, &mut |_| progress.inc(1))?;
    for (episode, m) in env.finished.iter().enumerate() {
        sink.push(&TrainRow {
            experiment: experiment.spec.name.clone(),
            policy: trainee.name.to_string(),
            seed,
            episode,
            episode_return: m.episode_return,
            mean_latency_s: m.mean_latency_s,
            mean_replicas: m.mean_replicas,
            git_rev: experiment.git_rev.clone(),
        })?;
    }
    Ok(agent)
}

/// An environment that also measures each training episode.
struct Recording<B: crate::rl::Backend> {
    env: AutoscaleEnv<B>,
    meter: EpisodeMeter,
    pods_at_start: f64,
    finished: Vec<EpisodeMetrics>,
}

impl<B: crate::rl::Backend> Recording<B> {
    fn new(env: AutoscaleEnv<B>) -> Self {
        Self {
            env,
            meter: EpisodeMeter::default(),
            pods_at_start: 0.0,
            finished: Vec::new(),
        }
    }
}

impl<B: crate::rl::Backend> Environment for Recording<B> {
    fn observation_len(&self) -> usize {
        self.env.observation_len()
    }

    fn actions(&self) -> usize {
        self.env.actions()
    }

    fn reset(&mut self, seed: u64) -> anyhow::Result<Vec<f32>> {
        let observation = self.env.reset(seed)?;
        self.meter = EpisodeMeter::new(self.env.replicas());
        self.pods_at_start = self.env.backend().totals().pod_seconds;
        Ok(observation)
    }

    fn step(&mut self, action: usize) -> anyhow::Result<Transition> {
        let (transition, info) = self.env.act(self.env.config.action(action))?;
        self.meter
            .record(&self.env.config, transition.reward, &info);
        if transition.truncated || transition.terminated {
            let pods = self.env.backend().totals().pod_seconds - self.pods_at_start;
            let meter = std::mem::take(&mut self.meter);
            self.finished.push(meter.finish(pods));
        }
        Ok(transition)
    }
}

/// The service time of the spec's calibration circuit: client latency with one client from
/// `serve.csv` if measured, else evaluation time from `fhe.csv`, as a lognormal through the
/// measured median and 95th percentile.
pub fn calibrate(out: &Path, rl: &RlSpec) -> anyhow::Result<(ServiceTime, String)> {
    let (pipeline, bits) = (rl.calibrate.pipeline.to_string(), rl.calibrate.bits);
    let serve = out.join("serve.csv");
    if let Some(row) = read::optional::<read::ServeRow>(&serve)?
        .unwrap_or_default()
        .into_iter()
        .find(|r| r.pipeline == pipeline && r.bits == bits && r.clients == 1)
    {
        let service = ServiceTime::lognormal_from_quantiles(
            row.latency_ms_median / 1e3,
            row.latency_ms_p95 / 1e3,
        );
        return Ok((
            service,
            format!("{} ({pipeline} {bits}b, 1 client)", serve.display()),
        ));
    }
    let fhe = out.join("fhe.csv");
    if let Some(row) = read::optional::<read::FheRow>(&fhe)?
        .unwrap_or_default()
        .into_iter()
        .find(|r| r.pipeline == pipeline && r.bits == bits)
    {
        let service =
            ServiceTime::lognormal_from_quantiles(row.eval_ms_median / 1e3, row.eval_ms_p95 / 1e3);
        return Ok((
            service,
            format!("{} ({pipeline} {bits}b eval)", fhe.display()),
        ));
    }
    bail!(
        "no measured service time for rl.calibrate {pipeline} {bits}b in {} or {}: run the `serve` \
         or `fhe` stage with that circuit first, or change rl.calibrate",
        serve.display(),
        fhe.display()
    )
}

/// Every baseline of the spec, in report order.
pub fn baselines(rl: &RlSpec, cluster: &ClusterConfig) -> Vec<Box<dyn Policy>> {
    let median = match cluster.service {
        ServiceTime::Lognormal { median, .. } => median,
        ref other => other.mean(),
    };
    let counts = rl.env.min_replicas..=rl.env.max_replicas;
    let mut policies: Vec<Box<dyn Policy>> = counts
        .clone()
        .map(|replicas| Box::new(Static { replicas }) as Box<dyn Policy>)
        .collect();
    policies.extend(counts.map(|replicas| Box::new(StepToward { replicas }) as Box<dyn Policy>));
    policies.push(Box::new(Hpa::new(rl.hpa_target_utilization)));
    policies.push(Box::new(Threshold {
        up_s: rl.threshold_up * median,
        down_s: rl.threshold_down * median,
    }));
    policies.push(Box::new(Oracle {
        cluster: cluster.clone(),
    }));
    policies
}

/// Runs `policy` on the evaluation episodes of a simulated environment.
/// `env` is the spec's environment, or a PPO agent's view of it (same dynamics and seeds).
pub fn evaluate_policy(
    rl: &RlSpec,
    env: &EnvConfig,
    cluster: &ClusterConfig,
    policy: &mut dyn Policy,
) -> anyhow::Result<Vec<EpisodeMetrics>> {
    let mut env = AutoscaleEnv::new(env.clone(), SimBackend::new(cluster.clone()))?;
    (0..rl.eval_episodes)
        .map(|e| run_episode(&mut env, policy, EVAL_SEED_BASE + e as u64))
        .collect()
}
