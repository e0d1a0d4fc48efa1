//! Results and what is made of them: CSV files written row by row (the git revision stamped on
//! every row), text tables, and, read back from the CSVs alone, the figures (`plots/`) and the
//! report (`paper/REPORT.md`).
//!
//! - `csv_sink`, `table`: writing results; [`read`]: reading them back.
//! - [`figures`]: one PNG per figure (plotters); `claims`: the papers' claims against our
//!   numbers; `document`: the markdown report; `autoscale`: its autoscaling tables.

mod autoscale;
mod claims;
mod csv_sink;
mod document;
pub mod figures;
pub mod read;
mod table;

pub use csv_sink::CsvSink;
pub use document::duration;
pub use table::Table;

use std::path::{Path, PathBuf};

use anyhow::Context;

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
    let runs = read::optional(&layout.results.join("reproduce.csv"))?.unwrap_or_default();
    let markdown = document::render(&sections, &runs, &layout.paper);
    let path = layout.paper.join("REPORT.md");
    write_atomic(&path, markdown.as_bytes(), false)?;
    emit(format_args!("wrote {}", path.display()))?;
    Ok(path)
}

/// Every folder under `results` that holds results the report reads, by name.
fn experiment_results(results: &Path) -> anyhow::Result<Vec<read::ExperimentResults>> {
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
        let results = read::ExperimentResults::load(&dir)?;
        if !results.is_empty() {
            experiments.push(results);
        }
    }
    Ok(experiments)
}

/// Appends `row` to the CSV at `path` (created with a header when absent), atomically.
pub fn append_row<T>(path: &Path, row: &T) -> anyhow::Result<()>
where
    T: serde::Serialize + serde::de::DeserializeOwned + Clone,
{
    let mut rows: Vec<T> = read::optional(path)?.unwrap_or_default();
    rows.push(row.clone());
    let mut sink = CsvSink::create(path)?;
    for row in &rows {
        sink.push(row)?;
    }
    sink.finish()?;
    Ok(())
}

use std::io::Write;
use std::process::Command;

/// Writes `bytes` to `path` through a temporary file in the same folder and a rename, so a crash
/// leaves the old file or the new one, never half of one. The file is readable by its owner only
/// when `private` (secret keys).
pub fn write_atomic(path: &std::path::Path, bytes: &[u8], private: bool) -> anyhow::Result<()> {
    use anyhow::Context;
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
    let dir = dir.unwrap_or(std::path::Path::new("."));
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut file = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("creating a temporary file in {}", dir.display()))?;
    if !private {
        set_readable(file.as_file())?;
    }
    file.write_all(bytes)
        .and_then(|()| file.as_file().sync_all())
        .with_context(|| format!("writing {}", path.display()))?;
    file.persist(path)
        .with_context(|| format!("moving into place {}", path.display()))?;
    Ok(())
}

/// Temporary files are created owner-only; public outputs get the usual permissions.
fn set_readable(file: &std::fs::File) -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(0o644))?;
    }
    let _ = file;
    Ok(())
}

/// Writes `text` and a newline to stdout; a closed pipe (`| head`) is not an error.
pub fn emit(text: impl std::fmt::Display) -> std::io::Result<()> {
    match writeln!(std::io::stdout().lock(), "{text}") {
        Err(err) if err.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}

/// The commit the results come from (`-dirty` when tracked files other than the outputs under
/// `results/`, `plots/` and `paper/` differ), or `unknown`.
pub fn git_revision() -> String {
    let git = |args: &[&str]| {
        Command::new("git")
            .args(args)
            .output()
            .ok()
            .filter(|out| out.status.success())
            .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_owned())
    };
    match git(&["rev-parse", "--short=12", "HEAD"]) {
        Some(rev) if !rev.is_empty() => {
            // Results, figures and the report are what runs write, not what they run.
            let outputs = [":!results", ":!plots", ":!paper"];
            let status = ["status", "--porcelain", "--untracked-files=no", "--", "."];
            let args: Vec<&str> = status.iter().chain(&outputs).copied().collect();
            let dirty = git(&args).is_some_and(|status| !status.is_empty());
            if dirty {
                format!("{rev}-dirty")
            } else {
                rev
            }
        }
        _ => "unknown".into(),
    }
}

/// `items` grouped by `key`, groups in the order their keys first appear.
pub(crate) fn group_in_order<T, K: PartialEq>(
    items: &[T],
    key: impl Fn(&T) -> K,
) -> Vec<(K, Vec<&T>)> {
    let mut groups: Vec<(K, Vec<&T>)> = Vec::new();
    for item in items {
        let k = key(item);
        match groups.iter_mut().find(|(g, _)| *g == k) {
            Some((_, members)) => members.push(item),
            None => groups.push((k, vec![item])),
        }
    }
    groups
}
