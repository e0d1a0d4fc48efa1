//! The protocol of the study, for one workload: every controller family is tuned on the
//! validation episodes (the best static count included), PPO is trained on the training
//! episodes with its hyper-parameters chosen on validation, and then every chosen controller,
//! every PPO seed and the oracle run once on the test episodes. The oracle's cost must be at most
//! every controller's on every test episode; where it is not, the run says so.

use std::path::PathBuf;
use std::sync::Arc;

use rayon::prelude::*;

use super::agent::{ActionSpace, AgentEnv, Collapse, ObservationKind, PolicyCard, PpoController};
use super::env::{run_episode, EpisodeMetrics, ScalingEnv};
use super::oracle::{self, Search};
use super::{feature_count, Controller, Schedule};
use crate::rl::ppo::{Actor, Ppo, PpoConfig};
use crate::workload::Split;

/// Makes a fresh controller of one configuration.
pub type Make = Arc<dyn Fn() -> Box<dyn Controller + Send> + Send + Sync>;

/// One configuration of a controller family.
#[derive(Clone)]
pub struct Candidate {
    /// The configuration, e.g. `target=0.6 window=300s`.
    pub config: String,
    pub make: Make,
}

/// A controller family and the configurations it is tuned over.
#[derive(Clone)]
pub struct Family {
    /// The name its chosen configuration carries in the results (`hpa`, `mpc`, ...).
    pub name: String,
    pub candidates: Vec<Candidate>,
    /// Every configuration also runs on the test episodes under its own name (the static
    /// counts: the report shows them all, and compares with the one chosen on validation).
    pub test_all: bool,
}

/// What one workload offers the protocol.
pub trait Arena: Sync {
    type Env: ScalingEnv + Clone + Send;
    /// A fresh environment.
    fn env(&self) -> Self::Env;
    /// Episode `index` of `split`.
    fn episode(&self, split: Split, index: usize) -> <Self::Env as ScalingEnv>::Episode;
    /// How many validation or test episodes there are.
    fn episodes(&self, split: Split) -> usize;
    /// A label per test episode (a trace's day, or a seed).
    fn label(&self, split: Split, index: usize) -> String;
    /// The rule-based and model-based families with their grids.
    fn families(&self) -> Vec<Family>;
}

/// One PPO agent to train on every seed.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentPlan {
    pub name: String,
    pub observation: ObservationKind,
    pub actions: ActionSpace,
    pub episodes: usize,
}

/// What to run on one workload.
#[derive(Clone)]
pub struct Plan {
    pub workload: String,
    pub agents: Vec<AgentPlan>,
    pub ppo: PpoConfig,
    /// PPO hyper-parameters tried on validation: `(learning_rate, entropy_coef)`.
    pub ppo_grid: Vec<(f64, f32)>,
    /// Training seeds (one policy each); the first `tuning_seeds` also choose the grid point.
    pub seeds: Vec<u64>,
    pub tuning_seeds: usize,
    pub oracle: Search,
    /// Where the final agents' checkpoints go (`<workload>-<agent>-seed<k>.safetensors`).
    pub checkpoints: Option<PathBuf>,
}

/// A configuration's mean cost on the validation episodes.
#[derive(Debug, Clone, PartialEq)]
pub struct Tuned {
    pub family: String,
    pub config: String,
    pub validation_cost: f64,
    pub chosen: bool,
}

/// One training episode of a final PPO agent.
#[derive(Debug, Clone, PartialEq)]
pub struct Trained {
    pub agent: String,
    pub seed: u64,
    pub episode: usize,
    pub metrics: EpisodeMetrics,
}

/// A controller's test episodes (for PPO, one run per training seed).
#[derive(Debug, Clone, PartialEq)]
pub struct Tested {
    pub controller: String,
    /// Its configuration (chosen on validation), or the PPO hyper-parameters.
    pub config: String,
    /// `static`, `rule`, `model`, `ppo` or `oracle`.
    pub kind: &'static str,
    /// The validation choice of its family (every chosen rule, the chosen static count).
    pub chosen: bool,
    /// PPO: the training seed of each run; otherwise one run, seed 0.
    pub runs: Vec<(u64, Vec<EpisodeMetrics>)>,
    /// PPO: collapse diagnostics per run.
    pub collapse: Vec<Collapse>,
}

