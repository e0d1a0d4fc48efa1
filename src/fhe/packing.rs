//! The packed linear layer that `glwe-packed` and `glwe-argmax` share: the liked vector as one
//! seeded GLWE ciphertext, weight polynomials that put the dot products in the low coefficients
//! of a product, and the modulus-switched request.
//!
//! Layout: with `m` outputs per product, input `j` sits at coefficient `m * j`. The weight
//! polynomial of a group of `m` outputs holds `w[c][j]` at degree `c - m * j` (negated and shifted
//! by `N` when negative), so coefficient `c < m` of the product is exactly `sum_j w[c][j] x[j]`:
//! every (c, j) pair lands on its own degree as long as `m * inputs <= N`.

use std::ops::Range;

use anyhow::ensure;
use tfhe::core_crypto::prelude::*;

use super::encoding::{switch_down, switch_up};
use super::leveled::{compression_seed, fresh_seed};
use super::ntt::{Ntt, Spectrum};
use super::wire::{self, Kind, Reader, Stamp, WireError};
use super::{Shape, MAX_REQUEST_BYTES};
use crate::model::QuantizedModel;

/// Where inputs and outputs sit in the packed polynomials, and how the request is switched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Packing {
    pub glwe_size: GlweSize,
    pub polynomial_size: PolynomialSize,
    /// Outputs computed by one polynomial product.
    pub per_group: usize,
    pub groups: usize,
    pub outputs: usize,
    /// Bits the client keeps of each request body coefficient.
    pub input_bits: u32,
}

impl Packing {
    pub fn plan(
        shape: &Shape,
        glwe_dimension: GlweDimension,
        polynomial_size: PolynomialSize,
        input_bits: u32,
    ) -> anyhow::Result<Self> {
        let n = polynomial_size.0;
        ensure!(
            shape.inputs <= n,
            "{} inputs do not fit a polynomial of size {n}",
            shape.inputs
        );
        let max_per_group = (n / shape.inputs.max(1)).max(1);
        let groups = shape.outputs.div_ceil(max_per_group);
        let per_group = shape.outputs.div_ceil(groups.max(1));
        Ok(Self {
            glwe_size: glwe_dimension.to_glwe_size(),
            polynomial_size,
            per_group,
            groups,
            outputs: shape.outputs,
            input_bits,
        })
    }

    pub fn n(&self) -> usize {
        self.polynomial_size.0
    }

    /// Coefficients of the mask: `k * N`, also the LWE dimension of an extracted output.
    pub fn mask_len(&self) -> usize {
        self.glwe_size.to_glwe_dimension().0 * self.n()
    }

    /// The outputs group `group` computes.
    pub fn group_outputs(&self, group: usize) -> Range<usize> {
        group * self.per_group..((group + 1) * self.per_group).min(self.outputs)
    }

    /// The weight polynomial of group `group` (see the module docs for the layout).
    pub fn weight_polynomial(&self, model: &QuantizedModel, group: usize) -> Vec<u64> {
        let (n, m) = (self.n(), self.per_group);
        let mut poly = vec![0u64; n];
        for (c, row) in model.weights[self.group_outputs(group)].iter().enumerate() {
            for (j, &w) in row.iter().enumerate() {
                let degree = c as isize - (m * j) as isize;
                let w = i64::from(w) as u64;
                if degree >= 0 {
                    poly[degree as usize] = w;
                } else {
                    poly[(n as isize + degree) as usize] = w.wrapping_neg();
                }
            }
        }
        poly
    }

    pub fn request_payload_len(&self) -> usize {
        16 + wire::packed_len(self.n(), self.input_bits)
    }

    /// The request payload: the mask seed and the switched body of a seeded GLWE encryption of
    /// the liked vector, each liked input encoded as `one`.
    pub fn encrypt(
        &self,
        secret: &GlweSecretKeyOwned<u64>,
        liked: &[usize],
        one: u64,
        noise: DynamicDistribution<u64>,
    ) -> Vec<u8> {
        let mut plaintext = vec![0u64; self.n()];
        for &j in liked {
            plaintext[j * self.per_group] = one;
        }
        let (seed, mut seeder) = fresh_seed();
        let mut ciphertext = SeededGlweCiphertext::new(
            0u64,
            self.glwe_size,
            self.polynomial_size,
            compression_seed(seed),
            CiphertextModulus::new_native(),
        );
        encrypt_seeded_glwe_ciphertext(
            secret,
            &mut ciphertext,
            &PlaintextList::from_container(plaintext),
            noise,
            seeder.as_mut(),
        );
        let mut payload = seed.to_le_bytes().to_vec();
        payload.extend(pack_switched(ciphertext.as_ref(), self.input_bits));
        payload
    }

