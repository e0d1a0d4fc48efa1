//! Prometheus metrics of one replica, exposed with the `prometheus-client` crate (text format
//! 0.0.4) and read back with `prometheus-parse`: requests by route and status, a latency
//! histogram per route, requests being evaluated and waiting, the worker count and the seconds
//! workers spent evaluating (what the autoscaler turns into utilisation).

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// Upper bounds of the latency buckets in seconds (FHE requests run from milliseconds to a minute).
pub const BUCKETS: [f64; 14] = [
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

/// The content type of the text exposition format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4";

/// `registry` in the text exposition format (what a `/metrics` endpoint serves).
pub fn render(registry: &Registry) -> String {
    let mut out = String::new();
    prometheus_client::encoding::prometheus_text::encode(&mut out, registry)
        .expect("writing to a String cannot fail");
    out
}

/// Metric names, shared by the exposition and the reader.
pub const REQUESTS: &str = "cipherscale_http_requests";
pub const DURATION: &str = "cipherscale_http_request_duration_seconds";
pub const IN_FLIGHT: &str = "cipherscale_in_flight_requests";
pub const QUEUED: &str = "cipherscale_queue_depth";
pub const WORKERS: &str = "cipherscale_workers";
pub const BUSY: &str = "cipherscale_busy_seconds";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteStatus {
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Route {
    route: String,
}

type FloatCounter = Counter<f64, std::sync::atomic::AtomicU64>;

pub struct Metrics {
    registry: Registry,
    requests: Family<RouteStatus, Counter>,
    latency: Family<Route, Histogram>,
    /// Requests holding a worker.
    pub in_flight: Gauge,
    /// Requests admitted and waiting for a worker.
    pub queued: Gauge,
    busy: FloatCounter,
}

impl Metrics {
    /// The metrics of a replica with `workers` evaluation workers.
    pub fn new(workers: usize) -> Self {
        let mut registry = Registry::default();
        let requests = Family::<RouteStatus, Counter>::default();
        let latency = Family::<Route, Histogram>::new_with_constructor(|| Histogram::new(BUCKETS));
        let (in_flight, queued, workers_gauge): (Gauge, Gauge, Gauge) = Default::default();
        let busy = FloatCounter::default();
        workers_gauge.set(i64::try_from(workers).unwrap_or(i64::MAX));
        registry.register(
            REQUESTS,
            "Requests answered, by route and status",
            requests.clone(),
        );
        registry.register(DURATION, "Time to answer, by route", latency.clone());
        registry.register(
            IN_FLIGHT,
            "Requests being evaluated by a worker",
            in_flight.clone(),
        );
        registry.register(
            QUEUED,
            "Requests admitted and waiting for a worker",
            queued.clone(),
        );
        registry.register(WORKERS, "Evaluation workers of this replica", workers_gauge);
        registry.register(
            BUSY,
            "Seconds workers spent evaluating (keys included)",
            busy.clone(),
        );
        Self {
            registry,
            requests,
            latency,
            in_flight,
            queued,
            busy,
        }
    }

    pub fn record(&self, route: &str, status: u16, seconds: f64) {
        self.requests
            .get_or_create(&RouteStatus {
                route: route.to_owned(),
                status,
            })
            .inc();
        self.latency
            .get_or_create(&Route {
                route: route.to_owned(),
            })
            .observe(seconds);
    }

    /// Worker time spent on one request.
    pub fn busy(&self, seconds: f64) {
        self.busy.inc_by(seconds.max(0.0));
    }

    /// Requests answered on `route` with `status` so far.
    pub fn count(&self, route: &str, status: u16) -> u64 {
        self.requests
            .get(&RouteStatus {
                route: route.to_owned(),
                status,
            })
            .map_or(0, |counter| counter.get())
    }

    /// The exposition text served at `/metrics`.
    pub fn render(&self) -> String {
        render(&self.registry)
    }
}

/// What one scrape of a replica's `/metrics` says about its recommend route.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Reading {
    /// Requests answered, by status.
    pub answered: Vec<(u16, f64)>,
    /// Cumulative counts per latency bucket (upper bounds in seconds, `+Inf` last).
    pub buckets: Vec<(f64, f64)>,
    pub in_flight: f64,
    pub queued: f64,
    pub workers: f64,
    pub busy_s: f64,
}

impl Reading {
    /// Reads the exposition text of `route`; a text without this crate's metrics is an error.
    pub fn parse(text: &str, route: &str) -> anyhow::Result<Self> {
        use prometheus_parse::{Scrape, Value};
        let scrape = Scrape::parse(text.lines().map(|l| Ok(l.to_owned())))?;
        let mut reading = Self::default();
        let mut found = false;
        let (requests_total, busy_total) = (format!("{REQUESTS}_total"), format!("{BUSY}_total"));
        for sample in &scrape.samples {
            let on_route = sample.labels.get("route") == Some(route);
            let name = sample.metric.as_str();
            match (&sample.value, name) {
                (Value::Counter(v), _) if name == requests_total && on_route => {
                    let status = sample.labels.get("status").unwrap_or("0");
                    reading.answered.push((status.parse().unwrap_or(0), *v));
                }
                (Value::Histogram(h), DURATION) if on_route => {
                    reading.buckets = h.iter().map(|b| (b.less_than, b.count)).collect();
                    reading.buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
                }
                (Value::Gauge(v), IN_FLIGHT) => (reading.in_flight, found) = (*v, true),
                (Value::Gauge(v), QUEUED) => reading.queued = *v,
                (Value::Gauge(v), WORKERS) => reading.workers = *v,
                (Value::Counter(v), _) if name == busy_total => reading.busy_s = *v,
                _ => {}
            }
        }
        anyhow::ensure!(
            found,
            "no {IN_FLIGHT} gauge: not a cipherscale replica's /metrics"
        );
        Ok(reading)
    }

    pub fn answered_total(&self) -> f64 {
        self.answered.iter().map(|(_, n)| n).sum()
    }

    /// Answers with a status other than 200.
    pub fn failed_total(&self) -> f64 {
        self.answered_total() - self.with_status(200)
    }

    /// Answers with `status`.
    pub fn with_status(&self, status: u16) -> f64 {
        self.answered
            .iter()
            .filter(|(s, _)| *s == status)
            .map(|(_, n)| n)
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_cumulative() {
        let metrics = Metrics::new(2);
        metrics.record("/v1/recommend", 200, 0.003);
        metrics.record("/v1/recommend", 200, 2.0);
        metrics.record("/v1/recommend", 503, 0.0001);
        let text = metrics.render();
        let bucket = |le: &str| format!("route=\"/v1/recommend\",le=\"{le}\"}}");
        assert!(text.contains(&format!("{} 1\n", bucket("0.001"))), "{text}");
        assert!(text.contains(&format!("{} 2\n", bucket("0.005"))), "{text}");
        assert!(text.contains(&format!("{} 3\n", bucket("2.5"))), "{text}");
        assert!(text.contains(&format!("{} 3\n", bucket("+Inf"))), "{text}");
        assert!(text.contains("status=\"503\"} 1\n"), "{text}");
        assert_eq!(metrics.count("/v1/recommend", 200), 2);
    }

    #[test]
    fn a_rendered_text_reads_back() {
        let metrics = Metrics::new(3);
        metrics.record("/v1/recommend", 200, 0.003);
        metrics.record("/v1/recommend", 200, 2.0);
        metrics.record("/v1/recommend", 503, 0.0001);
        metrics.record("/healthz", 200, 0.0001);
        metrics.in_flight.inc();
        metrics.queued.set(4);
        metrics.busy(1.5);
        let reading = Reading::parse(&metrics.render(), "/v1/recommend").unwrap();
        assert_eq!(reading.answered_total(), 3.0);
        assert_eq!(reading.failed_total(), 1.0);
        assert_eq!(reading.with_status(503), 1.0);
        assert_eq!(
            (reading.in_flight, reading.queued, reading.workers),
            (1.0, 4.0, 3.0)
        );
        assert_eq!(reading.busy_s, 1.5);
        assert_eq!(reading.buckets.len(), BUCKETS.len() + 1);
        assert_eq!(reading.buckets.last().unwrap(), &(f64::INFINITY, 3.0));
        assert_eq!(reading.buckets[0], (0.001, 1.0));
    }

    #[test]
    fn another_servers_text_is_refused() {
        let err = Reading::parse("# TYPE up gauge\nup 1\n", "/v1/recommend").unwrap_err();
        assert!(
            err.to_string().contains("not a cipherscale replica"),
            "{err}"
        );
    }
}
