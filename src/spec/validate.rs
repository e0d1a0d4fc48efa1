//! Range and cross-field rules, checked before anything runs.

use std::fmt::Display;
use std::path::Path;

use super::{Spec, SpecError};
use crate::workload::WorkloadSpec;

/// Widths the quantizer and the FHE circuits support.
pub const BIT_WIDTHS: std::ops::RangeInclusive<u32> = 2..=8;
/// Pool sizes the packed circuits can hold in one polynomial.
pub const MOVIES: std::ops::RangeInclusive<usize> = 2..=512;

/// A rule a spec broke: which field, what is wrong, what to change.
#[derive(Debug)]
pub struct Invalid {
    field: String,
    problem: String,
    hint: String,
}

impl Invalid {
    fn new(field: &str, problem: impl Into<String>, hint: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            problem: problem.into(),
            hint: hint.into(),
        }
    }

    /// Attaches the file; `prefix` locates the field (e.g. `quick.`).
    pub fn into_error(self, file: &Path, prefix: &str) -> SpecError {
        SpecError::Invalid {
            file: file.to_owned(),
            field: format!("{prefix}{}", self.field),
            problem: self.problem,
            hint: self.hint,
        }
    }
}

/// Checks every rule; the first one broken is returned.
pub fn validate(spec: &Spec) -> Result<(), Invalid> {
    validate_name(&spec.name)?;
    validate_list("stages", &spec.stages)?;
    let data = &spec.data;
    in_range("data.movies", data.movies, MOVIES)?;
    in_range("data.liked_threshold", data.liked_threshold, 0.5..=5.0)?;
    in_range("data.min_liked", data.min_liked, 2..=data.movies)?;
    in_range_exclusive("data.test_fraction", data.test_fraction, 0.0, 1.0)?;
    let model = &spec.model;
    validate_list("model.l2", &model.l2)?;
    if let Some((i, l2)) = model
        .l2
        .iter()
        .enumerate()
        .find(|(_, l2)| !(l2.is_finite() && **l2 > 0.0))
    {
        return Err(Invalid::new(
            &format!("model.l2[{i}]"),
            format!("{l2} is not a positive number"),
            "use positive penalties such as [1, 3, 10, 30] (sklearn's C is 1/l2)",
        ));
    }
    in_range_exclusive(
        "model.validation_fraction",
        model.validation_fraction,
        0.0,
        1.0,
    )?;
    in_range("model.max_iterations", model.max_iterations, 1..=100_000)?;
    validate_list("model.bit_widths", &model.bit_widths)?;
    for (i, bits) in model.bit_widths.iter().enumerate() {
        in_range(&format!("model.bit_widths[{i}]"), *bits, BIT_WIDTHS)?;
    }
    validate_list("model.seeds", &model.seeds)?;
    validate_fhe(spec)?;
    validate_capacity(&spec.capacity)?;
    validate_serve(spec)?;
    validate_scaling(&spec.scaling)?;
    validate_rl(&spec.rl)?;
    validate_kube(&spec.deploy.kube)
}

/// Namespaces a run must not take over (teardown deletes the run's namespace).
const SHARED_NAMESPACES: [&str; 4] = ["default", "kube-system", "kube-public", "kube-node-lease"];

fn validate_kube(kube: &super::KubeSpec) -> Result<(), Invalid> {
    let name = kube.namespace.as_str();
    let dns_label = (1..=63).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-');
    if !dns_label {
        return Err(Invalid::new(
            "deploy.kube.namespace",
            format!("{name:?} is not a Kubernetes namespace name"),
            "use 1 to 63 lowercase letters, digits or `-`, starting and ending with a letter or digit",
        ));
    }
    if SHARED_NAMESPACES.contains(&name) {
        return Err(Invalid::new(
            "deploy.kube.namespace",
            format!("{name:?} is shared; a run deletes its namespace on teardown"),
            "name a namespace for cipherscale alone, e.g. `cipherscale`",
        ));
    }
    if kube.image.trim().is_empty() {
        return Err(Invalid::new(
            "deploy.kube.image",
            "the image is empty",
            "give the serve image built from the Dockerfile, e.g. `registry.example/cipherscale:0.1`",
        ));
    }
    Ok(())
}

