//! The two kinds of workload the protocol runs on, with the controller families and grids each
//! is tuned over: open-loop workloads (trace and synthetic families) and the paper's bursts.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::forecast::{profile_per_step, Forecaster};
use super::mpc::{BurstPlanner, ForecastSizer, Mpc};
use super::open_loop::{OpenLoopEnv, Prepared};
use super::oracle::Search;
use super::paper::PaperEnv;
use super::protocol::{Arena, Candidate, Family, Make};
use super::queue_model::QueueModel;
use super::rules::{Hpa, HpaMetric, Static, Threshold};
use super::{Controller, ScalingEnv};
use crate::rl::backend::SimBackend;
use crate::rl::EnvConfig;
use crate::sim::ClusterConfig;
use crate::workload::{Split, Workload};

/// The grids every family is tuned over on validation (`rl.tuning` in a spec).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Tuning {
    /// HPA: target CPU utilisation.
    pub hpa_targets: Vec<f64>,
    /// HPA and queue scaler: scale-down stabilisation windows (seconds).
    pub windows_s: Vec<f64>,
    /// Queue scaler (KEDA): requests waiting or evaluating per replica.
    pub queue_targets: Vec<f64>,
    /// Latency rule: `[up, down]`, multiples of the SLO (open loop) or of the median service
    /// time (bursts).
    pub thresholds: Vec<[f64; 2]>,
    /// Forecasters: Holt's level smoothing; the trend's is `beta`.
    pub alphas: Vec<f64>,
    pub beta: f64,
    /// Forecasters: with the daily profile learned from training episodes, or without.
    pub seasonal: Vec<bool>,
    /// Forecast sizer and MPC: multiplier on the forecast rate (a margin for what the forecast
    /// cannot see coming).
    pub headroom: Vec<f64>,
    /// MPC: steps planned ahead.
    pub horizons: Vec<usize>,
    /// PPO: learning rates and entropy coefficients (every pair is tried).
    pub ppo_learning_rates: Vec<f64>,
    pub ppo_entropy: Vec<f32>,
    /// PPO: the first this many training seeds choose the pair.
    pub ppo_seeds: usize,
    /// Arrivals simulated per entry of the queueing model's table.
    pub model_samples: usize,
    /// The oracle's search.
    pub oracle_beam: usize,
    pub oracle_passes: usize,
    pub oracle_radius: usize,
}

impl Default for Tuning {
    fn default() -> Self {
        Self {
            hpa_targets: vec![0.5, 0.6, 0.7, 0.8],
            windows_s: vec![60.0, 300.0],
            queue_targets: vec![1.0, 2.0, 3.0, 4.0],
            thresholds: vec![[1.0, 0.5], [0.8, 0.4], [1.2, 0.8], [1.5, 1.2]],
            alphas: vec![0.3, 0.7],
            beta: 0.1,
            seasonal: vec![true, false],
            headroom: vec![1.0, 1.5, 2.0],
            horizons: vec![4, 8],
            ppo_learning_rates: vec![3e-4, 1e-3],
            ppo_entropy: vec![0.0, 0.01],
            ppo_seeds: 2,
            model_samples: 2000,
            oracle_beam: 3,
            oracle_passes: 3,
            oracle_radius: 3,
        }
    }
}

impl Tuning {
    pub fn oracle(&self) -> Search {
        Search {
            beam: self.oracle_beam,
            passes: self.oracle_passes,
            radius: self.oracle_radius,
        }
    }

    /// Every `(learning_rate, entropy_coef)` pair.
    pub fn ppo_grid(&self) -> Vec<(f64, f32)> {
        self.ppo_learning_rates
            .iter()
            .flat_map(|&lr| self.ppo_entropy.iter().map(move |&e| (lr, e)))
            .collect()
    }
}

fn make<C: Controller + Send + 'static>(f: impl Fn() -> C + Send + Sync + 'static) -> Make {
    Arc::new(move || Box::new(f()) as Box<dyn Controller + Send>)
}

fn candidate(config: String, make: Make) -> Candidate {
    Candidate { config, make }
}

fn statics(min: usize, max: usize) -> Family {
    Family {
        name: "static".into(),
        candidates: (min..=max)
            .map(|replicas| {
                candidate(
                    format!("replicas={replicas}"),
                    make(move || Static { replicas }),
                )
            })
            .collect(),
        test_all: true,
    }
}

