//! The stages of an experiment, named in specs (`stages:`) and on the command line (`--only`).

use std::fmt;

use serde::{Deserialize, Serialize};

/// A stage of an experiment, in the order they run.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum, Deserialize, Serialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum Stage {
    /// Train the plaintext model per split seed, quantize it at every bit width, evaluate.
    Model,
    /// Save each FHE cell's server artifacts (public description, model) for `cipherscale serve`.
    Artifacts,
    /// Build every FHE pipeline at every bit width and measure it on held-out examples.
    Fhe,
    /// Plan each measured circuit's cheapest deployment per load and client count.
    Capacity,
    /// Serve circuits from one replica on loopback and measure throughput per client count.
    Serve,
    /// Train PPO on the calibrated simulator and evaluate it against the baselines.
    Rl,
    /// Run the trained policy on local replicas beside the simulator's prediction.
    #[value(name = "rl-live")]
    RlLive,
    /// Throughput against replicas: local replicas up to the cores, the simulator beyond.
    Scaling,
}

impl Stage {
    pub const ALL: [Stage; 8] = [
        Stage::Model,
        Stage::Artifacts,
        Stage::Fhe,
        Stage::Capacity,
        Stage::Serve,
        Stage::Rl,
        Stage::RlLive,
        Stage::Scaling,
    ];
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Stage::Model => "model",
            Stage::Artifacts => "artifacts",
            Stage::Fhe => "fhe",
            Stage::Capacity => "capacity",
            Stage::Serve => "serve",
            Stage::Rl => "rl",
            Stage::RlLive => "rl-live",
            Stage::Scaling => "scaling",
        })
    }
}
