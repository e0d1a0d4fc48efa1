//! Stage `capacity`: what each circuit the `fhe` stage measured costs to serve: the cheapest
//! deployment for each load and client count of the spec's `capacity:` section, checked in the
//! simulator ([`crate::capacity`]). Writes `capacity.csv`; `cipherscale plan` does the same for
//! any results folder.

use std::path::Path;

use anyhow::Context;

use super::Experiment;
use crate::capacity::CapacitySpec;
use crate::output::{emit, read_rows, read_stamped, CsvSink, Stamp};
use crate::results::capacity::{self, plan_results};
use crate::results::files;

pub fn run(experiment: &Experiment) -> anyhow::Result<()> {
    let out = experiment.out.join(files::CAPACITY);
    let spec = &experiment.spec.capacity;
    plan_into(&experiment.out, spec, &out, &experiment.stamp)
}

/// Plans every circuit measured in the results folder `dir` as `spec` says, writes the rows to
/// `out` and prints them, with the reason of each infeasible one.
pub fn plan_into(dir: &Path, spec: &CapacitySpec, out: &Path, stamp: &Stamp) -> anyhow::Result<()> {
    let fhe = read_stamped(&dir.join(files::FHE))?.with_context(|| {
        format!(
            "no {} in {}: run the `fhe` stage first",
            files::FHE,
            dir.display()
        )
    })?;
    let checks = read_rows(&dir.join(files::ARGMAX_CHECKS))?.unwrap_or_default();
    let model = read_rows(&dir.join(files::MODEL))?.unwrap_or_default();
    let rows = plan_results(&fhe, &checks, &model, spec);
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
