//! The recommendation task: the N most-rated movies, each user's liked set among them,
//! leave-one-out examples, and a seeded split by user (no user is in both halves).

use std::collections::{BTreeMap, BTreeSet};

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::DataSpec;
use super::{DataError, MovieLens};

/// The movie pool: index `i` is the `i`-th most-rated movie (ties by lower movieId).
#[derive(Debug, Clone, PartialEq)]
pub struct Pool {
    pub movie_ids: Vec<u32>,
    pub titles: Vec<String>,
    pub rating_counts: Vec<usize>,
}

impl Pool {
    /// The `n` most-rated movies.
    pub fn most_rated(data: &MovieLens, n: usize) -> Result<Self, DataError> {
        let mut counts: BTreeMap<u32, usize> = BTreeMap::new();
        for rating in &data.ratings {
            *counts.entry(rating.movie).or_default() += 1;
        }
        if counts.len() < n {
            return Err(DataError::TooFew(format!(
                "{} movies have ratings, data.movies asks for {n}",
                counts.len()
            )));
        }
        let mut ranked: Vec<(u32, usize)> = counts.into_iter().collect();
        ranked.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        ranked.truncate(n);
        Ok(Self {
            titles: ranked
                .iter()
                .map(|(id, _)| data.titles[id].clone())
                .collect(),
            movie_ids: ranked.iter().map(|(id, _)| *id).collect(),
            rating_counts: ranked.iter().map(|(_, count)| *count).collect(),
        })
    }

    pub fn len(&self) -> usize {
        self.movie_ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.movie_ids.is_empty()
    }
}

/// One user's liked movies among the pool, as sorted pool indices.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserLikes {
    pub user: u32,
    pub liked: Vec<usize>,
}

/// Every user with at least `min_liked` liked movies in the pool, sorted by user id.
pub fn liked_sets(data: &MovieLens, pool: &Pool, spec: &DataSpec) -> Vec<UserLikes> {
    let index: BTreeMap<u32, usize> = pool
        .movie_ids
        .iter()
        .enumerate()
        .map(|(i, id)| (*id, i))
        .collect();
    let mut liked: BTreeMap<u32, BTreeSet<usize>> = BTreeMap::new();
    for rating in data
        .ratings
        .iter()
        .filter(|r| r.stars >= spec.liked_threshold)
    {
        if let Some(&movie) = index.get(&rating.movie) {
            liked.entry(rating.user).or_default().insert(movie);
        }
    }
    liked
        .into_iter()
        .filter(|(_, movies)| movies.len() >= spec.min_liked)
        .map(|(user, movies)| UserLikes {
            user,
            liked: movies.into_iter().collect(),
        })
        .collect()
}

/// A leave-one-out example: the user's other liked movies, and the one hidden from them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Example {
    pub user: u32,
    /// Sorted pool indices of the liked movies shown to the model.
    pub liked: Vec<usize>,
    /// Pool index of the hidden liked movie: the one to recommend.
    pub label: usize,
}

impl Example {
    /// The 0/1 input vector over a pool of `n` movies.
    pub fn indicator(&self, n: usize) -> Vec<u8> {
        let mut x = vec![0u8; n];
        for &movie in &self.liked {
            x[movie] = 1;
        }
        x
    }
}

/// Every leave-one-out example of one user.
pub fn leave_one_out(user: &UserLikes) -> impl Iterator<Item = Example> + '_ {
    user.liked.iter().map(move |&hidden| Example {
        user: user.user,
        liked: user
            .liked
            .iter()
            .copied()
            .filter(|&m| m != hidden)
            .collect(),
        label: hidden,
    })
}

/// Users and examples on each side of a seeded split by user.
#[derive(Debug, Clone, PartialEq)]
pub struct Split {
    pub seed: u64,
    pub train_users: Vec<UserLikes>,
    pub test_users: Vec<UserLikes>,
    pub train: Vec<Example>,
    pub test: Vec<Example>,
}

impl Split {
    /// Shuffles `users` with `seed` and holds out `test_fraction` of them (at least one each side).
    pub fn by_user(users: &[UserLikes], test_fraction: f64, seed: u64) -> Result<Self, DataError> {
        if users.len() < 2 {
            return Err(DataError::TooFew(format!(
                "{} eligible users; a split needs at least 2 (lower data.min_liked or raise data.movies)",
                users.len()
            )));
        }
        let mut order: Vec<&UserLikes> = users.iter().collect();
        order.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
        let n_test =
            ((users.len() as f64 * test_fraction).round() as usize).clamp(1, users.len() - 1);
        let (test, train) = order.split_at(n_test);
        let sorted = |side: &[&UserLikes]| {
            let mut side: Vec<UserLikes> = side.iter().map(|u| (*u).clone()).collect();
            side.sort_by_key(|u| u.user);
            side
        };
        let (train_users, test_users) = (sorted(train), sorted(test));
        Ok(Self {
            seed,
            train: train_users.iter().flat_map(leave_one_out).collect(),
            test: test_users.iter().flat_map(leave_one_out).collect(),
            train_users,
            test_users,
        })
    }
}
