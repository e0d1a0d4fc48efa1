//! The evaluation half of stage `rl`: every policy on the same workload seeds, the summary with
//! bootstrap intervals, and PPO's paired difference to the best static count and the HPA clone.

use std::collections::BTreeMap;

use serde::Serialize;

use super::rl_stage::{baselines, evaluate_policy, EvalRow, TrainedAgent};
use super::Experiment;
use crate::report::{CsvSink, Table};
use crate::rl::episode::EpisodeMetrics;
use crate::rl::policy::Policy;
use crate::rl::EnvConfig;
use crate::sim::ClusterConfig;
use crate::stats::{bootstrap_ci95, mean};

/// One row of `rl_summary.csv`: a policy over all its evaluation episodes.
#[derive(Debug, Clone, Serialize)]
pub struct SummaryRow {
    pub experiment: String,
    pub policy: String,
    /// What the interval is over: PPO's training seeds, or a baseline's episodes.
    pub units: usize,
    pub mean_return: f64,
    pub return_ci_low: f64,
    pub return_ci_high: f64,
    pub mean_latency_s: f64,
    pub p95_latency_s: f64,
    pub slo_violations_per_episode: f64,
    pub pod_seconds_per_episode: f64,
    pub mean_replicas: f64,
    pub git_rev: String,
}

/// One row of `rl_replicas.csv`: how many steps a policy spent at a replica count.
#[derive(Debug, Clone, Serialize)]
pub struct ReplicaRow {
    pub experiment: String,
    pub policy: String,
    pub replicas: usize,
    pub steps: usize,
    pub share: f64,
}

type Results = BTreeMap<String, Vec<(u64, EpisodeMetrics)>>;

pub fn evaluate(
    experiment: &Experiment,
    cluster: &ClusterConfig,
    source: &str,
    agents: Vec<TrainedAgent>,
) -> anyhow::Result<()> {
    let rl = &experiment.spec.rl;
    let mut sink = CsvSink::create(&experiment.out.join("rl_eval.csv"))?;
    let mut results = Results::new();
    let mut order = Vec::new();
    let mut run = |policy: &mut dyn Policy, env: &EnvConfig, seed: u64| -> anyhow::Result<()> {
        let name = policy.name();
        for (episode, m) in evaluate_policy(rl, env, cluster, policy)?
            .into_iter()
            .enumerate()
        {
            sink.push(&eval_row(experiment, &name, seed, episode, &m, source))?;
            results.entry(name.clone()).or_default().push((seed, m));
        }
        if !order.contains(&name) {
            order.push(name);
        }
        Ok(())
    };
    for mut trained in agents {
        let env = trained.policy.env.clone();
        run(&mut trained.policy, &env, trained.seed)?;
    }
    for mut baseline in baselines(rl, cluster) {
        run(baseline.as_mut(), &rl.env, 0)?;
    }
    crate::report::emit(format_args!("wrote {}", sink.finish()?.display()))?;
    write_replicas(experiment, &order, &results)?;
    write_summary(experiment, &order, &results)
}

fn eval_row(
    experiment: &Experiment,
    policy: &str,
    seed: u64,
    episode: usize,
    m: &EpisodeMetrics,
    source: &str,
) -> EvalRow {
    EvalRow {
        experiment: experiment.spec.name.clone(),
        policy: policy.to_string(),
        seed,
        episode,
        episode_return: m.episode_return,
        mean_latency_s: m.mean_latency_s,
        p95_latency_s: m.p95_latency_s,
        slo_violations: m.slo_violations,
        pod_seconds: m.pod_seconds,
        mean_replicas: m.mean_replicas,
        scaling_actions: m.scaling_actions,
        heals: m.heals,
        service: source.to_string(),
        git_rev: experiment.git_rev.clone(),
    }
}

fn write_replicas(
    experiment: &Experiment,
    order: &[String],
    results: &Results,
) -> anyhow::Result<()> {
    let mut sink = CsvSink::create(&experiment.out.join("rl_replicas.csv"))?;
    for name in order {
        let mut histogram = BTreeMap::<usize, usize>::new();
        for (_, m) in &results[name] {
            for &r in &m.replicas {
                *histogram.entry(r).or_default() += 1;
            }
        }
        let total: usize = histogram.values().sum();
        for (replicas, steps) in histogram {
            sink.push(&ReplicaRow {
                experiment: experiment.spec.name.clone(),
                policy: name.clone(),
                replicas,
                steps,
                share: steps as f64 / total as f64,
            })?;
        }
    }
    crate::report::emit(format_args!("wrote {}", sink.finish()?.display()))?;
    Ok(())
}

