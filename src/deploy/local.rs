//! The embedded default deployer: `cipherscale serve` child processes on ephemeral loopback ports
//! behind the round-robin [`proxy`](super::proxy), sharing one SQLite key store.
//!
//! No replica outlives the harness: on Linux each child asks the kernel for SIGKILL when the
//! thread that started it exits (`PR_SET_PDEATHSIG`), so a panic, Ctrl-C or `kill -9` of the harness
//! takes the replicas with it; children stay in the harness's process group, so a terminal's Ctrl-C
//! reaches them too; and a ledger of child pids per harness lets the next run stop leftovers of a
//! harness that died some other way. Start and drive a deployer from one long-lived thread.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

use super::proxy::{self, Backend, Pool};
use super::{Deployer, Status};
use crate::output::write_atomic;
use crate::serve::client::Client;
use crate::serve::InProcess;

/// How the local replicas run.
#[derive(Debug, Clone)]
pub struct LocalConfig {
    /// The `cipherscale` executable the replicas run.
    pub binary: PathBuf,
    /// The circuit's artifacts folder.
    pub artifacts: PathBuf,
    /// The SQLite key store all replicas share.
    pub key_store: PathBuf,
    /// Evaluation workers per replica.
    pub workers: usize,
    /// Requests that may wait for a worker in each replica; `None`: the replica's default.
    pub queue: Option<usize>,
    /// A replica answers 504 to a request not answered within this; `None`: the replica's
    /// default (5 minutes).
    pub request_timeout: Option<Duration>,
    /// Longest a new replica may take to become ready.
    pub ready_timeout: Duration,
    /// Longest scale-down waits for a replica's in-flight requests.
    pub drain_timeout: Duration,
    /// Where the proxy listens (port 0: a free one).
    pub listen: std::net::SocketAddr,
}

impl LocalConfig {
    /// Defaults: this executable, the key store beside the artifacts, one worker per replica.
    pub fn new(artifacts: PathBuf) -> anyhow::Result<Self> {
        Ok(Self {
            binary: std::env::current_exe().context("locating the cipherscale executable")?,
            key_store: artifacts.join("keys.sqlite"),
            artifacts,
            workers: 1,
            queue: None,
            request_timeout: None,
            ready_timeout: Duration::from_secs(300),
            drain_timeout: Duration::from_secs(600),
            listen: "127.0.0.1:0".parse().expect("a socket address"),
        })
    }
}

/// A running `cipherscale serve` child.
struct Replica {
    child: Child,
    backend: Arc<Backend>,
    /// Kept open: the child's stdout (it prints one line).
    _stdout: BufReader<ChildStdout>,
}

pub struct LocalDeployer {
    config: LocalConfig,
    pool: Pool,
    proxy: Option<InProcess>,
    desired: usize,
    replicas: Vec<Replica>,
    ledger: Ledger,
}

impl LocalDeployer {
    pub fn new(config: LocalConfig) -> Self {
        Self {
            config,
            pool: Pool::default(),
            proxy: None,
            desired: 0,
            replicas: Vec::new(),
            ledger: Ledger::for_this_process(),
        }
    }

    /// Base URLs of the running replicas (each serves its own `/metrics`).
    pub fn replica_endpoints(&self) -> Vec<String> {
        self.replicas
            .iter()
            .map(|r| r.backend.base.clone())
            .collect()
    }

    /// Process ids of the running replicas.
    pub fn replica_pids(&self) -> Vec<u32> {
        self.replicas.iter().map(|r| r.child.id()).collect()
    }

    fn spawn(&mut self) -> anyhow::Result<()> {
        let config = &self.config;
        let mut command = Command::new(&config.binary);
        command
            .arg("serve")
            .arg("--artifacts")
            .arg(&config.artifacts)
            .args(["--listen", "127.0.0.1:0", "--workers"])
            .arg(config.workers.to_string())
            .args(config.queue.map(|q| format!("--queue={q}")))
            .args(
                config
                    .request_timeout
                    .map(|t| format!("--timeout-s={}", t.as_secs_f64().ceil().max(1.0) as u64)),
            )
            .arg("--key-store")
            .arg(&config.key_store)
            .env(
                "RUST_LOG",
                std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        die_with_parent(&mut command);
        let mut child = command
            .spawn()
            .with_context(|| format!("starting {}", config.binary.display()))?;
        self.ledger.add(child.id());
        match wait_listening_and_ready(&mut child, config.ready_timeout) {
            Ok((base, stdout)) => {
                let backend = Backend::new(base);
                self.pool.add(backend.clone());
                self.replicas.push(Replica {
                    child,
                    backend,
                    _stdout: stdout,
                });
                Ok(())
            }
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                self.ledger.remove(child.id());
                Err(e)
            }
        }
    }

