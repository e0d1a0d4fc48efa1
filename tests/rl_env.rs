//! The paper's reward (equations 2 to 4) and Algorithm 1's triggers, on a scripted backend.

use std::collections::VecDeque;

use cipherscale::rl::env::{Action, AutoscaleEnv, EnvConfig};
use cipherscale::rl::Backend;
use cipherscale::sim::cluster::Totals;
use cipherscale::sim::Outcome;

/// Answers each `send` with the next scripted outcomes and records what the environment did.
#[derive(Default)]
struct Scripted {
    answers: VecDeque<Vec<Outcome>>,
    calls: Vec<String>,
    now: f64,
}

impl Scripted {
    fn new(answers: &[&[Outcome]]) -> Self {
        Self {
            answers: answers.iter().map(|a| a.to_vec()).collect(),
            ..Self::default()
        }
    }
}

impl Backend for Scripted {
    fn reset(&mut self, _: u64, replicas: usize) -> anyhow::Result<()> {
        self.calls.push(format!("reset {replicas}"));
        Ok(())
    }
    fn scale(&mut self, replicas: usize) -> anyhow::Result<()> {
        self.calls.push(format!("scale {replicas}"));
        Ok(())
    }
    fn restart(&mut self) -> anyhow::Result<()> {
        self.calls.push("restart".into());
        Ok(())
    }
    fn wait(&mut self, seconds: f64) -> anyhow::Result<()> {
        self.now += seconds;
        Ok(())
    }
    fn send(&mut self, n: usize, _: f64, _: u64) -> anyhow::Result<Vec<Outcome>> {
        let answer = self.answers.pop_front().expect("a scripted answer");
        assert_eq!(answer.len(), n, "the environment sent {n} requests");
        self.calls.push(format!("send {n}"));
        Ok(answer)
    }
    fn now(&self) -> f64 {
        self.now
    }
    fn totals(&self) -> Totals {
        Totals::default()
    }
}

use Outcome::{Answered as Ok_, TimedOut};

fn env(config: EnvConfig, answers: &[&[Outcome]]) -> AutoscaleEnv<Scripted> {
    AutoscaleEnv::new(config, Scripted::new(answers)).unwrap()
}

fn close(a: f64, b: f64) {
    assert!((a - b).abs() < 1e-9, "{a} != {b}");
}

#[test]
fn base_reward_is_minus_latency_minus_a_tenth_per_pod() {
    let mut e = env(EnvConfig::default(), &[&[Ok_(3.0)]]);
    e.start(1).unwrap();
    let info = e.act(Action::Up).unwrap();
    assert_eq!(info.replicas, 2);
    close(info.reward, -3.0 - 0.1 * 2.0);
    assert!(!e.done());
}

#[test]
fn the_paper_observation_is_latency_and_pods_over_ten() {
    use cipherscale::autoscale::agent::ObservationKind;
    use cipherscale::autoscale::paper::PaperEnv;
    use cipherscale::autoscale::{features, ScalingEnv};
    let backend = Scripted::new(&[&[Ok_(3.0)]]);
    let mut e = PaperEnv::new(EnvConfig::default(), backend, 0.1, 2.0).unwrap();
    e.reset(&1).unwrap();
    let step = e.step(2).unwrap();
    close(step.cost, 3.0 + 0.1 * 2.0);
    assert_eq!(
        features(ObservationKind::Paper, &step.signals, e.limits()),
        [0.3, 0.2]
    );
    // The rich observation adds the stress-cycle phase (step 1 of 5) and the utilisation.
    let rich = features(ObservationKind::Rich, &step.signals, e.limits());
    assert_eq!(rich, [0.3, 0.2, 0.2, 0.0]);
}

#[test]
fn probe_latency_is_clipped_and_a_failure_counts_ten_seconds() {
    let config = EnvConfig {
        latency_clip_s: 5.0,
        heal_cooldown_s: 1e9,
        ..EnvConfig::default()
    };
    let mut e = env(config, &[&[Ok_(7.5)], &[TimedOut], &[TimedOut]]);
    e.start(1).unwrap();
    close(e.act(Action::Stay).unwrap().reward, -5.0 - 0.1);
    // The failed probe triggers healing once: restart, re-probe (fails: -10).
    let info = e.act(Action::Stay).unwrap();
    assert!(info.healed && info.heal_failed);
    close(info.reward, -5.0 - 0.1 - 10.0);
}

