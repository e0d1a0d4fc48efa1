use std::fmt;

/// A plain-text table with right-aligned columns, for terminal summaries.
#[derive(Debug, Clone, Default)]
pub struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
    /// Columns aligned left (text) rather than right (numbers).
    left: Vec<usize>,
}

impl Table {
    pub fn new(header: &[&str]) -> Self {
        Self {
            header: header.iter().map(|h| h.to_string()).collect(),
            rows: Vec::new(),
            left: Vec::new(),
        }
    }

    /// Aligns column `column` to the left, for text.
    pub fn align_left(mut self, column: usize) -> Self {
        self.left.push(column);
        self
    }

    pub fn row(&mut self, cells: Vec<String>) {
        assert_eq!(
            cells.len(),
            self.header.len(),
            "row {cells:?} does not fit the header"
        );
        self.rows.push(cells);
    }
}

impl Table {
    /// The table in GitHub markdown, numbers right-aligned.
    pub fn markdown(&self) -> String {
        let escape = |cell: &String| cell.replace('|', "\\|");
        let line = |cells: &[String]| {
            let cells: Vec<String> = cells.iter().map(escape).collect();
            format!("| {} |\n", cells.join(" | "))
        };
        let rule: Vec<String> = (0..self.header.len())
            .map(|i| match self.left.contains(&i) {
                true => "---".to_string(),
                false => "---:".to_string(),
            })
            .collect();
        let mut text = line(&self.header);
        text.push_str(&format!("|{}|\n", rule.join("|")));
        self.rows.iter().for_each(|row| text.push_str(&line(row)));
        text
    }
}

impl fmt::Display for Table {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let widths: Vec<usize> = (0..self.header.len())
            .map(|i| {
                std::iter::once(&self.header)
                    .chain(&self.rows)
                    .filter_map(|row| row.get(i).map(|c| c.chars().count()))
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let line = |f: &mut fmt::Formatter<'_>, cells: &[String]| {
            let padded: Vec<String> = cells
                .iter()
                .zip(&widths)
                .enumerate()
                .map(|(i, (cell, width))| match self.left.contains(&i) {
                    true => format!("{cell:<width$}"),
                    false => format!("{cell:>width$}"),
                })
                .collect();
            writeln!(f, "{}", padded.join("  ").trim_end())
        };
        line(f, &self.header)?;
        let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
        line(f, &rule)?;
        self.rows.iter().try_for_each(|row| line(f, row))
    }
}

/// Milliseconds as `12.34 ms`, `123 ms` or `45.4 s`.
pub fn ms(value: f64) -> String {
    match value {
        v if v >= 10_000.0 => format!("{:.1} s", v / 1000.0),
        v if v >= 100.0 => format!("{v:.0} ms"),
        v => format!("{v:.2} ms"),
    }
}

/// A size as `12.5 kB` or `1.2 MB`; `-` for nothing.
pub fn bytes(value: u64) -> String {
    match value as f64 {
        0.0 => "-".into(),
        v if v >= 1e6 => format!("{:.1} MB", v / 1e6),
        v if v >= 1e3 => format!("{:.1} kB", v / 1e3),
        v => format!("{v} B"),
    }
}

/// `1h 02m`, `3m 05s` or `12.3 s`.
pub fn duration(seconds: f64) -> String {
    let whole = seconds.round() as u64;
    match whole {
        s if s >= 3600 => format!("{}h {:02}m", s / 3600, s % 3600 / 60),
        s if s >= 60 => format!("{}m {:02}s", s / 60, s % 60),
        _ => format!("{seconds:.1} s"),
    }
}

/// A Unix time as `YYYY-MM-DD HH:MM UTC` (civil-from-days, no time crate needed).
pub fn utc(unix_s: u64) -> String {
    let days = (unix_s / 86_400) as i64;
    let (hour, minute) = (unix_s % 86_400 / 3600, unix_s % 3600 / 60);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02} {hour:02}:{minute:02} UTC")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aligns_numbers_right_and_chosen_columns_left() {
        let mut table = Table::new(&["variant", "hit@1"]);
        table.row(vec!["float".into(), "0.255".into()]);
        assert_eq!(
            table.to_string(),
            "variant  hit@1\n-------  -----\n  float  0.255\n"
        );
        let mut table = Table::new(&["variant", "hit@1"]).align_left(0);
        table.row(vec!["float".into(), "0.255".into()]);
        assert_eq!(
            table.to_string(),
            "variant  hit@1\n-------  -----\nfloat    0.255\n"
        );
        assert_eq!(
            table.markdown(),
            "| variant | hit@1 |\n|---|---:|\n| float | 0.255 |\n"
        );
    }

    #[test]
    fn unix_times_read_as_utc_dates() {
        assert_eq!(utc(0), "1970-01-01 00:00 UTC");
        assert_eq!(utc(951_782_400), "2000-02-29 00:00 UTC");
        assert_eq!(utc(1_795_320_000), "2026-11-22 04:00 UTC");
    }

    #[test]
    fn durations_and_sizes_read_naturally() {
        assert_eq!(duration(12.34), "12.3 s");
        assert_eq!(duration(185.0), "3m 05s");
        assert_eq!(duration(3720.0), "1h 02m");
        assert_eq!(bytes(0), "-");
        assert_eq!(bytes(12_462), "12.5 kB");
        assert_eq!(ms(7011.3), "7011 ms");
        assert_eq!(ms(45_381.0), "45.4 s");
    }
}
