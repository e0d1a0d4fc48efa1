//! Controllers that plan with a forecast: the forecast sizer (the count the queueing model
//! likes best for the rate expected when a new replica would be ready), model-predictive control
//! (dynamic programming over replica counts across a horizon of forecasts, re-planned every
//! step), and, for the paper's bursts, a one-step planner that expects a burst of the mean size
//! on the stress steps the environment announces.

use std::sync::Arc;

use super::forecast::Forecaster;
use super::queue_model::QueueModel;
use super::{Controller, Limits, Signals};
use crate::rl::env::EnvConfig;
use crate::sim::queueing::burst_latencies;
use crate::sim::{ClusterConfig, Outcome};

/// Feeds the last step's rate to the forecaster; returns the forecasts of the next `horizon`
/// steps times `headroom`, the first with the backlog added.
fn rates(
    f: &mut Forecaster,
    s: &Signals,
    limits: &Limits,
    horizon: usize,
    headroom: f64,
) -> Vec<f64> {
    if s.step > 0 {
        f.observe(s.step - 1, s.arrival_rate);
    }
    let mut rates: Vec<f64> = (0..horizon)
        .map(|k| f.forecast(s.step + k) * headroom)
        .collect();
    if let Some(first) = rates.first_mut() {
        *first += s.queue as f64 / limits.step_s;
    }
    rates
}

/// Sizes for the rate expected once a replica started now would be ready.
pub struct ForecastSizer {
    pub forecaster: Forecaster,
    pub model: Arc<QueueModel>,
    pub headroom: f64,
}

impl Controller for ForecastSizer {
    fn name(&self) -> String {
        "forecast".into()
    }

    fn reset(&mut self) {
        self.forecaster.reset();
    }

    fn decide(&mut self, s: &Signals, limits: &Limits) -> usize {
        let ahead = limits.startup_steps;
        let rate = rates(&mut self.forecaster, s, limits, ahead + 1, self.headroom)[ahead];
        (limits.min_replicas..=limits.max_replicas)
            .min_by(|&a, &b| {
                let cost = |r| self.model.step_cost(r, r, rate, limits.step_s);
                cost(a).total_cmp(&cost(b))
            })
            .unwrap_or(limits.min_replicas)
    }
}

/// Model-predictive control: over the next `horizon` steps, the replica counts that minimise the
/// queueing model's expected cost for the forecast rates, with new replicas serving only after
/// the start-up delay (up to two steps of it are modelled); the first count is applied.
pub struct Mpc {
    pub forecaster: Forecaster,
    pub model: Arc<QueueModel>,
    pub horizon: usize,
    pub headroom: f64,
}

impl Mpc {
    pub fn new(
        forecaster: Forecaster,
        model: Arc<QueueModel>,
        horizon: usize,
        headroom: f64,
    ) -> Self {
        Self {
            forecaster,
            model,
            horizon: horizon.max(1),
            headroom,
        }
    }

    /// The counts `lo..=hi` the plan ranges over, and the cost table `[k][pods][ready]`.
    fn costs(&self, rates: &[f64], limits: &Limits) -> Vec<Vec<Vec<f64>>> {
        let n = limits.max_replicas + 1;
        rates
            .iter()
            .map(|&rate| {
                (0..n)
                    .map(|pods| {
                        (0..n)
                            .map(|ready| self.model.step_cost(pods, ready, rate, limits.step_s))
                            .collect()
                    })
                    .collect()
            })
            .collect()
    }

    /// Backward induction over states (the last two decisions); returns the best first count.
    /// During the coming step only the replicas ready now serve (a new one needs the start-up
    /// delay); later, a count serves once it has been asked for `lag` steps in a row.
    fn plan(&self, rates: &[f64], s: &Signals, limits: &Limits) -> usize {
        let lag = limits.startup_steps.min(2);
        let (lo, hi) = (limits.min_replicas, limits.max_replicas);
        let costs = self.costs(rates, limits);
        let ready = |r: usize, a: usize, b: usize| match lag {
            0 => r,
            1 => r.min(a),
            _ => r.min(a).min(b),
        };
        let n = hi + 1;
        // value[a][b]: the best cost from step k on, given the decisions a (k - 1) and b (k - 2).
        let mut value = vec![vec![0.0; n]; n];
        for k in (1..rates.len()).rev() {
            let mut next = vec![vec![f64::INFINITY; n]; n];
            for a in lo..=hi {
                for b in lo..=hi {
                    next[a][b] = (lo..=hi)
                        .map(|r| costs[k][r][ready(r, a, b)] + value[r][a])
                        .fold(f64::INFINITY, f64::min);
                }
            }
            value = next;
        }
        let a = limits.clamp(s.replicas);
        let now = |r: usize| if lag == 0 { r } else { r.min(s.ready) };
        let total = |r: usize| costs[0][r][now(r)] + value[r][a];
        (lo..=hi)
            .min_by(|&x, &y| total(x).total_cmp(&total(y)))
            .unwrap_or(lo)
    }
}

impl Controller for Mpc {
    fn name(&self) -> String {
        "mpc".into()
    }

    fn reset(&mut self) {
        self.forecaster.reset();
    }

    fn decide(&mut self, s: &Signals, limits: &Limits) -> usize {
        let rates = rates(&mut self.forecaster, s, limits, self.horizon, self.headroom);
        self.plan(&rates, s, limits)
    }
}

