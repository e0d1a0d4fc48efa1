//! The FHE circuits: exact against the quantized plaintext model, and every kind of malformed
//! message gives a typed error, never a panic.

use cipherscale::data::Example;
use cipherscale::fhe::argmax::{Design, GlweArgmax};
use cipherscale::fhe::glwe::GlwePacked;
use cipherscale::fhe::integer::Integer;
use cipherscale::fhe::lwe::Lwe;
use cipherscale::fhe::wire::{self, WireError};
use cipherscale::fhe::{Circuit, Shape, MAX_REQUEST_BYTES};
use cipherscale::model::{FloatModel, Popularity, QuantizedModel, Recommender};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn random_model(movies: usize, seed: u64) -> FloatModel {
    FloatModel::random(movies, seed)
}

fn random_liked(movies: usize, rng: &mut ChaCha8Rng) -> Vec<usize> {
    (0..movies).filter(|_| rng.random_bool(0.3)).collect()
}

/// Every output of `samples` random liked sets (including none and all) decrypts exactly to
/// what the plaintext model gives (the scores, or the top index for a private-output circuit).
fn assert_exact<C: Circuit>(model: &QuantizedModel, samples: usize) {
    let circuit = C::plan(&Shape::of(model)).unwrap();
    let (key, eval_key) = circuit.keygen();
    let server = circuit.server(model, &eval_key).unwrap();
    let movies = model.bias.len();
    let mut rng = ChaCha8Rng::seed_from_u64(u64::from(model.bits));
    let mut cases = vec![vec![], (0..model.weights[0].len()).collect()];
    cases.extend((0..samples).map(|_| random_liked(model.weights[0].len(), &mut rng)));
    for liked in cases {
        let response = C::eval(&server, &circuit.encrypt(&key, &liked)).unwrap();
        let scores = circuit.decrypt(&key, &response).unwrap();
        assert_eq!(
            scores,
            C::expected(model, &liked),
            "{} bits, {movies} movies, liked {liked:?}",
            model.bits
        );
    }
}

#[test]
fn glwe_packed_is_exact_at_every_width() {
    let float = random_model(50, 1);
    for bits in 2..=8 {
        assert_exact::<GlwePacked>(&QuantizedModel::quantize(&float, bits), 10);
    }
}

#[test]
fn lwe_is_exact_at_every_width() {
    let float = random_model(50, 2);
    for bits in 2..=8 {
        assert_exact::<Lwe>(&QuantizedModel::quantize(&float, bits), 5);
    }
}

#[test]
fn glwe_packed_handles_pools_that_need_one_or_several_products() {
    for movies in [3, 40, 64, 100] {
        assert_exact::<GlwePacked>(&QuantizedModel::quantize(&random_model(movies, 3), 8), 3);
    }
}

#[test]
fn integer_baseline_is_exact_on_a_reduced_model() {
    let model = QuantizedModel::quantize(&random_model(50, 4), 8).restrict(2, 1);
    assert_exact::<Integer>(&model, 1);
}

/// Feeds every malformed variant of a valid message to `open` and checks the error kind.
#[test]
fn glwe_argmax_returns_the_plaintext_answer_at_every_width() {
    // Every digit layout of the radix design: none, one single bit, one pair, a single bit and a
    // pair (the merged first comparison), two pairs. A sparse model: a dense one rounds to
    // all-zero weights at low widths, and a zero mask would not exercise the bootstraps.
    let float = FloatModel::sparse_random(50, 3);
    for p in 2..=6 {
        let model = QuantizedModel::quantize_scores(&float, p);
        assert!(model.weights.iter().flatten().filter(|&&w| w != 0).count() >= 50);
        assert_exact::<GlweArgmax>(&model, 1);
    }
}

#[test]
fn the_wide_design_returns_the_plaintext_top_index_with_one_or_two_tables_per_match() {
    // p = 2 plays each match with one many-LUT bootstrap, p = 3 with two, on the same set.
    let float = FloatModel::sparse_random(50, 3);
    for p in [2, 3] {
        let model = QuantizedModel::quantize_scores(&float, p);
        let circuit = GlweArgmax::plan_design(&Shape::of(&model), Design::Wide).unwrap();
        assert_eq!(circuit.design(), Design::Wide);
        let (key, eval_key) = circuit.keygen();
        let server = circuit.server(&model, &eval_key).unwrap();
        for liked in [vec![], vec![1, 4, 9, 30]] {
            let response = GlweArgmax::eval(&server, &circuit.encrypt(&key, &liked)).unwrap();
            assert_eq!(
                circuit.decrypt(&key, &response).unwrap(),
                circuit.answer(&model, &liked),
                "p = {p}, liked {liked:?}"
            );
        }
    }
}

/// A pool where liking a movie makes it the best-scoring one: movie `i` is strongly associated
/// with itself, and movie 4 with movie 2 a little less.
fn self_loving_model() -> FloatModel {
    let mut float = FloatModel::sparse_random(8, 9);
    for (i, row) in float.weights.iter_mut().enumerate() {
        row.iter_mut().for_each(|w| *w = 0.0);
        row[i] = 3.0;
    }
    float.weights[4][2] = 2.0;
    float.bias.iter_mut().for_each(|b| *b = 0.0);
    float
}

