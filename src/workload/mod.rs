//! Request-rate workloads for the autoscaling study: the paper's bursts, a replayed per-minute
//! trace of a real server, and synthetic families (diurnal, ramp, flash crowd, on-off).
//!
//! Every open-loop workload is a set of one-day episodes of per-minute load in replicas' worth
//! (1.0 is what one replica completes when always busy), compressed in time, in three splits:
//! train (learning), validation (every choice: hyper-parameters, the best static count) and test
//! (touched once, for the report). Arrivals are a seeded non-homogeneous Poisson process of that
//! rate; each arrival carries a key that fixes its service time in the simulator, so every
//! controller meets exactly the same requests.
//!
//! - [`trace`]: the `minute,requests` loader.
//! - [`shapes`]: the synthetic families.

pub mod shapes;
pub mod trace;

use std::path::{Path, PathBuf};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::sim::Arrival;
use shapes::Family;
use trace::{Trace, DAY_MINUTES};

/// One workload of an RL experiment (`rl.workloads` in a spec).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum WorkloadSpec {
    /// The paper's MDP: a probe every step and a burst of 5 to 10 requests every k steps
    /// (constants in `rl.env`).
    Bursts(BurstsSpec),
    /// A replayed per-minute trace: days of `train` (the last `validation_days` of them for
    /// validation), tested on the days of `test`.
    Trace(TraceSpec),
    Diurnal(SyntheticSpec),
    Ramp(SyntheticSpec),
    FlashCrowd(SyntheticSpec),
    OnOff(SyntheticSpec),
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct BurstsSpec {
    pub name: Option<String>,
    pub validation_episodes: usize,
    pub test_episodes: usize,
}

impl Default for BurstsSpec {
    fn default() -> Self {
        Self {
            name: None,
            validation_episodes: 20,
            test_episodes: 20,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TraceSpec {
    #[serde(default)]
    pub name: Option<String>,
    /// Training days (relative paths are relative to the spec file).
    pub train: PathBuf,
    /// Test days.
    pub test: PathBuf,
    /// The last this many days of `train` choose hyper-parameters instead of training.
    #[serde(default = "default_validation_days")]
    pub validation_days: usize,
    /// Test on the first this many days of `test` only; absent: all of them.
    #[serde(default)]
    pub test_days: Option<usize>,
    /// The peak rate in replicas' worth (what this many replicas complete when always busy).
    pub peak_replicas: f64,
    /// Time compression: a day lasts `86400 / compress` simulated seconds.
    #[serde(default = "default_compress")]
    pub compress: f64,
    /// The quantile of the training file's per-minute counts that is scaled to `peak_replicas`
    /// (the maximum would let one flash crowd set the scale).
    #[serde(default = "default_peak_quantile")]
    pub peak_quantile: f64,
}

fn default_validation_days() -> usize {
    7
}

fn default_peak_quantile() -> f64 {
    0.99
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SyntheticSpec {
    #[serde(default)]
    pub name: Option<String>,
    /// The peak rate in replicas' worth.
    pub peak_replicas: f64,
    /// Time compression: a day lasts `86400 / compress` simulated seconds.
    #[serde(default = "default_compress")]
    pub compress: f64,
    /// Log-sd of the per-minute lognormal noise on the rate.
    #[serde(default = "default_noise")]
    pub noise: f64,
    #[serde(default = "default_validation_episodes")]
    pub validation_episodes: usize,
    #[serde(default = "default_test_episodes")]
    pub test_episodes: usize,
}

fn default_noise() -> f64 {
    0.1
}

fn default_validation_episodes() -> usize {
    10
}

fn default_test_episodes() -> usize {
    20
}

fn default_compress() -> f64 {
    24.0
}

/// Which part of a workload an episode belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Split {
    Train,
    Validation,
    Test,
}

impl Split {
    fn salt(self) -> u64 {
        match self {
            Split::Train => 0x0074_7261_696e,
            Split::Validation => 0x0076_616c_6964,
            Split::Test => 0x7465_7374,
        }
    }
}

impl std::fmt::Display for Split {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Split::Train => "train",
            Split::Validation => "validation",
            Split::Test => "test",
        })
    }
}

