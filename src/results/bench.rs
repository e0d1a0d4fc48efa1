//! `results/bench/`: the checks that sit beside the experiments. `ppo_cartpole.csv` (PPO's own
//! check, `cargo run --release --example ppo_cartpole`) and `load_overhead.csv` (the load
//! generator's ceiling, `scripts/bench-load.sh`).

use serde::{Deserialize, Serialize};

/// `ppo_cartpole.csv`: PPO on CartPole-v1 for one seed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CartPoleRow {
    pub seed: u64,
    pub steps: usize,
    pub episodes: usize,
    /// Mean return of the last 20 training episodes (sampled actions).
    pub train_return_last20: f64,
    /// Mean return of 20 fresh episodes with the greedy policy after training.
    pub greedy_return: f64,
    /// First step at which the last 20 training episodes averaged >= 475 (0: never).
    pub solved_at_step: usize,
    pub wall_s: f64,
}

/// `load_overhead.csv`: requests per second one load tool reaches against a trivial server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoadOverheadRow {
    pub tool: String,
    pub connections: usize,
    pub seconds: u64,
    pub requests_per_s: f64,
}
