//! What the test episodes say about each controller of a workload: interquartile means with
//! bootstrap intervals over runs x episodes, the normalised score (0 = the static count chosen on
//! validation, 1 = the oracle), the probability of improvement over the baselines, and whether
//! the workload separates controllers at all.

use super::protocol::{Outcome, Tested};
use crate::stats::compare::{difference_interval, improvement_interval, iqm_interval, Interval};
use crate::stats::mean;

/// A workload separates controllers when the oracle saves at least this share of the best
/// static count's cost.
pub const INFORMATIVE_GAP: f64 = 0.2;

/// One controller on one workload's test episodes.
#[derive(Debug, Clone, PartialEq)]
pub struct ControllerSummary {
    pub controller: String,
    pub kind: &'static str,
    pub config: String,
    pub chosen: bool,
    pub runs: usize,
    pub episodes: usize,
    /// Cost per episode: IQM and interval over runs x episodes; and the plain mean.
    pub cost: Interval,
    pub mean_cost: f64,
    /// `(static - cost) / mean(static - oracle)` per run and episode: IQM and interval.
    pub score: Interval,
    /// Probability of a lower cost than the chosen static count, HPA and MPC on the same
    /// episode (rliable's probability of improvement), with intervals.
    pub vs_static: Option<Interval>,
    pub vs_hpa: Option<Interval>,
    pub vs_mpc: Option<Interval>,
    /// Mean paired cost difference to the chosen static count and to MPC (negative: cheaper).
    pub minus_static: Option<Interval>,
    pub minus_mpc: Option<Interval>,
    pub mean_latency_s: f64,
    pub p95_latency_s: f64,
    pub violations_per_episode: f64,
    pub rejected_per_episode: f64,
    pub pod_seconds_per_episode: f64,
    pub mean_replicas: f64,
    pub scaling_actions_per_episode: f64,
    /// PPO: runs whose actions collapsed to one, and the mean action entropy (bits).
    pub constant_runs: usize,
    pub mean_entropy_bits: f64,
}

/// The workload as a whole.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkloadSummary {
    pub workload: String,
    pub episodes: usize,
    /// The static count chosen on validation.
    pub best_static: String,
    pub static_cost: f64,
    pub oracle_cost: f64,
    /// `(static - oracle) / static`: what a perfect controller saves.
    pub gap_share: f64,
    pub informative: bool,
    /// Test episodes on which a controller was cheaper than the oracle (0 when it is right).
    pub oracle_beaten: usize,
}

/// Costs as a runs x episodes matrix.
fn costs(t: &Tested) -> Vec<Vec<f64>> {
    t.runs
        .iter()
        .map(|(_, runs)| runs.iter().map(|m| m.cost).collect())
        .collect()
}

/// The probability that `x` costs less than `y` on the same episode, with its interval (the
/// probability of improvement on scores, which are higher-is-better: minus the costs).
fn cheaper(x: &[Vec<f64>], y: &[Vec<f64>], seed: u64) -> Interval {
    let negated = |m: &[Vec<f64>]| -> Vec<Vec<f64>> {
        m.iter()
            .map(|run| run.iter().map(|c| -c).collect())
            .collect()
    };
    improvement_interval(&negated(x), &negated(y), seed)
}

/// The mean over runs and episodes of `f`.
fn over_all(t: &Tested, f: impl Fn(&super::EpisodeMetrics) -> f64) -> f64 {
    let values: Vec<f64> = t
        .runs
        .iter()
        .flat_map(|(_, runs)| runs.iter().map(&f))
        .collect();
    mean(&values)
}

/// Summaries of every controller, and of the workload; `None` without a static count or
/// oracle among the tested.
pub fn summarize(
    outcome: &Outcome,
    seed: u64,
) -> Option<(WorkloadSummary, Vec<ControllerSummary>)> {
    let fixed = outcome.chosen_static()?;
    let oracle = outcome.find("oracle")?;
    let (fixed_costs, oracle_costs) = (costs(fixed), costs(oracle));
    let gaps: Vec<f64> = fixed_costs[0]
        .iter()
        .zip(&oracle_costs[0])
        .map(|(s, o)| s - o)
        .collect();
    let mean_gap = mean(&gaps);
    let static_cost = mean(&fixed_costs[0]);
    let oracle_cost = mean(&oracle_costs[0]);
    let gap_share = if static_cost > 0.0 {
        mean_gap / static_cost
    } else {
        0.0
    };
    let workload = WorkloadSummary {
        workload: outcome.workload.clone(),
        episodes: gaps.len(),
        best_static: fixed.controller.clone(),
        static_cost,
        oracle_cost,
        gap_share,
        informative: gap_share >= INFORMATIVE_GAP,
        oracle_beaten: outcome.oracle_beaten.len(),
    };
    let rival = |name: &str| outcome.find(name).map(costs);
    let (hpa, mpc) = (rival("hpa"), rival("mpc"));
    let summaries = outcome
        .tested
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let c = costs(t);
            let seed = seed.wrapping_add(i as u64 * 7919);
            let scores: Vec<Vec<f64>> = c
                .iter()
                .map(|run| {
                    run.iter()
                        .zip(&fixed_costs[0])
                        .map(|(x, s)| {
                            if mean_gap > 0.0 {
                                (s - x) / mean_gap
                            } else {
                                0.0
                            }
                        })
                        .collect()
                })
                .collect();
            let against =
                |other: &Option<Vec<Vec<f64>>>| other.as_ref().map(|o| cheaper(&c, o, seed + 1));
            let entropies: Vec<f64> = t.collapse.iter().map(|c| c.entropy_bits).collect();
            ControllerSummary {
                controller: t.controller.clone(),
                kind: t.kind,
                config: t.config.clone(),
                chosen: t.chosen,
                runs: t.runs.len(),
                episodes: c.first().map_or(0, Vec::len),
                cost: iqm_interval(&c, seed),
                mean_cost: mean(&c.concat()),
                score: iqm_interval(&scores, seed + 2),
                vs_static: Some(cheaper(&c, &fixed_costs, seed + 3)),
                vs_hpa: against(&hpa),
                vs_mpc: against(&mpc),
                minus_static: Some(difference_interval(&c, &fixed_costs, seed + 4)),
                minus_mpc: mpc.as_ref().map(|m| difference_interval(&c, m, seed + 5)),
                mean_latency_s: over_all(t, |m| m.mean_latency_s),
                p95_latency_s: over_all(t, |m| m.p95_latency_s),
                violations_per_episode: over_all(t, |m| m.violations as f64),
                rejected_per_episode: over_all(t, |m| m.rejected as f64),
                pod_seconds_per_episode: over_all(t, |m| m.pod_seconds),
                mean_replicas: over_all(t, |m| m.mean_replicas),
                scaling_actions_per_episode: over_all(t, |m| m.scaling_actions as f64),
                constant_runs: t.collapse.iter().filter(|c| c.constant()).count(),
                mean_entropy_bits: mean(&entropies),
            }
        })
        .collect();
    Some((workload, summaries))
}

/// For each run of a PPO controller: the static count whose replica trajectory it equals on
/// every test episode, if any (a policy that is a static count in disguise).
pub fn equals_static(outcome: &Outcome, ppo: &Tested) -> Vec<Option<String>> {
    ppo.runs
        .iter()
        .map(|(_, runs)| {
            outcome
                .tested
                .iter()
                .filter(|t| t.kind == "static")
                .find(|s| {
                    s.runs[0]
                        .1
                        .iter()
                        .zip(runs)
                        .all(|(a, b)| a.replicas == b.replicas)
                })
                .map(|s| s.controller.clone())
        })
        .collect()
}
