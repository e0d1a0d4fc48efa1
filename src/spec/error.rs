use std::path::PathBuf;

/// Why a spec was refused. Every variant names the file; the message says what to change.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    #[error("cannot read spec {}: {source}", file.display())]
    Read {
        file: PathBuf,
        source: std::io::Error,
    },
    /// The YAML does not fit the spec's shape: a syntax error, an unknown field, a wrong type.
    #[error("{}{}: {message}\n  hint: {hint}", file.display(), location_suffix(*line, *column))]
    Parse {
        file: PathBuf,
        line: Option<usize>,
        column: Option<usize>,
        message: String,
        hint: String,
    },
    /// The YAML parsed but a value is out of range or contradicts another field.
    #[error("{}: field `{field}`: {problem}\n  hint: {hint}", file.display())]
    Invalid {
        file: PathBuf,
        field: String,
        problem: String,
        hint: String,
    },
}

impl SpecError {
    /// The dotted path of the offending field, where one is known.
    pub fn field(&self) -> Option<&str> {
        match self {
            SpecError::Invalid { field, .. } => Some(field),
            _ => None,
        }
    }
}

fn location_suffix(line: Option<usize>, column: Option<usize>) -> String {
    match (line, column) {
        (Some(line), Some(column)) => format!(":{line}:{column}"),
        (Some(line), None) => format!(":{line}"),
        _ => String::new(),
    }
}
