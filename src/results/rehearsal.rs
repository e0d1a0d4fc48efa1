//! `rehearsal.csv` (row: [`RehearsalRow`], owned by [`crate::operate::rehearsal`]): one summary
//! per controller and source (live or simulated), and its table.

pub use crate::operate::rehearsal::RehearsalRow;

use crate::output::Table;
use crate::stats::group_in_order;

/// One controller's run, live or simulated, in totals.
#[derive(Debug, Clone, PartialEq)]
pub struct RunSummary {
    pub controller: String,
    pub source: String,
    pub intervals: usize,
    pub arrivals: usize,
    /// Replicas asked for, integrated over time.
    pub replica_s: f64,
    pub mean_replicas: f64,
    pub peak_replicas: usize,
    pub violations: usize,
    /// Mean of the intervals' p95 latencies, over the intervals with arrivals.
    pub mean_p95_s: f64,
}

/// The runs of `rows`, in the order they appear.
pub fn summarize(rows: &[RehearsalRow]) -> Vec<RunSummary> {
    group_in_order(rows, |r| (r.controller.clone(), r.source.clone()))
        .into_iter()
        .map(|((controller, source), run)| {
            let mut replica_s = 0.0;
            let mut previous_t = 0.0;
            for r in &run {
                replica_s += r.replicas as f64 * (r.t_s - previous_t).max(0.0);
                previous_t = r.t_s;
            }
            let busy: Vec<f64> = run
                .iter()
                .filter(|r| r.arrivals > 0)
                .map(|r| r.p95_s)
                .collect();
            RunSummary {
                controller,
                source,
                intervals: run.len(),
                arrivals: run.iter().map(|r| r.arrivals).sum(),
                replica_s,
                mean_replicas: replica_s / previous_t.max(f64::MIN_POSITIVE),
                peak_replicas: run.iter().map(|r| r.replicas).max().unwrap_or(0),
                violations: run.iter().map(|r| r.violations).sum(),
                mean_p95_s: busy.iter().sum::<f64>() / busy.len().max(1) as f64,
            }
        })
        .collect()
}

pub const NOTE: &str = "Each controller on live local replicas under a replayed trace segment \
(`cipherscale rehearse`), beside the simulator's run of the same controller on the same arrival \
rates. Live p95 is read from the replicas' latency histograms (bucket resolution); every replica \
shares this machine's cores, which the simulator gives each replica for itself.\n\n";

pub fn table(rows: &[RehearsalRow]) -> Table {
    let mut table = Table::new(&[
        "controller",
        "source",
        "intervals",
        "arrivals",
        "replica-seconds",
        "mean replicas",
        "peak",
        "SLO violations",
        "mean interval p95 s",
    ])
    .align_left(0)
    .align_left(1);
    for run in summarize(rows) {
        table.row(vec![
            run.controller,
            run.source,
            run.intervals.to_string(),
            run.arrivals.to_string(),
            format!("{:.0}", run.replica_s),
            format!("{:.2}", run.mean_replicas),
            run.peak_replicas.to_string(),
            run.violations.to_string(),
            format!("{:.2}", run.mean_p95_s),
        ]);
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(source: &str, t_s: f64, replicas: usize, arrivals: usize, p95_s: f64) -> RehearsalRow {
        RehearsalRow {
            source: source.into(),
            controller: "mpc".into(),
            step: 0,
            t_s,
            arrivals,
            replicas,
            ready: replicas,
            p95_s,
            violations: usize::from(p95_s > 2.0),
        }
    }

    #[test]
    fn a_run_is_integrated_over_its_intervals() {
        let rows = [
            row("live", 5.0, 1, 3, 1.0),
            row("live", 10.0, 3, 6, 3.0),
            row("live", 15.0, 2, 0, 0.0),
            row("sim", 5.0, 2, 4, 1.0),
        ];
        let runs = summarize(&rows);
        assert_eq!(runs.len(), 2);
        let live = &runs[0];
        assert_eq!(
            (live.intervals, live.arrivals, live.peak_replicas),
            (3, 9, 3)
        );
        assert!((live.replica_s - 30.0).abs() < 1e-9);
        assert!((live.mean_replicas - 2.0).abs() < 1e-9);
        assert_eq!(live.violations, 1);
        assert!(
            (live.mean_p95_s - 2.0).abs() < 1e-9,
            "quiet intervals do not count"
        );
        assert_eq!((runs[1].source.as_str(), runs[1].replica_s), ("sim", 10.0));
    }
}
