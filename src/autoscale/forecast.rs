//! Forecasting the arrival rate: Holt's linear smoothing (level and trend), optionally on the
//! rate divided by a daily profile learned from the training episodes (a Holt-Winters forecast
//! whose seasonal part is fitted once, on training data only).

use std::sync::Arc;

/// A daily profile per step, scaled to mean 1, from per-bin training loads.
pub fn profile_per_step(per_bin: &[f64], bin_s: f64, step_s: f64) -> Vec<f64> {
    let steps = ((per_bin.len() as f64 * bin_s) / step_s).ceil().max(1.0) as usize;
    let mut sums = vec![0.0; steps];
    let mut counts = vec![0usize; steps];
    for (i, load) in per_bin.iter().enumerate() {
        let step = ((i as f64 * bin_s / step_s) as usize).min(steps - 1);
        sums[step] += load;
        counts[step] += 1;
    }
    let mut profile: Vec<f64> = sums
        .iter()
        .zip(&counts)
        .map(|(s, &c)| s / c.max(1) as f64)
        .collect();
    let mean = profile.iter().sum::<f64>() / steps as f64;
    if mean > 0.0 {
        profile.iter_mut().for_each(|p| *p /= mean);
    } else {
        profile.fill(1.0);
    }
    profile
}

/// Holt's smoothing of a rate observed once per step.
#[derive(Debug, Clone)]
pub struct Forecaster {
    pub alpha: f64,
    pub beta: f64,
    /// Multiplier per step of the day (mean 1); `None`: no season.
    profile: Option<Arc<Vec<f64>>>,
    /// What to expect before the first observation (the training episodes' mean rate).
    prior: f64,
    level: Option<f64>,
    trend: f64,
    last_step: usize,
}

/// Seasonal factors are floored here, so that a quiet hour does not blow up the level.
const SEASON_FLOOR: f64 = 0.05;

impl Forecaster {
    pub fn new(alpha: f64, beta: f64, profile: Option<Arc<Vec<f64>>>, prior: f64) -> Self {
        Self {
            alpha,
            beta,
            profile,
            prior,
            level: None,
            trend: 0.0,
            last_step: 0,
        }
    }

    pub fn reset(&mut self) {
        self.level = None;
        self.trend = 0.0;
        self.last_step = 0;
    }

    fn season(&self, step: usize) -> f64 {
        self.profile
            .as_ref()
            .map_or(1.0, |p| p[step % p.len()].max(SEASON_FLOOR))
    }

    /// Takes the rate measured during step `step`.
    pub fn observe(&mut self, step: usize, rate: f64) {
        let z = rate / self.season(step);
        match self.level {
            None => self.level = Some(z),
            Some(level) => {
                let next = self.alpha * z + (1.0 - self.alpha) * (level + self.trend);
                self.trend = self.beta * (next - level) + (1.0 - self.beta) * self.trend;
                self.level = Some(next);
            }
        }
        self.last_step = step;
    }

    /// The expected rate during step `step` (after the last observed one).
    pub fn forecast(&self, step: usize) -> f64 {
        let base = match self.level {
            None => self.prior,
            Some(level) => level + self.trend * step.saturating_sub(self.last_step) as f64,
        };
        (base * self.season(step)).max(0.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holt_follows_a_line_and_alpha_one_repeats_the_last_value() {
        let mut f = Forecaster::new(0.5, 0.5, None, 0.0);
        for step in 0..60 {
            f.observe(step, 2.0 + 0.5 * step as f64);
        }
        // A noiseless line is extrapolated exactly once the smoothing has settled.
        assert!(
            (f.forecast(62) - (2.0 + 0.5 * 62.0)).abs() < 1e-6,
            "{}",
            f.forecast(62)
        );
        let mut naive = Forecaster::new(1.0, 0.0, None, 0.0);
        naive.observe(0, 3.0);
        naive.observe(1, 7.0);
        assert_eq!(naive.forecast(5), 7.0);
        assert_eq!(Forecaster::new(0.5, 0.0, None, 4.5).forecast(0), 4.5);
    }

    #[test]
    fn a_profile_carries_the_season_into_the_forecast() {
        let profile = Arc::new(vec![0.5, 1.5]);
        let mut f = Forecaster::new(0.3, 0.0, Some(profile), 1.0);
        // Rates that follow the profile exactly: the level settles at 2.
        for step in 0..20 {
            f.observe(step, 2.0 * if step % 2 == 0 { 0.5 } else { 1.5 });
        }
        assert!((f.forecast(20) - 1.0).abs() < 1e-9);
        assert!((f.forecast(21) - 3.0).abs() < 1e-9);
    }

    #[test]
    fn profiles_average_bins_into_steps_with_mean_one() {
        // 4 bins of 10 s, steps of 20 s.
        let p = profile_per_step(&[1.0, 3.0, 4.0, 4.0], 10.0, 20.0);
        assert_eq!(p, vec![2.0 / 3.0, 4.0 / 3.0]);
        assert_eq!(profile_per_step(&[0.0; 4], 10.0, 20.0), vec![1.0, 1.0]);
    }
}
