//! The oracle: the cheapest replica plan for one episode, searched with perfect foresight on the
//! environment itself (the episode's actual arrivals and service times, the same start-up delay
//! and cost every controller meets).
//!
//! Dynamic programming over replica counts: after each step, the cheapest `beam` partial plans
//! that end in each state survive (the replicas asked for and those ready: a replica still
//! starting is not one that serves; the queue left behind is what the state does not capture,
//! hence more than one per state); then local search changes one step of the plan at a time
//! while that lowers the episode's cost, from that plan and, when it is cheaper, from the best
//! constant plan in hindsight. The result bounds every controller
//! from below in cost on every episode; the protocol checks that it does.

use super::env::ScalingEnv;

/// How hard the oracle searches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Search {
    /// Partial plans kept per replica count after each step.
    pub beam: usize,
    /// Rounds of single-step changes (each tries every count within `radius` of the plan's).
    pub passes: usize,
    pub radius: usize,
}

impl Default for Search {
    fn default() -> Self {
        Self {
            beam: 3,
            passes: 3,
            radius: 3,
        }
    }
}

/// The oracle's plan for one episode and its cost.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub replicas: Vec<usize>,
    pub cost: f64,
}

struct Node<E> {
    env: E,
    cost: f64,
    plan: Vec<usize>,
    /// The environment's state after the last step, as far as the search tells states apart.
    key: (usize, usize),
}

/// The cheapest plan found for `episode`.
pub fn plan<E: ScalingEnv + Clone>(
    env: &E,
    episode: &E::Episode,
    search: Search,
) -> anyhow::Result<Plan> {
    let mut start = env.clone();
    start.reset(episode)?;
    let limits = start.limits().clone();
    let mut frontier = vec![Node {
        env: start.clone(),
        cost: 0.0,
        plan: Vec::new(),
        key: start.state_key(),
    }];
    while !frontier[0].env.done() {
        let mut next: Vec<Node<E>> = Vec::new();
        for node in &frontier {
            for r in limits.min_replicas..=limits.max_replicas {
                let mut env = node.env.clone();
                let step = env.step(r)?;
                let key = env.state_key();
                let mut plan = node.plan.clone();
                plan.push(r);
                next.push(Node {
                    env,
                    cost: node.cost + step.cost,
                    plan,
                    key,
                });
            }
        }
        frontier = survivors(next, search.beam);
    }
    let best = frontier
        .into_iter()
        .min_by(|a, b| a.cost.total_cmp(&b.cost))
        .expect("the frontier is never empty");
    let searched = Plan {
        replicas: best.plan,
        cost: best.cost,
    };
    // A second start: the best constant plan in hindsight, a family the beam can lose when
    // the queue it leaves behind matters more than the cost so far.
    let constant = best_constant(&start, searched.replicas.len())?;
    let mut plans = vec![improve(&start, searched, search)?];
    if constant.cost < plans[0].cost {
        plans.push(improve(&start, constant, search)?);
    }
    Ok(plans
        .into_iter()
        .min_by(|a, b| a.cost.total_cmp(&b.cost))
        .expect("one plan at least"))
}

/// The cheapest plan that asks for the same count at every one of `steps` steps.
fn best_constant<E: ScalingEnv + Clone>(start: &E, steps: usize) -> anyhow::Result<Plan> {
    let limits = start.limits();
    let mut best: Option<Plan> = None;
    for r in limits.min_replicas..=limits.max_replicas {
        let replicas = vec![r; steps];
        let cost = finish(start.clone(), 0.0, &replicas)?;
        if best.as_ref().is_none_or(|b| cost < b.cost) {
            best = Some(Plan { replicas, cost });
        }
    }
    best.ok_or_else(|| anyhow::anyhow!("no replica count between the limits"))
}

/// The cheapest `beam` nodes per state.
fn survivors<E>(mut nodes: Vec<Node<E>>, beam: usize) -> Vec<Node<E>> {
    nodes.sort_by(|a, b| a.key.cmp(&b.key).then(a.cost.total_cmp(&b.cost)));
    let mut kept: Vec<Node<E>> = Vec::new();
    let mut run = 0;
    for node in nodes {
        run = match kept.last() {
            Some(last) if last.key == node.key => run + 1,
            _ => 0,
        };
        if run < beam.max(1) {
            kept.push(node);
        }
    }
    kept
}

/// Replays `plan` from `start`: the state before each step and the cost so far.
fn replay<E: ScalingEnv + Clone>(start: &E, plan: &[usize]) -> anyhow::Result<(Vec<E>, Vec<f64>)> {
    let mut states = vec![start.clone()];
    let mut costs = vec![0.0];
    for &r in plan {
        let mut env = states.last().expect("one state").clone();
        let cost = costs.last().expect("one cost") + env.step(r)?.cost;
        states.push(env);
        costs.push(cost);
    }
    Ok((states, costs))
}

