//! MovieLens ratings and the recommendation task built on them.
//!
//! - [`source`]: where the data directory is (`--data`, `MOVIELENS_DIR`, `data/`, download).
//! - [`movielens`]: loading and validating `ratings.csv` and `movies.csv`.
//! - [`examples`]: the movie pool, liked sets, leave-one-out examples and the per-user split.

mod config;
mod describe;
pub mod examples;
pub mod movielens;
pub mod source;

pub use config::{DataSpec, DatasetKind};
pub use describe::describe;
pub use examples::{Example, Pool, Split, UserLikes};
pub use movielens::{MovieLens, Rating};
pub use source::{DataArgs, DataLocator};

use std::path::PathBuf;

/// Why the data could not be found, read or used. Each message names the path (and line) to fix.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("MovieLens data not found; tried:\n{}\n  download: {download}\n  hint: pass --data DIR or set MOVIELENS_DIR to a folder holding ratings.csv and movies.csv", list_tried(tried))]
    NotFound {
        tried: Vec<(PathBuf, String)>,
        /// What became of the download attempt.
        download: String,
    },
    #[error("cannot read {}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: header is {found:?}, expected {expected:?}", file.display())]
    Header {
        file: PathBuf,
        expected: Vec<String>,
        found: Vec<String>,
    },
    #[error("{}:{line}: {problem}", file.display())]
    Malformed {
        file: PathBuf,
        line: u64,
        problem: String,
    },
    #[error("{}: {what} is {found}, but ml-latest-small has {expected}\n  hint: use an unmodified copy, or set data.dataset: movielens-csv for another MovieLens-format folder", dir.display())]
    Counts {
        dir: PathBuf,
        what: &'static str,
        expected: usize,
        found: usize,
    },
    #[error("download of {url} failed: {problem}")]
    Download { url: String, problem: String },
    #[error("the data gives too few examples: {0}")]
    TooFew(String),
}

fn list_tried(tried: &[(PathBuf, String)]) -> String {
    tried
        .iter()
        .map(|(path, why)| format!("  - {}: {why}", path.display()))
        .collect::<Vec<_>>()
        .join("\n")
}
