//! The local deployment's front door: one loopback port that forwards every request, round robin,
//! to the replicas in the [`Pool`], counting what each one has in flight so a replica can be
//! drained before it stops.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use crate::serve::api::ApiError;
use crate::serve::InProcess;

/// One replica as the proxy sees it.
#[derive(Debug)]
pub struct Backend {
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    in_flight: AtomicUsize,
    /// Requests forwarded to it so far.
    pub forwarded: AtomicU64,
}

impl Backend {
    pub fn new(base: String) -> Arc<Self> {
        Arc::new(Self {
            base,
            in_flight: AtomicUsize::new(0),
            forwarded: AtomicU64::new(0),
        })
    }

    /// Waits until nothing is in flight to this backend, or `timeout` passes; whether it is idle.
    pub fn wait_idle(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while self.in_flight.load(Ordering::Acquire) > 0 {
            if Instant::now() > deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        true
    }
}

/// The replicas receiving traffic.
#[derive(Clone, Default)]
pub struct Pool(Arc<PoolInner>);

#[derive(Default)]
struct PoolInner {
    backends: RwLock<Vec<Arc<Backend>>>,
    next: AtomicUsize,
}

impl Pool {
    pub fn add(&self, backend: Arc<Backend>) {
        let mut backends = self.write();
        if !backends.iter().any(|b| b.base == backend.base) {
            backends.push(backend);
        }
    }

    /// Takes a backend out of rotation (requests already forwarded continue).
    pub fn remove(&self, base: &str) {
        self.write().retain(|b| b.base != base);
    }

    pub fn len(&self) -> usize {
        self.0
            .backends
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The next backend in rotation.
    fn pick(&self) -> Option<Arc<Backend>> {
        let backends = self.0.backends.read().unwrap_or_else(|p| p.into_inner());
        if backends.is_empty() {
            return None;
        }
        let turn = self.0.next.fetch_add(1, Ordering::Relaxed);
        Some(backends[turn % backends.len()].clone())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Vec<Arc<Backend>>> {
        self.0.backends.write().unwrap_or_else(|p| p.into_inner())
    }
}

#[derive(Clone)]
struct Forwarder {
    pool: Pool,
    client: Client<HttpConnector, Body>,
}

/// Starts the proxy for `pool` on `address` (port 0: a free one).
pub fn start(pool: Pool, address: std::net::SocketAddr) -> anyhow::Result<InProcess> {
    InProcess::start_on(address, move |listener, shutdown| async move {
        let forwarder = Forwarder {
            pool,
            client: Client::builder(TokioExecutor::new()).build_http(),
        };
        let app = Router::new().fallback(forward).with_state(forwarder);
        axum::serve(listener, app)
            .with_graceful_shutdown(shutdown)
            .await?;
        Ok(())
    })
}

/// Counts a request as in flight to a backend while alive.
struct InFlight(Arc<Backend>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Bodies up to this size are held so a request can go to another replica when the one picked
/// refuses the connection (it died since the last health check); larger ones (key uploads)
/// are streamed and not retried.
const RETRY_BODY_BYTES: u64 = 16 << 20;

async fn forward(State(forwarder): State<Forwarder>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let length = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    let bodiless =
        parts.method == axum::http::Method::GET || parts.method == axum::http::Method::HEAD;
    if !(bodiless || length.is_some_and(|n| n <= RETRY_BODY_BYTES)) {
        return match forwarder.pool.pick() {
            Some(backend) => forward_to(&forwarder, &backend, parts, Body::new(body))
                .await
                .unwrap_or_else(|e| bad_gateway(&backend, &e)),
            None => no_replica(),
        };
    }
    let bytes = match axum::body::to_bytes(Body::new(body), RETRY_BODY_BYTES as usize).await {
        Ok(bytes) => bytes,
        Err(e) => return ApiError::new(StatusCode::BAD_REQUEST, e.to_string()).into_response(),
    };
    // Each replica at most once: one that refuses the connection leaves the rotation.
    for _ in 0..forwarder.pool.len().max(1) {
        let Some(backend) = forwarder.pool.pick() else {
            break;
        };
        match forward_to(
            &forwarder,
            &backend,
            parts.clone(),
            Body::from(bytes.clone()),
        )
        .await
        {
            Err(e) if e.is_connect() => {
                tracing::warn!(
                    "replica {} refused a connection: out of rotation",
                    backend.base
                );
                forwarder.pool.remove(&backend.base);
            }
            Err(e) => return bad_gateway(&backend, &e),
            Ok(response) => return response,
        }
    }
    no_replica()
}

/// Sends one request to `backend`, counted in flight while it runs.
async fn forward_to(
    forwarder: &Forwarder,
    backend: &Arc<Backend>,
    mut parts: axum::http::request::Parts,
    body: Body,
) -> Result<Response, hyper_util::client::legacy::Error> {
    backend.in_flight.fetch_add(1, Ordering::AcqRel);
    let _in_flight = InFlight(backend.clone());
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    parts.uri = match format!("{}{path}", backend.base).parse() {
        Ok(uri) => uri,
        Err(e) => {
            return Ok(ApiError::new(StatusCode::BAD_REQUEST, e.to_string()).into_response());
        }
    };
    parts.headers.remove(header::HOST);
    let response = forwarder
        .client
        .request(Request::from_parts(parts, body))
        .await?;
    backend.forwarded.fetch_add(1, Ordering::Relaxed);
    Ok(response.map(Body::new))
}

fn no_replica() -> Response {
    let mut refusal =
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "no replica is ready").into_response();
    refusal
        .headers_mut()
        .insert(header::RETRY_AFTER, header::HeaderValue::from(1));
    refusal
}

fn bad_gateway(backend: &Backend, e: &hyper_util::client::legacy::Error) -> Response {
    ApiError::new(
        StatusCode::BAD_GATEWAY,
        format!("replica {} did not answer: {e}", backend.base),
    )
    .into_response()
}
