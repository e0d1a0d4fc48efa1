//! The cheapest deployment of one circuit for a load and a latency objective.
//!
//! A deployment is N replicas, each one evaluation worker on the cores the service time was
//! measured with. Requests are routed by client (key affinity), so each replica holds the
//! evaluation keys of its share of the clients and sees Poisson arrivals at rate/N. The
//! response time is the client's own work (encrypt, decrypt) plus the replica's (wait and
//! evaluation, [`super::queue`]). Cost grows with N (cores and base memory per replica), so the
//! cheapest deployment is the fewest replicas that meet the objective within the memory cap.

use serde::{Deserialize, Serialize};

use super::queue::{moments, response_quantile};
use crate::fhe::Pipeline;
use crate::stats::nearest_rank;

const GIB: f64 = (1u64 << 30) as f64;

/// What one circuit costs per request, as measured.
#[derive(Debug, Clone, PartialEq)]
pub struct Profile {
    pub pipeline: Pipeline,
    pub bits: u32,
    /// Server evaluation time of one request, seconds, one value per measured request (or
    /// quantiles of a fit).
    pub service_s: Vec<f64>,
    /// The client's encryption and decryption of one request, seconds.
    pub client_s: f64,
    /// Cores the service time was measured on: each replica gets as many.
    pub cores: usize,
    /// Memory of a replica before any key, GiB.
    pub base_gib: f64,
    /// One client's evaluation key as uploaded (compressed), bytes.
    pub key_bytes: u64,
    pub response_bytes: u64,
    /// Plaintext hit@1 of the circuit's model (mean over split seeds).
    pub hit_at_1: Option<f64>,
}

impl Profile {
    /// Requests per second one replica completes when always busy.
    pub fn replica_capacity_rps(&self) -> f64 {
        1.0 / moments(&self.service_s).0
    }
}

/// The load and what it must get.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Demand {
    pub rate_rps: f64,
    /// Distinct clients whose evaluation keys the replicas hold.
    pub clients: usize,
    /// The response-time quantile the objective bounds, e.g. 0.95.
    pub quantile: f64,
    pub objective_s: f64,
}

/// Prices of the resources a deployment rents.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Prices {
    pub vcpu_hour: f64,
    pub gib_hour: f64,
    /// Per GB (10^9 bytes) sent to clients.
    pub egress_gb: f64,
}

impl Default for Prices {
    fn default() -> Self {
        // Google Cloud Compute Engine, E2 predefined on-demand, us-central1: $0.021811 per
        // vCPU-hour and $0.002923 per GiB-hour (cloud.google.com/compute/vm-instance-pricing);
        // internet egress as AWS EC2 charges its first 10 TB a month, $0.09 per GB
        // (aws.amazon.com/ec2/pricing/on-demand, "Data Transfer OUT").
        Self {
            vcpu_hour: 0.021811,
            gib_hour: 0.002923,
            egress_gb: 0.09,
        }
    }
}

/// Bounds on the search.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bounds {
    pub max_replicas: usize,
    /// Memory one replica may use (a node's), GiB.
    pub replica_memory_gib: f64,
}

impl Default for Bounds {
    fn default() -> Self {
        Self {
            max_replicas: 1000,
            replica_memory_gib: 64.0,
        }
    }
}

/// The cheapest deployment found.
#[derive(Debug, Clone, PartialEq)]
pub struct Deployment {
    pub replicas: usize,
    pub cores_per_replica: usize,
    pub key_gib_per_replica: f64,
    pub memory_gib_per_replica: f64,
    /// Busy share of each replica's worker.
    pub utilisation: f64,
    /// The objective's quantile of the response time, client work included.
    pub predicted_s: f64,
    pub dollars_per_hour: f64,
    pub dollars_per_million: f64,
}

/// A plan, or why there is none.
#[derive(Debug, Clone, PartialEq)]
pub enum Plan {
    Deploy(Deployment),
    Infeasible(String),
}

impl Plan {
    /// The deployment, if there is one.
    pub fn deployment(&self) -> Option<&Deployment> {
        match self {
            Plan::Deploy(d) => Some(d),
            Plan::Infeasible(_) => None,
        }
    }
}

