//! What the two leveled pipelines share: the published GLWE parameters, the secret key, and a
//! worst-case noise plan that makes decryption exact by construction.
//!
//! The noise of tfhe's TUniform distribution is bounded (|e| <= 2^B), so every error term has a
//! hard bound and the plan below guarantees that the total stays under half a message step.

use anyhow::bail;
use tfhe::core_crypto::prelude::*;
use tfhe::shortint::parameters::PARAM_MESSAGE_2_CARRY_2_KS_PBS_TUNIFORM_2M128 as PUBLISHED;

use super::encoding::Encoding;
use super::Shape;

/// The published set whose GLWE part (k = 1, N = 2048, TUniform noise) both pipelines use.
pub const PARAMS_NAME: &str = "PARAM_MESSAGE_2_CARRY_2_KS_PBS_TUNIFORM_2M128";

/// Parameters of a leveled circuit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Leveled {
    pub glwe_dimension: GlweDimension,
    pub polynomial_size: PolynomialSize,
    pub noise: DynamicDistribution<u64>,
    /// log2 of the largest fresh noise magnitude.
    pub noise_bound_log2: u32,
    pub encoding: Encoding,
    /// Bits the client keeps of each request body coefficient (64: no switching).
    pub input_bits: u32,
    /// Bits the server keeps of each result coefficient (64: no switching).
    pub output_bits: u32,
}

/// Which coefficients a circuit modulus-switches, and how much its products grow noise.
#[derive(Debug, Clone, Copy)]
pub struct NoiseGrowth {
    /// Bound on the sum of absolute weights that multiply one output's noise terms.
    pub l1: u64,
    pub switch_input: bool,
    pub switch_output: bool,
}

impl Leveled {
    /// Plans the encoding and switching widths: the total error stays below `2^(63 - t)`, half a
    /// message step, with each of fresh noise, input rounding and output rounding under a quarter.
    pub fn plan(shape: &Shape, growth: NoiseGrowth) -> anyhow::Result<Self> {
        let noise = PUBLISHED.glwe_noise_distribution;
        let DynamicDistribution::TUniform(tuniform) = noise else {
            bail!("{PARAMS_NAME} does not use TUniform noise; exactness could not be bounded");
        };
        let noise_bound_log2 = tuniform.bound_log2();
        let message_bits = shape.accumulator_bits;
        let per_term_log2 = 61 - message_bits;
        let l1_log2 = ceil_log2(growth.l1);
        if l1_log2 + noise_bound_log2 > per_term_log2 {
            bail!("weights with L1 norm {} leave no room for the fresh noise at {message_bits}-bit scores", growth.l1);
        }
        let key_terms_log2 =
            ceil_log2(1 + (PUBLISHED.glwe_dimension.0 * PUBLISHED.polynomial_size.0) as u64);
        let switch_bits = |growth_log2: u32| 63 - (per_term_log2 - growth_log2);
        Ok(Self {
            glwe_dimension: PUBLISHED.glwe_dimension,
            polynomial_size: PUBLISHED.polynomial_size,
            noise,
            noise_bound_log2,
            encoding: Encoding { message_bits },
            input_bits: if growth.switch_input {
                switch_bits(l1_log2)
            } else {
                64
            },
            output_bits: if growth.switch_output {
                switch_bits(key_terms_log2)
            } else {
                64
            },
        })
    }

    pub fn glwe_size(&self) -> GlweSize {
        self.glwe_dimension.to_glwe_size()
    }

    /// Coefficients of the mask: `k * N`, also the LWE dimension of the extracted key.
    pub fn mask_len(&self) -> usize {
        self.glwe_dimension.0 * self.polynomial_size.0
    }

    /// The parameter description written to results and hashed into message fingerprints.
    pub fn describe(&self) -> String {
        format!(
            "{PARAMS_NAME} (GLWE k={}, N={}, TUniform 2^{}); t={} bits; input {} bits; output {} bits",
            self.glwe_dimension.0,
            self.polynomial_size.0,
            self.noise_bound_log2,
            self.encoding.message_bits,
            self.input_bits,
            self.output_bits
        )
    }
}

/// `ceil(log2(value))`, 0 for 0 and 1.
pub(super) fn ceil_log2(value: u64) -> u32 {
    64 - value.saturating_sub(1).leading_zeros()
}

/// The client's secret: a binary GLWE key, also used as an LWE key of dimension `k * N`.
pub struct SecretKey {
    pub glwe: GlweSecretKeyOwned<u64>,
}

impl SecretKey {
    pub fn generate(params: &Leveled) -> Self {
        let mut seeder = new_seeder();
        let mut generator = SecretRandomGenerator::<DefaultRandomGenerator>::new(seeder.seed());
        Self {
            glwe: allocate_and_generate_new_binary_glwe_secret_key(
                params.glwe_dimension,
                params.polynomial_size,
                &mut generator,
            ),
        }
    }
}

/// The mask seed of a seeded ciphertext, as sent on the wire.
pub fn compression_seed(seed: u128) -> tfhe::core_crypto::commons::math::random::CompressionSeed {
    tfhe::core_crypto::commons::math::random::Seed(seed).into()
}

/// A fresh seed for a seeded ciphertext, and the seeder that made it.
pub fn fresh_seed() -> (u128, Box<dyn Seeder>) {
    let mut seeder = new_seeder();
    let seed = seeder.seed().0;
    (seed, seeder)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ceil_log2_rounds_up() {
        assert_eq!([1, 2, 3, 4, 5, 2049].map(ceil_log2), [0, 1, 2, 2, 3, 12]);
    }
}
