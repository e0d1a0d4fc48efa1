//! Stage `capacity`: what each circuit the `fhe` stage measured costs to serve: the cheapest
//! deployment for each load and client count of the spec's `capacity:` section, checked in the
//! simulator ([`crate::capacity`]), and the section's `live` points run on local replicas.
//! Writes `capacity.csv` (`cipherscale plan` does the same for any results folder) and
//! `capacity_live.csv`.

use std::path::Path;

use anyhow::Context;

use super::{Experiment, Stage};
use crate::capacity::live::{self, LiveCheck};
use crate::capacity::{CapacitySpec, Profile};
use crate::output::{emit, read_rows, read_stamped, CsvSink, Stamp};
use crate::results::capacity::{self, plan_results, profiles, CapacityLiveRow};
use crate::results::files;

pub fn run(experiment: &Experiment) -> anyhow::Result<()> {
    let out = experiment.out.join(files::CAPACITY);
    let spec = &experiment.spec.capacity;
    plan_into(&experiment.out, spec, &out, &experiment.stamp)?;
    if spec.live.is_empty() {
        return Ok(());
    }
    run_live(experiment)
}

/// Each live point planned, run on local replicas and written beside its plan.
fn run_live(experiment: &Experiment) -> anyhow::Result<()> {
    let spec = &experiment.spec.capacity;
    let profiles = read_profiles(&experiment.out)?;
    let seed = experiment.spec.seed;
    let (split, tuned) = experiment.split_and_fit(seed)?;
    let mut sink = experiment.sink(files::CAPACITY_LIVE)?;
    let progress = super::stage_progress(Stage::Capacity, spec.live.len());
    let mut rows = Vec::new();
    for point in &spec.live {
        let circuit = format!("{} {}b", point.pipeline, point.bits);
        progress.set_message(format!("{circuit} live at {} req/s", point.rate_rps));
        let profile = profiles
            .iter()
            .find(|p| (p.pipeline, p.bits) == (point.pipeline, point.bits))
            .with_context(|| {
                format!(
                    "capacity.live: {circuit} was not measured at full size in {}: add it to \
                     the fhe section",
                    files::FHE
                )
            })?;
        let deployment = live::plan(profile, point, spec)?;
        let (artifacts, served) = experiment.servable(&tuned, point.pipeline, point.bits)?;
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