#[test]
fn stress_penalty_and_recovery_scaling_follow_equation_4_and_algorithm_1() {
    let config = EnvConfig {
        stress_every: 2,
        stress_min: 4,
        stress_max: 4,
        ..EnvConfig::default()
    };
    let burst = [Ok_(1.0), Ok_(3.0), TimedOut, Ok_(2.0)];
    let mut e = env(config, &[&[Ok_(1.0)], &[Ok_(1.0)], &burst]);
    e.start(1).unwrap();
    assert_eq!(e.upcoming_burst(), None);
    e.act(Action::Up).unwrap(); // 2 replicas
    assert_eq!(e.upcoming_burst(), Some(4));
    let info = e.act(Action::Stay).unwrap();
    // 5 (1 - 3/4) + 2 max(0, (1 + 3 + 10 + 2) / 4 - 2) = 1.25 + 4.
    close(info.stress_penalty, 5.25);
    // Recovery adds max(1, floor(5.25 / 2)) = 2 replicas.
    assert_eq!(info.replicas, 4);
    close(info.reward, -1.0 - 0.1 * 4.0 - 5.25);
    assert_eq!(
        e.backend().calls,
        ["reset 1", "scale 2", "send 1", "send 1", "send 4", "scale 4"]
    );
}

#[test]
fn a_clean_burst_costs_nothing_and_recovery_is_capped() {
    let config = EnvConfig {
        stress_every: 1,
        stress_min: 2,
        stress_max: 2,
        initial_replicas: 9,
        ..EnvConfig::default()
    };
    let mut e = env(
        config,
        &[
            &[Ok_(0.5)],
            &[Ok_(1.0), Ok_(2.0)],
            &[Ok_(0.5)],
            &[TimedOut, TimedOut],
        ],
    );
    e.start(1).unwrap();
    let info = e.act(Action::Stay).unwrap();
    close(info.stress_penalty, 0.0);
    assert_eq!(info.replicas, 9);
    // Both fail: 5 + 2 (10 - 2) = 21; +10 replicas capped at the maximum 10.
    let info = e.act(Action::Stay).unwrap();
    close(info.stress_penalty, 21.0);
    assert_eq!(info.replicas, 10);
    // Resource penalty 2 (10 - 5).
    close(info.resource_penalty, 10.0);
    close(info.reward, -0.5 - 1.0 - 21.0 - 10.0);
}

#[test]
fn healing_waits_for_its_cool_down() {
    let config = EnvConfig {
        step_interval_s: 10.0,
        heal_cooldown_s: 30.0,
        ..EnvConfig::default()
    };
    // Step 1: fails, heal, re-probe ok. Steps 2, 3: fail within 30 s of the heal: no heal.
    // Step 4 (t = 40): heal again, re-probe fails: -10.
    let answers: &[&[Outcome]] = &[
        &[TimedOut],
        &[Ok_(1.0)],
        &[TimedOut],
        &[TimedOut],
        &[TimedOut],
        &[TimedOut],
    ];
    let mut e = env(config, answers);
    e.start(1).unwrap();
    let healed: Vec<(bool, bool)> = (0..4)
        .map(|_| {
            let info = e.act(Action::Stay).unwrap();
            (info.healed, info.heal_failed)
        })
        .collect();
    assert_eq!(
        healed,
        [(true, false), (false, false), (false, false), (true, true)]
    );
    assert_eq!(
        e.backend().calls.iter().filter(|c| *c == "restart").count(),
        2
    );
}

#[test]
fn actions_stay_within_the_replica_bounds_and_episodes_are_truncated() {
    let config = EnvConfig {
        steps: 3,
        max_replicas: 2,
        ..EnvConfig::default()
    };
    let mut e = env(config, &[&[Ok_(1.0)], &[Ok_(1.0)], &[Ok_(1.0)]]);
    e.start(1).unwrap();
    assert_eq!(e.act(Action::Down).unwrap().replicas, 1);
    assert_eq!(e.act(Action::Target(7)).unwrap().replicas, 2);
    assert!(!e.done());
    e.act(Action::Up).unwrap();
    assert!(e.done());
}

#[test]
fn bad_constants_are_refused() {
    let bad = EnvConfig {
        min_replicas: 3,
        initial_replicas: 2,
        ..EnvConfig::default()
    };
    let err = AutoscaleEnv::new(bad, Scripted::default()).err().unwrap();
    assert!(err.to_string().contains("min_replicas"), "{err}");
}

#[test]
fn target_actions_name_a_replica_count() {
    use cipherscale::autoscale::agent::{ActionSpace, AgentEnv, ObservationKind};
    use cipherscale::autoscale::paper::PaperEnv;
    use cipherscale::rl::Environment;
    let config = EnvConfig {
        min_replicas: 2,
        initial_replicas: 2,
        max_replicas: 6,
        ..EnvConfig::default()
    };
    let backend = Scripted::new(&[&[Ok_(1.0)]]);
    let paper = PaperEnv::new(config, backend, 0.1, 2.0).unwrap();
    let mut e = AgentEnv::new(
        paper,
        |seed| seed,
        ObservationKind::Paper,
        ActionSpace::Target,
    );
    e.reset(1).unwrap();
    assert_eq!(e.actions(), 5);
    e.step(3).unwrap();
    assert_eq!(e.env.inner().replicas(), 5);
    assert_eq!(
        e.env.inner().backend().calls,
        ["reset 2", "scale 5", "send 1"]
    );
}
