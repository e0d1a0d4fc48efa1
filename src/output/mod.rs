//! The ground floor of every written output: files replaced atomically, CSV files written row
//! by row under one provenance [`Stamp`] and read back, plain-text and markdown tables, lines on
//! stdout, and what identifies the machine and the source revision. It imports nothing else of
//! the crate, so any module may write through it.

mod csv;
mod machine;
mod table;

pub use self::csv::{append_row, read_rows, read_stamped, CsvSink};
pub use machine::{
    cores, git_revision, machine, peak_rss_mb, reset_peak_rss, rss_mb, unix_now, CoresBusy,
    CpuClock, Stamp,
};
pub use table::{bytes, duration, ms, utc, Table};

use std::io::Write;
use std::path::Path;

use anyhow::Context;

/// Writes `bytes` to `path` through a temporary file in the same folder and a rename, so a crash
/// leaves the old file or the new one, never half of one. The file is readable by its owner only
/// when `private` (secret keys).
pub fn write_atomic(path: &Path, bytes: &[u8], private: bool) -> anyhow::Result<()> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
    let dir = dir.unwrap_or(Path::new("."));
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_atomic_write_replaces_the_whole_file_and_keeps_secrets_private() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/key.bin");
        write_atomic(&path, b"first", true).unwrap();
        write_atomic(&path, b"second", true).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"second");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(
                mode & 0o077,
                0,
                "a private file is readable by others: {mode:o}"
            );
        }
        let leftovers = std::fs::read_dir(dir.path().join("nested"))
            .unwrap()
            .count();
        assert_eq!(leftovers, 1, "a temporary file was left behind");
    }
}
