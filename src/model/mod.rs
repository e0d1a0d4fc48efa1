//! The recommender: multinomial logistic regression over the movie pool, its signed b-bit
//! quantization, a popularity baseline, and hit@k evaluation.
//!
//! Every model ranks the pool by a score per movie, skipping the movies the user already likes
//! (as the popularity baseline does: recommending a liked movie is never a hit); ties go to the
//! lower pool index, the one deterministic rule that the FHE circuits reproduce.

pub mod config;
mod eval;
mod logistic;
mod quantize;
mod tune;

pub use config::{ModelKind, ModelSpec};
pub use eval::{evaluate, Evaluation, Popularity};
pub use logistic::{train, FloatModel};
pub use quantize::QuantizedModel;
pub use tune::{fit_tuned, Tuned};

use crate::data::Example;

/// Anything that ranks the movie pool for an example's liked set.
pub trait Recommender {
    /// The `k` best pool indices, best first.
    fn top_k(&self, example: &Example, k: usize) -> Vec<usize>;
}

/// Pool indices of the `k` highest scores, best first; ties go to the lower index.
pub fn top_k_by_score<T: PartialOrd + Copy>(scores: &[T], k: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| {
        scores[b]
            .partial_cmp(&scores[a])
            .unwrap_or(std::cmp::Ordering::Equal)
            .then(a.cmp(&b))
    });
    order.truncate(k);
    order
}

/// [`top_k_by_score`] over the movies not in `liked` (sorted pool indices).
pub fn top_unliked<T: PartialOrd + Copy>(scores: &[T], liked: &[usize], k: usize) -> Vec<usize> {
    let mut order = top_k_by_score(scores, scores.len());
    order.retain(|i| liked.binary_search(i).is_err());
    order.truncate(k);
    order
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ties_go_to_the_lower_index() {
        assert_eq!(top_k_by_score(&[1, 3, 3, 2], 3), vec![1, 2, 3]);
        assert_eq!(top_k_by_score(&[0.5, 0.5], 1), vec![0]);
        assert_eq!(top_k_by_score(&[2i32], 5), vec![0]);
        assert_eq!(top_unliked(&[1, 3, 3, 2], &[1, 3], 3), vec![2, 0]);
        assert_eq!(top_unliked(&[5, 4], &[0, 1], 1), Vec::<usize>::new());
    }
}
