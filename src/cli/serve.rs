//! `cipherscale serve` and `cipherscale recommend`: one replica of the service, and the client
//! that asks it for a recommendation (keys and decryption stay on the client's machine).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Args;

use crate::output::emit;
use crate::serve::client::Recommender;
use crate::serve::ServeConfig;

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Folder with the circuit's artifacts (`circuit.json`, `model.json`), as `run` writes them
    /// under results/<name>/artifacts/<pipeline>-<bits>b.
    #[arg(long, value_name = "DIR")]
    pub artifacts: PathBuf,
    /// Address to listen on; port 0 picks a free one (printed at start).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: String,
    /// SQLite evaluation-key store shared by the replicas of a host [default: DIR/keys.sqlite].
    #[arg(long, value_name = "FILE")]
    pub key_store: Option<PathBuf>,
    /// Evaluations at once [default: the number of cores].
    #[arg(long)]
    pub workers: Option<usize>,
    /// Requests that may wait for a worker before the answer is 503 [default: 2 x workers].
    #[arg(long)]
    pub queue: Option<usize>,
    /// Longest a recommend request may take, waiting included (then 504).
    #[arg(long, default_value_t = 300)]
    pub timeout_s: u64,
    /// This replica's evaluation-key cache, in MiB of uploaded key bytes.
    #[arg(long, default_value_t = 2048)]
    pub key_cache_mb: usize,
}

#[derive(Debug, Args)]
pub struct RecommendArgs {
    /// The server, e.g. http://127.0.0.1:8080.
    #[arg(long, env = "CIPHERSCALE_SERVER")]
    pub server: String,
    /// A movie you like (repeatable): its exact title, or a part only one title contains.
    #[arg(long, required = true)]
    pub liked: Vec<String>,
    /// How many titles to print when the server returns scores.
    #[arg(long, default_value_t = 5)]
    pub top: usize,
    /// Where keys are cached, per circuit, owner-only [default: ~/.cache/cipherscale/client].
    #[arg(long, value_name = "DIR")]
    pub key_cache: Option<PathBuf>,
    /// Generate fresh keys for this run only; cache nothing.
    #[arg(long, conflicts_with = "key_cache")]
    pub no_key_cache: bool,
}

pub fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let mut config = ServeConfig::new(args.artifacts);
    if let Some(path) = args.key_store {
        config.key_store = path;
    }
    config.workers = args.workers.unwrap_or(config.workers);
    config.queue = args.queue.unwrap_or(2 * config.workers);
    config.request_timeout = Duration::from_secs(args.timeout_s);
    config.key_cache_bytes = args.key_cache_mb << 20;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(&args.listen)
            .await
            .with_context(|| format!("listening on {}", args.listen))?;
        // Deployers read this line to learn the port when asked for port 0.
        emit(format!("listening on http://{}", listener.local_addr()?))?;
        crate::serve::run(listener, config, crate::serve::shutdown_signal()).await
    })
}

pub fn recommend(args: &RecommendArgs) -> anyhow::Result<()> {
    let cache = if args.no_key_cache {
        None
    } else {
        Some(args.key_cache.clone().unwrap_or_else(default_key_cache))
    };
    let recommender = Recommender::connect(&args.server, cache.as_deref())?;
    let liked = recommender.find_titles(&args.liked)?;
    let description = recommender.description();
    let started = std::time::Instant::now();
    let output = recommender.recommend(&liked)?;
    let titles = &description.titles;
    let picks = match description.output.as_str() {
        "index" => recommender.top_pick(&output, &liked).into_iter().collect(),
        _ => crate::model::top_unliked(&output, &liked, args.top),
    };
    emit(format!(
        "{} ({} bits) answered in {:.2} s; the server saw only ciphertexts",
        description.pipeline,
        description.bits,
        started.elapsed().as_secs_f64()
    ))?;
    for (rank, &movie) in picks.iter().enumerate() {
        let title = titles
            .get(movie)
            .map_or("(index outside the pool)", String::as_str);
        emit(format!("{:>2}. {title}", rank + 1))?;
    }
    Ok(())
}

/// `$XDG_CACHE_HOME/cipherscale/client`, else `~/.cache/cipherscale/client`.
pub fn default_key_cache() -> PathBuf {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache")))
        .unwrap_or_else(|| PathBuf::from("."));
    base.join("cipherscale").join("client")
}
