//! The radix design of `glwe-argmax`: every bootstrap on tfhe's smallest published set that holds
//! 16 values, `V1_6_PARAM_MESSAGE_2_CARRY_2_KS_PBS_GAUSSIAN_2M128` (N = 2048, a 28.5 MB key),
//! whatever the score width, by comparing scores two bits at a time.
//!
//! **Keyed scores.** The layer computes, per movie, `K = r + 2^p (1 - liked)`, where `r` is the
//! `p`-bit score (minimum subtracted): the weight of a movie on its own input is lowered by `2^p`
//! and its bias raised by `2^p`, so a liked movie's key is below every other movie's and it can
//! only win when everything is liked. The `p + 1` bits of `K` are split into a 3-bit top digit
//! (the not-liked bit and the score's two highest) and `p - 2` lower bits in two-bit digits, the
//! lowest a single bit when their count is odd: `[]`, `[1]`, `[2]`, `[1, 2]`, `[2, 2]` at
//! `p = 2..6`.
//!
//! Steps: `Δ = 2^59`, the set's step; digits are carried at `2Δ`, so that a digit difference
//! doubled plus a bit lands on whole steps. The layer puts `K` at `2^(60 - lower bits)`: the top
//! digit at `2Δ`, the lower bits below it.
//!
//! **Reading bits** (one bootstrap per lower bit and movie, least significant first). Bit `k` of
//! `K` is brought to the top of the torus by lifting the layer output by `2^(63 - k - layer)` and
//! subtracting the bits below it, each from its digit copy lifted to `2^(63 - k + j)`: the input
//! is `b_k 2^63` plus noise, the higher bits wrapped away. Offset by `2^61`, it falls in the first
//! or the third quarter; a table holding `c0` on its first half and `c1` on its second, read at
//! coefficients `0` and `N/2`, returns `±c0` and `±c1` (negacyclic: `-` for `b_k = 1`), so one
//! bootstrap gives the bit at two scales: its digit copy (`2^60` or `2^61` by its place in the
//! digit) and its top copy (where it sits in the layer output), each as `c - output`. A lower
//! digit is the sum of its digit copies; the top digit is the layer output minus all top copies,
//! exact and with no bootstrap.
//!
//! **A match** (left `a`, right `b`, digit differences `d_k`; ties go left). From the lowest digit
//! up, `c_k = [2 d_k + c_(k-1) - 1 >= 0]` with `c_(-1) = 1`: one bootstrap per digit on the whole
//! torus, whose output is `±Δ/2` by the sign (a negacyclic table gives that for free), plus
//! `Δ/2`. When the lowest digit is a single bit, the first comparison takes both lowest digits
//! at once, `[4 d_1 + 2 d_0 >= 0]` (in `-14 .. 14`, decided a whole step from the boundary). The
//! last, `c_top`, is "left won": lexicographic order with ties to the left. The winner's digits
//! are `b_k + select`, one bootstrap each, all in parallel:
//! - a lower digit of `w` bits bootstraps `2 d_k + won + 2 (2^w - 1)` (in `0 .. 13`) to
//!   `won ? d_k : 0`;
//! - the top digit bootstraps `2 d + won + 14` the same way; this spans up to 29 boxes, which the
//!   whole torus holds because "won" fixes the sign of the top difference, so the even (lost)
//!   and odd (won) boxes never meet their negacyclic mirrors.
//!
//! So a match costs a comparison per digit (one less with the merged start) and a select per
//! digit: 2, 4, 4, 5 and 6 bootstraps at `p = 2..6` (the final only compares), against one or two
//! on a set with `N` up to 16384 in the wide design.
//!
//! **Noise**, in fresh bootstrap outputs (the set's 2-norm is 5: sums with squared coefficients
//! up to 25 decode at p-fail 2^-128 with a half-step margin of `2^58`):
//! - a bit read's subtracted copies sum `4^s` for each lift `2^s`, against a margin of `2^61`:
//!   8 times the set's, so 64 times its budget; the lifted layer noise stays under 1/16 of it;
//! - a digit starts as its bits' outputs (the top digit as every top copy), each round's select
//!   adds one; the last round's comparison sums both entrants' digits and the carried bit:
//!   `2 (lower bits + depth - 1) + 1` for the top digit (19 at `p = 6`), and for the merged start
//!   `4 · 2 (2 + depth - 1) + 2 (1 + depth - 1)` against four budgets (its margin is a step);
//! - the win-bit sums and the response are as in the wide design.
//!
//! [`Layout::check_noise`] checks each of these when the circuit is planned; the tables are
//! built from their cases and refused if two cases need one box to hold different values.

