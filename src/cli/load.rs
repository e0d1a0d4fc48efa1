//! `cipherscale load`: bounded load from goose to a loopback endpoint, written as CSV.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Args;

use super::serve::default_key_cache;
use crate::load::{LoadPlan, Payload, Profile};
use crate::output::{emit, Stamp};
use crate::serve::client::Recommender;

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

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum ProfileKind {
    Probe,
    Stress,
    Ramp,
    Steady,
}

impl LoadArgs {
    /// The profile the flags describe.
    fn profile(&self) -> Profile {
        let duration = Duration::from_secs(self.duration_s);
        match self.profile {
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
        }
    }

    /// The run: `payload` on every request, within the caps.
    fn plan(&self, payload: Payload) -> LoadPlan {
        LoadPlan {
            base: self.url.clone(),
            payload,
            profile: self.profile(),
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
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    let (records, summary) = runtime.block_on(crate::load::run(&args.plan(payload)))?;
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
