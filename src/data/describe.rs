//! What `cipherscale data` prints: the dataset's size, the movie pool and the split.

use anyhow::Context;

use super::{DataLocator, DataSpec, MovieLens, Pool, Split, UserLikes};
use crate::output::Table;

/// The dataset under `locator` as `spec` reads it: counts, the split at `seed`, and a table of
/// the movie pool with how many users like each movie.
pub fn describe(
    locator: &DataLocator,
    spec: &DataSpec,
    seed: u64,
) -> anyhow::Result<(String, Table)> {
    let dir = locator.resolve()?;
    let movielens = MovieLens::load(&dir, spec.dataset)?;
    let pool = Pool::most_rated(&movielens, spec.movies)?;
    let users = super::examples::liked_sets(&movielens, &pool, spec);
    let split = Split::by_user(&users, spec.test_fraction, seed).context("splitting users")?;
    let summary = format!(
        "data directory  {}\nusers           {}\nmovies          {}\nratings         {}\n\
         pool            {} most-rated movies; liked = rating >= {}\n\
         eligible users  {} (>= {} liked in the pool)\n\
         split (seed {seed})  train {} users / {} examples; test {} users / {} examples\n",
        dir.display(),
        movielens.user_count(),
        movielens.titles.len(),
        movielens.ratings.len(),
        pool.len(),
        spec.liked_threshold,
        users.len(),
        spec.min_liked,
        split.train_users.len(),
        split.train.len(),
        split.test_users.len(),
        split.test.len()
    );
    Ok((summary, pool_table(&pool, &users)))
}

fn pool_table(pool: &Pool, users: &[UserLikes]) -> Table {
    let mut liked = vec![0usize; pool.len()];
    for movie in users.iter().flat_map(|u| &u.liked) {
        liked[*movie] += 1;
    }
    let mut table = Table::new(&["rank", "movieId", "ratings", "liked by", "title"]).align_left(4);
    for (i, title) in pool.titles.iter().enumerate() {
        table.row(vec![
            (i + 1).to_string(),
            pool.movie_ids[i].to_string(),
            pool.rating_counts[i].to_string(),
            liked[i].to_string(),
            title.clone(),
        ]);
    }
    table
}
