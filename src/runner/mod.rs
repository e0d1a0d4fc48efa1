//! The experiment runner: loads a spec and runs its stages in order, each a short function that
//! calls into the domain modules and writes its [`results`](crate::results) files.
//!
//! - [`experiment`]: what the stages share (spec, folder, stamp, task, fitted models).
//! - `model_stage`, `artifacts_stage`, `fhe_stage`, `capacity_stage`, `serve_stage`, `scaling_stage`, and `rl`
//!   (the autoscaling study, and `rl-live` beside it): one module per stage.

mod artifacts_stage;
pub mod capacity_stage;
pub mod experiment;
mod fhe_stage;
mod model_stage;
mod rl;
mod scaling_stage;
mod serve_stage;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;

pub use crate::spec::Stage;
pub use experiment::Experiment;

use crate::data::DataArgs;
use crate::fhe::Pipeline;
use crate::output::{append_row, emit, unix_now, CsvSink, Stamp, Table};
use crate::report::Layout;
use crate::results::files;
use crate::results::runs::{ReproduceRow, StageRow};
use crate::spec::{self, Spec};

/// What `cipherscale run` is asked to do.
#[derive(Debug, Clone, clap::Args)]
pub struct RunOptions {
    /// The experiment spec.
    pub spec: PathBuf,
    /// Apply the spec's `quick:` profile: small sweeps that finish in minutes.
    #[arg(long)]
    pub quick: bool,
    /// Run only this stage (repeatable); all stages by default.
    #[arg(long, value_name = "STAGE")]
    pub only: Vec<Stage>,
    /// Results folder instead of <root>/results/<spec name>/.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Folder holding results/, plots/ and paper/.
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub root: PathBuf,
    /// With --only fhe: measure only this cell (repeatable), e.g. glwe-argmax:5; its row of
    /// fhe.csv is replaced and the other rows are kept.
    #[arg(long = "cell", value_name = "PIPELINE:BITS", value_parser = parse_fhe_cell)]
    pub fhe_cells: Vec<(Pipeline, u32)>,
    /// Held-out examples glwe-argmax checks per width (the spec's fhe.argmax.samples).
    #[arg(long, value_name = "N")]
    pub argmax_samples: Option<usize>,
    /// Wall-clock budget per glwe-argmax width (the spec's fhe.argmax.budget_minutes); the
    /// checks accumulate in results/<name>/argmax_checks.csv across runs.
    #[arg(long, value_name = "MINUTES")]
    pub argmax_minutes: Option<f64>,
    #[command(flatten)]
    pub data: DataArgs,
}

impl RunOptions {
    /// Every stage of `spec`, as `reproduce` runs it.
    pub fn all_stages(spec: PathBuf, quick: bool, root: PathBuf, data: DataArgs) -> Self {
        Self {
            spec,
            quick,
            only: Vec::new(),
            out: None,
            root,
            fhe_cells: Vec::new(),
            argmax_samples: None,
            argmax_minutes: None,
            data,
        }
    }
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
    sink: CsvSink,
    tables: &[Table],
) -> anyhow::Result<()> {
    progress.finish_and_clear();
    let path = sink.finish()?;
    for table in tables {
        emit(table)?;
    }
    emit(format_args!("wrote {}", path.display()))?;
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
    let mut experiment = Experiment::new(spec, out, options.quick, options.data.locator());
    experiment.fhe_cells = options.fhe_cells.clone();
    for stage in selected_stages(&experiment.spec, &options.only) {
        tracing::info!("stage {stage}: {}", experiment.spec.name);
        let started = Instant::now();
        run_stage(&experiment, stage)
            .with_context(|| format!("stage `{stage}` of {}", options.spec.display()))?;
        record_stage(&experiment, stage, started.elapsed())?;
    }
    Ok(())
}

/// `only` if given, else the spec's stages; in their fixed order, once each.
fn selected_stages(spec: &Spec, only: &[Stage]) -> Vec<Stage> {
    let mut stages = if only.is_empty() {
        spec.stages.clone()
    } else {
        only.to_vec()
    };
    stages.sort();
    stages.dedup();
    stages
}

fn run_stage(experiment: &Experiment, stage: Stage) -> anyhow::Result<()> {
    match stage {
        Stage::Model => model_stage::run(experiment),
        Stage::Artifacts => artifacts_stage::run(experiment),
        Stage::Fhe => fhe_stage::run(experiment),
        Stage::Capacity => capacity_stage::run(experiment),
        Stage::Serve => serve_stage::run(experiment),
        Stage::Rl => rl::run(experiment),
        Stage::RlLive => rl::live::run(experiment),
        Stage::Scaling => scaling_stage::run(experiment),
    }
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
    let cells = spec.fhe.cells(&spec.model.bit_widths);
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
        stage: stage.to_string(),
        quick: experiment.quick,
        finished_unix_s: unix_now(),
        wall_s: took.as_secs_f64(),
    };
    append_row(&experiment.out.join(files::STAGES), &row, &experiment.stamp)
}

