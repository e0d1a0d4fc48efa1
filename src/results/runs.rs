//! `stages.csv` (per experiment) and `reproduce.csv` (in the results root): how long runs took.

use serde::{Deserialize, Serialize};

use crate::output::{duration, utc, Table};
use crate::stats::group_in_order;

/// `stages.csv`: one stage of one `cipherscale run`, with its wall time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StageRow {
    pub stage: String,
    pub quick: bool,
    pub finished_unix_s: u64,
    pub wall_s: f64,
}

/// `reproduce.csv`: one `cipherscale reproduce`, with its wall time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReproduceRow {
    /// The spec files, space-separated.
    pub specs: String,
    pub quick: bool,
    pub finished_unix_s: u64,
    pub wall_s: f64,
}

/// The latest run of each stage, with the revision that ran it.
pub fn stage_table(stages: &[(StageRow, crate::output::Stamp)]) -> Option<Table> {
    let mut table = Table::new(&["stage", "quick", "wall time", "finished", "git"])
        .align_left(0)
        .align_left(4);
    for (stage, rows) in group_in_order(stages, |(s, _)| s.stage.clone()) {
        let (last, stamp) = rows.last()?;
        table.row(vec![
            stage,
            last.quick.to_string(),
            duration(last.wall_s),
            utc(last.finished_unix_s),
            stamp.git_rev.clone(),
        ]);
    }
    Some(table)
}
