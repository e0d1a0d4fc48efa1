//! How fast the simulator is: PPO trains on it and the oracle searches it.
//! `sim/requests/*` times 100k Poisson requests (criterion reports requests per second),
//! `sim/episode/paper-static-5` one episode of the paper's environment (20 steps, bursts every
//! 5), `sim/episode/diurnal-static-6` one compressed day of the diurnal workload (120 steps of
//! open-loop arrivals).

use std::hint::black_box;

use cipherscale::autoscale::open_loop::{OpenLoopConfig, OpenLoopEnv, Prepared};
use cipherscale::autoscale::paper::PaperEnv;
use cipherscale::autoscale::rules::Static;
use cipherscale::autoscale::{run_episode, ScalingEnv};
use cipherscale::rl::backend::SimBackend;
use cipherscale::rl::EnvConfig;
use cipherscale::sim::{Cluster, ClusterConfig, ServiceTime};
use cipherscale::workload::{Split, Workload, WorkloadSpec};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

const REQUESTS: u64 = 100_000;

fn cluster(rate: f64) -> ClusterConfig {
    ClusterConfig {
        startup_s: 2.0,
        background_rps: rate,
        // glwe-argmax at p = 4 as measured: median 7.0 s, p95 7.5 s.
        ..ClusterConfig::new(ServiceTime::lognormal_from_quantiles(7.0, 7.5))
    }
}

fn requests(c: &mut Criterion) {
    let mut group = c.benchmark_group("sim/requests");
    group.throughput(Throughput::Elements(REQUESTS));
    for (replicas, rho) in [(1, 0.7), (10, 0.9)] {
        let config = cluster(rho * replicas as f64 / 7.0);
        group.bench_function(format!("{replicas}-replicas-rho{rho}"), |b| {
            b.iter(|| {
                let mut sim = Cluster::with_ready_replicas(config.clone(), 1, replicas);
                sim.run_background(black_box(REQUESTS));
                sim.totals().background_done
            })
        });
    }
    group.finish();
}

fn episodes(c: &mut Criterion) {
    let backend = SimBackend::new(cluster(0.0));
    let mut paper = PaperEnv::new(EnvConfig::default(), backend, 1.0 / 7.0, 2.0)
        .expect("default constants are valid");
    let mut fixed = Static { replicas: 5 };
    let mut seed = 0;
    c.bench_function("sim/episode/paper-static-5", |b| {
        b.iter(|| {
            seed += 1;
            run_episode(&mut paper, &mut fixed, &seed).expect("simulated episodes do not fail")
        })
    });
    let spec: WorkloadSpec =
        yaml_serde::from_str("kind: diurnal\npeak_replicas: 8\n").expect("a valid workload");
    let workload = Workload::open(&spec)
        .expect("synthetic")
        .expect("open loop");
    let mut open = OpenLoopEnv::new(OpenLoopConfig::default(), cluster(0.0)).expect("defaults");
    let day = Prepared::new(
        workload.episode(Split::Test, 0, 1),
        open.limits().capacity_rps,
    );
    let mut six = Static { replicas: 6 };
    c.bench_function("sim/episode/diurnal-static-6", |b| {
        b.iter(|| run_episode(&mut open, &mut six, &day).expect("simulated episodes do not fail"))
    });
}

criterion_group!(benches, requests, episodes);
criterion_main!(benches);
