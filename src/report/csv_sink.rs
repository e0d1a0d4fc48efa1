use std::fs::{self, File};
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::Serialize;

/// A CSV results file written one row at a time. Rows go to `<name>.partial` and are flushed as
/// they come; [`CsvSink::finish`] renames the file into place, so a crashed run never leaves a
/// half-written file under the final name.
pub struct CsvSink {
    writer: csv::Writer<File>,
    partial: PathBuf,
    path: PathBuf,
}

impl CsvSink {
    pub fn create(path: &Path) -> anyhow::Result<Self> {
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        let mut partial = path.as_os_str().to_owned();
        partial.push(".partial");
        let partial = PathBuf::from(partial);
        let file =
            File::create(&partial).with_context(|| format!("creating {}", partial.display()))?;
        Ok(Self {
            writer: csv::Writer::from_writer(file),
            partial,
            path: path.to_owned(),
        })
    }

    pub fn push(&mut self, row: &impl Serialize) -> anyhow::Result<()> {
        self.writer
            .serialize(row)
            .and_then(|()| Ok(self.writer.flush()?))
            .with_context(|| format!("writing {}", self.partial.display()))
    }

    /// Completes the file and moves it to its final name.
    pub fn finish(mut self) -> anyhow::Result<PathBuf> {
        self.writer
            .flush()
            .with_context(|| format!("writing {}", self.partial.display()))?;
        self.writer.get_ref().sync_all().ok();
        fs::rename(&self.partial, &self.path)
            .with_context(|| format!("moving results to {}", self.path.display()))?;
        Ok(self.path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize)]
    struct Row {
        name: &'static str,
        bits: Option<u32>,
    }

    #[test]
    fn rows_appear_under_the_final_name_only_when_finished() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/out.csv");
        let mut sink = CsvSink::create(&path).unwrap();
        sink.push(&Row {
            name: "float",
            bits: None,
        })
        .unwrap();
        assert!(!path.exists());
        assert!(dir.path().join("nested/out.csv.partial").exists());
        sink.push(&Row {
            name: "quantized",
            bits: Some(8),
        })
        .unwrap();
        sink.finish().unwrap();
        let text = fs::read_to_string(&path).unwrap();
        assert_eq!(text, "name,bits\nfloat,\nquantized,8\n");
        assert!(!dir.path().join("nested/out.csv.partial").exists());
    }
}
