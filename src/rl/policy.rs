//! What chooses the replica count: the baselines the learned policy must beat.

use super::env::{Action, EnvConfig, StepInfo};
use crate::sim::queueing::burst_latencies;
use crate::sim::{ClusterConfig, Outcome};

/// What a policy may look at before a step. Only the oracle reads `upcoming_burst`.
pub struct View<'a> {
    pub observation: &'a [f32],
    pub last: &'a StepInfo,
    pub replicas: usize,
    pub upcoming_burst: Option<usize>,
    /// Seconds since the episode started.
    pub now: f64,
    pub config: &'a EnvConfig,
}

pub trait Policy {
    fn name(&self) -> String;
    /// Forgets what the last episode taught (history windows).
    fn reset(&mut self) {}
    fn act(&mut self, view: &View) -> Action;
}

/// Always `replicas` (re-set after recovery scaling added some).
pub struct Static {
    pub replicas: usize,
}

impl Policy for Static {
    fn name(&self) -> String {
        format!("static-{}", self.replicas)
    }

    fn act(&mut self, _: &View) -> Action {
        Action::Target(self.replicas)
    }
}

/// Steps toward `replicas` one replica at a time: a static count within the agent's own
/// action space (scale down, stay, up), so that recovery scaling takes steps to undo.
pub struct StepToward {
    pub replicas: usize,
}

impl Policy for StepToward {
    fn name(&self) -> String {
        format!("step-{}", self.replicas)
    }

    fn act(&mut self, view: &View) -> Action {
        match view.replicas.cmp(&self.replicas) {
            std::cmp::Ordering::Greater => Action::Down,
            std::cmp::Ordering::Less => Action::Up,
            std::cmp::Ordering::Equal => Action::Stay,
        }
    }
}

/// A clone of Kubernetes' HorizontalPodAutoscaler on slot utilisation:
/// `desired = ceil(current * utilisation / target)` outside a tolerance band, scale-down
/// stabilised over a window (the highest recommendation in it wins), scale-up limited to
/// `max(2 current, current + 4)` per step (the HPA's 100% or 4 pods per 15 s).
pub struct Hpa {
    pub target_utilization: f64,
    pub tolerance: f64,
    pub stabilization_s: f64,
    history: Vec<(f64, usize)>,
}

impl Hpa {
    pub fn new(target_utilization: f64) -> Self {
        Self {
            target_utilization,
            tolerance: 0.1,
            stabilization_s: 300.0,
            history: Vec::new(),
        }
    }

    fn recommendation(&self, current: usize, utilization: f64) -> usize {
        let ratio = utilization / self.target_utilization;
        if (ratio - 1.0).abs() <= self.tolerance {
            return current;
        }
        (current as f64 * ratio).ceil().max(1.0) as usize
    }
}

impl Policy for Hpa {
    fn name(&self) -> String {
        "hpa".into()
    }

    fn reset(&mut self) {
        self.history.clear();
    }

    fn act(&mut self, view: &View) -> Action {
        let current = view.replicas;
        let wanted = self.recommendation(current, view.last.utilization);
        self.history.push((view.now, wanted));
        let window = self.stabilization_s;
        self.history.retain(|&(at, _)| view.now - at <= window);
        let stabilized = self.history.iter().map(|&(_, r)| r).max().unwrap_or(wanted);
        let desired = if wanted > current {
            wanted.min((2 * current).max(current + 4))
        } else {
            stabilized.min(current)
        };
        Action::Target(desired)
    }
}

/// A latency-threshold rule: up when the probe was slow or the last burst was penalised, down
/// when the probe was fast.
pub struct Threshold {
    pub up_s: f64,
    pub down_s: f64,
}

impl Policy for Threshold {
    fn name(&self) -> String {
        "threshold".into()
    }

    fn act(&mut self, view: &View) -> Action {
        let last = view.last;
        if last.probe_s > self.up_s || last.stress_penalty > 0.0 {
            Action::Up
        } else if last.probe_s < self.down_s {
            Action::Down
        } else {
            Action::Stay
        }
    }
}

