//! Comparing controllers the way rliable does (Agarwal et al., NeurIPS 2021): the interquartile
//! mean (IQM), the probability of improvement, and bootstrap intervals that resample both units
//! that vary.
//!
//! Scores are a matrix per controller: one row per run (a training seed; a deterministic
//! controller has one), one column per evaluation episode, the same episodes for every
//! controller, higher is better. A bootstrap resample draws the episodes with replacement
//! (shared by the controllers it compares: the comparison stays paired) and then, within each
//! drawn episode, the runs with replacement (stratified by episode).

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// A point estimate with its 95% bootstrap interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Interval {
    pub estimate: f64,
    pub low: f64,
    pub high: f64,
}

impl Interval {
    /// `estimate [low, high]` with `digits` decimals.
    pub fn show(&self, digits: usize) -> String {
        format!(
            "{:.digits$} [{:.digits$}, {:.digits$}]",
            self.estimate, self.low, self.high
        )
    }
}

/// Resamples per interval: enough for stable 2.5% and 97.5% quantiles.
pub const RESAMPLES: usize = 2000;

/// The interquartile mean: the mean of the values left after dropping the lowest and the
/// highest quarter (`floor(n / 4)` each, as scipy's `trim_mean(x, 0.25)`); NaN when empty.
pub fn iqm(values: &[f64]) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let cut = sorted.len() / 4;
    let middle = &sorted[cut..sorted.len() - cut];
    middle.iter().sum::<f64>() / middle.len() as f64
}

/// The IQM over every run and episode of `scores`, with its interval.
pub fn iqm_interval(scores: &[Vec<f64>], seed: u64) -> Interval {
    let all: Vec<f64> = scores.iter().flatten().copied().collect();
    let episodes = episodes_of(&[scores]);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let estimates: Vec<f64> = (0..RESAMPLES)
        .map(|_| {
            let draw = draw_episodes(episodes, &mut rng);
            iqm(&resample(scores, &draw, &mut rng).concat())
        })
        .collect();
    interval(iqm(&all), &estimates)
}

/// P(X > Y): for each episode, the share of (run of X, run of Y) pairs where X scores higher
/// (ties count half), averaged over episodes (rliable's probability of improvement).
pub fn probability_of_improvement(x: &[Vec<f64>], y: &[Vec<f64>]) -> f64 {
    let episodes = episodes_of(&[x, y]);
    let column = |m: &[Vec<f64>], e: usize| m.iter().map(|run| run[e]).collect::<Vec<_>>();
    let shares: Vec<f64> = (0..episodes)
        .map(|e| pairwise_share(&column(x, e), &column(y, e)))
        .collect();
    shares.iter().sum::<f64>() / shares.len().max(1) as f64
}

/// [`probability_of_improvement`] with its interval (episodes drawn once for both).
pub fn improvement_interval(x: &[Vec<f64>], y: &[Vec<f64>], seed: u64) -> Interval {
    let episodes = episodes_of(&[x, y]);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let estimates: Vec<f64> = (0..RESAMPLES)
        .map(|_| {
            let draw = draw_episodes(episodes, &mut rng);
            let (rx, ry) = (resample(x, &draw, &mut rng), resample(y, &draw, &mut rng));
            let shares: Vec<f64> = rx
                .iter()
                .zip(&ry)
                .map(|(a, b)| pairwise_share(a, b))
                .collect();
            shares.iter().sum::<f64>() / shares.len() as f64
        })
        .collect();
    interval(probability_of_improvement(x, y), &estimates)
}

/// The mean over episodes of X's mean run minus Y's mean run (a paired difference), with its
/// interval.
pub fn difference_interval(x: &[Vec<f64>], y: &[Vec<f64>], seed: u64) -> Interval {
    let episodes = episodes_of(&[x, y]);
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let diff = |rx: &[Vec<f64>], ry: &[Vec<f64>]| {
        let d: Vec<f64> = rx.iter().zip(ry).map(|(a, b)| mean(a) - mean(b)).collect();
        mean(&d)
    };
    let columns = |m: &[Vec<f64>]| -> Vec<Vec<f64>> {
        (0..episodes)
            .map(|e| m.iter().map(|run| run[e]).collect())
            .collect()
    };
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let estimates: Vec<f64> = (0..RESAMPLES)
        .map(|_| {
            let draw = draw_episodes(episodes, &mut rng);
            diff(&resample(x, &draw, &mut rng), &resample(y, &draw, &mut rng))
        })
        .collect();
    interval(diff(&columns(x), &columns(y)), &estimates)
}

/// Where `value` lies from `zero` (0) to `one` (1); NaN when they coincide.
pub fn normalized(value: f64, zero: f64, one: f64) -> f64 {
    if (one - zero).abs() < f64::EPSILON * one.abs().max(1.0) {
        return f64::NAN;
    }
    (value - zero) / (one - zero)
}

fn pairwise_share(x: &[f64], y: &[f64]) -> f64 {
    let mut wins = 0.0;
    for a in x {
        for b in y {
            wins += match a.total_cmp(b) {
                std::cmp::Ordering::Greater => 1.0,
                std::cmp::Ordering::Equal => 0.5,
                std::cmp::Ordering::Less => 0.0,
            };
        }
    }
    wins / (x.len() * y.len()).max(1) as f64
}

