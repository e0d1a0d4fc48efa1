//! `glwe-packed`: the liked vector as one GLWE polynomial, dot products by plaintext polynomial
//! multiplication, bias fused into the same pass, modulus-switched request and response.
//!
//! Layout: with `m` outputs per product, input `j` sits at coefficient `m * j`. The weight
//! polynomial of a group of `m` outputs holds `w[c][j]` at degree `c - m * j` (negated and shifted
//! by `N` when negative), so coefficient `c < m` of the product is exactly `sum_j w[c][j] x[j]`:
//! every (c, j) pair lands on its own degree as long as `m * inputs <= N`. The results sit in the
//! low coefficients, which is what lets the response keep only `m` body coefficients.

use anyhow::ensure;
use tfhe::core_crypto::prelude::*;

use super::encoding::{switch_down, switch_up};
use super::leveled::{compression_seed, fresh_seed, Leveled, NoiseGrowth, SecretKey};
use super::ntt::{Ntt, Spectrum};
use super::wire::{self, Kind, Reader, Stamp, WireError};
use super::{Circuit, Pipeline, Shape, MAX_REQUEST_BYTES, MAX_RESPONSE_BYTES};
use crate::model::QuantizedModel;

/// A planned `glwe-packed` circuit: public parameters only.
#[derive(Debug, Clone)]
pub struct GlwePacked {
    shape: Shape,
    params: Leveled,
    /// Outputs computed by one polynomial product.
    per_group: usize,
    groups: usize,
    stamp: Stamp,
}

/// The client's side: the secret key, and its polynomials in the NTT domain for fast decryption.
pub struct GlweClientKey {
    secret: SecretKey,
    ntt: Ntt,
    key_spectra: Vec<Spectrum>,
}

/// A `glwe-packed` replica: weight polynomials in the NTT domain and encoded biases.
pub struct GlweServer {
    circuit: GlwePacked,
    ntt: Ntt,
    weights: Vec<Spectrum>,
    /// Per group, the encoded bias of each of its outputs.
    bias: Vec<Vec<u64>>,
}

impl GlwePacked {
    fn poly_size(&self) -> usize {
        self.params.polynomial_size.0
    }

