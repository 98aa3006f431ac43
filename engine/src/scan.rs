//! Walks over a database: `KEYS`, `SCAN`, `RANDOMKEY`, and the search for
//! expired keys that feeds active expiry.
//!
//! A database's keys are in hash order across its shards (a shard is a
//! range of hash values), so a `SCAN` cursor is simply the hash position to
//! resume from. Keys never move, so any key present for the whole scan is
//! returned, whatever is inserted or deleted meanwhile.
//!
//! Invariants:
//! - A returned cursor is never 0 unless the scan is complete: it is the
//!   hash of a key not yet visited, which is greater than the hash of one
//!   already visited.
//! - A call never stops inside a run of keys with equal hashes, since the
//!   cursor could not point into the middle of one.
//! - Work per call is bounded: `COUNT` keys examined in `SCAN`,
//!   `RANDOM_SKIP_MAX` expired keys skipped and `RANDOM_SAMPLE` keys
//!   gathered in `RANDOMKEY`, `max` keys in
//!   `expired_candidates`.

use bytes::Bytes;

use crate::engine::{shard_of, shard_start, SHARDS_PER_DB};
use crate::{glob_match, Engine, Random, ReplySink, SmallBytes, DB_COUNT};

/// How many expired keys `RANDOMKEY` steps over before it gives up and
/// replies nil, or with what it has found (Redis similarly gives up after
/// 100 tries on a replica).
const RANDOM_SKIP_MAX: usize = 100;
/// How many consecutive live keys `RANDOMKEY` draws its key from.
const RANDOM_SAMPLE: usize = 16;

impl Engine {
    /// `KEYS pattern`: every live key matching the glob `pattern`.
    pub fn keys(&self, db: usize, pattern: &[u8], now_ms: u64, sink: &mut impl ReplySink) {
        let all = pattern == b"*";
        let mut found: Vec<SmallBytes> = Vec::new();
        for shard in 0..SHARDS_PER_DB {
            let shard = self.slot(db, shard).shard.lock();
            let live = shard
                .iter()
                .filter(|(_, _, entry)| !entry.is_expired(now_ms));
            found.extend(
                live.filter(|(_, key, _)| all || glob_match(pattern, key, false))
                    .map(|(_, key, _)| SmallBytes::from(key)),
            );
        }
        sink.array(found.len());
        for key in &found {
            sink.bulk(key);
        }
    }

