//! What the autoscaler sees each interval: every replica's `/metrics` scraped and read
//! ([`Reading`]), differenced against the last scrape, and summed into the [`Signals`] the
//! simulator gives the same controllers.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use crate::autoscale::{Limits, Signals};
use crate::serve::metrics::Reading;

/// The route whose traffic counts.
pub const ROUTE: &str = "/v1/recommend";
/// Largest `/metrics` answer read.
const METRICS_LIMIT: u64 = 1 << 20;
/// Intervals over which `recent_rate` is averaged (as in the simulator).
const RECENT: usize = 4;

/// Where the autoscaler is in its run when it observes.
#[derive(Debug, Clone, Copy)]
pub struct Tick {
    pub step: usize,
    pub now_s: f64,
    /// Seconds since the last observation.
    pub interval_s: f64,
    pub desired: usize,
    pub ready: usize,
    /// Fraction of the day at the next step.
    pub phase: f64,
}

/// One observation: the signals and what they were made of.
#[derive(Debug, Clone, Default)]
pub struct Observation {
    pub signals: Signals,
    /// Requests answered in the interval (any status) and those not answered 200.
    pub answered: f64,
    pub failed: f64,
    /// Replicas whose `/metrics` could not be read, with why.
    pub unreachable: Vec<String>,
}

pub struct Observer {
    agent: ureq::Agent,
    previous: HashMap<String, Reading>,
    recent: VecDeque<f64>,
}

impl Default for Observer {
    fn default() -> Self {
        Self::new()
    }
}

impl Observer {
    pub fn new() -> Self {
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(2)))
            .build()
            .into();
        Self {
            agent,
            previous: HashMap::new(),
            recent: VecDeque::new(),
        }
    }

    /// Reads one replica's `/metrics` (at most 1 MiB).
    pub fn scrape(&self, base: &str) -> anyhow::Result<Reading> {
        let mut response = self.agent.get(format!("{base}/metrics")).call()?;
        anyhow::ensure!(
            response.status() == 200,
            "{base}/metrics answered {}",
            response.status()
        );
        let text = response
            .body_mut()
            .with_config()
            .limit(METRICS_LIMIT)
            .read_to_string()?;
        Reading::parse(&text, ROUTE)
    }

    /// Scrapes `replicas` and turns what changed since the last call into signals.
    pub fn observe(&mut self, replicas: &[String], tick: Tick, limits: &Limits) -> Observation {
        let (readings, unreachable) = self.scrape_all(replicas);
        let observation = self.difference(&readings, tick, limits);
        self.previous = readings.into_iter().collect();
        Observation {
            unreachable,
            ..observation
        }
    }

    /// The first look, at the start: the replicas' counters become the baseline of the first
    /// interval, and the signals are those of a deployment that has seen nothing yet (what
    /// the simulator gives a controller at t = 0).
    pub fn open(&mut self, replicas: &[String], tick: Tick) -> Observation {
        let (readings, unreachable) = self.scrape_all(replicas);
        self.previous = readings.into_iter().collect();
        self.recent.clear();
        Observation {
            signals: Signals {
                step: tick.step,
                now_s: tick.now_s,
                replicas: tick.desired,
                ready: tick.ready,
                phase: tick.phase,
                ..Signals::default()
            },
            unreachable,
            ..Observation::default()
        }
    }

    /// Every replica's reading, and why those that could not be read could not.
    fn scrape_all(&self, replicas: &[String]) -> (Vec<(String, Reading)>, Vec<String>) {
        let mut readings = Vec::new();
        let mut unreachable = Vec::new();
        for base in replicas {
            match self.scrape(base) {
                Ok(reading) => readings.push((base.clone(), reading)),
                Err(e) => unreachable.push(format!("{base}: {e:#}")),
            }
        }
        (readings, unreachable)
    }

    /// The signals from `readings` against the previous ones (a replica seen for the first time,
    /// or whose counters went back, counts from zero).
    fn difference(
        &mut self,
        readings: &[(String, Reading)],
        tick: Tick,
        limits: &Limits,
    ) -> Observation {
        let mut total = Delta::default();
        for (base, now) in readings {
            let before = self.previous.get(base).filter(|b| !restarted(b, now));
            total.add(&Delta::between(before, now));
        }
        let dt = tick.interval_s.max(1e-9);
        let arrival_rate = total.arrivals / dt;
        self.recent.push_back(arrival_rate);
        while self.recent.len() > RECENT {
            self.recent.pop_front();
        }
        let latency_s = match total.answered {
            n if n <= 0.0 => 0.0,
            // Failures count as the clip, as the simulator counts them.
            n if total.failed / n > 0.05 => limits.latency_clip_s,
            _ => histogram_quantile(&total.buckets, 0.95).min(limits.latency_clip_s),
        };
        let slots = total.workers.max(1.0);
        let signals = Signals {
            step: tick.step,
            now_s: tick.now_s,
            replicas: tick.desired,
            ready: tick.ready,
            arrivals: total.arrivals.round().max(0.0) as usize,
            arrival_rate,
            recent_rate: self.recent.iter().sum::<f64>() / self.recent.len() as f64,
            queue: total.queue.round().max(0.0) as usize,
            utilization: (total.busy_s / (dt * slots)).clamp(0.0, 1.0),
            latency_s,
            violations: (over(&total.buckets, limits.slo_s) + total.failed).round() as usize,
            rejected: total.rejected.round() as usize,
            phase: tick.phase,
            stress_penalty: 0.0,
        };
        Observation {
            signals,
            answered: total.answered,
            failed: total.failed,
            unreachable: Vec::new(),
        }
    }
}

