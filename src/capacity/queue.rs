//! The response time of one replica under Poisson load: M/G/c with the Allen-Cunneen
//! correction for the waiting time, and the measured service-time samples for the rest.
//!
//! A request waits with probability `C(c, a)` (Erlang C); given that it waits, its wait is taken
//! as exponential with the mean that makes the overall mean wait the Allen-Cunneen one,
//! `C / (c mu - lambda) * (1 + cs^2) / 2` (Poisson arrivals, `cs^2` the squared coefficient of
//! variation of the service time). The response time is that wait plus an independent service
//! time drawn from the samples, so its tail is an average over them.

use crate::sim::queueing::erlang_c;

/// Mean and squared coefficient of variation of `samples`.
pub fn moments(samples: &[f64]) -> (f64, f64) {
    let n = samples.len().max(1) as f64;
    let mean = samples.iter().sum::<f64>() / n;
    let variance = samples.iter().map(|s| (s - mean).powi(2)).sum::<f64>() / n;
    (mean, variance / (mean * mean).max(f64::MIN_POSITIVE))
}

/// The waiting-time model of `servers` servers with Poisson arrivals at `rate` and the service
/// times `samples`: (probability of waiting, rate of the exponential wait given waiting).
/// `None` when the load reaches the servers' capacity.
fn wait_model(rate: f64, servers: usize, samples: &[f64]) -> Option<(f64, f64)> {
    let (mean, scv) = moments(samples);
    let offered = rate * mean;
    let waiting = erlang_c(servers, offered)?;
    let mean_wait = waiting / (servers as f64 / mean - rate) * (1.0 + scv) / 2.0;
    Some((waiting, waiting / mean_wait.max(f64::MIN_POSITIVE)))
}

/// P(response time > t): over the samples `s`, 1 if `t < s`, else `C exp(-theta (t - s))`.
fn tail(t: f64, samples: &[f64], waiting: f64, theta: f64) -> f64 {
    let beyond = |s: &f64| match t < *s {
        true => 1.0,
        false => waiting * (-theta * (t - s)).exp(),
    };
    samples.iter().map(beyond).sum::<f64>() / samples.len() as f64
}

/// The `quantile` (e.g. 0.95) of the response time (wait and service) of `servers` servers fed
/// Poisson arrivals at `rate` per second, service times `samples` (seconds). `None` when the
/// servers cannot keep up or there are no samples.
pub fn response_quantile(rate: f64, servers: usize, samples: &[f64], quantile: f64) -> Option<f64> {
    if samples.is_empty() || servers == 0 {
        return None;
    }
    let (waiting, theta) = wait_model(rate, servers, samples)?;
    let target = 1.0 - quantile;
    let longest = samples.iter().copied().fold(0.0, f64::max);
    let (mut low, mut high) = (0.0, longest + 60.0 / theta.max(1e-12));
    for _ in 0..100 {
        let mid = (low + high) / 2.0;
        match tail(mid, samples, waiting, theta) > target {
            true => low = mid,
            false => high = mid,
        }
    }
    Some(high)
}

/// The `quantile` of `samples` (nearest rank).
pub fn sample_quantile(samples: &[f64], quantile: f64) -> f64 {
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    let rank =
        ((quantile * sorted.len() as f64 - 1e-9).ceil() as usize).clamp(1, sorted.len().max(1));
    sorted.get(rank - 1).copied().unwrap_or(f64::NAN)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `n` quantiles of the exponential distribution with this mean: its samples, evenly.
    fn exponential(mean: f64, n: usize) -> Vec<f64> {
        (0..n)
            .map(|i| -mean * (1.0 - (i as f64 + 0.5) / n as f64).ln())
            .collect()
    }

    #[test]
    fn mm1_matches_its_exact_response_time_quantile() {
        // M/M/1: the response time is exponential with rate mu - lambda; p95 = ln 20 / (mu - lambda).
        let (mu, lambda) = (10.0, 7.0);
        let got = response_quantile(lambda, 1, &exponential(1.0 / mu, 4000), 0.95).unwrap();
        let exact = 20f64.ln() / (mu - lambda);
        assert!((got / exact - 1.0).abs() < 0.02, "{got} vs {exact}");
    }

    #[test]
    fn mm2_matches_its_mean_wait_through_the_tail() {
        // M/M/2 at a = 1: C(2, 1) = 1/3, mean wait C / (2 mu - lambda) = 1/3 s for mu = lambda = 1.
        let (waiting, theta) = wait_model(1.0, 2, &exponential(1.0, 4000)).unwrap();
        assert!((waiting - 1.0 / 3.0).abs() < 0.005, "{waiting}");
        assert!(
            (waiting / theta - 1.0 / 3.0).abs() < 0.01,
            "{}",
            waiting / theta
        );
    }

    #[test]
    fn deterministic_service_waits_half_as_long_as_exponential() {
        let fixed = vec![0.1; 100];
        let (waiting, theta) = wait_model(5.0, 1, &fixed).unwrap();
        // M/D/1 mean wait: rho / (2 mu (1 - rho)) = 0.5 / (2 * 10 * 0.5) = 0.05 s.
        assert!((waiting / theta - 0.05).abs() < 1e-9, "{}", waiting / theta);
    }

    #[test]
    fn light_load_leaves_the_service_quantile_and_overload_has_none() {
        let samples: Vec<f64> = (1..=100).map(|i| i as f64 / 100.0).collect();
        let light = response_quantile(0.001, 1, &samples, 0.95).unwrap();
        assert!((light - 0.95).abs() <= 0.011, "{light}");
        assert_eq!(response_quantile(2.0, 1, &samples, 0.95), None);
        assert_eq!(response_quantile(1.0, 1, &[], 0.95), None);
        assert_eq!(sample_quantile(&samples, 0.95), 0.95);
    }
}
