//! The experiment runner: loads a spec and runs its stages in order, writing results as it goes.

mod artifacts_stage;
mod fhe_stage;
mod model_stage;
mod rl_eval;
mod rl_live;
mod rl_stage;
mod serve_stage;

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::data::{self, DataLocator, MovieLens, Pool, Split, UserLikes};
use crate::model::{fit_tuned, Tuned};
use crate::spec::{self, Spec};

/// A stage of an experiment, in the order they run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum)]
pub enum Stage {
    /// Train the plaintext model per split seed, quantize it at every bit width, evaluate.
    Model,
    /// Save each FHE cell's server artifacts (public description, model) for `cipherscale serve`.
    Artifacts,
    /// Build every FHE pipeline at every bit width and measure it on held-out examples.
    Fhe,
    /// Serve circuits from one replica on loopback and measure throughput per client count.
    Serve,
    /// Train PPO on the calibrated simulator and evaluate it against the baselines.
    Rl,
    /// Run the trained policy on local replicas beside the simulator's prediction.
    #[value(name = "rl-live")]
    RlLive,
}

impl Stage {
    pub const ALL: [Stage; 6] = [
        Stage::Model,
        Stage::Artifacts,
        Stage::Fhe,
        Stage::Serve,
        Stage::Rl,
        Stage::RlLive,
    ];
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Stage::Model => "model",
            Stage::Artifacts => "artifacts",
            Stage::Fhe => "fhe",
            Stage::Serve => "serve",
            Stage::Rl => "rl",
            Stage::RlLive => "rl-live",
        })
    }
}

/// What `cipherscale run` was asked to do.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub spec: PathBuf,
    pub quick: bool,
    /// Stages to run; empty means all.
    pub only: Vec<Stage>,
    /// Results folder; defaults to `results/<spec name>/`.
    pub out: Option<PathBuf>,
    pub data: DataLocator,
}

/// Everything a stage needs: the spec, where to write, and the loaded task.
pub struct Experiment {
    pub spec: Spec,
    pub out: PathBuf,
    pub git_rev: String,
    pub quick: bool,
    pub pool: Pool,
    pub users: Vec<UserLikes>,
    /// Models already fitted in this run, by split seed, so later stages reuse them.
    fitted: RefCell<BTreeMap<u64, Tuned>>,
}

/// A progress bar over a stage's `len` cells, labelled with the stage (hidden when stderr is not
/// a terminal).
fn stage_progress(stage: Stage, len: usize) -> indicatif::ProgressBar {
    let template = format!("{stage} [{{elapsed_precise}}] {{bar:30}} {{pos}}/{{len}} {{msg}}");
    indicatif::ProgressBar::new(len as u64)
        .with_style(indicatif::ProgressStyle::with_template(&template).expect("static template"))
}

/// Ends a stage: clears its progress bar, moves its CSV into place, prints its tables and the
/// file written.
fn finish_stage(
    progress: indicatif::ProgressBar,
    sink: crate::report::CsvSink,
    tables: &[crate::report::Table],
) -> anyhow::Result<()> {
    progress.finish_and_clear();
    let path = sink.finish()?;
    for table in tables {
        crate::report::emit(table)?;
    }
    crate::report::emit(format_args!("wrote {}", path.display()))?;
    Ok(())
}

/// Runs the selected stages of one spec.
pub fn run(options: &RunOptions) -> anyhow::Result<()> {
    let spec = spec::load(&options.spec, options.quick)?;
    let out = options
        .out
        .clone()
        .unwrap_or_else(|| Path::new("results").join(&spec.name));
    let experiment = Experiment::prepare(spec, out, options)?;
    let mut stages = if options.only.is_empty() {
        Stage::ALL.to_vec()
    } else {
        options.only.clone()
    };
    stages.sort();
    stages.dedup();
    for stage in stages {
        tracing::info!("stage {stage}: {}", experiment.spec.name);
        match stage {
            Stage::Model => model_stage::run(&experiment),
            Stage::Artifacts => artifacts_stage::run(&experiment),
            Stage::Fhe => fhe_stage::run(&experiment),
            Stage::Serve => serve_stage::run(&experiment),
            Stage::Rl => rl_stage::run(&experiment),
            Stage::RlLive => rl_live::run(&experiment),
        }
        .with_context(|| format!("stage `{stage}` of {}", options.spec.display()))?;
    }
    Ok(())
}

impl Experiment {
    fn prepare(spec: Spec, out: PathBuf, options: &RunOptions) -> anyhow::Result<Self> {
        let dir = options.data.resolve()?;
        let movielens = MovieLens::load(&dir, spec.data.dataset)?;
        let pool = Pool::most_rated(&movielens, spec.data.movies)?;
        let users = data::examples::liked_sets(&movielens, &pool, &spec.data);
        tracing::info!(
            "{}: {} ratings; pool of {} movies; {} users with >= {} liked",
            dir.display(),
            movielens.ratings.len(),
            pool.len(),
            users.len(),
            spec.data.min_liked
        );
        Ok(Self {
            spec,
            out,
            git_rev: crate::report::git_revision(),
            quick: options.quick,
            pool,
            users,
            fitted: RefCell::default(),
        })
    }

    /// The split for `seed`, and the model fitted on its training users (fitted once per run).
    pub fn split_and_fit(&self, seed: u64) -> anyhow::Result<(Split, Tuned)> {
        let split = Split::by_user(&self.users, self.spec.data.test_fraction, seed)?;
        if let Some(tuned) = self.fitted.borrow().get(&seed) {
            return Ok((split, tuned.clone()));
        }
        let tuned = fit_tuned(&split.train_users, self.pool.len(), &self.spec.model, seed)?;
        self.fitted.borrow_mut().insert(seed, tuned.clone());
        Ok((split, tuned))
    }
}
