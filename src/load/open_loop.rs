//! Open-loop load: each request leaves at its own arrival time whatever the earlier ones are
//! doing, as independent users' requests do (the Poisson arrivals a capacity plan assumes, or a
//! replayed trace). Closed-loop clients ([`super::closed_loop`]) wait for each answer instead, so
//! they can never build the queue an open stream builds.
//!
//! Requests go out from one thread (an async client on a single-threaded runtime, so the sender
//! takes little of the cores the replicas run on); each records when it was due and when it left
//! (the sender's lag), what came back, and the replica's `Server-Timing`.

use std::time::{Duration, Instant};

use anyhow::Context;
use axum::body::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use crate::serve::timing::{self, ServerTiming};

/// What to send, where and when.
#[derive(Debug, Clone)]
pub struct OpenLoop {
    /// `http://127.0.0.1:PORT` (loopback only).
    pub base: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    /// Request `i` sends body `i % bodies.len()` (POST; an empty body: GET).
    pub bodies: Vec<Bytes>,
    /// When each request is due, seconds from the start, ascending.
    pub arrivals_s: Vec<f64>,
    /// Longest one request may take before it counts as failed.
    pub timeout: Duration,
    /// No request is sent past this; those in flight then still finish.
    pub max_duration: Duration,
    /// Keep every answer's body (to decrypt and check them afterwards).
    pub keep_answers: bool,
    /// Each request also waits for the previous answer (closed loop, one client): what a
    /// request costs with no queue, e.g. to calibrate a model before an open-loop run.
    pub one_at_a_time: bool,
    /// Largest answer read.
    pub answer_limit: usize,
}

/// One request as the sender saw it.
#[derive(Debug, Clone)]
pub struct Sent {
    /// The body it sent (an index into [`OpenLoop::bodies`]).
    pub body: usize,
    pub due_s: f64,
    /// How late it left (the sender falling behind), milliseconds.
    pub lag_ms: f64,
    pub latency_ms: f64,
    /// HTTP status, 0 when none came back.
    pub status: u16,
    pub error: Option<String>,
    pub timing: Option<ServerTiming>,
    pub answer: Option<Bytes>,
}

impl Sent {
    pub fn ok(&self) -> bool {
        (200..300).contains(&self.status) && self.error.is_none()
    }
}

