//! CartPole-v1 (Barto, Sutton and Anderson 1983, as in Gymnasium): the task a correct PPO solves
//! (mean return >= 475) within 100k steps, used to check ours.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::{Environment, Transition};

const GRAVITY: f64 = 9.8;
const CART_MASS: f64 = 1.0;
const POLE_MASS: f64 = 0.1;
const HALF_POLE: f64 = 0.5;
const FORCE: f64 = 10.0;
const TAU: f64 = 0.02;
const X_LIMIT: f64 = 2.4;
const THETA_LIMIT: f64 = 12.0 * 2.0 * std::f64::consts::PI / 360.0;
/// Episodes are cut (truncated) after this many steps.
pub const MAX_STEPS: usize = 500;

/// Cart position and velocity, pole angle and angular velocity.
#[derive(Debug, Clone)]
pub struct CartPole {
    state: [f64; 4],
    steps: usize,
    rng: ChaCha8Rng,
}

impl Default for CartPole {
    fn default() -> Self {
        Self {
            state: [0.0; 4],
            steps: 0,
            rng: ChaCha8Rng::seed_from_u64(0),
        }
    }
}

impl CartPole {
    fn observation(&self) -> Vec<f32> {
        self.state.iter().map(|&v| v as f32).collect()
    }

    /// Euler integration of the cart-pole equations of motion.
    fn integrate(&mut self, push_right: bool) {
        let [x, x_dot, theta, theta_dot] = self.state;
        let force = if push_right { FORCE } else { -FORCE };
        let (sin, cos) = theta.sin_cos();
        let total = CART_MASS + POLE_MASS;
        let pole_moment = POLE_MASS * HALF_POLE;
        let temp = (force + pole_moment * theta_dot * theta_dot * sin) / total;
        let theta_acc = (GRAVITY * sin - cos * temp)
            / (HALF_POLE * (4.0 / 3.0 - POLE_MASS * cos * cos / total));
        let x_acc = temp - pole_moment * theta_acc * cos / total;
        self.state = [
            x + TAU * x_dot,
            x_dot + TAU * x_acc,
            theta + TAU * theta_dot,
            theta_dot + TAU * theta_acc,
        ];
    }
}

impl Environment for CartPole {
    fn observation_len(&self) -> usize {
        4
    }

    fn actions(&self) -> usize {
        2
    }

    fn reset(&mut self, seed: u64) -> anyhow::Result<Vec<f32>> {
        self.rng = ChaCha8Rng::seed_from_u64(seed);
        self.state = std::array::from_fn(|_| self.rng.random_range(-0.05..0.05));
        self.steps = 0;
        Ok(self.observation())
    }

    fn step(&mut self, action: usize) -> anyhow::Result<Transition> {
        self.integrate(action == 1);
        self.steps += 1;
        let [x, _, theta, _] = self.state;
        let terminated = x.abs() > X_LIMIT || theta.abs() > THETA_LIMIT;
        Ok(Transition {
            observation: self.observation(),
            reward: 1.0,
            terminated,
            truncated: !terminated && self.steps >= MAX_STEPS,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doing_nothing_useful_drops_the_pole_quickly() {
        let mut env = CartPole::default();
        env.reset(1).unwrap();
        let steps = (1..=MAX_STEPS)
            .find(|_| env.step(1).unwrap().terminated)
            .expect("always pushing right ends the episode");
        assert!((5..60).contains(&steps), "{steps}");
    }

    #[test]
    fn episodes_are_cut_at_500_steps() {
        let mut env = CartPole::default();
        env.reset(2).unwrap();
        env.steps = MAX_STEPS - 1;
        let t = env.step(0).unwrap();
        assert!(t.truncated && !t.terminated);
    }
}