fn validate_fhe(spec: &Spec) -> Result<(), Invalid> {
    let fhe = &spec.fhe;
    validate_list("fhe.pipelines", &fhe.pipelines)?;
    for (i, bits) in fhe.bit_widths.iter().enumerate() {
        if !spec.model.bit_widths.contains(bits) {
            return Err(Invalid::new(
                &format!("fhe.bit_widths[{i}]"),
                format!("{bits} is not among model.bit_widths"),
                "list only widths the model stage quantizes to, or leave fhe.bit_widths empty for all",
            ));
        }
    }
    if let Some(samples) = fhe.samples {
        in_range("fhe.samples", samples, 1..=1_000_000)?;
    }
    in_range(
        "fhe.integer.inputs",
        fhe.integer.inputs,
        1..=spec.data.movies,
    )?;
    in_range(
        "fhe.integer.outputs",
        fhe.integer.outputs,
        1..=spec.data.movies,
    )?;
    in_range("fhe.integer.samples", fhe.integer.samples, 1..=1000)?;
    validate_list("fhe.argmax.bits", &fhe.argmax.bits)?;
    for (i, &bits) in fhe.argmax.bits.iter().enumerate() {
        in_range(
            &format!("fhe.argmax.bits[{i}]"),
            bits,
            crate::fhe::argmax::SCORE_BITS,
        )?;
    }
    in_range("fhe.argmax.samples", fhe.argmax.samples, 1..=1_000_000)?;
    if let Some(minutes) = fhe.argmax.budget_minutes {
        if !(minutes > 0.0 && minutes.is_finite()) {
            return Err(Invalid::new(
                "fhe.argmax.budget_minutes",
                format!("{minutes} is not a positive number of minutes"),
                "leave it out for no cap, or give e.g. 10",
            ));
        }
    }
    Ok(())
}

/// A `capacity:` section given on the command line rather than in a file (`cipherscale plan`):
/// the same rules, the flag's field named in the message.
pub fn check_capacity(c: &super::CapacitySpec) -> Result<(), String> {
    validate_capacity(c).map_err(|i| format!("{}: {} ({})", i.field, i.problem, i.hint))
}

fn validate_capacity(c: &super::CapacitySpec) -> Result<(), Invalid> {
    not_empty(
        "capacity.loads",
        &c.loads,
        "give loads such as [0.5, 5, 50]",
    )?;
    for (i, load) in c.loads.iter().enumerate() {
        in_range(&format!("capacity.loads[{i}]"), *load, 1e-6..=1e6)?;
    }
    validate_list("capacity.clients", &c.clients)?;
    for (i, clients) in c.clients.iter().enumerate() {
        in_range(&format!("capacity.clients[{i}]"), *clients, 1..=10_000_000)?;
    }
    in_range_exclusive("capacity.quantile", c.quantile, 0.0, 1.0)?;
    in_range("capacity.objective_s", c.objective_s, 1e-6..=86_400.0)?;
    in_range("capacity.prices.vcpu_hour", c.prices.vcpu_hour, 0.0..=1e3)?;
    in_range("capacity.prices.gib_hour", c.prices.gib_hour, 0.0..=1e3)?;
    in_range("capacity.prices.egress_gb", c.prices.egress_gb, 0.0..=1e3)?;
    in_range(
        "capacity.bounds.max_replicas",
        c.bounds.max_replicas,
        1..=1_000_000,
    )?;
    in_range(
        "capacity.bounds.replica_memory_gib",
        c.bounds.replica_memory_gib,
        0.001..=1e6,
    )?;
    for (i, point) in c.live.iter().enumerate() {
        let field = |name: &str| format!("capacity.live[{i}].{name}");
        in_range(&field("bits"), point.bits, widths_of(point.pipeline))?;
        in_range(&field("rate_rps"), point.rate_rps, 1e-3..=10_000.0)?;
        in_range(&field("duration_s"), point.duration_s, 1.0..=3600.0)?;
        // A 95th percentile needs a score of answers past the warm-up.
        in_range(&field("max_requests"), point.max_requests, 25..=1_000_000)?;
        in_range(
            &field("calibration_requests"),
            point.calibration_requests,
            10..=100_000,
        )?;
    }
    for (i, point) in c.threads.iter().enumerate() {
        let field = |name: &str| format!("capacity.threads[{i}].{name}");
        if point.pipeline == crate::fhe::Pipeline::Integer {
            return Err(Invalid::new(
                &field("pipeline"),
                "integer is measured on a slice of the model, not at full size",
                "time glwe-packed, lwe or glwe-argmax",
            ));
        }
        in_range(&field("bits"), point.bits, widths_of(point.pipeline))?;
        in_range(&field("requests"), point.requests, 1..=10_000)?;
    }
    Ok(())
}

