//! The rollout buffer and generalised advantage estimation.

/// One rollout of `n_steps` transitions, possibly spanning several episodes.
#[derive(Debug, Default)]
pub struct Rollout {
    /// Padded observations, row-major.
    pub observations: Vec<f32>,
    pub actions: Vec<usize>,
    pub log_probs: Vec<f32>,
    pub values: Vec<f32>,
    /// Rewards, with `gamma V(s')` added where a time limit cut the episode (bootstrapping).
    pub rewards: Vec<f32>,
    /// The episode ended after this step.
    pub ends: Vec<bool>,
    /// Action masks (logit offsets), row-major.
    pub masks: Vec<f32>,
}

impl Rollout {
    pub fn len(&self) -> usize {
        self.actions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.actions.is_empty()
    }

    pub fn clear(&mut self) {
        *self = Self::default();
    }
}

/// Advantages and returns (advantage + value) by GAE(gamma, lambda); `last_value` is the value of
/// the state after the last transition (ignored when that transition ended an episode).
pub fn advantages(
    rollout: &Rollout,
    last_value: f32,
    gamma: f32,
    lambda: f32,
) -> (Vec<f32>, Vec<f32>) {
    let n = rollout.len();
    let mut advantages = vec![0.0; n];
    let mut running = 0.0;
    for t in (0..n).rev() {
        let next_value = if t + 1 < n {
            rollout.values[t + 1]
        } else {
            last_value
        };
        let continues = if rollout.ends[t] { 0.0 } else { 1.0 };
        let delta = rollout.rewards[t] + gamma * next_value * continues - rollout.values[t];
        running = delta + gamma * lambda * continues * running;
        advantages[t] = running;
    }
    let returns = advantages
        .iter()
        .zip(&rollout.values)
        .map(|(a, v)| a + v)
        .collect();
    (advantages, returns)
}

/// Zero mean, unit variance (a minibatch's advantages).
pub fn normalize(values: &mut [f32]) {
    let n = values.len() as f32;
    let mean = values.iter().sum::<f32>() / n;
    let sd = (values.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / n).sqrt();
    values
        .iter_mut()
        .for_each(|v| *v = (*v - mean) / (sd + 1e-8));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rollout(rewards: &[f32], values: &[f32], ends: &[bool]) -> Rollout {
        Rollout {
            rewards: rewards.to_vec(),
            values: values.to_vec(),
            ends: ends.to_vec(),
            actions: vec![0; rewards.len()],
            ..Rollout::default()
        }
    }

    #[test]
    fn gae_with_lambda_one_is_the_discounted_return_minus_the_value() {
        let r = rollout(&[1.0, 1.0, 1.0], &[0.5, 0.2, 0.1], &[false, false, true]);
        let (adv, ret) = advantages(&r, 99.0, 0.9, 1.0);
        // The episode ends at the last step: the 99 is not used.
        let g0 = 1.0 + 0.9 + 0.81;
        assert!((ret[0] - g0).abs() < 1e-5, "{ret:?}");
        assert!((adv[0] - (g0 - 0.5)).abs() < 1e-5);
        assert!((ret[2] - 1.0).abs() < 1e-6);
    }

    #[test]
    fn gae_with_lambda_zero_is_the_td_error_and_bootstraps_an_open_end() {
        let r = rollout(&[1.0, 2.0], &[0.5, 0.2], &[true, false]);
        let (adv, _) = advantages(&r, 3.0, 0.9, 0.0);
        assert!((adv[0] - (1.0 - 0.5)).abs() < 1e-6); // ended: no next value
        assert!((adv[1] - (2.0 + 0.9 * 3.0 - 0.2)).abs() < 1e-6);
    }
}
