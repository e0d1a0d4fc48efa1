//! A rehearsal: one controller scales live local replicas under a replayed segment of a trace,
//! and the simulator runs the same controller on the same arrivals; replicas and p95 latency per
//! interval, side by side (`rehearsal.csv`).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use serde::{Deserialize, Serialize};

use super::autoscaler::{Autoscaler, Clock, Decision};
use super::controllers::{self, Choice, Settings};
use crate::autoscale::open_loop::{OpenLoopEnv, Prepared};
use crate::autoscale::ScalingEnv;
use crate::deploy::local::{LocalConfig, LocalDeployer};
use crate::deploy::Deployer;
use crate::load::open_loop::{self, OpenLoop, Sent};
use crate::load::trace::Replay;
use crate::serve::client::Recommender;
use crate::serve::Artifacts;
use crate::workload::trace::Trace;
use crate::workload::Episode;

/// One interval of a rehearsal, live or simulated (a row of `rehearsal.csv`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RehearsalRow {
    /// `live` or `sim`.
    pub source: String,
    pub controller: String,
    pub step: usize,
    /// Seconds since the start, at the end of the interval.
    pub t_s: f64,
    pub arrivals: usize,
    /// Replicas asked for and ready during the interval.
    pub replicas: usize,
    pub ready: usize,
    /// 95th percentile latency of the interval (failures: the clip), seconds.
    pub p95_s: f64,
    pub violations: usize,
}

impl RehearsalRow {
    /// The interval that ended with decision `d` (none for the opening decision at t = 0): its
    /// step counts from 0 as the simulator's do.
    fn live(d: &Decision) -> Option<Self> {
        Some(Self {
            source: "live".into(),
            controller: d.controller.clone(),
            step: d.step.checked_sub(1)?,
            t_s: d.t_s,
            arrivals: d.arrivals,
            replicas: d.desired,
            ready: d.ready,
            p95_s: d.p95_s,
            violations: d.violations,
        })
    }
}

/// What a rehearsal replays and how long it lets the replicas settle afterwards.
pub struct Rehearsal {
    pub trace: Trace,
    pub replay: Replay,
    /// Intervals run after the last arrival (scale-down).
    pub settle_intervals: usize,
}

impl Rehearsal {
    /// Arrivals per second of the replayed minutes in replicas' worth for the simulator, then
    /// the settling intervals without arrivals.
    fn episode(&self, capacity_rps: f64, step_s: f64) -> anyhow::Result<Episode> {
        let mut episode = self.replay.episode(&self.trace)?;
        episode
            .load
            .iter_mut()
            .for_each(|rate| *rate /= capacity_rps);
        let quiet = (self.settle_intervals as f64 * step_s / episode.bin_s).ceil() as usize;
        episode.load.extend(std::iter::repeat_n(0.0, quiet));
        Ok(episode)
    }

    /// The simulator's run of `choice` on the replayed arrivals.
    pub fn simulate(
        &self,
        choice: &Choice,
        settings: &Settings,
    ) -> anyhow::Result<Vec<RehearsalRow>> {
        let mut env = OpenLoopEnv::new(settings.env.clone(), settings.cluster())?;
        let limits = env.limits().clone();
        let episode = self.episode(limits.capacity_rps, limits.step_s)?;
        let prepared = Prepared::new(episode, limits.capacity_rps);
        let mut controller = controllers::build(choice, settings)?;
        controller.reset();
        let mut signals = env.reset(&prepared)?;
        let mut rows = Vec::new();
        for step in 0.. {
            if env.done() {
                break;
            }
            let replicas = limits.clamp(controller.decide(&signals, &limits));
            let record = env.step(replicas)?;
            signals = record.signals;
            rows.push(RehearsalRow {
                source: "sim".into(),
                controller: controller.name(),
                step,
                t_s: (step + 1) as f64 * limits.step_s,
                arrivals: signals.arrivals,
                replicas: signals.replicas,
                ready: signals.ready,
                p95_s: signals.latency_s,
                violations: record.violations,
            });
        }
        Ok(rows)
    }

