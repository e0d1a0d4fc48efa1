use std::path::Path;

use yaml_serde::{Mapping, Value};

use super::{validate::validate, Spec, SpecError};

/// Reads, parses and validates a spec file; with `quick`, its `quick:` profile is merged in.
/// Both the full spec and its quick profile are validated, whichever is returned.
pub fn load(file: &Path, quick: bool) -> Result<Spec, SpecError> {
    let text = std::fs::read_to_string(file).map_err(|source| SpecError::Read {
        file: file.to_owned(),
        source,
    })?;
    load_str(&text, file, quick)
}

/// As [`load`], from text already read; `file` is only used in messages.
pub fn load_str(text: &str, file: &Path, quick: bool) -> Result<Spec, SpecError> {
    let mut full: Spec = yaml_serde::from_str(text).map_err(|err| parse_error(file, &err, ""))?;
    resolve_paths(&mut full, file);
    validate(&full).map_err(|invalid| invalid.into_error(file, ""))?;
    let Some(profile) = full.quick.clone() else {
        return Ok(full);
    };
    let mut quick_spec = apply_quick_profile(&full, profile, file)?;
    resolve_paths(&mut quick_spec, file);
    validate(&quick_spec).map_err(|invalid| invalid.into_error(file, "quick."))?;
    Ok(if quick { quick_spec } else { full })
}

/// Makes the relative paths in `spec` (trace files) relative to the spec file's folder, and
/// absolute (so that resolving the quick profile's copy again changes nothing).
fn resolve_paths(spec: &mut Spec, file: &Path) {
    let dir = file.parent().unwrap_or(Path::new("."));
    let dir = std::path::absolute(dir).unwrap_or_else(|_| dir.to_owned());
    let dir = dir.as_path();
    for workload in &mut spec.rl.workloads {
        workload.resolve_paths(dir);
    }
}

/// The spec with its quick profile deep-merged over it.
fn apply_quick_profile(full: &Spec, profile: Value, file: &Path) -> Result<Spec, SpecError> {
    if !profile.is_mapping() {
        return Err(SpecError::Parse {
            file: file.to_owned(),
            line: None,
            column: None,
            message: "`quick` is not a mapping".into(),
            hint: "write `quick:` followed by indented overrides, e.g. `  model: { seeds: [7] }`"
                .into(),
        });
    }
    let mut document = yaml_serde::to_value(full).expect("a parsed spec serializes");
    merge(&mut document, profile);
    yaml_serde::from_value(document)
        .map_err(|err| parse_error(file, &err, "in the `quick` profile: "))
}

/// Overlays `overlay` on `base`: mappings merge key by key, anything else is replaced.
fn merge(base: &mut Value, overlay: Value) {
    match (base, overlay) {
        (Value::Mapping(base), Value::Mapping(overlay)) => merge_mappings(base, overlay),
        (base, overlay) => *base = overlay,
    }
}

fn merge_mappings(base: &mut Mapping, overlay: Mapping) {
    for (key, value) in overlay {
        match base.get_mut(&key) {
            Some(existing) => merge(existing, value),
            None => {
                base.insert(key, value);
            }
        }
    }
}

/// Turns a parser error into a [`SpecError::Parse`] with its position and a hint.
fn parse_error(file: &Path, err: &yaml_serde::Error, context: &str) -> SpecError {
    let location = err.location();
    let message = strip_location(&err.to_string());
    SpecError::Parse {
        file: file.to_owned(),
        line: location.as_ref().map(|l| l.line()),
        column: location.as_ref().map(|l| l.column()),
        hint: hint_for(&message).into(),
        message: format!("{context}{message}"),
    }
}

/// yaml_serde appends " at line L column C"; the location is printed separately.
fn strip_location(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(at) => message[..at].to_owned(),
        None => message.to_owned(),
    }
}

fn hint_for(message: &str) -> &'static str {
    if message.contains("unknown field") {
        "remove the field or fix its spelling; the message lists the fields allowed here"
    } else if message.contains("unknown variant") {
        "use one of the values the message lists"
    } else if message.contains("invalid type") {
        "change the value to the type the message expects (a number, a list, text)"
    } else if message.contains("missing field") {
        "add the field; see experiments/paper.yaml for a complete spec"
    } else {
        "check the YAML syntax near the position given (indentation, colons, brackets)"
    }
}