/// Runs every spec's stages into `<root>/results/`, records the wall time in
/// `<root>/results/reproduce.csv`, then writes the figures and the report.
pub fn reproduce(
    specs: &[PathBuf],
    quick: bool,
    root: &Path,
    data: &DataArgs,
) -> anyhow::Result<()> {
    let started = Instant::now();
    for (i, spec) in specs.iter().enumerate() {
        emit(format_args!(
            "== [{}/{}] {}{}",
            i + 1,
            specs.len(),
            spec.display(),
            if quick { " --quick" } else { "" }
        ))?;
        run(&RunOptions::all_stages(
            spec.clone(),
            quick,
            root.to_owned(),
            data.clone(),
        ))?;
    }
    let layout = Layout::under(root);
    let names: Vec<String> = specs.iter().map(|s| s.display().to_string()).collect();
    let row = ReproduceRow {
        specs: names.join(" "),
        quick,
        finished_unix_s: unix_now(),
        wall_s: started.elapsed().as_secs_f64(),
    };
    let path = layout.results.join(files::REPRODUCE);
    append_row(&path, &row, &Stamp::here("reproduce"))?;
    emit(format_args!(
        "== all specs in {}",
        crate::output::duration(row.wall_s)
    ))?;
    crate::report::generate(&layout)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(only: &[Stage], cells: &[(Pipeline, u32)]) -> RunOptions {
        let mut options = RunOptions::all_stages(
            "experiments/x.yaml".into(),
            false,
            ".".into(),
            DataArgs::default(),
        );
        options.only = only.to_vec();
        options.fhe_cells = cells.to_vec();
        options
    }

    fn spec() -> Spec {
        spec::load_str(
            "name: x\nseed: 7\nmodel: { bit_widths: [4, 8] }\n\
             fhe: { pipelines: [glwe-packed, glwe-argmax], argmax: { bits: [4] } }\n",
            std::path::Path::new("x.yaml"),
            false,
        )
        .unwrap()
    }

    #[test]
    fn cells_parse_as_pipeline_and_width_with_a_message_naming_the_bad_part() {
        assert_eq!(
            parse_fhe_cell("glwe-argmax:5"),
            Ok((Pipeline::GlweArgmax, 5))
        );
        assert_eq!(parse_fhe_cell("lwe:8"), Ok((Pipeline::Lwe, 8)));
        assert!(parse_fhe_cell("glwe-argmax")
            .unwrap_err()
            .contains("PIPELINE:BITS"));
        assert!(parse_fhe_cell("ckks:4")
            .unwrap_err()
            .contains("`ckks`: not a pipeline"));
        assert!(parse_fhe_cell("lwe:x")
            .unwrap_err()
            .contains("`x`: not a bit width"));
    }

    #[test]
    fn overrides_replace_the_spec_and_cells_must_exist_and_come_with_only_fhe() {
        let mut spec = spec();
        let mut given = options(&[Stage::Fhe], &[(Pipeline::GlwePacked, 8)]);
        given.argmax_samples = Some(3);
        given.argmax_minutes = Some(1.5);
        apply_overrides(&mut spec, &given).unwrap();
        assert_eq!(spec.fhe.argmax.samples, 3);
        assert_eq!(spec.fhe.argmax.budget_minutes, Some(1.5));

        let missing = options(&[Stage::Fhe], &[(Pipeline::GlwePacked, 5)]);
        let err = apply_overrides(&mut spec.clone(), &missing).unwrap_err();
        assert!(
            err.to_string()
                .contains("glwe-packed:4, glwe-packed:8, glwe-argmax:4"),
            "{err}"
        );
        let no_only = options(&[], &[(Pipeline::GlwePacked, 8)]);
        let err = apply_overrides(&mut spec.clone(), &no_only).unwrap_err();
        assert!(err.to_string().contains("add --only fhe"), "{err}");
        let mut zero = options(&[], &[]);
        zero.argmax_samples = Some(0);
        assert!(apply_overrides(&mut spec.clone(), &zero).is_err());
        zero.argmax_samples = None;
        zero.argmax_minutes = Some(f64::NAN);
        assert!(apply_overrides(&mut spec.clone(), &zero).is_err());
    }

    #[test]
    fn stages_run_in_their_fixed_order_once_each() {
        let spec = spec();
        let only = [Stage::Rl, Stage::Model, Stage::Rl];
        assert_eq!(selected_stages(&spec, &only), [Stage::Model, Stage::Rl]);
        assert_eq!(selected_stages(&spec, &[]), Stage::ALL.to_vec());
    }
}
