//! Plaintext multinomial logistic regression, fitted with linfa's L-BFGS.

use anyhow::{ensure, Context};
use linfa::traits::Fit;
use linfa_logistic::MultiLogisticRegression;
use ndarray::{Array1, Array2};

use super::{top_unliked, Recommender};
use crate::data::Example;

/// Float weights, `weights[class][feature]`, and one bias per class.
#[derive(Debug, Clone, PartialEq)]
pub struct FloatModel {
    pub weights: Vec<Vec<f64>>,
    pub bias: Vec<f64>,
}

impl FloatModel {
    /// One score per movie for a liked set (inputs are 0/1, so a sum of weight columns).
    pub fn scores(&self, liked: &[usize]) -> Vec<f64> {
        self.weights
            .iter()
            .zip(&self.bias)
            .map(|(row, bias)| bias + liked.iter().map(|&j| row[j]).sum::<f64>())
            .collect()
    }

    pub fn movies(&self) -> usize {
        self.bias.len()
    }

    /// A seeded model with heavy-tailed weights (cubes of uniform draws, up to +-4), so that
    /// quantization uses its whole range: for benchmarks and tests that need no data.
    pub fn random(movies: usize, seed: u64) -> Self {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let mut weight = move || 4.0 * rng.random_range(-1.0f64..1.0).powi(3);
        Self {
            weights: (0..movies)
                .map(|_| (0..movies).map(|_| weight()).collect())
                .collect(),
            bias: (0..movies).map(|_| weight()).collect(),
        }
    }

    /// A seeded model in which each movie has one strong association (a weight of 2 to 4 on
    /// one random movie) and a bias within +-1: quantized to a few score bits, a dense random
    /// model rounds every weight to zero, and a product with zero weights has a zero mask, which
    /// the bootstrap skips (its cost would not be the circuit's). For benchmarks.
    pub fn sparse_random(movies: usize, seed: u64) -> Self {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let mut weights = vec![vec![0.0; movies]; movies];
        for row in &mut weights {
            row[rng.random_range(0..movies)] = rng.random_range(2.0..4.0);
        }
        Self {
            weights,
            bias: (0..movies).map(|_| rng.random_range(-1.0..1.0)).collect(),
        }
    }
}

impl Recommender for FloatModel {
    fn top_k(&self, example: &Example, k: usize) -> Vec<usize> {
        top_unliked(&self.scores(&example.liked), &example.liked, k)
    }
}

/// Fits the model on `examples` over a pool of `movies` with L2 penalty `l2`. A movie that is
/// never a label gets zero weights and the lowest fitted bias, so it ranks below every other.
pub fn train(
    examples: &[Example],
    movies: usize,
    l2: f64,
    max_iterations: u64,
) -> anyhow::Result<FloatModel> {
    ensure!(!examples.is_empty(), "no training examples");
    let features = Array2::from_shape_fn((examples.len(), movies), |(i, j)| {
        f64::from(examples[i].liked.binary_search(&j).is_ok())
    });
    let labels: Array1<usize> = examples.iter().map(|e| e.label).collect();
    let fitted = MultiLogisticRegression::default()
        .alpha(l2)
        .max_iterations(max_iterations)
        .fit(&linfa::Dataset::new(features, labels))
        .with_context(|| format!("fitting the logistic regression (l2 = {l2})"))?;
    let (params, intercept) = (fitted.params(), fitted.intercept());
    let lowest_bias = intercept.iter().copied().fold(f64::INFINITY, f64::min);
    let mut model = FloatModel {
        weights: vec![vec![0.0; movies]; movies],
        bias: vec![lowest_bias; movies],
    };
    for (column, &class) in fitted.classes().iter().enumerate() {
        model.bias[class] = intercept[column];
        for feature in 0..movies {
            model.weights[class][feature] = params[[feature, column]];
        }
    }
    Ok(model)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Liking movie 0 always hides movie 1 and the reverse: the model must learn the pairing.
    #[test]
    fn learns_a_deterministic_pairing() {
        let example = |liked: usize, label: usize| Example {
            user: 0,
            liked: vec![liked],
            label,
        };
        let examples: Vec<Example> = (0..20)
            .flat_map(|_| [example(0, 1), example(1, 0), example(2, 0)])
            .collect();
        let model = train(&examples, 3, 1.0, 100).unwrap();
        assert_eq!(model.top_k(&example(0, 1), 1), vec![1]);
        assert_eq!(model.top_k(&example(1, 0), 1), vec![0]);
        // Movie 2 is never a label: it gets the lowest bias and zero weights.
        assert_eq!(model.weights[2], vec![0.0; 3]);
        assert!(model.bias[2] <= model.bias[0].min(model.bias[1]));
    }
}
