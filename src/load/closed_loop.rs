//! Closed-loop clients of the encrypted service: each client thread has its own keys and sends
//! its next request when the previous answer is decrypted. What `serve` and `scaling` measure:
//! throughput and client-side latency (encryption and decryption included), with every answer
//! checked against the plaintext model.

use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, Instant};

use crate::data::Example;
use crate::lock;
use crate::serve::client::Recommender;
use crate::serve::Artifacts;
use crate::stats::percentile;

/// What one closed-loop run measured.
#[derive(Debug, Clone, PartialEq)]
pub struct ClosedLoopRun {
    pub clients: usize,
    /// Requests answered.
    pub requests: usize,
    pub wall_s: f64,
    pub throughput_rps: f64,
    pub latency_ms_median: f64,
    pub latency_ms_p95: f64,
    /// Answers that differ from the plaintext model's.
    pub wrong: usize,
}

/// `clients` threads share `requests` requests to the server at `base` (example `i` goes to
/// client `i % clients`); keys are made and uploaded before the clock starts.
pub fn run(
    base: &str,
    artifacts: &Artifacts,
    requests: usize,
    clients: usize,
    examples: &[Example],
) -> anyhow::Result<ClosedLoopRun> {
    anyhow::ensure!(
        clients > 0 && !examples.is_empty(),
        "a closed-loop run needs a client and an example"
    );
    let recommenders = (0..clients)
        .map(|_| {
            let recommender = Recommender::connect(base, None)?;
            recommender.upload()?;
            Ok(recommender)
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let latencies = Mutex::new(Vec::with_capacity(requests));
    let wrong = Mutex::new(0usize);
    let start = Arc::new(Barrier::new(clients + 1));
    let mut wall = Duration::ZERO;
    std::thread::scope(|scope| -> anyhow::Result<()> {
        let handles: Vec<_> = recommenders
            .iter()
            .enumerate()
            .map(|(c, recommender)| {
                let (start, latencies, wrong) = (start.clone(), &latencies, &wrong);
                scope.spawn(move || -> anyhow::Result<()> {
                    start.wait();
                    for i in (c..requests).step_by(clients) {
                        let liked = &examples[i % examples.len()].liked;
                        let sent = Instant::now();
                        let output = recommender.recommend(liked)?;
                        lock(latencies).push(sent.elapsed().as_secs_f64() * 1e3);
                        let expected = artifacts.circuit.expected(&artifacts.model, liked);
                        *lock(wrong) += usize::from(output != expected);
                    }
                    Ok(())
                })
            })
            .collect();
        start.wait();
        let began = Instant::now();
        for handle in handles {
            handle
                .join()
                .map_err(|_| anyhow::anyhow!("a client thread panicked"))??;
        }
        wall = began.elapsed();
        Ok(())
    })?;
    let latencies = latencies.into_inner().unwrap_or_default();
    let wrong = wrong.into_inner().unwrap_or_default();
    Ok(ClosedLoopRun::from_latencies(
        clients,
        latencies,
        wall.as_secs_f64(),
        wrong,
    ))
}

impl ClosedLoopRun {
    /// The run whose answered requests took `latencies_ms`, all within `wall_s`.
    pub fn from_latencies(
        clients: usize,
        latencies_ms: Vec<f64>,
        wall_s: f64,
        wrong: usize,
    ) -> Self {
        Self {
            clients,
            requests: latencies_ms.len(),
            wall_s,
            throughput_rps: latencies_ms.len() as f64 / wall_s,
            latency_ms_median: percentile(&latencies_ms, 0.5),
            latency_ms_p95: percentile(&latencies_ms, 0.95),
            wrong,
        }
    }
}
