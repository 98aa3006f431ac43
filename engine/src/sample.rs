//! Keys drawn at random for eviction: what the leader looks at when it
//! chooses victims under `maxmemory` (the server's `evict/`).
//!
//! Like Redis's `dictGetSomeKeys`/`evictionPoolPopulate`, a sample is a few
//! keys from random places, with what a policy ranks them by: the idle time
//! (LRU) and the expiry (TTL). Sampling reads this node's own view (access
//! times are local) and changes nothing; the victims chosen from it are
//! deleted by a proposed `WriteOp::Evict`, never here.
//!
//! Invariants:
//! - Only live keys (not expired at `now_ms`) are drawn, and with
//!   `volatile` only keys that have an expiry.
//! - A sample holds at most `count` keys and looks at a bounded number of
//!   shards and entries, however sparse the database.

use bytes::Bytes;

use crate::engine::{shard_of, SHARDS_PER_DB, SHARD_BITS};
use crate::key::KeyRef;
use crate::lru::{idle_seconds, lfu_settings, lru_clock};
use crate::{Engine, Random};

/// Entries a draw walks past (expired ones) before it gives up.
const SKIP_MAX: usize = 64;
/// Entries a draw of a key with an expiry walks by hash before it falls
/// back to the expiry index.
const WALK_MAX: usize = 32;

/// The LFU decay time in effect (none while LFU tracking is off).
fn decay_time_min() -> u64 {
    lfu_settings().map_or(0, |(_, decay_time_min)| decay_time_min)
}

/// One sampled key, with what eviction policies rank it by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub key: Bytes,
    /// Seconds since this node last read or wrote it (`OBJECT IDLETIME`).
    pub idle_s: u64,
    /// Its expiry, as a Unix time in milliseconds.
    pub expires_at_ms: Option<u64>,
    /// Its LFU counter, decayed to now (`OBJECT FREQ`; meaningful while
    /// LFU tracking is on).
    pub frequency: u8,
}

impl Engine {
    /// Up to `count` live keys of `db` from random places drawn with
    /// `random` (keys with an expiry only, if `volatile`). A key may be
    /// drawn twice. Empty when the database holds no such key.
    pub fn eviction_sample(
        &self,
        db: usize,
        volatile: bool,
        count: usize,
        random: &mut Random,
        now_ms: u64,
    ) -> Vec<Candidate> {
        let mut sample = Vec::with_capacity(count);
        // Twice the draws asked for, so a few misses (an empty stretch,
        // expired keys) still fill the sample; never unbounded.
        for _ in 0..count.saturating_mul(2) {
            if sample.len() == count {
                break;
            }
            let drawn = if volatile {
                self.draw_expiring(db, random, now_ms, count - sample.len())
            } else {
                self.draw_any(db, random.next_u64(), now_ms)
                    .into_iter()
                    .collect()
            };
            if drawn.is_empty() {
                // The walk went round every shard: nothing to draw.
                break;
            }
            sample.extend(drawn);
        }
        sample
    }

    /// The first live key at or after the hash `start`, wrapping around
    /// the database once.
    fn draw_any(&self, db: usize, start: u64, now_ms: u64) -> Option<Candidate> {
        let clock = lru_clock(now_ms);
        let first = shard_of(start);
        let mut skipped = 0;
        for step in 0..=SHARDS_PER_DB {
            let index = (first + step) % SHARDS_PER_DB;
            let from = if step == 0 {
                start
            } else {
                crate::engine::shard_start(index)
            };
            let shard = self.slot(db, index).shard.lock();
            for (hash, key, entry) in shard.range_from(from) {
                if step == SHARDS_PER_DB && hash >= start {
                    return None;
                }
                if entry.is_expired(now_ms) {
                    skipped += 1;
                    if skipped >= SKIP_MAX {
                        return None;
                    }
                    continue;
                }
                return Some(Candidate {
                    key: Bytes::copy_from_slice(key),
                    idle_s: idle_seconds(clock, entry.lru().get()),
                    expires_at_ms: entry.expires_at_ms(),
                    frequency: entry.lru().frequency(clock, decay_time_min()),
                });
            }
        }
        None
    }

