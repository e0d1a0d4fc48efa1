//! Reinforcement learning for autoscaling: the paper's environment and PPO. The controllers and
//! the study that compares them are in the `autoscale` module.
//!
//! - [`env`]: [`AutoscaleEnv`], the paper's MDP (a probe's latency and the pod count, equations 2
//!   to 4, a stress test every k steps, resource penalty, automatic recovery scaling and
//!   self-healing of Algorithm 1) over a [`Backend`].
//! - [`backend`]: where requests go: the simulator ([`crate::sim::Cluster`]) or live replicas
//!   (a [`crate::deploy::Deployer`] driven with [`crate::load`]).
//! - [`ppo`]: PPO on dfdx 0.13 (separate actor and critic MLPs, GAE, clipped objective,
//!   entropy bonus, global gradient-norm clipping, learning-rate annealing, reward
//!   normalisation, checkpoints).
//! - [`cartpole`]: the classic control task PPO is checked on.
//! - [`live`]: the live backend (local replicas, real encrypted requests, wall clock).

pub mod backend;
pub mod cartpole;
pub mod env;
pub mod live;
pub mod ppo;

pub use backend::Backend;
pub use env::{Action, AutoscaleEnv, EnvConfig};

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
