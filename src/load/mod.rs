//! Load generation on goose 0.19: the paper's `probe` and `stress` profiles, a `ramp` and a
//! `steady` rate, each bounded in requests and time, sent only to loopback. Beside it,
//! [`closed_loop`] clients that encrypt and check every answer, and [`open_loop`] requests sent at
//! given arrival times (Poisson, or a replayed trace).
//!
//! goose schedules the users; one transaction per request records what the client saw (start,
//! latency, status, error), so every profile yields per-request [`RequestRecord`]s and one
//! [`Summary`] with the paper's stress penalty. goose keeps process-global state (a Ctrl-C
//! handler, a killswitch, a logger): [`install_interrupt_handler`] takes Ctrl-C first, once, so
//! many runs work in one process and an interrupted run stops cleanly.

pub mod closed_loop;
pub mod open_loop;
pub mod trace;

use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Once};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use goose::config::GooseConfiguration;
use goose::prelude::*;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

/// A load profile.
#[derive(Debug, Clone, PartialEq)]
pub enum Profile {
    /// One request.
    Probe,
    /// A burst of n concurrent requests, n drawn uniformly from `min..=max` (the paper: 5..=10).
    Stress { min: usize, max: usize },
    /// `users` closed-loop users started evenly over `over`, `requests` in all.
    Ramp {
        users: usize,
        over: Duration,
        requests: usize,
    },
    /// `rate` requests per second for `duration` (users enough that the rate is kept).
    Steady { rate: usize, duration: Duration },
}

impl Profile {
    pub fn name(&self) -> &'static str {
        match self {
            Profile::Probe => "probe",
            Profile::Stress { .. } => "stress",
            Profile::Ramp { .. } => "ramp",
            Profile::Steady { .. } => "steady",
        }
    }
}

/// What each request sends.
#[derive(Debug, Clone)]
pub enum Payload {
    Get {
        path: String,
    },
    Post {
        path: String,
        body: Arc<Vec<u8>>,
        headers: Vec<(String, String)>,
    },
}

/// Where and how hard.
#[derive(Debug, Clone)]
pub struct LoadPlan {
    /// `http://127.0.0.1:PORT` (loopback only).
    pub base: String,
    pub payload: Payload,
    pub profile: Profile,
    /// Client timeout; a failed request counts as this long in the penalty.
    pub timeout: Duration,
    /// Hard caps on the run, whatever the profile says.
    pub max_requests: usize,
    pub max_duration: Duration,
    /// Seeds the stress burst size.
    pub seed: u64,
}

/// One request as the client saw it (a row of `requests.csv`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RequestRecord {
    /// Since the run started.
    pub start_ms: f64,
    pub latency_ms: f64,
    /// HTTP status, 0 when none came back.
    pub status: u16,
    pub error: Option<String>,
}

impl RequestRecord {
    pub fn ok(&self) -> bool {
        (200..300).contains(&self.status) && self.error.is_none()
    }
}

/// Aggregates of one run (the row of `summary.csv`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Summary {
    pub profile: String,
    pub requests: usize,
    pub succeeded: usize,
    pub success_rate: f64,
    /// Over successful requests.
    pub mean_ms: f64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    /// Mean response time with each failure counted as the client timeout (the paper's).
    pub penalized_mean_s: f64,
    pub throughput_rps: f64,
    pub wall_s: f64,
    /// `5 (1 - success_rate) + 2 max(0, penalized_mean_s - 2)`.
    pub stress_penalty: f64,
    pub interrupted: bool,
}

/// The paper's stress penalty.
pub fn stress_penalty(success_rate: f64, mean_response_s: f64) -> f64 {
    5.0 * (1.0 - success_rate) + 2.0 * (mean_response_s - 2.0).max(0.0)
}

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// Installs this process's Ctrl-C handler (once): the first Ctrl-C stops the running load test
/// (goose's killswitch) and marks the process interrupted, so callers tear down what they
/// deployed; a second one exits at once.
pub fn install_interrupt_handler() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let installed = ctrlc::set_handler(|| {
            if INTERRUPTED.swap(true, Ordering::SeqCst) {
                std::process::exit(130);
            }
            goose::trigger_killswitch("interrupted (Ctrl-C)");
        });
        if let Err(e) = installed {
            tracing::warn!("no Ctrl-C handler: {e}");
        }
    });
}

/// Whether Ctrl-C was pressed during this process.
pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

