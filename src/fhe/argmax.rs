//! `glwe-argmax`: the private-output circuit. The packed linear layer of [`super::packing`] runs
//! under the GLWE secret key of a tfhe shortint client key, so every output extracted from a
//! product is a valid input to tfhe's keyswitch and programmable bootstrapping (PBS); the server
//! then finds the best movie under encryption and returns only its index, never the scores.
//!
//! Scores: the model is quantized so that every score is a `p`-bit unsigned integer `r` once the
//! worst-case minimum is subtracted ([`QuantizedModel::quantize_scores`]); `r` is encoded as
//! `r * D` with `D = 2^63 / (message x carry modulus)` of the published set (padding bit clear).
//!
//! Argmax, a knock-out tournament over the scores in index order, left child before right:
//! - a match between `a` and `b` bootstraps `v = a - b + 2^p` (in `1 .. 2^(p+1)`, so the
//!   parameter set holds `p + 1` bits) through two lookup tables: `relu(v - 2^p)` gives the
//!   winner's score `b + relu(a - b)` and `[v >= 2^p]` says whether the left side won. Ties go
//!   left, so the tournament returns the lowest index among equal best scores, like the plaintext
//!   rule. Where the set has a spare bit, both tables share one bootstrap (tfhe's many-LUT). The
//!   final match only needs the bit.
//! - movie `i` won iff every match on its path went its way: the sum of those bits (or their
//!   complements) equals the path length. One bootstrap per movie turns that sum into a win bit
//!   at the top of the torus; the response is, for each bit `k` of the index, the sum of the win
//!   bits of the movies whose index has bit `k` set: exactly one movie wins, so each sum
//!   decrypts to that bit of the winner's index.
//!
//! Noise: every bootstrap input is a sum of at most `2 (depth - 1)` fresh bootstrap outputs plus
//! the (much smaller) leveled noise, which [`GlweArgmax::plan`] checks against the parameter
//! set's published noise budget (its "2-norm", `max_noise_level`).

use std::ops::RangeInclusive;

use anyhow::ensure;
use bincode::Options;
use rayon::prelude::*;
use tfhe::conformance::ParameterSetConformant;
use tfhe::core_crypto::prelude::*;
use tfhe::shortint::atomic_pattern::AtomicPatternKind;
use tfhe::shortint::ciphertext::{Degree, MaxDegree, NoiseLevel};
use tfhe::shortint::client_key::atomic_pattern::AtomicPatternClientKey;
use tfhe::shortint::parameters::v1_6::classic::gaussian::p_fail_2_minus_128::ks_pbs as v1_6;
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

/// The score widths this circuit supports.
pub const SCORE_BITS: RangeInclusive<u32> = 2..=6;

/// The published tfhe parameter set for `p`-bit scores: the cheapest `KS_PBS` set of tfhe's
/// 2^-128 Gaussian ladder whose message space (message x carry) holds `p + 1` bits and whose noise
/// budget covers the tournament's sums.
fn published(p: u32) -> Option<(&'static str, ClassicPBSParameters)> {
    Some(match p {
        2 | 3 => (
            "V1_6_PARAM_MESSAGE_2_CARRY_2_KS_PBS_GAUSSIAN_2M128",
            v1_6::V1_6_PARAM_MESSAGE_2_CARRY_2_KS_PBS_GAUSSIAN_2M128,
        ),
        4 => (
            "V1_6_PARAM_MESSAGE_3_CARRY_2_KS_PBS_GAUSSIAN_2M128",
            v1_6::V1_6_PARAM_MESSAGE_3_CARRY_2_KS_PBS_GAUSSIAN_2M128,
        ),
        5 => (
            "V1_6_PARAM_MESSAGE_3_CARRY_3_KS_PBS_GAUSSIAN_2M128",
            v1_6::V1_6_PARAM_MESSAGE_3_CARRY_3_KS_PBS_GAUSSIAN_2M128,
        ),
        6 => (
            "V1_6_PARAM_MESSAGE_4_CARRY_3_KS_PBS_GAUSSIAN_2M128",
            v1_6::V1_6_PARAM_MESSAGE_4_CARRY_3_KS_PBS_GAUSSIAN_2M128,
        ),
        _ => return None,
    })
}

