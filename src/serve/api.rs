//! The HTTP routes of one replica.
//!
//! | route | answer |
//! |---|---|
//! | `GET /healthz` | 200 while the process serves |
//! | `GET /readyz` | 200 once artifacts and stored keys are loaded, else 503 |
//! | `GET /metrics` | Prometheus text |
//! | `GET /v1/circuit` | the public [`CircuitDescription`] (JSON) |
//! | `POST /v1/keys` | evaluation-key upload; 201 (or 200 if known) with `{"key_id": ..}` |
//! | `POST /v1/recommend` | ciphertext in, ciphertext out; key id in [`KEY_HEADER`]; where the time went in `Server-Timing` ([`super::timing`]) |
//!
//! Errors are JSON `{"error": "..."}`: 400 malformed, 404 unknown key, 413 too large, 422 another
//! circuit's parameters or format version, 503 overloaded (with `Retry-After`), 504 past the
//! request timeout, 500 only for a server fault. FHE work runs on a blocking pool of
//! `workers` threads; at most `queue` more requests wait for one.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::body::{Body, Bytes};
use axum::extract::{MatchedPath, Request, State as Extract};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use tokio::sync::Semaphore;

use super::keystore::{KeyId, KeyStore};
use super::metrics::Metrics;
use super::timing::{self, ServerTiming};
use super::{Artifacts, CircuitDescription, ServeConfig, KEY_HEADER};
use crate::fhe::dynamic::Replica;
use crate::fhe::{WireError, MAX_EVAL_KEY_BYTES, MAX_REQUEST_BYTES};
use crate::lock;

/// Largest evaluation-key upload (SQLite holds blobs under 1e9 bytes; the largest key here,
/// glwe-argmax at p = 6, is ~0.56 GB).
pub const MAX_UPLOAD_BYTES: usize = if MAX_EVAL_KEY_BYTES < 900_000_000 {
    MAX_EVAL_KEY_BYTES
} else {
    900_000_000
};

/// An error answer: status and a message for the caller.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
    retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            retry_after: None,
        }
    }

    fn internal(error: impl std::fmt::Display) -> Self {
        tracing::error!("{error:#}");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, format!("{error:#}"))
    }
}