/// Sends every request of `plan` that is due within its time cap (or until Ctrl-C) and waits
/// for their answers; one record per request sent, in order of arrival.
pub fn run(plan: &OpenLoop) -> anyhow::Result<Vec<Sent>> {
    super::install_interrupt_handler();
    super::require_loopback(&plan.base)?;
    anyhow::ensure!(
        !plan.bodies.is_empty(),
        "an open-loop run needs a request body"
    );
    anyhow::ensure!(
        plan.arrivals_s.windows(2).all(|w| w[0] <= w[1]),
        "arrival times must ascend"
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the load's runtime")?;
    runtime.block_on(send_all(plan))
}

async fn send_all(plan: &OpenLoop) -> anyhow::Result<Vec<Sent>> {
    let client: Client<HttpConnector, Full<Bytes>> =
        Client::builder(TokioExecutor::new()).build_http();
    let url: hyper::Uri = format!("{}{}", plan.base.trim_end_matches('/'), plan.path)
        .parse()
        .with_context(|| format!("{}{} is not a URL", plan.base, plan.path))?;
    let started = tokio::time::Instant::now();
    // One at a time, every request is answered before the next leaves, so `answered` holds
    // them all in order; otherwise they are all `in_flight` until the last has left.
    let (mut answered, mut in_flight) = (Vec::new(), Vec::new());
    for (i, &due_s) in plan.arrivals_s.iter().enumerate() {
        if due_s > plan.max_duration.as_secs_f64() || super::interrupted() {
            break;
        }
        tokio::time::sleep_until(started + Duration::from_secs_f64(due_s)).await;
        let body = i % plan.bodies.len();
        let request = build(&url, &plan.headers, plan.bodies[body].clone())?;
        let (client, settings) = (client.clone(), plan.clone_settings());
        let request = tokio::spawn(async move {
            let lag_ms = (started.elapsed().as_secs_f64() - due_s).max(0.0) * 1e3;
            let mut sent = send(&client, request, &settings, body, due_s).await;
            sent.lag_ms = lag_ms;
            sent
        });
        if plan.one_at_a_time {
            answered.push(request.await.context("a request task failed")?);
        } else {
            in_flight.push(request);
        }
    }
    for request in in_flight {
        answered.push(request.await.context("a request task failed")?);
    }
    Ok(answered)
}

/// What each request task needs of the plan (not its bodies).
struct Settings {
    timeout: Duration,
    keep_answers: bool,
    answer_limit: usize,
}

impl OpenLoop {
    fn clone_settings(&self) -> Settings {
        Settings {
            timeout: self.timeout,
            keep_answers: self.keep_answers,
            answer_limit: self.answer_limit,
        }
    }
}

fn build(
    url: &hyper::Uri,
    headers: &[(String, String)],
    body: Bytes,
) -> anyhow::Result<hyper::Request<Full<Bytes>>> {
    // An empty body is a GET (a health check or any other read-only route).
    let builder = match body.is_empty() {
        true => hyper::Request::get(url.clone()),
        false => hyper::Request::post(url.clone())
            .header(hyper::header::CONTENT_TYPE, "application/octet-stream"),
    };
    let builder = headers
        .iter()
        .fold(builder, |b, (name, value)| b.header(name, value));
    builder.body(Full::new(body)).context("building a request")
}

async fn send(
    client: &Client<HttpConnector, Full<Bytes>>,
    request: hyper::Request<Full<Bytes>>,
    settings: &Settings,
    body: usize,
    due_s: f64,
) -> Sent {
    let begin = Instant::now();
    let answer = tokio::time::timeout(settings.timeout, async {
        let response = client
            .request(request)
            .await
            .map_err(|e| (0, e.to_string()))?;
        let status = response.status().as_u16();
        let timing = response
            .headers()
            .get(timing::HEADER)
            .and_then(|v| v.to_str().ok())
            .and_then(ServerTiming::parse);
        let bytes = Limited::new(response.into_body(), settings.answer_limit)
            .collect()
            .await
            .map_err(|e| (status, format!("reading the answer: {e}")))?
            .to_bytes();
        Ok::<_, (u16, String)>((status, timing, bytes))
    })
    .await;
    let latency_ms = begin.elapsed().as_secs_f64() * 1e3;
    let mut sent = Sent {
        body,
        due_s,
        lag_ms: 0.0,
        latency_ms,
        status: 0,
        error: None,
        timing: None,
        answer: None,
    };
    match answer {
        Err(_) => sent.error = Some(format!("no answer within {:?}", settings.timeout)),
        Ok(Err((status, error))) => (sent.status, sent.error) = (status, Some(error)),
        Ok(Ok((status, timing, bytes))) => {
            sent.status = status;
            sent.timing = timing;
            if !(200..300).contains(&status) {
                sent.error = Some(format!(
                    "HTTP {status}: {}",
                    String::from_utf8_lossy(&bytes[..bytes.len().min(200)])
                ));
            } else if settings.keep_answers {
                sent.answer = Some(bytes);
            }
        }
    }
    sent
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::routing::post;

    /// A loopback server that answers after 20 ms with a Server-Timing header.
    fn echo_server() -> crate::serve::InProcess {
        crate::serve::InProcess::start(|listener, shutdown| async move {
            let app = axum::Router::new().route(
                "/echo",
                post(|body: Bytes| async move {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    let timing = ServerTiming {
                        queue_ms: 0.0,
                        key_ms: 0.0,
                        eval_ms: 20.0,
                    };
                    ([(timing::HEADER, timing.header_value())], body)
                }),
            );
            axum::serve(listener, app)
                .with_graceful_shutdown(shutdown)
                .await?;
            Ok(())
        })
        .unwrap()
    }

    #[test]
    fn requests_leave_on_time_and_overlap() {
        let server = echo_server();
        let plan = OpenLoop {
            base: server.base.clone(),
            path: "/echo".into(),
            headers: vec![("x-test".into(), "1".into())],
            bodies: vec![Bytes::from_static(b"a"), Bytes::from_static(b"b")],
            // Ten requests 5 ms apart: each takes 20 ms, so they overlap.
            arrivals_s: (0..10).map(|i| i as f64 * 0.005).collect(),
            timeout: Duration::from_secs(10),
            max_duration: Duration::from_secs(10),
            keep_answers: true,
            answer_limit: 1 << 10,
            one_at_a_time: false,
        };
        let sent = run(&plan).unwrap();
        assert_eq!(sent.len(), 10);
        let overlapping = sent
            .windows(2)
            .any(|w| w[1].due_s < w[0].due_s + w[0].latency_ms / 1e3);
        assert!(overlapping, "open-loop requests do not wait for answers");
        for (i, s) in sent.iter().enumerate() {
            assert!(s.ok(), "{s:?}");
            assert_eq!(s.body, i % 2);
            let expected: &[u8] = if i % 2 == 0 { b"a" } else { b"b" };
            assert_eq!(s.answer.as_deref(), Some(expected));
            assert_eq!(s.timing.map(|t| t.eval_ms), Some(20.0));
            assert!(s.latency_ms >= 20.0, "{s:?}");
        }
    }

    #[test]
    fn the_time_cap_and_the_target_are_enforced() {
        let server = echo_server();
        let mut plan = OpenLoop {
            base: server.base.clone(),
            path: "/echo".into(),
            headers: Vec::new(),
            bodies: vec![Bytes::from_static(b"x")],
            arrivals_s: vec![0.0, 0.01, 5.0, 6.0],
            timeout: Duration::from_secs(10),
            max_duration: Duration::from_secs(1),
            keep_answers: false,
            answer_limit: 1 << 10,
            one_at_a_time: false,
        };
        let sent = run(&plan).unwrap();
        assert_eq!(sent.len(), 2, "requests due after the cap are not sent");
        assert!(sent.iter().all(|s| s.ok() && s.answer.is_none()));
        plan.one_at_a_time = true;
        plan.arrivals_s = vec![0.0; 3];
        let started = Instant::now();
        let sent = run(&plan).unwrap();
        assert_eq!(sent.len(), 3);
        assert!(
            started.elapsed() >= Duration::from_millis(60),
            "one at a time: 3 x 20 ms"
        );
        assert!(sent[2].lag_ms >= 40.0, "{:?}", sent[2]);
        plan.path = "/missing".into();
        let sent = run(&plan).unwrap();
        assert!(sent.iter().all(|s| s.status == 404 && s.error.is_some()));
        plan.base = "http://192.0.2.1:80".into();
        assert!(run(&plan).is_err());
    }
}