/// A planned `glwe-argmax` circuit: public parameters only.
#[derive(Debug, Clone)]
pub struct GlweArgmax {
    shape: Shape,
    score_bits: u32,
    params_name: &'static str,
    params: ClassicPBSParameters,
    packing: Packing,
    /// Subtracted from every score so that it lies in `0 .. 2^p`.
    offset: i64,
    /// Relu and win bit from one bootstrap.
    many_lut: bool,
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
    /// How a match gets the winner's score (and, with many-LUT, its bit).
    scoring: Scoring,
    /// "Left won", alone: the final, and the matches without many-LUT.
    won: LookupTableOwned,
    /// Per movie: "every match on my path went my way" as a bit at the top of the torus.
    winner: Vec<LookupTableOwned>,
}

/// A match's tables: relu and "left won" in one bootstrap, or relu in its own.
enum Scoring {
    ManyLut(ManyLookupTableOwned),
    Relu(LookupTableOwned),
}

/// The match schedule, fixed by the number of outputs: per round, the pairs that play.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Tournament {
    /// Per round, for each match, the left and right entrants' positions in that round.
    rounds: Vec<Vec<(usize, usize)>>,
    /// Per movie, the matches on its path: (round, match, played on the left).
    paths: Vec<Vec<(usize, usize, bool)>>,
}

impl Tournament {
    fn new(players: usize) -> Self {
        let mut rounds = Vec::new();
        let mut paths = vec![Vec::new(); players];
        // Which movies each current entrant stands for.
        let mut entrants: Vec<Vec<usize>> = (0..players).map(|i| vec![i]).collect();
        while entrants.len() > 1 {
            let round = rounds.len();
            let mut matches = Vec::new();
            let mut next = Vec::new();
            for (slot, pair) in entrants.chunks(2).enumerate() {
                if let [left, right] = pair {
                    for &i in left {
                        paths[i].push((round, matches.len(), true));
                    }
                    for &i in right {
                        paths[i].push((round, matches.len(), false));
                    }
                    matches.push((2 * slot, 2 * slot + 1));
                    next.push([left.as_slice(), right].concat());
                } else {
                    next.push(pair[0].clone());
                }
            }
            rounds.push(matches);
            entrants = next;
        }
        Self { rounds, paths }
    }

    fn depth(&self) -> usize {
        self.paths.iter().map(Vec::len).max().unwrap_or(0)
    }

    fn matches(&self) -> usize {
        self.rounds.iter().map(Vec::len).sum()
    }
}

impl GlweArgmax {
    fn modulus(&self) -> u64 {
        message_space(&self.params)
    }

