//! The agreement ledger of `glwe-argmax` (`<out>/argmax_checks.csv`): one row per encrypted
//! check, appended (atomically) as soon as it finishes. One check costs seconds to a minute, so
//! the check of 200 examples per width accumulates across runs instead of restarting: a run
//! checks the examples the ledger lacks first, and `fhe.csv`'s agreement, errors and hit@1 for the
//! circuit count every example the ledger holds for the same circuit, model and split.
//!
//! A row counts only while it still describes the current task: same width, same circuit
//! parameters (set and bootstraps), same quantized model (blake3 of it), same split seed, the
//! user still held out with the same hidden movie, and the plaintext answer unchanged.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::data::Example;
use crate::model::QuantizedModel;
use crate::output::{append_row, read_rows, unix_now, Stamp};

/// Examples a run evaluates at least, re-checking ones the ledger holds when it lacks none, so
/// that every run measures latency on this machine.
pub const MIN_TIMED: usize = 5;

/// One encrypted check of one held-out example.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckRow {
    pub bits: u32,
    /// The circuit as `fhe.csv` describes it: a changed circuit starts a new count.
    pub params: String,
    /// blake3 of the quantized model, hex.
    pub model: String,
    /// Split seed.
    pub seed: u64,
    pub user: u32,
    /// The hidden liked movie (pool index).
    pub label: usize,
    /// The plaintext argmax of the rounded scores.
    pub expected: i64,
    /// The index the client decrypted.
    pub decrypted: i64,
    pub eval_ms: f64,
    pub finished_unix_s: u64,
}

/// What the rows of one circuit, model and split must match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckKey {
    pub bits: u32,
    pub params: String,
    pub model: String,
    pub seed: u64,
}

impl CheckKey {
    pub fn new(model: &QuantizedModel, params: String, seed: u64) -> Self {
        Self {
            bits: model.bits,
            params,
            model: fingerprint(model),
            seed,
        }
    }

    fn matches(&self, row: &CheckRow) -> bool {
        row.bits == self.bits
            && row.params == self.params
            && row.model == self.model
            && row.seed == self.seed
    }
}

/// blake3 of the model's JSON, as 16 hex digits.
fn fingerprint(model: &QuantizedModel) -> String {
    let json = serde_json::to_vec(model).expect("a quantized model serializes");
    blake3::hash(&json).to_hex()[..16].to_owned()
}

/// hit@1's 95% half-width clustered by user, from `(user, hit)` per example.
pub fn hit_ci95(examples: impl IntoIterator<Item = (u32, bool)>) -> f64 {
    let mut users: BTreeMap<u32, (usize, usize)> = BTreeMap::new();
    for (user, hit) in examples {
        let counts = users.entry(user).or_default();
        counts.0 += usize::from(hit);
        counts.1 += 1;
    }
    let clusters: Vec<(usize, usize)> = users.into_values().collect();
    crate::stats::clustered_proportion_ci95(&clusters)
}

/// The ledger's valid rows for one key.
pub struct Ledger {
    path: PathBuf,
    key: CheckKey,
    /// The stamp of the rows this run appends.
    stamp: Stamp,
    /// Valid checks by example: (user, hidden movie).
    checks: BTreeMap<(u32, usize), Vec<CheckRow>>,
}

/// Distinct examples checked and how they went; an example agrees only if every check did.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Tally {
    pub examples: usize,
    pub agree: usize,
    pub errors: usize,
    pub hits: usize,
    /// Half-width of hit@1's 95% interval, clustered by user (a user's examples share the
    /// user's tastes, so they are not independent).
    pub hit_ci95: f64,
}

impl Tally {
    /// The share of examples whose decrypted top pick is the plaintext one.
    pub fn agreement(&self) -> f64 {
        self.agree as f64 / self.examples.max(1) as f64
    }
}

impl Ledger {
    /// Loads the rows of `path` (absent: none) that still hold for `key` on `samples`, whose
    /// plaintext answers `expected` gives.
    pub fn open(
        path: &Path,
        key: CheckKey,
        stamp: Stamp,
        samples: &[Example],
        expected: impl Fn(&Example) -> i64,
    ) -> anyhow::Result<Self> {
        let rows: Vec<CheckRow> = read_rows(path)?.unwrap_or_default();
        let current: BTreeMap<(u32, usize), i64> = samples
            .iter()
            .map(|e| ((e.user, e.label), expected(e)))
            .collect();
        let mut checks: BTreeMap<(u32, usize), Vec<CheckRow>> = BTreeMap::new();
        let mut stale = 0;
        for row in rows.into_iter().filter(|r| key.matches(r)) {
            let example = (row.user, row.label);
            if current.get(&example) == Some(&row.expected) {
                checks.entry(example).or_default().push(row);
            } else {
                stale += 1;
            }
        }
        if stale > 0 {
            tracing::warn!(
                "{}: {stale} rows of this circuit no longer match the held-out examples; not counted",
                path.display()
            );
        }
        Ok(Self {
            path: path.to_owned(),
            key,
            stamp,
            checks,
        })
    }

