//! Signed b-bit quantization of the weights and bias with one shared scale, so that the integer
//! scores are the float scores divided by that scale, up to rounding.

use super::{top_unliked, FloatModel, Recommender};
use crate::data::Example;

/// Integer weights in `[-2^(b-1), 2^(b-1) - 1]`, `weights[class][feature]`, and integer biases.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct QuantizedModel {
    pub bits: u32,
    /// Float value of one integer step.
    pub scale: f64,
    pub weights: Vec<Vec<i32>>,
    pub bias: Vec<i32>,
}

/// The signed range of a `bits`-wide integer.
pub fn signed_range(bits: u32) -> (i32, i32) {
    (-(1 << (bits - 1)), (1 << (bits - 1)) - 1)
}

impl QuantizedModel {
    /// Rounds every weight and bias to `bits` bits; the scale fills the range on whichever side
    /// (positive or negative) needs it most.
    pub fn quantize(model: &FloatModel, bits: u32) -> Self {
        assert!((2..=16).contains(&bits), "bit width {bits} outside 2..=16");
        let (low, high) = signed_range(bits);
        let values = model.weights.iter().flatten().chain(&model.bias);
        let (most_negative, most_positive) =
            values.fold((0.0f64, 0.0f64), |(lo, hi), &v| (lo.min(v), hi.max(v)));
        let scale = (most_positive / f64::from(high)).max(most_negative / f64::from(low));
        let scale = if scale > 0.0 { scale } else { 1.0 };
        Self::mapped(model, bits, scale, |v| {
            ((v / scale).round() as i32).clamp(low, high)
        })
    }

    /// Every weight and bias through `to_int`, recorded with `bits` and `scale`.
    fn mapped(model: &FloatModel, bits: u32, scale: f64, to_int: impl Fn(f64) -> i32) -> Self {
        Self {
            bits,
            scale,
            weights: model
                .weights
                .iter()
                .map(|row| row.iter().map(|&v| to_int(v)).collect())
                .collect(),
            bias: model.bias.iter().map(|&v| to_int(v)).collect(),
        }
    }

    /// A model whose every score, for any 0/1 input, is a `score_bits`-bit unsigned integer
    /// once [`Self::score_bounds`]' lower end is subtracted: the scores are rounded to
    /// `score_bits` bits by rounding each weight and bias on the finest scale that keeps the
    /// worst-case range (all positive or all negative weights liked) within `2^score_bits - 1`.
    /// Here `bits` records the score width, not a weight width.
    pub fn quantize_scores(model: &FloatModel, score_bits: u32) -> Self {
        assert!(
            (1..=16).contains(&score_bits),
            "score width {score_bits} outside 1..=16"
        );
        let limit = (1i64 << score_bits) - 1;
        let (lo, hi) = float_score_bounds(model);
        let ideal = ((hi - lo) / limit as f64).max(f64::MIN_POSITIVE);
        // Rounding can make a slightly finer scale fit, or the ideal one overflow: walk a
        // geometric grid from below the ideal scale and keep the finest that fits.
        let fits = (0..400)
            .map(|step| ideal * 0.8 * 1.01f64.powi(step))
            .map(|scale| Self::with_scale(model, score_bits, scale))
            .find(|q| {
                let (lo, hi) = q.score_bounds();
                hi - lo <= limit
            });
        fits.unwrap_or_else(|| Self::with_scale(model, score_bits, f64::MAX))
    }

    fn with_scale(model: &FloatModel, bits: u32, scale: f64) -> Self {
        Self::mapped(model, bits, scale, |v| (v / scale).round() as i32)
    }

    /// The lowest and highest score any 0/1 input can produce, over all outputs.
    pub fn score_bounds(&self) -> (i64, i64) {
        let bounds = self.weights.iter().zip(&self.bias).map(|(row, &bias)| {
            let positive: i64 = row.iter().map(|&w| i64::from(w.max(0))).sum();
            let negative: i64 = row.iter().map(|&w| i64::from(w.min(0))).sum();
            (i64::from(bias) + negative, i64::from(bias) + positive)
        });
        bounds.fold((i64::MAX, i64::MIN), |(lo, hi), (l, h)| {
            (lo.min(l), hi.max(h))
        })
    }

