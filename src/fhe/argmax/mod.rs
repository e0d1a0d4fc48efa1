//! `glwe-argmax`: the private-output circuit. The packed linear layer of [`super::packing`] runs
//! under the GLWE secret key of a tfhe shortint client key, so every output extracted from a
//! product is a valid input to tfhe's keyswitch and programmable bootstrapping (PBS); the server
//! then finds the best movie under encryption and returns only its index, never the scores.
//!
//! Two designs share the layer, the knock-out [`tournament`] and the answer:
//! - [`radix`] (the circuit this pipeline plans): every bootstrap on tfhe's 16-value set
//!   (N = 2048) at every width, scores compared two bits at a time, and liked movies keyed below
//!   every other movie so that they never win, like the popularity baseline;
//! - [`wide`] (the first design, kept for same-run comparison): whole scores on a set wide
//!   enough for `p + 1` bits, up to N = 16384; it does not skip liked movies.
//!
//! Scores: the model is quantized so that every score is a `p`-bit unsigned integer `r` once the
//! worst-case minimum is subtracted ([`QuantizedModel::quantize_scores`]).
//!
//! The answer: movie `i` won iff every match on its path went its way, i.e. the sum of those
//! "left won" bits (or their complements) equals the path length. One bootstrap per movie turns
//! that sum into a win bit at the top of the torus; the response is, for each bit `k` of the
//! index, the sum of the win bits of the movies whose index has bit `k` set: exactly one movie
//! wins, so each sum decrypts to that bit of the winner's index.
//!
//! Noise: [`GlweArgmax::plan`] checks every bootstrap input against the parameter set's
//! published noise budget (its "2-norm", `max_noise_level`), design by design.

mod radix;
mod tournament;
mod wide;

use std::ops::RangeInclusive;

use anyhow::ensure;
use bincode::Options;
use rayon::prelude::*;
use tfhe::conformance::ParameterSetConformant;
use tfhe::core_crypto::prelude::*;
use tfhe::shortint::atomic_pattern::AtomicPatternKind;
use tfhe::shortint::ciphertext::{Degree, MaxDegree, NoiseLevel};
use tfhe::shortint::client_key::atomic_pattern::AtomicPatternClientKey;
use tfhe::shortint::parameters::ClassicPBSParameters;
use tfhe::shortint::server_key::{LookupTableOwned, ManyLookupTableOwned};
use tfhe::shortint::{
    Ciphertext, ClientKey, CompressedServerKey, PBSOrder, PBSParameters, ServerKey,
};

use super::encoding::switch_down;
use super::leveled::ceil_log2;
use super::ntt::Spectrum;
use super::packing::{pack_switched, read_switched, PackedModel, Packing};
use super::wire::{Kind, Reader, Stamp, WireError};
use super::{Circuit, Pipeline, Shape, MAX_EVAL_KEY_BYTES, MAX_RESPONSE_BYTES};
use crate::model::QuantizedModel;
use tournament::Tournament;

/// The score widths this circuit supports.
pub const SCORE_BITS: RangeInclusive<u32> = 2..=6;

/// The two designs of the tournament (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Design {
    Radix,
    Wide,
}

impl Design {
    pub fn name(self) -> &'static str {
        match self {
            Design::Radix => "radix",
            Design::Wide => "wide",
        }
    }
}

/// A design with what it derived from the width.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Plan {
    Radix(radix::Layout),
    /// With many-LUT: relu and the win bit from one bootstrap.
    Wide {
        many_lut: bool,
    },
}

/// A planned `glwe-argmax` circuit: public parameters only.
#[derive(Debug, Clone)]
pub struct GlweArgmax {
    shape: Shape,
    score_bits: u32,
    plan: Plan,
    params_name: &'static str,
    params: ClassicPBSParameters,
    packing: Packing,
    /// Subtracted from every score so that it lies in `0 .. 2^p`.
    offset: i64,
    /// Bits of the returned index, one response ciphertext each.
    index_bits: u32,
    /// Bits kept of each response coefficient.
    output_bits: u32,
    tournament: Tournament,
    stamp: Stamp,
}

