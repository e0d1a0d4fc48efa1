//! The autoscaling study's files, one row type each: `rl_workloads.csv`, `rl_tuning.csv`,
//! `rl_train.csv`, `rl_eval.csv`, `rl_summary.csv`, `rl_diagnostics.csv`, `rl_steps.csv` and
//! `rl_replicas.csv`. Costs are per test episode, lower is better: replica-hours at the spec's
//! price plus its penalty per violated request (open-loop workloads), or minus the paper's
//! reward (`bursts`).

use serde::{Deserialize, Serialize};

use crate::autoscale::agent::Collapse;
use crate::autoscale::env::{EpisodeMetrics, StepTrace};
use crate::autoscale::protocol::Tuned;
use crate::autoscale::summary::{ControllerSummary, WorkloadSummary};
use crate::output::Table;
use crate::stats::compare::Interval;

/// `rl_workloads.csv`: one workload, whether it separates controllers, whether the oracle held.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkloadRow {
    pub workload: String,
    /// `bursts`, `trace`, `diurnal`, `ramp`, `flash-crowd` or `on-off`.
    pub kind: String,
    pub test_episodes: usize,
    /// The static count chosen on validation, and its mean test cost.
    pub best_static: String,
    pub static_cost: f64,
    pub oracle_cost: f64,
    /// `(static - oracle) / static`.
    pub gap_share: f64,
    /// The gap is at least 20% of the static cost.
    pub informative: bool,
    /// Test episodes a controller was cheaper than the oracle on (0: the oracle is a bound).
    pub oracle_beaten: usize,
    /// What calibrated the simulator.
    pub service: String,
}

impl WorkloadRow {
    pub fn new(w: &WorkloadSummary, kind: &str, service: &str) -> Self {
        Self {
            workload: w.workload.clone(),
            kind: kind.into(),
            test_episodes: w.episodes,
            best_static: w.best_static.clone(),
            static_cost: w.static_cost,
            oracle_cost: w.oracle_cost,
            gap_share: w.gap_share,
            informative: w.informative,
            oracle_beaten: w.oracle_beaten,
            service: service.into(),
        }
    }
}

/// The line over a workload's summary table: its test episodes, best static count and the
/// share of its cost the oracle saves.
pub fn summary_title(w: &WorkloadSummary) -> String {
    format!(
        "{}: {} test episodes, best static {} (chosen on validation), oracle saves {:.0}%{}",
        w.workload,
        w.episodes,
        w.best_static,
        100.0 * w.gap_share,
        if w.informative {
            ""
        } else {
            " (under 20%: not informative)"
        }
    )
}

/// Every controller of a workload (of the static counts, the chosen one): cost and score with
/// their intervals, the chance of beating the static count, and constant PPO seeds.
pub fn summary_table(summaries: &[ControllerSummary]) -> Table {
    let mut table = Table::new(&[
        "controller",
        "IQM cost [95% CI]",
        "score [95% CI]",
        "P(beats static)",
        "violations/ep",
        "replicas",
        "constant seeds",
    ])
    .align_left(0);
    for s in summaries.iter().filter(|s| s.kind != "static" || s.chosen) {
        table.row(vec![
            s.controller.clone(),
            s.cost.show(4),
            s.score.show(2),
            s.vs_static
                .map_or("-".into(), |p| format!("{:.2}", p.estimate)),
            format!("{:.1}", s.violations_per_episode),
            format!("{:.2}", s.mean_replicas),
            if s.kind == "ppo" {
                format!("{}/{}", s.constant_runs, s.runs)
            } else {
                "-".into()
            },
        ]);
    }
    table
}

/// `rl_tuning.csv`: one configuration's mean cost on the validation episodes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TuningRow {
    pub workload: String,
    pub family: String,
    pub config: String,
    pub validation_cost: f64,
    pub chosen: bool,
}

