//! The autoscaling protocol end to end on a tiny open-loop workload: choices are made on
//! validation episodes, the oracle bounds every controller on every test episode, and the
//! summary's normalised scores put the chosen static count at 0 and the oracle near 1.

use cipherscale::autoscale::agent::{ActionSpace, ObservationKind};
use cipherscale::autoscale::arenas::{OpenLoopArena, Tuning};
use cipherscale::autoscale::open_loop::{OpenLoopConfig, OpenLoopEnv};
use cipherscale::autoscale::protocol::{self, AgentPlan, Plan};
use cipherscale::autoscale::summary::summarize;
use cipherscale::rl::ppo::PpoConfig;
use cipherscale::sim::{ClusterConfig, ServiceTime};
use cipherscale::workload::{Workload, WorkloadSpec};

fn tiny_tuning() -> Tuning {
    Tuning {
        hpa_targets: vec![0.6],
        windows_s: vec![120.0],
        queue_targets: vec![2.0],
        thresholds: vec![[1.0, 0.5]],
        alphas: vec![0.5],
        seasonal: vec![true],
        headroom: vec![1.0],
        horizons: vec![3],
        model_samples: 300,
        ..Tuning::default()
    }
}

#[test]
fn the_protocol_tunes_on_validation_and_the_oracle_bounds_every_controller() {
    // A flash-crowd day compressed to 12 minutes: 24 steps of 30 s, 1 s requests.
    let spec: WorkloadSpec = yaml_serde::from_str(
        "kind: flash-crowd\npeak_replicas: 5\ncompress: 120\nvalidation_episodes: 2\ntest_episodes: 3\n",
    )
    .unwrap();
    let workload = Workload::open(&spec).unwrap().unwrap();
    let config = OpenLoopConfig {
        max_replicas: 6,
        startup_s: 30.0,
        slo_s: 3.0,
        timeout_s: 6.0,
        ..OpenLoopConfig::default()
    };
    let cluster = ClusterConfig::new(ServiceTime::lognormal_from_quantiles(1.0, 1.2));
    let env = OpenLoopEnv::new(config, cluster).unwrap();
    let arena = OpenLoopArena::new(env, workload, 3, tiny_tuning());
    let plan = Plan {
        workload: "flash".into(),
        agents: vec![AgentPlan {
            name: "ppo-rich".into(),
            observation: ObservationKind::Rich,
            actions: ActionSpace::Target,
            episodes: 6,
        }],
        ppo: PpoConfig {
            n_steps: 48,
            batch_size: 24,
            normalize_reward: true,
            ..PpoConfig::default()
        },
        ppo_grid: vec![(1e-3, 0.0), (1e-3, 0.01)],
        seeds: vec![1, 2],
        tuning_seeds: 1,
        oracle: tiny_tuning().oracle(),
        checkpoints: None,
    };
    let outcome = protocol::run(&arena, &plan, &|_| {}).unwrap();
    assert!(
        outcome.oracle_beaten.is_empty(),
        "{:?}",
        outcome.oracle_beaten
    );
    let oracle = outcome.find("oracle").unwrap();
    for tested in &outcome.tested {
        for (_, runs) in &tested.runs {
            for (m, o) in runs.iter().zip(&oracle.runs[0].1) {
                assert!(
                    m.cost >= o.cost - 1e-12,
                    "{} {} < {}",
                    tested.controller,
                    m.cost,
                    o.cost
                );
            }
        }
    }
    // The static count compared with is the cheapest on validation.
    let best = outcome
        .tuned
        .iter()
        .filter(|t| t.family == "static")
        .min_by(|a, b| a.validation_cost.total_cmp(&b.validation_cost))
        .unwrap();
    assert!(best.chosen);
    let chosen = outcome.chosen_static().unwrap();
    assert_eq!(chosen.config, best.config);
    // Both PPO seeds were tested, with collapse diagnostics for each.
    let ppo = outcome.find("ppo-rich").unwrap();
    assert_eq!((ppo.runs.len(), ppo.collapse.len()), (2, 2));
    assert_eq!(outcome.test_labels.len(), 3);
    let (workload, summaries) = summarize(&outcome, 1).unwrap();
    assert!(workload.oracle_cost <= workload.static_cost);
    let score = |name: &str| {
        summaries
            .iter()
            .find(|s| s.controller == name)
            .unwrap()
            .score
    };
    assert_eq!(score(&chosen.controller).estimate, 0.0);
    assert!(
        (score("oracle").estimate - 1.0).abs() < 0.5,
        "{:?}",
        score("oracle")
    );
}