impl WorkloadSpec {
    /// The name results use: the spec's `name`, else the kind.
    pub fn name(&self) -> String {
        let name = match self {
            Self::Bursts(s) => &s.name,
            Self::Trace(s) => &s.name,
            Self::Diurnal(s) | Self::Ramp(s) | Self::FlashCrowd(s) | Self::OnOff(s) => &s.name,
        };
        name.clone().unwrap_or_else(|| self.kind().to_owned())
    }

    /// The kind as a spec writes it.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Bursts(_) => "bursts",
            Self::Trace(_) => "trace",
            Self::Diurnal(_) => "diurnal",
            Self::Ramp(_) => "ramp",
            Self::FlashCrowd(_) => "flash-crowd",
            Self::OnOff(_) => "on-off",
        }
    }

    /// Resolves relative trace paths against `dir` (the spec file's folder).
    pub fn resolve_paths(&mut self, dir: &Path) {
        if let Self::Trace(t) = self {
            for path in [&mut t.train, &mut t.test] {
                if path.is_relative() {
                    *path = dir.join(&*path);
                }
            }
        }
    }
}

/// One episode of an open-loop workload: a day of per-bin load and the seed of its arrivals.
#[derive(Debug, Clone, PartialEq)]
pub struct Episode {
    pub split: Split,
    pub index: usize,
    /// Where it comes from, e.g. `nasa_http_aug95.csv day 3` or `test 3`.
    pub label: String,
    /// Load per bin in replicas' worth.
    pub load: Vec<f64>,
    /// Simulated seconds per bin (a minute of the day, compressed).
    pub bin_s: f64,
    /// Fixes the arrivals and their service times.
    pub seed: u64,
}

impl Episode {
    pub fn duration_s(&self) -> f64 {
        self.load.len() as f64 * self.bin_s
    }

    /// The load (replicas' worth) at simulated time `t`.
    pub fn load_at(&self, t: f64) -> f64 {
        let bin = ((t / self.bin_s).floor().max(0.0) as usize).min(self.load.len() - 1);
        self.load[bin]
    }

    /// Fraction of the day at simulated time `t` (every episode starts at midnight).
    pub fn day_fraction(&self, t: f64) -> f64 {
        (t / self.duration_s()).rem_euclid(1.0)
    }

    /// The arrivals, sorted, for a circuit whose replica completes `capacity_rps` requests per
    /// second: a Poisson process whose rate is constant within each bin, keyed `0, 1, 2, ...`.
    pub fn arrivals(&self, capacity_rps: f64) -> Vec<Arrival> {
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed);
        let mut arrivals = Vec::new();
        for (bin, &load) in self.load.iter().enumerate() {
            let rate = load * capacity_rps;
            if rate <= 0.0 {
                continue;
            }
            let (start, end) = (bin as f64 * self.bin_s, (bin + 1) as f64 * self.bin_s);
            // Exponential gaps, restarted at each bin (memoryless: exact for a piecewise rate).
            let mut t = start;
            loop {
                t += -(1.0 - rng.random::<f64>()).ln() / rate;
                if t >= end {
                    break;
                }
                let key = arrivals.len() as u64;
                arrivals.push(Arrival { time: t, key });
            }
        }
        arrivals
    }
}

/// An open-loop workload ready to hand out episodes.
#[derive(Debug, Clone)]
pub enum Workload {
    Trace {
        train: Trace,
        test: Trace,
        validation_days: usize,
        test_days: usize,
        /// Replicas' worth per request in a minute.
        scale: f64,
        bin_s: f64,
    },
    Synthetic {
        family: Family,
        spec: SyntheticSpec,
        bin_s: f64,
    },
}

impl Workload {
    /// The open-loop workload of `spec` (traces are read and checked); `None` for `bursts`.
    pub fn open(spec: &WorkloadSpec) -> anyhow::Result<Option<Self>> {
        let synthetic = |family, s: &SyntheticSpec| {
            Some(Self::Synthetic {
                family,
                spec: s.clone(),
                bin_s: 60.0 / s.compress,
            })
        };
        Ok(match spec {
            WorkloadSpec::Bursts(_) => None,
            WorkloadSpec::Trace(t) => Some(Self::open_trace(t)?),
            WorkloadSpec::Diurnal(s) => synthetic(Family::Diurnal, s),
            WorkloadSpec::Ramp(s) => synthetic(Family::Ramp, s),
            WorkloadSpec::FlashCrowd(s) => synthetic(Family::FlashCrowd, s),
            WorkloadSpec::OnOff(s) => synthetic(Family::OnOff, s),
        })
    }