/// On the paper's bursts: the count that minimises the next step's expected reward (replica
/// cost, resource penalty, and the stress penalty of a burst of the expected size served in
/// waves at the mean service time) when the environment's schedule says a burst comes.
pub struct BurstPlanner {
    pub env: EnvConfig,
    pub cluster: ClusterConfig,
    /// The burst size expected (the mean of the schedule's range).
    pub expected_burst: usize,
}

impl BurstPlanner {
    fn expected_cost(&self, replicas: usize, burst: Option<usize>) -> f64 {
        let (c, cluster) = (&self.env, &self.cluster);
        let penalty = burst.map_or(0.0, |n| {
            let outcomes: Vec<Outcome> = burst_latencies(
                n,
                replicas,
                cluster.slots_per_replica,
                cluster.host_slots,
                cluster.service.mean(),
            )
            .into_iter()
            .map(|l| {
                if l > c.client_timeout_s {
                    Outcome::TimedOut
                } else {
                    Outcome::Answered(l)
                }
            })
            .collect();
            c.stress_penalty(&outcomes)
        });
        c.replica_cost * replicas as f64 + c.resource_penalty(replicas) + penalty
    }
}

impl Controller for BurstPlanner {
    fn name(&self) -> String {
        "mpc".into()
    }

    fn decide(&mut self, s: &Signals, limits: &Limits) -> usize {
        let stress = (s.step + 1).is_multiple_of(self.env.stress_every);
        let burst = stress.then_some(self.expected_burst);
        (limits.min_replicas..=limits.max_replicas)
            .min_by(|&a, &b| {
                self.expected_cost(a, burst)
                    .total_cmp(&self.expected_cost(b, burst))
            })
            .unwrap_or(limits.min_replicas)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::autoscale::open_loop::OpenLoopConfig;
    use crate::sim::ServiceTime;

    fn limits(startup_steps: usize) -> Limits {
        Limits {
            min_replicas: 1,
            max_replicas: 4,
            step_s: 60.0,
            startup_steps,
            latency_clip_s: 30.0,
            slo_s: 2.5,
            capacity_rps: 1.0,
            admission: 3,
            open_loop: true,
        }
    }

    fn model() -> Arc<QueueModel> {
        let config = OpenLoopConfig {
            max_replicas: 4,
            slo_s: 2.5,
            price_per_replica_hour: 3600.0 / 60.0, // one unit per replica-step of 60 s
            penalty_per_violation: 1.0,
            ..OpenLoopConfig::default()
        };
        let cluster = ClusterConfig::new(ServiceTime::Deterministic { seconds: 1.0 });
        Arc::new(QueueModel::build(&config, &cluster, 2000, 3))
    }

    /// A forecaster that knows the rate of every step.
    fn known(rates: &[f64]) -> Forecaster {
        let mean = rates.iter().sum::<f64>() / rates.len() as f64;
        let profile: Vec<f64> = rates.iter().map(|r| r / mean).collect();
        // alpha 0: the level stays at the prior (the mean), the profile does the rest.
        Forecaster::new(0.0, 0.0, Some(Arc::new(profile)), mean)
    }

    /// Runs `controller` over the steps of `load`, feeding it each step's rate; new replicas
    /// serve after `lag` steps.
    fn run(controller: &mut dyn Controller, load: &[f64], steps: usize, lag: usize) -> Vec<usize> {
        let l = limits(lag);
        let mut history = vec![1usize; lag + 1];
        let mut s = Signals {
            replicas: 1,
            ready: 1,
            ..Signals::default()
        };
        (0..steps)
            .map(|step| {
                s.step = step;
                s.arrival_rate = if step > 0 { load[step - 1] } else { 0.0 };
                let r = controller.decide(&s, &l);
                history.push(r);
                s.replicas = r;
                // Ready at the end of this step: asked for in each of the last `lag` steps.
                s.ready = history[history.len() - lag.max(1)..]
                    .iter()
                    .copied()
                    .min()
                    .unwrap_or(r);
                r
            })
            .collect()
    }

    #[test]
    fn mpc_scales_ahead_of_a_step_in_load_by_the_start_up_delay() {
        // 0.1 requests/s for 4 steps, then 3.5/s: at 1 s a request and a 2.5 s SLO, 4 replicas
        // serve 3.5/s with few violations, 1 replica loses most of 210 requests a step (210
        // units of penalty against 3 units of replicas). With a 2-step start-up the replicas
        // must be asked for at step 2 to serve at step 4, and not earlier (they cost 1 a step).
        let load = [0.1, 0.1, 0.1, 0.1, 3.5, 3.5, 3.5, 3.5];
        let mut mpc = Mpc::new(known(&load), model(), 6, 1.0);
        let plan = run(&mut mpc, &load, 5, 2);
        assert_eq!(plan, [1, 1, 4, 4, 4]);
        // Without a start-up delay it waits until the step itself.
        let mut eager = Mpc::new(known(&load), model(), 6, 1.0);
        assert_eq!(run(&mut eager, &load, 5, 0), [1, 1, 1, 1, 4]);
    }

    #[test]
    fn the_sizer_picks_the_cheapest_count_for_the_rate_ahead() {
        // One step of start-up: at step 0 it sizes for step 1's 3.5/s.
        let load = [0.1, 3.5, 3.5];
        let mut sizer = ForecastSizer {
            forecaster: known(&load),
            model: model(),
            headroom: 1.0,
        };
        assert_eq!(run(&mut sizer, &load, 2, 1), [4, 4]);
    }
}