/// The client's side: the GLWE secret key of a shortint client key (the server key was made
/// from the whole client key; the request and the response only need this part).
pub struct ArgmaxClientKey {
    glwe: GlweSecretKeyOwned<u64>,
}

/// A `glwe-argmax` replica: the model laid out for the packed products, the decompressed server
/// key and the lookup tables.
pub struct ArgmaxServer {
    circuit: GlweArgmax,
    key: ServerKey,
    model: PackedModel,
    tables: Tables,
    /// Per movie: "every match on my path went my way" as a bit at the top of the torus.
    winner: Vec<LookupTableOwned>,
}

enum Tables {
    Radix(radix::Tables),
    Wide(wide::Tables),
}

impl GlweArgmax {
    /// The published set every bootstrap of the radix design (the pipeline's) runs on.
    pub const BOOTSTRAP_PARAMS: tfhe::shortint::ClassicPBSParameters = radix::PARAMS;

    /// Plans `design` for `shape`; [`Circuit::plan`] plans the radix design.
    pub fn plan_design(shape: &Shape, design: Design) -> anyhow::Result<Self> {
        let shape = *shape;
        let p = shape.bits;
        ensure!(
            SCORE_BITS.contains(&p),
            "glwe-argmax supports {}..={}-bit scores, not {p}",
            SCORE_BITS.start(),
            SCORE_BITS.end()
        );
        let (offset, highest) = shape.score_bounds;
        ensure!(
            highest - offset < 1 << p,
            "scores span {offset}..={highest}, more than {p} bits: quantize with QuantizedModel::quantize_scores"
        );
        let (params_name, params, plan) = match design {
            Design::Radix => {
                ensure!(
                    shape.inputs == shape.outputs,
                    "the radix design keys liked movies down: inputs ({}) and outputs ({}) must be the same movies",
                    shape.inputs,
                    shape.outputs
                );
                let layout = radix::Layout::new(p);
                (radix::PARAMS_NAME, radix::PARAMS, Plan::Radix(layout))
            }
            Design::Wide => {
                let (name, params) = wide::published(p).expect("every supported width has a set");
                let modulus = message_space(&params);
                ensure!(
                    modulus >= 1 << (p + 1),
                    "{name} holds fewer than {} bits",
                    p + 1
                );
                let many_lut = modulus >= 1 << (p + 2);
                (name, params, Plan::Wide { many_lut })
            }
        };
        let (_, total_l1) = keyed_l1(&shape, plan);
        let input_bits = match plan {
            // 12 bits under a score step after the weights' growth.
            Plan::Wide { .. } => ceil_log2(message_space(&params)) + 13 + ceil_log2(total_l1),
            // The bit reads lift the layer output by up to 2^(3 + lower bits): as many more.
            Plan::Radix(layout) => 14 + layout.lower_bits + ceil_log2(total_l1),
        };
        ensure!(
            input_bits <= 64,
            "the request would need {input_bits} bits per coefficient"
        );
        let packing = Packing::plan(
            &shape,
            params.glwe_dimension,
            params.polynomial_size,
            input_bits,
        )?;
        let index_bits = ceil_log2(shape.outputs as u64).max(1);
        // A win-bit sum decodes with a 2^62 margin: half for noise, half for the response's
        // rounding, which adds at most (k N + 1) 2^(63 - bits).
        let output_bits = 2 + ceil_log2(packing.mask_len() as u64 + 1);
        let design_name = match plan {
            Plan::Wide { .. } => String::new(),
            Plan::Radix(_) => " radix; liked movies keyed down;".into(),
        };
        let description = format!(
            "glwe-argmax;{design_name} {params_name}; {p}-bit scores offset {offset}; {}x{}; request {input_bits} bits; response {output_bits} bits",
            shape.inputs, shape.outputs
        );
        let circuit = Self {
            shape,
            score_bits: p,
            plan,
            params_name,
            params,
            packing,
            offset,
            index_bits,
            output_bits,
            tournament: Tournament::new(shape.outputs),
            stamp: Stamp::new(Pipeline::GlweArgmax, &description),
        };
        circuit.check_noise()?;
        Ok(circuit)
    }

    pub fn design(&self) -> Design {
        match self.plan {
            Plan::Radix(_) => Design::Radix,
            Plan::Wide { .. } => Design::Wide,
        }
    }

