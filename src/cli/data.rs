//! `cipherscale data`: dataset statistics, the movie pool and the split.

use clap::Args;

use crate::data::{DataArgs, DataSpec, DatasetKind};
use crate::output::emit;

#[derive(Debug, Args)]
pub struct DataStatsArgs {
    #[command(flatten)]
    pub data: DataArgs,
    /// Which dataset the folder must hold.
    #[arg(long, value_enum, default_value = "ml-latest-small")]
    pub dataset: DatasetKind,
    /// Pool size: the N most-rated movies.
    #[arg(long, default_value_t = DataSpec::default().movies)]
    pub movies: usize,
    /// Rating at or above which a movie counts as liked.
    #[arg(long, default_value_t = DataSpec::default().liked_threshold)]
    pub liked_threshold: f32,
    /// Fraction of eligible users held out.
    #[arg(long, default_value_t = DataSpec::default().test_fraction)]
    pub test_fraction: f64,
    /// Split seed.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
}

pub fn data(args: &DataStatsArgs) -> anyhow::Result<()> {
    let spec = DataSpec {
        dataset: args.dataset,
        movies: args.movies,
        liked_threshold: args.liked_threshold,
        test_fraction: args.test_fraction,
        ..DataSpec::default()
    };
    let (summary, pool) = crate::data::describe(&args.data.locator(), &spec, args.seed)?;
    emit(summary)?;
    Ok(emit(pool)?)
}
