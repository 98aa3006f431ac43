//! The leader's evictor: a thread that, while used memory is over
//! `maxmemory`, chooses victims by the policy and proposes their deletion
//! through the write path (`WriteOp::Evict`), as `expire_cycle` proposes
//! expired keys' (Redis's `performEvictions`, moved off the command path
//! because a deletion here is a replicated write).
//!
//! A proposal takes a few milliseconds to apply, and until it does the
//! victims still count in `used_memory`. So the evictor remembers the
//! victims in flight and takes their cost off what it compares with the
//! limit; a victim leaves the list once it is gone (applied) or after
//! [`IN_FLIGHT_MS`] (a proposal lost to a change of leader), so no key is
//! proposed twice while its deletion is on its way, and memory is not
//! emptied while entries catch up.
//!
//! Invariants:
//! - Proposes only on the leader, and only while `maxmemory` is set and
//!   the policy evicts.
//! - One cycle chooses at most [`VICTIMS_PER_CYCLE_MAX`] keys and stops
//!   after the policy's time limit (`maxmemory-eviction-tenacity`, checked
//!   every 16 victims as Redis does); a proposal stays under the entry
//!   byte target.

use std::collections::{HashSet, VecDeque};
use std::time::{Duration, Instant};

use bytes::Bytes;
use redraft_engine::{Random, WriteOp, DB_COUNT};

use super::victims::{choose, Pool};
use super::Node;
use crate::clock::unix_ms;
use crate::raft::proposer::ENTRY_BYTES_TARGET;
use crate::raft::status::Role;

/// How long a victim counts as in flight after its proposal.
const IN_FLIGHT_MS: u64 = 2_000;
/// Most victims one cycle chooses.
const VICTIMS_PER_CYCLE_MAX: usize = 4_096;
/// How often the evictor looks when nobody nudges it.
const IDLE_WAIT: Duration = Duration::from_millis(100);
/// Victims proposed in flight at most (the oldest are forgotten first).
const IN_FLIGHT_MAX: usize = 65_536;

/// What one cycle did.
#[derive(Debug, PartialEq, Eq)]
enum Cycle {
    /// Under the limit (counting victims in flight), or not evicting.
    Idle,
    /// Proposed victims but stopped at its time limit: go on at once.
    Again,
    /// Over the limit with nothing to evict.
    Stuck,
}

/// The evictor's state between cycles.
struct Evictor {
    pool: Pool,
    random: Random,
    /// Victims proposed and not yet seen gone: (proposed at, db, key).
    in_flight: VecDeque<(u64, usize, Bytes)>,
}

/// Runs the evictor forever (the `redraft-evict` thread).
pub fn run(node: Node<'_>) {
    let mut evictor = Evictor {
        pool: Pool::default(),
        random: Random::new(unix_ms() ^ u64::from(std::process::id())),
        in_flight: VecDeque::new(),
    };
    loop {
        node.memory.wait(IDLE_WAIT);
        while evictor.cycle(node) == Cycle::Again {}
    }
}

/// Redis's `evictionTimeLimitUs`: how long one cycle may choose victims.
pub fn time_limit(tenacity: u64) -> Duration {
    match tenacity {
        0..=10 => Duration::from_micros(50 * tenacity),
        11..=99 => Duration::from_secs_f64(500e-6 * 1.15f64.powf(tenacity as f64 - 10.0)),
        _ => Duration::MAX,
    }
}

