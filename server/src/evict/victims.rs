//! Victim choice: Redis's eviction pool (`evictionPoolPopulate` in
//! evict.c). Sampled keys are offered to a small pool ordered by how good
//! a victim each is under the policy; the best one is taken first. The
//! pool outlives one victim, so good candidates found by earlier samples
//! are not lost, as in Redis.
//!
//! Invariants:
//! - The pool holds at most [`POOL_SIZE`] keys, sorted by score, best
//!   last, each (db, key) at most once.
//! - Choice is a pure function of the candidates offered and the random
//!   source: no clock, no engine (tests drive it with made-up samples).

use bytes::Bytes;
use redraft_engine::{Candidate, Random};

use crate::maxmemory::Rank;

/// Keys the pool keeps (Redis's `EVPOOL_SIZE`).
pub const POOL_SIZE: usize = 16;

/// How good a victim `candidate` is under `rank`: higher is better, as
/// Redis's `idle` field of a pool entry. `None` for `Random`, which keeps
/// no pool.
pub fn score(candidate: &Candidate, rank: Rank) -> Option<u64> {
    match rank {
        Rank::Idle => Some(candidate.idle_s),
        // Redis: 255 minus the (decayed) counter.
        Rank::Frequency => Some(255 - u64::from(candidate.frequency)),
        // Redis: ULLONG_MAX minus the expiry, so sooner is better.
        Rank::Ttl => Some(u64::MAX - candidate.expires_at_ms.unwrap_or(u64::MAX)),
        Rank::Random => None,
    }
}

/// One pooled key.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Pooled {
    score: u64,
    db: usize,
    key: Bytes,
}

/// The eviction pool.
#[derive(Debug, Default)]
pub struct Pool {
    /// Ascending by score: the best victim is last.
    entries: Vec<Pooled>,
}

impl Pool {
    /// Offers a sampled key of `db`. It enters if the pool has room or it
    /// beats the worst pooled key (which then leaves); a key already
    /// pooled gets its new score.
    pub fn offer(&mut self, db: usize, candidate: &Candidate, rank: Rank) {
        let Some(score) = score(candidate, rank) else {
            return;
        };
        if let Some(at) = self
            .entries
            .iter()
            .position(|entry| entry.db == db && entry.key == candidate.key)
        {
            self.entries.remove(at);
        }
        if self.entries.len() == POOL_SIZE {
            if score <= self.entries[0].score {
                return;
            }
            self.entries.remove(0);
        }
        let at = self.entries.partition_point(|entry| entry.score <= score);
        self.entries.insert(
            at,
            Pooled {
                score,
                db,
                key: candidate.key.clone(),
            },
        );
    }

