//! `cipherscale plan`: what each measured circuit costs to serve, from an experiment's results.

use std::path::PathBuf;

use clap::Args;

use crate::capacity::{Bounds, CapacitySpec, Prices};
use crate::output::Stamp;
use crate::results::files;
use crate::runner::capacity_stage::plan_into;

#[derive(Debug, Args)]
pub struct PlanArgs {
    /// An experiment's results folder, with fhe.csv (and model.csv, argmax_checks.csv).
    #[arg(long, value_name = "DIR", default_value = "results/paper")]
    pub results: PathBuf,
    /// Loads as multiples of one replica's capacity (each circuit's own).
    #[arg(long, value_delimiter = ',', default_values_t = CapacitySpec::default().loads)]
    pub load: Vec<f64>,
    /// Distinct active clients, whose evaluation keys the replicas hold.
    #[arg(long, value_delimiter = ',', default_values_t = CapacitySpec::default().clients)]
    pub clients: Vec<usize>,
    /// The response-time quantile the objective bounds.
    #[arg(long, default_value_t = CapacitySpec::default().quantile)]
    pub quantile: f64,
    /// The objective, seconds, client encryption and decryption included (the paper's client
    /// timeout is 10 s).
    #[arg(long, default_value_t = CapacitySpec::default().objective_s)]
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
    let spec = CapacitySpec {
        loads: args.load.clone(),
        clients: args.clients.clone(),
        quantile: args.quantile,
        objective_s: args.objective_s,
        prices: Prices {
            vcpu_hour: args.vcpu_hour,
            gib_hour: args.gib_hour,
            egress_gb: args.egress_gb,
        },
        bounds: Bounds {
            max_replicas: args.max_replicas,
            replica_memory_gib: args.replica_memory_gib,
        },
        simulate: !args.no_simulate,
        // Live checks and thread timings need the circuit's model: the `capacity` stage does them.
        live: Vec::new(),
        threads: Vec::new(),
    };
    crate::spec::check_capacity(&spec).map_err(|e| anyhow::anyhow!("bad flag: {e}"))?;
    let dir = &args.results;
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| dir.join(files::CAPACITY));
    let experiment = dir
        .file_name()
        .map_or("plan".into(), |n| n.to_string_lossy());
    plan_into(dir, &spec, &out, &Stamp::here(&experiment))
}
