//! The live autoscaler: every interval it heals replicas that died, observes the replicas'
//! metrics, asks the controller for a count and scales the deployment to it; each decision is
//! logged, returned to the caller and exposed on the autoscaler's own `/metrics`.

use std::time::{Duration, Instant};

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use serde::{Deserialize, Serialize};

use super::observe::{Observer, Tick};
use crate::autoscale::{Controller, Limits};
use crate::deploy::Deployer;
use crate::serve::{metrics, InProcess};

/// One interval of a live run: what was seen and what was decided (a row of `decisions.csv`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    pub controller: String,
    pub step: usize,
    /// Seconds since the autoscaler started.
    pub t_s: f64,
    pub arrivals: usize,
    pub arrival_rate: f64,
    /// Requests waiting or evaluating in all replicas.
    pub queue: usize,
    /// 95th percentile latency of the interval's answers (failures: the clip), seconds.
    pub p95_s: f64,
    pub utilization: f64,
    /// Answers over the SLO or failed, and 503s, in the interval.
    pub violations: usize,
    pub rejected: usize,
    /// Replicas asked for and ready when the interval ended, and the count decided.
    pub desired: usize,
    pub ready: usize,
    pub target: usize,
    /// Replicas found dead and replaced this interval.
    pub healed: usize,
    /// Replicas whose metrics could not be read.
    pub unreachable: usize,
}

impl std::fmt::Display for Decision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "t={:>6.1}s {:>5} arrived ({:.2}/s) queue {:>3} p95 {:.3}s util {:.2} violations {} ready {}/{} -> {}{}{}",
            self.t_s,
            self.arrivals,
            self.arrival_rate,
            self.queue,
            self.p95_s,
            self.utilization,
            self.violations,
            self.ready,
            self.desired,
            self.target,
            if self.healed > 0 { format!(" (replaced {} dead)", self.healed) } else { String::new() },
            if self.unreachable > 0 { format!(" ({} metrics unreachable: holding if none read)", self.unreachable) } else { String::new() },
        )
    }
}

/// The autoscaler's own metrics.
#[derive(Default)]
struct Exposed {
    desired: Gauge,
    ready: Gauge,
    decisions: prometheus_client::metrics::family::Family<Direction, Counter>,
    healed: Counter,
    arrival_rate: Gauge<f64, std::sync::atomic::AtomicU64>,
    p95: Gauge<f64, std::sync::atomic::AtomicU64>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, prometheus_client::encoding::EncodeLabelSet)]
struct Direction {
    direction: &'static str,
}

impl Exposed {
    fn registry(&self) -> Registry {
        let mut r = Registry::default();
        r.register(
            "cipherscale_autoscaler_desired_replicas",
            "Replicas asked for",
            self.desired.clone(),
        );
        r.register(
            "cipherscale_autoscaler_ready_replicas",
            "Replicas ready",
            self.ready.clone(),
        );
        r.register(
            "cipherscale_autoscaler_decisions",
            "Decisions by direction",
            self.decisions.clone(),
        );
        r.register(
            "cipherscale_autoscaler_healed",
            "Dead replicas replaced",
            self.healed.clone(),
        );
        r.register(
            "cipherscale_autoscaler_arrival_rate",
            "Requests per second in the last interval",
            self.arrival_rate.clone(),
        );
        r.register(
            "cipherscale_autoscaler_p95_seconds",
            "95th percentile latency in the last interval",
            self.p95.clone(),
        );
        r
    }

    fn record(&self, d: &Decision) {
        self.desired.set(d.target as i64);
        self.ready.set(d.ready as i64);
        let direction = match d.target.cmp(&d.desired) {
            std::cmp::Ordering::Greater => "up",
            std::cmp::Ordering::Less => "down",
            std::cmp::Ordering::Equal => "hold",
        };
        self.decisions.get_or_create(&Direction { direction }).inc();
        self.healed.inc_by(d.healed as u64);
        self.arrival_rate.set(d.arrival_rate);
        self.p95.set(d.p95_s);
    }
}

/// Serves `registry` at `/metrics` on `address`.
fn serve_metrics(registry: Registry, address: std::net::SocketAddr) -> anyhow::Result<InProcess> {
    let registry = std::sync::Arc::new(registry);
    InProcess::start_on(address, move |listener, shutdown| async move {
        let app = axum::Router::new().route(
            "/metrics",
            axum::routing::get(move || {
                let registry = registry.clone();
                async move {
                    (
                        [(axum::http::header::CONTENT_TYPE, metrics::CONTENT_TYPE)],
                        metrics::render(&registry),
                    )
                }
            }),
        );
        axum::serve(listener, app)
            .with_graceful_shutdown(shutdown)
            .await?;
        Ok(())
    })
}

/// How the autoscaler runs.
#[derive(Debug, Clone)]
pub struct Clock {
    /// Seconds between decisions.
    pub interval: Duration,
    /// The length of a day on this clock (a compressed day when a trace is replayed faster)
    /// and the fraction of it at the start, for the time-of-day features.
    pub day_s: f64,
    pub day_start: f64,
}

