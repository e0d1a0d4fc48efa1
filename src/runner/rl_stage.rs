//! Stage `rl`: the autoscaling study on the simulator calibrated from the measured circuit. For
//! each workload of the spec, `autoscale::protocol` tunes every controller on validation
//! episodes, trains PPO on training episodes (every seed), and tests everything once beside the
//! oracle; this stage writes what it returns (`rl_*.csv`, checkpoints under `rl/`) and prints the
//! summary. It fails, after writing, if the oracle was beaten on any test episode.

use std::path::Path;

use anyhow::{bail, Context};

use super::Experiment;
use crate::autoscale::arenas::{BurstsArena, OpenLoopArena};
use crate::autoscale::open_loop::OpenLoopEnv;
use crate::autoscale::protocol::{self, AgentPlan, Outcome, Plan};
use crate::autoscale::summary::{equals_static, summarize};
use crate::report::{read, CsvSink, Table};
use crate::results::autoscale::{
    CollapseRow, EvalKey, EvalRow, ReplicaRow, Stamp, StepRow, SummaryRow, TrainRow, TuningRow,
    WorkloadRow,
};
use crate::sim::{ClusterConfig, ServiceTime};
use crate::spec::RlSpec;
use crate::workload::{Workload, WorkloadSpec};

/// The files of this stage, in the order they are written.
const FILES: [&str; 8] = [
    "rl_workloads.csv",
    "rl_tuning.csv",
    "rl_train.csv",
    "rl_eval.csv",
    "rl_summary.csv",
    "rl_diagnostics.csv",
    "rl_steps.csv",
    "rl_replicas.csv",
];

pub fn run(experiment: &Experiment) -> anyhow::Result<()> {
    let rl = &experiment.spec.rl;
    let (service, source) = calibrate(&experiment.out, rl)?;
    tracing::info!("rl: simulator calibrated from {source}: {service:?}");
    let cluster = cluster_config(rl, service);
    let progress = super::stage_progress(super::Stage::Rl, rl.workloads.len());
    let mut sinks = FILES
        .iter()
        .map(|f| CsvSink::create(&experiment.out.join(f)))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let stamp = Stamp {
        experiment: &experiment.spec.name,
        git_rev: &experiment.git_rev,
    };
    let mut tables = Vec::new();
    let mut beaten = Vec::new();
    for workload in &rl.workloads {
        let say = |message: String| progress.set_message(message);
        let outcome = study(experiment, workload, &cluster, &say)
            .with_context(|| format!("workload `{}`", workload.name()))?;
        tables.push(write(
            &stamp,
            &outcome,
            workload.kind(),
            &source,
            &mut sinks,
        )?);
        beaten.extend(
            outcome
                .oracle_beaten
                .iter()
                .map(|b| format!("{}: {b}", outcome.workload)),
        );
        progress.inc(1);
    }
    progress.finish_and_clear();
    for sink in sinks {
        crate::report::emit(format_args!("wrote {}", sink.finish()?.display()))?;
    }
    for (title, table) in &tables {
        crate::report::emit(title)?;
        crate::report::emit(table)?;
    }
    if !beaten.is_empty() {
        bail!(
            "the oracle is not a lower bound on cost: {} (its search is too narrow: raise \
             rl.tuning.oracle_beam or oracle_passes)",
            beaten.join("; ")
        );
    }
    Ok(())
}