#[test]
fn a_liked_movie_with_the_highest_score_is_never_recommended() {
    let float = self_loving_model();
    let liked = [2usize];
    let example = Example {
        user: 1,
        liked: liked.to_vec(),
        label: 4,
    };
    assert_eq!(
        float.scores(&liked)[2],
        3.0,
        "the liked movie scores highest"
    );
    assert_eq!(float.top_k(&example, 1), [4]);
    let popularity = Popularity {
        ranking: vec![2, 4, 0],
    };
    assert_eq!(popularity.top_k(&example, 1), [4]);
    for bits in [3, 8] {
        let model = QuantizedModel::quantize(&float, bits);
        assert_eq!(model.top_k(&example, 2)[0], 4, "{bits} bits");
        assert!(!model.top_k(&example, 8).contains(&2));
        assert_eq!(top_pick_encrypted::<GlwePacked>(&model, &liked), Some(4));
        assert_eq!(top_pick_encrypted::<Lwe>(&model, &liked), Some(4));
    }
    let scores = QuantizedModel::quantize_scores(&float, 3);
    assert_eq!(top_pick_encrypted::<GlweArgmax>(&scores, &liked), Some(4));
    // The wide design has no room to key liked movies down: it returns the liked one.
    let wide = GlweArgmax::plan_design(&Shape::of(&scores), Design::Wide).unwrap();
    assert_eq!(wide.answer(&scores, &liked), [2]);
}

/// The movie a circuit's client picks for `liked` after a real round trip.
fn top_pick_encrypted<C: Circuit>(model: &QuantizedModel, liked: &[usize]) -> Option<usize> {
    let circuit = C::plan(&Shape::of(model)).unwrap();
    let (key, eval_key) = circuit.keygen();
    let server = circuit.server(model, &eval_key).unwrap();
    let response = C::eval(&server, &circuit.encrypt(&key, liked)).unwrap();
    C::top_pick(&circuit.decrypt(&key, &response).unwrap(), liked)
}

#[test]
fn glwe_argmax_breaks_ties_towards_the_lower_index_and_handles_odd_pools() {
    let flat = FloatModel {
        weights: vec![vec![0.0; 7]; 7],
        bias: vec![0.0; 7],
    };
    let model = QuantizedModel::quantize_scores(&flat, 2);
    assert_exact::<GlweArgmax>(&model, 0);
    assert_exact::<GlweArgmax>(
        &QuantizedModel::quantize_scores(&FloatModel::sparse_random(7, 4), 2),
        3,
    );
}

#[test]
fn glwe_argmax_refuses_scores_wider_than_its_sets() {
    let float = random_model(10, 5);
    assert!(GlweArgmax::plan(&Shape::of(&QuantizedModel::quantize_scores(&float, 7))).is_err());
    assert!(GlweArgmax::plan(&Shape::of(&QuantizedModel::quantize(&float, 8))).is_err());
}

#[test]
fn glwe_argmax_rejects_malformed_keys_and_messages() {
    let float = random_model(6, 6);
    let model = QuantizedModel::quantize_scores(&float, 2);
    let circuit = GlweArgmax::plan(&Shape::of(&model)).unwrap();
    let (key, eval_key) = circuit.keygen();
    assert_rejects_bad_keys(&circuit, &model, &eval_key);
    // A key made for 3-bit scores (same tfhe set, other circuit) is refused by its stamp.
    let other = GlweArgmax::plan(&Shape::of(&QuantizedModel::quantize_scores(&float, 3))).unwrap();
    let (_, other_key) = other.keygen();
    assert!(matches!(
        circuit.server(&model, &other_key),
        Err(WireError::WrongParameters { .. })
    ));
    let server = circuit.server(&model, &eval_key).unwrap();
    let request = circuit.encrypt(&key, &[0, 2]);
    assert_rejects_malformed(&request, |bytes| {
        GlweArgmax::eval(&server, bytes).map(|_| vec![])
    });
    let response = GlweArgmax::eval(&server, &request).unwrap();
    assert_rejects_malformed(&response, |bytes| circuit.decrypt(&key, bytes));
    assert!(matches!(
        GlweArgmax::eval(&server, &response),
        Err(WireError::WrongKind { .. })
    ));
}

/// Truncated, garbage and huge-length keys are refused; a flipped byte must not panic.
fn assert_rejects_bad_keys<C: Circuit>(circuit: &C, model: &QuantizedModel, eval_key: &[u8]) {
    assert!(circuit
        .server(model, &eval_key[..eval_key.len() / 2])
        .is_err());
    let mut flipped = eval_key.to_vec();
    let middle = flipped.len() / 2;
    flipped[middle] ^= 0xff;
    let _ = circuit.server(model, &flipped); // a flipped byte may still parse
    assert!(matches!(
        circuit.server(model, b"garbage"),
        Err(WireError::Truncated(_) | WireError::BadMagic)
    ));
    let mut huge_length = eval_key.to_vec();
    huge_length[wire::HEADER_BYTES..wire::HEADER_BYTES + 8].fill(0xff);
    assert!(circuit.server(model, &huge_length).is_err());
}

