//! Command-line interface: argument definitions and one function per subcommand.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};

use crate::data::{self, DataLocator, MovieLens, Pool, Split};
use crate::report::{emit, Table};
use crate::runner::{self, RunOptions, Stage};
use crate::spec::{self, DataSpec, DatasetKind};

/// What does it cost to serve FHE inference, and how should it scale?
#[derive(Debug, Parser)]
#[command(name = "cipherscale", version, about)]
pub struct Cli {
    /// More log output (-v debug, -vv trace); RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Parse and validate experiment specs without running anything.
    Validate {
        /// Spec files, e.g. experiments/paper.yaml.
        #[arg(required = true)]
        specs: Vec<PathBuf>,
    },
    /// Run an experiment's stages and write results/<name>/*.csv.
    Run {
        /// The experiment spec.
        spec: PathBuf,
        /// Apply the spec's `quick:` profile: small sweeps that finish in minutes.
        #[arg(long)]
        quick: bool,
        /// Run only this stage (repeatable); all stages by default.
        #[arg(long, value_name = "STAGE")]
        only: Vec<Stage>,
        /// Results folder instead of results/<spec name>/.
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        #[command(flatten)]
        data: DataArgs,
    },
    /// Print dataset statistics: users, movies, ratings, the movie pool and the split.
    Data {
        #[command(flatten)]
        data: DataArgs,
        /// Which dataset the folder must hold.
        #[arg(long, value_enum, default_value = "ml-latest-small")]
        dataset: DatasetKind,
        /// Pool size: the N most-rated movies.
        #[arg(long, default_value_t = DataSpec::default().movies)]
        movies: usize,
        /// Rating at or above which a movie counts as liked.
        #[arg(long, default_value_t = DataSpec::default().liked_threshold)]
        liked_threshold: f32,
        /// Fraction of eligible users held out.
        #[arg(long, default_value_t = DataSpec::default().test_fraction)]
        test_fraction: f64,
        /// Split seed.
        #[arg(long, default_value_t = 7)]
        seed: u64,
    },
}

/// Where the MovieLens data comes from.
#[derive(Debug, Clone, Args)]
pub struct DataArgs {
    /// MovieLens folder (else MOVIELENS_DIR, then data/ml-latest-small, then a download).
    #[arg(long, value_name = "DIR")]
    pub data: Option<PathBuf>,
    /// Never download the dataset; fail if no local copy is found.
    #[arg(long)]
    pub no_download: bool,
}

impl DataArgs {
    fn locator(&self) -> DataLocator {
        DataLocator::from_env(self.data.clone(), !self.no_download)
    }
}

/// Runs one parsed command line.
pub fn execute(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Validate { specs } => validate(&specs),
        Command::Run {
            spec,
            quick,
            only,
            out,
            data,
        } => runner::run(&RunOptions {
            spec,
            quick,
            only,
            out,
            data: data.locator(),
        }),
        Command::Data {
            data,
            dataset,
            movies,
            liked_threshold,
            test_fraction,
            seed,
        } => {
            let spec = DataSpec {
                dataset,
                movies,
                liked_threshold,
                test_fraction,
                ..DataSpec::default()
            };
            print_data_stats(&data.locator(), &spec, seed)
        }
    }
}

fn validate(specs: &[PathBuf]) -> anyhow::Result<()> {
    for path in specs {
        let spec = spec::load(path, false)?;
        emit(format!(
            "{}: ok (experiment `{}`)",
            path.display(),
            spec.name
        ))?;
    }
    Ok(())
}

fn print_data_stats(locator: &DataLocator, spec: &DataSpec, seed: u64) -> anyhow::Result<()> {
    let dir = locator.resolve()?;
    let movielens = MovieLens::load(&dir, spec.dataset)?;
    let pool = Pool::most_rated(&movielens, spec.movies)?;
    let users = data::examples::liked_sets(&movielens, &pool, spec);
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
    emit(summary)?;
    Ok(emit(pool_table(&pool, &users))?)
}

fn pool_table(pool: &Pool, users: &[data::UserLikes]) -> Table {
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
