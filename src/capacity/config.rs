//! The `capacity:` section of a spec: which loads, client counts and objective the `capacity`
//! stage plans every measured circuit for, at which prices, which planned points it runs on
//! live local replicas, and which circuits it times on one core against all of them.

use serde::{Deserialize, Serialize};

use super::plan::{Bounds, Prices};
use crate::fhe::Pipeline;

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct CapacitySpec {
    /// Arrival rates as multiples of one replica's capacity (each circuit's own).
    pub loads: Vec<f64>,
    /// Distinct active clients, whose evaluation keys the replicas hold.
    pub clients: Vec<usize>,
    /// The response-time quantile the objective bounds.
    pub quantile: f64,
    /// Seconds, client encryption and decryption included (the paper's client timeout: 10).
    pub objective_s: f64,
    pub prices: Prices,
    pub bounds: Bounds,
    /// Check each plan in the simulator.
    pub simulate: bool,
    /// Points planned for one client and run on live local replicas (they must fit this
    /// machine's cores).
    pub live: Vec<LivePoint>,
    /// Circuits timed with one evaluation thread and with all this machine's cores, to compare
    /// fewer, larger replicas with more, smaller ones.
    pub threads: Vec<ThreadsPoint>,
}

/// A circuit whose requests are each evaluated on one thread and on all cores, in turn.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ThreadsPoint {
    pub pipeline: Pipeline,
    /// Weight width, or score width `p` for `glwe-argmax`.
    pub bits: u32,
    /// Requests timed (each on both thread counts).
    #[serde(default = "default_thread_requests")]
    pub requests: usize,
}

fn default_thread_requests() -> usize {
    10
}

/// A load to plan and then run live: Poisson arrivals at `rate_rps` for `duration_s`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LivePoint {
    pub pipeline: Pipeline,
    /// Weight width, or score width `p` for `glwe-argmax`.
    pub bits: u32,
    pub rate_rps: f64,
    pub duration_s: f64,
    /// At most this many requests, whatever the rate and duration.
    #[serde(default = "default_max_requests")]
    pub max_requests: usize,
    /// Requests sent one at a time before the load, to measure the planner's inputs (service
    /// time and transport) on the replicas as they run now.
    #[serde(default = "default_calibration_requests")]
    pub calibration_requests: usize,
}

fn default_max_requests() -> usize {
    20_000
}

fn default_calibration_requests() -> usize {
    50
}

impl Default for CapacitySpec {
    fn default() -> Self {
        Self {
            loads: vec![0.5, 5.0, 50.0],
            clients: vec![10, 1000],
            quantile: 0.95,
            objective_s: 10.0,
            prices: Prices::default(),
            bounds: Bounds::default(),
            simulate: true,
            live: Vec::new(),
            threads: Vec::new(),
        }
    }
}