impl From<WireError> for ApiError {
    fn from(error: WireError) -> Self {
        let status = match error {
            WireError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            WireError::Version { .. }
            | WireError::WrongPipeline { .. }
            | WireError::WrongParameters { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            WireError::Truncated(_)
            | WireError::BadMagic
            | WireError::WrongKind { .. }
            | WireError::Malformed(_) => StatusCode::BAD_REQUEST,
        };
        Self::new(status, error.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (
            self.status,
            Json(serde_json::json!({ "error": self.message })),
        )
            .into_response();
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

/// A replica built from one evaluation key of `bytes` bytes.
#[derive(Clone)]
struct Keyed {
    id: KeyId,
    replica: Arc<dyn Replica>,
    bytes: usize,
}

/// Replicas built from evaluation keys, least recently used first; bounded by the keys' bytes.
struct KeyCache {
    capacity_bytes: usize,
    entries: Mutex<VecDeque<Keyed>>,
}

impl KeyCache {
    fn get(&self, id: &KeyId) -> Option<Arc<dyn Replica>> {
        let mut entries = lock(&self.entries);
        let at = entries.iter().position(|e| e.id == *id)?;
        let entry = entries.remove(at)?;
        let replica = entry.replica.clone();
        entries.push_back(entry);
        Some(replica)
    }

    /// Keeps `replica`, evicting the least recently used until the budget holds (the newest key
    /// is always kept, even alone over budget).
    fn insert(&self, keyed: Keyed) {
        let mut entries = lock(&self.entries);
        entries.retain(|e| e.id != keyed.id);
        entries.push_back(keyed);
        while entries.len() > 1
            && entries.iter().map(|e| e.bytes).sum::<usize>() > self.capacity_bytes
        {
            entries.pop_front();
        }
    }

    fn len(&self) -> usize {
        lock(&self.entries).len()
    }
}

/// Everything the handlers share.
#[derive(Clone)]
pub struct State(Arc<Inner>);

struct Inner {
    config: ServeConfig,
    artifacts: Artifacts,
    store: Arc<dyn KeyStore>,
    cache: KeyCache,
    /// The replica of a circuit that needs no evaluation key.
    keyless: Option<Arc<dyn Replica>>,
    metrics: Metrics,
    workers: Arc<Semaphore>,
    /// Recommend requests admitted and not yet answered (waiting or running).
    outstanding: AtomicUsize,
    ready: AtomicBool,
    /// Recent evaluation time in seconds (exponential average), for `Retry-After`.
    recent_eval_s: Mutex<f64>,
}

impl State {
    pub fn new(
        config: ServeConfig,
        artifacts: Artifacts,
        store: Arc<dyn KeyStore>,
    ) -> anyhow::Result<Self> {
        anyhow::ensure!(config.workers > 0, "a replica needs at least one worker");
        let keyless = if artifacts.circuit.needs_eval_key() {
            None
        } else {
            Some(artifacts.circuit.replica(&artifacts.model, &[])?)
        };
        let metrics = Metrics::new(config.workers);
        Ok(Self(Arc::new(Inner {
            workers: Arc::new(Semaphore::new(config.workers)),
            cache: KeyCache {
                capacity_bytes: config.key_cache_bytes,
                entries: Mutex::default(),
            },
            config,
            artifacts,
            store,
            keyless,
            metrics,
            outstanding: AtomicUsize::new(0),
            ready: AtomicBool::new(false),
            recent_eval_s: Mutex::new(1.0),
        })))
    }

    pub fn description(&self) -> &CircuitDescription {
        &self.0.artifacts.description
    }

    fn fingerprint(&self) -> &str {
        &self.0.artifacts.description.fingerprint
    }

    /// Loads the circuit's newest stored keys into the cache (within its budget), then marks the
    /// replica ready. Blocking: run it off the async threads.
    pub fn warm_up(&self) {
        if self.0.keyless.is_none() {
            let ids = self
                .0
                .store
                .recent(self.fingerprint(), 64)
                .unwrap_or_else(|e| {
                    tracing::warn!("listing stored keys: {e:#}");
                    Vec::new()
                });
            let mut loaded_bytes = 0;
            for id in ids {
                if loaded_bytes >= self.0.config.key_cache_bytes {
                    break;
                }
                match self.load_key(&id) {
                    Ok(Some(keyed)) => loaded_bytes += keyed.bytes,
                    Ok(None) => {}
                    Err(e) => tracing::warn!("stored key {id} not loaded: {}", e.message),
                }
            }
            tracing::info!("{} stored keys loaded", self.0.cache.len());
        }
        self.0.ready.store(true, Ordering::Release);
    }

    /// The stored key `id` built into a replica and cached; `None` if the store lacks it.
    fn load_key(&self, id: &KeyId) -> Result<Option<Keyed>, ApiError> {
        let Some(bytes) = self
            .0
            .store
            .get(self.fingerprint(), id)
            .map_err(ApiError::internal)?
        else {
            return Ok(None);
        };
        let replica = self.build(&bytes)?;
        let keyed = Keyed {
            id: id.clone(),
            replica,
            bytes: bytes.len(),
        };
        self.0.cache.insert(keyed.clone());
        Ok(Some(keyed))
    }

    fn build(&self, eval_key: &[u8]) -> Result<Arc<dyn Replica>, ApiError> {
        let artifacts = &self.0.artifacts;
        Ok(artifacts.circuit.replica(&artifacts.model, eval_key)?)
    }

    /// The replica for a request: the keyless one, or the one built from key `id`.
    fn replica_for(&self, id: Option<&KeyId>) -> Result<Arc<dyn Replica>, ApiError> {
        let Some(id) = id else {
            return self.0.keyless.clone().ok_or_else(|| {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    format!("missing {KEY_HEADER} header"),
                )
            });
        };
        if let Some(replica) = self.0.cache.get(id) {
            return Ok(replica);
        }
        match self.load_key(id)? {
            Some(keyed) => Ok(keyed.replica),
            None => Err(ApiError::new(
                StatusCode::NOT_FOUND,
                format!("unknown evaluation key {id}: upload it to POST /v1/keys"),
            )),
        }
    }

    /// Admits a recommend request, or refuses it when workers and queue are full.
    fn admit(&self) -> Result<Admitted, ApiError> {
        let inner = &self.0;
        let capacity = inner.config.workers + inner.config.queue;
        let before = inner.outstanding.fetch_add(1, Ordering::AcqRel);
        let admitted = Admitted(self.clone());
        if before >= capacity {
            let waves = (before + 1).div_ceil(inner.config.workers) as f64;
            let seconds = (*lock(&inner.recent_eval_s) * waves).ceil().max(1.0) as u64;
            return Err(ApiError {
                retry_after: Some(seconds),
                ..ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    format!("overloaded: {capacity} requests already admitted; retry later"),
                )
            });
        }
        Ok(admitted)
    }

    /// Waits for a worker, then evaluates on the blocking pool; the answer and where its time
    /// went.
    async fn evaluate(
        &self,
        admitted: Admitted,
        key: Option<KeyId>,
        request: Bytes,
    ) -> Result<(Vec<u8>, ServerTiming), ApiError> {
        // A guard, not a decrement after the await: a request that times out while waiting is
        // dropped here and must leave the queue gauge too.
        let waiting = Gauge::raise(&self.0.metrics.queued);
        let queued = Instant::now();
        let permit = self.0.workers.clone().acquire_owned().await;
        drop(waiting);
        let permit = permit.map_err(ApiError::internal)?;
        let state = self.clone();
        let work = move || {
            let _held = (permit, admitted);
            let _running = Gauge::raise(&state.0.metrics.in_flight);
            let started = Instant::now();
            let replica = state.replica_for(key.as_ref())?;
            let keyed = Instant::now();
            let response = replica.eval(&request)?;
            let seconds = keyed.elapsed().as_secs_f64();
            state.0.metrics.busy(started.elapsed().as_secs_f64());
            let mut recent = lock(&state.0.recent_eval_s);
            *recent = 0.8 * *recent + 0.2 * seconds;
            let timing = ServerTiming {
                queue_ms: started.duration_since(queued).as_secs_f64() * 1e3,
                key_ms: keyed.duration_since(started).as_secs_f64() * 1e3,
                eval_ms: seconds * 1e3,
            };
            Ok((response, timing))
        };
        tokio::task::spawn_blocking(work)
            .await
            .map_err(ApiError::internal)?
    }
}

/// A recommend request counted against the queue bound until dropped.
struct Admitted(State);

impl Drop for Admitted {
    fn drop(&mut self) {
        self.0 .0.outstanding.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Raises a gauge (requests in flight, requests waiting) while alive.
struct Gauge<'a>(&'a prometheus_client::metrics::gauge::Gauge);

impl<'a> Gauge<'a> {
    fn raise(gauge: &'a prometheus_client::metrics::gauge::Gauge) -> Self {
        gauge.inc();
        Self(gauge)
    }
}

impl Drop for Gauge<'_> {
    fn drop(&mut self) {
        self.0.dec();
    }
}

pub fn router(state: State) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/v1/circuit", get(circuit))
        .route("/v1/keys", post(upload_key))
        .route("/v1/recommend", post(recommend))
        .route_layer(middleware::from_fn_with_state(state.clone(), observe))
        .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "no such route") })
        .with_state(state)
}

