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
    status_mib("VmHWM:")
}

/// CPU time used so far by this process and by the whole machine, from /proc (Linux): read
/// twice, it says how many cores each kept busy in between.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CpuClock {
    at: std::time::Instant,
    /// This process's user and system time, clock ticks.
    process_ticks: f64,
    /// Every core's busy ticks (all but idle and I/O wait), machine-wide.
    machine_busy_ticks: f64,
}

/// Cores kept busy on average between two readings of a [`CpuClock`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CoresBusy {
    pub process: f64,
    pub machine: f64,
}

/// Linux's clock tick for /proc times (USER_HZ, 100 on every mainstream architecture).
const TICKS_PER_S: f64 = 100.0;

impl CpuClock {
    /// The counters now; NaN where /proc is missing.
    pub fn now() -> Self {
        let read = |path: &str| std::fs::read_to_string(path).unwrap_or_default();
        Self {
            at: std::time::Instant::now(),
            process_ticks: process_ticks(&read("/proc/self/stat")).unwrap_or(f64::NAN),
            machine_busy_ticks: machine_busy_ticks(&read("/proc/stat")).unwrap_or(f64::NAN),
        }
    }

    /// Cores this process and the machine kept busy since this reading.
    pub fn busy_since(&self) -> CoresBusy {
        let later = Self::now();
        let wall_ticks = later.at.duration_since(self.at).as_secs_f64() * TICKS_PER_S;
        CoresBusy {
            process: (later.process_ticks - self.process_ticks) / wall_ticks,
            machine: (later.machine_busy_ticks - self.machine_busy_ticks) / wall_ticks,
        }
    }
}

/// utime + stime of a `/proc/<pid>/stat` line (fields 14 and 15, counted past the command name,
/// which may hold spaces and parentheses).
fn process_ticks(stat: &str) -> Option<f64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // `rest` starts at field 3 (state): utime is field 14, stime 15.
    let (utime, stime) = (fields.get(11)?, fields.get(12)?);
    Some(utime.parse::<f64>().ok()? + stime.parse::<f64>().ok()?)
}

/// The busy ticks of the `cpu` line of `/proc/stat`: every column but idle (4th) and iowait (5th).
fn machine_busy_ticks(stat: &str) -> Option<f64> {
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let ticks: Vec<f64> = line
        .split_whitespace()
        .skip(1)
        .map(str::parse)
        .collect::<Result<_, _>>()
        .ok()?;
    // user nice system idle iowait irq softirq steal [guest guest_nice, already in user/nice]
    let counted = ticks.len().min(8);
    Some(ticks[..counted].iter().sum::<f64>() - ticks.get(3)? - ticks.get(4).unwrap_or(&0.0))
}

/// The resident set now in MiB, or NaN where /proc is missing.
pub fn rss_mb() -> f64 {
    status_mib("VmRSS:")
}

fn status_mib(field: &str) -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status_kb(&status, field).map_or(f64::NAN, |kb| kb / 1024.0)
}

fn status_kb(status: &str, field: &str) -> Option<f64> {
    let rest = status.lines().find_map(|line| line.strip_prefix(field))?;
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
    fn cpu_ticks_are_read_past_the_command_name_and_without_idle_time() {
        let stat = "42 (a (b) c) S 1 2 3 4 5 6 7 8 9 10 250 50 0 0 20 0";
        assert_eq!(process_ticks(stat), Some(300.0));
        assert_eq!(process_ticks("42 (cut) S 1 2"), None);
        let machine = "cpu  100 5 50 1000 20 1 2 3 7 0\ncpu0 1 1 1 1 1 1 1 1\n";
        assert_eq!(machine_busy_ticks(machine), Some(161.0));
        assert_eq!(machine_busy_ticks("intr 1 2\n"), None);
        // Half a second of spinning keeps this process busy (other tests' threads too): part of
        // a core at least, all at most, and the machine at least as busy as this process.
        let clock = CpuClock::now();
        let started = std::time::Instant::now();
        let mut spins = 0u64;
        while started.elapsed().as_millis() < 500 {
            spins = std::hint::black_box(spins + 1);
        }
        let busy = clock.busy_since();
        let cores = cores() as f64;
        assert!(
            busy.process > 0.1 && busy.process <= cores + 0.1,
            "{busy:?}"
        );
        assert!(busy.machine >= busy.process - 0.1, "{busy:?}");
        assert!(busy.machine <= cores + 0.1, "{busy:?}");
    }

    #[test]
    fn memory_is_read_from_the_named_status_field() {
        let status = "VmPeak:\t 900 kB\nVmHWM:\t  2048 kB\nVmRSS:\t 1 kB\n";
        assert_eq!(status_kb(status, "VmHWM:"), Some(2048.0));
        assert_eq!(status_kb(status, "VmRSS:"), Some(1.0));
        assert_eq!(status_kb("VmRSS:\t 1 kB\n", "VmHWM:"), None);
    }
}