    /// The live run: local replicas of `config`'s circuit, scaled by `choice`, under the
    /// replayed arrivals of encrypted requests; every answer is decrypted and checked against
    /// the first answer to the same request. The client's keys and the replicas' key store
    /// live in a temporary folder, removed afterwards. Returns the rows and the requests as
    /// sent.
    pub fn live(
        &self,
        mut config: LocalConfig,
        choice: &Choice,
        settings: &Settings,
    ) -> anyhow::Result<(Vec<RehearsalRow>, Vec<Sent>)> {
        crate::load::install_interrupt_handler();
        let keys = tempfile::tempdir().context("creating a folder for client keys")?;
        config.key_store = keys.path().join("keys.sqlite");
        let limits = settings.limits()?;
        let clock = Clock {
            interval: Duration::from_secs_f64(settings.env.step_s),
            day_s: 86_400.0 / self.replay.compress,
            day_start: self.replay.start_minute as f64 / 1440.0,
        };
        let controller = controllers::build(choice, settings)?;
        let artifacts = config.artifacts.clone();
        let mut autoscaler = Autoscaler::new(LocalDeployer::new(config), controller, limits, clock);
        let result = self.drive(&mut autoscaler, keys.path(), &artifacts, settings);
        let teardown = autoscaler.teardown();
        let (decisions, sent) = result?;
        teardown?;
        Ok((
            decisions.iter().filter_map(RehearsalRow::live).collect(),
            sent,
        ))
    }

    fn drive(
        &self,
        autoscaler: &mut Autoscaler<LocalDeployer>,
        keys: &std::path::Path,
        artifacts: &std::path::Path,
        settings: &Settings,
    ) -> anyhow::Result<(Vec<Decision>, Vec<Sent>)> {
        autoscaler.deployer.deploy()?;
        let endpoint = autoscaler.deployer.endpoint().context("no endpoint")?;
        let recommender = Recommender::connect(&endpoint, Some(keys))?;
        let key = recommender.upload()?;
        let liked: Vec<Vec<usize>> = vec![vec![0, 1, 2], vec![5], vec![10, 20, 30], vec![3, 7]];
        let replayed = self.replay.episode(&self.trace)?;
        let plan = OpenLoop {
            base: endpoint,
            path: "/v1/recommend".into(),
            headers: key
                .map(|id| vec![(crate::serve::KEY_HEADER.to_owned(), id.to_string())])
                .unwrap_or_default(),
            bodies: liked
                .iter()
                .map(|l| recommender.encrypt(l).into())
                .collect(),
            arrivals_s: crate::load::trace::arrivals_s(&replayed),
            timeout: Duration::from_secs_f64(settings.env.timeout_s),
            max_duration: Duration::from_secs_f64(replayed.duration_s()) + Duration::from_secs(1),
            keep_answers: true,
            one_at_a_time: false,
            answer_limit: 1 << 20,
        };
        let done = Arc::new(AtomicBool::new(false));
        let finished = done.clone();
        let sender = std::thread::spawn(move || {
            let sent = open_loop::run(&plan);
            finished.store(true, Ordering::SeqCst);
            sent
        });
        let settle = Duration::from_secs_f64(settings.env.step_s * self.settle_intervals as f64);
        let done_at = std::cell::Cell::new(None::<Instant>);
        let stop = || {
            if crate::load::interrupted() {
                return true;
            }
            if !done.load(Ordering::SeqCst) {
                return false;
            }
            let at = done_at.get().unwrap_or_else(Instant::now);
            done_at.set(Some(at));
            at.elapsed() >= settle
        };
        let mut decisions = Vec::new();
        let initial = settings.env.initial_replicas;
        autoscaler.run(initial, &stop, &mut |d| {
            crate::output::emit(d)?;
            decisions.push(d.clone());
            Ok(())
        })?;
        let sent = sender
            .join()
            .map_err(|_| anyhow::anyhow!("the sender panicked"))??;
        let artifacts = Artifacts::load(artifacts)?;
        let expected: Vec<Vec<i64>> = liked
            .iter()
            .map(|l| artifacts.circuit.expected(&artifacts.model, l))
            .collect();
        check_answers(&recommender, &sent, &expected)?;
        Ok((decisions, sent))
    }
}

/// Every request answered 200 decrypts to the plaintext model's output for its body.
fn check_answers(
    recommender: &Recommender,
    sent: &[Sent],
    expected: &[Vec<i64>],
) -> anyhow::Result<()> {
    for s in sent.iter().filter(|s| s.ok()) {
        let answer = recommender.decrypt(s.answer.as_deref().unwrap_or_default())?;
        anyhow::ensure!(
            answer == expected[s.body],
            "request due at {:.2} s was answered 200 with a wrong output",
            s.due_s
        );
    }
    Ok(())
}
