//! goose load profiles against a loopback server with a known delay and failure rate.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use cipherscale::load::{self, LoadPlan, Payload, Profile, RequestRecord, Summary};
use cipherscale::serve::InProcess;

const DELAY: Duration = Duration::from_millis(40);
/// Every 4th request the server answers 500.
const FAIL_EVERY: usize = 4;

/// A server that sleeps `DELAY` per request and fails every `FAIL_EVERY`th; returns it and its
/// request counter.
fn flaky_server() -> (InProcess, Arc<AtomicUsize>) {
    let count = Arc::new(AtomicUsize::new(0));
    let counter = count.clone();
    let server = InProcess::start(move |listener, shutdown| async move {
        let app = Router::new().route(
            "/work",
            get(move || {
                let n = counter.fetch_add(1, Ordering::SeqCst) + 1;
                async move {
                    tokio::time::sleep(DELAY).await;
                    if n.is_multiple_of(FAIL_EVERY) {
                        StatusCode::INTERNAL_SERVER_ERROR
                    } else {
                        StatusCode::OK
                    }
                }
            }),
        );
        axum::serve(listener, app)
            .with_graceful_shutdown(shutdown)
            .await?;
        Ok(())
    })
    .unwrap();
    (server, count)
}

fn plan(base: &str, profile: Profile) -> LoadPlan {
    LoadPlan {
        base: base.to_owned(),
        payload: Payload::Get {
            path: "/work".into(),
        },
        profile,
        timeout: Duration::from_secs(10),
        max_requests: 1000,
        max_duration: Duration::from_secs(30),
        seed: 7,
    }
}

fn run(plan: &LoadPlan) -> (Vec<RequestRecord>, Summary) {
    tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(load::run(plan))
        .unwrap()
}

fn statuses(records: &[RequestRecord]) -> (usize, usize) {
    let ok = records.iter().filter(|r| r.status == 200).count();
    let failed = records.iter().filter(|r| r.status == 500).count();
    (ok, failed)
}

#[test]
fn profiles_see_what_the_server_injected() {
    let (server, served) = flaky_server();

    // Ten runs in one process: goose's global state is reset between them.
    for _ in 0..10 {
        let (records, summary) = run(&plan(&server.base, Profile::Probe));
        assert_eq!(records.len(), 1);
        assert_eq!(summary.requests, 1);
    }
    assert_eq!(served.swap(0, Ordering::SeqCst), 10);

    // A burst of exactly 8: 2 fail; each failure counts as the 10 s timeout in the penalty.
    let (records, summary) = run(&plan(&server.base, Profile::Stress { min: 8, max: 8 }));
    assert_eq!(served.swap(0, Ordering::SeqCst), 8);
    assert_eq!(statuses(&records), (6, 2));
    assert_eq!(summary.success_rate, 0.75);
    assert!(records
        .iter()
        .all(|r| r.latency_ms >= DELAY.as_secs_f64() * 1e3));
    let ok_seconds: f64 = records
        .iter()
        .filter(|r| r.ok())
        .map(|r| r.latency_ms / 1e3)
        .sum();
    let mean = (ok_seconds + 2.0 * 10.0) / 8.0;
    assert!((summary.penalized_mean_s - mean).abs() < 1e-9);
    let penalty = 5.0 * 0.25 + 2.0 * (mean - 2.0);
    assert!(
        (summary.stress_penalty - penalty).abs() < 1e-9,
        "{summary:?}"
    );
    // The burst is concurrent: all 8 start within a fraction of the delay.
    let first = records.iter().map(|r| r.start_ms).fold(f64::MAX, f64::min);
    let last = records.iter().map(|r| r.start_ms).fold(0.0, f64::max);
    assert!(last - first < 1000.0, "{first} .. {last}");

    // A ramp of 4 users, 12 requests: every 4th fails.
    let ramp = Profile::Ramp {
        users: 4,
        over: Duration::from_millis(500),
        requests: 12,
    };
    let (records, summary) = run(&plan(&server.base, ramp));
    assert_eq!(served.swap(0, Ordering::SeqCst), 12);
    assert_eq!(statuses(&records), (9, 3));
    assert_eq!(summary.succeeded, 9);

    // A steady 20 requests/s for 2 s, and the same capped at 10 requests.
    let steady = Profile::Steady {
        rate: 20,
        duration: Duration::from_secs(2),
    };
    let (records, summary) = run(&plan(&server.base, steady.clone()));
    served.swap(0, Ordering::SeqCst);
    assert!((25..=45).contains(&records.len()), "{summary:?}");
    assert!(summary.wall_s < 10.0, "{summary:?}");
    let mut capped = plan(&server.base, steady);
    capped.max_requests = 10;
    let (records, _) = run(&capped);
    assert_eq!(records.len(), 10);
}

