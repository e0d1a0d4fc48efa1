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
}
