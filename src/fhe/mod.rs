//! Encrypted inference of the quantized recommender: one [`Circuit`] abstraction, three pipelines.
//!
//! - [`glwe::GlwePacked`]: the liked vector as one GLWE polynomial; plaintext weight polynomials
//!   put the dot products in its low coefficients (packing), the bias is added in the same pass
//!   (fusion), the request body and the result are modulus-switched before they are sent.
//! - [`lwe::Lwe`]: one LWE ciphertext per input, cleartext multiply-and-add, no bootstrapping.
//! - [`integer::Integer`]: tfhe's high-level `FheInt16` arithmetic with a server key: the
//!   conventional baseline.
//! - [`argmax::GlweArgmax`]: the packed layer under a shortint key, then an argmax by programmable
//!   bootstrapping; the client learns one index, not the scores (the private-output circuit).
//!
//! Client and server are split by type: a client key type appears only in `keygen`, `encrypt` and
//! `decrypt`; the server side ([`Circuit::Server`]) is built from the public model and the uploaded
//! evaluation-key bytes, and evaluates bytes to bytes.

pub mod argmax;
pub mod check;
pub mod config;
pub mod dynamic;
pub mod encoding;
pub mod glwe;
pub mod integer;
pub mod leveled;
pub mod lwe;
mod ntt;
pub mod packing;
pub mod wire;

use std::fmt;

pub use config::FheSpec;
pub use wire::WireError;

use crate::model::{FloatModel, QuantizedModel};

/// The model a circuit runs: `model`'s weights rounded to `bits`, or its scores rounded to `bits`
/// for `glwe-argmax`.
pub fn quantize_for(model: &FloatModel, pipeline: Pipeline, bits: u32) -> QuantizedModel {
    match pipeline {
        Pipeline::GlweArgmax => QuantizedModel::quantize_scores(model, bits),
        _ => QuantizedModel::quantize(model, bits),
    }
}

/// Largest request a server reads (the `lwe` request is the largest: ~0.4 KB; glwe ~8 KB;
/// `integer` ~ 50 ciphertexts of ~100 KB).
pub const MAX_REQUEST_BYTES: usize = 16 << 20;
/// Largest response a client reads.
pub const MAX_RESPONSE_BYTES: usize = 64 << 20;
/// Largest evaluation key a server reads.
pub const MAX_EVAL_KEY_BYTES: usize = 1 << 30;

/// The encrypted-inference pipelines.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    serde::Serialize,
    serde::Deserialize,
    clap::ValueEnum,
)]
#[serde(rename_all = "kebab-case")]
pub enum Pipeline {
    GlwePacked,
    Lwe,
    Integer,
    GlweArgmax,
}

impl Pipeline {
    pub fn wire_id(self) -> u8 {
        match self {
            Pipeline::GlwePacked => 1,
            Pipeline::Lwe => 2,
            Pipeline::Integer => 3,
            Pipeline::GlweArgmax => 4,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Pipeline::GlwePacked => "glwe-packed",
            Pipeline::Lwe => "lwe",
            Pipeline::Integer => "integer",
            Pipeline::GlweArgmax => "glwe-argmax",
        }
    }
}

impl fmt::Display for Pipeline {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The public, model-derived facts every pipeline plans its parameters from. The service
/// publishes them (the client plans the same circuit from them); the weights stay on the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Shape {
    pub inputs: usize,
    pub outputs: usize,
    /// Weight width.
    pub bits: u32,
    /// Signed bits any score fits in.
    pub accumulator_bits: u32,
    /// Largest sum of absolute weights of one output: how much one dot product grows noise.
    pub max_row_l1: u64,
    /// Sum of all absolute weights: a bound on how much a packed product grows noise.
    pub total_l1: u64,
    /// Smallest and largest score any 0/1 input can produce.
    pub score_bounds: (i64, i64),
}

impl Shape {
    pub fn of(model: &QuantizedModel) -> Self {
        let row_l1 = |row: &Vec<i32>| row.iter().map(|w| u64::from(w.unsigned_abs())).sum::<u64>();
        Self {
            inputs: model.weights.first().map_or(0, Vec::len),
            outputs: model.weights.len(),
            bits: model.bits,
            accumulator_bits: model.accumulator_bits(),
            max_row_l1: model.weights.iter().map(row_l1).max().unwrap_or(0).max(1),
            total_l1: model.weights.iter().map(row_l1).sum::<u64>().max(1),
            score_bounds: model.score_bounds(),
        }
    }
}

/// One encrypted-inference pipeline, planned for one quantized model.
///
/// The server side cannot be handed the client's secret: [`Circuit::eval`] takes a
/// [`Circuit::Server`], which is built only from the model and evaluation-key bytes, so this does
/// not compile:
///
/// ```compile_fail
/// use cipherscale::fhe::{glwe::GlwePacked, Circuit};
/// fn leak(key: &<GlwePacked as Circuit>::ClientKey, request: &[u8]) {
///     let _ = GlwePacked::eval(key, request);
/// }
/// ```
pub trait Circuit: Sized {
    /// Secret material; it never leaves the client.
    type ClientKey;
    /// A server replica: the model and the evaluation key, nothing secret.
    type Server: Send + Sync;

    /// Plans parameters from a model's public shape ([`Shape::of`]); client and server plan alike.
    fn plan(shape: &Shape) -> anyhow::Result<Self>;
    fn pipeline(&self) -> Pipeline;
    /// Pipeline and fingerprint every message of this circuit carries.
    fn stamp(&self) -> wire::Stamp;
    /// Whether the server needs an evaluation key from the client (the bootstrapped circuits).
    fn needs_eval_key(&self) -> bool {
        false
    }
    /// The published tfhe parameter set, and what this circuit derives from it.
    fn params(&self) -> String;
    /// Client: a fresh key, and the serialized evaluation key to upload (empty when none is needed).
    fn keygen(&self) -> (Self::ClientKey, Vec<u8>);
    /// Server: a replica from the model and the uploaded evaluation key.
    fn server(&self, model: &QuantizedModel, eval_key: &[u8]) -> Result<Self::Server, WireError>;
    /// Client: the request for a liked set (sorted pool indices).
    fn encrypt(&self, key: &Self::ClientKey, liked: &[usize]) -> Vec<u8>;
    /// Server: the response to a request.
    fn eval(server: &Self::Server, request: &[u8]) -> Result<Vec<u8>, WireError>;
    /// Client: what a response holds: the scores, or for a private-output circuit the index.
    fn decrypt(&self, key: &Self::ClientKey, response: &[u8]) -> Result<Vec<i64>, WireError>;
    /// Client: the secret key as bytes for the client's own key cache (never sent).
    fn export_client_key(&self, key: &Self::ClientKey) -> Vec<u8>;
    /// Client: a key from [`Circuit::export_client_key`] of this same circuit.
    fn import_client_key(&self, bytes: &[u8]) -> Result<Self::ClientKey, WireError>;

    /// What an exact circuit's [`Circuit::decrypt`] returns for `liked`, computed in plaintext.
    fn expected(model: &QuantizedModel, liked: &[usize]) -> Vec<i64> {
        model.scores(liked)
    }

    /// The recommended movie in a decrypted output for `liked`: the best movie the user does not
    /// already like (ties to the lower index).
    fn top_pick(output: &[i64], liked: &[usize]) -> Option<usize> {
        crate::model::top_unliked(output, liked, 1).first().copied()
    }

    /// Programmable bootstraps the server runs per request.
    fn bootstraps(&self) -> usize {
        0
    }
}
