//! `integer`: the conventional baseline on tfhe's high-level API. Each input is an `FheInt16`, each
//! output `bias + sum_j w[c][j] * x[j]` by scalar multiplication and addition with carry
//! propagation, under a server key the client generates and uploads (compressed).
//!
//! It is far too slow for the full 50 x 50 layer on two cores, so it runs on a reduced model: the
//! first `inputs` movies and `outputs` outputs ([`QuantizedModel::restrict`]).

use std::io::Cursor;

use tfhe::prelude::*;
use tfhe::safe_serialization::{safe_deserialize, safe_deserialize_conformant, safe_serialize};
use tfhe::{
    set_server_key, ClientKey, CompressedServerKey, Config, ConfigBuilder, FheInt16, ServerKey,
};

use super::wire::{Kind, Reader, Stamp, WireError};
use super::{Circuit, Pipeline, Shape, MAX_EVAL_KEY_BYTES, MAX_REQUEST_BYTES, MAX_RESPONSE_BYTES};
use crate::model::QuantizedModel;

/// The high-level API's default parameters.
pub const PARAMS_NAME: &str = "PARAM_MESSAGE_2_CARRY_2_KS_PBS_TUNIFORM_2M128";
/// Upper bound on one serialized `FheInt16` (about 66 KB at these parameters).
const MAX_CIPHERTEXT_BYTES: u64 = 1 << 20;

/// A planned `integer` circuit.
#[derive(Debug, Clone)]
pub struct Integer {
    shape: Shape,
    config: Config,
    stamp: Stamp,
}

/// An `integer` replica: the decompressed server key and the (reduced) model.
pub struct IntegerServer {
    circuit: Integer,
    key: ServerKey,
    weights: Vec<Vec<i16>>,
    bias: Vec<i16>,
}

impl Circuit for Integer {
    type ClientKey = ClientKey;
    type Server = IntegerServer;

    fn plan(shape: &Shape) -> anyhow::Result<Self> {
        let shape = *shape;
        anyhow::ensure!(
            shape.accumulator_bits <= 16,
            "{}-bit scores do not fit FheInt16",
            shape.accumulator_bits
        );
        let config = ConfigBuilder::default().build();
        let description = format!(
            "integer; {PARAMS_NAME}; FheInt16; {}x{}",
            shape.inputs, shape.outputs
        );
        Ok(Self {
            shape,
            config,
            stamp: Stamp::new(Pipeline::Integer, &description),
        })
    }

    fn pipeline(&self) -> Pipeline {
        Pipeline::Integer
    }

    fn stamp(&self) -> Stamp {
        self.stamp
    }

    fn needs_eval_key(&self) -> bool {
        true
    }

    fn params(&self) -> String {
        format!(
            "{PARAMS_NAME} (high-level default); FheInt16; reduced to {} inputs x {} outputs",
            self.shape.inputs, self.shape.outputs
        )
    }

    fn keygen(&self) -> (ClientKey, Vec<u8>) {
        let client = ClientKey::generate(self.config);
        let compressed = CompressedServerKey::new(&client);
        let mut bytes = Vec::new();
        safe_serialize(&compressed, &mut bytes, MAX_EVAL_KEY_BYTES as u64)
            .expect("a fresh key serializes within the limit");
        (client, self.stamp.seal(Kind::EvalKey, &bytes))
    }

    fn export_client_key(&self, key: &ClientKey) -> Vec<u8> {
        self.stamp.seal_secret(key)
    }

    fn import_client_key(&self, bytes: &[u8]) -> Result<ClientKey, WireError> {
        self.stamp.open_secret(bytes)
    }