/// goose's killswitch is process-global: one run at a time.
static ONE_RUN_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Runs one plan to completion (or to its caps, or Ctrl-C). Runs in one process take turns.
pub async fn run(plan: &LoadPlan) -> anyhow::Result<(Vec<RequestRecord>, Summary)> {
    install_interrupt_handler();
    require_loopback(&plan.base)?;
    let _turn = ONE_RUN_AT_A_TIME.lock().await;
    let records = Arc::new(Mutex::new(Vec::new()));
    let sent = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let transaction = record_requests(plan, records.clone(), sent.clone(), started);
    let scenario = scenario!("cipherscale").register_transaction(transaction);
    let configuration = GooseConfiguration::parse_args_default(&goose_args(plan))
        .map_err(|e| anyhow::anyhow!("goose configuration: {e}"))?;
    let attack = GooseAttack::initialize_with_config(configuration)?.register_scenario(scenario);
    let execution = attack.execute();
    tokio::pin!(execution);
    // At the time cap the run is stopped like a Ctrl-C: users finish their request, then end.
    let result = tokio::select! {
        result = &mut execution => result,
        () = tokio::time::sleep(plan.max_duration) => {
            goose::trigger_killswitch("time cap reached");
            let grace = plan.timeout + Duration::from_secs(5);
            match tokio::time::timeout(grace, &mut execution).await {
                Ok(result) => result,
                Err(_) => bail!("goose did not stop within {grace:?} of the time cap"),
            }
        }
    };
    result.map_err(|e| anyhow::anyhow!("goose: {e:?}"))?;
    let wall = started.elapsed();
    let records = std::mem::take(&mut *crate::lock(&records));
    let summary = summarize(plan.profile.name(), plan.timeout, &records, wall);
    Ok((records, summary))
}

/// The transaction: one request of the plan's payload, recorded; the `max_requests`th answer
/// stops the run (requests in flight then still finish).
fn record_requests(
    plan: &LoadPlan,
    records: Arc<Mutex<Vec<RequestRecord>>>,
    sent: Arc<AtomicUsize>,
    started: Instant,
) -> Transaction {
    let payload = plan.payload.clone();
    let cap = plan.max_requests;
    let function: TransactionFunction = Arc::new(move |user| {
        let (payload, records, sent) = (payload.clone(), records.clone(), sent.clone());
        Box::pin(async move {
            if sent.fetch_add(1, Ordering::SeqCst) >= cap {
                // Sent enough: idle until the last answer stops the run.
                tokio::time::sleep(Duration::from_millis(10)).await;
                return Ok(());
            }
            let builder = match &payload {
                Payload::Get { path } => user.get_request_builder(&GooseMethod::Get, path)?,
                Payload::Post {
                    path,
                    body,
                    headers,
                } => headers.iter().fold(
                    user.get_request_builder(&GooseMethod::Post, path)?
                        .body(body.as_ref().clone()),
                    |b, (name, value)| b.header(name, value),
                ),
            };
            let request = GooseRequest::builder().set_request_builder(builder).build();
            let begin = Instant::now();
            let start_ms = begin.duration_since(started).as_secs_f64() * 1e3;
            let response = user.request(request).await?;
            let (status, error) = match response.response {
                Ok(answer) => {
                    let status = answer.status().as_u16();
                    match answer.bytes().await {
                        Ok(_) if (200..300).contains(&status) => (status, None),
                        Ok(_) => (status, Some(format!("HTTP {status}"))),
                        Err(e) => (status, Some(format!("reading the body: {e}"))),
                    }
                }
                Err(e) => (0, Some(e.to_string())),
            };
            let record = RequestRecord {
                start_ms,
                latency_ms: begin.elapsed().as_secs_f64() * 1e3,
                status,
                error,
            };
            let mut records = crate::lock(&records);
            records.push(record);
            if records.len() >= cap {
                goose::trigger_killswitch("request cap reached");
            }
            Ok(())
        })
    });
    Transaction::new(function).set_name("request")
}

/// goose's options for a plan: users, start rate, bounds, and everything interactive off.
fn goose_args(plan: &LoadPlan) -> Vec<String> {
    let seconds = |d: Duration| format!("{}", d.as_secs().max(1));
    let mut args: Vec<String> = vec![
        "--host".into(),
        plan.base.clone(),
        "--quiet".into(),
        "--no-print-metrics".into(),
        "--no-error-summary".into(),
        "--no-telnet".into(),
        "--co-mitigation".into(),
        "disabled".into(),
        "--timeout".into(),
        format!("{}", plan.timeout.as_secs_f64()),
    ];
    let mut set = |name: &str, value: String| args.extend([name.to_owned(), value]);
    match &plan.profile {
        Profile::Probe => {
            set("--users", "1".into());
            set("--iterations", "1".into());
        }
        Profile::Stress { min, max } => {
            let n = rand_chacha::ChaCha8Rng::seed_from_u64(plan.seed).random_range(*min..=*max);
            set("--users", n.to_string());
            // All users within a millisecond: a burst, not a ramp.
            set("--increase-rate", (1000 * n).to_string());
            set("--iterations", "1".into());
        }
        Profile::Ramp {
            users,
            over,
            requests,
        } => {
            set("--users", users.to_string());
            let rate = *users as f64 / over.as_secs_f64().max(1e-3);
            set("--increase-rate", format!("{rate}"));
            set("--iterations", requests.div_ceil(*users).to_string());
        }
        Profile::Steady { rate, duration } => {
            // Enough users to keep the rate while each waits up to the timeout.
            let users = (*rate as f64 * plan.timeout.as_secs_f64()).ceil() as usize + 1;
            set("--users", users.min(1000).to_string());
            set("--increase-rate", (1000 * users).to_string());
            set("--throttle-requests", rate.to_string());
            set("--run-time", seconds(*duration));
            // Our records are per request; goose's own metrics would reset after the start.
            args.push("--no-reset-metrics".into());
        }
    }
    args
}

