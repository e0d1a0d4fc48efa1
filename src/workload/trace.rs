//! Per-minute request counts of a real server (`minute,requests`), such as the NASA-HTTP 1995
//! traces in `../shared/traces/`.

use std::path::{Path, PathBuf};

/// Minutes in a day: a trace is cut into whole days, one episode each.
pub const DAY_MINUTES: usize = 1440;

/// A per-minute request-count series.
#[derive(Debug, Clone, PartialEq)]
pub struct Trace {
    pub path: PathBuf,
    /// Requests in each minute since the file's start.
    pub counts: Vec<u32>,
}

/// Why a trace file cannot be used; each names the file and, where one is at fault, the row
/// (the line number, the header being line 1).
#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    #[error("cannot read trace {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: the header must be `minute,requests`, not `{found}`")]
    Header { path: PathBuf, found: String },
    #[error("{path}:{row}: {problem}")]
    Row {
        path: PathBuf,
        row: usize,
        problem: String,
    },
    #[error("{path}: {minutes} minutes hold no whole day ({DAY_MINUTES} minutes)")]
    TooShort { path: PathBuf, minutes: usize },
}

impl Trace {
    /// Reads and checks a trace: the header, then one row per minute, `minute` counting from 0
    /// without gaps, `requests` a non-negative integer.
    pub fn load(path: &Path) -> Result<Self, TraceError> {
        let text = std::fs::read_to_string(path).map_err(|source| TraceError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(path, &text)
    }

    /// Parses the text of a trace file (`path` only names it in errors).
    pub fn parse(path: &Path, text: &str) -> Result<Self, TraceError> {
        let mut lines = text.lines();
        let header = lines.next().unwrap_or("").trim();
        if header != "minute,requests" {
            return Err(TraceError::Header {
                path: path.to_owned(),
                found: header.to_owned(),
            });
        }
        let mut counts = Vec::new();
        for (i, line) in lines.enumerate() {
            let row = i + 2;
            if line.trim().is_empty() {
                continue;
            }
            let bad = |problem: String| TraceError::Row {
                path: path.to_owned(),
                row,
                problem,
            };
            counts.push(parse_row(line, counts.len()).map_err(bad)?);
        }
        if counts.len() < DAY_MINUTES {
            return Err(TraceError::TooShort {
                path: path.to_owned(),
                minutes: counts.len(),
            });
        }
        Ok(Self {
            path: path.to_owned(),
            counts,
        })
    }

    /// Whole days in the trace (a partial last day is left out).
    pub fn days(&self) -> usize {
        self.counts.len() / DAY_MINUTES
    }

    /// The counts of day `day` (0-based).
    pub fn day(&self, day: usize) -> &[u32] {
        &self.counts[day * DAY_MINUTES..(day + 1) * DAY_MINUTES]
    }
}

/// One `minute,requests` row that must be minute `expected`.
fn parse_row(line: &str, expected: usize) -> Result<u32, String> {
    let mut fields = line.trim().split(',');
    let (Some(minute), Some(requests), None) = (fields.next(), fields.next(), fields.next()) else {
        return Err(format!(
            "expected two fields `minute,requests`, got `{line}`"
        ));
    };
    let minute: usize = minute
        .trim()
        .parse()
        .map_err(|_| format!("minute `{minute}` is not a whole number"))?;
    if minute != expected {
        return Err(format!(
            "minute {minute} where {expected} was expected (rows must count minutes from 0 without gaps)"
        ));
    }
    requests
        .trim()
        .parse()
        .map_err(|_| format!("requests `{requests}` is not a non-negative whole number"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day_text(rows: usize) -> String {
        let mut text = String::from("minute,requests\n");
        for m in 0..rows {
            text += &format!("{m},{}\n", m % 7);
        }
        text
    }

    #[test]
    fn reads_whole_days() {
        let trace = Trace::parse(Path::new("t.csv"), &day_text(2 * DAY_MINUTES + 5)).unwrap();
        assert_eq!(trace.days(), 2);
        assert_eq!(trace.day(1)[0], (DAY_MINUTES % 7) as u32);
    }

    #[test]
    fn bad_files_name_the_file_and_row() {
        let err = |text: &str| {
            Trace::parse(Path::new("x.csv"), text)
                .unwrap_err()
                .to_string()
        };
        assert_eq!(
            err("time,count\n0,1\n"),
            "x.csv: the header must be `minute,requests`, not `time,count`"
        );
        let mut gap = day_text(10);
        gap += "11,3\n";
        assert!(
            err(&gap).starts_with("x.csv:12: minute 11 where 10 was expected"),
            "{}",
            err(&gap)
        );
        assert_eq!(
            err("minute,requests\n0,1\n1,-4\n"),
            "x.csv:3: requests `-4` is not a non-negative whole number"
        );
        assert_eq!(
            err("minute,requests\n0,1,2\n"),
            "x.csv:2: expected two fields `minute,requests`, got `0,1,2`"
        );
        assert_eq!(
            err("minute,requests\n0,1\n"),
            "x.csv: 1 minutes hold no whole day (1440 minutes)"
        );
        let missing = Trace::load(Path::new("/nonexistent/t.csv")).unwrap_err();
        assert!(missing
            .to_string()
            .starts_with("cannot read trace /nonexistent/t.csv"));
    }
}
