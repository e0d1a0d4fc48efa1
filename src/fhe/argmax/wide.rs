//! The first `glwe-argmax` design, kept so that the radix design is measured against it in the
//! same run (`examples/argmax_timing.rs`): every score whole on a parameter set wide enough for
//! `p + 1` bits, so each match is one or two bootstraps on `N` up to 16384.
//!
//! A match between `a` and `b` bootstraps `v = a - b + 2^p` (in `1 .. 2^(p+1)`) through two
//! tables: `relu(v - 2^p)` gives the winner's score `b + relu(a - b)` and `[v >= 2^p]` says
//! whether the left side won (ties go left). Where the set has a spare bit, both tables share
//! one bootstrap (tfhe's many-LUT). The final match only needs the bit. Liked movies are not
//! skipped: the design has no room for the extra bit.
//!
//! Noise: a match input sums at most `2 (depth - 1)` fresh bootstrap outputs plus the leveled
//! noise, checked against the set's 2-norm.

use anyhow::ensure;
use tfhe::core_crypto::prelude::*;
use tfhe::shortint::parameters::v1_6::classic::gaussian::p_fail_2_minus_128::ks_pbs as v1_6;
use tfhe::shortint::parameters::ClassicPBSParameters;
use tfhe::shortint::server_key::{LookupTableOwned, ManyLookupTableOwned};
use tfhe::shortint::{Ciphertext, ServerKey};

use super::{difference, sum, GlweArgmax};

/// The cheapest `KS_PBS` set of tfhe's 2^-128 Gaussian ladder whose message space holds
/// `p + 1` bits and whose noise budget covers the tournament's sums.
pub(super) fn published(p: u32) -> Option<(&'static str, ClassicPBSParameters)> {
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

/// Bootstraps per non-final match.
pub(super) fn per_match(many_lut: bool) -> usize {
    if many_lut {
        1
    } else {
        2
    }
}

/// Match inputs against the set's 2-norm.
pub(super) fn check_noise(circuit: &GlweArgmax, norm: u64) -> anyhow::Result<()> {
    let depth = circuit.tournament.depth() as u64;
    ensure!(
        norm * norm > 2 * depth.saturating_sub(1),
        "{}: a match sums {} bootstrap outputs, over the set's noise budget (2-norm {norm})",
        circuit.params_name,
        2 * depth.saturating_sub(1)
    );
    Ok(())
}

/// A replica's match tables.
pub(super) struct Tables {
    scoring: Scoring,
    /// "Left won", alone: the final, and the matches without many-LUT.
    won: LookupTableOwned,
}

/// A match's tables: relu and "left won" in one bootstrap, or relu in its own.
enum Scoring {
    ManyLut(ManyLookupTableOwned),
    Relu(LookupTableOwned),
}

impl Tables {
    pub fn new(circuit: &GlweArgmax, key: &ServerKey, many_lut: bool) -> Self {
        let half = 1u64 << circuit.score_bits;
        let relu = move |v: u64| v.saturating_sub(half);
        let won = move |v: u64| u64::from(v >= half);
        let scoring = if many_lut {
            Scoring::ManyLut(key.generate_many_lookup_table(&[&relu, &won]))
        } else {
            Scoring::Relu(key.generate_lookup_table(relu))
        };
        Self {
            scoring,
            won: key.generate_lookup_table(won),
        }
    }

    /// One match: the winner's score (unless `keep_score` is false) and the "left won" bit.
    pub fn play_match(
        &self,
        circuit: &GlweArgmax,
        key: &ServerKey,
        left: &Ciphertext,
        right: &Ciphertext,
        keep_score: bool,
    ) -> (Option<Ciphertext>, Ciphertext) {
        let mut v = difference(left, right);
        lwe_ciphertext_plaintext_add_assign(
            &mut v.ct,
            Plaintext((1u64 << circuit.score_bits) * circuit.delta()),
        );
        if !keep_score {
            return (None, key.apply_lookup_table(&v, &self.won));
        }
        let (relu, won) = match &self.scoring {
            Scoring::ManyLut(both) => {
                let mut outputs = key.apply_many_lookup_table(&v, both).into_iter();
                let relu = outputs.next().expect("two tables");
                (relu, outputs.next().expect("two tables"))
            }
            Scoring::Relu(relu) => rayon::join(
                || key.apply_lookup_table(&v, relu),
                || key.apply_lookup_table(&v, &self.won),
            ),
        };
        (Some(sum(right, &relu)), won)
    }
}
