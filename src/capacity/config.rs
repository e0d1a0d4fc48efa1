//! The `capacity:` section of a spec: which loads, client counts and objective the `capacity`
//! stage plans every measured circuit for, at which prices.

use serde::{Deserialize, Serialize};

use super::plan::{Bounds, Prices};

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
        }
    }
}
