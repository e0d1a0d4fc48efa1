//! Command-line interface: argument definitions and one function per subcommand.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};

use crate::data::{self, DataLocator, MovieLens, Pool, Split};
use crate::deploy::kubernetes::KubeConfig;
use crate::fhe::Pipeline;
use crate::load::{LoadPlan, Payload, Profile};
use crate::report::{emit, CsvSink, Table};
use crate::runner::{self, RunOptions, Stage};
use crate::serve::client::Recommender;
use crate::serve::ServeConfig;
use crate::spec::{self, DataSpec, DatasetKind, KubeSpec};

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
    Run {
        /// The experiment spec.
        spec: PathBuf,
        /// Apply the spec's `quick:` profile: small sweeps that finish in minutes.
        #[arg(long)]
        quick: bool,
        /// Run only this stage (repeatable); all stages by default.
        #[arg(long, value_name = "STAGE")]
        only: Vec<Stage>,
        /// Results folder instead of <root>/results/<spec name>/.
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// Folder holding results/, plots/ and paper/.
        #[arg(long, value_name = "DIR", default_value = ".")]
        root: PathBuf,
        /// With --only fhe: measure only this cell (repeatable), e.g. glwe-argmax:5; its row of
        /// fhe.csv is replaced and the other rows are kept.
        #[arg(long = "cell", value_name = "PIPELINE:BITS", value_parser = runner::parse_fhe_cell)]
        cells: Vec<(Pipeline, u32)>,
        /// Held-out examples glwe-argmax checks per width (the spec's fhe.argmax.samples).
        #[arg(long, value_name = "N")]
        argmax_samples: Option<usize>,
        /// Wall-clock budget per glwe-argmax width (the spec's fhe.argmax.budget_minutes); the
        /// checks accumulate in results/<name>/argmax_checks.csv across runs.
        #[arg(long, value_name = "MINUTES")]
        argmax_minutes: Option<f64>,
        #[command(flatten)]
        data: DataArgs,
    },
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
    Serve(ServeArgs),
    /// Ask a server for a recommendation: keys and decryption stay on this machine.
    Recommend(RecommendArgs),
    /// Send bounded load to a loopback endpoint (goose) and write per-request and summary CSVs.
    Load(LoadArgs),
    /// Write the Kubernetes objects of one served circuit (Namespace, Deployment, Service) as YAML.
    Manifests(ManifestArgs),
    /// Print dataset statistics: users, movies, ratings, the movie pool and the split.
    Data {
        #[command(flatten)]
        data: DataArgs,
        /// Which dataset the folder must hold.
        #[arg(long, value_enum, default_value = "ml-latest-small")]
        dataset: DatasetKind,
        /// Pool size: the N most-rated movies.
        #[arg(long, default_value_t = DataSpec::default().movies)]
        movies: usize,
        /// Rating at or above which a movie counts as liked.
        #[arg(long, default_value_t = DataSpec::default().liked_threshold)]
        liked_threshold: f32,
        /// Fraction of eligible users held out.
        #[arg(long, default_value_t = DataSpec::default().test_fraction)]
        test_fraction: f64,
        /// Split seed.
        #[arg(long, default_value_t = 7)]
        seed: u64,
    },
}

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

#[derive(Debug, Args)]
pub struct ManifestArgs {
    /// Folder to write `<name>.yaml` into.
    #[arg(long, value_name = "DIR", default_value = "deploy/k8s")]
    pub out: PathBuf,
    /// The serve image (built from the Dockerfile).
    #[arg(long, default_value_t = KubeSpec::default().image)]
    pub image: String,
    /// Namespace, created and deleted with the run.
    #[arg(long, default_value_t = KubeSpec::default().namespace)]
    pub namespace: String,
    /// The circuit's artifacts folder inside the image.
    #[arg(long, default_value = "/artifacts/glwe-argmax-4b")]
    pub artifacts: String,
    /// Deployment and Service name.
    #[arg(long, default_value = "cipherscale")]
    pub name: String,
    /// The run label's value.
    #[arg(long, default_value = "manual")]
    pub run_id: String,
    #[arg(long, default_value_t = 1)]
    pub replicas: i32,
    /// Evaluation workers (and CPU request) per replica.
    #[arg(long, default_value_t = 1)]
    pub workers: usize,
}

/// Where the MovieLens data comes from.
#[derive(Debug, Clone, Args)]
pub struct DataArgs {
    /// MovieLens folder (else MOVIELENS_DIR, then data/ml-latest-small, then a download).
    #[arg(long, value_name = "DIR")]
    pub data: Option<PathBuf>,
    /// Never download the dataset; fail if no local copy is found.
    #[arg(long)]
    pub no_download: bool,
}

impl DataArgs {
    fn locator(&self) -> DataLocator {
        DataLocator::from_env(self.data.clone(), !self.no_download)
    }
}

/// Runs one parsed command line.
pub fn execute(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Validate { specs } => validate(&specs),
        Command::Run {
            spec,
            quick,
            only,
            out,
            root,
            cells,
            argmax_samples,
            argmax_minutes,
            data,
        } => runner::run(&RunOptions {
            spec,
            quick,
            only,
            out,
            root,
            data: data.locator(),
            fhe_cells: cells,
            argmax_samples,
            argmax_minutes,
        }),
        Command::Reproduce {
            specs,
            quick,
            root,
            data,
        } => runner::reproduce(&specs, quick, &root, &data.locator()),
        Command::Report { root } => {
            crate::report::generate(&crate::report::Layout::under(&root)).map(|_| ())
        }
        Command::Serve(args) => serve(args),
        Command::Recommend(args) => recommend(&args),
        Command::Manifests(args) => manifests(args),
        Command::Load(args) => load(&args),
        Command::Data {
            data,
            dataset,
            movies,
            liked_threshold,
            test_fraction,
            seed,
        } => {
            let spec = DataSpec {
                dataset,
                movies,
                liked_threshold,
                test_fraction,
                ..DataSpec::default()
            };
            print_data_stats(&data.locator(), &spec, seed)
        }
    }
}