/// Everything the protocol produced for one workload.
pub struct Outcome {
    pub workload: String,
    pub tuned: Vec<Tuned>,
    pub trained: Vec<Trained>,
    pub tested: Vec<Tested>,
    pub test_labels: Vec<String>,
    /// Test episodes on which some controller was cheaper than the oracle (should be none).
    pub oracle_beaten: Vec<String>,
}

impl Outcome {
    pub fn find(&self, controller: &str) -> Option<&Tested> {
        self.tested.iter().find(|t| t.controller == controller)
    }

    /// The static count chosen on validation.
    pub fn chosen_static(&self) -> Option<&Tested> {
        self.tested.iter().find(|t| t.kind == "static" && t.chosen)
    }
}

/// Runs the protocol on one workload; `progress` gets a message per phase.
pub fn run<A: Arena>(
    arena: &A,
    plan: &Plan,
    progress: &(dyn Fn(String) + Sync),
) -> anyhow::Result<Outcome>
where
    <A::Env as ScalingEnv>::Episode: Send + Sync,
{
    let validation = episodes(arena, Split::Validation);
    let test = episodes(arena, Split::Test);
    progress(format!(
        "{}: tuning the rules on {} validation episodes",
        plan.workload,
        validation.len()
    ));
    let (mut tuned, mut tested) = tune_families(arena, &validation, &test)?;
    let mut trained = Vec::new();
    for agent in &plan.agents {
        progress(format!(
            "{}: training {} ({} seeds)",
            plan.workload,
            agent.name,
            plan.seeds.len()
        ));
        let (t, final_agents, runs) = train_agent(arena, plan, agent, &validation)?;
        tuned.extend(t);
        trained.extend(runs);
        tested.push(test_agent(arena, agent, final_agents, &test)?);
    }
    progress(format!(
        "{}: the oracle on {} test episodes",
        plan.workload,
        test.len()
    ));
    let oracle = test_oracle(arena, plan.oracle, &test)?;
    let oracle_beaten = check_oracle(&oracle, &tested, arena);
    tested.push(oracle);
    Ok(Outcome {
        workload: plan.workload.clone(),
        tuned,
        trained,
        tested,
        test_labels: (0..test.len())
            .map(|i| arena.label(Split::Test, i))
            .collect(),
        oracle_beaten,
    })
}

type Episodes<A> = Vec<<<A as Arena>::Env as ScalingEnv>::Episode>;

fn episodes<A: Arena>(arena: &A, split: Split) -> Episodes<A> {
    (0..arena.episodes(split))
        .map(|i| arena.episode(split, i))
        .collect()
}

/// Runs a fresh controller from `make` on every episode.
fn evaluate<A: Arena>(
    arena: &A,
    make: &Make,
    episodes: &Episodes<A>,
) -> anyhow::Result<Vec<EpisodeMetrics>> {
    let mut env = arena.env();
    let mut controller = make();
    episodes
        .iter()
        .map(|e| run_episode(&mut env, controller.as_mut(), e))
        .collect()
}

fn mean_cost(runs: &[EpisodeMetrics]) -> f64 {
    runs.iter().map(|m| m.cost).sum::<f64>() / runs.len().max(1) as f64
}

