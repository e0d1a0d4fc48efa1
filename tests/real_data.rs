//! The model against the popularity baseline on the real ml-latest-small (skipped when
//! `MOVIELENS_DIR` is not set; CI sets it).

mod common;

use cipherscale::data::{examples, MovieLens, Pool, Split};
use cipherscale::model::{evaluate, fit_tuned, Popularity, QuantizedModel};
use cipherscale::spec;
use cipherscale::stats::Summary;

#[test]
fn float_model_beats_popularity_and_8_bits_stays_within_0_2_points() {
    let Some(dir) = common::real_data() else {
        eprintln!("skipped: MOVIELENS_DIR is not set");
        return;
    };
    let spec = spec::load(&common::repo().join("experiments/paper.yaml"), false).unwrap();
    let data = MovieLens::load(&dir, spec.data.dataset).unwrap();
    let pool = Pool::most_rated(&data, spec.data.movies).unwrap();
    let users = examples::liked_sets(&data, &pool, &spec.data);
    let (mut margins, mut gaps_8) = (Vec::new(), Vec::new());
    for seed in [7, 8, 9] {
        let split = Split::by_user(&users, spec.data.test_fraction, seed).unwrap();
        let tuned = fit_tuned(&split.train_users, pool.len(), &spec.model, seed).unwrap();
        let float = evaluate(&tuned.model, &split.test).hit_at_1;
        let popularity = evaluate(
            &Popularity::fit(&split.train_users, pool.len()),
            &split.test,
        )
        .hit_at_1;
        let eight = evaluate(&QuantizedModel::quantize(&tuned.model, 8), &split.test).hit_at_1;
        eprintln!("seed {seed}: float {float:.4}, popularity {popularity:.4}, 8-bit {eight:.4}");
        assert!(
            float > popularity + 0.03,
            "seed {seed}: float {float} vs popularity {popularity}"
        );
        margins.push(float - popularity);
        gaps_8.push(eight - float);
    }
    let margin = Summary::of(margins);
    assert!(margin.mean > 0.05, "mean margin {margin:?}");
    let gap = Summary::of(gaps_8);
    assert!(
        gap.mean.abs() <= 0.002,
        "8-bit minus float, mean over seeds: {gap:?}"
    );
}
