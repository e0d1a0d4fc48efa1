//! A planned point on live replicas: the plan's replica count started on this machine
//! (`cipherscale serve` children behind the local proxy, one evaluation worker each, a queue long
//! enough never to refuse), Poisson arrivals at the planned rate from one client whose requests
//! are encrypted before the clock starts (so the client's work does not take the replicas'
//! cores), and every answer decrypted and checked against the plaintext model afterwards.
//!
//! Each answer carries the replica's `Server-Timing`, so the run also measures the in-situ
//! evaluation time (what the plan assumed from the `fhe` stage) and the transport's share
//! (proxy, HTTP, reading and writing ciphertexts), which the planner leaves out.

use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use axum::body::Bytes;

use super::check::simulated_quantile;
use super::config::{CapacitySpec, LivePoint};
use super::plan::{cheapest, deployment as deployment_of, Demand, Deployment, Plan, Profile};
use crate::data::Example;
use crate::deploy::local::{LocalConfig, LocalDeployer};
use crate::deploy::Deployer;
use crate::fhe::MAX_RESPONSE_BYTES;
use crate::load::open_loop::{self, OpenLoop, Sent};
use crate::output::{cores, CoresBusy, CpuClock};
use crate::serve::client::Recommender;
use crate::serve::timing::ServerTiming;
use crate::serve::{Artifacts, KEY_HEADER};
use crate::stats::{mean, nearest_rank, quantile_interval};

/// Distinct requests the client encrypts and sends in turn.
const BODIES: usize = 64;
/// The share of the first arrivals left out (the replicas start empty), as the simulator does.
const WARM_UP: f64 = 0.1;

/// One answered request: what the client saw and the replica's account of it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Timed {
    pub latency_s: f64,
    pub timing: ServerTiming,
}

impl Timed {
    /// The replica's work on it: finding the key and evaluating.
    pub fn service_s(&self) -> f64 {
        (self.timing.key_ms + self.timing.eval_ms) / 1e3
    }

    /// The rest of what the client saw, outside the replica's queue and work.
    pub fn transport_ms(&self) -> f64 {
        self.latency_s * 1e3 - self.timing.total_ms()
    }
}

/// What one live run measured.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveRun {
    /// Requests sent under load, answered with 200, and answered wrong (or undecryptable;
    /// calibration answers included).
    pub sent: usize,
    pub answered: usize,
    pub wrong: usize,
    /// Requests sent per second of the run.
    pub achieved_rps: f64,
    /// How late the sender was, 99th percentile, milliseconds.
    pub lag_ms_p99: f64,
    /// Requests sent one at a time before the load: the planner's inputs as the replicas give
    /// them now.
    pub calibration: Vec<Timed>,
    /// The answered requests of the open-loop run, past the warm-up.
    pub loaded: Vec<Timed>,
    /// Cores this process (the sender and the proxy) and the whole machine kept busy during
    /// the open-loop run: what the plan's replicas did not have to themselves.
    pub busy: CoresBusy,
}

/// Runs `point` on `replicas` local replicas of the circuit saved in `served` (whose artifacts
/// are `artifacts`), sending the liked sets of `examples`: first its calibration requests one at
/// a time, then Poisson arrivals at its rate. Every replica is stopped before it returns,
/// whatever happened.
pub fn run(
    point: &LivePoint,
    replicas: usize,
    served: &Path,
    artifacts: &Artifacts,
    examples: &[Example],
    seed: u64,
) -> anyhow::Result<LiveRun> {
    anyhow::ensure!(!examples.is_empty(), "a live run needs examples to send");
    let mut config = LocalConfig::new(served.to_owned())?;
    config.workers = 1;
    config.queue = Some(point.max_requests);
    let mut deployer = LocalDeployer::new(config);
    let measured = deploy_and_send(&mut deployer, point, replicas, artifacts, examples, seed);
    let stopped = deployer.teardown();
    measured.and_then(|run| stopped.map(|()| run))
}

