//! CSV results files: written row by row under a [`Stamp`], read back by the same row type.

use std::fs::{self, File};
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::Stamp;

/// A CSV results file written one row at a time, each row followed by the stamp's columns. Rows
/// go to `<name>.partial` and are flushed as they come; [`CsvSink::finish`] renames the file into
/// place, so a crashed run never leaves a half-written file under the final name.
pub struct CsvSink {
    writer: csv::Writer<File>,
    stamp: Stamp,
    partial: PathBuf,
    path: PathBuf,
}

impl CsvSink {
    pub fn create(path: &Path, stamp: &Stamp) -> anyhow::Result<Self> {
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
            stamp: stamp.clone(),
            partial,
            path: path.to_owned(),
        })
    }

    /// Writes `row` and this file's stamp.
    pub fn push(&mut self, row: &impl Serialize) -> anyhow::Result<()> {
        let stamp = self.stamp.clone();
        self.push_stamped(row, &stamp)
    }

    /// Writes `row` with its own stamp (rows kept from an earlier run).
    pub fn push_stamped(&mut self, row: &impl Serialize, stamp: &Stamp) -> anyhow::Result<()> {
        self.writer
            .serialize((row, stamp))
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

/// Every row of `path`, or `None` when the file does not exist (a stage that did not run).
/// Columns the row type does not name (the stamp's, older extra ones) are ignored; a bad row
/// is named by file and line.
pub fn read_rows<T: DeserializeOwned>(path: &Path) -> anyhow::Result<Option<Vec<T>>> {
    let rows: Option<Vec<(T, ())>> = read_records(path, |_, _| Ok(()))?;
    Ok(rows.map(|rows| rows.into_iter().map(|(row, ())| row).collect()))
}

/// Every row of `path` with its stamp, or `None` when the file does not exist.
pub fn read_stamped<T: DeserializeOwned>(path: &Path) -> anyhow::Result<Option<Vec<(T, Stamp)>>> {
    read_records(path, |record, headers| record.deserialize(Some(headers)))
}

/// Each record of `path` read as a `T` and, from the same columns, as whatever `extra` reads.
fn read_records<T: DeserializeOwned, E>(
    path: &Path,
    extra: impl Fn(&csv::StringRecord, &csv::StringRecord) -> csv::Result<E>,
) -> anyhow::Result<Option<Vec<(T, E)>>> {
    if !path.exists() {
        return Ok(None);
    }
    let mut reader =
        csv::Reader::from_path(path).with_context(|| format!("opening {}", path.display()))?;
    let headers = reader
        .headers()
        .with_context(|| format!("reading the header of {}", path.display()))?
        .clone();
    let mut rows = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let at = || format!("{} row {}", path.display(), i + 2);
        let record = record.with_context(at)?;
        let row = record.deserialize(Some(&headers)).with_context(at)?;
        rows.push((row, extra(&record, &headers).with_context(at)?));
    }
    Ok(Some(rows))
}

/// Appends `row` to the CSV at `path` (created with a header when absent), atomically; the rows
/// already there keep their stamps.
pub fn append_row<T>(path: &Path, row: &T, stamp: &Stamp) -> anyhow::Result<()>
where
    T: Serialize + DeserializeOwned,
{
    let kept: Vec<(T, Stamp)> = read_stamped(path)?.unwrap_or_default();
    let mut sink = CsvSink::create(path, stamp)?;
    for (old, old_stamp) in &kept {
        sink.push_stamped(old, old_stamp)?;
    }
    sink.push(row)?;
    sink.finish()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Row {
        name: String,
        bits: Option<u32>,
    }

    fn row(name: &str, bits: Option<u32>) -> Row {
        Row {
            name: name.into(),
            bits,
        }
    }

    fn stamp(rev: &str) -> Stamp {
        Stamp {
            experiment: "paper".into(),
            git_rev: rev.into(),
            cores: 2,
            machine: "cpu".into(),
        }
    }

    #[test]
    fn rows_appear_under_the_final_name_only_when_finished() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/out.csv");
        let mut sink = CsvSink::create(&path, &stamp("abc")).unwrap();
        sink.push(&row("float", None)).unwrap();
        assert!(!path.exists());
        assert!(dir.path().join("nested/out.csv.partial").exists());
        sink.push(&row("quantized", Some(8))).unwrap();
        sink.finish().unwrap();
        let text = fs::read_to_string(&path).unwrap();
        assert_eq!(
            text,
            "name,bits,experiment,git_rev,cores,machine\n\
             float,,paper,abc,2,cpu\nquantized,8,paper,abc,2,cpu\n"
        );
        assert!(!dir.path().join("nested/out.csv.partial").exists());
    }

    #[test]
    fn rows_read_back_as_written_with_or_without_their_stamp() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.csv");
        assert!(read_rows::<Row>(&path).unwrap().is_none());
        append_row(&path, &row("float", None), &stamp("1234567")).unwrap();
        append_row(&path, &row("scores", Some(4)), &stamp("def")).unwrap();
        let rows: Vec<Row> = read_rows(&path).unwrap().unwrap();
        assert_eq!(rows, [row("float", None), row("scores", Some(4))]);
        let stamped: Vec<(Row, Stamp)> = read_stamped(&path).unwrap().unwrap();
        assert_eq!(
            stamped[0].1,
            stamp("1234567"),
            "an all-digit revision stays a string"
        );
        assert_eq!(stamped[1].1, stamp("def"));
    }

    #[test]
    fn files_older_than_the_stamp_read_with_an_empty_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.csv");
        fs::write(&path, "name,bits,git_rev\nfloat,,abc\n").unwrap();
        let stamped: Vec<(Row, Stamp)> = read_stamped(&path).unwrap().unwrap();
        assert_eq!(stamped[0].0, row("float", None));
        assert_eq!(stamped[0].1.git_rev, "abc");
        assert_eq!(stamped[0].1.machine, "");
    }

    #[test]
    fn a_bad_row_is_named_by_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.csv");
        fs::write(&path, "name,bits\nfloat,\nquantized,eight\n").unwrap();
        let err = read_rows::<Row>(&path).unwrap_err();
        assert!(format!("{err:#}").contains("bad.csv row 3"), "{err:#}");
    }
}