    /// Takes the best pooled victim.
    pub fn take_best(&mut self) -> Option<(usize, Bytes)> {
        self.entries.pop().map(|entry| (entry.db, entry.key))
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn clear(&mut self) {
        self.entries.clear();
    }
}

/// Picks the next victim from `samples`, one sample per database that
/// has keys the policy may evict (`(db, candidates)`): for the random
/// policies a candidate drawn at random, for the others the pool's best
/// after every sample is offered.
pub fn choose(
    pool: &mut Pool,
    rank: Rank,
    samples: &[(usize, Vec<Candidate>)],
    random: &mut Random,
) -> Option<(usize, Bytes)> {
    if rank == Rank::Random {
        let drawn: Vec<(usize, &Candidate)> = samples
            .iter()
            .flat_map(|(db, candidates)| candidates.iter().map(move |c| (*db, c)))
            .collect();
        if drawn.is_empty() {
            return None;
        }
        let (db, candidate) = drawn[random.below(drawn.len())];
        return Some((db, candidate.key.clone()));
    }
    for (db, candidates) in samples {
        for candidate in candidates {
            pool.offer(*db, candidate, rank);
        }
    }
    pool.take_best()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn candidate(key: &str, idle_s: u64, ttl: Option<u64>, frequency: u8) -> Candidate {
        Candidate {
            key: Bytes::from(key.to_string()),
            idle_s,
            expires_at_ms: ttl,
            frequency,
        }
    }

    /// Each case: the rank, samples as (db, [(key, idle, expiry, freq)]),
    /// and the victims expected in order until the pool is empty.
    #[test]
    fn victims_come_out_best_first() {
        type Sample = (usize, &'static [(&'static str, u64, Option<u64>, u8)]);
        type Case = (Rank, &'static [Sample], &'static [(usize, &'static str)]);
        let cases: &[Case] = &[
            // LRU: longest idle first, across databases.
            (
                Rank::Idle,
                &[
                    (0, &[("a", 5, None, 0), ("b", 50, None, 0)]),
                    (3, &[("c", 20, None, 0)]),
                ],
                &[(0, "b"), (3, "c"), (0, "a")],
            ),
            // TTL: soonest expiry first.
            (
                Rank::Ttl,
                &[(
                    0,
                    &[("late", 0, Some(9_000), 0), ("soon", 0, Some(1_000), 0)],
                )],
                &[(0, "soon"), (0, "late")],
            ),
            // LFU: least frequent first.
            (
                Rank::Frequency,
                &[(
                    0,
                    &[
                        ("hot", 0, None, 200),
                        ("cold", 0, None, 1),
                        ("warm", 0, None, 5),
                    ],
                )],
                &[(0, "cold"), (0, "warm"), (0, "hot")],
            ),
            // The same key sampled twice is pooled once, with its last
            // score.
            (
                Rank::Idle,
                &[(
                    0,
                    &[("a", 5, None, 0), ("a", 7, None, 0), ("b", 6, None, 0)],
                )],
                &[(0, "a"), (0, "b")],
            ),
            // The same name in two databases is two keys.
            (
                Rank::Idle,
                &[(0, &[("a", 5, None, 0)]), (1, &[("a", 6, None, 0)])],
                &[(1, "a"), (0, "a")],
            ),
            (Rank::Idle, &[], &[]),
        ];
        for (rank, samples, want) in cases {
            let samples: Vec<(usize, Vec<Candidate>)> = samples
                .iter()
                .map(|(db, keys)| {
                    let keys = keys
                        .iter()
                        .map(|(key, idle, ttl, freq)| candidate(key, *idle, *ttl, *freq))
                        .collect();
                    (*db, keys)
                })
                .collect();
            let mut pool = Pool::default();
            let mut random = Random::new(1);
            let mut got = Vec::new();
            let mut offered = samples.as_slice();
            while let Some((db, key)) = choose(&mut pool, *rank, offered, &mut random) {
                got.push((db, String::from_utf8(key.to_vec()).unwrap()));
                offered = &[];
            }
            let want: Vec<(usize, String)> = want
                .iter()
                .map(|(db, key)| (*db, key.to_string()))
                .collect();
            assert_eq!(got, want, "{rank:?} {samples:?}");
        }
    }

    #[test]
    fn the_pool_keeps_the_best_sixteen() {
        let mut pool = Pool::default();
        for idle in 0..40u64 {
            pool.offer(
                0,
                &candidate(&format!("k{idle}"), idle, None, 0),
                Rank::Idle,
            );
        }
        let mut taken = Vec::new();
        while let Some((_, key)) = pool.take_best() {
            taken.push(String::from_utf8(key.to_vec()).unwrap());
        }
        let want: Vec<String> = (24..40).rev().map(|idle| format!("k{idle}")).collect();
        assert_eq!(taken, want);
    }

    #[test]
    fn random_picks_spread_over_the_sample() {
        let samples = vec![
            (
                0,
                vec![candidate("a", 0, None, 0), candidate("b", 0, None, 0)],
            ),
            (2, vec![candidate("c", 0, None, 0)]),
        ];
        let mut random = Random::new(9);
        let mut pool = Pool::default();
        let mut seen = std::collections::HashSet::new();
        for _ in 0..100 {
            seen.insert(choose(&mut pool, Rank::Random, &samples, &mut random).unwrap());
        }
        assert_eq!(seen.len(), 3);
        assert!(pool.is_empty(), "random keeps no pool");
        assert_eq!(choose(&mut pool, Rank::Random, &[], &mut random), None);
    }
}
