//! Proximal policy optimisation (clipped objective) on dfdx 0.13, with stable-baselines3's
//! defaults: separate actor and critic MLPs, GAE, per-minibatch advantage normalisation, entropy
//! bonus, value loss, global gradient-norm clipping, Adam (eps 1e-5) with linear learning-rate
//! annealing, bootstrapping on time-limit truncation.

pub mod net;
pub mod rollout;

use std::path::Path;

use dfdx::optim::{Adam, AdamConfig, Optimizer};
use dfdx::prelude::*;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use self::net::{Networks, MASKED, MAX_ACTIONS, MAX_OBSERVATION};
use self::rollout::{advantages, normalize, Rollout};
use super::Environment;

/// PPO's hyperparameters; the defaults are stable-baselines3's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PpoConfig {
    pub learning_rate: f64,
    /// Transitions per rollout (one update each).
    pub n_steps: usize,
    pub batch_size: usize,
    pub epochs: usize,
    pub gamma: f32,
    pub gae_lambda: f32,
    pub clip_range: f32,
    pub entropy_coef: f32,
    pub value_coef: f32,
    pub max_grad_norm: f32,
    /// Learning rate falls linearly to 0 over the training budget.
    pub anneal_lr: bool,
    pub adam_eps: f64,
    /// Rewards are multiplied by this for learning (not for reporting).
    pub reward_scale: f32,
    /// Rewards are divided by the running standard deviation of the discounted return and
    /// clipped to +-10 (stable-baselines3's `VecNormalize`), after `reward_scale`.
    pub normalize_reward: bool,
}

impl Default for PpoConfig {
    fn default() -> Self {
        Self {
            learning_rate: 3e-4,
            n_steps: 2048,
            batch_size: 64,
            epochs: 10,
            gamma: 0.99,
            gae_lambda: 0.95,
            clip_range: 0.2,
            entropy_coef: 0.0,
            value_coef: 0.5,
            max_grad_norm: 0.5,
            anneal_lr: true,
            adam_eps: 1e-5,
            reward_scale: 1.0,
            normalize_reward: false,
        }
    }
}

/// A finished training episode.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EpisodeEnd {
    pub episode: usize,
    /// Unscaled.
    pub episode_return: f64,
    pub length: usize,
    pub total_steps: usize,
}

/// Losses of one update, averaged over its minibatches.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct UpdateStats {
    pub policy_loss: f32,
    pub value_loss: f32,
    pub entropy: f32,
    pub grad_norm: f32,
}

/// A PPO agent for an environment with at most 4 observations and 16 actions.
pub struct Ppo {
    pub config: PpoConfig,
    dev: Cpu,
    nets: Networks,
    optimizer: Adam<Networks, f32, Cpu>,
    actions: usize,
    rng: ChaCha8Rng,
    returns: RunningReturn,
}

/// The running variance of the discounted return, for reward normalisation.
#[derive(Debug, Clone, Default)]
struct RunningReturn {
    discounted: f64,
    count: f64,
    mean: f64,
    m2: f64,
}

impl RunningReturn {
    /// Folds `reward` into the discounted return; returns it divided by the return's standard
    /// deviation, clipped to +-10.
    fn normalize(&mut self, reward: f32, gamma: f32, ended: bool) -> f32 {
        self.discounted = self.discounted * f64::from(gamma) + f64::from(reward);
        // Welford's update.
        self.count += 1.0;
        let delta = self.discounted - self.mean;
        self.mean += delta / self.count;
        self.m2 += delta * (self.discounted - self.mean);
        if ended {
            self.discounted = 0.0;
        }
        let var = if self.count > 1.0 {
            self.m2 / self.count
        } else {
            1.0
        };
        ((f64::from(reward) / (var + 1e-8).sqrt()).clamp(-10.0, 10.0)) as f32
    }
}

impl Ppo {
    pub fn new(config: PpoConfig, observation_len: usize, actions: usize, seed: u64) -> Self {
        assert!(observation_len <= MAX_OBSERVATION && (1..=MAX_ACTIONS).contains(&actions));
        let dev = Cpu::seed_from_u64(seed);
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let nets = net::build(&dev, &mut rng);
        let optimizer = Adam::new(
            &nets,
            AdamConfig {
                lr: config.learning_rate,
                eps: config.adam_eps,
                ..AdamConfig::default()
            },
        );
        Self {
            config,
            dev,
            nets,
            optimizer,
            actions,
            rng,
            returns: RunningReturn::default(),
        }
    }

    /// The most probable action (evaluation).
    pub fn greedy(&self, observation: &[f32]) -> usize {
        let logits = net::logits(&self.nets, &self.dev, observation, self.actions);
        (0..self.actions)
            .max_by(|&a, &b| logits[a].total_cmp(&logits[b]))
            .unwrap_or(0)
    }

