//! Every CSV committed under `results/` reads back through its row type in
//! `cipherscale::results`, stamp included: the types that write the files are the ones that
//! read them, and the files of earlier revisions still parse.

use std::path::{Path, PathBuf};

use cipherscale::output::{read_stamped, Stamp};
use cipherscale::results::autoscale::{
    CollapseRow, EvalRow, LiveRow, ReplicaRow, StepRow, SummaryRow, TrainRow, TuningRow,
    WorkloadRow,
};
use cipherscale::results::bench::{CartPoleRow, LoadOverheadRow};
use cipherscale::results::capacity::{CapacityLiveRow, CapacityRow, ShapeRow, ThreadsRow};
use cipherscale::results::fhe::FheRow;
use cipherscale::results::model::ModelRow;
use cipherscale::results::runs::{ReproduceRow, StageRow};
use cipherscale::results::scaling::ScalingRow;
use cipherscale::results::serve::ServeRow;
use cipherscale::results::{files, CheckRow, ExperimentResults};
use serde::de::DeserializeOwned;

fn csv_files(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            found.extend(csv_files(&path));
        } else if path.extension().is_some_and(|e| e == "csv") {
            found.push(path);
        }
    }
    found
}

/// The rows of `path` read as `T`, with their stamps; the count of rows.
fn rows<T: DeserializeOwned>(path: &Path) -> usize {
    let rows: Vec<(T, Stamp)> = read_stamped(path)
        .unwrap_or_else(|e| panic!("{e:#}"))
        .unwrap();
    assert!(!rows.is_empty(), "{} has no rows", path.display());
    let revisions = rows.iter().filter(|(_, s)| !s.git_rev.is_empty()).count();
    assert!(
        revisions == rows.len()
            || path.ends_with(files::RL_REPLICAS)
            || path.ends_with(files::RL_STEPS)
            || path.starts_with(bench()),
        "{}: rows without the revision that wrote them",
        path.display()
    );
    rows.len()
}

fn bench() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("results/bench")
}

/// Reads `path` with the row type its file name calls for; fails for a file with none.
fn read_by_name(path: &Path) -> usize {
    let name = path.file_name().unwrap().to_str().unwrap();
    match name {
        files::MODEL => rows::<ModelRow>(path),
        files::FHE => rows::<FheRow>(path),
        files::ARGMAX_CHECKS => rows::<CheckRow>(path),
        files::SERVE => rows::<ServeRow>(path),
        files::SCALING => rows::<ScalingRow>(path),
        files::STAGES => rows::<StageRow>(path),
        files::REPRODUCE => rows::<ReproduceRow>(path),
        files::RL_WORKLOADS => rows::<WorkloadRow>(path),
        files::RL_TUNING => rows::<TuningRow>(path),
        files::RL_TRAIN => rows::<TrainRow>(path),
        files::RL_EVAL => rows::<EvalRow>(path),
        files::RL_SUMMARY => rows::<SummaryRow>(path),
        files::RL_DIAGNOSTICS => rows::<CollapseRow>(path),
        files::RL_STEPS => rows::<StepRow>(path),
        files::RL_REPLICAS => rows::<ReplicaRow>(path),
        files::RL_LIVE => rows::<LiveRow>(path),
        files::CAPACITY => rows::<CapacityRow>(path),
        files::CAPACITY_LIVE => rows::<CapacityLiveRow>(path),
        files::CAPACITY_THREADS => rows::<ThreadsRow>(path),
        files::CAPACITY_SHAPES => rows::<ShapeRow>(path),
        "ppo_cartpole.csv" => rows::<CartPoleRow>(path),
        "load_overhead.csv" => rows::<LoadOverheadRow>(path),
        files::REHEARSAL => rows::<cipherscale::results::rehearsal::RehearsalRow>(path),
        "argmax_timing.csv" => rows::<cipherscale::results::bench::ArgmaxTimingRow>(path),
        other => panic!("{}: no row type reads `{other}`", path.display()),
    }
}

#[test]
fn every_committed_results_file_reads_back_through_its_row_type() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("results");
    let found = csv_files(&root);
    assert!(
        found.len() >= 20,
        "only {} CSV files under results/",
        found.len()
    );
    for path in &found {
        let count = read_by_name(path);
        assert!(count > 0, "{}", path.display());
    }
}

#[test]
fn every_experiment_folder_loads_for_the_report() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("results");
    let paper = ExperimentResults::load(&root.join("paper")).unwrap();
    assert!(paper.model.is_some() && paper.fhe.is_some() && paper.serve.is_some());
    assert!(paper.summary.is_some() && paper.checks.is_some() && paper.live.is_some());
    let scaling = ExperimentResults::load(&root.join("scaling")).unwrap();
    let (_, stamp) = &scaling.scaling.unwrap()[0];
    assert!(
        stamp.cores > 0,
        "the cores of the machine that measured scaling"
    );
}