    /// What this circuit answers for `liked`, computed in plaintext: [`Circuit::expected`] for
    /// the radix design, the first best movie of all for the wide one.
    pub fn answer(&self, model: &QuantizedModel, liked: &[usize]) -> Vec<i64> {
        match self.plan {
            Plan::Radix(_) => Self::expected(model, liked),
            Plan::Wide { .. } => index_answer(first_best(&model.scores(liked))),
        }
    }

    fn modulus(&self) -> u64 {
        message_space(&self.params)
    }

    /// `D`: the torus value of one step of the set.
    fn delta(&self) -> u64 {
        (1u64 << 63) / self.modulus()
    }

    /// The scale the layer puts its outputs at, and the value of a liked input.
    fn layer_scale(&self) -> u64 {
        match self.plan {
            Plan::Radix(layout) => 1 << layout.layer_log2(),
            Plan::Wide { .. } => self.delta(),
        }
    }

    /// An all-zero LWE ciphertext under the extracted (k N) key, to sum into.
    fn zero_lwe(&self) -> LweCiphertextOwned<u64> {
        LweCiphertext::new(
            0u64,
            LweSize(self.packing.mask_len() + 1),
            CiphertextModulus::new_native(),
        )
    }

    fn shortint_ciphertext(&self, lwe: LweCiphertextOwned<u64>) -> Ciphertext {
        Ciphertext::new(
            lwe,
            Degree::new(self.modulus() - 1),
            NoiseLevel::NOMINAL,
            self.params.message_modulus,
            self.params.carry_modulus,
            AtomicPatternKind::Standard(PBSOrder::KeyswitchBootstrap),
        )
    }

    fn empty_accumulator(&self) -> GlweCiphertextOwned<u64> {
        GlweCiphertext::new(
            0u64,
            self.packing.glwe_size,
            self.packing.polynomial_size,
            CiphertextModulus::new_native(),
        )
    }

    /// A lookup table with arbitrary torus outputs `out(v)` for the `v`-th box, in the layout
    /// of tfhe's own tables (boxes shifted by half a box, negacyclic first half).
    fn raw_lookup_table(&self, out: impl Fn(u64) -> u64) -> LookupTableOwned {
        let n = self.packing.n();
        let mut acc = self.empty_accumulator();
        let box_size = n / self.modulus() as usize;
        let mut body = acc.get_mut_body();
        let coefficients = body.as_mut();
        for (v, chunk) in coefficients.chunks_exact_mut(box_size).enumerate() {
            chunk.fill(out(v as u64));
        }
        let half = box_size / 2;
        for c in &mut coefficients[..half] {
            *c = c.wrapping_neg();
        }
        coefficients.rotate_left(half);
        LookupTableOwned {
            acc,
            degree: Degree::new(0),
        }
    }

    /// A table over the whole torus from (box, output) cases; see [`box_values`].
    fn table_from_cases(
        &self,
        cases: impl IntoIterator<Item = (i64, u64)>,
    ) -> anyhow::Result<LookupTableOwned> {
        let values = box_values(self.modulus() as usize, cases)?;
        Ok(self.raw_lookup_table(|v| values[v as usize]))
    }

    /// A table whose `i`-th half (or part) holds `outputs[i]` from position 0, read at
    /// coefficients `i N / parts`: an input in the middle of the first part gets every
    /// output, negated if it sits in the torus' second half.
    fn split_table(&self, outputs: &[u64]) -> ManyLookupTableOwned {
        let n = self.packing.n();
        let part = n / outputs.len();
        let mut acc = self.empty_accumulator();
        let mut body = acc.get_mut_body();
        for (chunk, &value) in body.as_mut().chunks_exact_mut(part).zip(outputs) {
            chunk.fill(value);
        }
        ManyLookupTableOwned {
            acc,
            input_max_degree: MaxDegree::new(self.modulus() - 1),
            sample_extraction_stride: part,
            per_function_output_degree: vec![Degree::new(0); outputs.len()],
        }
    }