/// The cost of running `rest` from `state` (already `so_far` spent).
fn finish<E: ScalingEnv>(mut state: E, so_far: f64, rest: &[usize]) -> anyhow::Result<f64> {
    let mut cost = so_far;
    for &r in rest {
        cost += state.step(r)?.cost;
    }
    Ok(cost)
}

/// Local search: one step's count at a time, kept when the whole episode gets cheaper.
fn improve<E: ScalingEnv + Clone>(
    start: &E,
    mut best: Plan,
    search: Search,
) -> anyhow::Result<Plan> {
    let limits = start.limits().clone();
    for _ in 0..search.passes {
        let mut improved = false;
        let (mut states, mut costs) = replay(start, &best.replicas)?;
        for t in 0..best.replicas.len() {
            let current = best.replicas[t];
            let low = current
                .saturating_sub(search.radius)
                .max(limits.min_replicas);
            let high = (current + search.radius).min(limits.max_replicas);
            for r in (low..=high).filter(|&r| r != current) {
                let mut state = states[t].clone();
                let first = state.step(r)?.cost;
                let cost = finish(state, costs[t] + first, &best.replicas[t + 1..])?;
                if cost < best.cost - 1e-12 * best.cost.abs().max(1.0) {
                    best.replicas[t] = r;
                    best.cost = cost;
                    improved = true;
                    (states, costs) = replay(start, &best.replicas)?;
                }
            }
        }
        if !improved {
            break;
        }
    }
    Ok(best)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::autoscale::env::StepRecord;
    use crate::autoscale::{Limits, Signals};

    /// Demand per step, a replica costs 1 a step, each unit of demand above the replicas
    /// *ready* costs 10; a replica asked for serves from the next step on (one step of
    /// start-up); scaling down is immediate.
    #[derive(Clone)]
    struct Toy {
        demand: Vec<usize>,
        step: usize,
        replicas: usize,
        limits: Limits,
    }

    impl Toy {
        fn new(demand: &[usize]) -> Self {
            Self {
                demand: demand.to_vec(),
                step: 0,
                replicas: 1,
                limits: Limits {
                    min_replicas: 1,
                    max_replicas: 4,
                    step_s: 1.0,
                    startup_steps: 1,
                    latency_clip_s: 1.0,
                    slo_s: 1.0,
                    capacity_rps: 1.0,
                    admission: 1,
                    open_loop: true,
                },
            }
        }
    }

    impl ScalingEnv for Toy {
        type Episode = ();
        fn limits(&self) -> &Limits {
            &self.limits
        }
        fn reset(&mut self, _: &()) -> anyhow::Result<Signals> {
            self.step = 0;
            self.replicas = 1;
            Ok(Signals {
                replicas: 1,
                ready: 1,
                ..Signals::default()
            })
        }
        fn step(&mut self, replicas: usize) -> anyhow::Result<StepRecord> {
            let r = self.limits.clamp(replicas);
            let ready = r.min(self.replicas);
            let short = self.demand[self.step].saturating_sub(ready);
            self.replicas = r;
            self.step += 1;
            Ok(StepRecord {
                cost: r as f64 + 10.0 * short as f64,
                signals: Signals {
                    step: self.step,
                    replicas: r,
                    ready: r,
                    ..Signals::default()
                },
                ..StepRecord::default()
            })
        }
        fn done(&self) -> bool {
            self.step >= self.demand.len()
        }
        fn state_key(&self) -> (usize, usize) {
            (self.replicas, 0)
        }
        fn episode_steps(&self) -> usize {
            self.demand.len()
        }
    }

    #[test]
    fn the_oracle_finds_the_optimum_computed_by_hand() {
        // Demand 1, 1, 3, 3, 1. Three replicas must be asked for at step 1 to serve at step 2
        // (cost 3 there instead of 1, saving 2 x 10 at step 2); at step 4 one suffices:
        // 1 + 3 + 3 + 3 + 1 = 11, no shortfall. Asking at step 2 instead costs
        // 1 + 1 + 3 + 20 (step 2 short by 2) + 3 + 1 = 28 in all.
        let env = Toy::new(&[1, 1, 3, 3, 1]);
        let plan = plan(&env, &(), Search::default()).unwrap();
        assert_eq!(plan.replicas, [1, 3, 3, 3, 1]);
        assert_eq!(plan.cost, 11.0);
    }

    #[test]
    fn no_plan_beats_the_oracle_on_a_small_case() {
        // Every plan of 4 steps over 1..=4 replicas: 256 of them.
        let env = Toy::new(&[2, 4, 1, 3]);
        let oracle = plan(
            &env,
            &(),
            Search {
                beam: 1,
                passes: 2,
                radius: 3,
            },
        )
        .unwrap();
        let mut best = f64::INFINITY;
        for code in 0..256usize {
            let mut toy = env.clone();
            toy.reset(&()).unwrap();
            let cost: f64 = (0..4)
                .map(|t| toy.step(1 + (code >> (2 * t)) % 4).unwrap().cost)
                .sum();
            best = best.min(cost);
        }
        assert_eq!(oracle.cost, best);
    }
}