    /// The weight polynomial of group `g` (see the module docs for the layout).
    fn weight_polynomial(&self, model: &QuantizedModel, group: usize) -> Vec<u64> {
        let (n, m) = (self.poly_size(), self.per_group);
        let mut poly = vec![0u64; n];
        for c in 0..m {
            let Some(row) = model.weights.get(group * m + c) else {
                break;
            };
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

    fn group_bias(&self, model: &QuantizedModel, group: usize) -> Vec<u64> {
        let outputs =
            group * self.per_group..((group + 1) * self.per_group).min(self.shape.outputs);
        outputs
            .map(|c| self.params.encoding.encode(i64::from(model.bias[c])))
            .collect()
    }

    fn request_payload_len(&self) -> usize {
        16 + wire::packed_len(self.poly_size(), self.params.input_bits)
    }

    fn response_values_per_group(&self) -> usize {
        self.params.mask_len() + self.per_group
    }
}

impl Circuit for GlwePacked {
    type ClientKey = GlweClientKey;
    type Server = GlweServer;

    fn plan(model: &QuantizedModel) -> anyhow::Result<Self> {
        let shape = Shape::of(model);
        let growth = NoiseGrowth {
            l1: shape.total_l1,
            switch_input: true,
            switch_output: true,
        };
        let params = Leveled::plan(&shape, growth)?;
        let n = params.polynomial_size.0;
        ensure!(
            shape.inputs <= n,
            "{} inputs do not fit a polynomial of size {n}",
            shape.inputs
        );
        let max_per_group = (n / shape.inputs.max(1)).max(1);
        let groups = shape.outputs.div_ceil(max_per_group);
        let per_group = shape.outputs.div_ceil(groups);
        let description = format!(
            "glwe-packed; {}; {}x{} in {groups} groups",
            params.describe(),
            shape.inputs,
            shape.outputs
        );
        Ok(Self {
            shape,
            params,
            per_group,
            groups,
            stamp: Stamp::new(Pipeline::GlwePacked, &description),
        })
    }

    fn pipeline(&self) -> Pipeline {
        Pipeline::GlwePacked
    }

    fn params(&self) -> String {
        format!(
            "{}; {} products of {} outputs",
            self.params.describe(),
            self.groups,
            self.per_group
        )
    }

    fn keygen(&self) -> (GlweClientKey, Vec<u8>) {
        let secret = SecretKey::generate(&self.params);
        let ntt = Ntt::new(self.poly_size());
        let key_spectra = secret
            .glwe
            .as_ref()
            .chunks_exact(self.poly_size())
            .map(|s| ntt.forward(s))
            .collect();
        (
            GlweClientKey {
                secret,
                ntt,
                key_spectra,
            },
            Vec::new(),
        )
    }

    fn server(&self, model: &QuantizedModel, eval_key: &[u8]) -> Result<GlweServer, WireError> {
        if !eval_key.is_empty() {
            return Err(WireError::Malformed(
                "glwe-packed takes no evaluation key".into(),
            ));
        }
        let ntt = Ntt::new(self.poly_size());
        let weights = (0..self.groups)
            .map(|g| ntt.forward(&self.weight_polynomial(model, g)))
            .collect();
        let bias = (0..self.groups)
            .map(|g| self.group_bias(model, g))
            .collect();
        Ok(GlweServer {
            circuit: self.clone(),
            ntt,
            weights,
            bias,
        })
    }

    fn encrypt(&self, key: &GlweClientKey, liked: &[usize]) -> Vec<u8> {
        let mut plaintext = vec![0u64; self.poly_size()];
        for &j in liked {
            plaintext[j * self.per_group] = self.params.encoding.encode(1);
        }
        let (seed, mut seeder) = fresh_seed();
        let mut ciphertext = SeededGlweCiphertext::new(
            0u64,
            self.params.glwe_size(),
            self.params.polynomial_size,
            compression_seed(seed),
            CiphertextModulus::new_native(),
        );
        encrypt_seeded_glwe_ciphertext(
            &key.secret.glwe,
            &mut ciphertext,
            &PlaintextList::from_container(plaintext),
            self.params.noise,
            seeder.as_mut(),
        );
        let mut payload = seed.to_le_bytes().to_vec();
        payload.extend(pack_switched(ciphertext.as_ref(), self.params.input_bits));
        self.stamp.seal(Kind::Request, &payload)
    }

    fn eval(server: &GlweServer, request: &[u8]) -> Result<Vec<u8>, WireError> {
        let circuit = &server.circuit;
        let payload = circuit
            .stamp
            .open(Kind::Request, request, MAX_REQUEST_BYTES)?;
        if payload.len() != circuit.request_payload_len() {
            return Err(WireError::Malformed(format!(
                "request payload is {} bytes, this circuit takes {}",
                payload.len(),
                circuit.request_payload_len()
            )));
        }
        let mut reader = Reader::new(payload);
        let seed = reader.u128()?;
        let body = read_switched(&mut reader, circuit.poly_size(), circuit.params.input_bits)?;
        reader.finish()?;
        let input = SeededGlweCiphertext::from_container(
            body,
            circuit.params.glwe_size(),
            compression_seed(seed),
            CiphertextModulus::new_native(),
        )
        .decompress_into_glwe_ciphertext();
        let spectra: Vec<Spectrum> = input
            .as_ref()
            .chunks_exact(circuit.poly_size())
            .map(|p| server.ntt.forward(p))
            .collect();
        let mut payload = Vec::new();
        for (weights, bias) in server.weights.iter().zip(&server.bias) {
            let values = evaluate_group(server, &spectra, weights, bias);
            payload.extend(pack_switched(&values, circuit.params.output_bits));
        }
        Ok(circuit.stamp.seal(Kind::Response, &payload))
    }

    fn decrypt(&self, key: &GlweClientKey, response: &[u8]) -> Result<Vec<i64>, WireError> {
        let payload = self
            .stamp
            .open(Kind::Response, response, MAX_RESPONSE_BYTES)?;
        let mut reader = Reader::new(payload);
        let mut scores = Vec::with_capacity(self.shape.outputs);
        for _ in 0..self.groups {
            let values = read_switched(
                &mut reader,
                self.response_values_per_group(),
                self.params.output_bits,
            )?;
            let wanted = (self.shape.outputs - scores.len()).min(self.per_group);
            scores.extend(self.decrypt_group(key, &values, wanted));
        }
        reader.finish()?;
        Ok(scores)
    }
}

impl GlwePacked {
    /// The first `wanted` messages of one switched-back result: `body - sum_i mask_i * s_i`.
    fn decrypt_group(&self, key: &GlweClientKey, values: &[u64], wanted: usize) -> Vec<i64> {
        let n = self.poly_size();
        let (mask, body) = values.split_at(self.params.mask_len());
        let mut phase = body[..wanted].to_vec();
        let mut product = vec![0u64; n];
        for (mask_poly, key_spectrum) in mask.chunks_exact(n).zip(&key.key_spectra) {
            key.ntt
                .multiply(&key.ntt.forward(mask_poly), key_spectrum, &mut product);
            for (p, m) in phase.iter_mut().zip(&product) {
                *p = p.wrapping_sub(*m);
            }
        }
        phase
            .into_iter()
            .map(|v| self.params.encoding.decode(v))
            .collect()
    }
}

/// Modulus-switches 64-bit values down to `bits` and packs them.
fn pack_switched(values: &[u64], bits: u32) -> Vec<u8> {
    let switched: Vec<u64> = values.iter().map(|&v| switch_down(v, bits)).collect();
    wire::pack_bits(&switched, bits)
}

/// Reads `count` packed `bits`-bit values and puts them back at the top of 64 bits.
fn read_switched(reader: &mut Reader, count: usize, bits: u32) -> Result<Vec<u64>, WireError> {
    Ok(reader
        .packed(count, bits)?
        .into_iter()
        .map(|v| switch_up(v, bits))
        .collect())
}

/// One group's product: the input times the group's weight polynomial, plus its biases; the mask
/// and the first `per_group` body coefficients are what the response carries.
fn evaluate_group(
    server: &GlweServer,
    input: &[Spectrum],
    weights: &Spectrum,
    bias: &[u64],
) -> Vec<u64> {
    let circuit = &server.circuit;
    let n = circuit.poly_size();
    let mut product = vec![0u64; input.len() * n];
    for (spectrum, out) in input.iter().zip(product.chunks_exact_mut(n)) {
        server.ntt.multiply(spectrum, weights, out);
    }
    let mask_len = circuit.params.mask_len();
    for (coefficient, b) in product[mask_len..].iter_mut().zip(bias) {
        *coefficient = coefficient.wrapping_add(*b);
    }
    product.truncate(mask_len + circuit.per_group);
    product
}
