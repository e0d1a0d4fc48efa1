//! Autoscaling as reinforcement learning: the paper's environment, PPO, and the baselines.
//!
//! - [`env`]: [`AutoscaleEnv`], the paper's MDP (probe latency and pod count in, scale down /
//!   stay / up out, equations 2 to 4, stress test every k steps, resource penalty, automatic
//!   recovery scaling and self-healing of Algorithm 1) over a [`Backend`].
//! - [`backend`]: where requests go: the simulator ([`crate::sim::Cluster`]) or live replicas
//!   (a [`crate::deploy::Deployer`] driven with [`crate::load`]).
//! - [`policy`]: what chooses the replica count: static k, an HPA clone, a latency-threshold rule,
//!   an oracle that knows the load, and a trained PPO actor.
//! - [`ppo`]: PPO on dfdx 0.13 (separate actor and critic MLPs, GAE, clipped objective,
//!   entropy bonus, global gradient-norm clipping, learning-rate annealing, checkpoints).
//! - [`cartpole`]: the classic control task PPO is checked on.
//! - [`live`]: the live backend (local replicas, real encrypted requests, wall clock).
//! - [`episode`]: runs a policy for an episode and measures it.

pub mod backend;
pub mod cartpole;
pub mod env;
pub mod episode;
pub mod live;
pub mod policy;
pub mod ppo;

pub use backend::Backend;
pub use env::{Action, ActionSpace, AutoscaleEnv, EnvConfig, ObservationKind};

/// A reinforcement-learning task as PPO sees it: observations in, a discrete action out.
pub trait Environment {
    /// Length of every observation.
    fn observation_len(&self) -> usize;
    /// Number of discrete actions (`0..actions()`).
    fn actions(&self) -> usize;
    /// Starts an episode; `seed` fixes its randomness.
    fn reset(&mut self, seed: u64) -> anyhow::Result<Vec<f32>>;
    fn step(&mut self, action: usize) -> anyhow::Result<Transition>;
}

/// The result of one step.
#[derive(Debug, Clone, PartialEq)]
pub struct Transition {
    pub observation: Vec<f32>,
    pub reward: f64,
    /// The episode ended for good (no future value).
    pub terminated: bool,
    /// The episode was cut by a time limit (its future value is bootstrapped).
    pub truncated: bool,
}