    /// Takes a replica out of rotation, lets its requests finish, then stops it (SIGTERM, then
    /// SIGKILL after 10 s).
    fn stop(&mut self, mut replica: Replica) {
        self.pool.remove(&replica.backend.base);
        if !replica.backend.wait_idle(self.config.drain_timeout) {
            tracing::warn!(
                "{}: still busy after the drain timeout",
                replica.backend.base
            );
        }
        terminate(&mut replica.child, Duration::from_secs(10));
        self.ledger.remove(replica.child.id());
    }

    /// Takes replicas whose process has exited out of rotation; how many are missing.
    fn reap(&mut self) -> usize {
        let mut alive = Vec::with_capacity(self.replicas.len());
        for mut replica in std::mem::take(&mut self.replicas) {
            if matches!(replica.child.try_wait(), Ok(None)) {
                alive.push(replica);
                continue;
            }
            self.pool.remove(&replica.backend.base);
            self.ledger.remove(replica.child.id());
            tracing::warn!("replica {} exited", replica.backend.base);
        }
        self.replicas = alive;
        self.desired.saturating_sub(self.replicas.len())
    }
}

impl Deployer for LocalDeployer {
    fn deploy(&mut self) -> anyhow::Result<()> {
        if self.proxy.is_none() {
            Ledger::stop_leftovers();
            self.proxy = Some(proxy::start(self.pool.clone(), self.config.listen)?);
        }
        if self.desired == 0 {
            self.scale(1)?;
        }
        Ok(())
    }

    fn scale(&mut self, replicas: usize) -> anyhow::Result<()> {
        if self.proxy.is_none() && replicas > 0 {
            bail!("deploy before scaling");
        }
        self.reap();
        self.desired = replicas;
        while self.replicas.len() < replicas {
            self.spawn()?;
        }
        while self.replicas.len() > replicas {
            let newest = self.replicas.pop().expect("more replicas than wanted");
            self.stop(newest);
        }
        Ok(())
    }

    fn status(&mut self) -> anyhow::Result<Status> {
        let failed = self.reap();
        Ok(Status {
            desired: self.desired,
            ready: self.replicas.len(),
            terminating: 0,
            failed,
        })
    }

    fn restart(&mut self) -> anyhow::Result<()> {
        self.reap();
        while self.replicas.len() < self.desired {
            self.spawn()?;
        }
        Ok(())
    }

    fn endpoint(&self) -> Option<String> {
        self.proxy.as_ref().map(|p| p.base.clone())
    }

    fn metrics_endpoints(&self) -> Vec<String> {
        self.replica_endpoints()
    }

    fn teardown(&mut self) -> anyhow::Result<()> {
        if self.proxy.is_some() {
            self.scale(0)?;
        }
        if let Some(mut proxy) = self.proxy.take() {
            proxy.stop_and_join()?;
        }
        self.ledger.clear();
        Ok(())
    }
}

impl Drop for LocalDeployer {
    fn drop(&mut self) {
        // Panicking or not, no replica survives the deployer; no draining on this path.
        for mut replica in self.replicas.drain(..) {
            terminate(&mut replica.child, Duration::from_secs(2));
        }
        self.proxy.take();
        self.ledger.clear();
    }
}