/// The fewest replicas (so the cheapest deployment) that meet `demand`, or why none does.
pub fn cheapest(profile: &Profile, demand: &Demand, prices: &Prices, bounds: &Bounds) -> Plan {
    if let Some(reason) = unreachable_objective(profile, demand) {
        return Plan::Infeasible(reason);
    }
    let capacity = profile.replica_capacity_rps();
    let fewest = ((demand.rate_rps / capacity).floor() as usize + 1).max(1);
    if fewest > bounds.max_replicas {
        return Plan::Infeasible(format!(
            "the load needs more than {} replicas (the most allowed) to be stable",
            bounds.max_replicas
        ));
    }
    // More replicas only shorten the tail and shrink each one's keys: the feasible counts are
    // the ones from some count up, and the smallest is the cheapest.
    let meets = |d: &Deployment| {
        d.memory_gib_per_replica <= bounds.replica_memory_gib && d.predicted_s <= demand.objective_s
    };
    let most = deployment(profile, demand, prices, bounds.max_replicas);
    if !meets(&most) {
        return infeasible_at_most(demand, bounds, &most);
    }
    let (mut low, mut high) = (fewest, bounds.max_replicas);
    while low < high {
        let mid = (low + high) / 2;
        match meets(&deployment(profile, demand, prices, mid)) {
            true => high = mid,
            false => low = mid + 1,
        }
    }
    Plan::Deploy(deployment(profile, demand, prices, high))
}

/// Why even the most replicas allowed miss the objective or the memory cap.
fn infeasible_at_most(demand: &Demand, bounds: &Bounds, d: &Deployment) -> Plan {
    Plan::Infeasible(format!(
        "{} replicas (the most allowed) give p{:.0} {:.3} s and {:.1} GiB each, against an \
         objective of {:.3} s and a cap of {:.1} GiB",
        d.replicas,
        100.0 * demand.quantile,
        d.predicted_s,
        d.memory_gib_per_replica,
        demand.objective_s,
        bounds.replica_memory_gib
    ))
}
/// Why no number of replicas can meet the objective, if none can: even an idle replica's
/// response time (the service time's quantile and the client's work) exceeds it.
fn unreachable_objective(profile: &Profile, demand: &Demand) -> Option<String> {
    let q = 100.0 * demand.quantile;
    if !(demand.rate_rps > 0.0 && demand.objective_s > 0.0 && (0.0..1.0).contains(&demand.quantile))
    {
        return Some(format!(
            "the rate ({}) and objective ({} s) must be positive and the quantile ({}) in (0, 1)",
            demand.rate_rps, demand.objective_s, demand.quantile
        ));
    }
    let floor = nearest_rank(&profile.service_s, demand.quantile) + profile.client_s;
    (floor > demand.objective_s).then(|| {
        format!(
            "an idle replica already takes {floor:.3} s at p{q:.0} (evaluation p{q:.0} plus the \
             client's {:.3} s), over the {:.3} s objective: no number of replicas meets it",
            profile.client_s, demand.objective_s
        )
    })
}

