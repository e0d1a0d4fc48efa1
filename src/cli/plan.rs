//! `cipherscale plan`: what each measured circuit costs to serve, from an experiment's results.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

use crate::capacity::{plan_all, Bounds, Prices};
use crate::output::{emit, read_rows, read_stamped, CsvSink, Stamp};
use crate::results::capacity::{self, profiles, CapacityRow};
use crate::results::files;

#[derive(Debug, Args)]
pub struct PlanArgs {
    /// An experiment's results folder, with fhe.csv (and model.csv, argmax_checks.csv).
    #[arg(long, value_name = "DIR", default_value = "results/paper")]
    pub results: PathBuf,
    /// Loads as multiples of one replica's capacity (each circuit's own).
    #[arg(long, value_delimiter = ',', default_value = "0.5,5,50")]
    pub load: Vec<f64>,
    /// Distinct active clients, whose evaluation keys the replicas hold.
    #[arg(long, value_delimiter = ',', default_value = "10,1000")]
    pub clients: Vec<usize>,
    /// The response-time quantile the objective bounds.
    #[arg(long, default_value_t = 0.95)]
    pub quantile: f64,
    /// The objective, seconds, client encryption and decryption included (the paper's client
    /// timeout is 10 s).
    #[arg(long, default_value_t = 10.0)]
    pub objective_s: f64,
    /// Dollars per vCPU-hour [default: GCP E2 on-demand, us-central1].
    #[arg(long, default_value_t = Prices::default().vcpu_hour)]
    pub vcpu_hour: f64,
    /// Dollars per GiB-hour of memory [default: GCP E2 on-demand, us-central1].
    #[arg(long, default_value_t = Prices::default().gib_hour)]
    pub gib_hour: f64,
    /// Dollars per GB sent to clients [default: AWS EC2's first 10 TB a month].
    #[arg(long, default_value_t = Prices::default().egress_gb)]
    pub egress_gb: f64,
    #[arg(long, default_value_t = Bounds::default().max_replicas)]
    pub max_replicas: usize,
    /// Memory one replica may use, GiB.
    #[arg(long, default_value_t = Bounds::default().replica_memory_gib)]
    pub replica_memory_gib: f64,
    /// Skip the simulator's check of each plan.
    #[arg(long)]
    pub no_simulate: bool,
    /// Where to write the plans [default: DIR/capacity.csv].
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

pub fn plan(args: &PlanArgs) -> anyhow::Result<()> {
    let dir = &args.results;
    let fhe = read_stamped(&dir.join(files::FHE))?.with_context(|| {
        format!(
            "no {} in {}: run the `fhe` stage first",
            files::FHE,
            dir.display()
        )
    })?;
    let checks = read_rows(&dir.join(files::ARGMAX_CHECKS))?.unwrap_or_default();
    let model = read_rows(&dir.join(files::MODEL))?.unwrap_or_default();
    let prices = Prices {
        vcpu_hour: args.vcpu_hour,
        gib_hour: args.gib_hour,
        egress_gb: args.egress_gb,
    };
    let bounds = Bounds {
        max_replicas: args.max_replicas,
        replica_memory_gib: args.replica_memory_gib,
    };
    let mut rows = Vec::new();
    for profile in profiles(&fhe, &checks, &model) {
        let objective = (args.quantile, args.objective_s);
        let planned = plan_all(
            &profile,
            &args.load,
            &args.clients,
            objective,
            (&prices, &bounds),
            !args.no_simulate,
        );
        rows.extend(planned.iter().map(|p| CapacityRow::new(&profile, p)));
    }
    let path = args
        .out
        .clone()
        .unwrap_or_else(|| dir.join(files::CAPACITY));
    let experiment = dir
        .file_name()
        .map_or("plan".into(), |n| n.to_string_lossy());
    let mut sink = CsvSink::create(&path, &Stamp::here(&experiment))?;
    for row in &rows {
        sink.push(row)?;
    }
    let path = sink.finish()?;
    emit(capacity::table(&rows))?;
    for row in rows.iter().filter(|r| !r.feasible) {
        emit(format_args!(
            "{} {}b at {:.3} req/s: {}",
            row.pipeline, row.bits, row.rate_rps, row.reason
        ))?;
    }
    emit(format_args!("wrote {}", path.display()))?;
    Ok(())
}
