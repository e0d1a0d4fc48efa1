//! The knock-out schedule both designs play: fixed by the number of movies, in index order, left
//! child before right, so ties resolve to the lower index like the plaintext rule.

/// The match schedule: per round, the pairs that play.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Tournament {
    /// Per round, for each match, the left and right entrants' positions in that round.
    pub rounds: Vec<Vec<(usize, usize)>>,
    /// Per movie, the matches on its path: (round, match, played on the left).
    pub paths: Vec<Vec<(usize, usize, bool)>>,
}

impl Tournament {
    pub fn new(players: usize) -> Self {
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

    /// The most matches any movie plays: the number of rounds.
    pub fn depth(&self) -> usize {
        self.paths.iter().map(Vec::len).max().unwrap_or(0)
    }

    pub fn matches(&self) -> usize {
        self.rounds.iter().map(Vec::len).sum()
    }

    /// Plays every round with `play(left, right, keep_winner)`, which returns the winner (when
    /// asked) and the "left won" bit; returns the bits per round and match.
    pub fn play<E: Send + Sync, B: Send>(
        &self,
        mut entrants: Vec<E>,
        play: impl Fn(&E, &E, bool) -> (Option<E>, B) + Sync,
    ) -> Vec<Vec<B>> {
        use rayon::prelude::*;
        let mut won = Vec::with_capacity(self.rounds.len());
        for (round, matches) in self.rounds.iter().enumerate() {
            let last = round + 1 == self.rounds.len();
            let results: Vec<(Option<E>, B)> = matches
                .par_iter()
                .map(|&(l, r)| play(&entrants[l], &entrants[r], !last))
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fhe::leveled::ceil_log2;

    #[test]
    fn the_tournament_gives_every_movie_one_path_and_plays_n_minus_1_matches() {
        for players in [1usize, 2, 3, 5, 8, 50] {
            let t = Tournament::new(players);
            assert_eq!(t.matches(), players.saturating_sub(1), "{players}");
            assert_eq!(t.paths.len(), players);
            assert!(t.depth() as u32 <= ceil_log2(players as u64), "{players}");
            for path in &t.paths {
                let rounds: Vec<usize> = path.iter().map(|&(r, _, _)| r).collect();
                assert!(rounds.windows(2).all(|w| w[0] < w[1]));
            }
        }
    }

    #[test]
    fn playing_in_the_clear_finds_the_first_maximum() {
        let scores = [3, 9, 1, 9, 4, 0, 8];
        let t = Tournament::new(scores.len());
        let won = t.play(scores.to_vec(), |&a, &b, keep| {
            (keep.then_some(a.max(b)), a >= b)
        });
        let winners: Vec<usize> = (0..scores.len())
            .filter(|&i| {
                t.paths[i]
                    .iter()
                    .all(|&(round, game, left)| won[round][game] == left)
            })
            .collect();
        assert_eq!(winners, [1]);
    }
}
