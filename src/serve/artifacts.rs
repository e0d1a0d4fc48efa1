//! A circuit's server artifacts on disk: `circuit.json`, the public description every client reads
//! (pipeline, public shape, parameters, fingerprint, movie titles), and `model.json`, the quantized
//! weights, which only the server reads.

use std::path::Path;
use std::sync::Arc;

use anyhow::{ensure, Context};
use serde::{Deserialize, Serialize};

use crate::fhe::dynamic::{self, Planned};
use crate::fhe::{wire, Pipeline, Shape};
use crate::model::QuantizedModel;
use crate::output::write_atomic;

/// Version of the artifact files; a server refuses other versions.
pub const ARTIFACTS_VERSION: u32 = 1;
const DESCRIPTION_FILE: &str = "circuit.json";
const MODEL_FILE: &str = "model.json";

/// What `GET /v1/circuit` returns: everything a client needs to plan the same circuit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CircuitDescription {
    pub artifacts_version: u32,
    pub wire_version: u16,
    pub pipeline: Pipeline,
    /// Weight width, or score width `p` for `glwe-argmax`.
    pub bits: u32,
    pub shape: Shape,
    pub params: String,
    /// Hex fingerprint every message of this circuit carries.
    pub fingerprint: String,
    pub bootstraps: usize,
    pub needs_eval_key: bool,
    /// What the decrypted output is: `scores` (one per movie) or `index` (the top movie only).
    pub output: String,
    /// Movie titles in pool order: output `i` is `titles[i]`.
    pub titles: Vec<String>,
}

/// A servable circuit: its description, the model, and the circuit planned from them.
#[derive(Clone)]
pub struct Artifacts {
    pub description: CircuitDescription,
    pub model: QuantizedModel,
    pub circuit: Arc<dyn Planned>,
}

impl CircuitDescription {
    /// Plans the described circuit and checks it is the one the description names.
    pub fn plan(&self) -> anyhow::Result<Arc<dyn Planned>> {
        ensure!(
            self.wire_version == wire::VERSION,
            "circuit speaks wire format {}, this build speaks {}",
            self.wire_version,
            wire::VERSION
        );
        let circuit = dynamic::plan(self.pipeline, &self.shape)?;
        let fingerprint = fingerprint_hex(circuit.as_ref());
        ensure!(
            fingerprint == self.fingerprint,
            "the described circuit plans to fingerprint {fingerprint}, not {} (another cipherscale version?)",
            self.fingerprint
        );
        Ok(circuit)
    }
}

fn fingerprint_hex(circuit: &dyn Planned) -> String {
    format!("{:016x}", circuit.stamp().fingerprint)
}

impl Artifacts {
    /// The artifacts of `pipeline` at `bits` for the float `model` (quantized as that circuit
    /// needs); `titles` name the model's outputs.
    pub fn for_model(
        pipeline: Pipeline,
        bits: u32,
        model: &crate::model::FloatModel,
        titles: Vec<String>,
    ) -> anyhow::Result<Self> {
        Self::build(
            pipeline,
            crate::fhe::quantize_for(model, pipeline, bits),
            titles,
        )
    }

    /// Plans `pipeline` for `model`; `titles` name the model's outputs.
    pub fn build(
        pipeline: Pipeline,
        model: QuantizedModel,
        titles: Vec<String>,
    ) -> anyhow::Result<Self> {
        let shape = Shape::of(&model);
        ensure!(
            titles.len() == shape.outputs,
            "{} titles for {} outputs",
            titles.len(),
            shape.outputs
        );
        let circuit = dynamic::plan(pipeline, &shape)?;
        let description = CircuitDescription {
            artifacts_version: ARTIFACTS_VERSION,
            wire_version: wire::VERSION,
            pipeline,
            bits: model.bits,
            shape,
            params: circuit.params(),
            fingerprint: fingerprint_hex(circuit.as_ref()),
            bootstraps: circuit.bootstraps(),
            needs_eval_key: circuit.needs_eval_key(),
            output: match pipeline {
                Pipeline::GlweArgmax => "index",
                _ => "scores",
            }
            .into(),
            titles,
        };
        Ok(Self {
            description,
            model,
            circuit,
        })
    }

    /// Writes both files into `dir` (each atomically).
    pub fn save(&self, dir: &Path) -> anyhow::Result<()> {
        write_atomic(
            &dir.join(DESCRIPTION_FILE),
            &serde_json::to_vec_pretty(&self.description)?,
            false,
        )?;
        write_atomic(
            &dir.join(MODEL_FILE),
            &serde_json::to_vec(&self.model)?,
            false,
        )
    }

    /// Reads and cross-checks the files in `dir`: versions, the model's shape against the
    /// description, and the planned circuit's fingerprint.
    pub fn load(dir: &Path) -> anyhow::Result<Self> {
        let description: CircuitDescription = read_json(&dir.join(DESCRIPTION_FILE))?;
        ensure!(
            description.artifacts_version == ARTIFACTS_VERSION,
            "{}: artifacts version {}, this build reads {ARTIFACTS_VERSION}",
            dir.display(),
            description.artifacts_version
        );
        let model: QuantizedModel = read_json(&dir.join(MODEL_FILE))?;
        ensure!(
            Shape::of(&model) == description.shape,
            "{}: model.json does not have the shape circuit.json describes",
            dir.display()
        );
        ensure!(
            description.titles.len() == description.shape.outputs,
            "{}: {} titles for {} outputs",
            dir.display(),
            description.titles.len(),
            description.shape.outputs
        );
        let circuit = description
            .plan()
            .with_context(|| format!("planning the circuit of {}", dir.display()))?;
        Ok(Self {
            description,
            model,
            circuit,
        })
    }
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> anyhow::Result<T> {
    let text = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_slice(&text).with_context(|| format!("parsing {}", path.display()))
}
