//! Prometheus text exposition of one replica: requests by route and status, a latency histogram
//! per route, requests being evaluated, and requests waiting for a worker.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use crate::lock;

/// Upper bounds of the latency buckets in seconds (FHE requests run from milliseconds to a minute).
const BUCKETS: [f64; 14] = [
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

#[derive(Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

#[derive(Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<(String, u16), u64>>,
    latency: Mutex<BTreeMap<String, Histogram>>,
    /// Requests holding a worker.
    pub in_flight: AtomicU64,
    /// Requests admitted and waiting for a worker.
    pub queued: AtomicU64,
}

impl Metrics {
    pub fn record(&self, route: &str, status: u16, seconds: f64) {
        *lock(&self.requests)
            .entry((route.to_owned(), status))
            .or_default() += 1;
        let mut latency = lock(&self.latency);
        let histogram = latency.entry(route.to_owned()).or_default();
        for (count, bound) in histogram.counts.iter_mut().zip(BUCKETS) {
            *count += u64::from(seconds <= bound);
        }
        histogram.count += 1;
        histogram.sum += seconds;
    }

    /// Requests answered on `route` with `status` so far.
    pub fn count(&self, route: &str, status: u16) -> u64 {
        lock(&self.requests)
            .get(&(route.to_owned(), status))
            .copied()
            .unwrap_or(0)
    }

    /// The exposition text served at `/metrics`.
    pub fn render(&self) -> String {
        let mut out = String::new();
        out.push_str(
            "# HELP cipherscale_http_requests_total Requests answered, by route and status.\n",
        );
        out.push_str("# TYPE cipherscale_http_requests_total counter\n");
        for ((route, status), n) in lock(&self.requests).iter() {
            let _ = writeln!(
                out,
                "cipherscale_http_requests_total{{route=\"{route}\",status=\"{status}\"}} {n}"
            );
        }
        out.push_str(
            "# HELP cipherscale_http_request_duration_seconds Time to answer, by route.\n",
        );
        out.push_str("# TYPE cipherscale_http_request_duration_seconds histogram\n");
        for (route, h) in lock(&self.latency).iter() {
            let name = "cipherscale_http_request_duration_seconds";
            for (count, bound) in h.counts.iter().zip(BUCKETS) {
                let _ = writeln!(
                    out,
                    "{name}_bucket{{route=\"{route}\",le=\"{bound}\"}} {count}"
                );
            }
            let _ = writeln!(
                out,
                "{name}_bucket{{route=\"{route}\",le=\"+Inf\"}} {}",
                h.count
            );
            let _ = writeln!(out, "{name}_sum{{route=\"{route}\"}} {}", h.sum);
            let _ = writeln!(out, "{name}_count{{route=\"{route}\"}} {}", h.count);
        }
        for (name, help, value) in [
            (
                "cipherscale_in_flight_requests",
                "Requests being evaluated by a worker.",
                &self.in_flight,
            ),
            (
                "cipherscale_queue_depth",
                "Requests admitted and waiting for a worker.",
                &self.queued,
            ),
        ] {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
            let _ = writeln!(out, "{name} {}", value.load(Ordering::Relaxed));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_cumulative() {
        let metrics = Metrics::default();
        metrics.record("/v1/recommend", 200, 0.003);
        metrics.record("/v1/recommend", 200, 2.0);
        metrics.record("/v1/recommend", 503, 0.0001);
        let text = metrics.render();
        let bucket = |le: &str| format!("route=\"/v1/recommend\",le=\"{le}\"}}");
        assert!(text.contains(&format!("{} 1\n", bucket("0.001"))), "{text}");
        assert!(text.contains(&format!("{} 2\n", bucket("0.005"))), "{text}");
        assert!(text.contains(&format!("{} 3\n", bucket("2.5"))), "{text}");
        assert!(text.contains(&format!("{} 3\n", bucket("+Inf"))), "{text}");
        assert!(text.contains("status=\"503\"} 1\n"));
        assert_eq!(metrics.count("/v1/recommend", 200), 2);
    }
}