/// Counts and times every answer by route and status.
async fn observe(
    Extract(state): Extract<State>,
    route: MatchedPath,
    request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let response = next.run(request).await;
    state.0.metrics.record(
        route.as_str(),
        response.status().as_u16(),
        started.elapsed().as_secs_f64(),
    );
    response
}

async fn readyz(Extract(state): Extract<State>) -> Response {
    if state.0.ready.load(Ordering::Acquire) {
        Json(serde_json::json!({ "ready": true })).into_response()
    } else {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "loading stored keys").into_response()
    }
}

async fn metrics(Extract(state): Extract<State>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, super::metrics::CONTENT_TYPE)],
        state.0.metrics.render(),
    )
}

async fn circuit(Extract(state): Extract<State>) -> Json<CircuitDescription> {
    Json(state.description().clone())
}

async fn upload_key(
    Extract(state): Extract<State>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    if state.0.keyless.is_some() {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("{} takes no evaluation key", state.description().pipeline),
        ));
    }
    let bytes = read_body(&headers, body, MAX_UPLOAD_BYTES).await?;
    let id = KeyId::of(&bytes);
    let known = state.0.cache.get(&id).is_some();
    if !known {
        // Validating a key means decompressing it: CPU work, on a worker.
        let permit = state.0.workers.clone().acquire_owned().await;
        let permit = permit.map_err(ApiError::internal)?;
        let worker = state.clone();
        let id = id.clone();
        tokio::task::spawn_blocking(move || {
            let _held = permit;
            let replica = worker.build(&bytes)?;
            worker
                .0
                .store
                .put(worker.fingerprint(), &bytes)
                .map_err(ApiError::internal)?;
            worker.0.cache.insert(Keyed {
                id,
                replica,
                bytes: bytes.len(),
            });
            Ok::<_, ApiError>(())
        })
        .await
        .map_err(ApiError::internal)??;
    }
    let status = if known {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((status, Json(serde_json::json!({ "key_id": id.as_str() }))).into_response())
}

async fn recommend(
    Extract(state): Extract<State>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let key = match headers.get(KEY_HEADER) {
        None if state.0.keyless.is_none() => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                format!("missing {KEY_HEADER} header (upload a key to POST /v1/keys first)"),
            ))
        }
        None => None,
        Some(value) => Some(value.to_str().ok().and_then(KeyId::parse).ok_or_else(|| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                format!("{KEY_HEADER} must be 64 lowercase hex digits"),
            )
        })?),
    };
    let key = key.filter(|_| state.0.keyless.is_none());
    let request = read_body(&headers, body, MAX_REQUEST_BYTES).await?;
    let admitted = state.admit()?;
    let timeout = state.0.config.request_timeout;
    let (response, timing) = tokio::time::timeout(timeout, state.evaluate(admitted, key, request))
        .await
        .map_err(|_| {
            ApiError::new(
                StatusCode::GATEWAY_TIMEOUT,
                format!("not answered within the {timeout:?} request timeout"),
            )
        })??;
    Ok((
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_owned()),
            (
                HeaderName::from_static(timing::HEADER),
                timing.header_value(),
            ),
        ],
        response,
    )
        .into_response())
}

/// The body, refused with 413 past `limit` (by its declared length before reading it).
async fn read_body(headers: &HeaderMap, body: Body, limit: usize) -> Result<Bytes, ApiError> {
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("body over the {limit}-byte limit"),
        )
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(too_large());
    }
    axum::body::to_bytes(body, limit).await.map_err(|error| {
        let inner = error.into_inner();
        if inner.is::<http_body_util::LengthLimitError>() {
            too_large()
        } else {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                format!("reading the body: {inner}"),
            )
        }
    })
}
