//! Each claim of the two papers beside the number we measured for it, with a plain verdict.
//! Every number is computed from the CSVs here; a claim whose CSV is missing says so.

use super::autoscale::interval;
use crate::output::{Stamp, Table};
use crate::results::autoscale::SummaryRow;
use crate::results::fhe::{packed_against_lwe, FheRow};
use crate::results::model::{ModelRow, Variant};
use crate::results::scaling::{Backend, ScalingRow};
use crate::results::ExperimentResults;
use crate::stats::{mean, percentile, Summary};

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
    /// Measured, but the interval allows either answer.
    Inconclusive,
    /// This machine cannot test it (e.g. one 2-core host for a claim about many nodes).
    NotTestable,
    NotMeasured,
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Verdict::Holds => "holds",
            Verdict::Partly => "partly",
            Verdict::DoesNotHold => "does not hold",
            Verdict::Inconclusive => "inconclusive",
            Verdict::NotTestable => "not testable here",
            Verdict::NotMeasured => "not measured",
        })
    }
}

const A: &str = "A (Marinelli & Chowdhury)";
const B: &str = "B (cloud-native HE)";

/// One check: a claim's number from one experiment's results.
type Check = fn(&ExperimentResults) -> Claim;

/// Every check, in the order the report lists the claims.
const CHECKS: [Check; 8] = [
    |r| packing_speedup(r.fhe.as_deref().unwrap_or_default()),
    |r| packing_memory(r.fhe.as_deref().unwrap_or_default()),
    |r| {
        accuracy(
            r.model.as_deref().unwrap_or_default(),
            r.fhe.as_deref().unwrap_or_default(),
        )
    },
    |r| linear_scaling(r.scaling.as_deref().unwrap_or_default()),
    |r| preferred_replicas(&study(r, "bursts")),
    |r| ppo_against_static(&study(r, "bursts")),
    |r| best_latency_replicas(&study(r, "bursts")),
    |r| learned_scaling(&study(r, "trace")),
];

/// The summary rows of the first workload of `kind` (empty when the study ran none).
fn study(r: &ExperimentResults, kind: &str) -> Vec<SummaryRow> {
    let Some(name) = super::figures::workload_of_kind(r, kind) else {
        return Vec::new();
    };
    r.summary
        .iter()
        .flatten()
        .filter(|s| s.workload == name)
        .cloned()
        .collect()
}

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

fn packing_speedup(fhe: &[FheRow]) -> Claim {
    let claim = "packing, modulus switching and fusion: up to 3.2x faster inference";
    let pairs = packed_against_lwe(fhe);
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
    let pairs = packed_against_lwe(fhe);
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
    let float: std::collections::BTreeMap<u64, f64> = model
        .iter()
        .filter(|r| r.variant == Variant::Float)
        .map(|r| (r.seed, r.hit_at_1))
        .collect();
    let widest = model
        .iter()
        .filter(|r| r.variant == Variant::Quantized)
        .filter_map(|r| r.bits)
        .max();
    let Some(bits) = widest.filter(|_| !float.is_empty()) else {
        return not_measured(B, claim, "float and quantized rows in model.csv");
    };
    // Paired by split seed: the same held-out users under both models.
    let pairs: Vec<(f64, f64)> = model
        .iter()
        .filter(|r| r.variant == Variant::Quantized && r.bits == Some(bits))
        .filter_map(|r| Some((r.hit_at_1, *float.get(&r.seed)?)))
        .collect();
    if pairs.is_empty() {
        return not_measured(B, claim, "quantized and float rows of the same split seeds");
    }
    let points = Summary::of(pairs.iter().map(|(q, f)| q - f));
    let relative = Summary::of(
        pairs
            .iter()
            .map(|(q, f)| (q - f) / f.max(f64::MIN_POSITIVE)),
    );
    let (by_points, by_share) = (within(&points, 0.002), within(&relative, 0.002));
    let agree_with_float: Vec<f64> = model
        .iter()
        .filter(|r| r.variant == Variant::Quantized && r.bits == Some(bits))
        .map(|r| r.top1_agreement_with_float)
        .collect();
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
            "hit@1 at {bits} bits minus float, paired over {} split seeds (95% CI): \
             {:+.2} ± {:.2} points ({by_points} as 0.2 points), {:+.2} ± {:.2}% of float's \
             hit@1 ({by_share} as 0.2% relative); same top pick as float for {:.1}% of \
             users{agreement}",
            points.n,
            100.0 * points.mean,
            100.0 * points.ci95(),
            100.0 * relative.mean,
            100.0 * relative.ci95(),
            100.0 * mean(&agree_with_float)
        ),
        verdict: match (by_points, by_share) {
            (a, b) if a == b => a,
            (Verdict::Inconclusive, _) | (_, Verdict::Inconclusive) => Verdict::Inconclusive,
            _ => Verdict::Partly,
        },
    }
}