/// The widths a pipeline takes: weight widths, or score widths for `glwe-argmax`.
fn widths_of(pipeline: crate::fhe::Pipeline) -> std::ops::RangeInclusive<u32> {
    match pipeline {
        crate::fhe::Pipeline::GlweArgmax => crate::fhe::argmax::SCORE_BITS,
        _ => BIT_WIDTHS,
    }
}

fn validate_cells(section: &str, cells: &[super::ServeCell]) -> Result<(), Invalid> {
    for (i, cell) in cells.iter().enumerate() {
        in_range(
            &format!("{section}.cells[{i}].bits"),
            cell.bits,
            widths_of(cell.pipeline),
        )?;
        in_range(
            &format!("{section}.cells[{i}].requests"),
            cell.requests,
            1..=100_000,
        )?;
    }
    Ok(())
}

fn validate_scaling(scaling: &super::ScalingSpec) -> Result<(), Invalid> {
    validate_cells("scaling", &scaling.cells)?;
    validate_list("scaling.replicas", &scaling.replicas)?;
    for (i, &replicas) in scaling.replicas.iter().enumerate() {
        in_range(&format!("scaling.replicas[{i}]"), replicas, 1..=64)?;
    }
    if scaling.replicas[0] != 1 {
        return Err(Invalid::new(
            "scaling.replicas",
            format!("starts at {}", scaling.replicas[0]),
            "start at 1: speedups are measured against one replica",
        ));
    }
    in_range(
        "scaling.clients_per_replica",
        scaling.clients_per_replica,
        1..=16,
    )?;
    for (i, &replicas) in scaling.simulated.iter().enumerate() {
        in_range(&format!("scaling.simulated[{i}]"), replicas, 1..=1024)?;
    }
    Ok(())
}

fn validate_serve(spec: &Spec) -> Result<(), Invalid> {
    let serve = &spec.serve;
    validate_cells("serve", &serve.cells)?;
    validate_list("serve.clients", &serve.clients)?;
    for (i, &clients) in serve.clients.iter().enumerate() {
        in_range(&format!("serve.clients[{i}]"), clients, 1..=64)?;
    }
    if let Some(workers) = serve.workers {
        in_range("serve.workers", workers, 1..=256)?;
    }
    Ok(())
}

