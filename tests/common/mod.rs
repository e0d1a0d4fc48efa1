//! Shared helpers for the integration tests: a small MovieLens-format fixture and the real data.

#![allow(dead_code)]

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Movies of the fixture: ids 10, 20, ..., 120, titles with the commas and quotes real ones have.
pub const FIXTURE_MOVIES: usize = 12;
pub const FIXTURE_USERS: u32 = 40;

/// Writes `movies.csv` and `ratings.csv` into `dir`. Users form two taste groups (even and odd
/// ids) that each like a different half of the movies, so a model can learn something.
pub fn write_fixture(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    let mut movies = String::from("movieId,title,genres\n");
    for i in 1..=FIXTURE_MOVIES {
        let title = match i {
            1 => "\"American President, The (1995)\"".to_string(),
            2 => "\"Movie \"\"Quoted\"\" (2001)\"".to_string(),
            _ => format!("Movie {i} (19{:02})", 70 + i),
        };
        writeln!(movies, "{},{title},Drama|Comedy", i * 10).unwrap();
    }
    std::fs::write(dir.join("movies.csv"), movies).unwrap();
    let mut ratings = String::from("userId,movieId,rating,timestamp\n");
    for user in 1..=FIXTURE_USERS {
        for movie in 1..=FIXTURE_MOVIES as u32 {
            if (user + movie) % 5 == 0 {
                continue; // not everyone rates everything
            }
            let liked_group = movie % 2 == user % 2;
            let stars = if liked_group { 4.5 } else { 2.0 };
            writeln!(
                ratings,
                "{user},{},{stars:.1},{}",
                movie * 10,
                1_000_000 + user
            )
            .unwrap();
        }
    }
    std::fs::write(dir.join("ratings.csv"), ratings).unwrap();
}

/// The real ml-latest-small, when `MOVIELENS_DIR` points to it (CI sets it).
pub fn real_data() -> Option<PathBuf> {
    let dir = PathBuf::from(std::env::var_os("MOVIELENS_DIR")?);
    if dir.join("ratings.csv").is_file() {
        Some(dir)
    } else {
        eprintln!("MOVIELENS_DIR={} has no ratings.csv", dir.display());
        None
    }
}

/// The repository root, where `experiments/` is: the checkout `cargo test` runs in (it sets
/// `CARGO_MANIFEST_DIR` at run time), not the one the binary was compiled in, because one shared
/// target directory may hold binaries built from another clone of the same sources.
pub fn repo() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from)
}

/// Whether process `pid` is still running (not gone, not a zombie).
pub fn running(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        !stat
            .rsplit(')')
            .next()
            .unwrap_or("")
            .trim_start()
            .starts_with('Z')
    })
}