    /// The sub-model of the first `inputs` movies as inputs and first `outputs` as outputs,
    /// for baselines too slow to run at full size.
    pub fn restrict(&self, inputs: usize, outputs: usize) -> Self {
        Self {
            bits: self.bits,
            scale: self.scale,
            weights: self
                .weights
                .iter()
                .take(outputs)
                .map(|row| row[..inputs.min(row.len())].to_vec())
                .collect(),
            bias: self.bias.iter().take(outputs).copied().collect(),
        }
    }

    /// Integer scores for a liked set: the sum of the liked weight columns plus the bias.
    pub fn scores(&self, liked: &[usize]) -> Vec<i64> {
        self.weights
            .iter()
            .zip(&self.bias)
            .map(|(row, &bias)| {
                i64::from(bias) + liked.iter().map(|&j| i64::from(row[j])).sum::<i64>()
            })
            .collect()
    }

    /// Signed bits needed to hold any score this model can produce for a 0/1 input.
    pub fn accumulator_bits(&self) -> u32 {
        let (lo, hi) = self.score_bounds();
        let widest = hi.max(-lo - 1).max(0);
        65 - widest.leading_zeros()
    }
}

/// The float analogue of [`QuantizedModel::score_bounds`].
fn float_score_bounds(model: &FloatModel) -> (f64, f64) {
    let bounds = model.weights.iter().zip(&model.bias).map(|(row, &bias)| {
        let positive: f64 = row.iter().map(|&w| w.max(0.0)).sum();
        let negative: f64 = row.iter().map(|&w| w.min(0.0)).sum();
        (bias + negative, bias + positive)
    });
    bounds.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), (l, h)| {
        (lo.min(l), hi.max(h))
    })
}

impl Recommender for QuantizedModel {
    fn top_k(&self, example: &Example, k: usize) -> Vec<usize> {
        top_unliked(&self.scores(&example.liked), &example.liked, k)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model() -> FloatModel {
        FloatModel {
            weights: vec![vec![0.5, -1.0], vec![0.25, 0.75]],
            bias: vec![-0.1, 0.2],
        }
    }

    #[test]
    fn uses_the_full_signed_range() {
        for bits in 2..=8 {
            let q = QuantizedModel::quantize(&model(), bits);
            let (low, high) = signed_range(bits);
            let all: Vec<i32> = q.weights.iter().flatten().chain(&q.bias).copied().collect();
            assert!(
                all.iter().all(|v| (low..=high).contains(v)),
                "{bits} bits: {all:?}"
            );
            assert!(
                all.contains(&low) || all.contains(&high),
                "{bits} bits: {all:?}"
            );
        }
    }

    #[test]
    fn two_bits_scale_comes_from_the_side_that_needs_it() {
        let q = QuantizedModel::quantize(&model(), 2);
        // 0.75 / 1 needs a larger step than -1.0 / -2, so the step is 0.75.
        assert_eq!(q.scale, 0.75);
        assert_eq!(q.weights, vec![vec![1, -1], vec![0, 1]]);
        assert_eq!(q.bias, vec![0, 0]);
    }

    #[test]
    fn integer_scores_track_float_scores() {
        let q = QuantizedModel::quantize(&model(), 8);
        let float = model().scores(&[0, 1]);
        let ints = q.scores(&[0, 1]);
        for (f, i) in float.iter().zip(&ints) {
            assert!(
                (f - *i as f64 * q.scale).abs() <= 3.0 * q.scale / 2.0,
                "{f} vs {i}"
            );
        }
    }

    #[test]
    fn score_quantization_keeps_every_score_in_p_bits_and_uses_the_range() {
        for p in 1..=8 {
            let q = QuantizedModel::quantize_scores(&model(), p);
            let (lo, hi) = q.score_bounds();
            assert!(hi - lo < 1 << p, "{p}: {lo}..{hi}");
            for liked in [vec![], vec![0], vec![1], vec![0, 1]] {
                assert!(q.scores(&liked).iter().all(|s| (lo..=hi).contains(s)));
            }
            if p >= 4 {
                assert!(hi - lo >= 1 << (p - 1), "{p}: {lo}..{hi} wastes a bit");
            }
        }
    }

    #[test]
    fn accumulator_bits_cover_the_extreme_scores() {
        let q = QuantizedModel::quantize(&model(), 8);
        let bits = q.accumulator_bits();
        let limit = 1i64 << (bits - 1);
        for liked in [vec![], vec![0], vec![1], vec![0, 1]] {
            assert!(q.scores(&liked).iter().all(|s| (-limit..limit).contains(s)));
        }
        assert!(bits <= 8 + 2, "{bits}");
    }
}