/// Reads the child's `listening on URL` line, then polls `/readyz` until it answers 200.
fn wait_listening_and_ready(
    child: &mut Child,
    timeout: Duration,
) -> anyhow::Result<(String, BufReader<ChildStdout>)> {
    let stdout = child.stdout.take().context("the replica's stdout")?;
    let mut stdout = BufReader::new(stdout);
    let mut line = String::new();
    stdout.read_line(&mut line)?;
    let Some(base) = line.trim().strip_prefix("listening on ") else {
        let status = child.wait()?;
        bail!("replica exited ({status}) before listening; see its error above");
    };
    let base = base.to_owned();
    let client = Client::new(&base);
    let deadline = Instant::now() + timeout;
    while !client.ready() {
        if let Some(status) = child.try_wait()? {
            bail!("replica {base} exited ({status}) before it was ready");
        }
        if Instant::now() > deadline {
            bail!("replica {base} not ready within {timeout:?}");
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    Ok((base, stdout))
}

/// SIGTERM (graceful: in-flight requests finish), then SIGKILL after `grace`; reaps the child.
fn terminate(child: &mut Child, grace: Duration) {
    signal(child.id(), libc::SIGTERM);
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline {
        if matches!(child.try_wait(), Ok(Some(_))) {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
}

fn signal(pid: u32, signal: libc::c_int) {
    if let Ok(pid) = libc::pid_t::try_from(pid) {
        // SAFETY: kill(2) with a pid we started; no memory is touched.
        unsafe {
            libc::kill(pid, signal);
        }
    }
}

/// Whether process `pid` has exited (gone, or a zombie waiting to be reaped).
fn exited(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit(')')
            .next()
            .is_some_and(|rest| rest.trim_start().starts_with('Z')),
        Err(_) => cfg!(target_os = "linux"),
    }
}

#[cfg(target_os = "linux")]
fn die_with_parent(command: &mut Command) {
    use std::os::unix::process::CommandExt;
    let parent = libc::pid_t::try_from(std::process::id()).unwrap_or(0);
    // SAFETY: the closure runs between fork and exec and only calls the async-signal-safe
    // prctl(2) and getppid(2).
    unsafe {
        command.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            if libc::getppid() != parent {
                return Err(std::io::Error::other("the harness exited during the spawn"));
            }
            Ok(())
        });
    }
}

#[cfg(not(target_os = "linux"))]
fn die_with_parent(_command: &mut Command) {}

/// The pids of this harness's replicas, in a file named after the harness's pid.
struct Ledger {
    path: PathBuf,
    pids: Vec<u32>,
}

impl Ledger {
    fn dir() -> PathBuf {
        std::env::temp_dir().join("cipherscale-local-replicas")
    }

    fn for_this_process() -> Self {
        Self {
            path: Self::dir().join(format!("{}.pids", std::process::id())),
            pids: Vec::new(),
        }
    }

    fn add(&mut self, pid: u32) {
        self.pids.push(pid);
        self.save();
    }

    fn remove(&mut self, pid: u32) {
        self.pids.retain(|&p| p != pid);
        self.save();
    }

    fn clear(&mut self) {
        self.pids.clear();
        let _ = std::fs::remove_file(&self.path);
    }

    fn save(&self) {
        let text: String = self.pids.iter().map(|p| format!("{p}\n")).collect();
        if let Err(e) = write_atomic(&self.path, text.as_bytes(), true) {
            tracing::warn!("replica ledger: {e:#}");
        }
    }

    /// Kills the replicas listed by harnesses that are no longer running.
    fn stop_leftovers() {
        let Ok(entries) = std::fs::read_dir(Self::dir()) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let Some(harness) = harness_pid(&path) else {
                continue;
            };
            if harness == std::process::id() || !exited(harness) {
                continue;
            }
            let listed = std::fs::read_to_string(&path).unwrap_or_default();
            for pid in listed.lines().filter_map(|l| l.trim().parse::<u32>().ok()) {
                if is_replica(pid) {
                    tracing::warn!("stopping replica {pid} left by harness {harness}");
                    signal(pid, libc::SIGKILL);
                }
            }
            let _ = std::fs::remove_file(&path);
        }
    }
}

fn harness_pid(path: &Path) -> Option<u32> {
    path.file_name()?
        .to_str()?
        .strip_suffix(".pids")?
        .parse()
        .ok()
}

/// Whether `pid` is a running `cipherscale serve` (so a reused pid is never killed).
fn is_replica(pid: u32) -> bool {
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let args: Vec<&[u8]> = cmdline.split(|&b| b == 0).collect();
    !exited(pid)
        && args.first().is_some_and(|a| a.ends_with(b"cipherscale"))
        && args.get(1) == Some(&&b"serve"[..])
}
