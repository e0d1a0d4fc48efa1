//! Stage `capacity`: what each circuit the `fhe` stage measured costs to serve: the cheapest
//! deployment for each load and client count of the spec's `capacity:` section, checked in the
//! simulator ([`crate::capacity`]); the section's `threads` circuits timed on one core against
//! all and planned both ways; and its `live` points run on local replicas. Writes
//! `capacity.csv` (`cipherscale plan` does the same for any results folder),
//! `capacity_threads.csv`, `capacity_shapes.csv` and `capacity_live.csv`.

use std::path::Path;

use anyhow::Context;

use super::{Experiment, Stage};
use crate::capacity::live::{self, LiveCheck};
use crate::capacity::threads;
use crate::capacity::{CapacitySpec, Profile};
use crate::data::Split;
use crate::fhe::quantize_for;
use crate::model::Tuned;
use crate::output::{cores, emit, read_rows, read_stamped, CsvSink, Stamp};
use crate::results::capacity::{
    self, plan_results, profiles, CapacityLiveRow, ShapeRow, ThreadsRow,
};
use crate::results::files;

pub fn run(experiment: &Experiment) -> anyhow::Result<()> {
    let out = experiment.out.join(files::CAPACITY);
    let spec = &experiment.spec.capacity;
    plan_into(&experiment.out, spec, &out, &experiment.stamp)?;
    if spec.live.is_empty() && spec.threads.is_empty() {
        return Ok(());
    }
    let profiles = read_profiles(&experiment.out)?;
    let (split, tuned) = experiment.split_and_fit(experiment.spec.seed)?;
    if !spec.threads.is_empty() {
        let timed = time_threads(experiment, &tuned, &split)?;
        plan_shapes(experiment, &profiles, &timed)?;
    }
    if !spec.live.is_empty() {
        run_live(experiment, &profiles, &split, &tuned)?;
    }
    Ok(())
}

/// Each `threads` circuit timed on one thread and on all this machine's cores.
fn time_threads(
    experiment: &Experiment,
    tuned: &Tuned,
    split: &Split,
) -> anyhow::Result<Vec<ThreadsRow>> {
    let points = &experiment.spec.capacity.threads;
    let mut sink = experiment.sink(files::CAPACITY_THREADS)?;
    let progress = super::stage_progress(Stage::Capacity, points.len());
    let mut rows = Vec::new();
    for point in points {
        let circuit = format!("{} {}b", point.pipeline, point.bits);
        progress.set_message(format!("{circuit}: 1 thread against {}", cores()));
        let model = quantize_for(&tuned.model, point.pipeline, point.bits);
        let times = threads::measure(point, &model, &split.test, cores())
            .with_context(|| format!("timing {circuit} on 1 and {} threads", cores()))?;
        let row = ThreadsRow::new(&times);
        tracing::info!(
            "{circuit}: {:.1} ms on 1 thread, {:.1} ms on {}: {:.2}x",
            row.one_thread_ms_median,
            row.threads_ms_median,
            row.threads,
            row.speedup
        );
        sink.push(&row)?;
        rows.push(row);
        progress.inc(1);
    }
    super::finish_stage(progress, sink, &[capacity::threads_table(&rows)])?;
    Ok(rows)
}

/// Every demand of the spec planned with all cores and with one per replica, for each timed
/// circuit that `fhe.csv` profiles.
fn plan_shapes(
    experiment: &Experiment,
    profiles: &[Profile],
    timed: &[ThreadsRow],
) -> anyhow::Result<()> {
    let spec = &experiment.spec.capacity;
    let mut sink = experiment.sink(files::CAPACITY_SHAPES)?;
    let mut rows = Vec::new();
    for t in timed {
        let profile = profile_of(profiles, t.pipeline, t.bits)?;
        for shapes in threads::compare(profile, t.speedup, spec) {
            let row = ShapeRow::new(t.pipeline, t.bits, profile.cores, t.speedup, &shapes);
            sink.push(&row)?;
            rows.push(row);
        }
    }
    let path = sink.finish()?;
    emit(capacity::shapes_table(&rows))?;
    emit(format_args!("wrote {}", path.display()))?;
    Ok(())
}

/// The profile of a circuit `fhe.csv` measured at full size.
fn profile_of(
    profiles: &[Profile],
    pipeline: crate::fhe::Pipeline,
    bits: u32,
) -> anyhow::Result<&Profile> {
    profiles
        .iter()
        .find(|p| (p.pipeline, p.bits) == (pipeline, bits))
        .with_context(|| {
            format!(
                "capacity: {pipeline} {bits}b was not measured at full size in {}: add it to the \
                 fhe section",
                files::FHE
            )
        })
}

/// Each live point planned, run on local replicas and written beside its plan.
fn run_live(
    experiment: &Experiment,
    profiles: &[Profile],
    split: &Split,
    tuned: &Tuned,
) -> anyhow::Result<()> {
    let spec = &experiment.spec.capacity;
    let seed = experiment.spec.seed;
    let mut sink = experiment.sink(files::CAPACITY_LIVE)?;
    let progress = super::stage_progress(Stage::Capacity, spec.live.len());
    let mut rows = Vec::new();
    for point in &spec.live {
        let circuit = format!("{} {}b", point.pipeline, point.bits);
        progress.set_message(format!("{circuit} live at {} req/s", point.rate_rps));
        let profile = profile_of(profiles, point.pipeline, point.bits)?;
        let deployment = live::plan(profile, point, spec)?;
        let (artifacts, served) = experiment.servable(tuned, point.pipeline, point.bits)?;
        let run = live::run(
            point,
            deployment.replicas,
            served.path(),
            &artifacts,
            &split.test,
            seed,
        )
        .with_context(|| format!("running {circuit} live"))?;
        let check = LiveCheck::new(profile, point, spec, deployment, run);
        let row = CapacityLiveRow::new(point, spec.quantile, &check);
        sink.push(&row)?;
        rows.push(row);
        progress.inc(1);
    }
    super::finish_stage(progress, sink, &[capacity::live_table(&rows)])
}

/// Plans every circuit measured in the results folder `dir` as `spec` says, writes the rows to
/// `out` and prints them, with the reason of each infeasible one.
pub fn plan_into(dir: &Path, spec: &CapacitySpec, out: &Path, stamp: &Stamp) -> anyhow::Result<()> {
    let rows = plan_results(&read_profiles(dir)?, spec);
    let mut sink = CsvSink::create(out, stamp)?;
    for row in &rows {
        sink.push(row)?;
    }
    let path = sink.finish()?;
    emit(capacity::table(&rows))?;
    for row in rows.iter().filter(|r| !r.feasible) {
        emit(format_args!(
            "{} {}b at {:.3} req/s: {}",
            row.pipeline, row.bits, row.rate_rps, row.reason
        ))?;
    }
    emit(format_args!("wrote {}", path.display()))?;
    Ok(())
}

/// The profiles of the circuits measured in the results folder `dir`.
fn read_profiles(dir: &Path) -> anyhow::Result<Vec<Profile>> {
    let fhe = read_stamped(&dir.join(files::FHE))?.with_context(|| {
        format!(
            "no {} in {}: run the `fhe` stage first",
            files::FHE,
            dir.display()
        )
    })?;
    let checks = read_rows(&dir.join(files::ARGMAX_CHECKS))?.unwrap_or_default();
    let model = read_rows(&dir.join(files::MODEL))?.unwrap_or_default();
    Ok(profiles(&fhe, &checks, &model))
}
