//! Statistics over repeated runs: descriptive summaries, percentiles, bootstrap intervals, and
//! ([`compare`]) the interquartile mean and probability of improvement between controllers.

pub mod compare;

/// Mean, sample standard deviation and range of a set of measurements.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    pub n: usize,
    pub mean: f64,
    /// Sample standard deviation (n - 1); 0 for a single value.
    pub sd: f64,
    pub min: f64,
    pub max: f64,
}

impl Summary {
    pub fn of(values: impl IntoIterator<Item = f64>) -> Self {
        let values: Vec<f64> = values.into_iter().collect();
        let n = values.len();
        let mean = mean(&values);
        let squares: f64 = values.iter().map(|v| (v - mean).powi(2)).sum();
        Self {
            n,
            mean,
            sd: if n > 1 {
                (squares / (n - 1) as f64).sqrt()
            } else {
                0.0
            },
            min: values.iter().copied().fold(f64::INFINITY, f64::min),
            max: values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        }
    }

    /// Half-width of the 95% confidence interval of the mean (Student's t; 0 for n < 2).
    pub fn ci95(&self) -> f64 {
        if self.n < 2 {
            return 0.0;
        }
        t_975(self.n - 1) * self.sd / (self.n as f64).sqrt()
    }
}

/// The arithmetic mean; 0 when empty.
pub fn mean(values: &[f64]) -> f64 {
    values.iter().sum::<f64>() / values.len().max(1) as f64
}

/// The `q` quantile of `values` by nearest rank (a value that occurred, unlike
/// [`percentile`]'s interpolation); NaN for none.
pub fn nearest_rank(values: &[f64], q: f64) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let rank = ((q * sorted.len() as f64 - 1e-9).ceil() as usize).clamp(1, sorted.len().max(1));
    sorted.get(rank - 1).copied().unwrap_or(f64::NAN)
}

/// A distribution-free 95% confidence interval of the `q` quantile of the population `values`
/// were drawn from: two order statistics whose ranks bound the binomial count of values below
/// the quantile (normal approximation); NaN ends where `values` are too few to reach them.
pub fn quantile_interval(values: &[f64], q: f64) -> (f64, f64) {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len() as f64;
    let spread = 1.96 * (n * q * (1.0 - q)).sqrt();
    let (low, high) = ((n * q - spread).floor(), (n * q + spread).ceil() + 1.0);
    let at = |rank: f64| match rank {
        r if r >= 1.0 && r <= n => sorted[r as usize - 1],
        _ => f64::NAN,
    };
    (at(low), at(high))
}

/// The `q` quantile (0..=1) by linear interpolation between order statistics; NaN when empty.
pub fn percentile(values: &[f64], q: f64) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let position = q.clamp(0.0, 1.0) * (sorted.len() - 1) as f64;
    let (low, high) = (position.floor() as usize, position.ceil() as usize);
    sorted[low] + (sorted[high] - sorted[low]) * (position - low as f64)
}

/// The 95% percentile-bootstrap confidence interval of the mean of `values` (`resamples`
/// resamples, seeded); `(NaN, NaN)` when empty.
pub fn bootstrap_ci95(values: &[f64], resamples: usize, seed: u64) -> (f64, f64) {
    use rand::{Rng, SeedableRng};
    if values.is_empty() {
        return (f64::NAN, f64::NAN);
    }
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let n = values.len();
    let means: Vec<f64> = (0..resamples)
        .map(|_| (0..n).map(|_| values[rng.random_range(0..n)]).sum::<f64>() / n as f64)
        .collect();
    (percentile(&means, 0.025), percentile(&means, 0.975))
}

/// The 0.975 quantile of Student's t with `df` degrees of freedom.
/// Half-width of the 95% interval of a proportion pooled over clusters (`(successes, trials)`
/// per cluster, e.g. per user): the ratio estimator's cluster-robust standard error, with
/// Student's t on clusters - 1 degrees of freedom; 0 for fewer than two clusters.
pub fn clustered_proportion_ci95(clusters: &[(usize, usize)]) -> f64 {
    let g = clusters.len();
    let trials: usize = clusters.iter().map(|c| c.1).sum();
    if g < 2 || trials == 0 {
        return 0.0;
    }
    let rate = clusters.iter().map(|c| c.0).sum::<usize>() as f64 / trials as f64;
    let squares: f64 = clusters
        .iter()
        .map(|&(hits, n)| (hits as f64 - rate * n as f64).powi(2))
        .sum();
    let variance = g as f64 / (g - 1) as f64 * squares / (trials as f64).powi(2);
    t_975(g - 1) * variance.sqrt()
}

