//! One replica of the encrypted inference service, and its client.
//!
//! - [`artifacts`]: what the runner saves per circuit and a replica loads (`circuit.json`,
//!   `model.json`).
//! - [`keystore`]: evaluation keys in SQLite (WAL) shared by the replicas of a host.
//! - [`api`]: the HTTP routes, status codes and bounded evaluation.
//! - [`metrics`]: Prometheus text.
//! - [`timing`]: the `Server-Timing` header of a recommend answer (queue, key, evaluation).
//! - [`client`]: the blocking client and the `recommend` flow (keys stay on the client).
//!
//! [`run`] serves on a listener the caller bound (tests bind `127.0.0.1:0`) until `shutdown`
//! resolves, then stops accepting and lets in-flight requests finish.

pub mod api;
pub mod artifacts;
pub mod client;
pub mod keystore;
pub mod metrics;
pub mod timing;

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;

pub use artifacts::{Artifacts, CircuitDescription};
pub use keystore::{KeyId, KeyStore, SqliteKeyStore};

/// The header that names the evaluation key a request is for.
pub const KEY_HEADER: &str = "x-cipherscale-key";

/// How one replica runs.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// Folder with `circuit.json` and `model.json`.
    pub artifacts: PathBuf,
    /// SQLite key store (shared by the replicas of a host).
    pub key_store: PathBuf,
    /// Evaluations at once (a blocking pool this size).
    pub workers: usize,
    /// Requests that may wait for a worker; beyond them the answer is 503.
    pub queue: usize,
    /// Longest a recommend request may take, waiting included; then 504.
    pub request_timeout: Duration,
    /// Budget of this replica's key cache, counted in uploaded key bytes.
    pub key_cache_bytes: usize,
}

impl ServeConfig {
    /// Defaults: the key store beside the artifacts, one worker per core, a queue of two per
    /// worker, a 5-minute timeout, a 2 GiB key cache.
    pub fn new(artifacts: PathBuf) -> Self {
        let workers = crate::output::cores();
        Self {
            key_store: artifacts.join("keys.sqlite"),
            artifacts,
            workers,
            queue: 2 * workers,
            request_timeout: Duration::from_secs(300),
            key_cache_bytes: 2 << 30,
        }
    }
}

/// Serves one replica on `listener` until `shutdown` resolves. Fails fast on unreadable
/// artifacts or key store; keys already in the store are loaded in the background and `/readyz`
/// turns ready when they are.
pub async fn run(
    listener: TcpListener,
    config: ServeConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let artifacts = Artifacts::load(&config.artifacts)?;
    let store: Arc<dyn KeyStore> = Arc::new(SqliteKeyStore::open(&config.key_store)?);
    let state = api::State::new(config, artifacts, store)?;
    let warm = state.clone();
    tokio::task::spawn_blocking(move || warm.warm_up());
    let address = listener.local_addr()?;
    tracing::info!(
        "serving {} on http://{address}",
        state.description().pipeline
    );
    axum::serve(listener, api::router(state))
        .with_graceful_shutdown(shutdown)
        .await
        .context("serving HTTP")
}

/// What tells a server in [`InProcess`] to stop.
pub type Shutdown = std::pin::Pin<Box<dyn Future<Output = ()> + Send>>;

/// A server on `127.0.0.1:<free port>` run by a thread of this process (a replica for benchmarks
/// and tests, the local deployer's proxy); dropping it shuts the server down gracefully and waits.
pub struct InProcess {
    pub base: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<anyhow::Result<()>>>,
}

impl InProcess {
    /// Binds a free loopback port and runs `serve(listener, shutdown)` on its own runtime.
    pub fn start<F, Fut>(serve: F) -> anyhow::Result<Self>
    where
        F: FnOnce(TcpListener, Shutdown) -> Fut + Send + 'static,
        Fut: Future<Output = anyhow::Result<()>>,
    {
        Self::start_on("127.0.0.1:0".parse().expect("a socket address"), serve)
    }

    /// Binds `address` and runs `serve(listener, shutdown)` on its own runtime.
    pub fn start_on<F, Fut>(address: std::net::SocketAddr, serve: F) -> anyhow::Result<Self>
    where
        F: FnOnce(TcpListener, Shutdown) -> Fut + Send + 'static,
        Fut: Future<Output = anyhow::Result<()>>,
    {
        let wanted = address;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (bound, address) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()?;
            runtime.block_on(async move {
                let listener = TcpListener::bind(wanted)
                    .await
                    .with_context(|| format!("binding {wanted}"))?;
                let _ = bound.send(listener.local_addr()?);
                serve(
                    listener,
                    Box::pin(async {
                        let _ = stopped.await;
                    }),
                )
                .await
            })
        });
        let mut server = Self {
            base: String::new(),
            stop: Some(stop),
            thread: Some(thread),
        };
        match address.recv() {
            Ok(address) => server.base = format!("http://{address}"),
            Err(_) => return Err(server.stop_and_join().unwrap_err()),
        }
        Ok(server)
    }

    /// A replica of `config`, once `/readyz` answers 200 (waiting up to `ready_within`).
    pub fn replica(config: ServeConfig, ready_within: Duration) -> anyhow::Result<Self> {
        let mut server = Self::start(move |listener, shutdown| run(listener, config, shutdown))?;
        let client = client::Client::new(&server.base);
        let deadline = std::time::Instant::now() + ready_within;
        while !client.ready() {
            if std::time::Instant::now() > deadline {
                server.stop_and_join()?;
                anyhow::bail!("replica not ready within {ready_within:?}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(server)
    }

    /// Stops the server; its error, if it failed.
    pub fn stop_and_join(&mut self) -> anyhow::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.thread.take().map(std::thread::JoinHandle::join) {
            Some(Ok(result)) => result,
            Some(Err(_)) => anyhow::bail!("the server thread panicked"),
            None => Ok(()),
        }
    }
}

impl Drop for InProcess {
    fn drop(&mut self) {
        if let Err(e) = self.stop_and_join() {
            tracing::error!("in-process server: {e:#}");
        }
    }
}

/// Resolves on Ctrl-C or SIGTERM (what a process supervisor or Kubernetes sends).
pub async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
    tracing::info!("shutting down: finishing in-flight requests");
}
