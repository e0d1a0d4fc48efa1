//! The experiment runner: loads a spec and runs its stages in order, writing results as it goes.

mod argmax_ledger;
mod artifacts_stage;
mod fhe_stage;
mod model_stage;
mod rl_live;
mod rl_stage;
mod scaling_stage;
mod serve_stage;

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context;

use crate::data::{self, DataLocator, MovieLens, Pool, Split, UserLikes};
use crate::fhe::Pipeline;
use crate::model::{fit_tuned, Tuned};
use crate::report::read::{ReproduceRow, StageRow};
use crate::report::Layout;
use crate::spec::{self, Spec};

pub use crate::spec::Stage;

/// What `cipherscale run` was asked to do.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub spec: PathBuf,
    pub quick: bool,
    /// Stages to run; empty means all.
    pub only: Vec<Stage>,
    /// Results folder; defaults to `<root>/results/<spec name>/`.
    pub out: Option<PathBuf>,
    /// Where `results/`, `plots/` and `paper/` live.
    pub root: PathBuf,
    pub data: DataLocator,
    /// Only these (pipeline, width) cells of the `fhe` stage, replacing their rows in `fhe.csv`
    /// and keeping the others; empty means all.
    pub fhe_cells: Vec<(Pipeline, u32)>,
    /// Overrides of the spec's `fhe.argmax.samples` and `budget_minutes`.
    pub argmax_samples: Option<usize>,
    pub argmax_minutes: Option<f64>,
}

/// Everything a stage needs: the spec, where to write, and the loaded task.
pub struct Experiment {
    pub spec: Spec,
    pub out: PathBuf,
    pub git_rev: String,
    pub quick: bool,
    pub pool: Pool,
    pub users: Vec<UserLikes>,
    /// The `fhe` cells to measure; empty means all of the spec's.
    pub fhe_cells: Vec<(Pipeline, u32)>,
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
    let mut spec = spec::load(&options.spec, options.quick)?;
    apply_overrides(&mut spec, options)?;
    let out = options
        .out
        .clone()
        .unwrap_or_else(|| Layout::under(&options.root).results.join(&spec.name));
    let experiment = Experiment::prepare(spec, out, options)?;
    let mut stages = if options.only.is_empty() {
        experiment.spec.stages.clone()
    } else {
        options.only.clone()
    };
    stages.sort();
    stages.dedup();
    for stage in stages {
        tracing::info!("stage {stage}: {}", experiment.spec.name);
        let started = Instant::now();
        match stage {
            Stage::Model => model_stage::run(&experiment),
            Stage::Artifacts => artifacts_stage::run(&experiment),
            Stage::Fhe => fhe_stage::run(&experiment),
            Stage::Serve => serve_stage::run(&experiment),
            Stage::Rl => rl_stage::run(&experiment),
            Stage::RlLive => rl_live::run(&experiment),
            Stage::Scaling => scaling_stage::run(&experiment),
        }
        .with_context(|| format!("stage `{stage}` of {}", options.spec.display()))?;
        record_stage(&experiment, stage, started.elapsed())?;
    }
    Ok(())
}

/// The command line's `fhe` overrides, checked against the spec.
fn apply_overrides(spec: &mut Spec, options: &RunOptions) -> anyhow::Result<()> {
    if let Some(samples) = options.argmax_samples {
        anyhow::ensure!(samples > 0, "--argmax-samples must be at least 1");
        spec.fhe.argmax.samples = samples;
    }
    if let Some(minutes) = options.argmax_minutes {
        anyhow::ensure!(
            minutes.is_finite() && minutes > 0.0,
            "--argmax-minutes must be a positive number of minutes, not {minutes}"
        );
        spec.fhe.argmax.budget_minutes = Some(minutes);
    }
    if options.fhe_cells.is_empty() {
        return Ok(());
    }
    anyhow::ensure!(
        options.only == [Stage::Fhe],
        "--cell measures cells of the fhe stage: add --only fhe"
    );
    let cells = fhe_stage::cells(spec);
    for (pipeline, bits) in &options.fhe_cells {
        anyhow::ensure!(
            cells.contains(&(*pipeline, *bits)),
            "--cell {pipeline}:{bits}: {} has no such fhe cell (it has {})",
            options.spec.display(),
            cells
                .iter()
                .map(|(p, b)| format!("{p}:{b}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    Ok(())
}

/// Parses a `PIPELINE:BITS` cell, e.g. `glwe-argmax:5`.
pub fn parse_fhe_cell(text: &str) -> Result<(Pipeline, u32), String> {
    let (pipeline, bits) = text
        .split_once(':')
        .ok_or_else(|| format!("`{text}`: expected PIPELINE:BITS, e.g. glwe-argmax:5"))?;
    let pipeline = <Pipeline as clap::ValueEnum>::from_str(pipeline, false).map_err(|_| {
        format!("`{pipeline}`: not a pipeline (glwe-packed, lwe, integer, glwe-argmax)")
    })?;
    let bits = bits
        .parse()
        .map_err(|_| format!("`{bits}`: not a bit width"))?;
    Ok((pipeline, bits))
}

/// Appends the stage's wall time to `<out>/stages.csv` (the report shows the latest of each).
fn record_stage(experiment: &Experiment, stage: Stage, took: Duration) -> anyhow::Result<()> {
    let row = StageRow {
        experiment: experiment.spec.name.clone(),
        stage: stage.to_string(),
        quick: experiment.quick,
        finished_unix_s: unix_now(),
        wall_s: took.as_secs_f64(),
        cores: cores(),
        git_rev: experiment.git_rev.clone(),
    };
    crate::report::append_row(&experiment.out.join("stages.csv"), &row)
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

/// Runs every spec's stages into `<root>/results/`, records the wall time in
/// `<root>/results/reproduce.csv`, then writes the figures and the report.
pub fn reproduce(
    specs: &[PathBuf],
    quick: bool,
    root: &Path,
    data: &DataLocator,
) -> anyhow::Result<()> {
    let started = Instant::now();
    for (i, spec) in specs.iter().enumerate() {
        crate::report::emit(format_args!(
            "== [{}/{}] {}{}",
            i + 1,
            specs.len(),
            spec.display(),
            if quick { " --quick" } else { "" }
        ))?;
        run(&RunOptions {
            spec: spec.clone(),
            quick,
            only: Vec::new(),
            out: None,
            root: root.to_owned(),
            data: data.clone(),
            fhe_cells: Vec::new(),
            argmax_samples: None,
            argmax_minutes: None,
        })?;
    }
    let layout = Layout::under(root);
    let names: Vec<String> = specs.iter().map(|s| s.display().to_string()).collect();
    let row = ReproduceRow {
        specs: names.join(" "),
        quick,
        finished_unix_s: unix_now(),
        wall_s: started.elapsed().as_secs_f64(),
        cores: cores(),
        git_rev: crate::report::git_revision(),
    };
    crate::report::append_row(&layout.results.join("reproduce.csv"), &row)?;
    crate::report::emit(format_args!(
        "== all specs in {}",
        crate::report::duration(row.wall_s)
    ))?;
    crate::report::generate(&layout)?;
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
            fhe_cells: options.fhe_cells.clone(),
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