    /// A bound on the layer output's noise: fresh GLWE noise (a hard bound for TUniform, 14
    /// sigma for Gaussian) times the largest weight row, plus the request's rounding times the
    /// weights.
    fn leveled_noise(&self) -> f64 {
        let fresh = match self.params.glwe_noise_distribution {
            DynamicDistribution::TUniform(t) => 2f64.powi(t.bound_log2() as i32),
            DynamicDistribution::Gaussian(g) => 14.0 * g.standard_dev().0 * 2f64.powi(64),
        };
        let rounding = 2f64.powi(63 - self.packing.input_bits as i32);
        let (max_row_l1, total_l1) = keyed_l1(&self.shape, self.plan);
        fresh * max_row_l1 as f64 + rounding * total_l1 as f64
    }

    /// Checks the tournament's bootstrap inputs against the published noise budget.
    fn check_noise(&self) -> anyhow::Result<()> {
        let norm = self.params.max_noise_level.get();
        let depth = self.tournament.depth();
        ensure!(
            depth as u64 <= norm * norm,
            "{}: a win bit sums {depth} bootstrap outputs, over the set's budget",
            self.params_name
        );
        // A response ciphertext sums up to `outputs` win bits, each a fresh bootstrap output, and
        // decodes with a 2^62 margin, of which half is left to the response's rounding; the
        // budget allows `norm` outputs within half a step of the set, 2^(62 - P).
        let message_bits = ceil_log2(self.modulus()) as i32;
        let outputs = self.shape.outputs as f64;
        ensure!(
            outputs.sqrt() <= norm as f64 * 2f64.powi(message_bits - 1),
            "{}: the sum of {outputs} win bits is over the decryption margin",
            self.params_name
        );
        let leveled = self.leveled_noise();
        match self.plan {
            Plan::Radix(layout) => layout.check_noise(norm, depth, leveled),
            Plan::Wide { .. } => {
                wide::check_noise(self, norm)?;
                // Under 1/16 of the half-step margin.
                let margin = self.delta() as f64 / 2.0;
                ensure!(
                    leveled <= margin / 16.0,
                    "leveled noise bound {leveled:.3e} is over 1/16 of the margin {margin:.3e}"
                );
                Ok(())
            }
        }
    }

    /// The model as the layer computes it: for the radix design, each movie's key (its score
    /// less the offset, plus the not-liked bonus, less the bonus on its own input).
    fn layer_model(&self, model: &QuantizedModel) -> (QuantizedModel, i64) {
        match self.plan {
            Plan::Wide { .. } => (model.clone(), -self.offset),
            Plan::Radix(layout) => {
                let bonus = layout.not_liked_bonus();
                let mut keyed = model.clone();
                for (i, row) in keyed.weights.iter_mut().enumerate() {
                    row[i] -= bonus as i32;
                }
                (keyed, bonus - self.offset)
            }
        }
    }
}

/// The weights' growth of the layer as computed: the radix design adds `2^p` to one weight of
/// every row.
fn keyed_l1(shape: &Shape, plan: Plan) -> (u64, u64) {
    match plan {
        Plan::Wide { .. } => (shape.max_row_l1, shape.total_l1),
        Plan::Radix(layout) => {
            let bonus = layout.not_liked_bonus() as u64;
            (
                shape.max_row_l1 + bonus,
                shape.total_l1 + bonus * shape.outputs as u64,
            )
        }
    }
}

/// The values of a negacyclic table's `boxes` boxes from (box, output) cases over the whole
/// torus: box `v` of the second half holds the negation of box `v - boxes`. Refuses cases that
/// need one box to hold two values; boxes no case names hold 0.
fn box_values(
    boxes: usize,
    cases: impl IntoIterator<Item = (i64, u64)>,
) -> anyhow::Result<Vec<u64>> {
    let mut values: Vec<Option<u64>> = vec![None; boxes];
    for (v, output) in cases {
        let slot = v.rem_euclid(2 * boxes as i64) as usize;
        let (slot, value) = if slot < boxes {
            (slot, output)
        } else {
            (slot - boxes, output.wrapping_neg())
        };
        match values[slot] {
            Some(held) if held != value => {
                anyhow::bail!("box {slot} would hold both {held:#x} and {value:#x} (case {v})")
            }
            _ => values[slot] = Some(value),
        }
    }
    Ok(values.into_iter().map(|v| v.unwrap_or(0)).collect())
}