    /// `D`: the torus value of one score step.
    fn delta(&self) -> u64 {
        (1u64 << 63) / self.modulus()
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

    /// A lookup table with arbitrary torus outputs `out(v)` for the `v`-th box, in the layout
    /// of tfhe's own tables (boxes shifted by half a box, negacyclic first half).
    fn raw_lookup_table(&self, out: impl Fn(u64) -> u64) -> LookupTableOwned {
        let n = self.packing.n();
        let mut acc = GlweCiphertext::new(
            0u64,
            self.packing.glwe_size,
            self.packing.polynomial_size,
            CiphertextModulus::new_native(),
        );
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

    /// Checks the tournament's bootstrap inputs against the published noise budget.
    fn check_noise(&self) -> anyhow::Result<()> {
        let norm = self.params.max_noise_level.get();
        let depth = self.tournament.depth() as u64;
        ensure!(
            norm * norm > 2 * depth.saturating_sub(1),
            "{}: a match sums {} bootstrap outputs, over the set's noise budget (2-norm {norm})",
            self.params_name,
            2 * depth.saturating_sub(1)
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
        // Fresh GLWE noise (a hard bound for TUniform, 14 sigma for Gaussian) times the largest
        // weight row, plus the request's rounding times the weights: under 1/16 of the margin.
        let fresh = match self.params.glwe_noise_distribution {
            DynamicDistribution::TUniform(t) => 2f64.powi(t.bound_log2() as i32),
            DynamicDistribution::Gaussian(g) => 14.0 * g.standard_dev().0 * 2f64.powi(64),
        };
        let rounding = 2f64.powi(63 - self.packing.input_bits as i32);
        let leveled = fresh * self.shape.max_row_l1 as f64 + rounding * self.shape.total_l1 as f64;
        let margin = self.delta() as f64 / 2.0;
        ensure!(
            leveled <= margin / 16.0,
            "leveled noise bound {leveled:.3e} is over 1/16 of the margin {margin:.3e}"
        );
        Ok(())
    }
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
        let shape = *shape;
        let p = shape.bits;
        let (params_name, params) = published(p).ok_or_else(|| {
            anyhow::anyhow!(
                "glwe-argmax supports {}..={}-bit scores, not {p}",
                SCORE_BITS.start(),
                SCORE_BITS.end()
            )
        })?;
        let (offset, highest) = shape.score_bounds;
        ensure!(
            highest - offset < 1 << p,
            "scores span {offset}..={highest}, more than {p} bits: quantize with QuantizedModel::quantize_scores"
        );
        let modulus = message_space(&params);
        ensure!(
            modulus >= 1 << (p + 1),
            "{params_name} holds fewer than {} bits",
            p + 1
        );
        // Request rounding: 12 bits under a score step after the weights' growth.
        let input_bits = ceil_log2(modulus) + 13 + ceil_log2(shape.total_l1);
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
        let description = format!(
            "glwe-argmax; {params_name}; {p}-bit scores offset {offset}; {}x{}; request {input_bits} bits; response {output_bits} bits",
            shape.inputs, shape.outputs
        );
        let circuit = Self {
            shape,
            score_bits: p,
            params_name,
            params,
            packing,
            offset,
            many_lut: modulus >= 1 << (p + 2),
            index_bits,
            output_bits,
            tournament: Tournament::new(shape.outputs),
            stamp: Stamp::new(Pipeline::GlweArgmax, &description),
        };
        circuit.check_noise()?;
        Ok(circuit)
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
        format!(
            "{} (n={}, k={}, N={}, 2-norm {}); {}-bit scores; {} bootstraps per request{}; request {} bits; response {} bits x {} ciphertexts",
            self.params_name,
            self.params.lwe_dimension.0,
            self.params.glwe_dimension.0,
            self.params.polynomial_size.0,
            self.params.max_noise_level.get(),
            self.score_bits,
            self.bootstraps(),
            if self.many_lut { " (many-LUT)" } else { "" },
            self.packing.input_bits,
            self.output_bits,
            self.index_bits
        )
    }

    /// Two per match (one with many-LUT), one for the final, one per movie for its win bit.
    fn bootstraps(&self) -> usize {
        let matches = self.tournament.matches();
        let per_match = if self.many_lut { 1 } else { 2 };
        matches.saturating_sub(1) * per_match + usize::from(matches > 0) + self.shape.outputs
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
        let (offset, delta) = (self.offset, self.delta());
        let model = self
            .packing
            .load(model, |bias| ((bias - offset) as u64).wrapping_mul(delta));
        let half = 1u64 << self.score_bits;
        let relu = move |v: u64| v.saturating_sub(half);
        let won = move |v: u64| u64::from(v >= half);
        let scoring = if self.many_lut {
            Scoring::ManyLut(key.generate_many_lookup_table(&[&relu, &won]))
        } else {
            Scoring::Relu(key.generate_lookup_table(relu))
        };
        let won = key.generate_lookup_table(won);
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
            scoring,
            won,
            winner,
        })
    }

    fn encrypt(&self, key: &ArgmaxClientKey, liked: &[usize]) -> Vec<u8> {
        let payload = self.packing.encrypt(
            &key.glwe,
            liked,
            self.delta(),
            self.params.glwe_noise_distribution,
        );
        self.stamp.seal(Kind::Request, &payload)
    }

