//! `lwe`: the conventional leveled pipeline. One seeded LWE ciphertext per input (under the
//! GLWE-level key, dimension k*N), each output a cleartext-weighted sum plus the bias, no
//! bootstrapping, no compression of the result.

use tfhe::core_crypto::algorithms::slice_algorithms::slice_wrapping_add_scalar_mul_assign;
use tfhe::core_crypto::prelude::*;

use super::leveled::{compression_seed, fresh_seed, Leveled, NoiseGrowth, SecretKey};
use super::wire::{self, Kind, Reader, Stamp, WireError};
use super::{Circuit, Pipeline, Shape, MAX_REQUEST_BYTES, MAX_RESPONSE_BYTES};
use crate::model::QuantizedModel;

/// A planned `lwe` circuit: public parameters only.
#[derive(Debug, Clone)]
pub struct Lwe {
    shape: Shape,
    params: Leveled,
    stamp: Stamp,
}

/// An `lwe` replica: the weights as wrapping cleartexts, the biases encoded.
pub struct LweServer {
    circuit: Lwe,
    weights: Vec<Vec<u64>>,
    bias: Vec<u64>,
}

impl Lwe {
    fn lwe_size(&self) -> LweSize {
        LweDimension(self.params.mask_len()).to_lwe_size()
    }
}

impl Circuit for Lwe {
    type ClientKey = SecretKey;
    type Server = LweServer;

    fn plan(shape: &Shape) -> anyhow::Result<Self> {
        let shape = *shape;
        let growth = NoiseGrowth {
            l1: shape.max_row_l1,
            switch_input: false,
            switch_output: false,
        };
        let params = Leveled::plan(&shape, growth)?;
        let description = format!(
            "lwe; {}; {}x{}",
            params.describe(),
            shape.inputs,
            shape.outputs
        );
        Ok(Self {
            shape,
            params,
            stamp: Stamp::new(Pipeline::Lwe, &description),
        })
    }

    fn pipeline(&self) -> Pipeline {
        Pipeline::Lwe
    }

    fn stamp(&self) -> Stamp {
        self.stamp
    }

    fn params(&self) -> String {
        format!(
            "{}; LWE dimension {}",
            self.params.describe(),
            self.params.mask_len()
        )
    }

    fn keygen(&self) -> (SecretKey, Vec<u8>) {
        (SecretKey::generate(&self.params), Vec::new())
    }

    fn export_client_key(&self, key: &SecretKey) -> Vec<u8> {
        self.stamp.seal_secret(&key.glwe)
    }

    fn import_client_key(&self, bytes: &[u8]) -> Result<SecretKey, WireError> {
        let glwe = self.stamp.open_secret(bytes)?;
        Ok(SecretKey { glwe })
    }

    fn server(&self, model: &QuantizedModel, eval_key: &[u8]) -> Result<LweServer, WireError> {
        if !eval_key.is_empty() {
            return Err(WireError::Malformed("lwe takes no evaluation key".into()));
        }
        let wrap = |w: &i32| i64::from(*w) as u64;
        Ok(LweServer {
            circuit: self.clone(),
            weights: model
                .weights
                .iter()
                .map(|row| row.iter().map(wrap).collect())
                .collect(),
            bias: model
                .bias
                .iter()
                .map(|b| self.params.encoding.encode(i64::from(*b)))
                .collect(),
        })
    }

    fn encrypt(&self, key: &SecretKey, liked: &[usize]) -> Vec<u8> {
        let one = self.params.encoding.encode(1);
        let mut plaintexts = vec![0u64; self.shape.inputs];
        for &j in liked {
            plaintexts[j] = one;
        }
        let (seed, mut seeder) = fresh_seed();
        let mut list = SeededLweCiphertextList::new(
            0u64,
            self.lwe_size(),
            LweCiphertextCount(self.shape.inputs),
            compression_seed(seed),
            CiphertextModulus::new_native(),
        );
        encrypt_seeded_lwe_ciphertext_list(
            &key.glwe.as_lwe_secret_key(),
            &mut list,
            &PlaintextList::from_container(plaintexts),
            self.params.noise,
            seeder.as_mut(),
        );
        let mut payload = seed.to_le_bytes().to_vec();
        wire::put_u64s(&mut payload, list.as_ref());
        self.stamp.seal(Kind::Request, &payload)
    }

    fn eval(server: &LweServer, request: &[u8]) -> Result<Vec<u8>, WireError> {
        let circuit = &server.circuit;
        let payload = circuit
            .stamp
            .open(Kind::Request, request, MAX_REQUEST_BYTES)?;
        let expected = 16 + 8 * circuit.shape.inputs;
        if payload.len() != expected {
            return Err(WireError::Malformed(format!(
                "request payload is {} bytes, this circuit takes {expected}",
                payload.len()
            )));
        }
        let mut reader = Reader::new(payload);
        let seed = reader.u128()?;
        let bodies = reader.u64s(circuit.shape.inputs)?;
        reader.finish()?;
        let inputs = SeededLweCiphertextList::from_container(
            bodies,
            circuit.lwe_size(),
            compression_seed(seed),
            CiphertextModulus::new_native(),
        )
        .decompress_into_lwe_ciphertext_list();
        let size = circuit.lwe_size().0;
        let mut outputs = vec![0u64; size * circuit.shape.outputs];
        for ((output, row), bias) in outputs
            .chunks_exact_mut(size)
            .zip(&server.weights)
            .zip(&server.bias)
        {
            for (input, &w) in inputs.iter().zip(row) {
                slice_wrapping_add_scalar_mul_assign(output, input.as_ref(), w);
            }
            output[size - 1] = output[size - 1].wrapping_add(*bias);
        }
        let mut payload = Vec::with_capacity(8 * outputs.len());
        wire::put_u64s(&mut payload, &outputs);
        Ok(circuit.stamp.seal(Kind::Response, &payload))
    }

    fn decrypt(&self, key: &SecretKey, response: &[u8]) -> Result<Vec<i64>, WireError> {
        let payload = self
            .stamp
            .open(Kind::Response, response, MAX_RESPONSE_BYTES)?;
        let size = self.lwe_size().0;
        let mut reader = Reader::new(payload);
        let values = reader.u64s(size * self.shape.outputs)?;
        reader.finish()?;
        let secret = key.glwe.as_lwe_secret_key();
        Ok(values
            .chunks_exact(size)
            .map(|chunk| {
                let ciphertext =
                    LweCiphertext::from_container(chunk, CiphertextModulus::new_native());
                self.params
                    .encoding
                    .decode(decrypt_lwe_ciphertext(&secret, &ciphertext).0)
            })
            .collect())
    }
}