/// The first best movie of all (ties to the lower index).
fn first_best(scores: &[i64]) -> Option<usize> {
    crate::model::top_k_by_score(scores, 1).first().copied()
}

/// A plaintext answer as the circuit decrypts it: the index alone.
fn index_answer(best: Option<usize>) -> Vec<i64> {
    best.map(|i| i as i64).into_iter().collect()
}

/// `a + b`, both under the same key.
fn sum(a: &Ciphertext, b: &Ciphertext) -> Ciphertext {
    let mut out = a.clone();
    lwe_ciphertext_add_assign(&mut out.ct, &b.ct);
    out
}

/// `a - b`, both under the same key.
fn difference(a: &Ciphertext, b: &Ciphertext) -> Ciphertext {
    let mut out = a.clone();
    lwe_ciphertext_sub_assign(&mut out.ct, &b.ct);
    out
}

/// The evaluation key's encoding: tfhe's safe serialization covers only the high-level keys
/// (which need 1- or 2-bit message blocks), so the shortint key goes through bincode with the
/// size limit enforced while reading, and a conformance check against the parameters after.
fn key_codec() -> impl Options {
    bincode::DefaultOptions::new()
        .with_fixint_encoding()
        .with_limit(MAX_EVAL_KEY_BYTES as u64)
}

/// Message x carry modulus: the values one bootstrap distinguishes (below the padding bit).
fn message_space(params: &ClassicPBSParameters) -> u64 {
    params.message_modulus.0 * params.carry_modulus.0
}

impl Circuit for GlweArgmax {
    type ClientKey = ArgmaxClientKey;
    type Server = ArgmaxServer;

    fn plan(shape: &Shape) -> anyhow::Result<Self> {
        Self::plan_design(shape, Design::Radix)
    }

    fn pipeline(&self) -> Pipeline {
        Pipeline::GlweArgmax
    }

    fn stamp(&self) -> Stamp {
        self.stamp
    }

    fn needs_eval_key(&self) -> bool {
        true
    }

    fn params(&self) -> String {
        let design = match self.plan {
            Plan::Radix(layout) => format!(
                "radix: digits of {:?} bits read + a {}-bit top digit",
                layout.lower_digits(),
                radix::TOP_BITS
            ),
            Plan::Wide { many_lut: true } => "wide (many-LUT)".into(),
            Plan::Wide { many_lut: false } => "wide".into(),
        };
        format!(
            "{} (n={}, k={}, N={}, 2-norm {}); {}-bit scores; {design}; {} bootstraps per request; request {} bits; response {} bits x {} ciphertexts",
            self.params_name,
            self.params.lwe_dimension.0,
            self.params.glwe_dimension.0,
            self.params.polynomial_size.0,
            self.params.max_noise_level.get(),
            self.score_bits,
            self.bootstraps(),
            self.packing.input_bits,
            self.output_bits,
            self.index_bits
        )
    }

    fn bootstraps(&self) -> usize {
        let (movies, matches) = (self.shape.outputs, self.tournament.matches());
        match self.plan {
            Plan::Radix(layout) => layout.bootstraps(movies, matches),
            // Per match (the final needs only the bit), and one per movie for its win bit.
            Plan::Wide { many_lut } => {
                matches.saturating_sub(1) * wide::per_match(many_lut)
                    + usize::from(matches > 0)
                    + movies
            }
        }
    }

    fn keygen(&self) -> (ArgmaxClientKey, Vec<u8>) {
        let shortint = ClientKey::new(self.params);
        let server = CompressedServerKey::new(&shortint);
        let bytes = key_codec()
            .serialize(&server)
            .expect("a fresh key serializes within the limit");
        let AtomicPatternClientKey::Standard(standard) = &shortint.atomic_pattern else {
            unreachable!("classic KS_PBS parameters give a standard client key")
        };
        let glwe = GlweSecretKey::from_container(
            standard.large_lwe_secret_key().as_ref().to_vec(),
            self.params.polynomial_size,
        );
        (
            ArgmaxClientKey { glwe },
            self.stamp.seal(Kind::EvalKey, &bytes),
        )
    }