/// Every family's configurations on validation; the chosen ones (and every static count) on
/// test.
fn tune_families<A: Arena>(
    arena: &A,
    validation: &Episodes<A>,
    test: &Episodes<A>,
) -> anyhow::Result<(Vec<Tuned>, Vec<Tested>)>
where
    <A::Env as ScalingEnv>::Episode: Send + Sync,
{
    let families = arena.families();
    let jobs: Vec<(&Family, &Candidate)> = families
        .iter()
        .flat_map(|family| family.candidates.iter().map(move |c| (family, c)))
        .collect();
    let costs: Vec<f64> = jobs
        .par_iter()
        .map(|(_, c)| evaluate(arena, &c.make, validation).map(|m| mean_cost(&m)))
        .collect::<anyhow::Result<_>>()?;
    let tuned = choose(&jobs, &costs);
    let to_test: Vec<(&Family, &Candidate, bool)> = jobs
        .iter()
        .zip(&tuned)
        .filter(|((family, _), t)| t.chosen || family.test_all)
        .map(|(&(family, candidate), t)| (family, candidate, t.chosen))
        .collect();
    let tested = to_test
        .par_iter()
        .map(|&(family, candidate, chosen)| test_rule(arena, family, candidate, chosen, test))
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok((tuned, tested))
}

/// Each configuration's validation cost, the cheapest of each family marked chosen (the first
/// on ties).
fn choose(jobs: &[(&Family, &Candidate)], costs: &[f64]) -> Vec<Tuned> {
    let mut tuned: Vec<Tuned> = jobs
        .iter()
        .zip(costs)
        .map(|((family, candidate), &cost)| Tuned {
            family: family.name.clone(),
            config: candidate.config.clone(),
            validation_cost: cost,
            chosen: false,
        })
        .collect();
    let mut families: Vec<String> = tuned.iter().map(|t| t.family.clone()).collect();
    families.dedup();
    for family in families {
        let best = (0..tuned.len())
            .filter(|&i| tuned[i].family == family)
            .min_by(|&a, &b| {
                tuned[a]
                    .validation_cost
                    .total_cmp(&tuned[b].validation_cost)
            });
        if let Some(best) = best {
            tuned[best].chosen = true;
        }
    }
    tuned
}

/// One rule or static configuration on the test episodes.
fn test_rule<A: Arena>(
    arena: &A,
    family: &Family,
    candidate: &Candidate,
    chosen: bool,
    test: &Episodes<A>,
) -> anyhow::Result<Tested> {
    let runs = evaluate(arena, &candidate.make, test)?;
    let controller = if family.test_all {
        (candidate.make)().name()
    } else {
        family.name.clone()
    };
    Ok(Tested {
        controller,
        config: candidate.config.clone(),
        kind: match family.name.as_str() {
            "static" => "static",
            "forecast" | "mpc" => "model",
            _ => "rule",
        },
        chosen,
        runs: vec![(0, runs)],
        collapse: Vec::new(),
    })
}

/// A trained agent of one seed and grid point.
struct Agent {
    seed: u64,
    ppo: Actor,
    training: Vec<EpisodeMetrics>,
}

/// The file under `Plan::checkpoints` that holds `agent`'s policy of `seed` on `workload`.
pub fn checkpoint_file(workload: &str, agent: &str, seed: u64) -> String {
    format!("{workload}-{agent}-seed{seed}.safetensors")
}

/// Steps in a training episode of `arena`.
fn training_steps<A: Arena>(arena: &A) -> anyhow::Result<usize> {
    let mut probe = arena.env();
    probe.reset(&arena.episode(Split::Train, 0))?;
    Ok(probe.episode_steps())
}

/// Trains `agent` on the training episodes of `arena` for `seed` with `config`, for
/// `agent.episodes` episodes of `steps_per_episode` steps.
fn train_one<A: Arena>(
    arena: &A,
    agent: &AgentPlan,
    config: &PpoConfig,
    seed: u64,
    steps_per_episode: usize,
) -> anyhow::Result<Agent> {
    let env = arena.env();
    let limits = env.limits().clone();
    let mut next = 0usize;
    // PPO asks for a seed per episode; the episode is the next training one (each seed starts
    // at its own place in the training days).
    let episodes = |_: u64| {
        next += 1;
        arena.episode(
            Split::Train,
            (seed as usize).wrapping_mul(1 << 16).wrapping_add(next - 1),
        )
    };
    let mut env = AgentEnv::new(env, episodes, agent.observation, agent.actions);
    let mut ppo = Ppo::new(
        config.clone(),
        feature_count(agent.observation, limits.open_loop),
        agent.actions.count(&limits),
        seed,
    );
    let mut seeds = || 0u64;
    ppo.train(
        &mut env,
        agent.episodes * steps_per_episode,
        &mut seeds,
        &mut |_| {},
    )?;
    Ok(Agent {
        seed,
        ppo: ppo.into_actor(),
        training: std::mem::take(&mut env.finished),
    })
}

