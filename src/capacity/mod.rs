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
//! - [`threads`]: one core against all cores per request, and the plans both ways (vertical
//!   against horizontal scaling).

pub mod check;
pub mod config;
pub mod live;
pub mod plan;
pub mod queue;
pub mod threads;

pub use config::{CapacitySpec, LivePoint, ThreadsPoint};
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
    demands(profile, spec)
        .into_iter()
        .map(|(load, demand)| {
            let plan = cheapest(profile, &demand, &spec.prices, &spec.bounds);
            let simulated_s = match (&plan, spec.simulate) {
                (Plan::Deploy(d), true) => Some(check::simulated_quantile(profile, &demand, d, 17)),
                _ => None,
            };
            Planned {
                load,
                demand,
                plan,
                simulated_s,
            }
        })
        .collect()
}

/// Each load of `spec` (a multiple of `profile`'s replica capacity) with each client count.
pub fn demands(profile: &Profile, spec: &CapacitySpec) -> Vec<(f64, Demand)> {
    let rates = spec
        .loads
        .iter()
        .map(|&load| (load, load * profile.replica_capacity_rps()));
    rates
        .flat_map(|(load, rate_rps)| {
            spec.clients.iter().map(move |&clients| {
                let demand = Demand {
                    rate_rps,
                    clients,
                    quantile: spec.quantile,
                    objective_s: spec.objective_s,
                };
                (load, demand)
            })
        })
        .collect()
}