impl TuningRow {
    pub fn new(workload: &str, t: &Tuned) -> Self {
        Self {
            workload: workload.into(),
            family: t.family.clone(),
            config: t.config.clone(),
            validation_cost: t.validation_cost,
            chosen: t.chosen,
        }
    }
}

/// `rl_train.csv`: training episodes of a PPO agent, one per row on `bursts` (the paper's
/// figures 3 to 6), averaged in blocks on the longer open-loop trainings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainRow {
    pub workload: String,
    pub policy: String,
    pub seed: u64,
    /// The first episode of the block (0-based) and how many the row averages.
    pub episode: usize,
    pub episodes: usize,
    /// Minus the episode's cost: the paper's return on `bursts`.
    #[serde(rename = "return")]
    pub episode_return: f64,
    pub mean_latency_s: f64,
    pub mean_replicas: f64,
    pub violations: f64,
}

impl TrainRow {
    /// The mean of `block`, training episodes `episode..` of one (workload, agent, seed).
    pub fn new(who: (&str, &str, u64), episode: usize, block: &[&EpisodeMetrics]) -> Self {
        let (workload, policy, seed) = who;
        let mean = |f: fn(&EpisodeMetrics) -> f64| {
            block.iter().map(|m| f(m)).sum::<f64>() / block.len().max(1) as f64
        };
        Self {
            workload: workload.into(),
            policy: policy.into(),
            seed,
            episode,
            episodes: block.len(),
            episode_return: -mean(|m| m.cost),
            mean_latency_s: mean(|m| m.mean_latency_s),
            mean_replicas: mean(|m| m.mean_replicas),
            violations: mean(|m| m.violations as f64),
        }
    }
}

/// `rl_eval.csv`: one controller (one training seed for PPO) on one test episode.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalRow {
    pub workload: String,
    pub controller: String,
    pub kind: String,
    /// PPO's training seed; 0 otherwise.
    pub seed: u64,
    pub episode: usize,
    pub label: String,
    pub cost: f64,
    pub requests: usize,
    pub violations: usize,
    pub rejected: usize,
    pub mean_latency_s: f64,
    pub p95_latency_s: f64,
    pub pod_seconds: f64,
    pub mean_replicas: f64,
    pub scaling_actions: usize,
}

/// Which run of which controller on which episode.
#[derive(Debug, Clone, Copy)]
pub struct EvalKey<'a> {
    pub workload: &'a str,
    pub controller: &'a str,
    pub kind: &'a str,
    pub seed: u64,
    pub episode: usize,
    pub label: &'a str,
}

impl EvalRow {
    pub fn new(key: EvalKey, m: &EpisodeMetrics) -> Self {
        Self {
            workload: key.workload.into(),
            controller: key.controller.into(),
            kind: key.kind.into(),
            seed: key.seed,
            episode: key.episode,
            label: key.label.into(),
            cost: m.cost,
            requests: m.requests,
            violations: m.violations,
            rejected: m.rejected,
            mean_latency_s: m.mean_latency_s,
            p95_latency_s: m.p95_latency_s,
            pod_seconds: m.pod_seconds,
            mean_replicas: m.mean_replicas,
            scaling_actions: m.scaling_actions,
        }
    }
}