#[test]
fn load_goes_only_to_loopback() {
    let remote = plan("http://192.0.2.1:80", Profile::Probe);
    let error = tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(load::run(&remote))
        .unwrap_err();
    assert!(error.to_string().contains("loopback"), "{error:#}");
}

#[test]
fn ctrl_c_stops_a_cli_run_cleanly_and_keeps_what_it_measured() {
    let (server, served) = flaky_server();
    let out = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_cipherscale"))
        .args([
            "load",
            "--url",
            &server.base,
            "--path",
            "/work",
            "--profile",
            "steady",
        ])
        .args(["--rate", "5", "--duration-s", "60", "--out"])
        .arg(out.path())
        .env("RUST_LOG", "warn")
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while served.load(Ordering::SeqCst) < 3 {
        assert!(
            std::time::Instant::now() < deadline,
            "the load never arrived"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let pid = child.id().to_string();
    std::process::Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .unwrap();
    let stopped = std::time::Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if stopped.elapsed() > Duration::from_secs(20) {
            let _ = child.kill();
            panic!("the run did not stop within 20 s of Ctrl-C");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(
        status.code(),
        Some(1),
        "an interrupted run says so in its status"
    );
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "no process left"
    );
    let mut summary = csv::Reader::from_path(out.path().join("summary.csv")).unwrap();
    let header = summary.headers().unwrap().clone();
    let interrupted = header.iter().position(|h| h == "interrupted").unwrap();
    let row = summary.records().next().unwrap().unwrap();
    assert_eq!(&row[interrupted], "true", "{row:?}");
    let requests = std::fs::read_to_string(out.path().join("requests.csv")).unwrap();
    assert!(requests.lines().count() > 3, "{requests}");
}

fn cli(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_cipherscale"))
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap()
}

#[test]
fn a_trace_replays_from_the_cli_and_bad_input_is_named() {
    let (server, served) = flaky_server();
    let dir = tempfile::tempdir().unwrap();
    // A day in which minutes 2..=4 hold 30, 60 and 30 requests; at --compress 60 each lasts a
    // second, and --scale 0.5 halves them: about 60 requests over 3 s.
    let trace = dir.path().join("trace.csv");
    let mut text = String::from("minute,requests\n");
    for minute in 0..1440 {
        let count = [0, 0, 30, 60, 30].get(minute).copied().unwrap_or(0);
        text.push_str(&format!("{minute},{count}\n"));
    }
    std::fs::write(&trace, &text).unwrap();
    let out = dir.path().join("out");
    let replay = |trace: &std::path::Path, url: &str| {
        let args = [
            "load",
            "--url",
            url,
            "--path",
            "/work",
            "--profile",
            "trace",
            "--trace",
            trace.to_str().unwrap(),
            "--compress",
            "60",
            "--scale",
            "0.5",
            "--start-minute",
            "2",
            "--minutes",
            "3",
            "--out",
            out.to_str().unwrap(),
        ];
        cli(&args)
    };
    let output = replay(&trace, &server.base);
    assert!(output.status.success(), "{output:?}");
    let requests: Vec<RequestRecord> = cipherscale::output::read_rows(&out.join("requests.csv"))
        .unwrap()
        .unwrap();
    let sent = requests.len();
    assert!((35..=90).contains(&sent), "{sent} requests for about 60");
    assert_eq!(
        sent,
        served.load(Ordering::SeqCst),
        "every request recorded"
    );
    let (ok, failed) = statuses(&requests);
    assert_eq!(ok + failed, sent, "the server answered each: {requests:?}");
    assert!(requests.iter().all(|r| r.start_ms < 3500.0), "{requests:?}");

    // A malformed row is named by its line; a remote address is refused before any request.
    std::fs::write(&trace, text.replace("\n3,60\n", "\n3,sixty\n")).unwrap();
    let output = replay(&trace, &server.base);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        stderr.contains("trace.csv") && stderr.contains("sixty"),
        "{stderr}"
    );
    std::fs::write(&trace, &text).unwrap();
    let output = replay(&trace, "http://192.0.2.1:80");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !output.status.success() && stderr.contains("loopback"),
        "{stderr}"
    );
}