fn ppo_config(base: &PpoConfig, (learning_rate, entropy_coef): (f64, f32)) -> PpoConfig {
    PpoConfig {
        learning_rate,
        entropy_coef,
        ..base.clone()
    }
}

fn ppo_label((learning_rate, entropy_coef): (f64, f32)) -> String {
    format!("lr={learning_rate} entropy={entropy_coef}")
}

/// Chooses `agent`'s grid point on validation with the tuning seeds, then trains every seed with
/// it (reusing the tuning runs of that point).
fn train_agent<A: Arena>(
    arena: &A,
    plan: &Plan,
    agent: &AgentPlan,
    validation: &Episodes<A>,
) -> anyhow::Result<(Vec<Tuned>, Vec<Agent>, Vec<Trained>)>
where
    <A::Env as ScalingEnv>::Episode: Send + Sync,
{
    let grid = if plan.ppo_grid.is_empty() {
        vec![(plan.ppo.learning_rate, plan.ppo.entropy_coef)]
    } else {
        plan.ppo_grid.clone()
    };
    let tuning_seeds = &plan.seeds[..plan.tuning_seeds.clamp(1, plan.seeds.len())];
    let steps = training_steps(arena)?;
    let jobs: Vec<(usize, u64)> = (0..grid.len())
        .flat_map(|g| tuning_seeds.iter().map(move |&s| (g, s)))
        .collect();
    let mut trials: Vec<(usize, Agent, f64)> = jobs
        .par_iter()
        .map(|&(g, seed)| {
            let config = ppo_config(&plan.ppo, grid[g]);
            let trained = train_one(arena, agent, &config, seed, steps)?;
            let (trained, cost) = validate_agent(arena, agent, trained, validation)?;
            Ok((g, trained, cost))
        })
        .collect::<anyhow::Result<_>>()?;
    let per_point: Vec<f64> = (0..grid.len())
        .map(|g| {
            let costs: Vec<f64> = trials.iter().filter(|t| t.0 == g).map(|t| t.2).collect();
            costs.iter().sum::<f64>() / costs.len().max(1) as f64
        })
        .collect();
    let best = (0..grid.len())
        .min_by(|&a, &b| per_point[a].total_cmp(&per_point[b]))
        .unwrap_or(0);
    let tuned = (0..grid.len())
        .map(|g| Tuned {
            family: agent.name.clone(),
            config: ppo_label(grid[g]),
            validation_cost: per_point[g],
            chosen: g == best,
        })
        .collect();
    let config = ppo_config(&plan.ppo, grid[best]);
    let rest: Vec<u64> = plan.seeds[tuning_seeds.len()..].to_vec();
    let more: Vec<Agent> = rest
        .par_iter()
        .map(|&seed| train_one(arena, agent, &config, seed, steps))
        .collect::<anyhow::Result<_>>()?;
    trials.retain(|t| t.0 == best);
    let mut agents: Vec<Agent> = trials.into_iter().map(|t| t.1).collect();
    agents.extend(more);
    let mut trained = Vec::new();
    for a in &mut agents {
        if let Some(dir) = &plan.checkpoints {
            std::fs::create_dir_all(dir)?;
            let path = dir.join(checkpoint_file(&plan.workload, &agent.name, a.seed));
            a.ppo.save(&path)?;
            let limits = arena.env().limits().clone();
            PolicyCard::new(
                &agent.name,
                &plan.workload,
                a.seed,
                (agent.observation, agent.actions),
                &limits,
            )
            .save(&path)?;
        }
        for (episode, metrics) in std::mem::take(&mut a.training).into_iter().enumerate() {
            trained.push(Trained {
                agent: agent.name.clone(),
                seed: a.seed,
                episode,
                metrics,
            });
        }
    }
    Ok((tuned, agents, trained))
}

