//! `model.csv`: every model variant evaluated on every split seed.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::output::Table;
use crate::stats::{group_in_order, mean, Summary};

/// Which model a `model.csv` row evaluates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Variant {
    /// The most-liked movies of the training users, the same for everyone.
    Popularity,
    /// Logistic regression in floating point.
    Float,
    /// b-bit weights (the leveled circuits).
    Quantized,
    /// p-bit scores (the model `glwe-argmax` runs).
    Scores,
}

impl fmt::Display for Variant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Variant::Popularity => "popularity",
            Variant::Float => "float",
            Variant::Quantized => "quantized",
            Variant::Scores => "scores",
        })
    }
}

/// One row of `model.csv`: one model variant evaluated on one split.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelRow {
    /// The split seed.
    pub seed: u64,
    pub variant: Variant,
    /// Weight width, or score width for `scores`; empty for `popularity` and `float`.
    pub bits: Option<u32>,
    pub hit_at_1: f64,
    pub hit_at_5: f64,
    /// Fraction of held-out examples whose top pick equals the float model's.
    pub top1_agreement_with_float: f64,
    /// Held-out examples evaluated.
    pub examples: usize,
    pub train_examples: usize,
    pub movies: usize,
    /// Signed bits any integer score of this model fits in; empty unless quantized.
    pub accumulator_bits: Option<u32>,
    /// L2 penalty chosen on the validation users; empty for `popularity`.
    pub l2: Option<f64>,
}

/// Each variant over the seeds, with its paired gap to the float model on the same splits.
pub fn table(rows: &[ModelRow]) -> Table {
    let mut table = Table::new(&[
        "variant",
        "bits",
        "hit@1 (95% CI over seeds)",
        "vs float (pp, paired)",
        "hit@5",
        "top-1 = float",
        "seeds",
    ])
    .align_left(0);
    let float: BTreeMap<u64, f64> = rows
        .iter()
        .filter(|r| r.variant == Variant::Float)
        .map(|r| (r.seed, r.hit_at_1))
        .collect();
    for ((variant, bits), group) in group_in_order(rows, |m| (m.variant, m.bits)) {
        let hit1 = Summary::of(group.iter().map(|m| m.hit_at_1));
        let gap = Summary::of(
            group
                .iter()
                .filter_map(|m| Some(m.hit_at_1 - float.get(&m.seed)?)),
        );
        let hit5: Vec<f64> = group.iter().map(|m| m.hit_at_5).collect();
        let agree: Vec<f64> = group.iter().map(|m| m.top1_agreement_with_float).collect();
        table.row(vec![
            variant.to_string(),
            bits.map_or("-".into(), |b| b.to_string()),
            format!("{:.3} ± {:.3}", hit1.mean, hit1.ci95()),
            format!("{:+.2} ± {:.2}", 100.0 * gap.mean, 100.0 * gap.ci95()),
            format!("{:.3}", mean(&hit5)),
            format!("{:.3}", mean(&agree)),
            group.len().to_string(),
        ]);
    }
    table
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A row with the given keys and hit@1, the rest plausible.
    pub(crate) fn row(seed: u64, variant: Variant, bits: Option<u32>, hit_at_1: f64) -> ModelRow {
        ModelRow {
            seed,
            variant,
            bits,
            hit_at_1,
            hit_at_5: 0.5,
            top1_agreement_with_float: 1.0,
            examples: 10,
            train_examples: 40,
            movies: 8,
            accumulator_bits: None,
            l2: None,
        }
    }

    #[test]
    fn the_gap_to_float_is_paired_by_seed() {
        let rows = [
            row(1, Variant::Float, None, 0.20),
            row(2, Variant::Float, None, 0.30),
            row(1, Variant::Quantized, Some(4), 0.19),
            row(2, Variant::Quantized, Some(4), 0.29),
        ];
        let text = table(&rows).to_string();
        let quantized = text.lines().find(|l| l.contains("quantized")).unwrap();
        // Both seeds lose exactly one point: no spread, although the seeds' levels differ.
        assert!(quantized.contains("-1.00 ± 0.00"), "{text}");
    }
}
