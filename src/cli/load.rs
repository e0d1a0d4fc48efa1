//! `cipherscale load`: bounded load from goose to a loopback endpoint, written as CSV.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Args;

use super::serve::default_key_cache;
use crate::load::open_loop::OpenLoop;
use crate::load::trace::Replay;
use crate::load::{summarize, LoadPlan, Payload, Profile, RequestRecord, Summary};
use crate::output::{emit, Stamp};
use crate::serve::client::Recommender;
use crate::workload::trace::Trace;

#[derive(Debug, Args)]
pub struct LoadArgs {
    /// The endpoint, e.g. http://127.0.0.1:8080 (loopback only).
    #[arg(long)]
    pub url: String,
    #[arg(long, value_enum, default_value = "probe")]
    pub profile: ProfileKind,
    /// GET this path on every request (unless --liked makes it a recommend request).
    #[arg(long, default_value = "/healthz")]
    pub path: String,
    /// Send an encrypted recommend request for these liked titles (keys from the client cache).
    #[arg(long)]
    pub liked: Vec<String>,
    /// stress: burst size range.
    #[arg(long, default_value_t = 5)]
    pub min_burst: usize,
    #[arg(long, default_value_t = 10)]
    pub max_burst: usize,
    /// ramp: users, started evenly over --duration-s; steady: ignored.
    #[arg(long, default_value_t = 4)]
    pub users: usize,
    /// ramp: requests in all.
    #[arg(long, default_value_t = 40)]
    pub requests: usize,
    /// steady: requests per second.
    #[arg(long, default_value_t = 1)]
    pub rate: usize,
    /// ramp: ramp-up time; steady: run time.
    #[arg(long, default_value_t = 10)]
    pub duration_s: u64,
    #[command(flatten)]
    pub replay: ReplayArgs,
    /// Client timeout; a failure counts as this long in the stress penalty (the paper: 10 s).
    #[arg(long, default_value_t = 10)]
    pub timeout_s: u64,
    /// Hard caps on the run.
    #[arg(long, default_value_t = 10_000)]
    pub max_requests: usize,
    #[arg(long, default_value_t = 600)]
    pub max_duration_s: u64,
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Folder for requests.csv and summary.csv.
    #[arg(long, default_value = "results/load")]
    pub out: PathBuf,
}

/// A segment of a per-minute trace, replayed open loop (`load --profile trace`, `rehearse`).
#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// trace: a per-minute `minute,requests` file, e.g. ../shared/traces/nasa_http_aug95.csv.
    #[arg(long, value_name = "FILE")]
    pub trace: Option<PathBuf>,
    /// trace: time compression (a trace minute lasts 60 / X seconds).
    #[arg(long, value_name = "X", default_value_t = 60.0)]
    pub compress: f64,
    /// trace: multiplier on every minute's request count.
    #[arg(long, value_name = "Y", default_value_t = 1.0)]
    pub scale: f64,
    /// trace: the first minute replayed and how many (default: to the end, within the caps).
    #[arg(long, default_value_t = 0)]
    pub start_minute: usize,
    #[arg(long)]
    pub minutes: Option<usize>,
}

impl ReplayArgs {
    /// The trace (read and checked) and the replay the flags describe.
    pub fn open(&self, seed: u64) -> anyhow::Result<(Trace, Replay)> {
        let path = self
            .trace
            .as_deref()
            .context("a trace replay needs --trace FILE")?;
        let replay = Replay {
            start_minute: self.start_minute,
            minutes: self.minutes,
            compress: self.compress,
            scale: self.scale,
            seed,
        };
        Ok((Trace::load(path)?, replay))
    }
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum ProfileKind {
    Probe,
    Stress,
    Ramp,
    Steady,
    /// Replays a per-minute trace as open-loop Poisson arrivals.
    Trace,
}

impl LoadArgs {
    /// The goose profile the flags describe (`None`: a trace, replayed open loop).
    fn profile(&self) -> Option<Profile> {
        let duration = Duration::from_secs(self.duration_s);
        Some(match self.profile {
            ProfileKind::Probe => Profile::Probe,
            ProfileKind::Stress => Profile::Stress {
                min: self.min_burst,
                max: self.max_burst.max(self.min_burst),
            },
            ProfileKind::Ramp => Profile::Ramp {
                users: self.users.max(1),
                over: duration,
                requests: self.requests,
            },
            ProfileKind::Steady => Profile::Steady {
                rate: self.rate.max(1),
                duration,
            },
            ProfileKind::Trace => return None,
        })
    }