/// Knows when the next burst comes and how big it is, and plans each step greedily with the
/// closed-form burst latency at the mean service time: the replica count that minimises the
/// step's expected replica cost, resource penalty and stress penalty.
pub struct Oracle {
    pub cluster: ClusterConfig,
}

impl Oracle {
    fn expected_cost(&self, config: &EnvConfig, replicas: usize, burst: Option<usize>) -> f64 {
        let penalty = burst.map_or(0.0, |n| {
            let c = &self.cluster;
            let outcomes: Vec<Outcome> = burst_latencies(
                n,
                replicas,
                c.slots_per_replica,
                c.host_slots,
                c.service.mean(),
            )
            .into_iter()
            .map(|l| {
                if l > config.client_timeout_s {
                    Outcome::TimedOut
                } else {
                    Outcome::Answered(l)
                }
            })
            .collect();
            config.stress_penalty(&outcomes)
        });
        config.replica_cost * replicas as f64 + config.resource_penalty(replicas) + penalty
    }
}

impl Policy for Oracle {
    fn name(&self) -> String {
        "oracle".into()
    }

    fn act(&mut self, view: &View) -> Action {
        let c = view.config;
        let best = (c.min_replicas..=c.max_replicas)
            .min_by(|&a, &b| {
                let cost = |r| self.expected_cost(c, r, view.upcoming_burst);
                cost(a).total_cmp(&cost(b))
            })
            .unwrap_or(c.min_replicas);
        Action::Target(best)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view<'a>(config: &'a EnvConfig, last: &'a StepInfo, replicas: usize, now: f64) -> View<'a> {
        View {
            observation: &[],
            last,
            replicas,
            upcoming_burst: None,
            now,
            config,
        }
    }

    #[test]
    fn hpa_scales_up_at_once_and_down_only_after_its_window() {
        let config = EnvConfig::default();
        let mut hpa = Hpa::new(0.5);
        let busy = StepInfo {
            utilization: 1.0,
            ..StepInfo::default()
        };
        // 2 replicas at 100% with a 50% target: 4.
        assert_eq!(hpa.act(&view(&config, &busy, 2, 0.0)), Action::Target(4));
        let idle = StepInfo::default();
        // Idle 100 s later: the 4 recommended within 300 s still stands.
        assert_eq!(hpa.act(&view(&config, &idle, 4, 100.0)), Action::Target(4));
        // 301 s after the busy step it may go down.
        assert_eq!(hpa.act(&view(&config, &idle, 4, 401.0)), Action::Target(1));
        // Within the tolerance: no change.
        let near = StepInfo {
            utilization: 0.54,
            ..StepInfo::default()
        };
        hpa.reset();
        assert_eq!(hpa.act(&view(&config, &near, 3, 0.0)), Action::Target(3));
    }

    #[test]
    fn hpa_scale_up_is_rate_limited() {
        let config = EnvConfig::default();
        let mut hpa = Hpa::new(0.1);
        let busy = StepInfo {
            utilization: 1.0,
            ..StepInfo::default()
        };
        // Wants 10 x 1 = 10, may add at most max(2, 1 + 4) = 5.
        assert_eq!(hpa.act(&view(&config, &busy, 1, 0.0)), Action::Target(5));
    }

    #[test]
    fn the_oracle_sizes_for_the_burst_it_knows() {
        let config = EnvConfig::default();
        let cluster = ClusterConfig {
            service: crate::sim::ServiceTime::Deterministic { seconds: 6.0 },
            slots_per_replica: 1,
            host_slots: None,
            split: crate::sim::Split::RoundRobin,
            startup_s: 1.0,
            background_rps: 0.0,
        };
        let mut oracle = Oracle { cluster };
        let last = StepInfo::default();
        let mut v = view(&config, &last, 1, 0.0);
        assert_eq!(oracle.act(&v), Action::Target(1));
        // 8 requests of 6 s, 10 s timeout: 5 replicas (3 time out; 0.5 + 1.875 + 2 (7.5 - 2))
        // cost 13.4, less than 8 replicas (0.8 + resource 6 + 8 = 14.8) or 1 (19.5).
        v.upcoming_burst = Some(8);
        assert_eq!(oracle.act(&v), Action::Target(5));
    }
}
