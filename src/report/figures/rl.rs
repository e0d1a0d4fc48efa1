//! The autoscaling figures: the paper's figures 3 to 6 from `rl_train.csv`, PPO against the
//! baselines from `rl_summary.csv` and `rl_replicas.csv`, live against simulated episodes from
//! `rl_live.csv`.

use std::collections::BTreeMap;
use std::path::Path;

use super::chart::{save_panels, Bar, BarChart, LineChart, Series};
use super::Figure;
use crate::report::read::{ExperimentResults, TrainRow};
use crate::stats::{mean, Summary};

/// Figures 3 to 6 of paper A, for the agents trained with the first (the paper's) budget.
pub fn paper_figures(results: &ExperimentResults, dir: &Path) -> anyhow::Result<Vec<Figure>> {
    let Some(train) = results.train.as_ref().filter(|t| !t.is_empty()) else {
        return Ok(Vec::new());
    };
    let agents = paper_budget_agents(train);
    let mut figures = vec![replica_selection(train, &agents, dir)?];
    let per_episode = [
        (
            "fig4_reward_per_episode.png",
            "Figure 4: reward per episode",
            "return",
            Metric::Return,
        ),
        (
            "fig5_latency_per_episode.png",
            "Figure 5: latency per episode",
            "mean latency (s)",
            Metric::Latency,
        ),
        (
            "fig6_replicas_per_episode.png",
            "Figure 6: replicas per episode",
            "mean replicas",
            Metric::Replicas,
        ),
    ];
    for (file, title, y_label, metric) in per_episode {
        let mut chart = LineChart::new(title, "training episode", y_label);
        for agent in &agents {
            chart = chart.series(over_seeds(train, agent, metric));
        }
        let figure = Figure::new(
            dir,
            file,
            format!(
                "{title} of training ({}): mean over seeds, band from the lowest to the highest seed.",
                agents.join(", ")
            ),
        );
        chart.save(&figure.path)?;
        figures.push(figure);
    }
    Ok(figures)
}

#[derive(Debug, Clone, Copy)]
enum Metric {
    Return,
    Latency,
    Replicas,
}

impl Metric {
    fn of(self, row: &TrainRow) -> f64 {
        match self {
            Metric::Return => row.episode_return,
            Metric::Latency => row.mean_latency_s,
            Metric::Replicas => row.mean_replicas,
        }
    }
}

/// Agents trained for as many episodes as the first one (the paper's budget), in file order.
fn paper_budget_agents(train: &[TrainRow]) -> Vec<String> {
    let agents = crate::report::group_in_order(train, |r| r.policy.clone());
    let episodes = |rows: &[&TrainRow]| rows.iter().map(|r| r.episode + 1).max().unwrap_or(0);
    let budget = episodes(&agents[0].1);
    agents
        .into_iter()
        .filter(|(_, rows)| episodes(rows) == budget)
        .map(|(name, _)| name)
        .collect()
}

/// Mean over seeds per episode, with the min..max band.
fn over_seeds(train: &[TrainRow], agent: &str, metric: Metric) -> Series {
    let mut by_episode: BTreeMap<usize, Vec<f64>> = BTreeMap::new();
    for row in train.iter().filter(|r| r.policy == agent) {
        by_episode
            .entry(row.episode)
            .or_default()
            .push(metric.of(row));
    }
    let points = by_episode
        .iter()
        .map(|(&e, v)| (e as f64, mean(v)))
        .collect();
    let band = by_episode
        .iter()
        .map(|(&e, v)| {
            let spread = Summary::of(v.iter().copied());
            (e as f64, spread.min, spread.max)
        })
        .collect();
    Series::new(agent, points).with_band(band)
}

/// Figure 3: training episodes grouped by their mean replica count (rounded), mean latency and
/// mean return per group, one line per agent.
fn replica_selection(train: &[TrainRow], agents: &[String], dir: &Path) -> anyhow::Result<Figure> {
    let x_label = "mean replicas in the episode (rounded)";
    let mut latency = LineChart::new("Latency by replicas", x_label, "mean latency (s)");
    let mut reward = LineChart::new("Reward by replicas", x_label, "mean return");
    let mut counts = Vec::new();
    for agent in agents {
        let mut groups: BTreeMap<usize, Vec<&TrainRow>> = BTreeMap::new();
        for row in train.iter().filter(|r| &r.policy == agent) {
            let replicas = row.mean_replicas.round() as usize;
            groups.entry(replicas).or_default().push(row);
        }
        let per_group = |metric: Metric| -> Vec<(f64, f64)> {
            let group_mean = |rows: &Vec<&TrainRow>| {
                mean(&rows.iter().map(|row| metric.of(row)).collect::<Vec<_>>())
            };
            groups
                .iter()
                .map(|(&r, rows)| (r as f64, group_mean(rows)))
                .collect()
        };
        latency = latency.series(Series::new(agent, per_group(Metric::Latency)).with_markers());
        reward = reward.series(Series::new(agent, per_group(Metric::Return)).with_markers());
        let sizes: Vec<String> = groups
            .iter()
            .map(|(r, rows)| format!("{r}: {}", rows.len()))
            .collect();
        counts.push(format!("{agent} {}", sizes.join(", ")));
    }
    let figure = Figure::new(
        dir,
        "fig3_replica_selection.png",
        format!(
            "Figure 3: training episodes grouped by their mean replica count; mean latency (left) \
             and mean return (right) per group (episodes per group: {}).",
            counts.join("; ")
        ),
    );
    save_panels(&figure.path, &[latency, reward])?;
    Ok(figure)
}