use anyhow::ensure;
use rayon::prelude::*;
use tfhe::core_crypto::prelude::*;
use tfhe::shortint::parameters::v1_6::classic::gaussian::p_fail_2_minus_128::ks_pbs as v1_6;
use tfhe::shortint::parameters::ClassicPBSParameters;
use tfhe::shortint::server_key::{LookupTableOwned, ManyLookupTableOwned};
use tfhe::shortint::{Ciphertext, ServerKey};

use super::{difference, sum, GlweArgmax};

pub(super) const PARAMS_NAME: &str = "V1_6_PARAM_MESSAGE_2_CARRY_2_KS_PBS_GAUSSIAN_2M128";
pub(super) const PARAMS: ClassicPBSParameters =
    v1_6::V1_6_PARAM_MESSAGE_2_CARRY_2_KS_PBS_GAUSSIAN_2M128;

/// log2 of the set's step Δ (16 values below the padding bit).
pub(super) const DELTA_LOG2: u32 = 59;
/// Digits are carried at 2Δ.
const DIGIT_LOG2: u32 = DELTA_LOG2 + 1;
/// Where a bit read's input sits when the bit is 0: the middle of the table's first half.
const READ_CENTER_LOG2: u32 = 61;

/// How a `p`-bit score is split into digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Layout {
    pub score_bits: u32,
    /// Bits of the key below the top digit, read by bootstrapping: two-bit digits, the lowest
    /// one a single bit when their count is odd.
    pub lower_bits: u32,
}

/// Bits of the top digit, the not-liked bit included: the most an ordered select holds.
pub(super) const TOP_BITS: u32 = 3;

impl Layout {
    pub fn new(score_bits: u32) -> Self {
        Self {
            score_bits,
            lower_bits: (score_bits + 1).saturating_sub(TOP_BITS),
        }
    }

    /// Widths of the lower digits, least significant first.
    pub fn lower_digits(&self) -> Vec<u32> {
        let single = self.lower_bits % 2;
        let pairs = self.lower_bits / 2;
        std::iter::repeat_n(1, single as usize)
            .chain(std::iter::repeat_n(2, pairs as usize))
            .collect()
    }

    /// Whether the first comparison takes the two lowest digits at once (the lowest is a
    /// single bit and a two-bit digit follows).
    fn merged_start(&self) -> bool {
        self.lower_bits % 2 == 1 && self.lower_bits > 1
    }

    /// Bootstraps of a match's comparison chain.
    fn chain(&self) -> usize {
        self.lower_digits().len() + 1 - usize::from(self.merged_start())
    }

    /// The position of bit `j` inside its digit.
    fn position(&self, j: u32) -> u32 {
        let single = self.lower_bits % 2;
        if j < single {
            0
        } else {
            (j - single) % 2
        }
    }

    fn top_max(&self) -> i64 {
        (1 << TOP_BITS) - 1
    }

    /// log2 of the scale the layer puts the keyed score at (its top digit at 2Δ).
    pub fn layer_log2(&self) -> u32 {
        DIGIT_LOG2 - self.lower_bits
    }

    /// Added to the key of a movie the user does not like.
    pub fn not_liked_bonus(&self) -> i64 {
        1 << self.score_bits
    }

    /// The lift that brings bit `k` of the layer output to the top of the torus.
    fn lift_log2(&self, k: u32) -> u32 {
        63 - k - self.layer_log2()
    }

    /// The scale of bit `j`'s digit copy.
    fn digit_copy_log2(&self, j: u32) -> u32 {
        DIGIT_LOG2 + self.position(j)
    }

    /// The scale of bit `j`'s top copy: where it sits in the layer output.
    fn top_copy_log2(&self, j: u32) -> u32 {
        self.layer_log2() + j
    }