    fn open_trace(spec: &TraceSpec) -> anyhow::Result<Self> {
        let train = Trace::load(&spec.train)?;
        let test = Trace::load(&spec.test)?;
        anyhow::ensure!(
            spec.validation_days >= 1 && spec.validation_days < train.days(),
            "trace {}: validation_days must leave at least one training day of its {}",
            train.path.display(),
            train.days()
        );
        let counts: Vec<f64> = train.counts.iter().map(|&c| f64::from(c)).collect();
        let reference = crate::stats::percentile(&counts, spec.peak_quantile);
        anyhow::ensure!(
            reference > 0.0,
            "trace {}: its {} quantile is 0 requests per minute",
            train.path.display(),
            spec.peak_quantile
        );
        Ok(Self::Trace {
            scale: spec.peak_replicas / reference,
            test_days: spec.test_days.unwrap_or(usize::MAX).min(test.days()),
            train,
            test,
            validation_days: spec.validation_days,
            bin_s: 60.0 / spec.compress,
        })
    }

    /// Episodes in `split`: `None` for the training split of a synthetic family, which has as
    /// many as asked for ([`Workload::episode`] makes any index).
    pub fn episodes(&self, split: Split) -> Option<usize> {
        match (self, split) {
            (
                Self::Trace {
                    train,
                    validation_days,
                    ..
                },
                Split::Train,
            ) => Some(train.days() - validation_days),
            (
                Self::Trace {
                    validation_days, ..
                },
                Split::Validation,
            ) => Some(*validation_days),
            (Self::Trace { test_days, .. }, Split::Test) => Some(*test_days),
            (Self::Synthetic { .. }, Split::Train) => None,
            (Self::Synthetic { spec, .. }, Split::Validation) => Some(spec.validation_episodes),
            (Self::Synthetic { spec, .. }, Split::Test) => Some(spec.test_episodes),
        }
    }

    /// Episode `index` of `split`; training episodes of a trace cycle through its training days
    /// with fresh arrivals each time round. `seed` is the experiment's.
    pub fn episode(&self, split: Split, index: usize, seed: u64) -> Episode {
        let arrival_seed = mix(seed ^ split.salt(), index as u64);
        let (label, load, bin_s) = match self {
            Self::Trace {
                train,
                test,
                validation_days,
                scale,
                bin_s,
                ..
            } => {
                let train_days = train.days() - validation_days;
                let (trace, day) = match split {
                    Split::Train => (train, index % train_days),
                    Split::Validation => (train, train_days + index % validation_days),
                    Split::Test => (test, index % test.days()),
                };
                let load = trace
                    .day(day)
                    .iter()
                    .map(|&c| f64::from(c) * scale)
                    .collect();
                let file = trace.path.file_name().unwrap_or_default().to_string_lossy();
                (format!("{file} day {day}"), load, *bin_s)
            }
            Self::Synthetic {
                family,
                spec,
                bin_s,
            } => {
                let mut rng = ChaCha8Rng::seed_from_u64(mix(arrival_seed, 0x0053_4841_5045));
                let load = shapes::day(*family, spec.peak_replicas, spec.noise, &mut rng);
                (format!("{split} {index}"), load, *bin_s)
            }
        };
        Episode {
            split,
            index,
            label,
            load,
            bin_s,
            seed: arrival_seed,
        }
    }

    /// The per-bin load of a day, in replicas' worth, averaged over the training episodes (or
    /// `samples` of them for a synthetic family): what a seasonal forecaster may learn.
    pub fn training_profile(&self, samples: usize, seed: u64) -> Vec<f64> {
        let episodes = self.episodes(Split::Train).unwrap_or(samples).max(1);
        let mut profile = vec![0.0; DAY_MINUTES];
        for index in 0..episodes {
            let episode = self.episode(Split::Train, index, seed);
            for (sum, load) in profile.iter_mut().zip(&episode.load) {
                *sum += load / episodes as f64;
            }
        }
        profile
    }
}

