//! `results/bench/`: the checks that sit beside the experiments. `ppo_cartpole.csv` (PPO's own
//! check, `cargo run --release --example ppo_cartpole`) and `load_overhead.csv` (the load
//! generator's ceiling, `scripts/bench-load.sh`); `argmax_timing.csv` (`glwe-argmax` per width,
//! `cargo run --release --example argmax_timing`).

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

/// `argmax_timing.csv`: one `glwe-argmax` width timed end to end, a few requests at a time
/// (`cargo run --release --example argmax_timing`), for the widths too slow for criterion.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ArgmaxTimingRow {
    pub bits: u32,
    /// `radix` (the pipeline's circuit) or `wide` (the design it replaced).
    pub design: String,
    /// The published parameter set and the circuit's shape, as `Circuit::params` says.
    pub params: String,
    pub bootstraps: usize,
    pub runs: usize,
    pub eval_ms_median: f64,
    pub eval_ms_min: f64,
    pub eval_ms_max: f64,
    pub keygen_s: f64,
    /// Opening, checking and decompressing the evaluation key into a replica.
    pub server_build_s: f64,
    /// The evaluation key as uploaded (compressed, sealed).
    pub eval_key_bytes: usize,
    pub response_bytes: usize,
    /// Answers equal to the plaintext argmax, of `runs`.
    pub correct: usize,
}
