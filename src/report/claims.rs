//! Each claim of the two papers beside the number we measured for it, with a plain verdict.
//! Every number is computed from the CSVs here; a claim whose CSV is missing says so.

use super::read::{ExperimentResults, FheRow, ModelRow, ScalingRow, SummaryRow};
use super::Table;
use crate::stats::{mean, percentile};

/// One claim, what we measured for it and whether it holds.
#[derive(Debug, Clone, PartialEq)]
pub struct Claim {
    pub paper: &'static str,
    pub claim: &'static str,
    pub ours: String,
    pub verdict: Verdict,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Holds,
    Partly,
    DoesNotHold,
    NotMeasured,
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Verdict::Holds => "holds",
            Verdict::Partly => "partly",
            Verdict::DoesNotHold => "does not hold",
            Verdict::NotMeasured => "not measured",
        })
    }
}

const A: &str = "A (Marinelli & Chowdhury)";
const B: &str = "B (cloud-native HE)";

/// One check: a claim's number from one experiment's results.
type Check = fn(&ExperimentResults) -> Claim;

/// Every check, in the order the report lists the claims.
const CHECKS: [Check; 7] = [
    |r| packing_speedup(r.fhe.as_deref().unwrap_or_default()),
    |r| packing_memory(r.fhe.as_deref().unwrap_or_default()),
    |r| {
        accuracy(
            r.model.as_deref().unwrap_or_default(),
            r.fhe.as_deref().unwrap_or_default(),
        )
    },
    |r| linear_scaling(r.scaling.as_deref().unwrap_or_default()),
    |r| preferred_replicas(r.summary.as_deref().unwrap_or_default()),
    |r| ppo_against_static(r.summary.as_deref().unwrap_or_default()),
    |r| best_latency_replicas(r.summary.as_deref().unwrap_or_default()),
];

/// Every claim, each measured in the first experiment that has the data for it, with that
/// experiment's name.
pub fn assess(experiments: &[ExperimentResults]) -> Vec<(String, Claim)> {
    CHECKS
        .iter()
        .map(|check| {
            experiments
                .iter()
                .map(|r| (r.name.clone(), check(r)))
                .find(|(_, claim)| claim.verdict != Verdict::NotMeasured)
                .unwrap_or_else(|| ("-".into(), check(&ExperimentResults::default())))
        })
        .collect()
}

pub fn table(claims: &[(String, Claim)]) -> Table {
    let mut table = Table::new(&["paper", "claim", "ours", "experiment", "verdict"])
        .align_left(0)
        .align_left(1)
        .align_left(2)
        .align_left(3)
        .align_left(4);
    for (experiment, c) in claims {
        let verdict = format!("**{}**", c.verdict);
        let row = vec![
            c.paper.into(),
            c.claim.into(),
            c.ours.clone(),
            experiment.clone(),
            verdict,
        ];
        table.row(row);
    }
    table
}

fn not_measured(paper: &'static str, claim: &'static str, what: &str) -> Claim {
    Claim {
        paper,
        claim,
        ours: format!("no {what} in the results"),
        verdict: Verdict::NotMeasured,
    }
}

/// (bits, packed row, conventional row) for every width both pipelines ran at.
fn packed_vs_conventional(fhe: &[FheRow]) -> Vec<(u32, &FheRow, &FheRow)> {
    let find = |pipeline: &str, bits: u32| {
        fhe.iter()
            .find(|r| r.pipeline == pipeline && r.bits == bits)
    };
    fhe.iter()
        .filter(|r| r.pipeline == "glwe-packed")
        .filter_map(|packed| Some((packed.bits, packed, find("lwe", packed.bits)?)))
        .collect()
}

fn packing_speedup(fhe: &[FheRow]) -> Claim {
    let claim = "packing, modulus switching and fusion: up to 3.2x faster inference";
    let pairs = packed_vs_conventional(fhe);
    if pairs.is_empty() {
        return not_measured(B, claim, "glwe-packed and lwe rows in fhe.csv");
    }
    let ratios: Vec<f64> = pairs
        .iter()
        .map(|(_, packed, lwe)| lwe.eval_ms_median / packed.eval_ms_median)
        .collect();
    let (lo, hi) = extent(&ratios);
    let median = percentile(&ratios, 0.5);
    Claim {
        paper: B,
        claim,
        ours: format!(
            "packing alone (one GLWE product vs one LWE ciphertext per input, same widths): \
             {median:.1}x faster evaluation (median over {} widths, {lo:.1}x to {hi:.1}x); \
             modulus switching and fusion are not separate switches here",
            ratios.len()
        ),
        verdict: if median >= 3.2 {
            Verdict::Holds
        } else {
            Verdict::DoesNotHold
        },
    }
}

