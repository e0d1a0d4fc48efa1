//! Deployments of the service: a [`Deployer`] runs N replicas of one circuit behind one endpoint.
//!
//! - [`local`]: the embedded default; `cipherscale serve` child processes on loopback behind a
//!   round-robin [`proxy`].
//! - [`kubernetes`]: a Deployment and a Service per run through kube-rs.
//!
//! Every call is idempotent: deploying twice, scaling to the current size or tearing down twice
//! changes nothing.

pub mod kubernetes;
pub mod local;
pub mod proxy;

use std::fmt;

/// Replica counts as a deployer sees them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Status {
    /// Replicas asked for.
    pub desired: usize,
    /// Replicas running, ready and receiving traffic.
    pub ready: usize,
    /// Replicas draining or shutting down.
    pub terminating: usize,
    /// Replicas that died and have not been restarted.
    pub failed: usize,
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}/{} ready, {} terminating, {} failed",
            self.ready, self.desired, self.terminating, self.failed
        )
    }
}

impl<D: Deployer + ?Sized> Deployer for &mut D {
    fn deploy(&mut self) -> anyhow::Result<()> {
        (**self).deploy()
    }
    fn scale(&mut self, replicas: usize) -> anyhow::Result<()> {
        (**self).scale(replicas)
    }
    fn status(&mut self) -> anyhow::Result<Status> {
        (**self).status()
    }
    fn restart(&mut self) -> anyhow::Result<()> {
        (**self).restart()
    }
    fn endpoint(&self) -> Option<String> {
        (**self).endpoint()
    }
    fn metrics_endpoints(&self) -> Vec<String> {
        (**self).metrics_endpoints()
    }
    fn teardown(&mut self) -> anyhow::Result<()> {
        (**self).teardown()
    }
}

/// Runs and scales the replicas of one circuit.
pub trait Deployer {
    /// Starts the deployment with one replica, or does nothing if it runs.
    fn deploy(&mut self) -> anyhow::Result<()>;
    /// Sets the number of replicas and returns once they are ready (scale-up) or drained
    /// (scale-down).
    fn scale(&mut self, replicas: usize) -> anyhow::Result<()>;
    fn status(&mut self) -> anyhow::Result<Status>;
    /// Replaces failed replicas (self-healing) and returns once they are ready.
    fn restart(&mut self) -> anyhow::Result<()>;
    /// Where clients send requests; `None` before `deploy`.
    fn endpoint(&self) -> Option<String>;
    /// Base URLs whose `/metrics` describe the replicas (an autoscaler scrapes them); empty
    /// where this process cannot reach them.
    fn metrics_endpoints(&self) -> Vec<String> {
        Vec::new()
    }
    /// Stops every replica and frees what the deployment holds.
    fn teardown(&mut self) -> anyhow::Result<()>;
}
