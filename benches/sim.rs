//! How fast the simulator is: PPO trains on it. `sim/requests/{rho}` times 100k Poisson requests
//! through one replica (criterion reports requests per second), `sim/episode/*` one episode of
//! the paper's environment (20 steps, bursts every 5) with a static policy.

use std::hint::black_box;

use cipherscale::rl::backend::SimBackend;
use cipherscale::rl::episode::run_episode;
use cipherscale::rl::policy::Static;
use cipherscale::rl::{AutoscaleEnv, EnvConfig};
use cipherscale::sim::{Cluster, ClusterConfig, ServiceTime, Split};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

const REQUESTS: u64 = 100_000;

fn cluster(rate: f64) -> ClusterConfig {
    ClusterConfig {
        // glwe-argmax at p = 4 as measured: median 7.0 s, p95 7.5 s.
        service: ServiceTime::lognormal_from_quantiles(7.0, 7.5),
        slots_per_replica: 1,
        host_slots: None,
        split: Split::RoundRobin,
        startup_s: 2.0,
        background_rps: rate,
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
    let mut env = AutoscaleEnv::new(EnvConfig::default(), SimBackend::new(cluster(0.0)))
        .expect("default constants are valid");
    let mut policy = Static { replicas: 5 };
    let mut seed = 0;
    c.bench_function("sim/episode/static-5", |b| {
        b.iter(|| {
            seed += 1;
            run_episode(&mut env, &mut policy, seed).expect("simulated episodes do not fail")
        })
    });
}

criterion_group!(benches, requests, episodes);
criterion_main!(benches);
