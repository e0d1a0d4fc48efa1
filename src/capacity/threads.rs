//! Vertical against horizontal: an FHE request parallelises inside itself (a bootstrapped
//! circuit's layers run their bootstraps on every core), so a replica with more cores answers
//! each request sooner, where more replicas with fewer cores each answer more requests at once.
//!
//! [`measure`] times each request of a circuit with one evaluation thread and with all this
//! machine's cores in turn (the order alternating, so drift on a shared machine hits both
//! alike), every answer checked, and sizes what the evaluation key costs a replica once built.
//! [`compare`] plans the same demands both ways: the profile as measured (all cores per replica)
//! and the same circuit on one core per replica, its service times stretched by the measured
//! speedup.

use std::time::Instant;

use anyhow::Context;

use super::config::{CapacitySpec, ThreadsPoint};
use super::demands;
use super::plan::{cheapest, Demand, Plan, Profile};
use crate::data::Example;
use crate::fhe::check::elapsed_ms;
use crate::fhe::{argmax::GlweArgmax, glwe::GlwePacked, lwe::Lwe, Circuit, Pipeline, Shape};
use crate::model::QuantizedModel;
use crate::output::rss_mb;
use crate::stats::percentile;

/// One circuit timed on one thread and on `threads`.
#[derive(Debug, Clone, PartialEq)]
pub struct ThreadTimes {
    pub pipeline: Pipeline,
    pub bits: u32,
    /// Evaluation threads of the many-thread timing (this machine's cores).
    pub threads: usize,
    /// Milliseconds per request, one value per request, on one thread and on `threads`.
    pub one_ms: Vec<f64>,
    pub many_ms: Vec<f64>,
    /// The evaluation key as uploaded, and the resident memory the replica's server grew by
    /// when it built it (what one client's key costs a replica's cache).
    pub key_bytes: usize,
    pub built_key_mib: f64,
    /// Milliseconds to build the server from the uploaded key (a key-cache miss, besides
    /// reading the store).
    pub key_build_ms: f64,
}

impl ThreadTimes {
    /// How much sooner a request is answered on all cores than on one (median over requests).
    pub fn speedup(&self) -> f64 {
        percentile(&self.one_ms, 0.5) / percentile(&self.many_ms, 0.5)
    }
}

/// Times `point.requests` requests of the circuit for `model` (built from the liked sets of
/// `examples`, in turn) on one thread and on `threads`.
pub fn measure(
    point: &ThreadsPoint,
    model: &QuantizedModel,
    examples: &[Example],
    threads: usize,
) -> anyhow::Result<ThreadTimes> {
    anyhow::ensure!(!examples.is_empty(), "timing threads needs examples");
    anyhow::ensure!(
        threads > 1,
        "this machine has {threads} core: one thread against all cores needs at least 2"
    );
    let requests: Vec<&[usize]> = examples
        .iter()
        .cycle()
        .take(point.requests)
        .map(|e| e.liked.as_slice())
        .collect();
    let (one_ms, many_ms, key) = match point.pipeline {
        Pipeline::GlwePacked => time::<GlwePacked>(model, &requests, threads)?,
        Pipeline::Lwe => time::<Lwe>(model, &requests, threads)?,
        Pipeline::GlweArgmax => time::<GlweArgmax>(model, &requests, threads)?,
        Pipeline::Integer => anyhow::bail!("integer runs on a slice of the model: not timed"),
    };
    Ok(ThreadTimes {
        pipeline: point.pipeline,
        bits: point.bits,
        threads,
        one_ms,
        many_ms,
        key_bytes: key.bytes,
        built_key_mib: key.built_mib,
        key_build_ms: key.build_ms,
    })
}

/// What a circuit's evaluation key costs a replica.
struct KeyCost {
    bytes: usize,
    built_mib: f64,
    build_ms: f64,
}

