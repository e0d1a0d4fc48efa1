//! What every stage of one run shares: the spec, the results folder, the stamp of the rows it
//! writes, and the task (MovieLens pool, liked sets, fitted models), loaded on first use so that
//! stages that need no data (`rl` on measured results) run without it.

use std::cell::{OnceCell, RefCell};
use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::data::{self, DataLocator, MovieLens, Pool, Split, UserLikes};
use crate::fhe::Pipeline;
use crate::model::{fit_tuned, Tuned};
use crate::output::{CsvSink, Stamp};
use crate::serve::Artifacts;
use crate::spec::Spec;

/// The recommendation task of a spec.
pub struct Task {
    pub pool: Pool,
    pub users: Vec<UserLikes>,
}

/// Everything a stage needs: the spec, where to write, and the task.
pub struct Experiment {
    pub spec: Spec,
    pub out: PathBuf,
    /// The provenance columns of every row this run writes.
    pub stamp: Stamp,
    pub quick: bool,
    /// The `fhe` cells to measure; empty means all of the spec's.
    pub fhe_cells: Vec<(Pipeline, u32)>,
    data: DataLocator,
    task: OnceCell<Task>,
    /// Models already fitted in this run, by split seed, so later stages reuse them.
    fitted: RefCell<BTreeMap<u64, Tuned>>,
}

impl Experiment {
    pub fn new(spec: Spec, out: PathBuf, quick: bool, data: DataLocator) -> Self {
        Self {
            stamp: Stamp::here(&spec.name),
            spec,
            out,
            quick,
            fhe_cells: Vec::new(),
            data,
            task: OnceCell::new(),
            fitted: RefCell::default(),
        }
    }

    /// A results file of this run, rows stamped with the run's stamp.
    pub fn sink(&self, file: &str) -> anyhow::Result<CsvSink> {
        CsvSink::create(&self.out.join(file), &self.stamp)
    }

    /// The pool and liked sets, loaded from MovieLens on first use.
    pub fn task(&self) -> anyhow::Result<&Task> {
        if let Some(task) = self.task.get() {
            return Ok(task);
        }
        let task = self.load_task()?;
        Ok(self.task.get_or_init(|| task))
    }

    fn load_task(&self) -> anyhow::Result<Task> {
        let spec = &self.spec.data;
        let dir = self.data.resolve()?;
        let movielens = MovieLens::load(&dir, spec.dataset)?;
        let pool = Pool::most_rated(&movielens, spec.movies)?;
        let users = data::examples::liked_sets(&movielens, &pool, spec);
        tracing::info!(
            "{}: {} ratings; pool of {} movies; {} users with >= {} liked",
            dir.display(),
            movielens.ratings.len(),
            pool.len(),
            users.len(),
            spec.min_liked
        );
        Ok(Task { pool, users })
    }

    /// The split for `seed`, and the model fitted on its training users (fitted once per run).
    pub fn split_and_fit(&self, seed: u64) -> anyhow::Result<(Split, Tuned)> {
        let task = self.task()?;
        let split = Split::by_user(&task.users, self.spec.data.test_fraction, seed)?;
        if let Some(tuned) = self.fitted.borrow().get(&seed) {
            return Ok((split, tuned.clone()));
        }
        let tuned = fit_tuned(&split.train_users, task.pool.len(), &self.spec.model, seed)?;
        self.fitted.borrow_mut().insert(seed, tuned.clone());
        Ok((split, tuned))
    }

    /// A circuit for the tuned model, saved to a temporary folder for replicas to serve (removed
    /// when the folder handle drops).
    pub fn servable(
        &self,
        tuned: &Tuned,
        pipeline: Pipeline,
        bits: u32,
    ) -> anyhow::Result<(Artifacts, tempfile::TempDir)> {
        let titles = self.task()?.pool.titles.clone();
        let artifacts = Artifacts::for_model(pipeline, bits, &tuned.model, titles)?;
        let served = tempfile::tempdir()?;
        artifacts.save(served.path())?;
        Ok((artifacts, served))
    }

    /// The spec's `fhe` cells, in order.
    pub fn cells(&self) -> Vec<(Pipeline, u32)> {
        self.spec.fhe.cells(&self.spec.model.bit_widths)
    }
}