/// `replicas` replicas serving `demand`: their response time, memory and cost.
pub fn deployment(
    profile: &Profile,
    demand: &Demand,
    prices: &Prices,
    replicas: usize,
) -> Deployment {
    let per_replica = demand.rate_rps / replicas as f64;
    let wait_and_work = response_quantile(per_replica, 1, &profile.service_s, demand.quantile);
    let clients = demand.clients.div_ceil(replicas);
    let key_gib = clients as f64 * profile.key_bytes as f64 / GIB;
    let memory = profile.base_gib + key_gib;
    let cores = profile.cores;
    let dollars_per_hour =
        replicas as f64 * (cores as f64 * prices.vcpu_hour + memory * prices.gib_hour);
    let egress = profile.response_bytes as f64 / 1e9 * prices.egress_gb;
    Deployment {
        replicas,
        cores_per_replica: cores,
        key_gib_per_replica: key_gib,
        memory_gib_per_replica: memory,
        utilisation: per_replica / profile.replica_capacity_rps(),
        predicted_s: wait_and_work.map_or(f64::INFINITY, |s| s + profile.client_s),
        dollars_per_hour,
        dollars_per_million: 1e6 * (dollars_per_hour / (demand.rate_rps * 3600.0) + egress),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile(service_s: f64) -> Profile {
        Profile {
            pipeline: Pipeline::GlweArgmax,
            bits: 4,
            service_s: vec![service_s; 10],
            client_s: 0.5,
            cores: 2,
            base_gib: 1.0,
            key_bytes: 1 << 30,
            response_bytes: 1000,
            hit_at_1: None,
        }
    }

    fn demand(rate_rps: f64, clients: usize, objective_s: f64) -> Demand {
        Demand {
            rate_rps,
            clients,
            quantile: 0.95,
            objective_s,
        }
    }

    #[test]
    fn the_cheapest_plan_is_the_fewest_replicas_that_meet_the_objective() {
        // 1 s per request at 2.5 requests per second: 3 replicas are stable (83% busy) but
        // queue too long for 3 s; the search must step up until the tail fits.
        let p = profile(1.0);
        let Plan::Deploy(d) = cheapest(
            &p,
            &demand(2.5, 10, 3.0),
            &Prices::default(),
            &Bounds::default(),
        ) else {
            panic!("feasible");
        };
        let fewer = deployment(
            &p,
            &demand(2.5, 10, 3.0),
            &Prices::default(),
            d.replicas - 1,
        );
        assert!(
            d.predicted_s <= 3.0 && fewer.predicted_s > 3.0,
            "{d:?} {fewer:?}"
        );
        assert!(d.replicas >= 3);
        // Cost by hand: replicas x (2 vCPU + memory), memory = 1 GiB + ceil(10 / N) keys of 1 GiB.
        let memory = 1.0 + 10usize.div_ceil(d.replicas) as f64;
        let prices = Prices::default();
        let hourly = d.replicas as f64 * (2.0 * prices.vcpu_hour + memory * prices.gib_hour);
        assert!((d.dollars_per_hour - hourly).abs() < 1e-12);
        let million = 1e6 * (hourly / (2.5 * 3600.0) + 1000.0 / 1e9 * prices.egress_gb);
        assert!((d.dollars_per_million - million).abs() < 1e-9);
    }

    #[test]
    fn key_memory_can_set_the_replica_count() {
        // A light load one replica carries, but 100 clients' 1 GiB keys need 2 replicas of
        // at most 64 GiB each.
        let Plan::Deploy(d) = cheapest(
            &profile(0.01),
            &demand(1.0, 100, 5.0),
            &Prices::default(),
            &Bounds::default(),
        ) else {
            panic!("feasible");
        };
        assert_eq!(d.replicas, 2);
        assert!((d.key_gib_per_replica - 50.0).abs() < 1e-9);
    }

    #[test]
    fn an_objective_below_the_service_time_is_infeasible_with_its_reason() {
        let plan = cheapest(
            &profile(7.0),
            &demand(0.1, 1, 5.0),
            &Prices::default(),
            &Bounds::default(),
        );
        let Plan::Infeasible(reason) = plan else {
            panic!("{plan:?}");
        };
        assert!(
            reason.contains("idle replica already takes 7.500 s"),
            "{reason}"
        );
        let capped = Bounds {
            max_replicas: 2,
            ..Bounds::default()
        };
        let Plan::Infeasible(reason) = cheapest(
            &profile(1.0),
            &demand(10.0, 1, 5.0),
            &Prices::default(),
            &capped,
        ) else {
            panic!("2 replicas cannot carry 10 requests per second of 1 s each");
        };
        assert!(reason.contains("more than 2 replicas"), "{reason}");
        let bad = cheapest(
            &profile(1.0),
            &demand(-1.0, 1, 5.0),
            &Prices::default(),
            &Bounds::default(),
        );
        assert!(matches!(bad, Plan::Infeasible(r) if r.contains("must be positive")));
    }
}
