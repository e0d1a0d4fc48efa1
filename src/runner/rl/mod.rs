//! Stage `rl`: the autoscaling study on the simulator calibrated from the measured circuit. For
//! each workload of the spec, `autoscale::protocol` tunes every controller on validation
//! episodes, trains PPO on training episodes (every seed), and tests everything once beside the
//! oracle; this stage writes what it returns (`rl_*.csv`, checkpoints under `rl/`) and prints the
//! summary. It fails, after writing, if the oracle was beaten on any test episode.

use std::path::Path;

use anyhow::{bail, Context};

pub mod live;

use super::{Experiment, Stage};
use crate::autoscale::arenas::{BurstsArena, OpenLoopArena};
use crate::autoscale::open_loop::OpenLoopEnv;
use crate::autoscale::protocol::{self, AgentPlan, Outcome, Plan};
use crate::autoscale::summary::{equals_static, summarize};
use crate::output::{emit, read_rows, CsvSink, Table};
use crate::results::autoscale::{
    self, CollapseRow, EvalKey, EvalRow, ReplicaRow, StepRow, SummaryRow, TrainRow, TuningRow,
    WorkloadRow,
};
use crate::results::fhe::FheRow;
use crate::results::files;
use crate::results::serve::ServeRow;
use crate::sim::{ClusterConfig, ServiceTime};
use crate::spec::RlSpec;
use crate::stats::group_in_order;
use crate::workload::{Workload, WorkloadSpec};

/// The files of this stage, in the order they are written.
const FILES: [&str; 8] = [
    files::RL_WORKLOADS,
    files::RL_TUNING,
    files::RL_TRAIN,
    files::RL_EVAL,
    files::RL_SUMMARY,
    files::RL_DIAGNOSTICS,
    files::RL_STEPS,
    files::RL_REPLICAS,
];

pub fn run(experiment: &Experiment) -> anyhow::Result<()> {
    let rl = &experiment.spec.rl;
    let (service, source) = calibrate(&experiment.out, rl)?;
    tracing::info!("rl: simulator calibrated from {source}: {service:?}");
    let cluster = rl.cluster.cluster(service);
    let progress = super::stage_progress(Stage::Rl, rl.workloads.len());
    let mut sinks = FILES
        .iter()
        .map(|f| experiment.sink(f))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mut tables = Vec::new();
    let mut beaten = Vec::new();
    for (done, workload) in rl.workloads.iter().enumerate() {
        let say = |message: String| progress.set_message(message);
        let outcome = study(experiment, workload, &cluster, &say)
            .with_context(|| format!("workload `{}`", workload.name()))?;
        // The bar is hidden when stderr is not a terminal: a detached run logs each workload.
        tracing::info!(
            "rl: workload `{}` done ({}/{}, {:.0} s so far)",
            outcome.workload,
            done + 1,
            rl.workloads.len(),
            progress.elapsed().as_secs_f64()
        );
        tables.push(write(&outcome, workload.kind(), &source, &mut sinks)?);
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
        emit(format_args!("wrote {}", sink.finish()?.display()))?;
    }
    for (title, table) in &tables {
        emit(title)?;
        emit(table)?;
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

/// Writes one workload's rows to the stage's files; returns its summary table and title.
fn write(
    outcome: &Outcome,
    kind: &str,
    source: &str,
    sinks: &mut [CsvSink],
) -> anyhow::Result<(String, Table)> {
    let w = outcome.workload.as_str();
    let (workload, summaries) =
        summarize(outcome, 7).context("the study tested no static count or no oracle")?;
    sinks[0].push(&WorkloadRow::new(&workload, kind, source))?;
    for t in &outcome.tuned {
        sinks[1].push(&TuningRow::new(w, t))?;
    }
    write_training(outcome, kind, &mut sinks[2])?;
    for tested in &outcome.tested {
        write_tested(outcome, tested, sinks)?;
    }
    for s in &summaries {
        sinks[4].push(&SummaryRow::new(w, s))?;
    }
    Ok((
        autoscale::summary_title(&workload),
        autoscale::summary_table(&summaries),
    ))
}

/// One tested controller's episodes, collapse diagnostics (PPO), first test episode step by
/// step, and replica histogram.
fn write_tested(
    outcome: &Outcome,
    tested: &protocol::Tested,
    sinks: &mut [CsvSink],
) -> anyhow::Result<()> {
    let w = outcome.workload.as_str();
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
            sinks[3].push(&EvalRow::new(key, m))?;
        }
    }
    if tested.kind == "ppo" {
        let same = equals_static(outcome, tested);
        for (((seed, _), collapse), same) in tested.runs.iter().zip(&tested.collapse).zip(same) {
            let row = CollapseRow::new(w, &tested.controller, *seed, collapse, same);
            sinks[5].push(&row)?;
        }
    }
    write_steps(outcome, tested, &mut sinks[6])?;
    write_replicas(w, tested, &mut sinks[7])
}

/// Training episodes: each on the paper's bursts, in blocks of 10 on the open-loop workloads
/// (thousands of day-long episodes).
fn write_training(outcome: &Outcome, kind: &str, sink: &mut CsvSink) -> anyhow::Result<()> {
    let block = if kind == "bursts" { 1 } else { 10 };
    let runs = group_in_order(&outcome.trained, |t| (t.agent.clone(), t.seed));
    for ((agent, seed), episodes) in runs {
        for (i, chunk) in episodes.chunks(block).enumerate() {
            let metrics: Vec<_> = chunk.iter().map(|t| &t.metrics).collect();
            let who = (outcome.workload.as_str(), agent.as_str(), seed);
            sink.push(&TrainRow::new(who, i * block, &metrics))?;
        }
    }
    Ok(())
}

/// The first test episode step by step (the first seed for PPO).
fn write_steps(
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
        sink.push(&StepRow::new(who, step, trace))?;
    }
    Ok(())
}

fn write_replicas(
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
            workload: workload.into(),
            controller: tested.controller.clone(),
            replicas,
            steps,
            share: steps as f64 / total.max(1) as f64,
        })?;
    }
    Ok(())
}

/// The service time of the spec's calibration circuit: client latency with one client from
/// `serve.csv` if measured, else evaluation time from `fhe.csv`, as a lognormal through the
/// measured median and 95th percentile.
pub(super) fn calibrate(out: &Path, rl: &RlSpec) -> anyhow::Result<(ServiceTime, String)> {
    let (pipeline, bits) = (rl.calibrate.pipeline, rl.calibrate.bits);
    let serve = out.join(files::SERVE);
    if let Some(row) = read_rows::<ServeRow>(&serve)?
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
    let fhe = out.join(files::FHE);
    if let Some(row) = read_rows::<FheRow>(&fhe)?
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
