//! The `data:` section of a spec: which ratings to load and how they become examples.

use serde::{Deserialize, Serialize};

/// Which ratings to load and how to turn them into recommendation examples.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct DataSpec {
    pub dataset: DatasetKind,
    /// Pool size: the N most-rated movies.
    pub movies: usize,
    /// A rating at or above this counts as "liked".
    pub liked_threshold: f32,
    /// Users with fewer liked movies in the pool make no examples.
    pub min_liked: usize,
    /// Fraction of eligible users held out for evaluation.
    pub test_fraction: f64,
}

impl Default for DataSpec {
    fn default() -> Self {
        Self {
            dataset: DatasetKind::MlLatestSmall,
            movies: 50,
            liked_threshold: 4.0,
            min_liked: 2,
            test_fraction: 0.2,
        }
    }
}

/// The dataset a data directory must hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum DatasetKind {
    /// GroupLens `ml-latest-small`: its published row counts are checked.
    MlLatestSmall,
    /// Any directory in the MovieLens CSV format (no count check), e.g. a test fixture.
    MovielensCsv,
}
