use clap::Parser;
use tracing_subscriber::EnvFilter;

fn main() {
    let cli = cipherscale::cli::Cli::parse();
    init_tracing(cli.verbose);
    if let Err(err) = cipherscale::cli::execute(cli) {
        eprintln!("error: {err:#}");
        std::process::exit(1);
    }
}

fn init_tracing(verbose: u8) {
    let default = ["info", "debug", "trace"][usize::from(verbose.min(2))];
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