fn serve(args: ServeArgs) -> anyhow::Result<()> {
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

fn recommend(args: &RecommendArgs) -> anyhow::Result<()> {
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
        "index" => recommender.top_pick(&output).into_iter().collect(),
        _ => crate::model::top_k_by_score(&output, args.top),
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
fn default_key_cache() -> PathBuf {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache")))
        .unwrap_or_else(|| PathBuf::from("."));
    base.join("cipherscale").join("client")
}

fn load(args: &LoadArgs) -> anyhow::Result<()> {
    crate::load::install_interrupt_handler();
    crate::load::require_loopback(&args.url)?;
    let duration = Duration::from_secs(args.duration_s);
    let profile = match args.profile {
        ProfileKind::Probe => Profile::Probe,
        ProfileKind::Stress => Profile::Stress {
            min: args.min_burst,
            max: args.max_burst.max(args.min_burst),
        },
        ProfileKind::Ramp => Profile::Ramp {
            users: args.users.max(1),
            over: duration,
            requests: args.requests,
        },
        ProfileKind::Steady => Profile::Steady {
            rate: args.rate.max(1),
            duration,
        },
    };
    let payload = if args.liked.is_empty() {
        Payload::Get {
            path: args.path.clone(),
        }
    } else {
        recommend_payload(&args.url, &args.liked)?
    };
    let plan = LoadPlan {
        base: args.url.clone(),
        payload,
        profile,
        timeout: Duration::from_secs(args.timeout_s),
        max_requests: args.max_requests,
        max_duration: Duration::from_secs(args.max_duration_s),
        seed: args.seed,
    };
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    let (records, summary) = runtime.block_on(crate::load::run(&plan))?;
    let mut sink = CsvSink::create(&args.out.join("requests.csv"))?;
    for record in &records {
        sink.push(record)?;
    }
    sink.finish()?;
    let mut sink = CsvSink::create(&args.out.join("summary.csv"))?;
    sink.push(&summary)?;
    let path = sink.finish()?;
    emit(format_args!(
        "{}: {} requests, success {:.3}, mean {:.1} ms, p95 {:.1} ms, {:.2} req/s, stress penalty {:.3}{}\nwrote {}",
        summary.profile,
        summary.requests,
        summary.success_rate,
        summary.mean_ms,
        summary.p95_ms,
        summary.throughput_rps,
        summary.stress_penalty,
        if summary.interrupted { " (interrupted)" } else { "" },
        path.display()
    ))?;
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

fn manifests(args: ManifestArgs) -> anyhow::Result<()> {
    let config = KubeConfig {
        context: None,
        namespace: args.namespace,
        image: args.image,
        run_id: args.run_id,
        name: args.name,
        artifacts: args.artifacts,
        workers: args.workers,
        ready_timeout: Duration::from_secs(300),
    };
    let yaml = crate::deploy::kubernetes::manifests_yaml(&config, args.replicas)?;
    let path = args.out.join(format!("{}.yaml", config.name));
    crate::report::write_atomic(&path, yaml.as_bytes(), false)?;
    Ok(emit(format_args!("wrote {}", path.display()))?)
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

fn print_data_stats(locator: &DataLocator, spec: &DataSpec, seed: u64) -> anyhow::Result<()> {
    let dir = locator.resolve()?;
    let movielens = MovieLens::load(&dir, spec.dataset)?;
    let pool = Pool::most_rated(&movielens, spec.movies)?;
    let users = data::examples::liked_sets(&movielens, &pool, spec);
    let split = Split::by_user(&users, spec.test_fraction, seed).context("splitting users")?;
    let summary = format!(
        "data directory  {}\nusers           {}\nmovies          {}\nratings         {}\n\
         pool            {} most-rated movies; liked = rating >= {}\n\
         eligible users  {} (>= {} liked in the pool)\n\
         split (seed {seed})  train {} users / {} examples; test {} users / {} examples\n",
        dir.display(),
        movielens.user_count(),
        movielens.titles.len(),
        movielens.ratings.len(),
        pool.len(),
        spec.liked_threshold,
        users.len(),
        spec.min_liked,
        split.train_users.len(),
        split.train.len(),
        split.test_users.len(),
        split.test.len()
    );
    emit(summary)?;
    Ok(emit(pool_table(&pool, &users))?)
}

fn pool_table(pool: &Pool, users: &[data::UserLikes]) -> Table {
    let mut liked = vec![0usize; pool.len()];
    for movie in users.iter().flat_map(|u| &u.liked) {
        liked[*movie] += 1;
    }
    let mut table = Table::new(&["rank", "movieId", "ratings", "liked by", "title"]).align_left(4);
    for (i, title) in pool.titles.iter().enumerate() {
        table.row(vec![
            (i + 1).to_string(),
            pool.movie_ids[i].to_string(),
            pool.rating_counts[i].to_string(),
            liked[i].to_string(),
            title.clone(),
        ]);
    }
    table
}