    /// The lift of bit `j`'s digit copy when reading bit `k > j`: to `2^(63 - k + j)`.
    fn subtract_log2(&self, j: u32, k: u32) -> Option<u32> {
        (63 - k + j).checked_sub(self.digit_copy_log2(j))
    }

    /// Bootstraps per request for `movies` movies and `matches` matches.
    pub fn bootstraps(&self, movies: usize, matches: usize) -> usize {
        let selects = self.lower_digits().len() + 1;
        movies * self.lower_bits as usize
            + matches.saturating_sub(1) * (self.chain() + selects)
            + usize::from(matches > 0) * self.chain()
            + movies
    }

    /// The noise budget of every bootstrap input (see the module docs); `leveled` bounds the
    /// layer output's noise.
    pub fn check_noise(&self, norm: u64, depth: usize, leveled: f64) -> anyhow::Result<()> {
        let budget = norm * norm;
        let read_budget = budget << (2 * (READ_CENTER_LOG2 - (DELTA_LOG2 - 1)));
        for k in 0..self.lower_bits {
            let mut sum = 0u64;
            for j in 0..k {
                let lift = self.subtract_log2(j, k).ok_or_else(|| {
                    anyhow::anyhow!("bit {j} cannot be lifted to read bit {k}: scores too wide")
                })?;
                sum += 1 << (2 * lift);
            }
            ensure!(
                sum <= read_budget,
                "reading bit {k} sums {sum} outputs' noise, over {read_budget}"
            );
        }
        let lifted = leveled * 2f64.powi(self.lift_log2(0) as i32);
        ensure!(
            lifted <= 2f64.powi(READ_CENTER_LOG2 as i32) / 16.0,
            "leveled noise {leveled:.3e}, lifted for the bit reads, is over 1/16 of their margin"
        );
        ensure!(
            leveled <= 2f64.powi(DELTA_LOG2 as i32 - 1) / 16.0,
            "leveled noise {leveled:.3e} is over 1/16 of the digit margin"
        );
        // Each digit starts as its bits' outputs (the top digit: every top copy); the last
        // round's entrants have each gained `depth - 1` selects.
        let grown = depth.saturating_sub(1) as u64;
        let digits = self.lower_digits();
        let carried = |width: u32| u64::from(width) + grown;
        let top = 2 * (u64::from(self.lower_bits) + grown) + u64::from(!digits.is_empty());
        ensure!(
            top <= budget,
            "the last round compares top digits carrying {top} outputs' noise, over {budget}"
        );
        for (k, &width) in digits.iter().enumerate() {
            let sum = 2 * carried(width) + u64::from(k > 0);
            ensure!(
                sum <= budget,
                "the last round compares digit {k} carrying {sum} outputs' noise, over {budget}"
            );
        }
        if self.merged_start() {
            // 2 (a_1 - b_1) + (a_0 - b_0), decided with a margin of a whole step: four budgets.
            let sum = 4 * 2 * carried(digits[1]) + 2 * carried(digits[0]);
            ensure!(
                sum <= 4 * budget,
                "the last round's first comparison carries {sum} outputs' noise, over {}",
                4 * budget
            );
        }
        Ok(())
    }
}

/// A movie in the tournament: its lower digits (least significant first), then its top digit,
/// each at 2Δ.
#[derive(Clone)]
pub(super) struct Entrant {
    digits: Vec<Ciphertext>,
}

/// A replica's radix tables.
pub(super) struct Tables {
    layout: Layout,
    /// Per read bit: its digit copy and its top copy from one bootstrap.
    reads: Vec<ManyLookupTableOwned>,
    /// `±Δ/2` by the sign of the input, on the whole torus.
    sign: LookupTableOwned,
    /// Per digit, the lower ones then the top: its select.
    selects: Vec<(LookupTableOwned, i64)>,
}

/// The cases of a digit select: input `2 d + won + 2 max`, output `won ? 2 d Δ : 0`. With
/// `ordered`, "won" implies `d >= 0` and "lost" `d <= 0` (the top digit).
fn select_cases(max: i64, ordered: bool) -> impl Iterator<Item = (i64, u64)> {
    [false, true].into_iter().flat_map(move |won| {
        let (low, high) = match (ordered, won) {
            (false, _) => (-max, max),
            (true, true) => (0, max),
            (true, false) => (-max, 0),
        };
        (low..=high).map(move |d| {
            let output = if won { (2 * d) << DELTA_LOG2 } else { 0 };
            (2 * d + i64::from(won) + 2 * max, output as u64)
        })
    })
}