    /// Samples an action; returns it with its log-probability.
    fn sample(&mut self, observation: &[f32]) -> (usize, f32) {
        let logits = net::logits(&self.nets, &self.dev, observation, self.actions);
        let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let weights: Vec<f32> = logits.iter().map(|l| (l - max).exp()).collect();
        let total: f32 = weights.iter().sum();
        let mut u = self.rng.random::<f32>() * total;
        let mut action = self.actions - 1;
        for (a, w) in weights.iter().enumerate().take(self.actions) {
            if u < *w {
                action = a;
                break;
            }
            u -= w;
        }
        (action, (weights[action] / total).ln())
    }

    /// Trains for `total_steps` transitions; `on_episode` sees every finished episode.
    pub fn train<E: Environment>(
        &mut self,
        env: &mut E,
        total_steps: usize,
        episode_seeds: &mut impl FnMut() -> u64,
        on_episode: &mut impl FnMut(EpisodeEnd),
    ) -> anyhow::Result<()> {
        let updates = total_steps.div_ceil(self.config.n_steps).max(1);
        let mut observation = env.reset(episode_seeds())?;
        let mut tracker = EpisodeEnd {
            episode: 0,
            episode_return: 0.0,
            length: 0,
            total_steps: 0,
        };
        let mut rollout = Rollout::default();
        for update in 0..updates {
            if self.config.anneal_lr {
                let remaining = 1.0 - update as f64 / updates as f64;
                self.optimizer.cfg.lr = self.config.learning_rate * remaining;
            }
            rollout.clear();
            let steps = self.config.n_steps.min(total_steps - tracker.total_steps);
            for _ in 0..steps {
                observation = self.collect(
                    env,
                    observation,
                    &mut rollout,
                    &mut tracker,
                    episode_seeds,
                    on_episode,
                )?;
            }
            let last_value = net::value(&self.nets, &self.dev, &observation);
            self.update(&rollout, last_value);
        }
        Ok(())
    }

    /// Takes one step of `env` into `rollout`; returns the next observation.
    fn collect<E: Environment>(
        &mut self,
        env: &mut E,
        observation: Vec<f32>,
        rollout: &mut Rollout,
        tracker: &mut EpisodeEnd,
        episode_seeds: &mut impl FnMut() -> u64,
        on_episode: &mut impl FnMut(EpisodeEnd),
    ) -> anyhow::Result<Vec<f32>> {
        let (action, log_prob) = self.sample(&observation);
        let value = net::value(&self.nets, &self.dev, &observation);
        let step = env.step(action)?;
        let ended = step.terminated || step.truncated;
        let mut reward = step.reward as f32 * self.config.reward_scale;
        if self.config.normalize_reward {
            reward = self.returns.normalize(reward, self.config.gamma, ended);
        }
        if step.truncated && !step.terminated {
            reward += self.config.gamma * net::value(&self.nets, &self.dev, &step.observation);
        }
        rollout.observations.extend(net::pad(&observation));
        rollout
            .masks
            .extend((0..MAX_ACTIONS).map(|a| if a < self.actions { 0.0 } else { MASKED }));
        rollout.actions.push(action);
        rollout.log_probs.push(log_prob);
        rollout.values.push(value);
        rollout.rewards.push(reward);
        rollout.ends.push(ended);
        tracker.episode_return += step.reward;
        tracker.length += 1;
        tracker.total_steps += 1;
        if !ended {
            return Ok(step.observation);
        }
        tracker.episode += 1;
        on_episode(*tracker);
        tracker.episode_return = 0.0;
        tracker.length = 0;
        env.reset(episode_seeds())
    }

    /// `epochs` passes over the rollout in shuffled minibatches.
    fn update(&mut self, rollout: &Rollout, last_value: f32) -> UpdateStats {
        let (advantages, returns) = advantages(
            rollout,
            last_value,
            self.config.gamma,
            self.config.gae_lambda,
        );
        let mut order: Vec<usize> = (0..rollout.len()).collect();
        let mut stats = UpdateStats::default();
        let mut batches = 0.0;
        for _ in 0..self.config.epochs {
            order.shuffle(&mut self.rng);
            for chunk in order.chunks(self.config.batch_size) {
                let batch = Minibatch::gather(rollout, &advantages, &returns, chunk);
                let s = self.minibatch_step(batch);
                stats.policy_loss += s.policy_loss;
                stats.value_loss += s.value_loss;
                stats.entropy += s.entropy;
                stats.grad_norm += s.grad_norm;
                batches += 1.0;
            }
        }
        stats.policy_loss /= batches;
        stats.value_loss /= batches;
        stats.entropy /= batches;
        stats.grad_norm /= batches;
        stats
    }