/// A deployment driven by a controller. Drive it from one long-lived thread.
pub struct Autoscaler<D: Deployer> {
    pub deployer: D,
    controller: Box<dyn Controller + Send>,
    limits: Limits,
    clock: Clock,
    observer: Observer,
    /// When the replicas' counters were last read: intervals span two reads, however long
    /// scaling took in between.
    observed: Option<Instant>,
    exposed: Exposed,
    metrics_server: Option<InProcess>,
}

impl<D: Deployer> Autoscaler<D> {
    pub fn new(
        deployer: D,
        controller: Box<dyn Controller + Send>,
        limits: Limits,
        clock: Clock,
    ) -> Self {
        Self {
            deployer,
            controller,
            limits,
            clock,
            observer: Observer::new(),
            observed: None,
            exposed: Exposed::default(),
            metrics_server: None,
        }
    }

    /// Serves the autoscaler's `/metrics` on `address`; returns its base URL.
    pub fn expose(&mut self, address: std::net::SocketAddr) -> anyhow::Result<String> {
        let server = serve_metrics(self.exposed.registry(), address)?;
        let base = server.base.clone();
        self.metrics_server = Some(server);
        Ok(base)
    }

    /// Scales the deployed replicas to `initial`, then decides every interval until `stop` says
    /// so (checked every 50 ms); `on_decision` sees each decision. The deployment is left
    /// running: call [`Autoscaler::teardown`].
    pub fn run(
        &mut self,
        initial: usize,
        stop: &dyn Fn() -> bool,
        on_decision: &mut dyn FnMut(&Decision) -> anyhow::Result<()>,
    ) -> anyhow::Result<()> {
        self.deployer.scale(self.limits.clamp(initial))?;
        self.controller.reset();
        let started = Instant::now();
        self.observed = None;
        // Step 0 decides at the start, as the simulator's controllers do at t = 0, on the
        // signals of a deployment that has seen nothing yet; step k after k intervals. Steps
        // missed while a scale-up blocked are skipped, not caught up in a burst.
        let mut step = 0u32;
        loop {
            let due = started + self.clock.interval * step;
            while Instant::now() < due {
                if stop() {
                    return Ok(());
                }
                std::thread::sleep(Duration::from_millis(50).min(due - Instant::now()));
            }
            let decision = self.decide(step as usize, started)?;
            self.exposed.record(&decision);
            on_decision(&decision)?;
            let elapsed = started.elapsed().as_secs_f64() / self.clock.interval.as_secs_f64();
            step = (step + 1).max(elapsed.ceil() as u32);
        }
    }

    /// One interval: heal, observe, decide, scale. The opening decision (no read yet) only
    /// takes the replicas' counters as the baseline of the first interval.
    fn decide(&mut self, step: usize, started: Instant) -> anyhow::Result<Decision> {
        let mut status = self.deployer.status()?;
        let healed = status.failed;
        if healed > 0 {
            self.deployer.restart()?;
            status = self.deployer.status()?;
        }
        let now = Instant::now();
        let now_s = (now - started).as_secs_f64();
        let previous = self.observed.replace(now);
        let tick = Tick {
            step,
            now_s,
            interval_s: previous.map_or(0.0, |at| (now - at).as_secs_f64()),
            desired: status.desired,
            ready: status.ready,
            phase: (self.clock.day_start
                + (now_s + self.clock.interval.as_secs_f64()) / self.clock.day_s)
                .rem_euclid(1.0),
        };
        let endpoints = self.deployer.metrics_endpoints();
        let seen = match previous {
            Some(_) => self.observer.observe(&endpoints, tick, &self.limits),
            None => self.observer.open(&endpoints, tick),
        };
        let s = &seen.signals;
        let decided = self.limits.clamp(self.controller.decide(s, &self.limits));
        // Blind (replicas ready, none of their metrics readable): hold rather than act on zeros.
        let blind = status.ready > 0 && endpoints.len() == seen.unreachable.len();
        if blind {
            tracing::warn!(
                "no replica's /metrics answered: holding ({})",
                seen.unreachable.join("; ")
            );
        }
        let target = if blind { status.desired } else { decided };
        if target != status.desired {
            self.deployer.scale(target)?;
        }
        Ok(Decision {
            controller: self.controller.name(),
            step,
            t_s: now_s,
            arrivals: s.arrivals,
            arrival_rate: s.arrival_rate,
            queue: s.queue,
            p95_s: s.latency_s,
            utilization: s.utilization,
            violations: s.violations,
            rejected: s.rejected,
            desired: status.desired,
            ready: status.ready,
            target,
            healed,
            unreachable: seen.unreachable.len(),
        })
    }

    /// Drains and stops every replica and the metrics server.
    pub fn teardown(&mut self) -> anyhow::Result<()> {
        let result = self.deployer.teardown();
        if let Some(mut server) = self.metrics_server.take() {
            server.stop_and_join()?;
        }
        result
    }
}
