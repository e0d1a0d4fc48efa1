//! `cipherscale deploy`: a circuit's replicas behind one endpoint, in the foreground, scaled by
//! one of the autoscaling study's controllers until Ctrl-C or SIGTERM (then drained and stopped).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Args;

use crate::autoscale::open_loop::OpenLoopConfig;
use crate::deploy::kubernetes::{KubeConfig, KubeDeployer};
use crate::deploy::local::{LocalConfig, LocalDeployer};
use crate::deploy::Deployer;
use crate::operate::autoscaler::{Autoscaler, Clock, Decision};
use crate::operate::controllers::{self, Choice, Settings};
use crate::output::{emit, CsvSink, Stamp};
use crate::spec::KubeSpec;

#[derive(Debug, Args)]
pub struct DeployArgs {
    /// The circuit's artifacts folder (local) or its path inside the image (kube).
    #[arg(long, value_name = "DIR")]
    pub artifacts: PathBuf,
    #[arg(long, value_enum, default_value = "local")]
    pub backend: Backend,
    /// Where the round-robin proxy listens (local backend).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Where the autoscaler's own /metrics listens.
    #[arg(long, default_value = "127.0.0.1:9090")]
    pub metrics_listen: SocketAddr,
    #[command(flatten)]
    pub control: ControlArgs,
    /// The length of a day on this clock, for the time-of-day features (a replayed trace at
    /// --compress X has days of 86400 / X s) ...
    #[arg(long, default_value_t = 86_400.0)]
    pub day_s: f64,
    /// ... and the fraction of that day at the start (default: the UTC time now).
    #[arg(long)]
    pub day_start: Option<f64>,
    /// Stop by itself after this long (otherwise: Ctrl-C or SIGTERM).
    #[arg(long)]
    pub duration_s: Option<f64>,
    /// Also write every decision to this CSV.
    #[arg(long, value_name = "FILE")]
    pub log: Option<PathBuf>,
    /// kube: namespace and image (the kube backend's defaults otherwise).
    #[arg(long, default_value_t = KubeSpec::default().namespace)]
    pub namespace: String,
    #[arg(long, default_value_t = KubeSpec::default().image)]
    pub image: String,
    /// kube: the kubeconfig context (default: the current one).
    #[arg(long)]
    pub context: Option<String>,
}

/// The controller and what it is told about the deployment (shared by `deploy` and
/// `rehearse`).
#[derive(Debug, Args)]
pub struct ControlArgs {
    /// static: the count; every controller: the count to start with.
    #[arg(long, default_value_t = 1)]
    pub replicas: usize,
    /// static, hpa (CPU utilisation), queue (requests per replica, as KEDA), mpc, or
    /// ppo:CHECKPOINT (a policy the `rl` stage wrote, e.g.
    /// results/paper/rl/nasa-ppo-rich-seed1.safetensors).
    #[arg(long, value_name = "CONTROLLER", default_value = "static")]
    pub autoscale: String,
    /// Evaluation workers per replica (each replica queues two per worker beyond them).
    #[arg(long, default_value_t = 1)]
    pub workers: usize,
    /// Seconds between decisions.
    #[arg(long, default_value_t = 15.0)]
    pub interval_s: f64,
    #[arg(long, default_value_t = 1)]
    pub min_replicas: usize,
    #[arg(long, default_value_t = 4)]
    pub max_replicas: usize,
    /// A request answered later than this violates the objective (seconds).
    #[arg(long, default_value_t = 15.0)]
    pub slo_s: f64,
    /// Latencies are clipped to this, and failures count as it (seconds).
    #[arg(long, default_value_t = 30.0)]
    pub timeout_s: f64,
    /// How long a new replica takes to serve (mpc and ppo plan with it).
    #[arg(long, default_value_t = 5.0)]
    pub startup_s: f64,
    /// Mean seconds one worker spends on a request (mpc and ppo need it: the eval median of
    /// results/<experiment>/fhe.csv, or what `cipherscale plan` used).
    #[arg(long)]
    pub service_s: Option<f64>,
    /// hpa: target CPU utilisation (0..1).
    #[arg(long, default_value_t = 0.7)]
    pub target: f64,
    /// queue: target requests waiting or evaluating per replica.
    #[arg(long, default_value_t = 2.0)]
    pub queue_target: f64,
    /// hpa, queue: scale-down stabilisation window (Kubernetes' default: 300 s).
    #[arg(long, default_value_t = 300.0)]
    pub window_s: f64,
    /// mpc: forecast smoothing, steps planned ahead and headroom on the forecast.
    #[arg(long, default_value_t = 0.7)]
    pub alpha: f64,
    #[arg(long, default_value_t = 4)]
    pub horizon: usize,
    #[arg(long, default_value_t = 1.5)]
    pub headroom: f64,
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Backend {
    Local,
    Kube,
}

impl ControlArgs {
    /// Local replicas of `artifacts` with these flags' workers, and the request timeout the
    /// controllers count failures at.
    pub fn local_config(&self, artifacts: &std::path::Path) -> anyhow::Result<LocalConfig> {
        anyhow::ensure!(
            artifacts.is_dir(),
            "no artifacts folder at {}",
            artifacts.display()
        );
        let mut config = LocalConfig::new(artifacts.to_owned())?;
        config.workers = self.workers;
        config.request_timeout = Some(
            Duration::try_from_secs_f64(self.timeout_s)
                .ok()
                .filter(|t| !t.is_zero())
                .context("--timeout-s must be a positive number of seconds")?,
        );
        Ok(config)
    }