fn packing_memory(fhe: &[FheRow]) -> Claim {
    let claim = "40% less memory";
    let pairs = packed_vs_conventional(fhe);
    if pairs.is_empty() {
        return not_measured(B, claim, "glwe-packed and lwe rows in fhe.csv");
    }
    let saving = |f: fn(&FheRow) -> f64| -> f64 {
        let savings: Vec<f64> = pairs.iter().map(|(_, p, l)| 1.0 - f(p) / f(l)).collect();
        mean(&savings)
    };
    let rss = saving(|r| r.peak_rss_mb);
    let wire = saving(|r| (r.request_bytes + r.response_bytes) as f64);
    let verdict = match (rss >= 0.4, wire >= 0.4) {
        (true, _) => Verdict::Holds,
        (false, true) => Verdict::Partly,
        (false, false) => Verdict::DoesNotHold,
    };
    Claim {
        paper: B,
        claim,
        ours: format!(
            "peak RSS of the measuring process {:.0}% lower (mostly the process's own baseline); \
             ciphertext bytes per request {:.0}% lower",
            100.0 * rss,
            100.0 * wire
        ),
        verdict,
    }
}

fn accuracy(model: &[ModelRow], fhe: &[FheRow]) -> Claim {
    let claim = "accuracy within 0.2% of plaintext";
    let float: Vec<f64> = hit_at_1(model, "float", None);
    let widest = model
        .iter()
        .filter(|r| r.variant == "quantized")
        .filter_map(|r| r.bits)
        .max();
    let Some(bits) = widest.filter(|_| !float.is_empty()) else {
        return not_measured(B, claim, "float and quantized rows in model.csv");
    };
    let quantized = hit_at_1(model, "quantized", Some(bits));
    let agree_with_float: Vec<f64> = model
        .iter()
        .filter(|r| r.variant == "quantized" && r.bits == Some(bits))
        .map(|r| r.top1_agreement_with_float)
        .collect();
    let gap = mean(&quantized) - mean(&float);
    let agreement = fhe
        .iter()
        .map(|r| r.agreement)
        .fold(f64::INFINITY, f64::min);
    let agreement = match agreement.is_finite() {
        true => format!(
            "; decrypted answers agree with the plaintext model on {:.1}% of samples (lowest cell)",
            100.0 * agreement
        ),
        false => String::new(),
    };
    Claim {
        paper: B,
        claim,
        ours: format!(
            "hit@1 at {bits} bits {:.3} vs float {:.3}: {:+.2} points (mean over {} split seeds), \
             same top pick as float for {:.1}% of users{agreement}",
            mean(&quantized),
            mean(&float),
            100.0 * gap,
            float.len(),
            100.0 * mean(&agree_with_float)
        ),
        verdict: if gap.abs() <= 0.002 {
            Verdict::Holds
        } else {
            Verdict::DoesNotHold
        },
    }
}

fn hit_at_1(model: &[ModelRow], variant: &str, bits: Option<u32>) -> Vec<f64> {
    model
        .iter()
        .filter(|r| r.variant == variant && r.bits == bits)
        .map(|r| r.hit_at_1)
        .collect()
}

