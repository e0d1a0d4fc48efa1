//! The share of requests that miss the SLO (late, refused or timed out) when `r` ready replicas
//! face a steady Poisson rate, tabulated from the simulator itself (round-robin split,
//! admission limit, timeout and the measured service-time distribution included): the queueing
//! model the forecast sizer and MPC plan with.

use crate::sim::{Arrival, Cluster, ClusterConfig};

use super::open_loop::OpenLoopConfig;

/// Utilisation per replica at which the table is sampled.
const STEP: f64 = 0.05;
const POINTS: usize = 33; // 0 to 1.6

/// The table, per ready-replica count and utilisation.
#[derive(Debug, Clone)]
pub struct QueueModel {
    config: OpenLoopConfig,
    capacity_rps: f64,
    /// `violation[r - 1][i]`: the share at `r` replicas and utilisation `i * STEP`.
    violation: Vec<Vec<f64>>,
}

impl QueueModel {
    /// Simulates `samples` arrivals per table entry (seeded; no workload episode involved).
    pub fn build(
        config: &OpenLoopConfig,
        cluster: &ClusterConfig,
        samples: usize,
        seed: u64,
    ) -> Self {
        let cluster = ClusterConfig {
            startup_s: 0.0,
            background_rps: 0.0,
            queue_per_replica: Some(config.queue_per_replica),
            timeout_s: Some(config.timeout_s),
            ..cluster.clone()
        };
        let capacity_rps = cluster.replica_capacity_rps();
        let violation = (1..=config.max_replicas)
            .map(|r| {
                (0..POINTS)
                    .map(|i| {
                        let rate = i as f64 * STEP * r as f64 * capacity_rps;
                        let seed = crate::workload::mix(seed, (r * POINTS + i) as u64);
                        simulated_share(&cluster, config.slo_s, r, rate, samples, seed)
                    })
                    .collect()
            })
            .collect();
        Self {
            config: config.clone(),
            capacity_rps,
            violation,
        }
    }

    /// The expected share of requests that violate at `ready` replicas and `rate` per second.
    pub fn violation_share(&self, ready: usize, rate: f64) -> f64 {
        if rate <= 0.0 {
            return 0.0;
        }
        if ready == 0 {
            return 1.0;
        }
        let row = &self.violation[ready.min(self.violation.len()) - 1];
        let x = rate / (ready as f64 * self.capacity_rps) / STEP;
        let i = (x.floor() as usize).min(POINTS - 1);
        if i + 1 >= POINTS {
            return row[POINTS - 1];
        }
        row[i] + (row[i + 1] - row[i]) * (x - i as f64)
    }

    /// The expected cost of a step of `step_s` seconds with `pods` billed, `ready` serving and
    /// arrivals at `rate`.
    pub fn step_cost(&self, pods: usize, ready: usize, rate: f64, step_s: f64) -> f64 {
        let violations = rate * step_s * self.violation_share(ready, rate);
        self.config.price_per_replica_hour / 3600.0 * pods as f64 * step_s
            + self.config.penalty_per_violation * violations
    }
}

fn simulated_share(
    cluster: &ClusterConfig,
    slo_s: f64,
    replicas: usize,
    rate: f64,
    samples: usize,
    seed: u64,
) -> f64 {
    if rate <= 0.0 || samples == 0 {
        return 0.0;
    }
    use rand::{Rng, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut t = 0.0;
    let arrivals: Vec<Arrival> = (0..samples as u64)
        .map(|key| {
            t += -(1.0 - rng.random::<f64>()).ln() / rate;
            Arrival { time: t, key }
        })
        .collect();
    let mut sim = Cluster::with_ready_replicas(cluster.clone(), seed, replicas);
    // The first tenth warms the queues up and is not counted.
    let warm = samples / 10;
    sim.offer(&arrivals[..warm], arrivals[warm].time);
    sim.take_log();
    sim.offer(&arrivals[warm..], t);
    sim.drain();
    let log = sim.take_log();
    let late = log.answered.iter().filter(|&&(_, l)| l > slo_s).count();
    let failed = log.rejected + log.timed_out.len();
    (late + failed) as f64 / (log.answered.len() + failed).max(1) as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::ServiceTime;

    #[test]
    fn violations_grow_with_load_and_shrink_with_replicas() {
        let config = OpenLoopConfig {
            max_replicas: 4,
            slo_s: 2.5,
            ..OpenLoopConfig::default()
        };
        let cluster = ClusterConfig::new(ServiceTime::Exponential { mean: 1.0 });
        let model = QueueModel::build(&config, &cluster, 4000, 1);
        assert_eq!(model.violation_share(2, 0.0), 0.0);
        assert_eq!(model.violation_share(0, 1.0), 1.0);
        let light = model.violation_share(2, 0.4);
        let heavy = model.violation_share(2, 1.8);
        assert!(
            light < 0.15 && heavy > 0.3 && heavy < 1.0,
            "{light} {heavy}"
        );
        // One replica holding 1 + 2 requests at rho 0.5 is M/M/1/3: it refuses
        // 0.125 / 1.875 = 6.67% of arrivals, and an admitted one with n ahead of it is late with
        // P(Erlang(n + 1, 1) > 2.5), 0.082, 0.287 and 0.544 for n = 0, 1, 2 (seen with
        // probabilities 4/7, 2/7, 1/7): 0.0667 + 0.9333 * 0.2067 = 0.2596 in all.
        let single = model.violation_share(1, 0.5);
        assert!((single - 0.2596).abs() < 0.03, "{single}");
        // The same rate over more replicas violates less.
        assert!(model.violation_share(4, 1.8) < heavy);
        // Cost: pods at the price, violations at the penalty.
        let idle = model.step_cost(3, 3, 0.0, 36.0);
        assert!((idle - 0.1 / 3600.0 * 3.0 * 36.0).abs() < 1e-12);
    }
}
