//! What it costs to serve a circuit: for a load, a latency objective and a number of active
//! clients, the cheapest deployment (replicas, cores, key memory) and its dollars per million
//! requests, from what the `fhe` and `model` stages measured; each chosen point checked against
//! the simulator.
//!
//! - [`queue`]: the response-time quantile of a replica (M/G/c, Allen-Cunneen, measured
//!   service-time samples).
//! - [`plan`]: profiles, demands, prices, and the cheapest-deployment search.
//! - [`check`]: the simulator's view of a plan. (Profiles come from the results files:
//!   `results::capacity::profiles`.)
//! - [`live`]: a planned point on live local replicas under Poisson load, beside the plan.

pub mod check;
pub mod config;
pub mod live;
pub mod plan;
pub mod queue;

pub use config::{CapacitySpec, LivePoint};
pub use plan::{cheapest, Bounds, Demand, Deployment, Plan, Prices, Profile};

/// One circuit planned for one demand, with the simulator's check of a feasible plan.
#[derive(Debug, Clone, PartialEq)]
pub struct Planned {
    /// The load as a multiple of one replica's capacity.
    pub load: f64,
    pub demand: Demand,
    pub plan: Plan,
    pub simulated_s: Option<f64>,
}

/// A profile at each load (a multiple of one replica's capacity) and each client count of
/// `spec`, checked in the simulator when it says so.
pub fn plan_all(profile: &Profile, spec: &CapacitySpec) -> Vec<Planned> {
    let (quantile, objective_s) = (spec.quantile, spec.objective_s);
    let mut planned = Vec::new();
    for &load in &spec.loads {
        for &clients in &spec.clients {
            let demand = Demand {
                rate_rps: load * profile.replica_capacity_rps(),
                clients,
                quantile,
                objective_s,
            };
            let plan = cheapest(profile, &demand, &spec.prices, &spec.bounds);
            let simulated_s = match (&plan, spec.simulate) {
                (Plan::Deploy(d), true) => Some(check::simulated_quantile(profile, &demand, d, 17)),
                _ => None,
            };
            planned.push(Planned {
                load,
                demand,
                plan,
                simulated_s,
            });
        }
    }
    planned
}
