//! What is made of the results, read back through [`crate::results`] alone: the figures
//! (`plots/`) and the report (`paper/REPORT.md`).
//!
//! - [`figures`]: one PNG per figure (plotters); `claims`: the papers' claims against our
//!   numbers; `document`: the markdown report; `autoscale`: its autoscaling tables.

mod autoscale;
mod claims;
mod document;
pub mod figures;

use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::output::{emit, read_stamped, write_atomic};
use crate::results::{files, ExperimentResults};

/// Where a reproduction keeps its outputs: `results/<experiment>/*.csv`,
/// `plots/<experiment>/*.png`, `paper/REPORT.md`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    pub results: PathBuf,
    pub plots: PathBuf,
    pub paper: PathBuf,
}

impl Layout {
    pub fn under(root: &Path) -> Self {
        Self {
            results: root.join("results"),
            plots: root.join("plots"),
            paper: root.join("paper"),
        }
    }
}

/// Draws every experiment's figures and writes the report; returns the report's path.
pub fn generate(layout: &Layout) -> anyhow::Result<PathBuf> {
    let experiments = experiment_results(&layout.results)?;
    anyhow::ensure!(
        !experiments.is_empty(),
        "no experiment results under {}: run `cipherscale run experiments/<name>.yaml` first",
        layout.results.display()
    );
    let mut sections = Vec::new();
    for results in &experiments {
        let figures = figures::draw_all(results, &layout.plots.join(&results.name))
            .with_context(|| format!("figures of `{}`", results.name))?;
        emit(format_args!(
            "{}: {} figures in {}",
            results.name,
            figures.len(),
            layout.plots.join(&results.name).display()
        ))?;
        sections.push(document::Section { results, figures });
    }
    let runs = read_stamped(&layout.results.join(files::REPRODUCE))?.unwrap_or_default();
    let markdown = document::render(&sections, &runs, &layout.paper);
    let path = layout.paper.join("REPORT.md");
    write_atomic(&path, markdown.as_bytes(), false)?;
    emit(format_args!("wrote {}", path.display()))?;
    Ok(path)
}

/// Every folder under `results` that holds results the report reads, by name.
fn experiment_results(results: &Path) -> anyhow::Result<Vec<ExperimentResults>> {
    let entries =
        std::fs::read_dir(results).with_context(|| format!("reading {}", results.display()))?;
    let mut dirs: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    let mut experiments = Vec::new();
    for dir in dirs {
        let results = ExperimentResults::load(&dir)?;
        if !results.is_empty() {
            experiments.push(results);
        }
    }
    Ok(experiments)
}
