//! The local deployer with real `cipherscale serve` processes: scaling, round robin, self-healing,
//! and no process left behind.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use cipherscale::deploy::local::{LocalConfig, LocalDeployer};
use cipherscale::deploy::{Deployer, Status};
use cipherscale::fhe::Pipeline;
use cipherscale::model::{FloatModel, QuantizedModel};
use cipherscale::serve::client::Recommender;
use cipherscale::serve::Artifacts;
use common::running;

fn deployer(dir: &Path) -> (LocalDeployer, Artifacts) {
    let model = QuantizedModel::quantize(&FloatModel::random(50, 31), 8);
    let titles = (0..50).map(|i| format!("Movie {i}")).collect();
    let artifacts = Artifacts::build(Pipeline::GlwePacked, model, titles).unwrap();
    artifacts.save(dir).unwrap();
    let mut config = LocalConfig::new(dir.to_owned()).unwrap();
    config.binary = env!("CARGO_BIN_EXE_cipherscale").into();
    (LocalDeployer::new(config), artifacts)
}

fn recommend_count(replica: &str) -> u64 {
    let mut response = ureq::get(format!("{replica}/metrics")).call().unwrap();
    let text = response.body_mut().read_to_string().unwrap();
    text.lines()
        .find_map(|l| {
            l.strip_prefix(
                "cipherscale_http_requests_total{route=\"/v1/recommend\",status=\"200\"} ",
            )
        })
        .map_or(0, |n| n.parse().unwrap())
}

fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn local_scales_spreads_heals_and_leaves_no_process() {
    let dir = tempfile::tempdir().unwrap();
    let (mut deployer, artifacts) = deployer(dir.path());
    assert_eq!(deployer.endpoint(), None);
    deployer.deploy().unwrap();
    deployer.deploy().unwrap(); // idempotent
    let ready = |d: &mut LocalDeployer| d.status().unwrap();
    assert_eq!(
        ready(&mut deployer),
        Status {
            desired: 1,
            ready: 1,
            ..Status::default()
        }
    );
    let mut every_pid = deployer.replica_pids();

    deployer.scale(3).unwrap();
    assert_eq!(ready(&mut deployer).ready, 3);
    every_pid.extend(deployer.replica_pids());
    let endpoint = deployer.endpoint().unwrap();
    let recommender = Recommender::connect(&endpoint, None).unwrap();
    for round in 0..30usize {
        let liked: Vec<usize> = (round % 7..50).step_by(5).collect();
        let expected = artifacts.circuit.expected(&artifacts.model, &liked);
        assert_eq!(recommender.recommend(&liked).unwrap(), expected);
    }
    let counts: Vec<u64> = deployer
        .replica_endpoints()
        .iter()
        .map(|r| recommend_count(r))
        .collect();
    assert_eq!(counts, [10, 10, 10], "round robin over 3 ready replicas");

    // kill -9 one replica: status sees it, restart heals it.
    let victim = deployer.replica_pids()[1];
    std::process::Command::new("kill")
        .args(["-9", &victim.to_string()])
        .status()
        .unwrap();
    wait_for("the kill to show", || ready(&mut deployer).failed == 1);
    assert_eq!(
        ready(&mut deployer),
        Status {
            desired: 3,
            ready: 2,
            terminating: 0,
            failed: 1
        }
    );
    assert_eq!(
        recommender.recommend(&[1, 2]).unwrap(),
        artifacts.circuit.expected(&artifacts.model, &[1, 2])
    );
    deployer.restart().unwrap();
    assert_eq!(
        ready(&mut deployer),
        Status {
            desired: 3,
            ready: 3,
            ..Status::default()
        }
    );
    every_pid.extend(deployer.replica_pids());

    every_pid.sort_unstable();
    every_pid.dedup();
    assert_eq!(every_pid.len(), 4, "3 started, 1 replaced");
    deployer.scale(1).unwrap();
    assert_eq!(ready(&mut deployer).ready, 1);
    assert_eq!(every_pid.iter().filter(|&&p| running(p)).count(), 1);
    assert_eq!(
        recommender.recommend(&[3]).unwrap(),
        artifacts.circuit.expected(&artifacts.model, &[3])
    );

    deployer.teardown().unwrap();
    deployer.teardown().unwrap(); // idempotent
    assert_eq!(deployer.endpoint(), None);
    let left: Vec<u32> = every_pid.into_iter().filter(|&p| running(p)).collect();
    assert!(left.is_empty(), "replicas still running: {left:?}");
}

#[test]
fn replicas_die_with_the_harness_thread_that_started_them() {
    let dir = tempfile::tempdir().unwrap();
    let (deployer, _) = deployer(dir.path());
    // The owning thread "crashes": the deployer is leaked without teardown or drop.
    let pids = std::thread::spawn(move || {
        let mut deployer = deployer;
        deployer.deploy().unwrap();
        deployer.scale(2).unwrap();
        let pids = deployer.replica_pids();
        std::mem::forget(deployer);
        pids
    })
    .join()
    .unwrap();
    assert_eq!(pids.len(), 2);
    wait_for("orphaned replicas to die", || {
        pids.iter().all(|&p| !running(p))
    });
}
