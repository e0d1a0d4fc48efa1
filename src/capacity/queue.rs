//! The response time of one replica under Poisson load: its wait for a worker plus an
//! independent service time drawn from the measured samples, so that the tail of the response
//! time is an average over the samples of the tail of the wait.
//!
//! The wait of one worker (M/G/1) is exact up to a grid: the Pollaczek-Khinchine (Benes) form
//! `P(W <= t) = (1 - rho) sum_n rho^n R^{*n}(t)`, `R` the distribution of the residual service
//! time, solved on a grid by the recursion `w = (1 - rho) delta_0 + rho (r * w)`. Several workers
//! (M/G/c) wait with probability `C(c, a)` (Erlang C) and, given that, exponentially with the
//! Allen-Cunneen mean `C / (c mu - lambda) * (1 + cs^2) / 2`.

use crate::sim::queueing::erlang_c;

/// Grid points of the M/G/1 waiting-time distribution.
const GRID: usize = 2000;
/// The grid reaches where the approximate tail is this small.
const GRID_TAIL: f64 = 1e-7;

/// Mean and squared coefficient of variation of `samples`.
pub fn moments(samples: &[f64]) -> (f64, f64) {
    let n = samples.len().max(1) as f64;
    let mean = samples.iter().sum::<f64>() / n;
    let variance = samples.iter().map(|s| (s - mean).powi(2)).sum::<f64>() / n;
    (mean, variance / (mean * mean).max(f64::MIN_POSITIVE))
}

/// The distribution of the wait for a worker.
#[derive(Debug, Clone, PartialEq)]
enum Wait {
    /// `P(W > x)` at `x = k step`; past the end, the last value decaying at `rate`.
    Grid {
        step: f64,
        survival: Vec<f64>,
        rate: f64,
    },
    /// Waits with probability `waiting`, then exponentially at rate `theta`.
    Exponential { waiting: f64, theta: f64 },
}

impl Wait {
    /// The rate its tail decays at (Allen-Cunneen's), for bounding a search.
    fn tail_rate(&self) -> f64 {
        match *self {
            Wait::Grid { rate, .. } => rate,
            Wait::Exponential { theta, .. } => theta,
        }
    }

    /// `P(W > x)`.
    fn survival(&self, x: f64) -> f64 {
        match self {
            Wait::Grid {
                step,
                survival,
                rate,
            } => {
                let k = (x / step).floor() as usize;
                let end = survival.len() - 1;
                match survival.get(k) {
                    Some(&p) => p,
                    None => survival[end] * (-rate * (x - end as f64 * step)).exp(),
                }
            }
            Wait::Exponential { waiting, theta } => waiting * (-theta * x).exp(),
        }
    }
}

/// Allen-Cunneen for `servers` servers: (probability of waiting, rate of the exponential wait
/// given waiting). `None` when the load reaches the servers' capacity.
fn exponential_wait(rate: f64, servers: usize, samples: &[f64]) -> Option<(f64, f64)> {
    let (mean, scv) = moments(samples);
    let waiting = erlang_c(servers, rate * mean)?;
    let mean_wait = waiting / (servers as f64 / mean - rate) * (1.0 + scv) / 2.0;
    Some((waiting, waiting / mean_wait.max(f64::MIN_POSITIVE)))
}

/// The wait of `servers` servers fed Poisson arrivals at `rate`; `None` when overloaded.
fn wait_of(rate: f64, servers: usize, samples: &[f64]) -> Option<Wait> {
    let (waiting, theta) = exponential_wait(rate, servers, samples)?;
    if servers > 1 || waiting <= 0.0 {
        return Some(Wait::Exponential { waiting, theta });
    }
    // The grid reaches where the tail is negligible, at a tenth of a service time or finer
    // (near saturation it ends sooner and the tail decays as Allen-Cunneen's past it).
    let (mean, _) = moments(samples);
    let longest = samples.iter().copied().fold(0.0, f64::max);
    let reach = longest + (waiting / GRID_TAIL).ln() / theta;
    let step = (reach / GRID as f64).min(mean / 10.0);
    Some(mg1_grid(rate, samples, step, theta))
}

