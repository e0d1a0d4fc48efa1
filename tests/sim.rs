//! The simulator against queueing theory, and its cluster mechanics.

use cipherscale::sim::queueing::{mg1_mean_wait, mmc_mean_wait};
use cipherscale::sim::{Arrival, Cluster, ClusterConfig, Outcome, ServiceTime, Split};

fn config(service: ServiceTime, slots: usize, rate: f64) -> ClusterConfig {
    ClusterConfig {
        slots_per_replica: slots,
        background_rps: rate,
        ..ClusterConfig::new(service)
    }
}

/// Mean queueing wait of `requests` Poisson arrivals.
fn simulated_wait(config: ClusterConfig, replicas: usize, requests: u64, seed: u64) -> f64 {
    let mut cluster = Cluster::with_ready_replicas(config, seed, replicas);
    cluster.run_background(requests);
    let totals = cluster.totals();
    totals.background_wait_s / totals.background_done as f64
}

fn assert_within(simulated: f64, theory: f64, tolerance: f64, what: &str) {
    let error = (simulated / theory - 1.0).abs();
    eprintln!("{what}: simulated {simulated:.4}, theory {theory:.4}");
    assert!(
        error < tolerance,
        "{what}: simulated {simulated:.4}, theory {theory:.4} ({:.1}% off)",
        error * 100.0
    );
}

#[test]
fn mg1_matches_pollaczek_khinchine() {
    for (service, rho) in [
        (ServiceTime::lognormal_from_quantiles(6.8, 8.1), 0.7),
        (
            ServiceTime::Lognormal {
                median: 1.0,
                sigma: 0.8,
            },
            0.6,
        ),
        (ServiceTime::Deterministic { seconds: 2.0 }, 0.8),
    ] {
        let rate = rho / service.mean();
        let theory = mg1_mean_wait(rate, service.mean(), service.second_moment()).unwrap();
        let simulated = simulated_wait(config(service.clone(), 1, rate), 1, 400_000, 1);
        assert_within(
            simulated,
            theory,
            0.05,
            &format!("M/G/1 {service:?} rho {rho}"),
        );
    }
}

#[test]
fn mmc_matches_erlang_c() {
    for (servers, rho) in [(2, 0.7), (4, 0.8), (8, 0.9)] {
        let service = ServiceTime::Exponential { mean: 1.5 };
        let rate = rho * servers as f64 / 1.5;
        let theory = mmc_mean_wait(servers, rate, 1.5).unwrap();
        // One replica with c slots is one queue in front of c servers.
        let simulated = simulated_wait(config(service, servers, rate), 1, 400_000, 2);
        assert_within(simulated, theory, 0.05, &format!("M/M/{servers} rho {rho}"));
    }
}

#[test]
fn a_random_split_makes_independent_mm1_queues() {
    let mut c = config(ServiceTime::Exponential { mean: 1.0 }, 1, 4.0 * 0.75);
    c.split = Split::Random;
    let theory = mmc_mean_wait(1, 0.75, 1.0).unwrap();
    let simulated = simulated_wait(c, 4, 400_000, 3);
    assert_within(simulated, theory, 0.05, "random split over 4 M/M/1");
}

fn deterministic(seconds: f64, startup_s: f64) -> ClusterConfig {
    ClusterConfig {
        startup_s,
        ..config(ServiceTime::Deterministic { seconds }, 1, 0.0)
    }
}

#[test]
fn a_burst_is_served_in_waves_over_the_replicas() {
    let mut cluster = Cluster::with_ready_replicas(deterministic(2.0, 0.0), 1, 3);
    let mut latencies: Vec<f64> = cluster
        .send(7, 100.0)
        .iter()
        .map(|o| o.latency().unwrap())
        .collect();
    latencies.sort_by(f64::total_cmp);
    assert_eq!(latencies, [2.0, 2.0, 2.0, 4.0, 4.0, 4.0, 6.0]);
    assert_eq!(cluster.now(), 6.0);
}

#[test]
fn timeouts_end_the_wait_but_not_the_work() {
    let mut cluster = Cluster::with_ready_replicas(deterministic(4.0, 0.0), 1, 1);
    let outcomes = cluster.send(3, 5.0);
    assert_eq!(
        outcomes,
        [Outcome::Answered(4.0), Outcome::TimedOut, Outcome::TimedOut]
    );
    assert_eq!(cluster.now(), 5.0);
    // The two abandoned requests still occupy the replica until t = 12.
    assert_eq!(
        cluster.send(1, 100.0),
        [Outcome::Answered(12.0 - 5.0 + 4.0)]
    );
}

