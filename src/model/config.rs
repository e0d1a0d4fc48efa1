//! The `model:` section of a spec: the plaintext model and its quantized variants.

use serde::{Deserialize, Serialize};

/// The plaintext model and its quantized variants.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ModelSpec {
    pub kind: ModelKind,
    /// Candidate L2 penalties (`0.5 * l2 * |W|^2` added to the summed log-loss; sklearn's C = 1/l2).
    /// With more than one, the best on a validation split of the training users is used.
    pub l2: Vec<f64>,
    /// Fraction of the training users held out to choose `l2`.
    pub validation_fraction: f64,
    /// Iteration cap for the L-BFGS optimiser.
    pub max_iterations: u64,
    /// Signed integer widths to quantize weights and bias to.
    pub bit_widths: Vec<u32>,
    /// Split seeds the model stage trains and evaluates over.
    pub seeds: Vec<u64>,
}

impl Default for ModelSpec {
    fn default() -> Self {
        Self {
            kind: ModelKind::LogisticRegression,
            l2: vec![1.0, 3.0, 10.0, 30.0],
            validation_fraction: 0.2,
            max_iterations: 300,
            bit_widths: (2..=8).collect(),
            seeds: vec![7, 8, 9],
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ModelKind {
    /// Multinomial (softmax) logistic regression.
    LogisticRegression,
}