/// Runs the protocol on one workload.
fn study(
    experiment: &Experiment,
    workload: &WorkloadSpec,
    cluster: &ClusterConfig,
    say: &(dyn Fn(String) + Sync),
) -> anyhow::Result<Outcome> {
    let rl = &experiment.spec.rl;
    let plan = Plan {
        workload: workload.name(),
        agents: rl
            .agents_for(workload)
            .into_iter()
            .map(|(a, episodes)| AgentPlan {
                name: a.name,
                observation: a.observation,
                actions: a.actions,
                episodes,
            })
            .collect(),
        ppo: rl.ppo.clone(),
        ppo_grid: rl.tuning.ppo_grid(),
        seeds: rl.seeds.clone(),
        tuning_seeds: rl.tuning.ppo_seeds,
        oracle: rl.tuning.oracle(),
        checkpoints: Some(experiment.out.join("rl")),
    };
    match (workload, Workload::open(workload)?) {
        (WorkloadSpec::Bursts(b), _) => {
            let arena = BurstsArena::new(
                rl.env.clone(),
                cluster.clone(),
                b.validation_episodes,
                b.test_episodes,
                rl.tuning.clone(),
            )?;
            protocol::run(&arena, &plan, say)
        }
        (_, Some(open)) => {
            let env = OpenLoopEnv::new(rl.open_loop.clone(), cluster.clone())?;
            let seed = crate::workload::mix(experiment.spec.seed, 0x524c);
            let arena = OpenLoopArena::new(env, open, seed, rl.tuning.clone());
            protocol::run(&arena, &plan, say)
        }
        (_, None) => bail!("workload `{}` has no episodes", workload.name()),
    }
}

/// Writes one workload's rows to the stage's files; returns its summary table.
fn write(
    stamp: &Stamp,
    outcome: &Outcome,
    kind: &str,
    source: &str,
    sinks: &mut [CsvSink],
) -> anyhow::Result<(String, Table)> {
    let w = outcome.workload.as_str();
    let (workload, summaries) =
        summarize(outcome, 7).context("the study tested no static count or no oracle")?;
    sinks[0].push(&WorkloadRow::new(stamp, &workload, kind, source))?;
    for t in &outcome.tuned {
        sinks[1].push(&TuningRow::new(stamp, w, t))?;
    }
    write_training(stamp, outcome, kind, &mut sinks[2])?;
    for tested in &outcome.tested {
        for (seed, runs) in &tested.runs {
            for (episode, m) in runs.iter().enumerate() {
                let key = EvalKey {
                    workload: w,
                    controller: &tested.controller,
                    kind: tested.kind,
                    seed: *seed,
                    episode,
                    label: &outcome.test_labels[episode],
                };
                sinks[3].push(&EvalRow::new(stamp, key, m))?;
            }
        }
        if tested.kind == "ppo" {
            let same = equals_static(outcome, tested);
            for (((seed, _), collapse), same) in tested.runs.iter().zip(&tested.collapse).zip(same)
            {
                sinks[5].push(&CollapseRow::new(
                    stamp,
                    w,
                    &tested.controller,
                    *seed,
                    collapse,
                    same,
                ))?;
            }
        }
        write_steps(stamp, outcome, tested, &mut sinks[6])?;
        write_replicas(stamp, w, tested, &mut sinks[7])?;
    }
    let mut table = Table::new(&[
        "controller",
        "IQM cost [95% CI]",
        "score [95% CI]",
        "P(beats static)",
        "violations/ep",
        "replicas",
        "constant seeds",
    ])
    .align_left(0);
    for s in &summaries {
        sinks[4].push(&SummaryRow::new(stamp, w, s))?;
        if s.kind == "static" && !s.chosen {
            continue;
        }
        table.row(vec![
            s.controller.clone(),
            s.cost.show(4),
            s.score.show(2),
            s.vs_static
                .map_or("-".into(), |p| format!("{:.2}", p.estimate)),
            format!("{:.1}", s.violations_per_episode),
            format!("{:.2}", s.mean_replicas),
            if s.kind == "ppo" {
                format!("{}/{}", s.constant_runs, s.runs)
            } else {
                "-".into()
            },
        ]);
    }
    let title = format!(
        "{w}: {} test episodes, best static {} (chosen on validation), oracle saves {:.0}%{}",
        workload.episodes,
        workload.best_static,
        100.0 * workload.gap_share,
        if workload.informative {
            ""
        } else {
            " (under 20%: not informative)"
        }
    );
    Ok((title, table))
}

/// Training episodes: each on the paper's bursts, in blocks of 10 on the open-loop workloads
/// (thousands of day-long episodes).
fn write_training(
    stamp: &Stamp,
    outcome: &Outcome,
    kind: &str,
    sink: &mut CsvSink,
) -> anyhow::Result<()> {
    let block = if kind == "bursts" { 1 } else { 10 };
    let runs = crate::report::group_in_order(&outcome.trained, |t| (t.agent.clone(), t.seed));
    for ((agent, seed), episodes) in runs {
        for (i, chunk) in episodes.chunks(block).enumerate() {
            let metrics: Vec<_> = chunk.iter().map(|t| &t.metrics).collect();
            let who = (outcome.workload.as_str(), agent.as_str(), seed);
            sink.push(&TrainRow::new(stamp, who, i * block, &metrics))?;
        }
    }
    Ok(())
}