fn deploy_and_send(
    deployer: &mut LocalDeployer,
    point: &LivePoint,
    replicas: usize,
    artifacts: &Artifacts,
    examples: &[Example],
    seed: u64,
) -> anyhow::Result<LiveRun> {
    deployer.deploy()?;
    deployer.scale(replicas)?;
    let base = deployer
        .endpoint()
        .context("the deployment has no endpoint")?;
    let client = Recommender::connect(&base, None)?;
    let key = client.upload()?;
    let liked: Vec<&[usize]> = examples
        .iter()
        .take(BODIES)
        .map(|e| e.liked.as_slice())
        .collect();
    let mut plan = OpenLoop {
        base,
        path: "/v1/recommend".into(),
        headers: key
            .map(|id| vec![(KEY_HEADER.to_owned(), id.to_string())])
            .unwrap_or_default(),
        bodies: liked
            .iter()
            .map(|l| Bytes::from(client.encrypt(l)))
            .collect(),
        arrivals_s: vec![0.0; point.calibration_requests],
        timeout: Duration::from_secs(600),
        max_duration: Duration::from_secs(3600),
        keep_answers: true,
        answer_limit: MAX_RESPONSE_BYTES,
        one_at_a_time: true,
    };
    let circuit = format!("{} {}b", point.pipeline, point.bits);
    tracing::info!(
        "{circuit} live: {} calibration requests",
        point.calibration_requests
    );
    let calibration = open_loop::run(&plan)?;
    let requests = ((point.rate_rps * point.duration_s).ceil() as usize).min(point.max_requests);
    plan.arrivals_s = crate::workload::poisson(point.rate_rps, requests, seed)
        .iter()
        .map(|a| a.time)
        .collect();
    // The arrivals end near `duration_s`; the cap only guards against a stuck sender.
    plan.max_duration = Duration::from_secs_f64(2.0 * point.duration_s + 10.0);
    plan.one_at_a_time = false;
    tracing::info!(
        "{circuit} live: {requests} Poisson arrivals at {} req/s on {replicas} replica(s)",
        point.rate_rps
    );
    let clock = CpuClock::now();
    let loaded = open_loop::run(&plan)?;
    let busy = clock.busy_since();
    let expected = |body: usize| artifacts.circuit.expected(&artifacts.model, liked[body]);
    let wrong = calibration
        .iter()
        .chain(&loaded)
        .filter_map(|s| Some((s.body, s.answer.as_ref()?)))
        .filter(|&(body, answer)| client.decrypt(answer).ok() != Some(expected(body)))
        .count();
    summarize(&calibration, &loaded, wrong, busy)
}

/// The run's counts, its calibration, and its answered requests past the warm-up.
fn summarize(
    calibration: &[Sent],
    loaded: &[Sent],
    wrong: usize,
    busy: CoresBusy,
) -> anyhow::Result<LiveRun> {
    anyhow::ensure!(!loaded.is_empty(), "no request was sent (interrupted?)");
    let steady = &loaded[(loaded.len() as f64 * WARM_UP) as usize..];
    let span_s = loaded.last().map_or(0.0, |s| s.due_s);
    let lags: Vec<f64> = loaded.iter().map(|s| s.lag_ms).collect();
    let answered = |sent: &[Sent]| sent.iter().filter(|s| s.ok()).count();
    Ok(LiveRun {
        sent: loaded.len(),
        answered: answered(loaded),
        wrong: wrong + calibration.len() - answered(calibration),
        achieved_rps: loaded.len() as f64 / span_s.max(1e-9),
        lag_ms_p99: nearest_rank(&lags, 0.99),
        calibration: timed(calibration)?,
        loaded: timed(steady)?,
        busy,
    })
}

/// The answered requests among `sent`, with their Server-Timing.
fn timed(sent: &[Sent]) -> anyhow::Result<Vec<Timed>> {
    sent.iter()
        .filter(|s| s.ok())
        .map(|s| {
            Ok(Timed {
                latency_s: s.latency_ms / 1e3,
                timing: s
                    .timing
                    .context("a replica answered without its Server-Timing header")?,
            })
        })
        .collect()
}