    /// Server: the request's GLWE ciphertext, each polynomial in the NTT domain, after its
    /// header is checked against `stamp`.
    pub fn read_request(
        &self,
        ntt: &Ntt,
        stamp: &Stamp,
        request: &[u8],
    ) -> Result<Vec<Spectrum>, WireError> {
        let payload = stamp.open(Kind::Request, request, MAX_REQUEST_BYTES)?;
        if payload.len() != self.request_payload_len() {
            return Err(WireError::Malformed(format!(
                "request payload is {} bytes, this circuit takes {}",
                payload.len(),
                self.request_payload_len()
            )));
        }
        let mut reader = Reader::new(payload);
        let seed = reader.u128()?;
        let body = read_switched(&mut reader, self.n(), self.input_bits)?;
        reader.finish()?;
        let input = SeededGlweCiphertext::from_container(
            body,
            self.glwe_size,
            compression_seed(seed),
            CiphertextModulus::new_native(),
        )
        .decompress_into_glwe_ciphertext();
        Ok(input
            .as_ref()
            .chunks_exact(self.n())
            .map(|p| ntt.forward(p))
            .collect())
    }

    /// A replica's copy of `model` for [`PackedModel::products`]; `encode_bias` maps an
    /// output's integer bias to the torus value added to its coefficient.
    pub fn load(&self, model: &QuantizedModel, encode_bias: impl Fn(i64) -> u64) -> PackedModel {
        let ntt = Ntt::new(self.n());
        let weights = (0..self.groups)
            .map(|g| ntt.forward(&self.weight_polynomial(model, g)))
            .collect();
        let bias = (0..self.groups)
            .map(|g| {
                self.group_outputs(g)
                    .map(|c| encode_bias(i64::from(model.bias[c])))
                    .collect()
            })
            .collect();
        PackedModel { ntt, weights, bias }
    }

    /// One group's product as a whole GLWE ciphertext (mask then body), with `bias[c]` added to
    /// body coefficient `c`: output `c` of the group is its coefficient `c`.
    fn product(&self, ntt: &Ntt, input: &[Spectrum], weights: &Spectrum, bias: &[u64]) -> Vec<u64> {
        let n = self.n();
        let mut product = vec![0u64; input.len() * n];
        for (spectrum, out) in input.iter().zip(product.chunks_exact_mut(n)) {
            ntt.multiply(spectrum, weights, out);
        }
        for (coefficient, b) in product[self.mask_len()..].iter_mut().zip(bias) {
            *coefficient = coefficient.wrapping_add(*b);
        }
        product
    }
}

/// The model as one replica multiplies with it: weight polynomials in the NTT domain (transformed
/// once) and, per group, the encoded bias of each output.
pub struct PackedModel {
    pub ntt: Ntt,
    weights: Vec<Spectrum>,
    bias: Vec<Vec<u64>>,
}

impl PackedModel {
    /// Each group's product with the request (see [`Packing::product`]), in group order.
    pub fn products<'a>(
        &'a self,
        packing: &'a Packing,
        input: &'a [Spectrum],
    ) -> impl Iterator<Item = Vec<u64>> + 'a {
        self.weights
            .iter()
            .zip(&self.bias)
            .map(move |(weights, bias)| packing.product(&self.ntt, input, weights, bias))
    }
}

/// Modulus-switches 64-bit values down to `bits` and packs them.
pub fn pack_switched(values: &[u64], bits: u32) -> Vec<u8> {
    let switched: Vec<u64> = values.iter().map(|&v| switch_down(v, bits)).collect();
    wire::pack_bits(&switched, bits)
}

/// Reads `count` packed `bits`-bit values and puts them back at the top of 64 bits.
pub fn read_switched(reader: &mut Reader, count: usize, bits: u32) -> Result<Vec<u64>, WireError> {
    Ok(reader
        .packed(count, bits)?
        .into_iter()
        .map(|v| switch_up(v, bits))
        .collect())
}
