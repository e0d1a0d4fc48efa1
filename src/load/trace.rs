//! A per-minute trace replayed as open-loop load: minute `m` of the trace lasts `60 / compress`
//! seconds and brings `scale x requests(m)` arrivals on average, as a Poisson process whose rate
//! is constant within the minute (seeded, so a replay can be repeated exactly).

use super::open_loop::Sent;
use super::RequestRecord;
use crate::workload::trace::Trace;
use crate::workload::{Episode, Split};

/// Which part of a trace to replay, and how fast.
#[derive(Debug, Clone, PartialEq)]
pub struct Replay {
    /// First minute replayed (0: the file's first row).
    pub start_minute: usize,
    /// Minutes replayed; `None`: to the end of the file.
    pub minutes: Option<usize>,
    /// Time compression: a trace minute lasts `60 / compress` seconds.
    pub compress: f64,
    /// Multiplier on every minute's request count.
    pub scale: f64,
    pub seed: u64,
}

impl Replay {
    /// The trace minutes replayed, as an episode of requests per second (bins of
    /// `60 / compress` seconds).
    pub fn episode(&self, trace: &Trace) -> anyhow::Result<Episode> {
        anyhow::ensure!(
            self.compress > 0.0 && self.compress.is_finite(),
            "--compress must be a positive number, not {}",
            self.compress
        );
        anyhow::ensure!(
            self.scale >= 0.0 && self.scale.is_finite(),
            "--scale must be a non-negative number, not {}",
            self.scale
        );
        let total = trace.counts.len();
        anyhow::ensure!(
            self.start_minute < total,
            "{}: --start-minute {} is past its {total} minutes",
            trace.path.display(),
            self.start_minute
        );
        let end = self
            .minutes
            .map_or(total, |m| (self.start_minute + m).min(total));
        let bin_s = 60.0 / self.compress;
        let load = trace.counts[self.start_minute..end]
            .iter()
            .map(|&count| f64::from(count) * self.scale / bin_s)
            .collect();
        Ok(Episode {
            split: Split::Test,
            index: 0,
            label: format!(
                "{} minutes {}..{end}",
                trace.path.display(),
                self.start_minute
            ),
            load,
            bin_s,
            seed: self.seed,
        })
    }
}

/// When each request of a replayed `episode` is due, in seconds from its start (its seeded
/// Poisson arrivals).
pub fn arrivals_s(episode: &Episode) -> Vec<f64> {
    episode.arrivals(1.0).iter().map(|a| a.time).collect()
}

/// The open-loop records as the load files record requests (time since the start, latency,
/// status, error).
pub fn records(sent: &[Sent]) -> Vec<RequestRecord> {
    sent.iter()
        .map(|s| RequestRecord {
            start_ms: s.due_s * 1e3 + s.lag_ms,
            latency_ms: s.latency_ms,
            status: s.status,
            error: s.error.clone(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trace(counts: Vec<u32>) -> Trace {
        Trace {
            path: "t.csv".into(),
            counts,
        }
    }

    #[test]
    fn a_replay_brings_the_scaled_counts_in_compressed_minutes() {
        let t = trace(vec![0, 600, 0, 1200]);
        let replay = Replay {
            start_minute: 1,
            minutes: Some(3),
            compress: 6.0,
            scale: 0.5,
            seed: 3,
        };
        let episode = replay.episode(&t).unwrap();
        assert_eq!(episode.duration_s(), 30.0);
        let arrivals = arrivals_s(&episode);
        let in_bin = |lo: f64, hi: f64| arrivals.iter().filter(|&&a| lo <= a && a < hi).count();
        // 300 expected in the first 10 s, none in the next, 600 in the last.
        assert!(
            (250..350).contains(&in_bin(0.0, 10.0)),
            "{}",
            in_bin(0.0, 10.0)
        );
        assert_eq!(in_bin(10.0, 20.0), 0);
        assert!(
            (530..670).contains(&in_bin(20.0, 30.0)),
            "{}",
            in_bin(20.0, 30.0)
        );
        assert!(arrivals.windows(2).all(|w| w[0] <= w[1]));
        assert_eq!(arrivals, arrivals_s(&replay.episode(&t).unwrap()), "seeded");
    }

    #[test]
    fn bad_settings_are_named() {
        let t = trace(vec![1, 2]);
        let mut replay = Replay {
            start_minute: 5,
            minutes: None,
            compress: 1.0,
            scale: 1.0,
            seed: 0,
        };
        let err = replay.episode(&t).unwrap_err().to_string();
        assert!(err.contains("--start-minute 5"), "{err}");
        replay.start_minute = 0;
        replay.compress = 0.0;
        let err = replay.episode(&t).unwrap_err().to_string();
        assert!(err.contains("--compress"), "{err}");
    }
}