fn hpa_family(
    name: &str,
    targets: &[f64],
    windows: &[f64],
    metric: fn(f64) -> HpaMetric,
) -> Family {
    let owned = name.to_owned();
    let candidates = targets
        .iter()
        .flat_map(|&target| windows.iter().map(move |&window| (target, window)))
        .map(|(target, window)| {
            let name = owned.clone();
            candidate(
                format!("target={target} window={window}s"),
                make(move || Hpa::new(name.clone(), metric(target), window)),
            )
        })
        .collect();
    Family {
        name: name.into(),
        candidates,
        test_all: false,
    }
}

fn thresholds(pairs: &[[f64; 2]], unit_s: f64) -> Family {
    Family {
        name: "threshold".into(),
        candidates: pairs
            .iter()
            .map(|&[up, down]| {
                let (up_s, down_s) = (up * unit_s, down * unit_s);
                candidate(
                    format!("up={up_s:.1}s down={down_s:.1}s"),
                    make(move || Threshold { up_s, down_s }),
                )
            })
            .collect(),
        test_all: false,
    }
}

/// An open-loop workload on the simulated cluster.
pub struct OpenLoopArena {
    env: OpenLoopEnv,
    workload: Workload,
    seed: u64,
    tuning: Tuning,
    /// The training episodes' daily profile per step (mean 1) and mean rate (requests/s).
    profile: Arc<Vec<f64>>,
    prior_rate: f64,
    model: Arc<QueueModel>,
}

/// Synthetic training days averaged into a profile.
const PROFILE_SAMPLES: usize = 50;

impl OpenLoopArena {
    pub fn new(env: OpenLoopEnv, workload: Workload, seed: u64, tuning: Tuning) -> Self {
        let capacity = env.limits().capacity_rps;
        let per_bin = workload.training_profile(PROFILE_SAMPLES, seed);
        let bin_s = workload.episode(Split::Train, 0, seed).bin_s;
        let profile = Arc::new(profile_per_step(&per_bin, bin_s, env.limits().step_s));
        let prior_rate = per_bin.iter().sum::<f64>() / per_bin.len().max(1) as f64 * capacity;
        let model = Arc::new(QueueModel::build(
            env.config(),
            env.cluster_config(),
            tuning.model_samples,
            crate::workload::mix(seed, 0x004d_4f44_454c),
        ));
        Self {
            env,
            workload,
            seed,
            tuning,
            profile,
            prior_rate,
            model,
        }
    }

    fn forecaster(&self, alpha: f64, seasonal: bool) -> Forecaster {
        let profile = seasonal.then(|| Arc::clone(&self.profile));
        Forecaster::new(alpha, self.tuning.beta, profile, self.prior_rate)
    }

    fn forecasters(&self) -> Vec<(String, Forecaster)> {
        let t = &self.tuning;
        t.alphas
            .iter()
            .flat_map(|&alpha| t.seasonal.iter().map(move |&seasonal| (alpha, seasonal)))
            .map(|(alpha, seasonal)| {
                let label = format!(
                    "alpha={alpha} {}",
                    if seasonal { "seasonal" } else { "flat" }
                );
                (label, self.forecaster(alpha, seasonal))
            })
            .collect()
    }

    fn forecast_family(&self) -> Family {
        let mut candidates = Vec::new();
        for (label, forecaster) in self.forecasters() {
            for &headroom in &self.tuning.headroom {
                let (f, model) = (forecaster.clone(), Arc::clone(&self.model));
                candidates.push(candidate(
                    format!("{label} headroom={headroom}"),
                    make(move || ForecastSizer {
                        forecaster: f.clone(),
                        model: Arc::clone(&model),
                        headroom,
                    }),
                ));
            }
        }
        Family {
            name: "forecast".into(),
            candidates,
            test_all: false,
        }
    }

    fn mpc_family(&self) -> Family {
        let mut candidates = Vec::new();
        for (label, forecaster) in self.forecasters() {
            for &horizon in &self.tuning.horizons {
                for &headroom in &self.tuning.headroom {
                    let (f, model) = (forecaster.clone(), Arc::clone(&self.model));
                    candidates.push(candidate(
                        format!("{label} horizon={horizon} headroom={headroom}"),
                        make(move || Mpc::new(f.clone(), Arc::clone(&model), horizon, headroom)),
                    ));
                }
            }
        }
        Family {
            name: "mpc".into(),
            candidates,
            test_all: false,
        }
    }
}

