//! Figures from the CSVs: one PNG per figure, one shared style, drawn with plotters.
//!
//! - [`rl`]: the paper's figures 3 to 6 (training of the PPO agents on its bursts), the
//!   autoscaling study (normalised scores per workload, a test day of the trace, cost against
//!   SLO violations, replica histograms), live against simulated episodes.
//! - [`fhe`]: latency, bytes and hit@1 against bit width per pipeline.
//! - [`scaling`]: throughput against replicas.
//! - [`capacity`]: what each circuit costs against its hit@1, replicas against arrival rate.
//!
//! The charts themselves are [`LineChart`] and [`BarChart`] in `chart.rs`.

mod capacity;
mod chart;
mod fhe;
pub mod operate;
mod rl;
mod scaling;

pub use chart::{Bar, BarChart, LineChart, Series};
pub use rl::workload_of_kind;

use std::path::{Path, PathBuf};

use crate::results::ExperimentResults;

/// Draws every figure the experiment's CSVs allow into `dir`; returns (file, caption) pairs in
/// the order the report shows them.
pub fn draw_all(results: &ExperimentResults, dir: &Path) -> anyhow::Result<Vec<Figure>> {
    chart::register_font()?;
    std::fs::create_dir_all(dir).map_err(|e| anyhow::anyhow!("creating {}: {e}", dir.display()))?;
    let mut figures = Vec::new();
    figures.extend(rl::paper_figures(results, dir)?);
    figures.extend(rl::comparison_figures(results, dir)?);
    figures.extend(fhe::figures(results, dir)?);
    figures.extend(scaling::figures(results, dir)?);
    figures.extend(capacity::figures(results, dir)?);
    figures.extend(operate::figures(results, dir)?);
    Ok(figures)
}

/// One figure written to disk.
#[derive(Debug, Clone)]
pub struct Figure {
    pub path: PathBuf,
    /// One sentence: what the figure shows.
    pub caption: String,
}

impl Figure {
    fn new(dir: &Path, file: &str, caption: impl Into<String>) -> Self {
        Self {
            path: dir.join(file),
            caption: caption.into(),
        }
    }
}