fn t_975(df: usize) -> f64 {
    const TABLE: [f64; 30] = [
        12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160,
        2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056,
        2.052, 2.048, 2.045, 2.042,
    ];
    TABLE.get(df.wrapping_sub(1)).copied().unwrap_or(1.96)
}

/// `items` grouped by `key`, groups in the order their keys first appear.
pub fn group_in_order<T, K: PartialEq>(items: &[T], key: impl Fn(&T) -> K) -> Vec<(K, Vec<&T>)> {
    let mut groups: Vec<(K, Vec<&T>)> = Vec::new();
    for item in items {
        let k = key(item);
        match groups.iter_mut().find(|(g, _)| *g == k) {
            Some((_, members)) => members.push(item),
            None => groups.push((k, vec![item])),
        }
    }
    groups
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_clustered_interval_widens_when_clusters_disagree() {
        // Every user at the same rate: no spread between clusters.
        assert_eq!(clustered_proportion_ci95(&[(1, 2), (2, 4), (1, 2)]), 0.0);
        assert_eq!(clustered_proportion_ci95(&[(3, 5)]), 0.0, "one cluster");
        // Users all-or-nothing: rate 1/2 over 4 users of 2 examples each. Residuals +-1 per
        // user: variance 4/3 * 4 / 64, t(3) = 3.182.
        let ci = clustered_proportion_ci95(&[(2, 2), (0, 2), (2, 2), (0, 2)]);
        assert!(
            (ci - 3.182 * (4.0f64 / 3.0 * 4.0 / 64.0).sqrt()).abs() < 1e-12,
            "{ci}"
        );
        // The same 8 examples as 8 independent users give a narrower interval.
        let independent = [
            (1, 1),
            (0, 1),
            (1, 1),
            (0, 1),
            (1, 1),
            (0, 1),
            (1, 1),
            (0, 1),
        ];
        assert!(clustered_proportion_ci95(&independent) < ci);
    }

    #[test]
    fn the_quantile_interval_brackets_the_quantile_by_order_statistics() {
        let values: Vec<f64> = (1..=1000).map(f64::from).collect();
        // n q = 950, 1.96 sqrt(n q (1 - q)) = 13.5: ranks 936 and 965.
        assert_eq!(quantile_interval(&values, 0.95), (936.0, 965.0));
        let (low, high) = quantile_interval(&values[..20], 0.95);
        assert_eq!(low, 17.0);
        assert!(high.is_nan(), "20 values cannot bound a p95 from above");
        assert!(quantile_interval(&[], 0.5).0.is_nan());
    }

    #[test]
    fn percentiles_interpolate() {
        assert_eq!(percentile(&[3.0, 1.0, 2.0], 0.5), 2.0);
        assert_eq!(percentile(&[1.0, 2.0], 0.5), 1.5);
        assert_eq!(percentile(&[1.0, 2.0, 3.0, 4.0, 5.0], 0.95), 4.8);
        assert!(percentile(&[], 0.5).is_nan());
    }

    #[test]
    fn bootstrap_intervals_cover_the_mean_and_shrink_with_n() {
        let few: Vec<f64> = (0..10).map(f64::from).collect();
        let many: Vec<f64> = (0..1000).map(|i| f64::from(i % 10)).collect();
        let (lo, hi) = bootstrap_ci95(&few, 2000, 1);
        assert!(lo < 4.5 && 4.5 < hi, "{lo} {hi}");
        let (lo2, hi2) = bootstrap_ci95(&many, 2000, 1);
        assert!(hi2 - lo2 < (hi - lo) / 5.0);
        assert_eq!(bootstrap_ci95(&[2.0; 5], 100, 1), (2.0, 2.0));
    }

    #[test]
    fn summarises_a_sample() {
        let s = Summary::of([1.0, 2.0, 3.0]);
        assert_eq!((s.n, s.mean, s.sd, s.min, s.max), (3, 2.0, 1.0, 1.0, 3.0));
        assert_eq!(Summary::of([5.0]).sd, 0.0);
        assert_eq!(Summary::of([5.0]).ci95(), 0.0);
        // t(0.975, 2) = 4.303; sd 1, n 3.
        assert!((s.ci95() - 4.303 / 3f64.sqrt()).abs() < 1e-9);
        assert!((Summary::of((0..100).map(f64::from)).ci95() - 1.96 * 29.011 / 10.0).abs() < 1e-2);
    }
}