/// Whether the 95% interval of a mean lies within `-tolerance ..= tolerance` (holds), wholly
/// outside it (does not hold), or across its edge (inconclusive).
fn within(gap: &Summary, tolerance: f64) -> Verdict {
    let (low, high) = (gap.mean - gap.ci95(), gap.mean + gap.ci95());
    if low >= -tolerance && high <= tolerance {
        Verdict::Holds
    } else if high < -tolerance || low > tolerance {
        Verdict::DoesNotHold
    } else {
        Verdict::Inconclusive
    }
}

fn linear_scaling(scaling: &[(ScalingRow, Stamp)]) -> Claim {
    let claim = "near-linear scalability with Kubernetes replicas";
    let widest = |backend: Backend| {
        scaling
            .iter()
            .filter(|(r, _)| r.backend == backend)
            .max_by_key(|(r, _)| r.replicas)
    };
    let Some((local, stamp)) = widest(Backend::Local) else {
        return not_measured(B, claim, "scaling.csv");
    };
    let measured: Vec<&ScalingRow> = scaling
        .iter()
        .map(|(r, _)| r)
        .filter(|r| r.backend == Backend::Local && r.replicas == local.replicas)
        .collect();
    let efficiencies: Vec<String> = measured
        .iter()
        .map(|r| format!("{} {}b {:.2}", r.pipeline, r.bits, r.efficiency))
        .collect();
    let best = measured.iter().map(|r| r.efficiency).fold(0.0, f64::max);
    let simulated = widest(Backend::SimNodePerReplica)
        .map(|(r, _)| format!("; simulated with a node per replica: {:.2} at {} replicas (by construction of the model)", r.efficiency, r.replicas))
        .unwrap_or_default();
    Claim {
        paper: B,
        claim,
        ours: format!(
            "efficiency (speedup / replicas) at {} local replicas on {} cores: {}{simulated}",
            local.replicas,
            stamp.cores,
            efficiencies.join(", ")
        ),
        verdict: match best {
            // Replicas that share the cores of one host cannot add throughput beyond them: the
            // claim is about replicas on their own nodes, which one machine cannot show.
            _ if local.replicas >= stamp.cores => Verdict::NotTestable,
            e if e >= 0.9 => Verdict::Holds,
            e if e >= 0.6 => Verdict::Partly,
            _ => Verdict::DoesNotHold,
        },
    }
}

fn find<'a>(summary: &'a [SummaryRow], policy: &str) -> Option<&'a SummaryRow> {
    summary.iter().find(|r| r.controller == policy)
}

fn preferred_replicas(summary: &[SummaryRow]) -> Claim {
    let claim = "PPO prefers 3 to 6 replicas";
    let Some(ppo) = find(summary, "ppo") else {
        return not_measured(
            A,
            claim,
            "ppo row for the bursts workload in rl_summary.csv",
        );
    };
    Claim {
        paper: A,
        claim,
        ours: format!(
            "the paper's PPO holds {:.1} replicas on average over {} seeds on the paper's bursts",
            ppo.mean_replicas, ppo.runs
        ),
        verdict: if (3.0..=6.0).contains(&ppo.mean_replicas) {
            Verdict::Holds
        } else {
            Verdict::DoesNotHold
        },
    }
}

fn chosen_static(summary: &[SummaryRow]) -> Option<&SummaryRow> {
    summary.iter().find(|r| r.kind == "static" && r.chosen)
}

/// The verdict of a paired cost difference: cheaper (holds), dearer (does not), or either.
fn by_difference(minus: Option<crate::stats::compare::Interval>) -> Verdict {
    match minus {
        Some(d) if d.high < 0.0 => Verdict::Holds,
        Some(d) if d.low > 0.0 => Verdict::DoesNotHold,
        Some(_) => Verdict::Inconclusive,
        None => Verdict::NotMeasured,
    }
}