    /// The goose run: `payload` on every request, within the caps.
    fn plan(&self, payload: Payload, profile: Profile) -> LoadPlan {
        LoadPlan {
            base: self.url.clone(),
            payload,
            profile,
            timeout: Duration::from_secs(self.timeout_s),
            max_requests: self.max_requests,
            max_duration: Duration::from_secs(self.max_duration_s),
            seed: self.seed,
        }
    }
}

pub fn load(args: &LoadArgs) -> anyhow::Result<()> {
    crate::load::install_interrupt_handler();
    crate::load::require_loopback(&args.url)?;
    let payload = match args.liked.is_empty() {
        true => Payload::Get {
            path: args.path.clone(),
        },
        false => recommend_payload(&args.url, &args.liked)?,
    };
    let (records, summary) = match args.profile() {
        None => replay(args, payload)?,
        Some(profile) => {
            let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
            runtime.block_on(crate::load::run(&args.plan(payload, profile)))?
        }
    };
    let path = crate::load::write(&args.out, &records, &summary, &Stamp::here("load"))?;
    emit(format_args!("{summary}\nwrote {}", path.display()))?;
    if summary.interrupted {
        anyhow::bail!(
            "interrupted by Ctrl-C; what was measured is in {}",
            path.display()
        );
    }
    Ok(())
}

/// Replays `--trace` open loop within the caps.
fn replay(args: &LoadArgs, payload: Payload) -> anyhow::Result<(Vec<RequestRecord>, Summary)> {
    let (trace, replay) = args.replay.open(args.seed)?;
    let episode = replay.episode(&trace)?;
    let mut arrivals_s = crate::load::trace::arrivals_s(&episode);
    arrivals_s.truncate(args.max_requests);
    let (path, body, headers) = match payload {
        Payload::Get { path } => (path, Vec::new(), Vec::new()),
        Payload::Post {
            path,
            body,
            headers,
        } => (path, body.to_vec(), headers),
    };
    let timeout = Duration::from_secs(args.timeout_s);
    emit(format_args!(
        "replaying {} requests over {:.0} s ({})",
        arrivals_s.len(),
        episode.duration_s().min(args.max_duration_s as f64),
        episode.label
    ))?;
    let plan = OpenLoop {
        base: args.url.clone(),
        path,
        headers,
        bodies: vec![body.into()],
        arrivals_s,
        timeout,
        max_duration: Duration::from_secs(args.max_duration_s),
        keep_answers: false,
        one_at_a_time: false,
        answer_limit: 1 << 20,
    };
    let started = std::time::Instant::now();
    let sent = crate::load::open_loop::run(&plan)?;
    let records = crate::load::trace::records(&sent);
    let summary = summarize("trace", timeout, &records, started.elapsed());
    Ok((records, summary))
}

/// One encrypted recommend request (keys from the client cache, uploaded if needed), reused as
/// the body of every load request.
fn recommend_payload(url: &str, liked: &[String]) -> anyhow::Result<Payload> {
    let recommender = Recommender::connect(url, Some(&default_key_cache()))?;
    let movies = recommender.find_titles(liked)?;
    let key = recommender.upload()?;
    let headers = key
        .map(|id| vec![(crate::serve::KEY_HEADER.to_owned(), id.to_string())])
        .unwrap_or_default();
    Ok(Payload::Post {
        path: "/v1/recommend".into(),
        body: std::sync::Arc::new(recommender.encrypt(&movies)),
        headers,
    })
}