/// `n` arrivals of a Poisson process at constant `rate` per second from time 0, keyed
/// `0, 1, 2, ...` (the capacity planner's steady load, simulated and live).
pub fn poisson(rate: f64, n: usize, seed: u64) -> Vec<Arrival> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut time = 0.0;
    (0..n as u64)
        .map(|key| {
            time += -(1.0 - rng.random::<f64>()).ln() / rate;
            Arrival { time, key }
        })
        .collect()
}

/// A seed for stream `index` of `seed` (SplitMix64's finaliser).
pub fn mix(seed: u64, index: u64) -> u64 {
    let mut z = seed
        ^ index
            .wrapping_add(0x9E37_79B9_7F4A_7C15)
            .wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn synthetic(family: &str) -> Workload {
        let yaml = format!("kind: {family}\npeak_replicas: 8\n");
        let spec: WorkloadSpec = yaml_serde::from_str(&yaml).unwrap();
        Workload::open(&spec).unwrap().unwrap()
    }

    #[test]
    fn arrivals_follow_the_rate_and_are_the_same_for_the_same_seed() {
        let workload = synthetic("on-off");
        let episode = workload.episode(Split::Test, 3, 7);
        let capacity = 1.0 / 7.0;
        let arrivals = episode.arrivals(capacity);
        assert_eq!(arrivals, episode.arrivals(capacity));
        let expected: f64 = episode
            .load
            .iter()
            .map(|l| l * capacity * episode.bin_s)
            .sum();
        let got = arrivals.len() as f64;
        // Poisson: within 4 standard deviations.
        assert!(
            (got - expected).abs() < 4.0 * expected.sqrt(),
            "{got} vs {expected}"
        );
        assert!(arrivals.windows(2).all(|w| w[0].time <= w[1].time));
        assert!(arrivals.iter().enumerate().all(|(i, a)| a.key == i as u64));
        assert_eq!(episode.duration_s(), 86_400.0 / 24.0);
    }

    #[test]
    fn splits_do_not_share_episodes() {
        let workload = synthetic("diurnal");
        let a = workload.episode(Split::Validation, 0, 7);
        let b = workload.episode(Split::Test, 0, 7);
        assert_ne!(a.load, b.load);
        assert_ne!(a.seed, b.seed);
        assert_eq!(workload.episodes(Split::Test), Some(20));
        assert_eq!(workload.episodes(Split::Train), None);
    }

    #[test]
    fn a_trace_is_cut_into_days_and_scaled_at_its_quantile() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, days: usize| {
            let mut text = String::from("minute,requests\n");
            for m in 0..days * DAY_MINUTES {
                text += &format!("{m},{}\n", 10 + m % 100);
            }
            std::fs::write(dir.path().join(name), text).unwrap();
        };
        write("jul.csv", 4);
        write("aug.csv", 2);
        let yaml = "kind: trace\ntrain: jul.csv\ntest: aug.csv\nvalidation_days: 1\npeak_replicas: 5\npeak_quantile: 1.0\n";
        let mut spec: WorkloadSpec = yaml_serde::from_str(yaml).unwrap();
        spec.resolve_paths(dir.path());
        let workload = Workload::open(&spec).unwrap().unwrap();
        assert_eq!(
            [Split::Train, Split::Validation, Split::Test].map(|s| workload.episodes(s)),
            [Some(3), Some(1), Some(2)]
        );
        let day = workload.episode(Split::Validation, 0, 1);
        assert_eq!(day.label, "jul.csv day 3");
        // The maximum (109 a minute) is 5 replicas' worth.
        let max = day.load.iter().copied().fold(0.0, f64::max);
        assert!((max - 5.0).abs() < 1e-12);
        // Training cycles through the 3 training days.
        assert_eq!(workload.episode(Split::Train, 4, 1).label, "jul.csv day 1");
        let missing: WorkloadSpec = yaml_serde::from_str(
            "kind: trace\ntrain: /nope/jul.csv\ntest: aug.csv\npeak_replicas: 5\n",
        )
        .unwrap();
        let err = Workload::open(&missing).unwrap_err().to_string();
        assert!(err.contains("/nope/jul.csv"), "{err}");
    }
}
