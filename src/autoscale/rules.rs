//! Rule-based controllers: a static count, the Kubernetes HPA v2 algorithm (on CPU
//! utilisation, or on queue length per replica as KEDA's scaler feeds it), and a latency rule.

use super::{Controller, Limits, Signals};

/// Always `replicas`.
pub struct Static {
    pub replicas: usize,
}

impl Controller for Static {
    fn name(&self) -> String {
        format!("static-{}", self.replicas)
    }

    fn decide(&mut self, _: &Signals, limits: &Limits) -> usize {
        limits.clamp(self.replicas)
    }
}

/// What the HPA scales on.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum HpaMetric {
    /// Mean CPU utilisation of the ready replicas (busy share of their slots), `target` in 0..1.
    Utilization { target: f64 },
    /// Requests waiting or evaluating per replica, as KEDA's queue scaler exposes it to the HPA
    /// (an `AverageValue` target).
    QueuePerReplica { target: f64 },
}

/// Kubernetes' HorizontalPodAutoscaler v2 algorithm, one sync per step:
/// `desired = ceil(ready * metric / target)`, no change within the 10% tolerance, the highest
/// recommendation of the last `window_s` seconds wins on the way down (scale-down
/// stabilisation), and scale-up is limited to `max(2 current, current + 4)` per sync (the
/// default policy: 100% or 4 pods per 15 s).
pub struct Hpa {
    pub name: String,
    pub metric: HpaMetric,
    pub tolerance: f64,
    pub window_s: f64,
    history: Vec<(f64, usize)>,
}

impl Hpa {
    pub fn new(name: impl Into<String>, metric: HpaMetric, window_s: f64) -> Self {
        Self {
            name: name.into(),
            metric,
            tolerance: 0.1,
            window_s,
            history: Vec::new(),
        }
    }

    /// The unstabilised recommendation.
    fn recommendation(&self, s: &Signals) -> usize {
        let ready = s.ready.max(1) as f64;
        let ratio = match self.metric {
            HpaMetric::Utilization { target } => s.utilization / target,
            HpaMetric::QueuePerReplica { target } => s.queue as f64 / ready / target,
        };
        if (ratio - 1.0).abs() <= self.tolerance {
            return s.replicas;
        }
        (ready * ratio).ceil().max(1.0) as usize
    }
}

impl Controller for Hpa {
    fn name(&self) -> String {
        self.name.clone()
    }

    fn reset(&mut self) {
        self.history.clear();
    }

    fn decide(&mut self, s: &Signals, limits: &Limits) -> usize {
        let current = s.replicas;
        let wanted = limits.clamp(self.recommendation(s));
        self.history.push((s.now_s, wanted));
        let window = self.window_s;
        self.history.retain(|&(at, _)| s.now_s - at <= window);
        if wanted > current {
            return wanted.min((2 * current).max(current + 4));
        }
        let stabilized = self.history.iter().map(|&(_, r)| r).max().unwrap_or(wanted);
        stabilized.min(current)
    }
}

/// Up one replica when the latency signal is above `up_s` (or a burst was penalised), down one
/// when it is below `down_s`.
pub struct Threshold {
    pub up_s: f64,
    pub down_s: f64,
}

impl Controller for Threshold {
    fn name(&self) -> String {
        "threshold".into()
    }

    fn decide(&mut self, s: &Signals, limits: &Limits) -> usize {
        let next = if s.latency_s > self.up_s || s.stress_penalty > 0.0 || s.rejected > 0 {
            s.replicas + 1
        } else if s.latency_s < self.down_s {
            s.replicas.saturating_sub(1)
        } else {
            s.replicas
        };
        limits.clamp(next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn limits() -> Limits {
        Limits {
            min_replicas: 1,
            max_replicas: 10,
            step_s: 15.0,
            startup_steps: 1,
            latency_clip_s: 10.0,
            slo_s: 5.0,
            capacity_rps: 1.0,
            admission: 3,
            open_loop: true,
        }
    }

    fn at(now_s: f64, replicas: usize, utilization: f64) -> Signals {
        Signals {
            now_s,
            replicas,
            ready: replicas,
            utilization,
            ..Signals::default()
        }
    }

    #[test]
    fn hpa_scales_up_at_once_and_down_only_after_its_window() {
        let l = limits();
        let mut hpa = Hpa::new("hpa", HpaMetric::Utilization { target: 0.5 }, 300.0);
        // 2 replicas at 100% with a 50% target: 4.
        assert_eq!(hpa.decide(&at(0.0, 2, 1.0), &l), 4);
        // Idle 100 s later: the 4 recommended within 300 s still stands.
        assert_eq!(hpa.decide(&at(100.0, 4, 0.0), &l), 4);
        // 301 s after the busy step it may go down, to the highest idle recommendation (1).
        assert_eq!(hpa.decide(&at(301.0, 4, 0.0), &l), 1);
        // Within the 10% tolerance: no change.
        hpa.reset();
        assert_eq!(hpa.decide(&at(0.0, 3, 0.54), &l), 3);
        assert_eq!(hpa.decide(&at(15.0, 3, 0.46), &l), 3);
        // Just outside it: ceil(3 * 0.6 / 0.5) = 4.
        assert_eq!(hpa.decide(&at(30.0, 3, 0.6), &l), 4);
    }

    #[test]
    fn hpa_scale_up_is_rate_limited_and_bounded() {
        let l = limits();
        let mut hpa = Hpa::new("hpa", HpaMetric::Utilization { target: 0.1 }, 300.0);
        // Wants 10 x 1 = 10, may add at most max(2, 1 + 4) = 5 in one sync.
        assert_eq!(hpa.decide(&at(0.0, 1, 1.0), &l), 5);
        // Then 10 (max(10, 9)), and never above max_replicas.
        assert_eq!(hpa.decide(&at(15.0, 5, 1.0), &l), 10);
        assert_eq!(hpa.decide(&at(30.0, 10, 1.0), &l), 10);
    }

    #[test]
    fn the_queue_scaler_targets_requests_per_replica() {
        let l = limits();
        let mut keda = Hpa::new("queue", HpaMetric::QueuePerReplica { target: 2.0 }, 60.0);
        let mut s = at(0.0, 2, 0.0);
        s.queue = 11; // 5.5 per replica against 2: ceil(2 * 2.75) = 6
        assert_eq!(keda.decide(&s, &l), 6);
        s.queue = 0;
        s.now_s = 30.0;
        s.replicas = 6;
        s.ready = 6;
        assert_eq!(keda.decide(&s, &l), 6); // within the 60 s window
        s.now_s = 61.0;
        assert_eq!(keda.decide(&s, &l), 1);
    }

    #[test]
    fn the_threshold_rule_steps_one_replica() {
        let l = limits();
        let mut rule = Threshold {
            up_s: 6.0,
            down_s: 2.0,
        };
        let mut s = at(0.0, 3, 0.0);
        s.latency_s = 7.0;
        assert_eq!(rule.decide(&s, &l), 4);
        s.latency_s = 1.0;
        assert_eq!(rule.decide(&s, &l), 2);
        s.latency_s = 4.0;
        assert_eq!(rule.decide(&s, &l), 3);
        s.replicas = 1;
        s.latency_s = 0.0;
        assert_eq!(rule.decide(&s, &l), 1);
    }
}