    /// Up to `want` live keys with an expiry from the first shard at or
    /// after a random one that has one. Where keys with an expiry are at
    /// least an eighth of the shard, those that follow a random hash (a
    /// walk of a few entries; a run of several, as Redis's
    /// `dictGetSomeKeys` takes, evens out the gaps between hashes that
    /// would favour the key after a wide one); else one random entry of the
    /// shard's expiry index (a walk of the index, O(its length)).
    fn draw_expiring(
        &self,
        db: usize,
        random: &mut Random,
        now_ms: u64,
        want: usize,
    ) -> Vec<Candidate> {
        let mut drawn = Vec::new();
        let clock = lru_clock(now_ms);
        let first = random.below(SHARDS_PER_DB);
        for step in 0..SHARDS_PER_DB {
            let index = (first + step) % SHARDS_PER_DB;
            let shard = self.slot(db, index).shard.lock();
            let len = shard.expires_len();
            if len == 0 {
                continue;
            }
            if len * 8 >= shard.len() {
                // A random hash within this shard, then on (wrapping to the
                // shard's start once).
                let from = crate::engine::shard_start(index) | (random.next_u64() >> SHARD_BITS);
                let after = shard.range_from(from).take(WALK_MAX);
                let before = shard
                    .range_from(crate::engine::shard_start(index))
                    .take_while(|(hash, _, _)| *hash < from)
                    .take(WALK_MAX);
                for (_, key, entry) in after.chain(before) {
                    if let Some(at) = entry.expires_at_ms().filter(|at| *at > now_ms) {
                        drawn.push(Candidate {
                            key: Bytes::copy_from_slice(key),
                            idle_s: idle_seconds(clock, entry.lru().get()),
                            expires_at_ms: Some(at),
                            frequency: entry.lru().frequency(clock, decay_time_min()),
                        });
                        if drawn.len() == want {
                            break;
                        }
                    }
                }
                if !drawn.is_empty() {
                    return drawn;
                }
            }
            let (at, key) = shard.expiring(random.below(len));
            if at <= now_ms {
                // Due for active expiry, which deletes it anyway.
                continue;
            }
            let lru = shard
                .access(KeyRef::new(key))
                .expect("an indexed key is stored");
            drawn.push(Candidate {
                key: key.to_bytes(),
                idle_s: idle_seconds(clock, lru.get()),
                expires_at_ms: Some(at),
                frequency: lru.frequency(clock, decay_time_min()),
            });
            return drawn;
        }
        drawn
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{SetCondition, TtlChange, WriteOp};

    /// Sets `key` at `now_ms - 1`, expiring `ttl_ms` after `now_ms`.
    fn set(engine: &Engine, key: &str, ttl_ms: Option<u64>, now_ms: u64) {
        let ttl = match ttl_ms {
            Some(ms) => TtlChange::AtMs((now_ms + ms) as i64),
            None => TtlChange::Clear,
        };
        let op = WriteOp::Set {
            key: Bytes::from(key.to_string()),
            value: Bytes::from_static(b"v"),
            condition: SetCondition::Always,
            ttl,
            get: false,
        };
        engine.apply(0, &op, now_ms - 1);
    }

    /// Each case: keys with their TTL (ms; none for persistent), the
    /// sample's kind and the keys it may hold.
    #[test]
    fn samples_hold_only_the_keys_the_kind_allows() {
        let now_ms = 1_700_000_000_000;
        type Case = (
            &'static [(&'static str, Option<u64>)],
            bool,
            &'static [&'static str],
        );
        let cases: &[Case] = &[
            (&[], false, &[]),
            (&[], true, &[]),
            (&[("a", None), ("b", None)], true, &[]),
            (&[("a", None), ("b", Some(10_000))], true, &["b"]),
            (&[("a", None), ("b", Some(10_000))], false, &["a", "b"]),
            // Expired (but not yet purged) keys are never drawn.
            (&[("a", None), ("gone", Some(0))], false, &["a"]),
            (&[("a", None), ("gone", Some(0))], true, &[]),
        ];
        for (keys, volatile, allowed) in cases {
            let engine = Engine::new();
            for (key, ttl_ms) in *keys {
                set(&engine, key, *ttl_ms, now_ms);
            }
            let mut random = Random::new(7);
            let sample = engine.eviction_sample(0, *volatile, 5, &mut random, now_ms);
            for candidate in &sample {
                assert!(
                    allowed.contains(&&*String::from_utf8_lossy(&candidate.key)),
                    "{candidate:?} drawn from {keys:?} (volatile {volatile})"
                );
            }
            assert_eq!(sample.is_empty(), allowed.is_empty(), "{keys:?} {volatile}");
        }
    }

    /// Few keys with an expiry among many (the expiry index is walked) or
    /// many (runs after random hashes): only they are drawn, all of them.
    #[test]
    fn volatile_samples_find_sparse_and_dense_expiring_keys() {
        let now_ms = 1_700_000_000_000;
        for (persistent, expiring) in [(2000, 3), (50, 500)] {
            let engine = Engine::new();
            for n in 0..persistent {
                set(&engine, &format!("p{n}"), None, now_ms);
            }
            for n in 0..expiring {
                set(&engine, &format!("e{n}"), Some(60_000), now_ms);
            }
            let mut random = Random::new(3);
            let mut seen = std::collections::HashSet::new();
            for _ in 0..2000 {
                for candidate in engine.eviction_sample(0, true, 5, &mut random, now_ms) {
                    assert!(candidate.key.starts_with(b"e"), "{candidate:?}");
                    seen.insert(candidate.key);
                }
            }
            assert_eq!(seen.len(), expiring, "{persistent} persistent keys");
        }
    }

    #[test]
    fn samples_spread_over_the_keys() {
        let engine = Engine::new();
        let now_ms = 1_700_000_000_000;
        for n in 0..100 {
            set(&engine, &format!("k{n}"), Some(60_000), now_ms);
        }
        for volatile in [false, true] {
            let mut random = Random::new(1);
            let mut seen = std::collections::HashSet::new();
            for _ in 0..100 {
                for candidate in engine.eviction_sample(0, volatile, 5, &mut random, now_ms) {
                    assert_eq!(candidate.expires_at_ms, Some(now_ms + 60_000));
                    seen.insert(candidate.key);
                }
            }
            assert!(seen.len() > 80, "only {} keys drawn", seen.len());
        }
    }
}
