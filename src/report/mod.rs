//! Results: CSV files written row by row, the git revision stamped on every row, and text tables.

mod csv_sink;
mod table;

pub use csv_sink::CsvSink;
pub use table::Table;

use std::io::Write;
use std::process::Command;

/// Writes `text` and a newline to stdout; a closed pipe (`| head`) is not an error.
pub fn emit(text: impl std::fmt::Display) -> std::io::Result<()> {
    match writeln!(std::io::stdout().lock(), "{text}") {
        Err(err) if err.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}

/// The commit the results come from (`-dirty` when tracked files differ), or `unknown`.
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
            let dirty = git(&["status", "--porcelain", "--untracked-files=no"])
                .is_some_and(|status| !status.is_empty());
            if dirty {
                format!("{rev}-dirty")
            } else {
                rev
            }
        }
        _ => "unknown".into(),
    }
}