fn linear_scaling(scaling: &[ScalingRow]) -> Claim {
    let claim = "near-linear scalability with Kubernetes replicas";
    let widest = |backend: &str| {
        scaling
            .iter()
            .filter(|r| r.backend == backend)
            .max_by_key(|r| r.replicas)
    };
    let Some(local) = widest("local") else {
        return not_measured(B, claim, "scaling.csv");
    };
    let measured: Vec<&ScalingRow> = scaling
        .iter()
        .filter(|r| r.backend == "local" && r.replicas == local.replicas)
        .collect();
    let efficiencies: Vec<String> = measured
        .iter()
        .map(|r| format!("{} {}b {:.2}", r.pipeline, r.bits, r.efficiency))
        .collect();
    let best = measured.iter().map(|r| r.efficiency).fold(0.0, f64::max);
    let simulated = widest("sim-node-per-replica")
        .map(|r| format!("; simulated with a node per replica: {:.2} at {} replicas (by construction of the model)", r.efficiency, r.replicas))
        .unwrap_or_default();
    Claim {
        paper: B,
        claim,
        ours: format!(
            "efficiency (speedup / replicas) at {} local replicas on {} cores: {}{simulated}",
            local.replicas,
            local.cores,
            efficiencies.join(", ")
        ),
        verdict: match best {
            e if e >= 0.9 => Verdict::Holds,
            e if e >= 0.6 => Verdict::Partly,
            _ => Verdict::DoesNotHold,
        },
    }
}

fn find<'a>(summary: &'a [SummaryRow], policy: &str) -> Option<&'a SummaryRow> {
    summary.iter().find(|r| r.policy == policy)
}

fn preferred_replicas(summary: &[SummaryRow]) -> Claim {
    let claim = "PPO prefers 3 to 6 replicas";
    let Some(ppo) = find(summary, "ppo") else {
        return not_measured(A, claim, "ppo row in rl_summary.csv");
    };
    Claim {
        paper: A,
        claim,
        ours: format!(
            "the paper's PPO holds {:.1} replicas on average",
            ppo.mean_replicas
        ),
        verdict: if (3.0..=6.0).contains(&ppo.mean_replicas) {
            Verdict::Holds
        } else {
            Verdict::DoesNotHold
        },
    }
}

fn best_static(summary: &[SummaryRow]) -> Option<&SummaryRow> {
    summary
        .iter()
        .filter(|r| r.policy.starts_with("static-"))
        .max_by(|a, b| a.mean_return.total_cmp(&b.mean_return))
}

fn ppo_against_static(summary: &[SummaryRow]) -> Claim {
    let claim = "PPO finds a good replica count (no static baseline reported)";
    let (Some(ppo), Some(fixed)) = (find(summary, "ppo"), best_static(summary)) else {
        return not_measured(A, claim, "ppo and static rows in rl_summary.csv");
    };
    let ci = |r: &SummaryRow| {
        format!(
            "{:.1} [{:.1}, {:.1}]",
            r.mean_return, r.return_ci_low, r.return_ci_high
        )
    };
    let verdict = if ppo.return_ci_low > fixed.return_ci_high {
        Verdict::Holds
    } else if ppo.return_ci_high >= fixed.return_ci_low {
        Verdict::Partly
    } else {
        Verdict::DoesNotHold
    };
    let best_ppo = summary
        .iter()
        .filter(|r| r.policy.starts_with("ppo"))
        .max_by(|a, b| a.mean_return.total_cmp(&b.mean_return))
        .map(|r| format!("; our best agent, {}: {}", r.policy, ci(r)))
        .unwrap_or_default();
    Claim {
        paper: A,
        claim,
        ours: format!(
            "return of the paper's PPO {} vs the best static count, {}: {}{best_ppo}",
            ci(ppo),
            fixed.policy,
            ci(fixed)
        ),
        verdict,
    }
}

fn best_latency_replicas(summary: &[SummaryRow]) -> Claim {
    let claim = "2 replicas give the best latency";
    let fastest = summary
        .iter()
        .filter(|r| r.policy.starts_with("static-"))
        .min_by(|a, b| a.mean_latency_s.total_cmp(&b.mean_latency_s));
    let Some(fastest) = fastest else {
        return not_measured(A, claim, "static rows in rl_summary.csv");
    };
    Claim {
        paper: A,
        claim,
        ours: format!(
            "lowest mean latency among static counts: {} ({:.2} s)",
            fastest.policy, fastest.mean_latency_s
        ),
        verdict: if fastest.policy == "static-2" {
            Verdict::Holds
        } else {
            Verdict::DoesNotHold
        },
    }
}

fn extent(values: &[f64]) -> (f64, f64) {
    let spread = crate::stats::Summary::of(values.iter().copied());
    (spread.min, spread.max)
}