fn validate_rl(rl: &super::RlSpec) -> Result<(), Invalid> {
    rl.env.check().map_err(|e| {
        Invalid::new(
            "rl.env",
            e.to_string(),
            "see EnvConfig in src/rl/env.rs for each field",
        )
    })?;
    rl.open_loop.check().map_err(|e| {
        Invalid::new(
            "rl.open_loop",
            e.to_string(),
            "see OpenLoopConfig in src/autoscale/open_loop.rs for each field",
        )
    })?;
    validate_workloads(rl)?;
    in_range("rl.episodes", rl.episodes, 1..=100_000)?;
    in_range("rl.open_loop_episodes", rl.open_loop_episodes, 1..=100_000)?;
    if rl.agents.is_empty() {
        return Err(Invalid::new(
            "rl.agents",
            "the list is empty",
            "add `- { name: ppo }`",
        ));
    }
    for (i, agent) in rl.agents.iter().enumerate() {
        validate_agent(i, agent, rl)?;
    }
    validate_list("rl.seeds", &rl.seeds)?;
    validate_tuning(&rl.tuning, rl.seeds.len())?;
    in_range(
        "rl.cluster.slots_per_replica",
        rl.cluster.slots_per_replica,
        1..=64,
    )?;
    if let Some(host) = rl.cluster.host_slots {
        in_range("rl.cluster.host_slots", host, 1..=1024)?;
    }
    in_range("rl.cluster.startup_s", rl.cluster.startup_s, 0.0..=600.0)?;
    in_range(
        "rl.cluster.background_rps",
        rl.cluster.background_rps,
        0.0..=1e6,
    )?;
    let ppo = &rl.ppo;
    in_range("rl.ppo.n_steps", ppo.n_steps, 2..=1_000_000)?;
    in_range("rl.ppo.batch_size", ppo.batch_size, 2..=ppo.n_steps)?;
    in_range("rl.ppo.epochs", ppo.epochs, 1..=1000)?;
    in_range_exclusive("rl.ppo.learning_rate", ppo.learning_rate, 0.0, 1.0)?;
    if let Some(live) = &rl.live {
        in_range("rl.live.episodes", live.episodes, 1..=1000)?;
        in_range("rl.live.steps", live.steps, 1..=10_000)?;
        in_range("rl.live.host_slots", live.host_slots, 1..=1024)?;
        if !rl
            .workloads
            .iter()
            .any(|w| matches!(w, WorkloadSpec::Bursts(_)))
        {
            return Err(Invalid::new(
                "rl.live",
                "the live run replays the `bursts` workload's policy, and rl.workloads has none",
                "add `- { kind: bursts }` to rl.workloads, or remove rl.live",
            ));
        }
    }
    Ok(())
}

fn validate_workloads(rl: &super::RlSpec) -> Result<(), Invalid> {
    not_empty(
        "rl.workloads",
        &rl.workloads,
        "add `- { kind: bursts }` (the paper's MDP)",
    )?;
    for (i, workload) in rl.workloads.iter().enumerate() {
        let field = format!("rl.workloads[{i}]");
        let name = workload.name();
        if rl.workloads[..i].iter().any(|w| w.name() == name) {
            return Err(Invalid::new(
                &field,
                format!("{name:?} names two workloads"),
                "give one of them its own `name`",
            ));
        }
        validate_name(&name).map_err(|_| {
            Invalid::new(
                &format!("{field}.name"),
                format!("{name:?} is not a usable name"),
                "use lowercase letters, digits, `-` and `_`",
            )
        })?;
        match workload {
            WorkloadSpec::Bursts(b) => {
                in_range(
                    &format!("{field}.validation_episodes"),
                    b.validation_episodes,
                    1..=10_000,
                )?;
                in_range(
                    &format!("{field}.test_episodes"),
                    b.test_episodes,
                    1..=10_000,
                )?;
            }
            WorkloadSpec::Trace(t) => {
                for (part, path) in [("train", &t.train), ("test", &t.test)] {
                    if !path.is_file() {
                        return Err(Invalid::new(
                            &format!("{field}.{part}"),
                            format!("no trace file at {}", path.display()),
                            "point it at a `minute,requests` CSV such as \
                             ../shared/traces/nasa_http_jul95.csv (relative paths are relative to the spec file)",
                        ));
                    }
                }
                in_range(
                    &format!("{field}.validation_days"),
                    t.validation_days,
                    1..=1000,
                )?;
                if let Some(days) = t.test_days {
                    in_range(&format!("{field}.test_days"), days, 1..=1000)?;
                }
                in_range(
                    &format!("{field}.peak_replicas"),
                    t.peak_replicas,
                    0.01..=1e4,
                )?;
                in_range(&format!("{field}.compress"), t.compress, 1.0..=1e4)?;
                in_range(
                    &format!("{field}.peak_quantile"),
                    t.peak_quantile,
                    0.01..=1.0,
                )?;
            }
            WorkloadSpec::Diurnal(s)
            | WorkloadSpec::Ramp(s)
            | WorkloadSpec::FlashCrowd(s)
            | WorkloadSpec::OnOff(s) => {
                in_range(
                    &format!("{field}.peak_replicas"),
                    s.peak_replicas,
                    0.01..=1e4,
                )?;
                in_range(&format!("{field}.compress"), s.compress, 1.0..=1e4)?;
                in_range(&format!("{field}.noise"), s.noise, 0.0..=2.0)?;
                in_range(
                    &format!("{field}.validation_episodes"),
                    s.validation_episodes,
                    1..=10_000,
                )?;
                in_range(
                    &format!("{field}.test_episodes"),
                    s.test_episodes,
                    1..=10_000,
                )?;
            }
        }
    }
    Ok(())
}

