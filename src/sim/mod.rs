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
        }
    }

    pub fn mean(&self) -> f64 {
        match *self {
            Self::Deterministic { seconds } => seconds,
            Self::Exponential { mean } => mean,
            Self::Lognormal { median, sigma } => median * (sigma * sigma / 2.0).exp(),
        }
    }

    /// E[S^2], for Pollaczek-Khinchine.
    pub fn second_moment(&self) -> f64 {
        match *self {
            Self::Deterministic { seconds } => seconds * seconds,
            Self::Exponential { mean } => 2.0 * mean * mean,
            Self::Lognormal { median, sigma } => median * median * (2.0 * sigma * sigma).exp(),
        }
    }
}

/// One standard normal draw (Box-Muller; the second value is dropped to keep draws independent of
/// call order).
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