    fn server(&self, model: &QuantizedModel, eval_key: &[u8]) -> Result<IntegerServer, WireError> {
        let payload = self
            .stamp
            .open(Kind::EvalKey, eval_key, MAX_EVAL_KEY_BYTES)?;
        let compressed: CompressedServerKey = safe_deserialize_conformant(
            Cursor::new(payload),
            MAX_EVAL_KEY_BYTES as u64,
            &self.config.into(),
        )
        .map_err(|e| WireError::Malformed(format!("evaluation key: {e}")))?;
        let narrow = |v: i32| {
            i16::try_from(v).map_err(|_| WireError::Malformed(format!("weight {v} exceeds i16")))
        };
        Ok(IntegerServer {
            circuit: self.clone(),
            key: compressed.decompress(),
            weights: model
                .weights
                .iter()
                .map(|row| row.iter().map(|&w| narrow(w)).collect())
                .collect::<Result<_, _>>()?,
            bias: model
                .bias
                .iter()
                .map(|&b| narrow(b))
                .collect::<Result<_, _>>()?,
        })
    }

    fn encrypt(&self, key: &ClientKey, liked: &[usize]) -> Vec<u8> {
        let inputs: Vec<FheInt16> = (0..self.shape.inputs)
            .map(|j| FheInt16::encrypt(i16::from(liked.contains(&j)), key))
            .collect();
        self.stamp.seal(Kind::Request, &serialize_list(&inputs))
    }

    fn eval(server: &IntegerServer, request: &[u8]) -> Result<Vec<u8>, WireError> {
        let circuit = &server.circuit;
        let payload = circuit
            .stamp
            .open(Kind::Request, request, MAX_REQUEST_BYTES)?;
        let conformance = (&server.key).into();
        let inputs = deserialize_list(payload, circuit.shape.inputs, |bytes| {
            safe_deserialize_conformant::<FheInt16>(
                Cursor::new(bytes),
                MAX_CIPHERTEXT_BYTES,
                &conformance,
            )
        })?;
        set_server_key(server.key.clone());
        let outputs: Vec<FheInt16> = server
            .weights
            .iter()
            .zip(&server.bias)
            .map(|(row, &bias)| {
                let mut acc = FheInt16::encrypt_trivial(bias);
                for (x, &w) in inputs.iter().zip(row).filter(|(_, w)| **w != 0) {
                    acc += x * w;
                }
                acc
            })
            .collect();
        Ok(circuit
            .stamp
            .seal(Kind::Response, &serialize_list(&outputs)))
    }

    fn decrypt(&self, key: &ClientKey, response: &[u8]) -> Result<Vec<i64>, WireError> {
        let payload = self
            .stamp
            .open(Kind::Response, response, MAX_RESPONSE_BYTES)?;
        let outputs = deserialize_list(payload, self.shape.outputs, |bytes| {
            safe_deserialize::<FheInt16>(Cursor::new(bytes), MAX_CIPHERTEXT_BYTES)
        })?;
        Ok(outputs
            .iter()
            .map(|ct| i64::from(FheDecrypt::<i16>::decrypt(ct, key)))
            .collect())
    }
}

/// `count: u32`, then each item as `length: u32` and its safe-serialized bytes.
fn serialize_list(items: &[FheInt16]) -> Vec<u8> {
    let mut out = (items.len() as u32).to_le_bytes().to_vec();
    for item in items {
        let mut bytes = Vec::new();
        safe_serialize(item, &mut bytes, MAX_CIPHERTEXT_BYTES)
            .expect("a ciphertext serializes within the limit");
        out.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
        out.extend(bytes);
    }
    out
}

fn deserialize_list(
    payload: &[u8],
    expected: usize,
    parse: impl Fn(&[u8]) -> Result<FheInt16, String>,
) -> Result<Vec<FheInt16>, WireError> {
    let mut reader = Reader::new(payload);
    let count = reader.u32()? as usize;
    if count != expected {
        return Err(WireError::Malformed(format!(
            "{count} ciphertexts, this circuit takes {expected}"
        )));
    }
    let items = (0..count)
        .map(|i| {
            let length = reader.u32()? as usize;
            parse(reader.bytes(length)?)
                .map_err(|e| WireError::Malformed(format!("ciphertext {i}: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    reader.finish()?;
    Ok(items)
}