#[test]
fn new_replicas_take_requests_only_after_starting() {
    let mut cluster = Cluster::with_ready_replicas(deterministic(1.0, 5.0), 1, 1);
    cluster.scale(3);
    assert_eq!((cluster.desired(), cluster.ready()), (3, 1));
    let early = cluster.send(3, 100.0);
    assert_eq!(
        early.iter().filter_map(Outcome::latency).sum::<f64>(),
        1.0 + 2.0 + 3.0
    );
    cluster.wait(5.0);
    assert_eq!(cluster.ready(), 3);
    let late = cluster.send(3, 100.0);
    assert!(
        late.iter().all(|o| *o == Outcome::Answered(1.0)),
        "{late:?}"
    );
}

#[test]
fn restarting_refuses_requests_until_replicas_are_back() {
    let mut cluster = Cluster::with_ready_replicas(deterministic(1.0, 3.0), 1, 2);
    cluster.restart();
    assert_eq!(cluster.send(2, 10.0), [Outcome::Refused, Outcome::Refused]);
    cluster.wait(3.0);
    assert_eq!(cluster.send(1, 10.0), [Outcome::Answered(1.0)]);
}

#[test]
fn scale_down_drains_the_removed_replica_and_bills_until_then() {
    let mut cluster = Cluster::with_ready_replicas(deterministic(2.0, 0.0), 1, 2);
    let _ = cluster.send(4, 0.5); // 2 queued per replica, abandoned at t = 0.5
    cluster.scale(1);
    assert_eq!((cluster.desired(), cluster.ready()), (1, 1));
    cluster.wait(10.0);
    let billed = cluster.totals().pod_seconds;
    // Two pods until t = 4 (the drained one finished its 2 requests), then one until 10.5.
    assert!((billed - (2.0 * 4.0 + 6.5)).abs() < 1e-9, "{billed}");
    assert_eq!(cluster.backlog(), 0);
}

#[test]
fn the_same_seed_gives_the_same_run() {
    let c = config(ServiceTime::Exponential { mean: 1.0 }, 1, 1.5);
    let run = |seed| {
        let mut cluster = Cluster::with_ready_replicas(c.clone(), seed, 2);
        cluster.wait(50.0);
        (cluster.send(5, 3.0), cluster.totals().background_done)
    };
    assert_eq!(run(9), run(9));
    assert_ne!(run(9), run(10));
}

fn stream(times: &[f64]) -> Vec<Arrival> {
    times
        .iter()
        .enumerate()
        .map(|(i, &time)| Arrival {
            time,
            key: i as u64,
        })
        .collect()
}

#[test]
fn a_full_replica_refuses_at_its_admission_limit() {
    let mut c = deterministic(10.0, 0.0);
    c.queue_per_replica = Some(1);
    let mut cluster = Cluster::with_ready_replicas(c, 1, 1);
    // One evaluating, one waiting, the third refused (the serving replica's 503).
    cluster.offer(&stream(&[0.0, 1.0, 2.0]), 5.0);
    assert_eq!(cluster.backlog(), 2);
    assert_eq!(cluster.pending_arrivals().len(), 2);
    cluster.drain();
    let log = cluster.take_log();
    assert_eq!((log.arrivals, log.rejected, log.timed_out.len()), (3, 1, 0));
    assert_eq!(log.answered, [(0.0, 10.0), (1.0, 19.0)]);
}

#[test]
fn waiting_past_the_server_timeout_drops_a_request_unserved() {
    let mut c = deterministic(10.0, 0.0);
    c.timeout_s = Some(5.0);
    let mut cluster = Cluster::with_ready_replicas(c, 1, 1);
    // The second waits 10 s for the first: past the 5 s timeout, so it is dropped, not served;
    // the third arrives after the first is done and is served at once.
    cluster.offer(&stream(&[0.0, 0.0, 12.0]), 30.0);
    let log = cluster.take_log();
    assert_eq!(
        (log.timed_out.clone(), log.latencies()),
        (vec![0.0], vec![10.0, 10.0])
    );
    assert_eq!(cluster.totals().busy_seconds, 20.0);
}

#[test]
fn a_request_keeps_its_service_time_whatever_the_cluster_does() {
    // Common random numbers: request k's work depends on its key and the seed alone.
    let c = config(ServiceTime::Exponential { mean: 3.0 }, 1, 0.0);
    let arrivals = stream(&[0.0, 100.0, 200.0, 300.0]);
    let run = |replicas: usize| {
        let mut cluster = Cluster::with_ready_replicas(c.clone(), 5, replicas);
        cluster.offer(&arrivals, 400.0);
        cluster.take_log().latencies()
    };
    // Spaced far apart: nobody waits, so every latency is the request's own service time.
    assert_eq!(run(1), run(3));
    let mut other = Cluster::with_ready_replicas(c.clone(), 6, 1);
    other.offer(&arrivals, 400.0);
    assert_ne!(other.take_log().latencies(), run(1));
}