impl Evictor {
    fn cycle(&mut self, node: Node<'_>) -> Cycle {
        let settings = node.memory.limits.get();
        let Some(rank) = settings.policy.rank() else {
            self.forget();
            node.memory.set_evictable(false);
            return Cycle::Idle;
        };
        if settings.maxmemory_bytes == 0 || node.raft.role() != Role::Leader {
            self.forget();
            return Cycle::Idle;
        }
        let engine = node.engine;
        let now_ms = unix_ms();
        let used_bytes = engine.used_memory_bytes();
        let in_flight_bytes = self.in_flight_bytes(node, now_ms);
        let counted_bytes = used_bytes.saturating_sub(in_flight_bytes);
        if counted_bytes <= settings.maxmemory_bytes {
            node.memory.set_evictable(true);
            return Cycle::Idle;
        }
        let to_free_bytes = counted_bytes - settings.maxmemory_bytes;
        let volatile = settings.policy.volatile();
        let dbs: Vec<usize> = (0..DB_COUNT)
            .filter(|&db| {
                if volatile {
                    engine.expires_count(db) > 0
                } else {
                    engine.dbsize(db) > 0
                }
            })
            .collect();
        let chosen_at = Instant::now();
        let limit = time_limit(settings.tenacity);
        let samples = settings.samples as usize;
        let mut taken: HashSet<(usize, Bytes)> = self
            .in_flight
            .iter()
            .map(|(_, db, key)| (*db, key.clone()))
            .collect();
        let mut victims: Vec<(usize, Bytes)> = Vec::new();
        let mut freed_bytes = 0;
        let mut timed_out = false;
        // Draws that found only keys already taken count too, so a small
        // keyspace all in flight ends the cycle.
        for _ in 0..VICTIMS_PER_CYCLE_MAX * 2 {
            if freed_bytes >= to_free_bytes || victims.len() >= VICTIMS_PER_CYCLE_MAX {
                break;
            }
            // Keys already chosen are left out of the samples, or the best
            // of them (still there until their entry applies) would come
            // back every time.
            let drawn: Vec<_> = dbs
                .iter()
                .map(|&db| {
                    let mut sample =
                        engine.eviction_sample(db, volatile, samples, &mut self.random, now_ms);
                    sample.retain(|candidate| !taken.contains(&(db, candidate.key.clone())));
                    (db, sample)
                })
                .collect();
            let Some((db, key)) = choose(&mut self.pool, rank, &drawn, &mut self.random) else {
                if drawn.iter().all(|(_, sample)| sample.is_empty()) {
                    break;
                }
                continue;
            };
            if taken.contains(&(db, key.clone())) {
                continue;
            }
            let Some(cost_bytes) = engine.memory_usage(db, &key, now_ms) else {
                continue;
            };
            freed_bytes += cost_bytes;
            taken.insert((db, key.clone()));
            victims.push((db, key));
            if victims.len().is_multiple_of(16) && chosen_at.elapsed() > limit {
                timed_out = true;
                break;
            }
        }
        node.memory
            .set_evictable(!victims.is_empty() || !self.in_flight.is_empty());
        if victims.is_empty() {
            return Cycle::Stuck;
        }
        self.propose(node, victims, now_ms);
        if timed_out || freed_bytes < to_free_bytes {
            Cycle::Again
        } else {
            Cycle::Idle
        }
    }

    /// The cost of the victims in flight that are still there; forgets
    /// those gone or proposed too long ago.
    fn in_flight_bytes(&mut self, node: Node<'_>, now_ms: u64) -> u64 {
        while let Some((at, _, _)) = self.in_flight.front() {
            if now_ms.saturating_sub(*at) < IN_FLIGHT_MS {
                break;
            }
            self.in_flight.pop_front();
        }
        let mut total = 0;
        self.in_flight.retain(
            |(_, db, key)| match node.engine.memory_usage(*db, key, now_ms) {
                Some(cost) => {
                    total += cost;
                    true
                }
                None => false,
            },
        );
        total
    }

    fn forget(&mut self) {
        self.in_flight.clear();
        self.pool.clear();
    }

    /// Proposes the deletion of `victims`: one `Evict` per database, split
    /// so that none is much over an entry's byte target.
    fn propose(&mut self, node: Node<'_>, victims: Vec<(usize, Bytes)>, now_ms: u64) {
        // Writes are refused while the log cannot grow, so memory does not
        // grow either; the log's last room is kept for what is in flight.
        if node.raft.log_space_short().is_some() {
            return;
        }
        for (db, key) in &victims {
            self.in_flight.push_back((now_ms, *db, key.clone()));
        }
        while self.in_flight.len() > IN_FLIGHT_MAX {
            self.in_flight.pop_front();
        }
        node.write_path
            .propose_deletions(victims, ENTRY_BYTES_TARGET, |keys| WriteOp::Evict { keys });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Redis's `evictionTimeLimitUs` at a few tenacities.
    #[test]
    fn time_limits_follow_tenacity() {
        let cases: &[(u64, u128)] = &[
            (0, 0),
            (1, 50),
            (10, 500),
            (11, 575),
            (20, 2022),
            (50, 133_931),
        ];
        for &(tenacity, micros) in cases {
            assert_eq!(time_limit(tenacity).as_micros(), micros, "{tenacity}");
        }
        assert_eq!(time_limit(100), Duration::MAX);
    }
}
