//! The controller a deployment runs, by name: `static`, `hpa`, `queue`, `mpc` or
//! `ppo:CHECKPOINT` — the same code the autoscaling study evaluates in the simulator.

use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;

use anyhow::bail;

use crate::autoscale::agent::PolicyCard;
use crate::autoscale::forecast::Forecaster;
use crate::autoscale::mpc::Mpc;
use crate::autoscale::open_loop::{OpenLoopConfig, OpenLoopEnv};
use crate::autoscale::queue_model::QueueModel;
use crate::autoscale::rules::{Hpa, HpaMetric, Static};
use crate::autoscale::{Controller, Limits, ScalingEnv};
use crate::sim::{ClusterConfig, ServiceTime};

/// Which controller.
#[derive(Debug, Clone, PartialEq)]
pub enum Choice {
    /// A fixed count.
    Static,
    /// Kubernetes' HPA v2 on CPU utilisation.
    Hpa,
    /// The HPA on requests waiting or evaluating per replica (what KEDA's queue scaler feeds it).
    Queue,
    /// Model-predictive control over a Holt forecast and the simulator's queueing table.
    Mpc,
    /// A PPO policy the `rl` stage trained (its checkpoint, with the card beside it).
    Ppo(PathBuf),
}

impl FromStr for Choice {
    type Err = anyhow::Error;

    fn from_str(name: &str) -> anyhow::Result<Self> {
        Ok(match name {
            "static" => Self::Static,
            "hpa" => Self::Hpa,
            "queue" => Self::Queue,
            "mpc" => Self::Mpc,
            _ => match name.strip_prefix("ppo:") {
                Some(path) if !path.is_empty() => Self::Ppo(path.into()),
                _ => bail!(
                    "unknown controller `{name}`: use static, hpa, queue, mpc or ppo:CHECKPOINT \
                     (a .safetensors file the `rl` stage wrote)"
                ),
            },
        })
    }
}

/// The controllers' settings (defaults: Kubernetes' HPA defaults where there are some).
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// The environment the controller is judged in: interval, bounds, SLO, timeout, queue.
    pub env: OpenLoopConfig,
    /// Mean seconds one worker takes per request; `None`: unknown (MPC and PPO need it).
    pub service_s: Option<f64>,
    /// Evaluation workers per replica.
    pub workers: usize,
    /// `static`: the count.
    pub replicas: usize,
    /// `hpa`: target utilisation (0..1); `queue`: target requests per replica.
    pub hpa_target: f64,
    pub queue_target: f64,
    /// `hpa`, `queue`: scale-down stabilisation window.
    pub window_s: f64,
    /// `mpc`: Holt's level smoothing, steps planned ahead, multiplier on the forecast.
    pub alpha: f64,
    pub horizon: usize,
    pub headroom: f64,
    pub seed: u64,
}

impl Settings {
    /// The simulated cluster these settings describe (the MPC's model, the simulator's
    /// prediction): lognormal service times around `service_s`.
    pub fn cluster(&self) -> ClusterConfig {
        ClusterConfig {
            slots_per_replica: self.workers.max(1),
            // FHE evaluation times are tight (p95 within about 20% of the median).
            ..ClusterConfig::new(ServiceTime::Lognormal {
                median: self.service_s.unwrap_or(1.0),
                sigma: 0.1,
            })
        }
    }

    /// The bounds and units controllers see, computed as the simulator computes them.
    pub fn limits(&self) -> anyhow::Result<Limits> {
        Ok(OpenLoopEnv::new(self.env.clone(), self.cluster())?
            .limits()
            .clone())
    }

    fn service_s(&self, who: &str) -> anyhow::Result<f64> {
        match self.service_s {
            Some(s) if s > 0.0 => Ok(s),
            _ => bail!(
                "{who} needs the circuit's service time: pass --service-s (the eval median of \
                 results/<experiment>/fhe.csv or `cipherscale plan`)"
            ),
        }
    }
}

/// The controller `choice` names, ready to decide.
pub fn build(choice: &Choice, settings: &Settings) -> anyhow::Result<Box<dyn Controller + Send>> {
    Ok(match choice {
        Choice::Static => Box::new(Static {
            replicas: settings.replicas,
        }),
        Choice::Hpa => Box::new(Hpa::new(
            "hpa",
            HpaMetric::Utilization {
                target: settings.hpa_target,
            },
            settings.window_s,
        )),
        Choice::Queue => Box::new(Hpa::new(
            "queue",
            HpaMetric::QueuePerReplica {
                target: settings.queue_target,
            },
            settings.window_s,
        )),
        Choice::Mpc => {
            let service_s = settings.service_s("mpc")?;
            let model = QueueModel::build(&settings.env, &settings.cluster(), 2000, settings.seed);
            // No learned daily profile here: the forecast starts from one replica's worth.
            let prior = settings.workers as f64 / service_s;
            let forecaster = Forecaster::new(settings.alpha, 0.1, None, prior);
            Box::new(Mpc::new(
                forecaster,
                Arc::new(model),
                settings.horizon,
                settings.headroom,
            ))
        }
        Choice::Ppo(checkpoint) => {
            settings.service_s("a PPO policy (its observation is scaled by capacity)")?;
            let card = PolicyCard::load(checkpoint)?;
            Box::new(card.controller(checkpoint, Default::default(), &settings.limits()?)?)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_and_unknown_ones_say_what_exists() {
        assert_eq!("hpa".parse::<Choice>().unwrap(), Choice::Hpa);
        assert_eq!(
            "ppo:a/b.safetensors".parse::<Choice>().unwrap(),
            Choice::Ppo("a/b.safetensors".into())
        );
        for bad in ["keda", "ppo:", "PPO"] {
            let err = bad.parse::<Choice>().unwrap_err().to_string();
            assert!(
                err.contains(&format!("`{bad}`")) && err.contains("static, hpa"),
                "{err}"
            );
        }
    }
}
