//! The autoscaling study in the report: per workload, every compared controller with its
//! interquartile-mean cost, normalised score and probabilities of improvement; PPO's collapse
//! diagnostics; and what each family was tuned to on validation.

use std::fmt::Write as _;

use crate::output::Table;
use crate::results::autoscale::{CollapseRow, SummaryRow};
use crate::results::ExperimentResults;
use crate::stats::compare::Interval;

/// An interval with `digits` decimals, `-` when there is none.
pub(super) fn interval(i: Option<Interval>, digits: usize) -> String {
    i.map_or("-".into(), |i| i.show(digits))
}

/// One markdown section per workload.
pub fn sections(r: &ExperimentResults) -> String {
    let (Some(summary), Some(workloads)) = (&r.summary, &r.workloads) else {
        return String::new();
    };
    let mut md = String::new();
    for w in workloads {
        let rows: Vec<&SummaryRow> = summary
            .iter()
            .filter(|s| s.workload == w.workload)
            .collect();
        let _ = write!(
            md,
            "### Autoscaling on `{}` ({} test episodes)\n\n{}\n",
            w.workload,
            w.test_episodes,
            controllers(&rows).markdown()
        );
        if let Some(table) = collapse(r.diagnostics.as_deref().unwrap_or_default(), &w.workload) {
            let _ = write!(
                md,
                "PPO's actions on the test episodes, per training seed:\n\n{}\n",
                table.markdown()
            );
        }
        let choices = tuning(r, &w.workload);
        if !choices.is_empty() {
            let _ = write!(md, "Chosen on the validation episodes: {choices}.\n\n");
        }
    }
    md
}

fn controllers(rows: &[&SummaryRow]) -> Table {
    let mut table = Table::new(&[
        "controller",
        "kind",
        "IQM cost [95% CI]",
        "normalised score",
        "P(cheaper than static)",
        "P(cheaper than MPC)",
        "SLO violations / ep",
        "mean replicas",
        "p95 latency s",
    ])
    .align_left(0)
    .align_left(1);
    for row in rows.iter().filter(|r| r.kind != "static" || r.chosen) {
        table.row(vec![
            row.controller.clone(),
            row.kind.clone(),
            interval(Some(row.cost()), 4),
            interval(Some(row.score()), 2),
            interval(row.beats("static"), 2),
            interval(row.beats("mpc"), 2),
            format!("{:.1}", row.violations_per_episode),
            format!("{:.2}", row.mean_replicas),
            format!("{:.1}", row.p95_latency_s),
        ]);
    }
    table
}

fn collapse(rows: &[CollapseRow], workload: &str) -> Option<Table> {
    let rows: Vec<&CollapseRow> = rows.iter().filter(|r| r.workload == workload).collect();
    if rows.is_empty() {
        return None;
    }
    let mut table = Table::new(&[
        "agent",
        "seeds",
        "constant (one action on >= 99% of steps)",
        "same replicas as a static count",
        "action entropy, bits (min / mean / max)",
        "modal share (mean)",
    ])
    .align_left(0);
    for (agent, seeds) in crate::stats::group_in_order(&rows, |r| r.policy.clone()) {
        let entropy: Vec<f64> = seeds.iter().map(|r| r.entropy_bits).collect();
        let spread = crate::stats::Summary::of(entropy.iter().copied());
        let same: Vec<String> = seeds
            .iter()
            .filter_map(|r| r.equals_static.clone())
            .collect();
        table.row(vec![
            agent,
            seeds.len().to_string(),
            seeds.iter().filter(|r| r.constant).count().to_string(),
            if same.is_empty() {
                "0".into()
            } else {
                format!("{} ({})", same.len(), same.join(", "))
            },
            format!("{:.2} / {:.2} / {:.2}", spread.min, spread.mean, spread.max),
            format!(
                "{:.2}",
                crate::stats::mean(&seeds.iter().map(|r| r.modal_share).collect::<Vec<_>>())
            ),
        ]);
    }
    Some(table)
}

fn tuning(r: &ExperimentResults, workload: &str) -> String {
    r.tuning
        .iter()
        .flatten()
        .filter(|t| t.workload == workload && t.chosen && t.family != "static")
        .map(|t| format!("{} `{}`", t.family, t.config))
        .collect::<Vec<_>>()
        .join("; ")
}
