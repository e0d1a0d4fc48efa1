//! The `fhe:` section of a spec: which circuits to measure, at which widths, on how many
//! examples.

use serde::{Deserialize, Serialize};

use super::Pipeline;

/// The encrypted-inference stage: which pipelines, at which widths, on how many examples.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct FheSpec {
    pub pipelines: Vec<Pipeline>,
    /// Widths to build circuits at; empty means `model.bit_widths`.
    pub bit_widths: Vec<u32>,
    /// Held-out examples pushed through each circuit; absent means all of them.
    pub samples: Option<usize>,
    /// The reduced size the slow `integer` baseline runs at.
    pub integer: IntegerSpec,
    /// Score widths and sample count of the slow private-output `glwe-argmax` circuit.
    pub argmax: ArgmaxSpec,
}

impl Default for FheSpec {
    fn default() -> Self {
        Self {
            pipelines: vec![Pipeline::GlwePacked, Pipeline::Lwe, Pipeline::Integer],
            bit_widths: Vec::new(),
            samples: None,
            integer: IntegerSpec::default(),
            argmax: ArgmaxSpec::default(),
        }
    }
}

impl FheSpec {
    /// The (pipeline, width) cells to measure, in order: each pipeline at `bit_widths` (the
    /// model's widths when empty), `glwe-argmax` at its own score widths.
    pub fn cells(&self, model_widths: &[u32]) -> Vec<(Pipeline, u32)> {
        let widths = |pipeline: Pipeline| match pipeline {
            Pipeline::GlweArgmax => &self.argmax.bits,
            _ if self.bit_widths.is_empty() => model_widths,
            _ => &self.bit_widths,
        };
        self.pipelines
            .iter()
            .flat_map(|&p| widths(p).iter().map(move |&b| (p, b)))
            .collect()
    }
}

/// `glwe-argmax` runs at its own score widths `p` (all on one published parameter set), on
/// `samples` held-out examples drawn at random across users, stopping early once a width has used
/// `budget_minutes` in a run; the checks accumulate across runs (`argmax_checks.csv`).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ArgmaxSpec {
    pub bits: Vec<u32>,
    pub samples: usize,
    /// Wall-clock cap per width and run. Absent: none.
    pub budget_minutes: Option<f64>,
}

impl Default for ArgmaxSpec {
    fn default() -> Self {
        Self {
            bits: crate::fhe::argmax::SCORE_BITS.collect(),
            samples: 200,
            budget_minutes: None,
        }
    }
}

/// `integer` runs on the first `inputs` movies and `outputs` outputs of the model.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct IntegerSpec {
    pub inputs: usize,
    pub outputs: usize,
    pub samples: usize,
}

impl Default for IntegerSpec {
    fn default() -> Self {
        Self {
            inputs: 4,
            outputs: 2,
            samples: 3,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_take_the_model_widths_unless_given_and_argmax_its_own() {
        let mut spec = FheSpec {
            pipelines: vec![Pipeline::GlwePacked, Pipeline::GlweArgmax],
            ..FheSpec::default()
        };
        spec.argmax.bits = vec![4];
        let packed = |b| (Pipeline::GlwePacked, b);
        assert_eq!(
            spec.cells(&[2, 8]),
            [packed(2), packed(8), (Pipeline::GlweArgmax, 4)]
        );
        spec.bit_widths = vec![3];
        assert_eq!(spec.cells(&[2, 8]), [packed(3), (Pipeline::GlweArgmax, 4)]);
    }
}
