//! A discrete-event model of N replicas serving one circuit: PPO's training ground.
//!
//! Replicas have a number of evaluation slots each (one request per slot at a time), a FIFO
//! queue each, a start-up delay, and optionally share a host with a limited number of slots (the
//! local backend on one machine). Requests are split round-robin or at random (kube-proxy's
//! iptables mode) over the ready replicas; with none ready, a request fails at once. Service times
//! are drawn from the distribution measured for the deployed circuit ([`ServiceTime`]).
//! Everything is seeded and deterministic.
//!
//! - [`cluster`]: the event loop ([`Cluster`]): scale, restart, send a burst, Poisson background
//!   load, open-loop runs for validation.
//! - [`queueing`]: closed forms it is checked against (Pollaczek-Khinchine, Erlang C) and the burst
//!   latency the oracle baseline plans with.

pub mod cluster;
pub mod queueing;

pub use cluster::{Arrival, Cluster, ClusterConfig, Log, Outcome, Split};

use rand::Rng;
use serde::{Deserialize, Serialize};

/// A service-time distribution in seconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum ServiceTime {
    /// Always `seconds`.
    Deterministic { seconds: f64 },
    /// Exponential with the given mean (M/M/c checks).
    Exponential { mean: f64 },
    /// Lognormal with the given median and log-space standard deviation.
    Lognormal { median: f64, sigma: f64 },
    /// One of the measured `samples` (not empty), uniformly: the planner's check uses its inputs.
    Empirical { samples: Vec<f64> },
}

impl ServiceTime {
    /// The lognormal whose median and 95th percentile are the measured ones.
    pub fn lognormal_from_quantiles(median: f64, p95: f64) -> Self {
        const Z95: f64 = 1.644_853_626_951_472_2;
        Self::Lognormal {
            median,
            sigma: (p95.max(median) / median).ln() / Z95,
        }
    }

    pub fn sample(&self, rng: &mut impl Rng) -> f64 {
        match *self {
            Self::Deterministic { seconds } => seconds,
            Self::Exponential { mean } => -mean * (1.0 - rng.random::<f64>()).ln(),
            Self::Lognormal { median, sigma } => median * (sigma * standard_normal(rng)).exp(),
            Self::Empirical { ref samples } => samples[rng.random_range(0..samples.len())],
        }
    }

    pub fn mean(&self) -> f64 {
        match *self {
            Self::Deterministic { seconds } => seconds,
            Self::Exponential { mean } => mean,
            Self::Lognormal { median, sigma } => median * (sigma * sigma / 2.0).exp(),
            Self::Empirical { ref samples } => empirical_mean(samples, |s| s),
        }
    }

    /// The `p` quantile (0 < p < 1).
    pub fn quantile(&self, p: f64) -> f64 {
        match *self {
            Self::Deterministic { seconds } => seconds,
            Self::Exponential { mean } => -mean * (1.0 - p).ln(),
            Self::Lognormal { median, sigma } => median * (sigma * probit(p)).exp(),
            Self::Empirical { ref samples } => crate::stats::nearest_rank(samples, p),
        }
    }

    /// E[S^2], for Pollaczek-Khinchine.
    pub fn second_moment(&self) -> f64 {
        match *self {
            Self::Deterministic { seconds } => seconds * seconds,
            Self::Exponential { mean } => 2.0 * mean * mean,
            Self::Lognormal { median, sigma } => median * median * (2.0 * sigma * sigma).exp(),
            Self::Empirical { ref samples } => empirical_mean(samples, |s| s * s),
        }
    }
}

/// One standard normal draw (Box-Muller; the second value is dropped to keep draws independent of
/// call order).
fn empirical_mean(samples: &[f64], f: impl Fn(f64) -> f64) -> f64 {
    samples.iter().map(|&s| f(s)).sum::<f64>() / samples.len().max(1) as f64
}

/// The standard normal quantile (Acklam's rational approximation, relative error under 1.2e-9).
pub fn probit(p: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969683028665376e1,
        2.209460984245205e2,
        -2.759285104469687e2,
        1.38357751867269e2,
        -3.066479806614716e1,
        2.506628277459239,
    ];
    const B: [f64; 5] = [
        -5.447609879822406e1,
        1.615858368580409e2,
        -1.556989798598866e2,
        6.680131188771972e1,
        -1.328068155288572e1,
    ];
    const C: [f64; 6] = [
        -7.784894002430293e-3,
        -3.223964580411365e-1,
        -2.400758277161838,
        -2.549732539343734,
        4.374664141464968,
        2.938163982698783,
    ];
    const D: [f64; 4] = [
        7.784695709041462e-3,
        3.224671290700398e-1,
        2.445134137142996,
        3.754408661907416,
    ];
    let tail = |q: f64| {
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    match p {
        p if p < 0.02425 => tail((-2.0 * p.ln()).sqrt()),
        p if p > 1.0 - 0.02425 => -tail((-2.0 * (1.0 - p).ln()).sqrt()),
        p => {
            let q = p - 0.5;
            let r = q * q;
            (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
                / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
        }
    }
}

pub(crate) fn standard_normal(rng: &mut impl Rng) -> f64 {
    let u1 = 1.0 - rng.random::<f64>();
    let u2 = rng.random::<f64>();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn quantiles_invert_the_fit() {
        assert!((probit(0.975) - 1.959_963_985).abs() < 1e-8);
        assert!((probit(0.5)).abs() < 1e-12);
        assert!((probit(0.001) + 3.090_232_306).abs() < 1e-8);
        let fit = ServiceTime::lognormal_from_quantiles(2.0, 5.0);
        assert!((fit.quantile(0.5) - 2.0).abs() < 1e-9);
        assert!((fit.quantile(0.95) - 5.0).abs() < 1e-7);
    }

    #[test]
    fn sampled_moments_match_the_closed_forms() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        for dist in [
            ServiceTime::Exponential { mean: 2.0 },
            ServiceTime::lognormal_from_quantiles(6.8, 8.1),
        ] {
            let draws: Vec<f64> = (0..200_000).map(|_| dist.sample(&mut rng)).collect();
            let mean = draws.iter().sum::<f64>() / draws.len() as f64;
            let second = draws.iter().map(|d| d * d).sum::<f64>() / draws.len() as f64;
            assert!((mean / dist.mean() - 1.0).abs() < 0.01, "{dist:?}: {mean}");
            assert!(
                (second / dist.second_moment() - 1.0).abs() < 0.02,
                "{dist:?}"
            );
        }
    }

    #[test]
    fn the_fitted_lognormal_keeps_the_measured_quantiles() {
        let ServiceTime::Lognormal { median, sigma } =
            ServiceTime::lognormal_from_quantiles(6.8, 8.1)
        else {
            unreachable!()
        };
        assert_eq!(median, 6.8);
        assert!((median * (1.644_853_6 * sigma).exp() - 8.1).abs() < 1e-6);
    }
}