/// Milliseconds per request on one thread and on `threads`, and the key's cost.
fn time<C: Circuit>(
    model: &QuantizedModel,
    requests: &[&[usize]],
    threads: usize,
) -> anyhow::Result<(Vec<f64>, Vec<f64>, KeyCost)> {
    let circuit = C::plan(&Shape::of(model))?;
    let (client_key, eval_key) = circuit.keygen();
    let before_mib = rss_mb();
    let started = Instant::now();
    let server = circuit.server(model, &eval_key)?;
    let key = KeyCost {
        bytes: eval_key.len(),
        build_ms: elapsed_ms(started),
        built_mib: (rss_mb() - before_mib).max(0.0),
    };
    let pools = [1, threads]
        .map(|n| rayon::ThreadPoolBuilder::new().num_threads(n).build())
        .into_iter()
        .collect::<Result<Vec<_>, _>>()
        .context("starting the evaluation threads")?;
    let mut times = [Vec::new(), Vec::new()];
    for (i, liked) in requests.iter().enumerate() {
        let request = circuit.encrypt(&client_key, liked);
        let expected = C::expected(model, liked);
        for k in [i % 2, 1 - i % 2] {
            let started = Instant::now();
            let response = pools[k].install(|| C::eval(&server, &request))?;
            times[k].push(elapsed_ms(started));
            anyhow::ensure!(
                circuit.decrypt(&client_key, &response)? == expected,
                "request {i} on {} thread(s) decrypted to another answer than the plaintext model's",
                pools[k].current_num_threads()
            );
        }
    }
    let [one, many] = times;
    Ok((one, many, key))
}

/// The circuit on one core per replica: each request `speedup` times longer than measured on
/// the profile's cores.
pub fn on_one_core(profile: &Profile, speedup: f64) -> Profile {
    Profile {
        service_s: profile.service_s.iter().map(|s| s * speedup).collect(),
        cores: 1,
        ..profile.clone()
    }
}

/// One demand planned with all cores per replica (vertical) and with one (horizontal).
#[derive(Debug, Clone, PartialEq)]
pub struct Shapes {
    pub load: f64,
    pub demand: Demand,
    pub vertical: Plan,
    pub horizontal: Plan,
}

/// Every load and client count of `spec` (loads relative to the profile as measured), planned
/// both ways.
pub fn compare(profile: &Profile, speedup: f64, spec: &CapacitySpec) -> Vec<Shapes> {
    let narrow = on_one_core(profile, speedup);
    demands(profile, spec)
        .into_iter()
        .map(|(load, demand)| Shapes {
            load,
            demand,
            vertical: cheapest(profile, &demand, &spec.prices, &spec.bounds),
            horizontal: cheapest(&narrow, &demand, &spec.prices, &spec.bounds),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capacity::Deployment;

    fn profile(service_s: f64) -> Profile {
        Profile {
            pipeline: Pipeline::GlweArgmax,
            bits: 4,
            service_s: vec![service_s; 10],
            client_s: 0.0,
            cores: 2,
            base_gib: 0.5,
            key_bytes: 0,
            response_bytes: 100,
            hit_at_1: None,
        }
    }

    fn spec(loads: Vec<f64>, objective_s: f64) -> CapacitySpec {
        CapacitySpec {
            loads,
            clients: vec![1],
            objective_s,
            simulate: false,
            ..CapacitySpec::default()
        }
    }

    fn deployed(plan: &Plan) -> &Deployment {
        match plan {
            Plan::Deploy(d) => d,
            Plan::Infeasible(reason) => panic!("{reason}"),
        }
    }

    #[test]
    fn one_core_stretches_each_request_by_the_speedup() {
        let narrow = on_one_core(&profile(2.0), 1.6);
        assert_eq!(narrow.cores, 1);
        assert!(narrow.service_s.iter().all(|&s| (s - 3.2).abs() < 1e-12));
    }

    #[test]
    fn horizontal_wins_at_load_and_vertical_where_one_core_is_too_slow() {
        // 2 s on 2 cores, 3.2 s on one (speedup 1.6, under the 2 a core pair would need to
        // break even): at 50 replicas' worth of load, twice as many 1-core replicas cost less.
        let shapes = compare(&profile(2.0), 1.6, &spec(vec![50.0], 60.0));
        let (wide, narrow) = (
            deployed(&shapes[0].vertical),
            deployed(&shapes[0].horizontal),
        );
        assert_eq!((wide.cores_per_replica, narrow.cores_per_replica), (2, 1));
        assert!(narrow.replicas > wide.replicas, "{narrow:?} {wide:?}");
        assert!(
            narrow.dollars_per_million < wide.dollars_per_million,
            "{narrow:?} {wide:?}"
        );
        // An objective of 3 s: one core's 3.2 s per request can never meet it.
        let shapes = compare(&profile(2.0), 1.6, &spec(vec![0.5], 3.0));
        deployed(&shapes[0].vertical);
        assert!(matches!(&shapes[0].horizontal, Plan::Infeasible(r) if r.contains("idle replica")));
    }
}