/// Ours: PPO against the baselines (return with 95% CI), replica histograms, live against sim.
pub fn comparison_figures(results: &ExperimentResults, dir: &Path) -> anyhow::Result<Vec<Figure>> {
    let mut figures = Vec::new();
    if let Some(summary) = results.summary.as_ref().filter(|s| !s.is_empty()) {
        let bars = summary
            .iter()
            .map(|row| Bar {
                label: row.policy.clone(),
                value: row.mean_return,
                low: row.return_ci_low,
                high: row.return_ci_high,
                group: policy_group(&row.policy),
            })
            .collect();
        let chart = BarChart {
            title: "PPO against the baselines".into(),
            x_label: "mean return per evaluation episode (95% CI over seeds)".into(),
            bars,
        };
        let figure = Figure::new(
            dir,
            "ppo_vs_baselines.png",
            "Return of every policy on the shared evaluation episodes (higher is better): PPO \
             agents blue, static counts orange, +-1 walks green, HPA and threshold red, oracle purple.",
        );
        chart.save(&figure.path)?;
        figures.push(figure);
        if let Some(histogram) = replica_histograms(results, dir)? {
            figures.push(histogram);
        }
    }
    if let Some(live) = results.live.as_ref().filter(|l| !l.is_empty()) {
        let points = |backend: &str| -> Vec<(f64, f64)> {
            live.iter()
                .filter(|r| r.backend == backend)
                .map(|r| (r.episode as f64, r.mean_latency_s))
                .collect()
        };
        let chart = LineChart::new("Live against simulated", "episode", "mean latency (s)")
            .series(Series::new("live replicas", points("live")).with_markers())
            .series(
                Series::new("simulator", points("sim"))
                    .with_markers()
                    .dashed(),
            );
        let figure = Figure::new(
            dir,
            "live_vs_sim.png",
            format!(
                "The trained {} on local replicas (real encrypted requests) beside the simulator's \
                 prediction for the same workload seeds, per episode.",
                live[0].policy
            ),
        );
        chart.save(&figure.path)?;
        figures.push(figure);
    }
    Ok(figures)
}

/// Colour group of a policy: PPO agents, static counts, +-1 walks, rules, oracle.
fn policy_group(policy: &str) -> usize {
    match policy {
        p if p.starts_with("ppo") => 0,
        p if p.starts_with("static") => 1,
        p if p.starts_with("step") => 2,
        "oracle" => 4,
        _ => 3,
    }
}

/// Share of steps at each replica count for the PPO agents, the rules, the oracle and the best
/// static count.
fn replica_histograms(results: &ExperimentResults, dir: &Path) -> anyhow::Result<Option<Figure>> {
    let (Some(replicas), Some(summary)) = (&results.replicas, &results.summary) else {
        return Ok(None);
    };
    let best_static = summary
        .iter()
        .filter(|r| r.policy.starts_with("static"))
        .max_by(|a, b| a.mean_return.total_cmp(&b.mean_return))
        .map(|r| r.policy.clone());
    let shown = summary
        .iter()
        .map(|r| r.policy.clone())
        .filter(|p| policy_group(p) != 1 && policy_group(p) != 2)
        .chain(best_static);
    let mut chart = LineChart::new("Replica counts held", "replicas", "share of steps");
    let most = replicas.iter().map(|r| r.replicas).max().unwrap_or(1);
    for policy in shown {
        // Counts a policy never held are absent from the file: they are 0, not gaps.
        let share = |count: usize| {
            replicas
                .iter()
                .find(|r| r.policy == policy && r.replicas == count)
                .map_or(0.0, |r| r.share)
        };
        let points = (1..=most).map(|c| (c as f64, share(c))).collect();
        chart = chart.series(Series::new(policy, points).with_markers());
    }
    let figure = Figure::new(
        dir,
        "replica_histograms.png",
        "How often each policy held each replica count over the evaluation episodes.",
    );
    chart.save(&figure.path)?;
    Ok(Some(figure))
}