/// The episode count every matrix shares.
fn episodes_of(matrices: &[&[Vec<f64>]]) -> usize {
    let episodes = matrices.first().and_then(|m| m.first()).map_or(0, Vec::len);
    for m in matrices {
        assert!(
            !m.is_empty() && m.iter().all(|run| run.len() == episodes),
            "every run of every controller must cover the same episodes"
        );
    }
    episodes
}

fn draw_episodes(episodes: usize, rng: &mut ChaCha8Rng) -> Vec<usize> {
    (0..episodes)
        .map(|_| rng.random_range(0..episodes))
        .collect()
}

/// For each drawn episode, the scores of runs drawn with replacement within it.
fn resample(scores: &[Vec<f64>], draw: &[usize], rng: &mut ChaCha8Rng) -> Vec<Vec<f64>> {
    draw.iter()
        .map(|&e| {
            (0..scores.len())
                .map(|_| scores[rng.random_range(0..scores.len())][e])
                .collect()
        })
        .collect()
}

fn interval(estimate: f64, resampled: &[f64]) -> Interval {
    Interval {
        estimate,
        low: super::percentile(resampled, 0.025),
        high: super::percentile(resampled, 0.975),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_iqm_drops_a_quarter_at_each_end() {
        let eight: Vec<f64> = (1..=8).map(f64::from).collect();
        assert_eq!(iqm(&eight), 4.5); // mean of 3, 4, 5, 6
        assert_eq!(iqm(&[1.0, 2.0, 3.0, 4.0, 100.0]), 3.0); // one cut each side
        assert_eq!(iqm(&[5.0, 1.0, 3.0]), 3.0); // n < 4: nothing cut
        assert!(iqm(&[]).is_nan());
    }

    #[test]
    fn improvement_counts_pairs_per_episode_and_ties_half() {
        // Episode 1: 1 < 2; episode 2: 3 > 2.
        assert_eq!(
            probability_of_improvement(&[vec![1.0, 3.0]], &[vec![2.0, 2.0]]),
            0.5
        );
        assert_eq!(probability_of_improvement(&[vec![2.0]], &[vec![2.0]]), 0.5);
        // Two runs of X against one of Y on one episode: 1 of 2 pairs.
        assert_eq!(
            probability_of_improvement(&[vec![1.0], vec![3.0]], &[vec![2.0]]),
            0.5
        );
        // 3 runs x 2 runs: 5 of 6 pairs win, 1 ties -> (5 + 0.5) / 6.
        let x = [vec![4.0], vec![5.0], vec![2.0]];
        let y = [vec![2.0], vec![1.0]];
        assert!((probability_of_improvement(&x, &y) - 5.5 / 6.0).abs() < 1e-12);
    }

    #[test]
    fn intervals_are_points_when_nothing_varies() {
        let flat = [vec![2.0; 6], vec![2.0; 6]];
        let i = iqm_interval(&flat, 1);
        assert_eq!((i.estimate, i.low, i.high), (2.0, 2.0, 2.0));
        let one = iqm_interval(&[vec![7.0]], 1);
        assert_eq!((one.low, one.high), (7.0, 7.0));
        let better = improvement_interval(&[vec![3.0; 5]], &[vec![1.0; 5]], 2);
        assert_eq!((better.estimate, better.low, better.high), (1.0, 1.0, 1.0));
    }

    #[test]
    fn two_episodes_resample_to_their_four_combinations() {
        // One run, episodes 0 and 1: resamples are {0,0}, {0,1}, {1,0}, {1,1} with IQMs
        // 0, 0.5, 0.5, 1; the interval spans them.
        let i = iqm_interval(&[vec![0.0, 1.0]], 3);
        assert_eq!((i.estimate, i.low, i.high), (0.5, 0.0, 1.0));
    }

    #[test]
    fn paired_differences_and_normalised_scores() {
        // Episode means: X (1+3)/2 = 2 and 4; Y 1 and 1 -> differences 1 and 3 -> 2.
        let d = difference_interval(&[vec![1.0, 4.0], vec![3.0, 4.0]], &[vec![1.0, 1.0]], 4);
        assert_eq!(d.estimate, 2.0);
        // Resampled runs of episode 0 differ by 0, 1 or 2, episode 1 always by 3.
        assert!(d.low >= 0.0 && d.high <= 3.0 && d.low < d.high, "{d:?}");
        assert_eq!(normalized(5.0, 10.0, 0.0), 0.5);
        assert_eq!(normalized(10.0, 10.0, 0.0), 0.0);
        assert!(normalized(1.0, 3.0, 3.0).is_nan());
    }

    #[test]
    fn more_episodes_narrow_the_interval() {
        let noisy = |n: usize| vec![(0..n).map(|i| ((i * 37) % 11) as f64).collect::<Vec<_>>()];
        let small = iqm_interval(&noisy(10), 5);
        let large = iqm_interval(&noisy(400), 5);
        assert!(large.high - large.low < (small.high - small.low) / 3.0);
        assert!(small.low <= small.estimate && small.estimate <= small.high);
    }
}