fn validate_tuning(t: &crate::autoscale::arenas::Tuning, seeds: usize) -> Result<(), Invalid> {
    validate_list("rl.tuning.hpa_targets", &t.hpa_targets)?;
    for (i, &target) in t.hpa_targets.iter().enumerate() {
        in_range(&format!("rl.tuning.hpa_targets[{i}]"), target, 0.01..=1.0)?;
    }
    validate_list("rl.tuning.windows_s", &t.windows_s)?;
    validate_list("rl.tuning.queue_targets", &t.queue_targets)?;
    for (i, &target) in t.queue_targets.iter().enumerate() {
        in_range(
            &format!("rl.tuning.queue_targets[{i}]"),
            target,
            0.01..=1000.0,
        )?;
    }
    not_empty("rl.tuning.thresholds", &t.thresholds, "add `[1.0, 0.5]`")?;
    for (i, &[up, down]) in t.thresholds.iter().enumerate() {
        in_range(&format!("rl.tuning.thresholds[{i}][1]"), down, 0.0..=up)?;
    }
    validate_list("rl.tuning.alphas", &t.alphas)?;
    for (i, &alpha) in t.alphas.iter().enumerate() {
        in_range(&format!("rl.tuning.alphas[{i}]"), alpha, 0.0..=1.0)?;
    }
    in_range("rl.tuning.beta", t.beta, 0.0..=1.0)?;
    validate_list("rl.tuning.seasonal", &t.seasonal)?;
    validate_list("rl.tuning.headroom", &t.headroom)?;
    validate_list("rl.tuning.horizons", &t.horizons)?;
    for (i, &h) in t.horizons.iter().enumerate() {
        in_range(&format!("rl.tuning.horizons[{i}]"), h, 1..=64)?;
    }
    validate_list("rl.tuning.ppo_learning_rates", &t.ppo_learning_rates)?;
    validate_list("rl.tuning.ppo_entropy", &t.ppo_entropy)?;
    in_range("rl.tuning.ppo_seeds", t.ppo_seeds, 1..=seeds.max(1))?;
    in_range("rl.tuning.model_samples", t.model_samples, 100..=1_000_000)?;
    in_range("rl.tuning.oracle_beam", t.oracle_beam, 1..=64)?;
    in_range("rl.tuning.oracle_passes", t.oracle_passes, 0..=100)?;
    Ok(())
}

