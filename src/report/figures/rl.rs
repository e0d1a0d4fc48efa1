//! The autoscaling figures: the paper's figures 3 to 6 from `rl_train.csv` (the `bursts`
//! workload), the study's normalised scores from `rl_summary.csv`, a test day of the trace from
//! `rl_steps.csv`, cost against SLO violations, replica histograms from `rl_replicas.csv`, and
//! live against simulated episodes from `rl_live.csv`.

use std::collections::BTreeMap;
use std::path::Path;

use super::chart::{save_panels, save_stacked, Bar, BarChart, LineChart, Series};
use super::Figure;
use crate::results::autoscale::{StepRow, SummaryRow, TrainRow};
use crate::results::ExperimentResults;
use crate::stats::{mean, Summary};

/// The name of the first workload of `kind` (`bursts`, `trace`, ...), if the study ran one.
pub fn workload_of_kind(results: &ExperimentResults, kind: &str) -> Option<String> {
    results
        .workloads
        .as_ref()?
        .iter()
        .find(|w| w.kind == kind)
        .map(|w| w.workload.clone())
}

/// Figures 3 to 6 of paper A, for the agents trained with the first (the paper's) budget on the
/// `bursts` workload.
pub fn paper_figures(results: &ExperimentResults, dir: &Path) -> anyhow::Result<Vec<Figure>> {
    let Some(bursts) = workload_of_kind(results, "bursts") else {
        return Ok(Vec::new());
    };
    let train: Vec<TrainRow> = results
        .train
        .iter()
        .flatten()
        .filter(|r| r.workload == bursts)
        .cloned()
        .collect();
    if train.is_empty() {
        return Ok(Vec::new());
    }
    let agents = paper_budget_agents(&train);
    let mut figures = vec![replica_selection(&train, &agents, dir)?];
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
            chart = chart.series(over_seeds(&train, agent, metric));
        }
        let figure = Figure::new(
            dir,
            file,
            format!(
                "{title} of training on the paper's bursts ({}): mean over seeds, band from the \
                 lowest to the highest seed.",
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
    let agents = crate::stats::group_in_order(train, |r| r.policy.clone());
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
            groups
                .entry(row.mean_replicas.round() as usize)
                .or_default()
                .push(row);
        }
        let per_group = |metric: Metric| -> Vec<(f64, f64)> {
            groups
                .iter()
                .map(|(&r, rows)| {
                    (
                        r as f64,
                        mean(&rows.iter().map(|row| metric.of(row)).collect::<Vec<_>>()),
                    )
                })
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
            "Figure 3: training episodes on the paper's bursts grouped by their mean replica count; \
             mean latency (left) and mean return (right) per group (episodes per group: {}).",
            counts.join("; ")
        ),
    );
    save_panels(&figure.path, &[latency, reward])?;
    Ok(figure)
}

/// Palette group of a controller kind.
fn kind_group(kind: &str) -> usize {
    match kind {
        "ppo" => 0,
        "static" => 1,
        "model" => 2,
        "rule" => 3,
        "oracle" => 4,
        _ => 7,
    }
}

/// The rows the study compares: every controller but the static counts not chosen.
fn compared(summary: &[SummaryRow]) -> impl Iterator<Item = &SummaryRow> {
    summary.iter().filter(|r| r.kind != "static" || r.chosen)
}

/// The study's figures.
pub fn comparison_figures(results: &ExperimentResults, dir: &Path) -> anyhow::Result<Vec<Figure>> {
    let mut figures = Vec::new();
    if let Some(summary) = results.summary.as_ref().filter(|s| !s.is_empty()) {
        figures.push(scores(summary, dir)?);
        if let Some(trace) = workload_of_kind(results, "trace") {
            figures.extend(trace_day(results, &trace, dir)?);
            figures.push(pareto(summary, &trace, dir)?);
        }
        if let Some(bursts) = workload_of_kind(results, "bursts") {
            figures.extend(replica_histograms(results, &bursts, dir)?);
        }
    }
    figures.extend(live_vs_sim(results, dir)?);
    Ok(figures)
}

/// Scores below this are drawn at it (their numbers are in the report's tables): the range that
/// matters is from a little below the static count (0) to the oracle (1).
const SCORE_FLOOR: f64 = -1.5;

/// Normalised score per workload and controller with its interval.
fn scores(summary: &[SummaryRow], dir: &Path) -> anyhow::Result<Figure> {
    let bars = compared(summary)
        .map(|row| {
            let off = row.iqm_score < SCORE_FLOOR;
            Bar {
                label: format!(
                    "{}: {}{}",
                    row.workload,
                    row.controller,
                    if off {
                        format!(" ({:.1})", row.iqm_score)
                    } else {
                        String::new()
                    }
                ),
                value: row.iqm_score.max(SCORE_FLOOR),
                low: row.score_low.max(SCORE_FLOOR),
                high: row.score_high.max(SCORE_FLOOR),
                group: kind_group(&row.kind),
            }
        })
        .collect();
    let chart = BarChart {
        title: "Autoscaling: normalised score on the test episodes".into(),
        x_label: "IQM of (best static - cost) / mean (best static - oracle), 95% CI over seeds x episodes"
            .into(),
        bars,
    };
    let figure = Figure::new(
        dir,
        "autoscale_scores.png",
        format!(
            "Normalised score of every controller on every workload's test episodes (0: the static \
             count chosen on validation, 1: the oracle; higher is better): PPO blue, static orange, \
             forecast and MPC green, rules (HPA, queue, threshold) red, oracle purple. Intervals are \
             stratified bootstraps over training seeds x test episodes; scores below {SCORE_FLOOR} \
             are drawn at it, their value in brackets."
        ),
    );
    chart.save(&figure.path)?;
    Ok(figure)
}

