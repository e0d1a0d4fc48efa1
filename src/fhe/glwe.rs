//! `glwe-packed`: the liked vector as one GLWE polynomial, dot products by plaintext polynomial
//! multiplication ([`super::packing`]), bias fused into the same pass, modulus-switched request
//! and response. The results sit in the low coefficients, which is what lets the response keep
//! only `m` body coefficients per product.

use super::leveled::{Leveled, NoiseGrowth, SecretKey};
use super::ntt::{Ntt, Spectrum};
use super::packing::{pack_switched, read_switched, PackedModel, Packing};
use super::wire::{Kind, Reader, Stamp, WireError};
use super::{Circuit, Pipeline, Shape, MAX_RESPONSE_BYTES};
use crate::model::QuantizedModel;

/// A planned `glwe-packed` circuit: public parameters only.
#[derive(Debug, Clone)]
pub struct GlwePacked {
    shape: Shape,
    params: Leveled,
    packing: Packing,
    stamp: Stamp,
}

/// The client's side: the secret key, and its polynomials in the NTT domain for fast decryption.
pub struct GlweClientKey {
    secret: SecretKey,
    ntt: Ntt,
    key_spectra: Vec<Spectrum>,
}

/// A `glwe-packed` replica: the model laid out for the packed products.
pub struct GlweServer {
    circuit: GlwePacked,
    model: PackedModel,
}

impl GlwePacked {
    /// The client key with the secret's spectra precomputed for decryption.
    fn client_key(&self, secret: SecretKey) -> GlweClientKey {
        let ntt = Ntt::new(self.poly_size());
        let key_spectra = secret
            .glwe
            .as_ref()
            .chunks_exact(self.poly_size())
            .map(|s| ntt.forward(s))
            .collect();
        GlweClientKey {
            secret,
            ntt,
            key_spectra,
        }
    }

    fn poly_size(&self) -> usize {
        self.packing.n()
    }

    fn response_values_per_group(&self) -> usize {
        self.params.mask_len() + self.packing.per_group
    }
}

impl Circuit for GlwePacked {
    type ClientKey = GlweClientKey;
    type Server = GlweServer;

    fn plan(shape: &Shape) -> anyhow::Result<Self> {
        let shape = *shape;
        let growth = NoiseGrowth {
            l1: shape.total_l1,
            switch_input: true,
            switch_output: true,
        };
        let params = Leveled::plan(&shape, growth)?;
        let packing = Packing::plan(
            &shape,
            params.glwe_dimension,
            params.polynomial_size,
            params.input_bits,
        )?;
        let description = format!(
            "glwe-packed; {}; {}x{} in {} groups",
            params.describe(),
            shape.inputs,
            shape.outputs,
            packing.groups
        );
        Ok(Self {
            shape,
            params,
            packing,
            stamp: Stamp::new(Pipeline::GlwePacked, &description),
        })
    }

    fn pipeline(&self) -> Pipeline {
        Pipeline::GlwePacked
    }

    fn stamp(&self) -> Stamp {
        self.stamp
    }

    fn params(&self) -> String {
        format!(
            "{}; {} products of {} outputs",
            self.params.describe(),
            self.packing.groups,
            self.packing.per_group
        )
    }

    fn keygen(&self) -> (GlweClientKey, Vec<u8>) {
        (
            self.client_key(SecretKey::generate(&self.params)),
            Vec::new(),
        )
    }

    fn export_client_key(&self, key: &GlweClientKey) -> Vec<u8> {
        self.stamp.seal_secret(&key.secret.glwe)
    }

    fn import_client_key(&self, bytes: &[u8]) -> Result<GlweClientKey, WireError> {
        let glwe = self.stamp.open_secret(bytes)?;
        Ok(self.client_key(SecretKey { glwe }))
    }

    fn server(&self, model: &QuantizedModel, eval_key: &[u8]) -> Result<GlweServer, WireError> {
        if !eval_key.is_empty() {
            return Err(WireError::Malformed(
                "glwe-packed takes no evaluation key".into(),
            ));
        }
        let encoding = self.params.encoding;
        Ok(GlweServer {
            circuit: self.clone(),
            model: self.packing.load(model, |bias| encoding.encode(bias)),
        })
    }

    fn encrypt(&self, key: &GlweClientKey, liked: &[usize]) -> Vec<u8> {
        let payload = self.packing.encrypt(
            &key.secret.glwe,
            liked,
            self.params.encoding.encode(1),
            self.params.noise,
        );
        self.stamp.seal(Kind::Request, &payload)
    }

    fn eval(server: &GlweServer, request: &[u8]) -> Result<Vec<u8>, WireError> {
        let circuit = &server.circuit;
        let input = circuit
            .packing
            .read_request(&server.model.ntt, &circuit.stamp, request)?;
        let kept = circuit.response_values_per_group();
        let mut payload = Vec::new();
        for product in server.model.products(&circuit.packing, &input) {
            payload.extend(pack_switched(&product[..kept], circuit.params.output_bits));
        }
        Ok(circuit.stamp.seal(Kind::Response, &payload))
    }

    fn decrypt(&self, key: &GlweClientKey, response: &[u8]) -> Result<Vec<i64>, WireError> {
        let payload = self
            .stamp
            .open(Kind::Response, response, MAX_RESPONSE_BYTES)?;
        let mut reader = Reader::new(payload);
        let mut scores = Vec::with_capacity(self.shape.outputs);
        for group in 0..self.packing.groups {
            let values = read_switched(
                &mut reader,
                self.response_values_per_group(),
                self.params.output_bits,
            )?;
            let wanted = self.packing.group_outputs(group).len();
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
