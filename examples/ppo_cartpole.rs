//! PPO's own check: CartPole-v1 with stable-baselines3's defaults for 100k steps on 3 seeds.
//! A correct PPO reaches a mean return of 475 or more (500 is the cap).
//!
//! `cargo run --release --example ppo_cartpole [-- STEPS]` prints per-seed results and writes
//! `results/bench/ppo_cartpole.csv`.

use std::time::Instant;

use cipherscale::output::{CsvSink, Stamp};
use cipherscale::results::bench::CartPoleRow as Row;
use cipherscale::rl::cartpole::CartPole;
use cipherscale::rl::ppo::{Ppo, PpoConfig};
use cipherscale::rl::Environment;

fn main() -> anyhow::Result<()> {
    let steps: usize = std::env::args()
        .nth(1)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(100_000);
    let path = std::path::Path::new("results/bench/ppo_cartpole.csv");
    let mut sink = CsvSink::create(path, &Stamp::here("bench"))?;
    for seed in [1, 2, 3] {
        let row = train(seed, steps)?;
        println!(
            "seed {seed}: {} episodes, last-20 training return {:.1}, greedy return {:.1}, solved at \
             step {}, {:.0} s",
            row.episodes, row.train_return_last20, row.greedy_return, row.solved_at_step, row.wall_s
        );
        sink.push(&row)?;
    }
    println!("wrote {}", sink.finish()?.display());
    Ok(())
}

fn train(seed: u64, steps: usize) -> anyhow::Result<Row> {
    let start = Instant::now();
    let mut env = CartPole::default();
    let mut agent = Ppo::new(PpoConfig::default(), 4, 2, seed);
    let mut returns = Vec::new();
    let mut solved_at_step = 0;
    let mut next = seed * 1_000_000;
    agent.train(
        &mut env,
        steps,
        &mut || {
            next += 1;
            next
        },
        &mut |end| {
            returns.push(end.episode_return);
            let recent = &returns[returns.len().saturating_sub(20)..];
            let mean = recent.iter().sum::<f64>() / recent.len() as f64;
            if solved_at_step == 0 && recent.len() == 20 && mean >= 475.0 {
                solved_at_step = end.total_steps;
            }
        },
    )?;
    let recent = &returns[returns.len().saturating_sub(20)..];
    Ok(Row {
        seed,
        steps,
        episodes: returns.len(),
        train_return_last20: recent.iter().sum::<f64>() / recent.len().max(1) as f64,
        greedy_return: greedy_return(&agent, seed)?,
        solved_at_step,
        wall_s: start.elapsed().as_secs_f64(),
    })
}

fn greedy_return(agent: &Ppo, seed: u64) -> anyhow::Result<f64> {
    let mut env = CartPole::default();
    let mut total = 0.0;
    for episode in 0..20 {
        let mut observation = env.reset(seed * 7_919 + episode)?;
        loop {
            let t = env.step(agent.greedy(&observation))?;
            total += t.reward;
            if t.terminated || t.truncated {
                break;
            }
            observation = t.observation;
        }
    }
    Ok(total / 20.0)
}