/// The M/G/1 wait on a grid of `step`: cell masses by the Benes recursion, then `P(W > k step)`.
fn mg1_grid(rate: f64, samples: &[f64], step: f64, tail_rate: f64) -> Wait {
    let (mean, _) = moments(samples);
    let rho = rate * mean;
    // The residual service time rounded to the nearest grid point (rounding, not truncating,
    // keeps the repeated convolutions unbiased): (1 / E[S]) int P(S > x) dx around each point.
    let residual: Vec<f64> = (0..GRID)
        .map(|k| {
            let a = ((k as f64 - 0.5) * step).max(0.0);
            let b = (k as f64 + 0.5) * step;
            let covered: f64 = samples.iter().map(|&s| s.clamp(a, b) - a).sum();
            covered / samples.len() as f64 / mean
        })
        .collect();
    let scale = 1.0 / (1.0 - rho * residual[0]);
    let mut mass = vec![0.0; GRID];
    mass[0] = (1.0 - rho) * scale;
    for k in 1..GRID {
        let convolved: f64 = (1..=k).map(|j| residual[j] * mass[k - j]).sum();
        mass[k] = rho * convolved * scale;
    }
    let mut below = 0.0;
    let survival = mass
        .iter()
        .map(|m| {
            below += m;
            (1.0 - below).max(0.0)
        })
        .collect();
    Wait::Grid {
        step,
        survival,
        rate: tail_rate,
    }
}

/// P(response time > t): over the samples `s`, 1 if `t < s`, else `P(W > t - s)`.
fn tail(t: f64, samples: &[f64], wait: &Wait) -> f64 {
    let beyond = |s: &f64| match t < *s {
        true => 1.0,
        false => wait.survival(t - s),
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
    let wait = wait_of(rate, servers, samples)?;
    let target = 1.0 - quantile;
    let longest = samples.iter().copied().fold(0.0, f64::max);
    let (mut low, mut high) = (0.0, longest + 60.0 / wait.tail_rate().max(1e-12));
    for _ in 0..100 {
        let mid = (low + high) / 2.0;
        match tail(mid, samples, &wait) > target {
            true => low = mid,
            false => high = mid,
        }
    }
    Some(high)
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

    /// The mean of a grid wait.
    fn grid_mean(wait: &Wait) -> f64 {
        let Wait::Grid {
            step,
            survival,
            rate,
        } = wait
        else {
            panic!("one server waits on a grid");
        };
        survival.iter().sum::<f64>() * step + survival[survival.len() - 1] / rate
    }

    #[test]
    fn the_mg1_grid_has_the_pollaczek_khinchine_mean_and_idle_mass() {
        // M/D/1 at rho 0.5, 0.1 s: P(W = 0) = 1 - rho, E[W] = rho S / (2 (1 - rho)) = 0.05 s.
        let fixed = vec![0.1; 50];
        let wait = wait_of(5.0, 1, &fixed).unwrap();
        assert!(
            (1.0 - wait.survival(0.0) - 0.5).abs() < 0.01,
            "{}",
            wait.survival(0.0)
        );
        assert!(
            (grid_mean(&wait) / 0.05 - 1.0).abs() < 0.01,
            "{}",
            grid_mean(&wait)
        );
        // A spread-out service time at rho 0.9: lambda E[S^2] / (2 (1 - rho)).
        let spread: Vec<f64> = (1..=100).map(|i| i as f64 / 50.0).collect();
        let (mean, scv) = moments(&spread);
        let rate = 0.9 / mean;
        let pk = rate * mean * mean * (1.0 + scv) / (2.0 * (1.0 - 0.9));
        let got = grid_mean(&wait_of(rate, 1, &spread).unwrap());
        assert!((got / pk - 1.0).abs() < 0.01, "{got} vs {pk}");
    }

    #[test]
    fn near_saturation_the_tail_stays_long() {
        // M/D/1 at rho 0.99999 with a 1 ms service: mean wait rho S / (2 (1 - rho)) = 50 s, and
        // nearly every request waits: p95 about ln 20 x 50 s = 150 s.
        let got = response_quantile(999.99, 1, &[0.001; 10], 0.95).unwrap();
        assert!((got / 150.0 - 1.0).abs() < 0.05, "{got}");
    }

    #[test]
    fn mm2_matches_its_mean_wait_through_the_tail() {
        // M/M/2 at a = 1: C(2, 1) = 1/3, mean wait C / (2 mu - lambda) = 1/3 s for mu = lambda = 1.
        let (waiting, theta) = exponential_wait(1.0, 2, &exponential(1.0, 4000)).unwrap();
        assert!((waiting - 1.0 / 3.0).abs() < 0.005, "{waiting}");
        assert!(
            (waiting / theta - 1.0 / 3.0).abs() < 0.01,
            "{}",
            waiting / theta
        );
    }

    #[test]
    fn light_load_leaves_the_service_quantile_and_overload_has_none() {
        let samples: Vec<f64> = (1..=100).map(|i| i as f64 / 100.0).collect();
        let light = response_quantile(0.001, 1, &samples, 0.95).unwrap();
        assert!((light - 0.95).abs() <= 0.011, "{light}");
        assert_eq!(response_quantile(2.0, 1, &samples, 0.95), None);
        assert_eq!(response_quantile(1.0, 1, &[], 0.95), None);
        assert_eq!(crate::stats::nearest_rank(&samples, 0.95), 0.95);
    }
}