/// `rl_summary.csv`: one controller over a workload's test episodes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SummaryRow {
    pub workload: String,
    pub controller: String,
    /// `static`, `rule`, `model`, `ppo` or `oracle`.
    pub kind: String,
    pub config: String,
    /// Chosen on validation (for static counts: the one the others are compared with).
    pub chosen: bool,
    pub runs: usize,
    pub episodes: usize,
    /// Cost per episode: interquartile mean over runs x episodes with its 95% interval.
    pub iqm_cost: f64,
    pub cost_low: f64,
    pub cost_high: f64,
    pub mean_cost: f64,
    /// Normalised score (0 = best static, 1 = oracle): IQM and interval.
    pub iqm_score: f64,
    pub score_low: f64,
    pub score_high: f64,
    /// P(lower cost than the best static count / HPA / MPC on the same episode).
    pub p_beats_static: Option<f64>,
    pub p_beats_static_low: Option<f64>,
    pub p_beats_static_high: Option<f64>,
    pub p_beats_hpa: Option<f64>,
    pub p_beats_hpa_low: Option<f64>,
    pub p_beats_hpa_high: Option<f64>,
    pub p_beats_mpc: Option<f64>,
    pub p_beats_mpc_low: Option<f64>,
    pub p_beats_mpc_high: Option<f64>,
    /// Mean paired cost difference to the best static count and to MPC (negative: cheaper).
    pub minus_static: Option<f64>,
    pub minus_static_low: Option<f64>,
    pub minus_static_high: Option<f64>,
    pub minus_mpc: Option<f64>,
    pub minus_mpc_low: Option<f64>,
    pub minus_mpc_high: Option<f64>,
    pub mean_latency_s: f64,
    pub p95_latency_s: f64,
    pub violations_per_episode: f64,
    pub rejected_per_episode: f64,
    pub pod_seconds_per_episode: f64,
    pub mean_replicas: f64,
    pub scaling_actions_per_episode: f64,
    /// PPO: seeds whose actions collapsed to one, and the mean action entropy in bits.
    pub constant_runs: usize,
    pub mean_entropy_bits: f64,
}

fn split(i: Option<Interval>) -> (Option<f64>, Option<f64>, Option<f64>) {
    (i.map(|i| i.estimate), i.map(|i| i.low), i.map(|i| i.high))
}

impl SummaryRow {
    pub fn new(workload: &str, s: &ControllerSummary) -> Self {
        let (p_beats_static, p_beats_static_low, p_beats_static_high) = split(s.vs_static);
        let (p_beats_hpa, p_beats_hpa_low, p_beats_hpa_high) = split(s.vs_hpa);
        let (p_beats_mpc, p_beats_mpc_low, p_beats_mpc_high) = split(s.vs_mpc);
        let (minus_static, minus_static_low, minus_static_high) = split(s.minus_static);
        let (minus_mpc, minus_mpc_low, minus_mpc_high) = split(s.minus_mpc);
        Self {
            workload: workload.into(),
            controller: s.controller.clone(),
            kind: s.kind.into(),
            config: s.config.clone(),
            chosen: s.chosen,
            runs: s.runs,
            episodes: s.episodes,
            iqm_cost: s.cost.estimate,
            cost_low: s.cost.low,
            cost_high: s.cost.high,
            mean_cost: s.mean_cost,
            iqm_score: s.score.estimate,
            score_low: s.score.low,
            score_high: s.score.high,
            p_beats_static,
            p_beats_static_low,
            p_beats_static_high,
            p_beats_hpa,
            p_beats_hpa_low,
            p_beats_hpa_high,
            p_beats_mpc,
            p_beats_mpc_low,
            p_beats_mpc_high,
            minus_static,
            minus_static_low,
            minus_static_high,
            minus_mpc,
            minus_mpc_low,
            minus_mpc_high,
            mean_latency_s: s.mean_latency_s,
            p95_latency_s: s.p95_latency_s,
            violations_per_episode: s.violations_per_episode,
            rejected_per_episode: s.rejected_per_episode,
            pod_seconds_per_episode: s.pod_seconds_per_episode,
            mean_replicas: s.mean_replicas,
            scaling_actions_per_episode: s.scaling_actions_per_episode,
            constant_runs: s.constant_runs,
            mean_entropy_bits: s.mean_entropy_bits,
        }
    }

    pub fn score(&self) -> Interval {
        Interval {
            estimate: self.iqm_score,
            low: self.score_low,
            high: self.score_high,
        }
    }

    pub fn cost(&self) -> Interval {
        Interval {
            estimate: self.iqm_cost,
            low: self.cost_low,
            high: self.cost_high,
        }
    }