/// Whether a replica's counters went back (it restarted under the same address).
fn restarted(before: &Reading, now: &Reading) -> bool {
    now.answered_total() < before.answered_total() || now.busy_s < before.busy_s
}

/// What changed in one replica (or the sum over replicas).
#[derive(Debug, Clone, Default)]
struct Delta {
    answered: f64,
    failed: f64,
    rejected: f64,
    /// Answered plus the change in what is waiting or evaluating.
    arrivals: f64,
    /// Waiting or evaluating now.
    queue: f64,
    busy_s: f64,
    workers: f64,
    buckets: Vec<(f64, f64)>,
}

impl Delta {
    fn between(before: Option<&Reading>, now: &Reading) -> Self {
        let zero = Reading::default();
        let before = before.unwrap_or(&zero);
        let held = |r: &Reading| r.in_flight + r.queued;
        let answered = now.answered_total() - before.answered_total();
        let buckets = now
            .buckets
            .iter()
            .map(|&(bound, count)| {
                let earlier = before
                    .buckets
                    .iter()
                    .find(|b| b.0 == bound)
                    .map_or(0.0, |b| b.1);
                (bound, count - earlier)
            })
            .collect();
        Self {
            answered,
            failed: now.failed_total() - before.failed_total(),
            rejected: now.with_status(503) - before.with_status(503),
            arrivals: (answered + held(now) - held(before)).max(0.0),
            queue: held(now),
            busy_s: now.busy_s - before.busy_s,
            workers: now.workers,
            buckets,
        }
    }

    fn add(&mut self, other: &Delta) {
        self.answered += other.answered;
        self.failed += other.failed;
        self.rejected += other.rejected;
        self.arrivals += other.arrivals;
        self.queue += other.queue;
        self.busy_s += other.busy_s;
        self.workers += other.workers;
        for &(bound, count) in &other.buckets {
            match self.buckets.iter_mut().find(|b| b.0 == bound) {
                Some(b) => b.1 += count,
                None => self.buckets.push((bound, count)),
            }
        }
        self.buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    }
}