/// The return of each unit the interval is over: per-seed means for PPO, episodes otherwise.
fn units(runs: &[(u64, EpisodeMetrics)]) -> Vec<f64> {
    let mut by_seed = BTreeMap::<u64, Vec<f64>>::new();
    for (seed, m) in runs {
        by_seed.entry(*seed).or_default().push(m.episode_return);
    }
    if by_seed.len() > 1 {
        by_seed.values().map(|v| mean(v)).collect()
    } else {
        runs.iter().map(|(_, m)| m.episode_return).collect()
    }
}

fn write_summary(
    experiment: &Experiment,
    order: &[String],
    results: &Results,
) -> anyhow::Result<()> {
    let mut sink = CsvSink::create(&experiment.out.join("rl_summary.csv"))?;
    let mut table = Table::new(&[
        "policy",
        "return (95% CI)",
        "latency s",
        "p95 s",
        "SLO viol/ep",
        "pod-s/ep",
        "replicas",
    ])
    .align_left(0);
    for name in order {
        let runs = &results[name];
        let returns = units(runs);
        let (low, high) = bootstrap_ci95(&returns, 10_000, 7);
        let of = |f: fn(&EpisodeMetrics) -> f64| {
            mean(&runs.iter().map(|(_, m)| f(m)).collect::<Vec<_>>())
        };
        let row = SummaryRow {
            experiment: experiment.spec.name.clone(),
            policy: name.clone(),
            units: returns.len(),
            mean_return: mean(&returns),
            return_ci_low: low,
            return_ci_high: high,
            mean_latency_s: of(|m| m.mean_latency_s),
            p95_latency_s: of(|m| m.p95_latency_s),
            slo_violations_per_episode: of(|m| m.slo_violations as f64),
            pod_seconds_per_episode: of(|m| m.pod_seconds),
            mean_replicas: of(|m| m.mean_replicas),
            git_rev: experiment.git_rev.clone(),
        };
        table.row(vec![
            name.clone(),
            format!("{:.1} [{low:.1}, {high:.1}]", row.mean_return),
            format!("{:.2}", row.mean_latency_s),
            format!("{:.2}", row.p95_latency_s),
            format!("{:.1}", row.slo_violations_per_episode),
            format!("{:.0}", row.pod_seconds_per_episode),
            format!("{:.2}", row.mean_replicas),
        ]);
        sink.push(&row)?;
    }
    crate::report::emit(&table)?;
    crate::report::emit(verdict(results))?;
    crate::report::emit(format_args!("wrote {}", sink.finish()?.display()))?;
    Ok(())
}

/// PPO against the best static count (set directly), the best count reached in PPO's own
/// action space (`step-k`), and the HPA clone: per training seed, the mean paired difference in
/// return over the shared evaluation episodes; the interval is over seeds.
pub fn verdict(results: &Results) -> String {
    results
        .iter()
        .filter(|(name, _)| name.starts_with("ppo"))
        .map(|(name, runs)| verdict_of(name, runs, results))
        .collect::<Vec<_>>()
        .join("\n")
}

fn verdict_of(agent: &str, ppo: &[(u64, EpisodeMetrics)], results: &Results) -> String {
    let best = |prefix: &str| {
        results
            .iter()
            .filter(|(name, _)| name.starts_with(prefix))
            .max_by(|a, b| mean(&units(a.1)).total_cmp(&mean(&units(b.1))))
            .map(|(name, _)| name.clone())
    };
    let rivals = [best("static-"), best("step-"), Some("hpa".to_string())];
    let mut lines = Vec::new();
    for name in rivals.iter().flatten() {
        let Some(rival) = results.get(name) else {
            continue;
        };
        let diffs = paired_differences(ppo, rival);
        let (low, high) = bootstrap_ci95(&diffs, 10_000, 11);
        let word = if low > 0.0 {
            "beats"
        } else if high < 0.0 {
            "loses to"
        } else {
            "does not differ from"
        };
        lines.push(format!(
            "{agent} {word} {name}: return difference {:+.2} per episode, 95% CI [{low:+.2}, {high:+.2}] \
             over {} training seeds",
            mean(&diffs),
            diffs.len()
        ));
    }
    lines.join("\n")
}

/// Per PPO seed, the mean over evaluation episodes of PPO's return minus the rival's on the same
/// episode.
fn paired_differences(ppo: &[(u64, EpisodeMetrics)], rival: &[(u64, EpisodeMetrics)]) -> Vec<f64> {
    let mut by_seed = BTreeMap::<u64, Vec<f64>>::new();
    for (seed, m) in ppo {
        let episode = by_seed.get(seed).map_or(0, Vec::len);
        if let Some((_, r)) = rival.get(episode) {
            by_seed
                .entry(*seed)
                .or_default()
                .push(m.episode_return - r.episode_return);
        }
    }
    by_seed.values().map(|d| mean(d)).collect()
}
