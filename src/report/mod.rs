//! Results: CSV files written row by row, the git revision stamped on every row, and text tables.

mod csv_sink;
mod table;

pub use csv_sink::CsvSink;
pub use table::Table;

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