/// The first test episode step by step (the first seed for PPO).
fn write_steps(
    stamp: &Stamp,
    outcome: &Outcome,
    tested: &protocol::Tested,
    sink: &mut CsvSink,
) -> anyhow::Result<()> {
    let Some(first) = tested.runs.first().and_then(|(_, runs)| runs.first()) else {
        return Ok(());
    };
    if tested.kind == "static" && !tested.chosen {
        return Ok(());
    }
    let label = outcome.test_labels.first().map_or("", String::as_str);
    for (step, trace) in first.steps.iter().enumerate() {
        let who = (outcome.workload.as_str(), tested.controller.as_str(), label);
        sink.push(&StepRow::new(stamp, who, step, trace))?;
    }
    Ok(())
}

fn write_replicas(
    stamp: &Stamp,
    workload: &str,
    tested: &protocol::Tested,
    sink: &mut CsvSink,
) -> anyhow::Result<()> {
    let mut histogram = std::collections::BTreeMap::<usize, usize>::new();
    for (_, runs) in &tested.runs {
        for m in runs {
            for &r in &m.replicas {
                *histogram.entry(r).or_default() += 1;
            }
        }
    }
    let total: usize = histogram.values().sum();
    for (replicas, steps) in histogram {
        sink.push(&ReplicaRow {
            experiment: stamp.experiment.into(),
            workload: workload.into(),
            controller: tested.controller.clone(),
            replicas,
            steps,
            share: steps as f64 / total.max(1) as f64,
        })?;
    }
    Ok(())
}

/// The simulated cluster of the spec with the measured service time.
pub fn cluster_config(rl: &RlSpec, service: ServiceTime) -> ClusterConfig {
    ClusterConfig {
        service,
        slots_per_replica: rl.cluster.slots_per_replica,
        host_slots: rl.cluster.host_slots,
        split: rl.cluster.split,
        startup_s: rl.cluster.startup_s,
        background_rps: rl.cluster.background_rps,
        queue_per_replica: None,
        timeout_s: None,
    }
}

/// The service time of the spec's calibration circuit: client latency with one client from
/// `serve.csv` if measured, else evaluation time from `fhe.csv`, as a lognormal through the
/// measured median and 95th percentile.
pub fn calibrate(out: &Path, rl: &RlSpec) -> anyhow::Result<(ServiceTime, String)> {
    let (pipeline, bits) = (rl.calibrate.pipeline.to_string(), rl.calibrate.bits);
    let serve = out.join("serve.csv");
    if let Some(row) = read::optional::<read::ServeRow>(&serve)?
        .unwrap_or_default()
        .into_iter()
        .find(|r| r.pipeline == pipeline && r.bits == bits && r.clients == 1)
    {
        let service = ServiceTime::lognormal_from_quantiles(
            row.latency_ms_median / 1e3,
            row.latency_ms_p95 / 1e3,
        );
        return Ok((
            service,
            format!("{} ({pipeline} {bits}b, 1 client)", serve.display()),
        ));
    }
    let fhe = out.join("fhe.csv");
    if let Some(row) = read::optional::<read::FheRow>(&fhe)?
        .unwrap_or_default()
        .into_iter()
        .find(|r| r.pipeline == pipeline && r.bits == bits)
    {
        let service =
            ServiceTime::lognormal_from_quantiles(row.eval_ms_median / 1e3, row.eval_ms_p95 / 1e3);
        return Ok((
            service,
            format!("{} ({pipeline} {bits}b eval)", fhe.display()),
        ));
    }
    bail!(
        "no measured service time for rl.calibrate {pipeline} {bits}b in {} or {}: run the `serve` \
         or `fhe` stage with that circuit first, or change rl.calibrate",
        serve.display(),
        fhe.display()
    )
}
