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

/// Starts the proxy for `pool` on a free loopback port.
pub fn start(pool: Pool) -> anyhow::Result<InProcess> {
    InProcess::start(move |listener, shutdown| async move {
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

async fn forward(State(forwarder): State<Forwarder>, request: Request) -> Response {
    let Some(backend) = forwarder.pool.pick() else {
        let mut refusal =
            ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "no replica is ready").into_response();
        refusal
            .headers_mut()
            .insert(header::RETRY_AFTER, header::HeaderValue::from(1));
        return refusal;
    };
    backend.in_flight.fetch_add(1, Ordering::AcqRel);
    let _in_flight = InFlight(backend.clone());
    let (mut parts, body) = request.into_parts();
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    parts.uri = match format!("{}{path}", backend.base).parse() {
        Ok(uri) => uri,
        Err(e) => return ApiError::new(StatusCode::BAD_REQUEST, e.to_string()).into_response(),
    };
    parts.headers.remove(header::HOST);
    match forwarder
        .client
        .request(Request::from_parts(parts, body))
        .await
    {
        Ok(response) => {
            backend.forwarded.fetch_add(1, Ordering::Relaxed);
            response.map(Body::new)
        }
        Err(e) => ApiError::new(
            StatusCode::BAD_GATEWAY,
            format!("replica {} did not answer: {e}", backend.base),
        )
        .into_response(),
    }
}
