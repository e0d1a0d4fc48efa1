//! The `cipherscale` command line: the argument definitions (clap derive, on the options structs
//! the library takes) and one short function per subcommand, each in its file.

mod data;
mod deploy;
mod load;
mod manifests;
mod plan;
mod rehearse;
mod serve;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::data::DataArgs;
use crate::output::emit;
use crate::runner::{self, RunOptions};
use crate::spec;

/// What does it cost to serve FHE inference, and how should it scale?
#[derive(Debug, Parser)]
#[command(name = "cipherscale", version, about)]
pub struct Cli {
    /// More log output (-v debug, -vv trace); RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Parse and validate experiment specs without running anything.
    Validate {
        /// Spec files, e.g. experiments/paper.yaml.
        #[arg(required = true)]
        specs: Vec<PathBuf>,
    },
    /// Run an experiment's stages and write results/<name>/*.csv.
    Run(RunOptions),
    /// Run every stage of every spec, then draw the figures and write the report; the wall time
    /// goes into <root>/results/reproduce.csv.
    Reproduce {
        /// The experiment specs, e.g. experiments/*.yaml.
        #[arg(required = true)]
        specs: Vec<PathBuf>,
        /// Apply each spec's `quick:` profile.
        #[arg(long)]
        quick: bool,
        /// Folder holding results/, plots/ and paper/.
        #[arg(long, value_name = "DIR", default_value = ".")]
        root: PathBuf,
        #[command(flatten)]
        data: DataArgs,
    },
    /// Draw the figures (plots/<experiment>/*.png) and write paper/REPORT.md from the CSVs under
    /// results/.
    Report {
        /// Folder holding results/, plots/ and paper/.
        #[arg(long, value_name = "DIR", default_value = ".")]
        root: PathBuf,
    },
    /// Run one replica of the encrypted inference service for a circuit's artifacts.
    Serve(serve::ServeArgs),
    /// Ask a server for a recommendation: keys and decryption stay on this machine.
    Recommend(serve::RecommendArgs),
    /// Run a circuit's replicas behind one endpoint, scaled live by a controller (static, hpa,
    /// queue, mpc or a trained PPO policy), until Ctrl-C or SIGTERM.
    Deploy(deploy::DeployArgs),
    /// Rehearse a controller: live local replicas under a replayed trace segment, beside the
    /// simulator's run of the same controller on the same arrivals (CSV and figure).
    Rehearse(rehearse::RehearseArgs),
    /// Send bounded load to a loopback endpoint (goose) and write per-request and summary CSVs.
    Load(load::LoadArgs),
    /// Write the Kubernetes objects of one served circuit (Namespace, Deployment, Service and,
    /// with --hpa, a HorizontalPodAutoscaler) as YAML.
    Manifests(manifests::ManifestArgs),
    /// What each measured circuit costs to serve: the cheapest replicas, memory and dollars per
    /// million requests for each load and client count, checked in the simulator.
    Plan(plan::PlanArgs),
    /// Print dataset statistics: users, movies, ratings, the movie pool and the split.
    Data(data::DataStatsArgs),
}

/// Runs one parsed command line.
pub fn execute(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Validate { specs } => validate(&specs),
        Command::Run(options) => runner::run(&options),
        Command::Reproduce {
            specs,
            quick,
            root,
            data,
        } => runner::reproduce(&specs, quick, &root, &data),
        Command::Report { root } => {
            crate::report::generate(&crate::report::Layout::under(&root)).map(|_| ())
        }
        Command::Serve(args) => serve::serve(args),
        Command::Recommend(args) => serve::recommend(&args),
        Command::Load(args) => load::load(&args),
        Command::Deploy(args) => deploy::deploy(&args),
        Command::Rehearse(args) => rehearse::rehearse(&args),
        Command::Manifests(args) => manifests::manifests(args),
        Command::Data(args) => data::data(&args),
        Command::Plan(args) => plan::plan(&args),
    }
}

fn validate(specs: &[PathBuf]) -> anyhow::Result<()> {
    for path in specs {
        let spec = spec::load(path, false)?;
        emit(format!(
            "{}: ok (experiment `{}`)",
            path.display(),
            spec.name
        ))?;
    }
    Ok(())
}