    /// The examples to evaluate, in order: those not yet checked, then (only to reach
    /// [`MIN_TIMED`]) checked ones again.
    pub fn schedule<'a>(&self, samples: &'a [Example]) -> Vec<&'a Example> {
        let (fresh, done): (Vec<&Example>, Vec<&Example>) = samples
            .iter()
            .partition(|e| !self.checks.contains_key(&(e.user, e.label)));
        let again = MIN_TIMED.saturating_sub(fresh.len());
        fresh
            .into_iter()
            .chain(done.into_iter().take(again))
            .collect()
    }

    /// Appends one check to the file and to the tally.
    pub fn record(
        &mut self,
        example: &Example,
        expected: i64,
        decrypted: i64,
        eval_ms: f64,
    ) -> anyhow::Result<()> {
        let row = CheckRow {
            bits: self.key.bits,
            params: self.key.params.clone(),
            model: self.key.model.clone(),
            seed: self.key.seed,
            user: example.user,
            label: example.label,
            expected,
            decrypted,
            eval_ms,
            finished_unix_s: unix_now(),
        };
        append_row(&self.path, &row, &self.stamp)?;
        self.checks
            .entry((row.user, row.label))
            .or_default()
            .push(row);
        Ok(())
    }

    pub fn tally(&self) -> Tally {
        let mut tally = Tally::default();
        let mut hits = Vec::new();
        for checks in self.checks.values() {
            let all_right = checks.iter().all(|c| c.decrypted == c.expected);
            let hit = checks[0].decrypted == checks[0].label as i64;
            tally.examples += 1;
            tally.agree += usize::from(all_right);
            tally.errors += usize::from(!all_right);
            tally.hits += usize::from(hit);
            hits.push((checks[0].user, hit));
        }
        tally.hit_ci95 = hit_ci95(hits);
        tally
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example(user: u32, label: usize) -> Example {
        Example {
            user,
            liked: vec![0, 1],
            label,
        }
    }

    fn key() -> CheckKey {
        CheckKey {
            bits: 4,
            params: "set; 147 bootstraps".into(),
            model: "abc".into(),
            seed: 7,
        }
    }

    #[test]
    fn checks_accumulate_across_openings_and_stale_rows_do_not_count() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("argmax_checks.csv");
        // Users hold out several movies each: an example is a (user, hidden movie) pair.
        let samples: Vec<Example> = (0..8).map(|i| example(i / 2, 3 + i as usize % 2)).collect();
        let answer = |e: &Example| i64::from(e.label == 3) * 3;

        let mut ledger = Ledger::open(&path, key(), Stamp::default(), &samples, answer).unwrap();
        assert_eq!(ledger.schedule(&samples).len(), 8);
        for e in &samples[..6] {
            // (2, 3) decrypts wrong; the others with label 3 hit it: (0, 3) and (1, 3).
            let got = if e.user == 2 && e.label == 3 {
                9
            } else {
                answer(e)
            };
            ledger.record(e, answer(e), got, 1.0).unwrap();
        }

        let ledger = Ledger::open(&path, key(), Stamp::default(), &samples, answer).unwrap();
        let pairs = |v: Vec<&Example>| v.iter().map(|e| (e.user, e.label)).collect::<Vec<_>>();
        // The two unchecked examples first, then three re-checks to reach MIN_TIMED.
        let order = [(3, 3), (3, 4), (0, 3), (0, 4), (1, 3)];
        assert_eq!(pairs(ledger.schedule(&samples)), order);
        let tally = ledger.tally();
        assert_eq!(
            tally,
            Tally {
                examples: 6,
                agree: 5,
                errors: 1,
                hits: 2,
                // Users 0 and 1 hit one of two, user 2 none of two: rate 1/3, clustered.
                hit_ci95: crate::stats::clustered_proportion_ci95(&[(1, 2), (1, 2), (0, 2)]),
            }
        );

        // Another circuit, another model, or a changed plaintext answer: nothing counts.
        let other = CheckKey {
            params: "set; 99 bootstraps".into(),
            ..key()
        };
        assert_eq!(
            Ledger::open(&path, other, Stamp::default(), &samples, answer)
                .unwrap()
                .tally()
                .examples,
            0
        );
        let changed =
            Ledger::open(&path, key(), Stamp::default(), &samples, |e| answer(e) + 1).unwrap();
        assert_eq!(changed.tally().examples, 0);
        // An example no longer held out is not counted either.
        let fewer = Ledger::open(&path, key(), Stamp::default(), &samples[..2], answer).unwrap();
        assert_eq!(fewer.tally().examples, 2);
    }

    #[test]
    fn the_fingerprint_follows_the_model() {
        let model = QuantizedModel {
            bits: 4,
            scale: 0.5,
            weights: vec![vec![1, -2], vec![3, 0]],
            bias: vec![0, 1],
        };
        let mut other = model.clone();
        other.weights[1][1] = 1;
        assert_eq!(fingerprint(&model), fingerprint(&model.clone()));
        assert_ne!(fingerprint(&model), fingerprint(&other));
    }
}