/// The `q` quantile of a cumulative histogram, interpolated linearly within its bucket (as
/// Prometheus's `histogram_quantile` does); past the last finite bound, that bound.
pub fn histogram_quantile(buckets: &[(f64, f64)], q: f64) -> f64 {
    let Some(&(_, total)) = buckets.last() else {
        return 0.0;
    };
    if total <= 0.0 {
        return 0.0;
    }
    let rank = q * total;
    let (mut lower, mut below) = (0.0, 0.0);
    for &(bound, count) in buckets {
        if count >= rank {
            if bound.is_infinite() {
                return lower;
            }
            let share = if count > below {
                (rank - below) / (count - below)
            } else {
                1.0
            };
            return lower + (bound - lower) * share;
        }
        (lower, below) = (bound, count);
    }
    lower
}

/// Requests of a cumulative histogram slower than `slo` (counted from the largest bound not
/// above it: a lower bound on the violations).
fn over(buckets: &[(f64, f64)], slo: f64) -> f64 {
    let total = buckets.last().map_or(0.0, |b| b.1);
    let within = buckets
        .iter()
        .filter(|b| b.0 <= slo)
        .map(|b| b.1)
        .fold(0.0, f64::max);
    (total - within).max(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_interpolate_within_buckets() {
        let h = [(1.0, 50.0), (2.0, 100.0), (f64::INFINITY, 100.0)];
        assert_eq!(histogram_quantile(&h, 0.5), 1.0);
        assert!((histogram_quantile(&h, 0.75) - 1.5).abs() < 1e-12);
        assert_eq!(
            histogram_quantile(&[(1.0, 0.0), (f64::INFINITY, 4.0)], 0.95),
            1.0
        );
        assert_eq!(histogram_quantile(&[], 0.95), 0.0);
        assert_eq!(over(&h, 1.5), 50.0);
    }

    fn reading(answered: f64, failed: f64, held: f64, busy_s: f64) -> Reading {
        Reading {
            answered: vec![(200, answered - failed), (503, failed)],
            buckets: vec![(0.5, answered), (f64::INFINITY, answered)],
            in_flight: held,
            queued: 0.0,
            workers: 1.0,
            busy_s,
        }
    }

    fn limits() -> Limits {
        Limits {
            min_replicas: 1,
            max_replicas: 4,
            step_s: 2.0,
            startup_steps: 1,
            latency_clip_s: 30.0,
            slo_s: 1.0,
            capacity_rps: 2.0,
            admission: 3,
            open_loop: true,
        }
    }

    #[test]
    fn signals_are_the_change_since_the_last_scrape() {
        let mut observer = Observer::new();
        let tick = Tick {
            step: 1,
            now_s: 2.0,
            interval_s: 2.0,
            desired: 2,
            ready: 2,
            phase: 0.25,
        };
        let first = [("a".to_owned(), reading(10.0, 0.0, 1.0, 1.0))];
        observer.difference(&first, tick, &limits());
        observer.previous = first.into_iter().collect();
        let second = [
            ("a".to_owned(), reading(20.0, 2.0, 0.0, 2.0)),
            // New: counted from zero.
            ("b".to_owned(), reading(4.0, 0.0, 2.0, 1.0)),
        ];
        let seen = observer.difference(&second, tick, &limits());
        let s = &seen.signals;
        // a: 10 answered, held 1 -> 0: 9 arrived; b: 4 answered + 2 held.
        assert_eq!(s.arrivals, 15);
        assert_eq!(s.arrival_rate, 7.5);
        assert_eq!(s.queue, 2);
        assert_eq!(s.rejected, 2);
        assert_eq!(s.violations, 2);
        assert!((s.utilization - 0.5).abs() < 1e-12, "{}", s.utilization); // 2 s busy / (2 s x 2)
        assert_eq!((s.replicas, s.ready, s.phase), (2, 2, 0.25));
        // 2 of 14 answers failed (over 5%): the latency signal is the clip, as in the simulator.
        assert_eq!(s.latency_s, 30.0);
        // A restarted replica (counters went back) counts from zero, never negative.
        observer.previous = second.into_iter().collect();
        let third = [("a".to_owned(), reading(3.0, 0.0, 0.0, 0.5))];
        assert_eq!(
            observer
                .difference(&third, tick, &limits())
                .signals
                .arrivals,
            3
        );
    }
}
