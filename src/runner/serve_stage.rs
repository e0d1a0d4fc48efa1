//! Stage `serve`: one replica per served circuit on loopback, driven by 1, 2, ... closed-loop
//! clients ([`crate::load::closed_loop`]), each with its own keys, sending held-out users' liked
//! sets. Clients and replica share this machine's cores. Writes `serve.csv`.

use std::time::Duration;

use anyhow::Context;

use super::{Experiment, Stage};
use crate::load::closed_loop;
use crate::results::files;
use crate::results::serve::{self, ServeRow};
use crate::serve::{InProcess, ServeConfig};

pub fn run(experiment: &Experiment) -> anyhow::Result<()> {
    let spec = &experiment.spec.serve;
    if spec.cells.is_empty() {
        tracing::info!("no serve.cells in the spec: nothing to serve");
        return Ok(());
    }
    let seed = experiment.spec.seed;
    let (split, tuned) = experiment.split_and_fit(seed)?;
    let mut sink = experiment.sink(files::SERVE)?;
    let progress = super::stage_progress(Stage::Serve, spec.cells.len() * spec.clients.len());
    let mut rows = Vec::new();
    for cell in &spec.cells {
        let (artifacts, served) = experiment.servable(&tuned, cell.pipeline, cell.bits)?;
        let mut config = ServeConfig::new(served.path().to_owned());
        config.workers = spec.workers.unwrap_or(config.workers);
        config.queue = 64;
        let workers = config.workers;
        let replica = InProcess::replica(config, Duration::from_secs(600))?;
        for &clients in &spec.clients {
            let circuit = format!("{} {}b", cell.pipeline, cell.bits);
            progress.set_message(format!("{circuit}, {clients} clients"));
            let run = closed_loop::run(
                &replica.base,
                &artifacts,
                cell.requests,
                clients,
                &split.test,
            )
            .with_context(|| format!("serving {circuit}"))?;
            let row = ServeRow::new(seed, (cell.pipeline, cell.bits), workers, &run);
            tracing::info!(
                "{circuit}, {clients} clients: {:.2} requests/s",
                row.throughput_rps
            );
            sink.push(&row)?;
            rows.push(row);
            progress.inc(1);
        }
    }
    super::finish_stage(progress, sink, &[serve::table(&rows)])
}