    fn minibatch_step(&mut self, batch: Minibatch) -> UpdateStats {
        let (dev, n) = (&self.dev, batch.actions.len());
        let x = dev.tensor_from_vec(batch.observations, (n, Const::<MAX_OBSERVATION>));
        let x = x.traced(self.nets.alloc_grads());
        let x_critic = x.retaped::<OwnedTape<f32, Cpu>>();
        let masks = dev.tensor_from_vec(batch.masks, (n, Const::<MAX_ACTIONS>));
        let log_probs = (self.nets.0.forward(x) + masks).log_softmax::<Axis<1>>();
        let for_entropy = log_probs.retaped::<OwnedTape<f32, Cpu>>();
        let for_probs = log_probs.retaped::<OwnedTape<f32, Cpu>>();
        let taken = log_probs.select(dev.tensor_from_vec(batch.actions, (n,)));
        let ratio = (taken - dev.tensor_from_vec(batch.log_probs, (n,))).exp();
        let clipped = ratio
            .retaped::<OwnedTape<f32, Cpu>>()
            .clamp(1.0 - self.config.clip_range, 1.0 + self.config.clip_range);
        let advantages = dev.tensor_from_vec(batch.advantages, (n,));
        let objective = (ratio * advantages.clone()).minimum(clipped * advantages);
        let policy_loss = -objective.mean();
        let entropy = -(for_probs.exp() * for_entropy)
            .sum::<(usize,), Axis<1>>()
            .mean();
        let values = self.nets.1.forward(x_critic);
        let value_loss = mse_loss(values, dev.tensor_from_vec(batch.returns, (n, Const::<1>)));
        let mut stats = UpdateStats {
            policy_loss: policy_loss.array(),
            value_loss: value_loss.array(),
            entropy: entropy.array(),
            grad_norm: 0.0,
        };
        let loss =
            policy_loss + value_loss * self.config.value_coef - entropy * self.config.entropy_coef;
        let mut grads = loss.backward();
        stats.grad_norm = net::clip_grad_norm(&self.nets, &mut grads, self.config.max_grad_norm);
        self.optimizer
            .update(&mut self.nets, &grads)
            .expect("every parameter has a gradient");
        stats
    }

    pub fn save(&self, path: &Path) -> anyhow::Result<()> {
        net::save(&self.nets, path)
    }

    /// The trained policy without the optimiser (which cannot cross threads).
    pub fn into_actor(self) -> Actor {
        Actor {
            config: self.config,
            dev: self.dev,
            nets: self.nets,
            actions: self.actions,
        }
    }

    pub fn load(&mut self, path: &Path) -> anyhow::Result<()> {
        net::load(&mut self.nets, path)
    }
}

/// One shuffled minibatch, gathered into flat vectors.
struct Minibatch {
    observations: Vec<f32>,
    masks: Vec<f32>,
    actions: Vec<usize>,
    log_probs: Vec<f32>,
    advantages: Vec<f32>,
    returns: Vec<f32>,
}

impl Minibatch {
    fn gather(rollout: &Rollout, advantages: &[f32], returns: &[f32], rows: &[usize]) -> Self {
        let rows_of = |data: &[f32], width: usize| -> Vec<f32> {
            rows.iter()
                .flat_map(|&i| data[i * width..(i + 1) * width].iter().copied())
                .collect()
        };
        let mut batch = Self {
            observations: rows_of(&rollout.observations, MAX_OBSERVATION),
            masks: rows_of(&rollout.masks, MAX_ACTIONS),
            actions: rows.iter().map(|&i| rollout.actions[i]).collect(),
            log_probs: rows_of(&rollout.log_probs, 1),
            advantages: rows_of(advantages, 1),
            returns: rows_of(returns, 1),
        };
        if batch.advantages.len() > 1 {
            normalize(&mut batch.advantages);
        }
        batch
    }
}

/// A trained policy: acts greedily and saves its weights.
pub struct Actor {
    pub config: PpoConfig,
    dev: Cpu,
    nets: Networks,
    actions: usize,
}

impl Actor {
    /// The most probable action.
    pub fn greedy(&self, observation: &[f32]) -> usize {
        let logits = net::logits(&self.nets, &self.dev, observation, self.actions);
        (0..self.actions)
            .max_by(|&a, &b| logits[a].total_cmp(&logits[b]))
            .unwrap_or(0)
    }

    pub fn save(&self, path: &Path) -> anyhow::Result<()> {
        net::save(&self.nets, path)
    }
}