fn ppo_against_static(summary: &[SummaryRow]) -> Claim {
    let claim = "PPO finds a good replica count (no static baseline reported)";
    let (Some(ppo), Some(fixed)) = (find(summary, "ppo"), chosen_static(summary)) else {
        return not_measured(
            A,
            claim,
            "ppo and static rows for the bursts workload in rl_summary.csv",
        );
    };
    let beats = interval(ppo.beats("static"), 2);
    let minus = interval(ppo.minus("static"), 1);
    Claim {
        paper: A,
        claim,
        ours: format!(
            "on the paper's bursts, the paper's PPO (IQM cost {} over {} seeds) against {} (chosen \
             on validation, {}): cost difference {minus} per episode, P(PPO cheaper) {beats}; \
             {} of {} seeds collapsed to one action",
            ppo.cost().show(1),
            ppo.runs,
            fixed.controller,
            fixed.cost().show(1),
            ppo.constant_runs,
            ppo.runs
        ),
        verdict: by_difference(ppo.minus("static")),
    }
}

fn best_latency_replicas(summary: &[SummaryRow]) -> Claim {
    let claim = "2 replicas give the best latency";
    let fastest = summary
        .iter()
        .filter(|r| r.kind == "static")
        .min_by(|a, b| a.mean_latency_s.total_cmp(&b.mean_latency_s));
    let Some(fastest) = fastest else {
        return not_measured(
            A,
            claim,
            "static rows for the bursts workload in rl_summary.csv",
        );
    };
    Claim {
        paper: A,
        claim,
        ours: format!(
            "lowest mean latency among static counts on the paper's bursts: {} ({:.2} s)",
            fastest.controller, fastest.mean_latency_s
        ),
        verdict: if fastest.controller == "static-2" {
            Verdict::Holds
        } else {
            Verdict::DoesNotHold
        },
    }
}

/// Paper A's premise: a learned policy scales a deployment under changing load better than
/// fixed provisioning; tested on the replayed trace, against the best static count and MPC.
fn learned_scaling(summary: &[SummaryRow]) -> Claim {
    let claim = "RL scales an FHE service under changing load better than fixed provisioning";
    let best = summary
        .iter()
        .filter(|r| r.kind == "ppo")
        .max_by(|a, b| a.iqm_score.total_cmp(&b.iqm_score));
    let (Some(ppo), Some(fixed)) = (best, chosen_static(summary)) else {
        return not_measured(
            A,
            claim,
            "ppo and static rows for a trace workload in rl_summary.csv",
        );
    };
    let mpc = find(summary, "mpc");
    let vs_mpc = match (ppo.minus("mpc"), mpc) {
        (Some(d), Some(m)) => format!(
            "; against MPC (score {}): cost difference {}",
            m.score().show(2),
            d.show(3)
        ),
        _ => String::new(),
    };
    Claim {
        paper: A,
        claim,
        ours: format!(
            "replayed NASA trace (test month), best PPO agent {} over {} seeds: normalised score {} \
             (0 = {}, 1 = oracle), cost difference to the static count {}{vs_mpc}",
            ppo.controller,
            ppo.runs,
            ppo.score().show(2),
            fixed.controller,
            interval(ppo.minus("static"), 3),
        ),
        verdict: by_difference(ppo.minus("static")),
    }
}