    /// `SCAN cursor [MATCH pattern] [COUNT count] [TYPE type]`: replies
    /// `[next cursor, [keys...]]`; cursor "0" once the walk is complete.
    /// `count` keys are examined (at least one), plus any that share the
    /// last one's hash. `type_name` filters by `TYPE` name, ignoring case.
    #[allow(clippy::too_many_arguments)]
    pub fn scan(
        &self,
        db: usize,
        cursor: u64,
        pattern: Option<&[u8]>,
        count: usize,
        type_name: Option<&[u8]>,
        now_ms: u64,
        sink: &mut impl ReplySink,
    ) {
        let budget = count.max(1);
        let mut examined = 0;
        let mut found: Vec<SmallBytes> = Vec::new();
        let mut next = 0;
        let mut last_hash = None;
        'shards: for shard_index in shard_of(cursor)..SHARDS_PER_DB {
            let start = if shard_index == shard_of(cursor) {
                cursor
            } else {
                shard_start(shard_index)
            };
            let shard = self.slot(db, shard_index).shard.lock();
            for (hash, key, entry) in shard.range_from(start) {
                if examined >= budget && last_hash != Some(hash) {
                    next = hash;
                    break 'shards;
                }
                examined += 1;
                last_hash = Some(hash);
                let wanted = !entry.is_expired(now_ms)
                    && pattern.is_none_or_match(key)
                    && type_matches(type_name, entry.type_name());
                if wanted {
                    found.push(SmallBytes::from(key));
                }
            }
        }
        assert!(
            next == 0 || last_hash.is_some_and(|last| last < next),
            "scan cursor must move forward"
        );
        sink.array(2);
        sink.bulk(itoa::Buffer::new().format(next).as_bytes());
        sink.array(found.len());
        for key in &found {
            sink.bulk(key);
        }
    }

    /// `RANDOMKEY`: a live key drawn with `seed`, or nil if there is none.
    ///
    /// Keys sit at their hash positions, so the first key at or after a
    /// random position would be drawn in proportion to the gap before it
    /// (some keys several times as often as others). Like Redis's
    /// `dictGetFairRandomKey`, this gathers up to [`RANDOM_SAMPLE`] live
    /// keys from a random position on (wrapping around) and picks one of
    /// them at random, which evens the gaps out.
    pub fn random_key(&self, db: usize, now_ms: u64, seed: u64, sink: &mut impl ReplySink) {
        let mut random = Random::new(seed);
        let start = random.next_u64();
        let mut sample: Vec<SmallBytes> = Vec::with_capacity(RANDOM_SAMPLE);
        let mut skipped = 0;
        let first = shard_of(start);
        // The start's shard twice: from the start on, then (after
        // wrapping) its keys before the start.
        'shards: for step in 0..=SHARDS_PER_DB {
            let index = (first + step) % SHARDS_PER_DB;
            let from = if step == 0 { start } else { shard_start(index) };
            let shard = self.slot(db, index).shard.lock();
            for (hash, key, entry) in shard.range_from(from) {
                if step == SHARDS_PER_DB && hash >= start {
                    break 'shards;
                }
                if entry.is_expired(now_ms) {
                    skipped += 1;
                    if skipped >= RANDOM_SKIP_MAX {
                        break 'shards;
                    }
                    continue;
                }
                sample.push(SmallBytes::from(key));
                if sample.len() == RANDOM_SAMPLE {
                    break 'shards;
                }
            }
        }
        if sample.is_empty() {
            sink.nil();
        } else {
            sink.bulk(&sample[random.below(sample.len())]);
        }
    }

    /// Up to `max` keys, across all databases, whose expiry is at or before
    /// `now_ms`: what the leader proposes as `WriteOp::PurgeExpired` (one
    /// op per database). Successive calls start where the last one stopped,
    /// so every shard gets its turn.
    pub fn expired_candidates(&self, now_ms: u64, max: usize) -> Vec<(usize, Bytes)> {
        let total = DB_COUNT * SHARDS_PER_DB;
        let first = self
            .expiry_cursor
            .load(std::sync::atomic::Ordering::Relaxed)
            % total;
        let mut found = Vec::new();
        for step in 0..total {
            let index = (first + step) % total;
            let (db, shard) = (index / SHARDS_PER_DB, index % SHARDS_PER_DB);
            let shard = self.slot(db, shard).shard.lock();
            let room = max - found.len();
            let due = shard.due(now_ms).take(room);
            found.extend(due.map(|key| (db, key.to_bytes())));
            if found.len() >= max {
                self.expiry_cursor
                    .store(index, std::sync::atomic::Ordering::Relaxed);
                break;
            }
        }
        found
    }
}

/// `TYPE` is optional and compared ignoring case, as Redis does.
fn type_matches(wanted: Option<&[u8]>, actual: &str) -> bool {
    match wanted {
        None => true,
        Some(name) => name.eq_ignore_ascii_case(actual.as_bytes()),
    }
}

/// `MATCH` is optional; no pattern matches everything.
trait OptionalPattern {
    fn is_none_or_match(&self, key: &[u8]) -> bool;
}

impl OptionalPattern for Option<&[u8]> {
    fn is_none_or_match(&self, key: &[u8]) -> bool {
        match self {
            None => true,
            Some(b"*") => true,
            Some(pattern) => glob_match(pattern, key, false),
        }
    }
}
