//! `cipherscale rehearse`: one controller on live local replicas under a replayed trace
//! segment, beside the simulator's run of the same controller on the same arrivals; writes
//! `rehearsal.csv` and `rehearsal.png`.

use std::path::PathBuf;

use clap::Args;

use super::deploy::ControlArgs;
use super::load::ReplayArgs;
use crate::operate::rehearsal::{Rehearsal, RehearsalRow};
use crate::output::{emit, CsvSink, Stamp};

#[derive(Debug, Args)]
pub struct RehearseArgs {
    /// The circuit's artifacts folder.
    #[arg(long, value_name = "DIR")]
    pub artifacts: PathBuf,
    #[command(flatten)]
    pub control: ControlArgs,
    #[command(flatten)]
    pub replay: ReplayArgs,
    /// Intervals run after the last arrival (to see the scale-down).
    #[arg(long, default_value_t = 5)]
    pub settle_intervals: usize,
    /// Folder for rehearsal.csv (appended to: one run per controller) and rehearsal.png.
    #[arg(long, value_name = "DIR", default_value = "results/rehearsal")]
    pub out: PathBuf,
}

pub fn rehearse(args: &RehearseArgs) -> anyhow::Result<()> {
    let choice = args.control.choice()?;
    let settings = args.control.settings()?;
    let (trace, replay) = args.replay.open(args.control.seed)?;
    let rehearsal = Rehearsal {
        trace,
        replay,
        settle_intervals: args.settle_intervals,
    };
    let simulated = rehearsal.simulate(&choice, &settings)?;
    let config = args.control.local_config(&args.artifacts)?;
    let (live, sent) = rehearsal.live(config, &choice, &settings)?;
    anyhow::ensure!(
        !crate::load::interrupted(),
        "interrupted by Ctrl-C: the rehearsal is incomplete, nothing written"
    );
    let answered = sent.iter().filter(|s| s.ok()).count();
    emit(format_args!(
        "{answered} of {} requests answered 200, every one decrypted to the model's output",
        sent.len()
    ))?;
    let path = args.out.join("rehearsal.csv");
    let mut rows: Vec<RehearsalRow> = crate::output::read_rows(&path)?.unwrap_or_default();
    let controller = live
        .first()
        .map(|r| r.controller.clone())
        .unwrap_or_default();
    rows.retain(|r| r.controller != controller);
    rows.extend(live);
    rows.extend(simulated);
    let mut sink = CsvSink::create(&path, &Stamp::here("rehearsal"))?;
    for row in &rows {
        sink.push(row)?;
    }
    let path = sink.finish()?;
    let figure = args.out.join("rehearsal.png");
    crate::report::figures::operate::rehearsal(&rows, &figure)?;
    emit(crate::results::rehearsal::table(&rows).markdown())?;
    emit(format_args!(
        "wrote {} and {}",
        path.display(),
        figure.display()
    ))?;
    Ok(())
}