fn controller(agent: &AgentPlan, ppo: Actor) -> PpoController {
    PpoController::new(agent.name.clone(), ppo, agent.observation, agent.actions)
}

/// A trained agent's mean cost on the validation episodes (the agent is handed back).
fn validate_agent<A: Arena>(
    arena: &A,
    plan: &AgentPlan,
    agent: Agent,
    episodes: &Episodes<A>,
) -> anyhow::Result<(Agent, f64)> {
    let mut c = controller(plan, agent.ppo);
    let mut env = arena.env();
    let runs = episodes
        .iter()
        .map(|e| run_episode(&mut env, &mut c, e))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let agent = Agent {
        ppo: c.agent,
        ..agent
    };
    Ok((agent, mean_cost(&runs)))
}

fn test_agent<A: Arena>(
    arena: &A,
    plan: &AgentPlan,
    agents: Vec<Agent>,
    test: &Episodes<A>,
) -> anyhow::Result<Tested>
where
    <A::Env as ScalingEnv>::Episode: Send + Sync,
{
    let config = agents
        .first()
        .map(|a| ppo_label((a.ppo.config.learning_rate, a.ppo.config.entropy_coef)))
        .unwrap_or_default();
    let results: Vec<((u64, Vec<EpisodeMetrics>), Collapse)> = agents
        .into_par_iter()
        .map(|a| {
            let mut c = controller(plan, a.ppo);
            let mut env = arena.env();
            let runs = test
                .iter()
                .map(|e| run_episode(&mut env, &mut c, e))
                .collect::<anyhow::Result<Vec<_>>>()?;
            Ok(((a.seed, runs), Collapse::of(&c.counts)))
        })
        .collect::<anyhow::Result<_>>()?;
    let (runs, collapse) = results.into_iter().unzip();
    Ok(Tested {
        controller: plan.name.clone(),
        config,
        kind: "ppo",
        chosen: true,
        runs,
        collapse,
    })
}

/// The oracle's plan for every test episode, replayed as a controller.
fn test_oracle<A: Arena>(arena: &A, search: Search, test: &Episodes<A>) -> anyhow::Result<Tested>
where
    <A::Env as ScalingEnv>::Episode: Send + Sync,
{
    let runs = test
        .par_iter()
        .map(|episode| {
            let mut env = arena.env();
            let plan = oracle::plan(&env, episode, search)?;
            let mut replay = Schedule {
                name: "oracle".into(),
                plan: plan.replicas,
            };
            let metrics = run_episode(&mut env, &mut replay, episode)?;
            anyhow::ensure!(
                (metrics.cost - plan.cost).abs() <= 1e-9 * plan.cost.abs().max(1.0),
                "the oracle's plan cost {} when searched and {} when replayed: the environment is not deterministic",
                plan.cost,
                metrics.cost
            );
            Ok(metrics)
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(Tested {
        controller: "oracle".into(),
        config: format!(
            "beam={} passes={} radius={}",
            search.beam, search.passes, search.radius
        ),
        kind: "oracle",
        chosen: true,
        runs: vec![(0, runs)],
        collapse: Vec::new(),
    })
}

/// Every (controller, run, episode) cheaper than the oracle on that episode.
fn check_oracle<A: Arena>(oracle: &Tested, tested: &[Tested], arena: &A) -> Vec<String> {
    let bound = &oracle.runs[0].1;
    let mut beaten = Vec::new();
    for t in tested {
        for (seed, runs) in &t.runs {
            for (e, (m, o)) in runs.iter().zip(bound).enumerate() {
                if m.cost < o.cost - 1e-9 * o.cost.abs().max(1.0) {
                    beaten.push(format!(
                        "{} (seed {seed}) costs {:.6} on test episode {} ({}), the oracle {:.6}",
                        t.controller,
                        m.cost,
                        e,
                        arena.label(Split::Test, e),
                        o.cost
                    ));
                }
            }
        }
    }
    beaten
}