    fn export_client_key(&self, key: &ArgmaxClientKey) -> Vec<u8> {
        self.stamp.seal_secret(&key.glwe)
    }

    fn import_client_key(&self, bytes: &[u8]) -> Result<ArgmaxClientKey, WireError> {
        let glwe = self.stamp.open_secret(bytes)?;
        Ok(ArgmaxClientKey { glwe })
    }

    fn server(&self, model: &QuantizedModel, eval_key: &[u8]) -> Result<ArgmaxServer, WireError> {
        let payload = self
            .stamp
            .open(Kind::EvalKey, eval_key, MAX_EVAL_KEY_BYTES)?;
        let compressed: CompressedServerKey = key_codec()
            .deserialize(payload)
            .map_err(|e| WireError::Malformed(format!("evaluation key: {e}")))?;
        let expected = (
            PBSParameters::PBS(self.params).into(),
            MaxDegree::new(self.modulus() - 1),
        );
        if !compressed.is_conformant(&expected) {
            return Err(WireError::Malformed(format!(
                "evaluation key does not match {}",
                self.params_name
            )));
        }
        let key = compressed.decompress();
        let (layer_model, bias_shift) = self.layer_model(model);
        let scale = self.layer_scale();
        let model = self.packing.load(&layer_model, |bias| {
            ((bias + bias_shift) as u64).wrapping_mul(scale)
        });
        let tables = match self.plan {
            Plan::Radix(layout) => Tables::Radix(
                radix::Tables::new(self, layout).expect("the radix tables are checked by tests"),
            ),
            Plan::Wide { many_lut } => Tables::Wide(wide::Tables::new(self, &key, many_lut)),
        };
        let winner = self
            .tournament
            .paths
            .iter()
            .map(|path| {
                let length = path.len() as u64;
                self.raw_lookup_table(|v| if v == length { 1 << 63 } else { 0 })
            })
            .collect();
        Ok(ArgmaxServer {
            circuit: self.clone(),
            key,
            model,
            tables,
            winner,
        })
    }

    fn encrypt(&self, key: &ArgmaxClientKey, liked: &[usize]) -> Vec<u8> {
        let payload = self.packing.encrypt(
            &key.glwe,
            liked,
            self.layer_scale(),
            self.params.glwe_noise_distribution,
        );
        self.stamp.seal(Kind::Request, &payload)
    }

    fn eval(server: &ArgmaxServer, request: &[u8]) -> Result<Vec<u8>, WireError> {
        let circuit = &server.circuit;
        let input = circuit
            .packing
            .read_request(&server.model.ntt, &circuit.stamp, request)?;
        let won = server.play(server.layer_outputs(&input));
        let winners: Vec<LweCiphertextOwned<u64>> = (0..circuit.shape.outputs)
            .into_par_iter()
            .map(|i| server.win_bit(i, &won))
            .collect();
        let mut payload = Vec::new();
        for bit in 0..circuit.index_bits {
            let mut sum = circuit.zero_lwe();
            for (i, winner) in winners.iter().enumerate() {
                if i >> bit & 1 == 1 {
                    lwe_ciphertext_add_assign(&mut sum, winner);
                }
            }
            payload.extend(pack_switched(sum.as_ref(), circuit.output_bits));
        }
        Ok(circuit.stamp.seal(Kind::Response, &payload))
    }

    fn decrypt(&self, key: &ArgmaxClientKey, response: &[u8]) -> Result<Vec<i64>, WireError> {
        let payload = self
            .stamp
            .open(Kind::Response, response, MAX_RESPONSE_BYTES)?;
        let mut reader = Reader::new(payload);
        let secret = key.glwe.as_ref();
        let mut index = 0i64;
        for bit in 0..self.index_bits {
            let ciphertext =
                read_switched(&mut reader, self.packing.mask_len() + 1, self.output_bits)?;
            let (mask, body) = ciphertext.split_at(self.packing.mask_len());
            let phase = mask
                .iter()
                .zip(secret)
                .fold(body[0], |acc, (a, s)| acc.wrapping_sub(a.wrapping_mul(*s)));
            index |= i64::from(switch_down(phase, 1) == 1) << bit;
        }
        reader.finish()?;
        Ok(vec![index])
    }

