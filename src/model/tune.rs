//! Choosing the L2 penalty on a validation split of the training users (never the test users).

use super::ModelSpec;
use super::{evaluate, train, FloatModel};
use crate::data::{Split, UserLikes};

/// Added to the split seed so the validation split differs from the test split.
const VALIDATION_SEED_OFFSET: u64 = 0x5EED;

/// The fitted model and how its penalty was chosen.
#[derive(Debug, Clone)]
pub struct Tuned {
    pub model: FloatModel,
    pub l2: f64,
    /// Validation hit@1 of each candidate, in spec order (empty with a single candidate).
    pub validation_hit_at_1: Vec<(f64, f64)>,
}

/// Picks the candidate `l2` with the best validation hit@1 (ties to the earlier candidate),
/// then refits on all of `train_users`.
pub fn fit_tuned(
    train_users: &[UserLikes],
    movies: usize,
    spec: &ModelSpec,
    seed: u64,
) -> anyhow::Result<Tuned> {
    let all_train: Vec<_> = train_users
        .iter()
        .flat_map(crate::data::examples::leave_one_out)
        .collect();
    let mut scores = Vec::new();
    let mut best = spec.l2[0];
    if spec.l2.len() > 1 {
        let inner = Split::by_user(
            train_users,
            spec.validation_fraction,
            seed + VALIDATION_SEED_OFFSET,
        )?;
        let mut best_hit = f64::NEG_INFINITY;
        for &l2 in &spec.l2 {
            let model = train(&inner.train, movies, l2, spec.max_iterations)?;
            let hit = evaluate(&model, &inner.test).hit_at_1;
            tracing::debug!("seed {seed}: l2 {l2} validation hit@1 {hit:.4}");
            scores.push((l2, hit));
            if hit > best_hit {
                (best, best_hit) = (l2, hit);
            }
        }
    }
    Ok(Tuned {
        model: train(&all_train, movies, best, spec.max_iterations)?,
        l2: best,
        validation_hit_at_1: scores,
    })
}