fn assert_rejects_malformed(valid: &[u8], open: impl Fn(&[u8]) -> Result<Vec<i64>, WireError>) {
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    let truncated = &valid[..valid.len() - 1];
    assert!(matches!(
        open(truncated),
        Err(WireError::Truncated(_) | WireError::Malformed(_))
    ));
    assert!(matches!(open(&valid[..10]), Err(WireError::Truncated(_))));
    assert!(matches!(open(&[]), Err(WireError::Truncated(_))));
    let mut version = valid.to_vec();
    version[4] ^= 0x7f;
    assert!(matches!(open(&version), Err(WireError::Version { .. })));
    let mut params = valid.to_vec();
    params[8] ^= 1;
    assert!(matches!(
        open(&params),
        Err(WireError::WrongParameters { .. })
    ));
    let mut grown = valid.to_vec();
    grown.extend_from_slice(&[0; 8]);
    assert!(open(&grown).is_err(), "trailing bytes");
    for _ in 0..20 {
        let length = rng.random_range(0..2 * valid.len());
        let noise: Vec<u8> = (0..length).map(|_| rng.random()).collect();
        assert!(matches!(
            open(&noise),
            Err(WireError::BadMagic | WireError::Truncated(_))
        ));
        let mut header_kept = valid[..wire::HEADER_BYTES].to_vec();
        header_kept.extend(&noise);
        assert!(open(&header_kept).is_err());
    }
}

fn malformed_requests_and_responses<C: Circuit>(model: &QuantizedModel) {
    let circuit = C::plan(&Shape::of(model)).unwrap();
    let (key, eval_key) = circuit.keygen();
    let server = circuit.server(model, &eval_key).unwrap();
    let request = circuit.encrypt(&key, &[0, 1]);
    assert_rejects_malformed(&request, |bytes| C::eval(&server, bytes).map(|_| vec![]));
    let response = C::eval(&server, &request).unwrap();
    assert_rejects_malformed(&response, |bytes| circuit.decrypt(&key, bytes));
    let oversized = vec![0u8; MAX_REQUEST_BYTES + 1];
    assert!(matches!(
        C::eval(&server, &oversized),
        Err(WireError::TooLarge { .. })
    ));
    // A request for a circuit at another width carries other parameters.
    let other = C::plan(&Shape::of(&QuantizedModel::quantize(
        &random_model(model.bias.len(), 5),
        if model.bits == 8 { 4 } else { 8 },
    )))
    .unwrap();
    let (other_key, _) = other.keygen();
    let foreign = other.encrypt(&other_key, &[0]);
    assert!(matches!(
        C::eval(&server, &foreign),
        Err(WireError::WrongParameters { .. })
    ));
    // A response is not a request.
    assert!(matches!(
        C::eval(&server, &response),
        Err(WireError::WrongKind { .. })
    ));
}

#[test]
fn glwe_packed_rejects_malformed_messages() {
    malformed_requests_and_responses::<GlwePacked>(&QuantizedModel::quantize(
        &random_model(50, 6),
        8,
    ));
}

#[test]
fn lwe_rejects_malformed_messages() {
    malformed_requests_and_responses::<Lwe>(&QuantizedModel::quantize(&random_model(50, 7), 6));
}

#[test]
fn requests_from_another_pipeline_are_refused() {
    let model = QuantizedModel::quantize(&random_model(50, 8), 8);
    let glwe = GlwePacked::plan(&Shape::of(&model)).unwrap();
    let lwe = Lwe::plan(&Shape::of(&model)).unwrap();
    let (key, _) = glwe.keygen();
    let server = lwe.server(&model, &[]).unwrap();
    assert!(matches!(
        Lwe::eval(&server, &glwe.encrypt(&key, &[1])),
        Err(WireError::WrongPipeline { .. })
    ));
}

#[test]
fn integer_rejects_malformed_keys_and_requests() {
    let model = QuantizedModel::quantize(&random_model(50, 9), 8).restrict(2, 1);
    let circuit = Integer::plan(&Shape::of(&model)).unwrap();
    let (key, eval_key) = circuit.keygen();
    assert_rejects_bad_keys(&circuit, &model, &eval_key);
    let server = circuit.server(&model, &eval_key).unwrap();
    let request = circuit.encrypt(&key, &[1]);
    assert!(Integer::eval(&server, &request[..request.len() - 3]).is_err());
    let mut wrong_count = request.clone();
    wrong_count[wire::HEADER_BYTES] = 7;
    assert!(matches!(
        Integer::eval(&server, &wrong_count),
        Err(WireError::Malformed(_))
    ));
    let mut corrupted = request.clone();
    let at = wire::HEADER_BYTES + 40;
    corrupted[at] ^= 0xff;
    let _ = Integer::eval(&server, &corrupted); // must not panic; any error is fine
}