    /// The radix design's answer (the pipeline's): the first best movie the user does not like,
    /// or, when every movie is liked, the first best of all (liked movies are keyed below the
    /// others, not removed).
    fn expected(model: &QuantizedModel, liked: &[usize]) -> Vec<i64> {
        let scores = model.scores(liked);
        let unliked = crate::model::top_unliked(&scores, liked, 1)
            .first()
            .copied();
        index_answer(unliked.or_else(|| first_best(&scores)))
    }

    fn top_pick(output: &[i64], _liked: &[usize]) -> Option<usize> {
        output.first().and_then(|&i| usize::try_from(i).ok())
    }
}

impl ArgmaxServer {
    /// The layer's outputs, one ciphertext per movie, extracted from the packed products.
    fn layer_outputs(&self, input: &[Spectrum]) -> Vec<Ciphertext> {
        let circuit = &self.circuit;
        let packing = &circuit.packing;
        let mut outputs = Vec::with_capacity(circuit.shape.outputs);
        for (group, product) in self.model.products(packing, input).enumerate() {
            let product = GlweCiphertext::from_container(
                product,
                packing.polynomial_size,
                CiphertextModulus::new_native(),
            );
            for c in 0..packing.group_outputs(group).len() {
                let mut lwe = circuit.zero_lwe();
                extract_lwe_sample_from_glwe_ciphertext(&product, &mut lwe, MonomialDegree(c));
                outputs.push(circuit.shortint_ciphertext(lwe));
            }
        }
        outputs
    }

    /// Plays every round; returns, per round and match, the "left won" bit at one step.
    fn play(&self, outputs: Vec<Ciphertext>) -> Vec<Vec<Ciphertext>> {
        let (circuit, key) = (&self.circuit, &self.key);
        match &self.tables {
            Tables::Wide(tables) => circuit.tournament.play(outputs, |l, r, keep| {
                tables.play_match(circuit, key, l, r, keep)
            }),
            Tables::Radix(tables) => {
                let entrants = outputs
                    .par_iter()
                    .map(|keyed| tables.entrant(key, keyed))
                    .collect();
                circuit
                    .tournament
                    .play(entrants, |l, r, keep| tables.play_match(key, l, r, keep))
            }
        }
    }

    /// Movie `i`'s win bit: the bootstrapped "all matches on its path went its way".
    fn win_bit(&self, i: usize, won: &[Vec<Ciphertext>]) -> LweCiphertextOwned<u64> {
        let circuit = &self.circuit;
        let mut sum = circuit.zero_lwe();
        for &(round, game, left) in &circuit.tournament.paths[i] {
            let bit = &won[round][game].ct;
            if left {
                lwe_ciphertext_add_assign(&mut sum, bit);
            } else {
                lwe_ciphertext_sub_assign(&mut sum, bit);
                lwe_ciphertext_plaintext_add_assign(&mut sum, Plaintext(circuit.delta()));
            }
        }
        self.key
            .apply_lookup_table(&circuit.shortint_ciphertext(sum), &self.winner[i])
            .ct
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_supported_width_names_a_wide_set_with_room_for_the_difference() {
        for p in SCORE_BITS {
            let (name, params) = wide::published(p).unwrap();
            assert!(message_space(&params) >= 1 << (p + 1), "{name}");
        }
        assert!(wide::published(7).is_none());
    }

    #[test]
    fn the_radix_set_has_the_step_its_layout_assumes() {
        assert_eq!(
            (1u64 << 63) / message_space(&radix::PARAMS),
            1 << radix::DELTA_LOG2
        );
    }

    #[test]
    fn box_values_mirror_the_second_half_and_refuse_conflicts() {
        let values = box_values(4, [(0, 5), (5, 7u64.wrapping_neg()), (-1, 3)]).unwrap();
        // Box 5 is the mirror of box 1; box -1 = 7 is the mirror of box 3.
        assert_eq!(values, [5, 7, 0, 3u64.wrapping_neg()]);
        assert!(box_values(4, [(1, 2), (5, 2)]).is_err());
    }
}