/// The cases of the comparison: `±Δ/2` by the sign of `w`, for every `w` a digit pair can give.
fn sign_cases() -> impl Iterator<Item = (i64, u64)> {
    let half = 1u64 << (DELTA_LOG2 - 1);
    (-16..16).map(move |w| (w, if w >= 0 { half } else { half.wrapping_neg() }))
}

impl Tables {
    pub fn new(circuit: &GlweArgmax, layout: Layout) -> anyhow::Result<Self> {
        let reads = (0..layout.lower_bits)
            .map(|k| {
                circuit.split_table(&[
                    1 << (layout.digit_copy_log2(k) - 1),
                    1 << (layout.top_copy_log2(k) - 1),
                ])
            })
            .collect();
        let mut selects = Vec::new();
        for width in layout.lower_digits() {
            let max = (1 << width) - 1;
            selects.push((circuit.table_from_cases(select_cases(max, false))?, max));
        }
        let max = layout.top_max();
        selects.push((circuit.table_from_cases(select_cases(max, true))?, max));
        Ok(Self {
            layout,
            reads,
            sign: circuit.table_from_cases(sign_cases())?,
            selects,
        })
    }

    /// A movie's digits from its keyed score as the layer computed it.
    pub fn entrant(&self, key: &ServerKey, keyed: &Ciphertext) -> Entrant {
        let layout = self.layout;
        let mut copies: Vec<Ciphertext> = Vec::with_capacity(layout.lower_bits as usize);
        let mut top = keyed.clone();
        for k in 0..layout.lower_bits {
            let mut read = scaled(keyed, layout.lift_log2(k));
            for (j, copy) in (0u32..).zip(&copies) {
                let lift = layout.subtract_log2(j, k).expect("checked when planned");
                lwe_ciphertext_sub_assign(&mut read.ct, &scaled(copy, lift).ct);
            }
            lwe_ciphertext_plaintext_add_assign(&mut read.ct, Plaintext(1 << READ_CENTER_LOG2));
            let mut outputs = key
                .apply_many_lookup_table(&read, &self.reads[k as usize])
                .into_iter();
            let digit_copy = bit_from_sign(outputs.next(), layout.digit_copy_log2(k));
            let top_copy = bit_from_sign(outputs.next(), layout.top_copy_log2(k));
            lwe_ciphertext_sub_assign(&mut top.ct, &top_copy.ct);
            copies.push(digit_copy);
        }
        let mut copies = copies.into_iter();
        let mut digits: Vec<Ciphertext> = layout
            .lower_digits()
            .into_iter()
            .map(|width| {
                let mut digit = copies.next().expect("one copy per read bit");
                for _ in 1..width {
                    let next = copies.next().expect("one copy per read bit");
                    lwe_ciphertext_add_assign(&mut digit.ct, &next.ct);
                }
                digit
            })
            .collect();
        digits.push(top);
        Entrant { digits }
    }

    /// "Left won" at Δ from the digit differences `a_k - b_k`: lexicographic from the lowest
    /// digit, ties to the left.
    fn compare(&self, key: &ServerKey, differences: &[Ciphertext]) -> Ciphertext {
        let delta = 1u64 << DELTA_LOG2;
        let mut rest = differences.iter();
        let mut carried: Option<Ciphertext> = None;
        if self.layout.merged_start() {
            // 2 (a_1 - b_1) + (a_0 - b_0) = (4 d_1 + 2 d_0) Δ, both lowest digits at once,
            // offset by half a step so that 0 and -2 sit a whole step from the boundary.
            let low = rest.next().expect("two lower digits");
            let mut w = scaled(rest.next().expect("two lower digits"), 1);
            lwe_ciphertext_add_assign(&mut w.ct, &low.ct);
            lwe_ciphertext_plaintext_add_assign(&mut w.ct, Plaintext(delta / 2));
            carried = Some(self.sign_bit(key, &w));
        }
        for d in rest {
            let mut w = d.clone();
            if let Some(c) = &carried {
                lwe_ciphertext_add_assign(&mut w.ct, &c.ct);
                lwe_ciphertext_plaintext_add_assign(&mut w.ct, Plaintext(delta.wrapping_neg()));
            }
            carried = Some(self.sign_bit(key, &w));
        }
        carried.expect("every entrant has a top digit")
    }

