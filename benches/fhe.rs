//! Per-operation cost of each FHE pipeline at each bit width: ids `fhe/{pipeline}/{op}/{bits}b`;
//! and one bootstrap on the set of every `glwe-argmax` bootstrap, `fhe/bootstrap/{one,batch-N}`.
//! `glwe-argmax` runs at p = 2 only (about a second a request); the slower widths are timed by
//! `cargo run --release --example argmax_timing`.
//! Keys are made outside the timed code. The model is synthetic (seeded, heavy-tailed weights over
//! 50 movies): leveled cost depends on the shape and widths, not on the weight values.

use std::hint::black_box;

use cipherscale::fhe::argmax::GlweArgmax;
use cipherscale::fhe::glwe::GlwePacked;
use cipherscale::fhe::integer::Integer;
use cipherscale::fhe::lwe::Lwe;
use cipherscale::fhe::{Circuit, Shape};
use cipherscale::model::{FloatModel, QuantizedModel};
use criterion::{criterion_group, criterion_main, Criterion};
use rayon::prelude::*;

const MOVIES: usize = 50;
/// A typical liked set: about a fifth of the pool.
const LIKED: [usize; 10] = [0, 3, 7, 11, 18, 22, 29, 35, 41, 48];

fn bench_pipeline<C: Circuit>(c: &mut Criterion, model: &QuantizedModel, liked: &[usize]) {
    let circuit = C::plan(&Shape::of(model)).expect("plan");
    let name = format!("fhe/{}", circuit.pipeline());
    let bits = model.bits;
    let (key, eval_key) = circuit.keygen();
    let server = circuit.server(model, &eval_key).expect("server");
    let request = circuit.encrypt(&key, liked);
    let response = C::eval(&server, &request).expect("eval");
    c.bench_function(&format!("{name}/encrypt/{bits}b"), |b| {
        b.iter(|| circuit.encrypt(&key, black_box(liked)))
    });
    c.bench_function(&format!("{name}/eval/{bits}b"), |b| {
        b.iter(|| C::eval(&server, black_box(&request)))
    });
    c.bench_function(&format!("{name}/decrypt/{bits}b"), |b| {
        b.iter(|| circuit.decrypt(&key, black_box(&response)))
    });
}

fn leveled(c: &mut Criterion) {
    let float = FloatModel::random(MOVIES, 1);
    for bits in 2..=8 {
        let model = QuantizedModel::quantize(&float, bits);
        bench_pipeline::<GlwePacked>(c, &model, &LIKED);
        bench_pipeline::<Lwe>(c, &model, &LIKED);
    }
}

/// The conventional baseline on a 2-input, 1-output slice of the model: seconds per evaluation.
fn integer(c: &mut Criterion) {
    let model = QuantizedModel::quantize(&FloatModel::random(MOVIES, 1), 8).restrict(2, 1);
    bench_pipeline::<Integer>(c, &model, &[1]);
}

/// The private-output circuit at p = 2: ten samples of about a second each.
fn argmax(c: &mut Criterion) {
    // Sparse: a dense random model rounds to all-zero weights at 2 score bits, and the
    // bootstrap skips a zero mask.
    let model = QuantizedModel::quantize_scores(&FloatModel::sparse_random(MOVIES, 1), 2);
    assert!(model.weights.iter().flatten().any(|&w| w != 0));
    bench_pipeline::<GlweArgmax>(c, &model, &LIKED);
}

/// One programmable bootstrap on the set every `glwe-argmax` bootstrap uses, alone on one thread
/// and as a batch of two per thread (the ids name the batch size; divide by it): what a request's
/// bootstrap count costs on this machine, without the circuit around it.
fn bootstrap(c: &mut Criterion) {
    let (client, server) = tfhe::shortint::gen_keys(GlweArgmax::BOOTSTRAP_PARAMS);
    let table = server.generate_lookup_table(|m| (m + 1) % 4);
    let batch: Vec<_> = (0..2 * rayon::current_num_threads() as u64)
        .map(|m| client.encrypt(m % 4))
        .collect();
    c.bench_function("fhe/bootstrap/one", |b| {
        b.iter(|| server.apply_lookup_table(black_box(&batch[0]), &table))
    });
    c.bench_function(&format!("fhe/bootstrap/batch-{}", batch.len()), |b| {
        b.iter(|| {
            batch
                .par_iter()
                .map(|ct| server.apply_lookup_table(ct, &table))
                .collect::<Vec<_>>()
        })
    });
}

criterion_group!(leveled_benches, leveled);
criterion_group! {
    name = argmax_benches;
    config = Criterion::default().sample_size(10);
    targets = argmax, bootstrap
}
criterion_group! {
    name = integer_benches;
    config = Criterion::default().sample_size(10);
    targets = integer
}
criterion_main!(leveled_benches, argmax_benches, integer_benches);