impl Arena for OpenLoopArena {
    type Env = OpenLoopEnv;

    fn env(&self) -> OpenLoopEnv {
        self.env.clone()
    }

    fn episode(&self, split: Split, index: usize) -> Arc<Prepared> {
        Prepared::new(
            self.workload.episode(split, index, self.seed),
            self.env.limits().capacity_rps,
        )
    }

    fn episodes(&self, split: Split) -> usize {
        self.workload.episodes(split).unwrap_or(usize::MAX)
    }

    fn label(&self, split: Split, index: usize) -> String {
        self.workload.episode(split, index, self.seed).label
    }

    fn families(&self) -> Vec<Family> {
        let t = &self.tuning;
        let l = self.env.limits();
        vec![
            statics(l.min_replicas, l.max_replicas),
            hpa_family("hpa", &t.hpa_targets, &t.windows_s, |target| {
                HpaMetric::Utilization { target }
            }),
            hpa_family("queue", &t.queue_targets, &t.windows_s, |target| {
                HpaMetric::QueuePerReplica { target }
            }),
            thresholds(&t.thresholds, l.slo_s),
            self.forecast_family(),
            self.mpc_family(),
        ]
    }
}

/// Workload seeds of the paper's bursts per split (evaluation seeds as the `rl-live` stage uses).
pub const TRAIN_SEED_BASE: u64 = 1 << 20;
pub const VALIDATION_SEED_BASE: u64 = 1 << 39;
pub const TEST_SEED_BASE: u64 = 1 << 40;

/// The paper's bursts on the simulated cluster.
pub struct BurstsArena {
    env: PaperEnv<SimBackend>,
    cluster: ClusterConfig,
    validation: usize,
    test: usize,
    tuning: Tuning,
}

impl BurstsArena {
    pub fn new(
        config: EnvConfig,
        cluster: ClusterConfig,
        validation: usize,
        test: usize,
        tuning: Tuning,
    ) -> anyhow::Result<Self> {
        let env = PaperEnv::new(
            config,
            SimBackend::new(cluster.clone()),
            cluster.replica_capacity_rps(),
            cluster.startup_s,
        )?;
        Ok(Self {
            env,
            cluster,
            validation,
            test,
            tuning,
        })
    }

    /// The workload seed of episode `index` of `split`.
    pub fn seed(split: Split, index: usize) -> u64 {
        index as u64
            + match split {
                Split::Train => TRAIN_SEED_BASE,
                Split::Validation => VALIDATION_SEED_BASE,
                Split::Test => TEST_SEED_BASE,
            }
    }
}

impl Arena for BurstsArena {
    type Env = PaperEnv<SimBackend>;

    fn env(&self) -> PaperEnv<SimBackend> {
        self.env.clone()
    }

    fn episode(&self, split: Split, index: usize) -> u64 {
        Self::seed(split, index)
    }

    fn episodes(&self, split: Split) -> usize {
        match split {
            Split::Train => usize::MAX,
            Split::Validation => self.validation,
            Split::Test => self.test,
        }
    }

    fn label(&self, split: Split, index: usize) -> String {
        format!("seed {}", Self::seed(split, index))
    }

    fn families(&self) -> Vec<Family> {
        let t = &self.tuning;
        let config = self.env.config().clone();
        let median = match self.cluster.service {
            crate::sim::ServiceTime::Lognormal { median, .. } => median,
            ref other => other.mean(),
        };
        let planner = {
            let (env, cluster) = (config.clone(), self.cluster.clone());
            let expected_burst = (config.stress_min + config.stress_max).div_ceil(2);
            make(move || BurstPlanner {
                env: env.clone(),
                cluster: cluster.clone(),
                expected_burst,
            })
        };
        vec![
            statics(config.min_replicas, config.max_replicas),
            hpa_family("hpa", &t.hpa_targets, &t.windows_s, |target| {
                HpaMetric::Utilization { target }
            }),
            thresholds(&t.thresholds, median),
            Family {
                name: "mpc".into(),
                candidates: vec![candidate("expected burst, one step ahead".into(), planner)],
                test_all: false,
            },
        ]
    }
}
