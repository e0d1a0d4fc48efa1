//! Stage `artifacts`: for every FHE cell of the spec, the server artifacts of the primary split's
//! model (`artifacts/<pipeline>-<bits>b/{circuit,model}.json`), which `cipherscale serve` loads.

use super::fhe_stage::{cells, quantize_for};
use super::Experiment;
use crate::report::emit;
use crate::serve::Artifacts;

pub fn run(experiment: &Experiment) -> anyhow::Result<()> {
    let (_, tuned) = experiment.split_and_fit(experiment.spec.seed)?;
    let root = experiment.out.join("artifacts");
    for (pipeline, bits) in cells(&experiment.spec) {
        let model = quantize_for(&tuned.model, pipeline, bits);
        let dir = root.join(format!("{pipeline}-{bits}b"));
        Artifacts::build(pipeline, model, experiment.pool.titles.clone())?.save(&dir)?;
        emit(format_args!("wrote {}", dir.display()))?;
    }
    Ok(())
}