fn extent(values: &[f64]) -> (f64, f64) {
    let spread = crate::stats::Summary::of(values.iter().copied());
    (spread.min, spread.max)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fhe::Pipeline;
    use crate::results::model::tests::row as model;
    use crate::stats::compare::Interval;

    fn fhe(pipeline: Pipeline, bits: u32, eval_ms: f64, rss: f64, bytes: u64) -> FheRow {
        FheRow {
            seed: 7,
            pipeline,
            bits,
            params: String::new(),
            inputs: 50,
            outputs: 50,
            samples: 10,
            timed: 10,
            bootstraps: 0,
            agreement: 1.0,
            decryption_errors: 0,
            hit_at_1: Some(0.2),
            hit_at_1_ci95: None,
            keygen_ms: 1.0,
            encrypt_ms: 1.0,
            eval_ms_median: eval_ms,
            eval_ms_p95: eval_ms,
            decrypt_ms: 1.0,
            request_bytes: bytes,
            response_bytes: 0,
            eval_key_bytes: 0,
            peak_rss_mb: rss,
            eval_ms_extrapolated_full: None,
        }
    }

    #[test]
    fn packing_is_3_2x_faster_only_when_the_median_width_is() {
        let rows = |speedups: &[f64]| -> Vec<FheRow> {
            (0..speedups.len() as u32)
                .flat_map(|b| {
                    let s = speedups[b as usize];
                    [
                        fhe(Pipeline::GlwePacked, b, 1.0, 10.0, 10),
                        fhe(Pipeline::Lwe, b, s, 10.0, 10),
                    ]
                })
                .collect()
        };
        assert_eq!(
            packing_speedup(&rows(&[3.0, 3.3, 4.0])).verdict,
            Verdict::Holds
        );
        assert_eq!(
            packing_speedup(&rows(&[2.0, 3.1, 9.0])).verdict,
            Verdict::DoesNotHold
        );
        let no_lwe = [fhe(Pipeline::GlwePacked, 4, 1.0, 1.0, 1)];
        assert_eq!(packing_speedup(&no_lwe).verdict, Verdict::NotMeasured);
    }

    #[test]
    fn memory_holds_on_rss_and_partly_on_wire_bytes_alone() {
        let pair = |rss: f64, bytes: u64| {
            vec![
                fhe(Pipeline::GlwePacked, 4, 1.0, rss, bytes),
                fhe(Pipeline::Lwe, 4, 1.0, 100.0, 100),
            ]
        };
        assert_eq!(packing_memory(&pair(50.0, 90)).verdict, Verdict::Holds);
        assert_eq!(packing_memory(&pair(90.0, 50)).verdict, Verdict::Partly);
        assert_eq!(
            packing_memory(&pair(90.0, 90)).verdict,
            Verdict::DoesNotHold
        );
    }

    #[test]
    fn accuracy_holds_within_0_2_points_at_the_widest_width() {
        let rows = |widest: f64| {
            vec![
                model(1, Variant::Float, None, 0.200),
                model(1, Variant::Quantized, Some(2), 0.100),
                model(1, Variant::Quantized, Some(8), widest),
            ]
        };
        // One seed: the interval is the point. 0.1 points is 0.5% of 0.2: holds one reading.
        assert_eq!(accuracy(&rows(0.2003), &[]).verdict, Verdict::Holds);
        assert_eq!(accuracy(&rows(0.199), &[]).verdict, Verdict::Partly);
        assert_eq!(accuracy(&rows(0.197), &[]).verdict, Verdict::DoesNotHold);
        assert_eq!(accuracy(&[], &[]).verdict, Verdict::NotMeasured);
        // Seeds that disagree: an interval across the tolerance decides nothing.
        let mut spread = Vec::new();
        for (seed, gap) in [(1, 0.004), (2, -0.004), (3, 0.003), (4, -0.003)] {
            spread.push(model(seed, Variant::Float, None, 0.200));
            spread.push(model(seed, Variant::Quantized, Some(8), 0.200 + gap));
        }
        let claim = accuracy(&spread, &[]);
        assert_eq!(claim.verdict, Verdict::Inconclusive, "{}", claim.ours);
    }

    fn scaling(replicas: usize, efficiency: f64) -> (ScalingRow, Stamp) {
        let row = ScalingRow {
            seed: 7,
            pipeline: Pipeline::GlwePacked,
            bits: 8,
            backend: Backend::Local,
            replicas,
            clients: 2 * replicas,
            requests: 100,
            throughput_rps: 1.0,
            speedup: efficiency * replicas as f64,
            efficiency,
            latency_ms_median: 1.0,
            latency_ms_p95: 1.0,
            wrong: 0,
        };
        let stamp = Stamp {
            cores: 4,
            ..Stamp::default()
        };
        (row, stamp)
    }

    #[test]
    fn scaling_is_judged_below_the_cores_only() {
        let verdict = |rows: &[(ScalingRow, Stamp)]| linear_scaling(rows).verdict;
        assert_eq!(
            verdict(&[scaling(1, 1.0), scaling(2, 0.95)]),
            Verdict::Holds
        );
        assert_eq!(
            verdict(&[scaling(1, 1.0), scaling(2, 0.7)]),
            Verdict::Partly
        );
        assert_eq!(
            verdict(&[scaling(1, 1.0), scaling(2, 0.5)]),
            Verdict::DoesNotHold
        );
        // As many replicas as cores: they share the host, the claim is about nodes.
        assert_eq!(verdict(&[scaling(4, 0.5)]), Verdict::NotTestable);
        assert_eq!(verdict(&[]), Verdict::NotMeasured);
    }

    #[test]
    fn a_cost_difference_decides_only_when_its_interval_excludes_zero() {
        let interval = |low, high| Interval {
            estimate: (low + high) / 2.0,
            low,
            high,
        };
        assert_eq!(by_difference(Some(interval(-2.0, -0.1))), Verdict::Holds);
        assert_eq!(
            by_difference(Some(interval(0.1, 2.0))),
            Verdict::DoesNotHold
        );
        assert_eq!(
            by_difference(Some(interval(-1.0, 1.0))),
            Verdict::Inconclusive
        );
        assert_eq!(by_difference(None), Verdict::NotMeasured);
    }
}