/// The deployment the planner chooses for `point` (one client), which must fit this machine:
/// the live run gives each replica the cores the plan does.
pub fn plan(
    profile: &Profile,
    point: &LivePoint,
    spec: &CapacitySpec,
) -> anyhow::Result<Deployment> {
    let circuit = format!(
        "{} {}b at {} req/s",
        point.pipeline, point.bits, point.rate_rps
    );
    let deployment = match cheapest(profile, &demand(point, spec), &spec.prices, &spec.bounds) {
        Plan::Deploy(d) => d,
        Plan::Infeasible(reason) => anyhow::bail!("capacity.live: {circuit}: {reason}"),
    };
    let (needed, here) = (deployment.replicas * deployment.cores_per_replica, cores());
    anyhow::ensure!(
        needed <= here,
        "capacity.live: {circuit} needs {} replicas x {} cores, more than this machine's {here}: \
         lower the rate",
        deployment.replicas,
        deployment.cores_per_replica
    );
    Ok(deployment)
}

fn demand(point: &LivePoint, spec: &CapacitySpec) -> Demand {
    Demand {
        rate_rps: point.rate_rps,
        clients: 1,
        quantile: spec.quantile,
        objective_s: spec.objective_s,
    }
}

/// A live run beside what the planner and the simulator said of the same point.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveCheck {
    /// The plan from the profile (`fhe.csv`), as `capacity.csv` has it.
    pub deployment: Deployment,
    /// The planner's and the simulator's quantile with the calibration's inputs: its service
    /// times, and its transport added to the client's work.
    pub calibrated_s: f64,
    pub simulated_s: f64,
    /// The response-time quantile live, client work (as profiled) added as the planner adds it,
    /// and its distribution-free 95% interval.
    pub live_s: f64,
    pub live_interval_s: (f64, f64),
    /// Mean milliseconds of evaluation (key lookup included): the profile's, the calibration's,
    /// and under load.
    pub planned_eval_ms: f64,
    pub calibration_eval_ms: f64,
    pub loaded_eval_ms: f64,
    /// Mean milliseconds outside the replica (proxy, HTTP, ciphertext transfer), which the
    /// profile leaves out: in the calibration and under load.
    pub calibration_transport_ms: f64,
    pub loaded_transport_ms: f64,
    /// Under load, the quantile of the wait in the replica's queue and of the transport, ms:
    /// where the client-seen tail comes from.
    pub loaded_queue_ms_tail: f64,
    pub loaded_transport_ms_tail: f64,
    pub run: LiveRun,
}

impl LiveCheck {
    pub fn new(
        profile: &Profile,
        point: &LivePoint,
        spec: &CapacitySpec,
        deployment: Deployment,
        run: LiveRun,
    ) -> Self {
        let demand = demand(point, spec);
        let service = |timed: &[Timed]| timed.iter().map(Timed::service_s).collect::<Vec<_>>();
        let transport_ms =
            |timed: &[Timed]| mean(&timed.iter().map(Timed::transport_ms).collect::<Vec<_>>());
        let calibrated = Profile {
            service_s: service(&run.calibration),
            client_s: profile.client_s + transport_ms(&run.calibration) / 1e3,
            ..profile.clone()
        };
        let replicas = deployment.replicas;
        let calibrated_plan = deployment_of(&calibrated, &demand, &spec.prices, replicas);
        let latency: Vec<f64> = run.loaded.iter().map(|t| t.latency_s).collect();
        let tail = |timed: &[Timed], part: fn(&Timed) -> f64| {
            nearest_rank(&timed.iter().map(part).collect::<Vec<_>>(), spec.quantile)
        };
        let (low, high) = quantile_interval(&latency, spec.quantile);
        Self {
            calibrated_s: calibrated_plan.predicted_s,
            simulated_s: simulated_quantile(&calibrated, &demand, &calibrated_plan, 17),
            live_s: nearest_rank(&latency, spec.quantile) + profile.client_s,
            live_interval_s: (low + profile.client_s, high + profile.client_s),
            planned_eval_ms: 1e3 * mean(&profile.service_s),
            calibration_eval_ms: 1e3 * mean(&calibrated.service_s),
            loaded_eval_ms: 1e3 * mean(&service(&run.loaded)),
            calibration_transport_ms: transport_ms(&run.calibration),
            loaded_transport_ms: transport_ms(&run.loaded),
            loaded_queue_ms_tail: tail(&run.loaded, |t| t.timing.queue_ms),
            loaded_transport_ms_tail: tail(&run.loaded, Timed::transport_ms),
            deployment,
            run,
        }
    }
}