    fn eval(server: &ArgmaxServer, request: &[u8]) -> Result<Vec<u8>, WireError> {
        let circuit = &server.circuit;
        let input = circuit
            .packing
            .read_request(&server.model.ntt, &circuit.stamp, request)?;
        let scores = server.scores(&input);
        let won = server.play(scores);
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

    fn expected(model: &QuantizedModel, liked: &[usize]) -> Vec<i64> {
        let scores = model.scores(liked);
        vec![crate::model::top_k_by_score(&scores, 1)[0] as i64]
    }

    fn top_pick(output: &[i64]) -> Option<usize> {
        output.first().and_then(|&i| usize::try_from(i).ok())
    }
}

impl ArgmaxServer {
    /// The `p`-bit scores, one ciphertext per output, extracted from the packed products.
    fn scores(&self, input: &[Spectrum]) -> Vec<Ciphertext> {
        let circuit = &self.circuit;
        let packing = &circuit.packing;
        let mut scores = Vec::with_capacity(circuit.shape.outputs);
        for (group, product) in self.model.products(packing, input).enumerate() {
            let product = GlweCiphertext::from_container(
                product,
                packing.polynomial_size,
                CiphertextModulus::new_native(),
            );
            for c in 0..packing.group_outputs(group).len() {
                let mut lwe = circuit.zero_lwe();
                extract_lwe_sample_from_glwe_ciphertext(&product, &mut lwe, MonomialDegree(c));
                scores.push(circuit.shortint_ciphertext(lwe));
            }
        }
        scores
    }

    /// Plays every round; returns, per round and match, the "left won" bit.
    fn play(&self, mut entrants: Vec<Ciphertext>) -> Vec<Vec<Ciphertext>> {
        let rounds = &self.circuit.tournament.rounds;
        let mut won = Vec::with_capacity(rounds.len());
        for (round, matches) in rounds.iter().enumerate() {
            let last = round + 1 == rounds.len();
            let results: Vec<(Option<Ciphertext>, Ciphertext)> = matches
                .par_iter()
                .map(|&(l, r)| self.play_match(&entrants[l], &entrants[r], !last))
                .collect();
            let mut next = Vec::with_capacity(entrants.len().div_ceil(2));
            let mut bits = Vec::with_capacity(results.len());
            for (best, bit) in results {
                next.extend(best);
                bits.push(bit);
            }
            if entrants.len() % 2 == 1 {
                next.extend(entrants.pop());
            }
            won.push(bits);
            entrants = next;
        }
        won
    }

    /// One match: the winner's score (unless `keep_score` is false) and the "left won" bit.
    fn play_match(
        &self,
        left: &Ciphertext,
        right: &Ciphertext,
        keep_score: bool,
    ) -> (Option<Ciphertext>, Ciphertext) {
        let circuit = &self.circuit;
        let mut v = left.clone();
        lwe_ciphertext_sub_assign(&mut v.ct, &right.ct);
        lwe_ciphertext_plaintext_add_assign(
            &mut v.ct,
            Plaintext((1u64 << circuit.score_bits) * circuit.delta()),
        );
        if !keep_score {
            return (None, self.key.apply_lookup_table(&v, &self.won));
        }
        let (relu, won) = match &self.scoring {
            Scoring::ManyLut(both) => {
                let mut outputs = self.key.apply_many_lookup_table(&v, both).into_iter();
                let relu = outputs.next().expect("two tables");
                (relu, outputs.next().expect("two tables"))
            }
            Scoring::Relu(relu) => rayon::join(
                || self.key.apply_lookup_table(&v, relu),
                || self.key.apply_lookup_table(&v, &self.won),
            ),
        };
        let mut best = right.clone();
        lwe_ciphertext_add_assign(&mut best.ct, &relu.ct);
        (Some(best), won)
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
    fn the_tournament_gives_every_movie_one_path_and_plays_n_minus_1_matches() {
        for players in [1usize, 2, 3, 5, 8, 50] {
            let t = Tournament::new(players);
            assert_eq!(t.matches(), players.saturating_sub(1), "{players}");
            assert_eq!(t.paths.len(), players);
            assert!(t.depth() as u32 <= ceil_log2(players as u64), "{players}");
            // Following the recorded sides from any movie reaches the final exactly once.
            for path in &t.paths {
                let rounds: Vec<usize> = path.iter().map(|&(r, _, _)| r).collect();
                assert!(rounds.windows(2).all(|w| w[0] < w[1]));
            }
        }
    }

    #[test]
    fn every_supported_width_names_a_set_with_room_for_the_difference() {
        for p in SCORE_BITS {
            let (name, params) = published(p).unwrap();
            assert!(message_space(&params) >= 1 << (p + 1), "{name}");
        }
        assert!(published(7).is_none());
    }
}
