//! Stage `artifacts`: for every FHE cell of the spec, the server artifacts of the primary split's
//! model (`artifacts/<pipeline>-<bits>b/{circuit,model}.json`), which `cipherscale serve` loads.

use super::Experiment;
use crate::output::emit;
use crate::serve::Artifacts;

pub fn run(experiment: &Experiment) -> anyhow::Result<()> {
    let (_, tuned) = experiment.split_and_fit(experiment.spec.seed)?;
    let titles = &experiment.task()?.pool.titles;
    let root = experiment.out.join("artifacts");
    for (pipeline, bits) in experiment.cells() {
        let dir = root.join(format!("{pipeline}-{bits}b"));
        Artifacts::for_model(pipeline, bits, &tuned.model, titles.clone())?.save(&dir)?;
        emit(format_args!("wrote {}", dir.display()))?;
    }
    Ok(())
}