    /// The controllers' settings the flags give.
    pub fn settings(&self) -> anyhow::Result<Settings> {
        anyhow::ensure!(
            self.interval_s > 0.0 && self.interval_s.is_finite(),
            "--interval-s must be positive"
        );
        anyhow::ensure!(self.workers > 0, "--workers must be at least 1");
        Ok(Settings {
            env: OpenLoopConfig {
                step_s: self.interval_s,
                min_replicas: self.min_replicas,
                max_replicas: self.max_replicas,
                initial_replicas: self.replicas.clamp(self.min_replicas, self.max_replicas),
                startup_s: self.startup_s,
                slo_s: self.slo_s,
                timeout_s: self.timeout_s,
                queue_per_replica: 2 * self.workers,
                ..OpenLoopConfig::default()
            },
            service_s: self.service_s,
            workers: self.workers,
            replicas: self.replicas,
            hpa_target: self.target,
            queue_target: self.queue_target,
            window_s: self.window_s,
            alpha: self.alpha,
            horizon: self.horizon,
            headroom: self.headroom,
            seed: self.seed,
        })
    }

    pub fn choice(&self) -> anyhow::Result<Choice> {
        self.autoscale.parse()
    }
}

impl DeployArgs {
    fn clock(&self) -> anyhow::Result<Clock> {
        anyhow::ensure!(self.day_s > 0.0, "--day-s must be positive");
        let now = crate::output::unix_now() as f64;
        Ok(Clock {
            interval: Duration::from_secs_f64(self.control.interval_s),
            day_s: self.day_s,
            day_start: self.day_start.unwrap_or((now / 86_400.0).fract()),
        })
    }
}

pub fn deploy(args: &DeployArgs) -> anyhow::Result<()> {
    let choice = args.control.choice()?;
    let settings = args.control.settings()?;
    let clock = args.clock()?;
    let controller = controllers::build(&choice, &settings)?;
    let limits = settings.limits()?;
    match args.backend {
        Backend::Local => {
            let mut config = args.control.local_config(&args.artifacts)?;
            config.listen = args.listen;
            let deployer = LocalDeployer::new(config);
            operate(Autoscaler::new(deployer, controller, limits, clock), args)
        }
        Backend::Kube => {
            let config = KubeConfig {
                context: args.context.clone(),
                namespace: args.namespace.clone(),
                image: args.image.clone(),
                run_id: "deploy".into(),
                name: "cipherscale".into(),
                artifacts: args.artifacts.display().to_string(),
                workers: args.control.workers,
                ready_timeout: Duration::from_secs(300),
            };
            let deployer = KubeDeployer::connect(config)?;
            operate(Autoscaler::new(deployer, controller, limits, clock), args)
        }
    }
}

/// Runs the autoscaler until Ctrl-C, SIGTERM or `--duration-s`, then tears down.
fn operate<D: Deployer>(mut autoscaler: Autoscaler<D>, args: &DeployArgs) -> anyhow::Result<()> {
    crate::load::install_interrupt_handler();
    let until = args
        .duration_s
        .map(|s| Duration::try_from_secs_f64(s).context("--duration-s must be a number of seconds"))
        .transpose()?;
    let mut log = match &args.log {
        Some(path) => Some(CsvSink::create(path, &Stamp::here("deploy"))?),
        None => None,
    };
    let started = std::time::Instant::now();
    let stop = || crate::load::interrupted() || until.is_some_and(|d| started.elapsed() >= d);
    let mut on_decision = |d: &Decision| -> anyhow::Result<()> {
        emit(d)?;
        if let Some(log) = log.as_mut() {
            log.push(d)?;
        }
        Ok(())
    };
    let metrics = autoscaler.expose(args.metrics_listen)?;
    let run = autoscaler.deployer.deploy().and_then(|()| {
        let endpoint = autoscaler
            .deployer
            .endpoint()
            .context("the deployment has no endpoint")?;
        emit(format_args!("listening on {endpoint}"))?;
        emit(format_args!("autoscaler metrics on {metrics}/metrics"))?;
        autoscaler.run(args.control.replicas, &stop, &mut on_decision)
    });
    emit("stopping: draining and stopping every replica")?;
    let teardown = autoscaler.teardown();
    if let Some(log) = log {
        let path = log.finish()?;
        emit(format_args!("decisions in {}", path.display()))?;
    }
    run.and(teardown)
}