fn validate_agent(i: usize, agent: &super::AgentSpec, rl: &super::RlSpec) -> Result<(), Invalid> {
    let field = format!("rl.agents[{i}]");
    let ok = agent.name.starts_with("ppo")
        && agent
            .name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if !ok {
        return Err(Invalid::new(
            &format!("{field}.name"),
            format!("{:?} is not a PPO policy name", agent.name),
            "start it with `ppo` and use lowercase letters, digits and `-`, e.g. `ppo-target`",
        ));
    }
    if rl.agents[..i].iter().any(|a| a.name == agent.name) {
        return Err(Invalid::new(
            &format!("{field}.name"),
            format!("{:?} names two agents", agent.name),
            "give every agent its own name",
        ));
    }
    if let Some(episodes) = agent.episodes {
        in_range(&format!("{field}.episodes"), episodes, 1..=100_000)?;
    }
    if let Some((j, unknown)) = agent
        .workloads
        .iter()
        .flatten()
        .enumerate()
        .find(|(_, w)| !rl.workloads.iter().any(|workload| &&workload.name() == w))
    {
        return Err(Invalid::new(
            &format!("{field}.workloads[{j}]"),
            format!("no workload is named {unknown:?}"),
            "use the names of rl.workloads (a workload's `name`, else its kind)",
        ));
    }
    let most = crate::rl::ppo::net::MAX_ACTIONS;
    for (what, min, max) in [
        ("rl.env", rl.env.min_replicas, rl.env.max_replicas),
        (
            "rl.open_loop",
            rl.open_loop.min_replicas,
            rl.open_loop.max_replicas,
        ),
    ] {
        let counts = max - min + 1;
        if agent.actions == crate::autoscale::agent::ActionSpace::Target && counts > most {
            return Err(Invalid::new(
                &format!("{field}.actions"),
                format!("target actions need one per replica count: {counts} in {what}, at most {most}"),
                format!("use `step` actions, or fewer counts between {what}.min_replicas and max_replicas"),
            ));
        }
    }
    Ok(())
}

fn validate_name(name: &str) -> Result<(), Invalid> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if ok {
        return Ok(());
    }
    Err(Invalid::new(
        "name",
        format!("{name:?} cannot name a results folder"),
        "use 1 to 64 lowercase letters, digits, `-` or `_`, e.g. `paper`",
    ))
}

fn in_range<T: PartialOrd + Display>(
    field: &str,
    value: T,
    range: std::ops::RangeInclusive<T>,
) -> Result<(), Invalid> {
    if range.contains(&value) {
        return Ok(());
    }
    Err(Invalid::new(
        field,
        format!("{value} is out of range"),
        format!("use a value from {} to {}", range.start(), range.end()),
    ))
}

fn in_range_exclusive(field: &str, value: f64, low: f64, high: f64) -> Result<(), Invalid> {
    if value > low && value < high {
        return Ok(());
    }
    Err(Invalid::new(
        field,
        format!("{value} is out of range"),
        format!("use a value strictly between {low} and {high}, e.g. 0.2"),
    ))
}

fn not_empty<T>(field: &str, values: &[T], hint: &str) -> Result<(), Invalid> {
    if values.is_empty() {
        return Err(Invalid::new(field, "the list is empty", hint));
    }
    Ok(())
}

/// A sweep list must be non-empty and free of repeats.
fn validate_list<T: PartialEq + Display>(field: &str, values: &[T]) -> Result<(), Invalid> {
    if values.is_empty() {
        return Err(Invalid::new(
            field,
            "the list is empty",
            "give at least one value",
        ));
    }
    let repeated = values
        .iter()
        .enumerate()
        .find(|(i, v)| values[..*i].contains(v));
    match repeated.map(|(_, v)| v) {
        Some(repeated) => Err(Invalid::new(
            field,
            format!("{repeated} appears more than once"),
            "list each value once",
        )),
        None => Ok(()),
    }
}
