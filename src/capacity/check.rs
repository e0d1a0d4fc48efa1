//! The planner's prediction against the simulator: the chosen replicas fed Poisson arrivals at
//! the planned rate, each request routed to a replica at random (as routing by client spreads
//! them), each service time one of the planner's own samples.

use super::plan::{Demand, Deployment, Profile};
use crate::sim::{Cluster, ClusterConfig, ServiceTime, Split};
use crate::stats::nearest_rank;
use crate::workload::poisson;

/// Requests simulated per replica, within bounds on the whole run; the first tenth is left out
/// (the empty start). Near saturation a queue needs far longer to settle than this.
const REQUESTS_PER_REPLICA: usize = 20_000;
const REQUESTS: (usize, usize) = (40_000, 2_000_000);

/// The simulated response-time quantile of `deployment` under `demand`, client work included.
pub fn simulated_quantile(
    profile: &Profile,
    demand: &Demand,
    deployment: &Deployment,
    seed: u64,
) -> f64 {
    let service = ServiceTime::Empirical {
        samples: profile.service_s.clone(),
    };
    let config = ClusterConfig {
        split: Split::Random,
        ..ClusterConfig::new(service)
    };
    let mut cluster = Cluster::with_ready_replicas(config, seed, deployment.replicas);
    let requests = (deployment.replicas * REQUESTS_PER_REPLICA).clamp(REQUESTS.0, REQUESTS.1);
    let arrivals = poisson(demand.rate_rps, requests, seed);
    let end = arrivals.last().map_or(0.0, |a| a.time);
    cluster.offer(&arrivals, end);
    cluster.drain();
    let mut log = cluster.take_log();
    log.answered.sort_by(|a, b| a.0.total_cmp(&b.0));
    let latencies: Vec<f64> = log.answered[log.answered.len() / 10..]
        .iter()
        .map(|&(_, latency)| latency)
        .collect();
    nearest_rank(&latencies, demand.quantile) + profile.client_s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capacity::plan::{deployment, Prices};
    use crate::fhe::Pipeline;

    #[test]
    fn the_planned_tail_matches_the_simulated_one() {
        // Exponential service of 0.1 s (its quantiles), 3 replicas at 70% load.
        let service_s: Vec<f64> = (0..1000)
            .map(|i| -0.1 * (1.0 - (i as f64 + 0.5) / 1000.0).ln())
            .collect();
        let profile = Profile {
            pipeline: Pipeline::GlwePacked,
            bits: 8,
            service_s,
            client_s: 0.0,
            cores: 1,
            base_gib: 0.0,
            key_bytes: 0,
            response_bytes: 0,
            hit_at_1: None,
        };
        let demand = Demand {
            rate_rps: 21.0,
            clients: 1,
            quantile: 0.95,
            objective_s: 1.0,
        };
        let planned = deployment(&profile, &demand, &Prices::default(), 3);
        let simulated = simulated_quantile(&profile, &demand, &planned, 5);
        // Each replica is M/M/1 at 7 of 10 per second: p95 = ln 20 / 3 = 0.9986 s.
        assert!(
            (planned.predicted_s / 0.9986 - 1.0).abs() < 0.03,
            "{planned:?}"
        );
        assert!(
            (simulated / planned.predicted_s - 1.0).abs() < 0.1,
            "{simulated}"
        );
    }
}