/// The aggregates of `records` of a run of `profile` that took `wall`, failures counted as
/// `timeout` in the penalised mean.
pub fn summarize(
    profile: &str,
    timeout: Duration,
    records: &[RequestRecord],
    wall: Duration,
) -> Summary {
    let ok: Vec<f64> = records
        .iter()
        .filter(|r| r.ok())
        .map(|r| r.latency_ms)
        .collect();
    let n = records.len();
    let success_rate = if n == 0 {
        0.0
    } else {
        ok.len() as f64 / n as f64
    };
    let timeout_s = timeout.as_secs_f64();
    let penalized_mean_s = if n == 0 {
        timeout_s
    } else {
        records
            .iter()
            .map(|r| {
                if r.ok() {
                    r.latency_ms / 1e3
                } else {
                    timeout_s
                }
            })
            .sum::<f64>()
            / n as f64
    };
    let mean_ms = if ok.is_empty() {
        f64::NAN
    } else {
        ok.iter().sum::<f64>() / ok.len() as f64
    };
    let pct = |q: f64| crate::stats::percentile(&ok, q);
    Summary {
        profile: profile.into(),
        requests: n,
        succeeded: ok.len(),
        success_rate,
        mean_ms,
        p50_ms: pct(0.5),
        p95_ms: pct(0.95),
        p99_ms: pct(0.99),
        penalized_mean_s,
        throughput_rps: ok.len() as f64 / wall.as_secs_f64().max(1e-9),
        wall_s: wall.as_secs_f64(),
        stress_penalty: stress_penalty(success_rate, penalized_mean_s),
        interrupted: interrupted(),
    }
}

/// Refuses any target but this machine: load is only ever sent to loopback.
pub fn require_loopback(base: &str) -> anyhow::Result<()> {
    let url = url::Url::parse(base).with_context(|| format!("{base:?} is not a URL"))?;
    let host = url.host_str().unwrap_or_default();
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let loopback = host == "localhost" || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback());
    if !loopback {
        bail!("load is only sent to loopback (127.0.0.1, ::1, localhost), not {host:?}");
    }
    Ok(())
}

/// Writes `requests.csv` (one row per request) and `summary.csv` into `dir`; returns the path
/// of the summary.
pub fn write(
    dir: &std::path::Path,
    records: &[RequestRecord],
    summary: &Summary,
    stamp: &crate::output::Stamp,
) -> anyhow::Result<std::path::PathBuf> {
    use crate::output::CsvSink;
    let mut sink = CsvSink::create(&dir.join("requests.csv"), stamp)?;
    for record in records {
        sink.push(record)?;
    }
    sink.finish()?;
    let mut sink = CsvSink::create(&dir.join("summary.csv"), stamp)?;
    sink.push(summary)?;
    sink.finish()
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: {} requests, success {:.3}, mean {:.1} ms, p95 {:.1} ms, {:.2} req/s, stress penalty {:.3}{}",
            self.profile,
            self.requests,
            self.success_rate,
            self.mean_ms,
            self.p95_ms,
            self.throughput_rps,
            self.stress_penalty,
            if self.interrupted { " (interrupted)" } else { "" },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn penalty_is_the_papers() {
        assert_eq!(stress_penalty(1.0, 1.5), 0.0);
        assert_eq!(stress_penalty(0.5, 2.0), 2.5);
        assert!((stress_penalty(0.8, 3.5) - 4.0).abs() < 1e-12);
    }

    #[test]
    fn only_loopback_is_a_target() {
        assert!(require_loopback("http://127.0.0.1:8080").is_ok());
        assert!(require_loopback("http://[::1]:8080").is_ok());
        assert!(require_loopback("http://localhost:1").is_ok());
        assert!(require_loopback("http://10.0.0.1:8080").is_err());
        assert!(require_loopback("https://example.com").is_err());
        assert!(require_loopback("not a url").is_err());
    }
}