    /// The probability of beating `rival` (`static`, `hpa` or `mpc`), with its interval.
    pub fn beats(&self, rival: &str) -> Option<Interval> {
        let (e, l, h) = match rival {
            "static" => (
                self.p_beats_static,
                self.p_beats_static_low,
                self.p_beats_static_high,
            ),
            "hpa" => (
                self.p_beats_hpa,
                self.p_beats_hpa_low,
                self.p_beats_hpa_high,
            ),
            "mpc" => (
                self.p_beats_mpc,
                self.p_beats_mpc_low,
                self.p_beats_mpc_high,
            ),
            _ => return None,
        };
        Some(Interval {
            estimate: e?,
            low: l?,
            high: h?,
        })
    }

    /// The mean paired cost difference to `rival` (`static` or `mpc`), with its interval.
    pub fn minus(&self, rival: &str) -> Option<Interval> {
        let (e, l, h) = match rival {
            "static" => (
                self.minus_static,
                self.minus_static_low,
                self.minus_static_high,
            ),
            "mpc" => (self.minus_mpc, self.minus_mpc_low, self.minus_mpc_high),
            _ => return None,
        };
        Some(Interval {
            estimate: e?,
            low: l?,
            high: h?,
        })
    }
}

/// `rl_diagnostics.csv`: whether one PPO seed's policy collapsed to constant actions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CollapseRow {
    pub workload: String,
    pub policy: String,
    pub seed: u64,
    /// Entropy of its action distribution over the test steps, in bits.
    pub entropy_bits: f64,
    pub modal_action: usize,
    pub modal_share: f64,
    pub distinct_actions: usize,
    /// One action on at least 99% of the steps.
    pub constant: bool,
    /// The static count whose replicas it held on every test step, if any.
    pub equals_static: Option<String>,
}

impl CollapseRow {
    pub fn new(
        workload: &str,
        policy: &str,
        seed: u64,
        c: &Collapse,
        same: Option<String>,
    ) -> Self {
        Self {
            workload: workload.into(),
            policy: policy.into(),
            seed,
            entropy_bits: c.entropy_bits,
            modal_action: c.modal_action,
            modal_share: c.modal_share,
            distinct_actions: c.distinct_actions,
            constant: c.constant(),
            equals_static: same,
        }
    }
}

/// `rl_steps.csv`: one step of the first test episode of a controller (the first seed of PPO):
/// what the simulator saw (arrivals, completions, queue, refused, timed out, latency quantiles,
/// ready replicas, pod-seconds) and what the step cost.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepRow {
    pub workload: String,
    pub controller: String,
    pub label: String,
    pub step: usize,
    pub time_s: f64,
    pub arrivals: usize,
    pub arrival_rate: f64,
    pub completions: usize,
    pub rejected: usize,
    pub timed_out: usize,
    pub queue: usize,
    pub replicas: usize,
    pub ready: usize,
    pub p50_latency_s: f64,
    pub p95_latency_s: f64,
    pub violations: usize,
    pub pod_seconds: f64,
    pub cost: f64,
}

impl StepRow {
    pub fn new(who: (&str, &str, &str), step: usize, t: &StepTrace) -> Self {
        let (workload, controller, label) = who;
        Self {
            workload: workload.into(),
            controller: controller.into(),
            label: label.into(),
            step,
            time_s: t.time_s,
            arrivals: t.arrivals,
            arrival_rate: t.arrival_rate,
            completions: t.completions,
            rejected: t.rejected,
            timed_out: t.timed_out,
            queue: t.queue,
            replicas: t.replicas,
            ready: t.ready,
            p50_latency_s: t.p50_latency_s,
            p95_latency_s: t.p95_latency_s,
            violations: t.violations,
            pod_seconds: t.pod_seconds,
            cost: t.cost,
        }
    }
}

/// `rl_replicas.csv`: how many test steps a controller held a replica count.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReplicaRow {
    pub workload: String,
    pub controller: String,
    pub replicas: usize,
    pub steps: usize,
    pub share: f64,
}

/// `rl_live.csv`: one episode of the paper's policy, live on local replicas or as the
/// simulator predicts it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LiveRow {
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
}