/// The first test day of the trace: arrivals, each controller's replicas and latency.
fn trace_day(
    results: &ExperimentResults,
    workload: &str,
    dir: &Path,
) -> anyhow::Result<Option<Figure>> {
    let Some(steps) = results.steps.as_ref() else {
        return Ok(None);
    };
    let rows: Vec<_> = steps.iter().filter(|s| s.workload == workload).collect();
    let Some(first) = rows.first() else {
        return Ok(None);
    };
    let shown = ["static", "hpa", "queue", "mpc", "oracle"];
    let hours = |t: f64, day: f64| 24.0 * t / day;
    let day = rows.iter().map(|s| s.time_s).fold(0.0, f64::max).max(1.0);
    let by_controller = crate::stats::group_in_order(&rows, |s| s.controller.clone());
    let chosen_static = results
        .summary
        .iter()
        .flatten()
        .find(|r| r.workload == workload && r.kind == "static" && r.chosen)
        .map(|r| r.controller.clone());
    let best_ppo = results
        .summary
        .iter()
        .flatten()
        .filter(|r| r.workload == workload && r.kind == "ppo")
        .max_by(|a, b| a.iqm_score.total_cmp(&b.iqm_score))
        .map(|r| r.controller.clone());
    let keep = |name: &str| {
        shown.contains(&name)
            || Some(name) == chosen_static.as_deref()
            || Some(name) == best_ppo.as_deref()
    };
    let mut arrivals = LineChart::new(
        "Arrivals",
        "hour of the (compressed) day",
        "requests per second",
    );
    let mut replicas = LineChart::new(
        "Replicas asked for",
        "hour of the (compressed) day",
        "replicas",
    );
    let mut latency = LineChart::new(
        "95th-percentile latency per step",
        "hour of the (compressed) day",
        "seconds",
    );
    if let Some((_, oracle_rows)) = by_controller.iter().find(|(c, _)| c == "oracle") {
        let points = oracle_rows
            .iter()
            .map(|s| (hours(s.time_s, day), s.arrival_rate))
            .collect();
        arrivals = arrivals.series(Series::new("arrivals", points));
    }
    for (controller, rows) in by_controller.iter().filter(|(c, _)| keep(c)) {
        let pick = |f: fn(&&StepRow) -> f64| -> Vec<(f64, f64)> {
            rows.iter().map(|s| (hours(s.time_s, day), f(s))).collect()
        };
        replicas = replicas.series(Series::new(
            controller.as_str(),
            pick(|s| s.replicas as f64),
        ));
        latency = latency.series(Series::new(controller.as_str(), pick(|s| s.p95_latency_s)));
    }
    let figure = Figure::new(
        dir,
        "autoscale_trace_day.png",
        format!(
            "The first test day of `{workload}` ({}): arrivals per second (top), the replicas each \
             controller asked for (middle; new replicas serve after the start-up delay) and the \
             step's 95th-percentile latency (bottom). PPO: the first training seed of the agent \
             with the best test score.",
            first.label
        ),
    );
    save_stacked(&figure.path, &[arrivals, replicas, latency])?;
    Ok(Some(figure))
}

/// Replica cost against SLO violations per controller on one workload.
fn pareto(summary: &[SummaryRow], workload: &str, dir: &Path) -> anyhow::Result<Figure> {
    let mut chart = LineChart::new(
        &format!("Cost against SLO violations ({workload})"),
        "SLO violations per test episode (late, refused or timed out)",
        "replica-hours per test episode",
    );
    for row in compared(summary).filter(|r| r.workload == workload) {
        let point = (
            row.violations_per_episode,
            row.pod_seconds_per_episode / 3600.0,
        );
        chart = chart.series(Series::new(row.controller.as_str(), vec![point]).with_markers());
    }
    let figure = Figure::new(
        dir,
        "autoscale_pareto.png",
        format!(
            "Replica-hours against SLO violations per test episode of `{workload}`, one point per \
             controller (PPO: mean over its seeds): down and left is better; the cost weighs the \
             two with the spec's price and penalty."
        ),
    );
    chart.save(&figure.path)?;
    Ok(figure)
}

/// Share of test steps at each replica count on the paper's bursts.
fn replica_histograms(
    results: &ExperimentResults,
    workload: &str,
    dir: &Path,
) -> anyhow::Result<Option<Figure>> {
    let (Some(replicas), Some(summary)) = (&results.replicas, &results.summary) else {
        return Ok(None);
    };
    let rows: Vec<_> = replicas.iter().filter(|r| r.workload == workload).collect();
    let most = rows.iter().map(|r| r.replicas).max().unwrap_or(1);
    let mut chart = LineChart::new(
        "Replica counts held (paper's bursts)",
        "replicas",
        "share of test steps",
    );
    for row in compared(summary).filter(|r| r.workload == workload) {
        // Counts a controller never held are absent from the file: they are 0, not gaps.
        let share = |count: usize| {
            rows.iter()
                .find(|r| r.controller == row.controller && r.replicas == count)
                .map_or(0.0, |r| r.share)
        };
        let points = (1..=most).map(|c| (c as f64, share(c))).collect();
        chart = chart.series(Series::new(row.controller.as_str(), points).with_markers());
    }
    let figure = Figure::new(
        dir,
        "replica_histograms.png",
        "How often each controller held each replica count over the test episodes of the paper's bursts.",
    );
    chart.save(&figure.path)?;
    Ok(Some(figure))
}

fn live_vs_sim(results: &ExperimentResults, dir: &Path) -> anyhow::Result<Option<Figure>> {
    let Some(live) = results.live.as_ref().filter(|l| !l.is_empty()) else {
        return Ok(None);
    };
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
    Ok(Some(figure))
}
