//! What identifies a result: the experiment, the source revision and the machine that wrote it.

use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// The provenance columns every results file ends with, the same on each of its rows. Absent
/// columns (files written before a column existed) read as empty.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Stamp {
    /// The spec's `name` (or the command, for files a command writes outside a run).
    pub experiment: String,
    /// The commit the code came from; see [`git_revision`].
    pub git_rev: String,
    /// Cores this process could use.
    pub cores: usize,
    /// The CPU model, or the architecture where it is unknown.
    pub machine: String,
}

impl Stamp {
    /// The stamp of results written now, on this machine, from this checkout.
    pub fn here(experiment: &str) -> Self {
        Self {
            experiment: experiment.to_owned(),
            git_rev: git_revision(),
            cores: cores(),
            machine: machine(),
        }
    }
}

/// Cores this process may use.
pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

/// The CPU model from `/proc/cpuinfo`, else the architecture (`x86_64`, `aarch64`).
pub fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    cpu_model(&cpuinfo).unwrap_or_else(|| std::env::consts::ARCH.to_owned())
}

fn cpu_model(cpuinfo: &str) -> Option<String> {
    cpuinfo
        .lines()
        .find_map(|line| line.strip_prefix("model name"))
        .and_then(|rest| rest.split_once(':'))
        .map(|(_, name)| name.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|name| !name.is_empty())
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The commit the results come from (`-dirty` when tracked files other than the outputs under
/// `results/`, `plots/` and `paper/` differ), or `unknown`.
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
            // Results, figures and the report are what runs write, not what they run.
            let outputs = [":!results", ":!plots", ":!paper"];
            let status = ["status", "--porcelain", "--untracked-files=no", "--", "."];
            let args: Vec<&str> = status.iter().chain(&outputs).copied().collect();
            let dirty = git(&args).is_some_and(|status| !status.is_empty());
            if dirty {
                format!("{rev}-dirty")
            } else {
                rev
            }
        }
        _ => "unknown".into(),
    }
}

/// Resets the kernel's resident-set high-water mark of this process (Linux; no-op elsewhere).
pub fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// The resident-set high-water mark in MiB, or NaN where /proc is missing.
pub fn peak_rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    vm_hwm_kb(&status).map_or(f64::NAN, |kb| kb / 1024.0)
}

fn vm_hwm_kb(status: &str) -> Option<f64> {
    let rest = status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))?;
    rest.trim().trim_end_matches("kB").trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cpu_model_is_the_first_model_name_with_spaces_squeezed() {
        let cpuinfo =
            "processor\t: 0\nmodel name\t: AMD  EPYC 7B13\nprocessor\t: 1\nmodel name\t: other\n";
        assert_eq!(cpu_model(cpuinfo).as_deref(), Some("AMD EPYC 7B13"));
        assert_eq!(cpu_model("processor\t: 0\n"), None);
    }

    #[test]
    fn peak_memory_is_read_from_vm_hwm() {
        assert_eq!(
            vm_hwm_kb("VmPeak:\t 900 kB\nVmHWM:\t  2048 kB\n"),
            Some(2048.0)
        );
        assert_eq!(vm_hwm_kb("VmRSS:\t 1 kB\n"), None);
    }
}
