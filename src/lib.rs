//! cipherscale: what does it cost to serve FHE inference, and how should it scale?
//!
//! # Layout
//!
//! One folder per domain, in layers; a module imports only from the layers under it, and no two
//! modules import each other.
//!
//! Ground floor:
//!
//! - [`output`]: atomic file writes, CSV files written row by row under one provenance stamp
//!   (experiment, git revision, cores, machine) and read back, text and markdown tables, stdout.
//! - [`stats`]: summaries over seeds; IQM, probability of improvement, bootstrap intervals.
//!
//! Domains (the data, model, fhe, workload, sim, rl and autoscale sections of a spec are their
//! own types; serve, deploy and scaling sections still live in `spec`):
//!
//! - [`data`]: MovieLens ratings, the movie pool, leave-one-out examples, the per-user split.
//! - [`model`]: logistic regression, its b-bit quantization (weights, or scores for the argmax
//!   circuit), the popularity baseline, hit@k.
//! - [`fhe`]: encrypted inference circuits (`glwe-packed`, `lwe`, `integer`, the private-output
//!   `glwe-argmax`), the packed layer they share, wire format, and the check harness that
//!   measures them against the plaintext model.
//! - [`serve`]: one HTTP replica of the encrypted service (artifacts, key store, bounded
//!   evaluation, metrics) and its client.
//! - [`deploy`]: N replicas of a circuit behind one endpoint (`local`: child processes behind a
//!   round-robin proxy; `kubernetes`: a Deployment and a Service through kube-rs).
//! - [`load`]: goose load profiles (probe, stress, ramp, steady) with per-request records and
//!   the paper's stress penalty; closed-loop encrypted clients.
//! - [`sim`]: a discrete-event model of replicas serving a circuit, calibrated from measured
//!   service times and checked against queueing theory.
//! - [`workload`]: request-rate workloads: the paper's bursts, a replayed per-minute trace
//!   (NASA-HTTP 1995), diurnal, ramp, flash-crowd and on-off families; train, validation and
//!   test episodes; seeded Poisson arrivals.
//! - [`rl`]: the paper's autoscaling environment over the simulator or live replicas, and PPO on
//!   dfdx.
//! - [`autoscale`]: the autoscaling study: controllers (static, HPA v2, KEDA-style queue,
//!   latency rule, forecast sizer, MPC, PPO, oracle), the open-loop environment, and the
//!   protocol that tunes on validation, trains on train and tests once.
//! - [`capacity`]: what a circuit costs to serve: the cheapest deployment for a load, a latency
//!   objective and a client count (M/G/c with measured service times), checked in the simulator.
//!
//! Above the domains:
//!
//! - [`operate`]: a deployment scaled live by one of the study's controllers (deploy, serve
//!   metrics and autoscale together): the replicas' metrics read into the controllers' signals,
//!   heal, decide, scale, log.
//!
//! - [`spec`]: YAML experiment specs (`experiments/*.yaml`): assembles the domains'
//!   configuration, parsed strictly and validated.
//! - [`results`]: one row type per results file, written by the stages and read by the report,
//!   with the tables made of each.
//! - [`report`]: from the results files alone, the figures (`plots/`) and the report
//!   (`paper/REPORT.md`).
//! - [`runner`]: runs a spec's stages (`model`, `artifacts`, `fhe`, `serve`, `rl`, `rl-live`,
//!   `scaling`) into `results/<name>/`, and `reproduce` (every spec, then the report).
//! - [`cli`]: the `cipherscale` command line, one file per command group; `main.rs` only parses
//!   it and prints errors.

pub mod autoscale;
pub mod capacity;
pub mod cli;
pub mod data;
pub mod deploy;
pub mod fhe;
pub mod load;
pub mod model;
pub mod operate;
pub mod output;
pub mod report;
pub mod results;
pub mod rl;
pub mod runner;
pub mod serve;
pub mod sim;
pub mod spec;
pub mod stats;
pub mod workload;

/// Locks `mutex`, also after a thread panicked while holding it: every value guarded in this
/// crate (counters, caches, record lists) stays valid across a panic.
pub(crate) fn lock<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