    /// `[w >= 0]` at Δ.
    fn sign_bit(&self, key: &ServerKey, w: &Ciphertext) -> Ciphertext {
        let mut bit = key.apply_lookup_table(w, &self.sign);
        lwe_ciphertext_plaintext_add_assign(&mut bit.ct, Plaintext(1 << (DELTA_LOG2 - 1)));
        bit
    }

    /// One match: the winner's digits (unless `keep` is false) and "left won" at Δ.
    pub fn play_match(
        &self,
        key: &ServerKey,
        left: &Entrant,
        right: &Entrant,
        keep: bool,
    ) -> (Option<Entrant>, Ciphertext) {
        let differences: Vec<Ciphertext> = left
            .digits
            .iter()
            .zip(&right.digits)
            .map(|(a, b)| difference(a, b))
            .collect();
        let won = self.compare(key, &differences);
        if !keep {
            return (None, won);
        }
        let digits = (differences
            .into_par_iter()
            .zip(&right.digits)
            .zip(&self.selects))
        .map(|((mut v, b), (table, max))| {
            lwe_ciphertext_add_assign(&mut v.ct, &won.ct);
            lwe_ciphertext_plaintext_add_assign(
                &mut v.ct,
                Plaintext((2 * *max as u64) << DELTA_LOG2),
            );
            sum(b, &key.apply_lookup_table(&v, table))
        })
        .collect();
        (Some(Entrant { digits }), won)
    }
}

fn scaled(ct: &Ciphertext, log2: u32) -> Ciphertext {
    let mut out = ct.clone();
    lwe_ciphertext_cleartext_mul_assign(&mut out.ct, Cleartext(1u64 << log2));
    out
}

/// A bit read's output `c (1 - 2 b)` with `c = 2^(log2 - 1)`, turned into `b 2^log2`.
fn bit_from_sign(output: Option<Ciphertext>, log2: u32) -> Ciphertext {
    let mut bit = output.expect("a bit read has two outputs");
    lwe_ciphertext_opposite_assign(&mut bit.ct);
    lwe_ciphertext_plaintext_add_assign(&mut bit.ct, Plaintext(1 << (log2 - 1)));
    bit
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts_split_every_supported_width_into_digits_that_fit() {
        let expected: [(u32, &[u32]); 5] =
            [(2, &[]), (3, &[1]), (4, &[2]), (5, &[1, 2]), (6, &[2, 2])];
        for (p, digits) in expected {
            let layout = Layout::new(p);
            assert_eq!(layout.lower_digits(), digits, "p = {p}");
            // The keyed score, at the layer's scale, stays below the padding bit.
            assert!((p + 1) + layout.layer_log2() <= 63, "p = {p}");
            layout.check_noise(5, 6, 0.0).unwrap();
        }
        assert!(Layout::new(5).merged_start() && !Layout::new(3).merged_start());
        // 50 movies, 49 matches: reads, comparisons and selects, win bits.
        assert_eq!(Layout::new(5).bootstraps(50, 49), 150 + 48 * 5 + 2 + 50);
        assert_eq!(Layout::new(6).bootstraps(50, 49), 200 + 48 * 6 + 3 + 50);
    }

    #[test]
    fn the_noise_check_refuses_a_tournament_too_deep_for_the_budget() {
        let error = Layout::new(6).check_noise(5, 10, 0.0).unwrap_err();
        assert!(error.to_string().contains("last round"), "{error}");
    }

    #[test]
    fn every_table_is_consistent_with_its_negacyclic_mirror() {
        for (max, ordered) in [(1, false), (3, false), (7, true)] {
            super::super::box_values(16, select_cases(max, ordered)).unwrap();
        }
        super::super::box_values(16, sign_cases()).unwrap();
        // Without the order, a 3-bit top digit's select needs a box to hold two values.
        assert!(super::super::box_values(16, select_cases(7, false)).is_err());
    }
}
