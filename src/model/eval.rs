//! hit@k on held-out examples, and the popularity baseline.

use super::Recommender;
use crate::data::{Example, UserLikes};

/// hit@1 and hit@5 of one model on one set of examples.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Evaluation {
    pub hit_at_1: f64,
    pub hit_at_5: f64,
    pub examples: usize,
}

/// The fraction of examples whose hidden movie is the top pick, and among the top five.
pub fn evaluate(model: &dyn Recommender, examples: &[Example]) -> Evaluation {
    let (mut hits_1, mut hits_5) = (0usize, 0usize);
    for example in examples {
        let top = model.top_k(example, 5);
        hits_1 += usize::from(top.first() == Some(&example.label));
        hits_5 += usize::from(top.contains(&example.label));
    }
    let n = examples.len().max(1) as f64;
    Evaluation {
        hit_at_1: hits_1 as f64 / n,
        hit_at_5: hits_5 as f64 / n,
        examples: examples.len(),
    }
}

/// Recommends the movies most liked by training users, skipping those the user already likes.
#[derive(Debug, Clone, PartialEq)]
pub struct Popularity {
    /// Pool indices, most liked first (ties to the lower index).
    pub ranking: Vec<usize>,
}

impl Popularity {
    pub fn fit(train_users: &[UserLikes], movies: usize) -> Self {
        let mut likes = vec![0usize; movies];
        for movie in train_users.iter().flat_map(|u| &u.liked) {
            likes[*movie] += 1;
        }
        Self {
            ranking: super::top_k_by_score(&likes, movies),
        }
    }
}

impl Recommender for Popularity {
    fn top_k(&self, example: &Example, k: usize) -> Vec<usize> {
        self.ranking
            .iter()
            .copied()
            .filter(|m| example.liked.binary_search(m).is_err())
            .take(k)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn popularity_skips_liked_movies_and_counts_hits() {
        let users = vec![
            UserLikes {
                user: 1,
                liked: vec![0, 2],
            },
            UserLikes {
                user: 2,
                liked: vec![2],
            },
        ];
        let pop = Popularity::fit(&users, 3);
        assert_eq!(pop.ranking, vec![2, 0, 1]);
        let hit = Example {
            user: 9,
            liked: vec![2],
            label: 0,
        };
        let miss = Example {
            user: 9,
            liked: vec![],
            label: 1,
        };
        assert_eq!(pop.top_k(&hit, 5), vec![0, 1]);
        let eval = evaluate(&pop, &[hit, miss]);
        assert_eq!((eval.hit_at_1, eval.hit_at_5, eval.examples), (0.5, 1.0, 2));
    }
}
