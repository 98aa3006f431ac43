//! Set reads: they stream into a sink under the shard lock(s).
//!
//! Invariants:
//! - Each looked-up key counts one keyspace hit or miss.
//! - A key of another type replies WRONGTYPE before anything else is
//!   written; `SSCAN`'s option errors come after the key's type check, as
//!   in Redis.
//! - Random replies draw only from the seed the caller passes.

use std::collections::HashSet;

use bytes::Bytes;

use super::algebra::{self, Algebra, ReadSources};
use super::{Member, Set};
use crate::collection::{scan_reply_head, Kind};
use crate::{glob_match, key_hash, Engine, Error, Random, ReplySink, SmallBytes, Value};

/// The set in `value` (which `read_kind` checked).
fn set_of(value: &Value) -> &Set {
    match value {
        Value::Set(set) => set,
        _ => unreachable!("read_kind checked the type"),
    }
}

/// Attempts per wanted member before a distinct sample falls back to a
/// shuffle of the whole set (a bound on the work of unlucky draws).
const SAMPLE_ATTEMPTS_PER_MEMBER: usize = 16;

impl Engine {
    /// Runs `read` on the set at `key` (`None` if missing) with the
    /// sink, or replies WRONGTYPE.
    fn read_set<S: ReplySink>(
        &self,
        db: usize,
        key: &[u8],
        now_ms: u64,
        sink: &mut S,
        read: impl FnOnce(Option<&Set>, &mut S),
    ) {
        let result = self.read_kind(db, key, now_ms, Kind::Set, |value| {
            read(value.map(set_of), sink)
        });
        if let Err(error) = result {
            sink.error(&error);
        }
    }

    /// `SMEMBERS`: every member (a RESP3 set).
    pub fn smembers(&self, db: usize, key: &[u8], now_ms: u64, sink: &mut impl ReplySink) {
        self.read_set(db, key, now_ms, sink, |set, sink| match set {
            None => sink.set(0),
            Some(set) => emit_set(set, sink),
        });
    }

    /// `SCARD`: the number of members, 0 if missing.
    pub fn scard(&self, db: usize, key: &[u8], now_ms: u64, sink: &mut impl ReplySink) {
        self.read_set(db, key, now_ms, sink, |set, sink| {
            sink.int(set.map_or(0, Set::len) as i64);
        });
    }

    /// `SISMEMBER`: 1 if `member` is in the set, else 0.
    pub fn sismember(
        &self,
        db: usize,
        key: &[u8],
        member: &[u8],
        now_ms: u64,
        sink: &mut impl ReplySink,
    ) {
        self.read_set(db, key, now_ms, sink, |set, sink| {
            sink.int(i64::from(set.is_some_and(|set| set.contains(member))));
        });
    }

    /// `SMISMEMBER`: 1 or 0 for each of `members`.
    pub fn smismember(
        &self,
        db: usize,
        key: &[u8],
        members: &[Bytes],
        now_ms: u64,
        sink: &mut impl ReplySink,
    ) {
        self.read_set(db, key, now_ms, sink, |set, sink| {
            sink.array(members.len());
            for member in members {
                sink.int(i64::from(set.is_some_and(|set| set.contains(member))));
            }
        });
    }

    /// `SRANDMEMBER key` (`count: None`: a member or nil) and
    /// `SRANDMEMBER key count`: with a negative count, that many draws
    /// that may repeat; with a positive one, up to that many distinct
    /// members. Draws from `seed`.
    pub fn srandmember(
        &self,
        db: usize,
        key: &[u8],
        count: Option<i64>,
        seed: u64,
        now_ms: u64,
        sink: &mut impl ReplySink,
    ) {
        self.read_set(db, key, now_ms, sink, |set, sink| {
            let mut random = Random::new(seed);
            match (set, count) {
                (None, None) => sink.nil(),
                (Some(set), None) => sink.bulk(&set.random_member(&mut random)),
                (None, Some(_)) | (Some(_), Some(0)) => sink.array(0),
                (Some(set), Some(count)) if count < 0 => {
                    let draws = match crate::int_arg::random_repeats(count) {
                        Ok(draws) => draws,
                        Err(error) => return sink.error(&error),
                    };
                    sink.array(draws);
                    for _ in 0..draws {
                        sink.bulk(&set.random_member(&mut random));
                    }
                }
                (Some(set), Some(count)) if count as u64 >= set.len() as u64 => {
                    sink.array(set.len());
                    for member in set.members() {
                        sink.bulk(&member);
                    }
                }
                (Some(set), Some(count)) => {
                    let sample = sample_distinct(set, count as usize, &mut random);
                    sink.array(sample.len());
                    for member in &sample {
                        sink.bulk(member);
                    }
                }
            }
        });
    }

    /// `SSCAN key cursor [MATCH pattern] [COUNT count]`: `options` is the
    /// parsed (pattern, count), or the error they gave, which Redis
    /// reports only once it has found a set at `key`. A missing key is an
    /// empty, finished scan.
    pub fn sscan(
        &self,
        db: usize,
        key: &[u8],
        cursor: u64,
        options: Result<(Option<&[u8]>, usize), Error>,
        now_ms: u64,
        sink: &mut impl ReplySink,
    ) {
        self.read_set(db, key, now_ms, sink, |set, sink| {
            let Some(set) = set else {
                scan_reply_head(sink, 0, 0);
                return;
            };
            let (pattern, count) = match options {
                Ok(options) => options,
                Err(error) => return sink.error(&error),
            };
            let pattern = pattern.filter(|pattern| *pattern != b"*");
            let mut found: Vec<SmallBytes> = Vec::new();
            let next = set.scan(cursor, count.max(1), |member| {
                if pattern.is_none_or(|pattern| glob_match(pattern, member, false)) {
                    found.push(SmallBytes::from(member));
                }
            });
            scan_reply_head(sink, next, found.len());
            for member in &found {
                sink.bulk(member);
            }
        });
    }

    /// `SUNION`: the union of the sets at `keys` (a RESP3 set).
    pub fn sunion(&self, db: usize, keys: &[Bytes], now_ms: u64, sink: &mut impl ReplySink) {
        self.set_algebra(db, keys, Algebra::Union, now_ms, sink);
    }

    /// `SINTER`: the intersection of the sets at `keys` (a RESP3 set).
    pub fn sinter(&self, db: usize, keys: &[Bytes], now_ms: u64, sink: &mut impl ReplySink) {
        self.set_algebra(db, keys, Algebra::Inter, now_ms, sink);
    }

    /// `SDIFF`: the members of the first set that no other has (a RESP3
    /// set).
    pub fn sdiff(&self, db: usize, keys: &[Bytes], now_ms: u64, sink: &mut impl ReplySink) {
        self.set_algebra(db, keys, Algebra::Diff, now_ms, sink);
    }

    fn set_algebra(
        &self,
        db: usize,
        keys: &[Bytes],
        algebra: Algebra,
        now_ms: u64,
        sink: &mut impl ReplySink,
    ) {
        let mut sources = ReadSources {
            shards: self.lock_keys(db, keys.iter()),
            now_ms,
            counting: true,
        };
        match algebra::combine(&mut sources, keys, algebra) {
            Ok(result) => emit_set(&result, sink),
            Err(error) => sink.error(&error),
        }
    }

    /// `SINTERCARD`: the size of the intersection of the sets at `keys`,
    /// at most `limit` unless it is 0.
    pub fn sintercard(
        &self,
        db: usize,
        keys: &[Bytes],
        limit: u64,
        now_ms: u64,
        sink: &mut impl ReplySink,
    ) {
        let mut sources = ReadSources {
            shards: self.lock_keys(db, keys.iter()),
            now_ms,
            counting: true,
        };
        let sizes = match algebra::sizes(&mut sources, keys) {
            Ok(sizes) => sizes,
            Err(error) => return sink.error(&error),
        };
        let len = algebra::intersection(&mut sources, keys, &sizes).len() as u64;
        let len = if limit == 0 { len } else { len.min(limit) };
        sink.int(len as i64);
    }
}

/// Writes `set` as a RESP3 set (an array in RESP2), in its order.
fn emit_set(set: &Set, sink: &mut impl ReplySink) {
    sink.set(set.len());
    for member in set.members() {
        sink.bulk(&member);
    }
}

/// `count` distinct members of `set` (`0 < count < len`), drawn with
/// `random`: by repeated draws while `count` is small against the set,
/// else (or if the draws keep repeating) by a partial shuffle of all.
fn sample_distinct<'a>(set: &'a Set, count: usize, random: &mut Random) -> Vec<Member<'a>> {
    let len = set.len();
    if count * 3 <= len {
        let mut seen = HashSet::with_capacity(count);
        let mut picked = Vec::with_capacity(count);
        for _ in 0..count * SAMPLE_ATTEMPTS_PER_MEMBER {
            let member = set.random_member(random);
            if seen.insert(key_hash(&member)) {
                picked.push(member);
                if picked.len() == count {
                    return picked;
                }
            }
        }
    }
    let mut all: Vec<Member<'a>> = set.members().collect();
    for index in 0..count {
        let other = index + random.below(len - index);
        all.swap(index, other);
    }
    all.truncate(count);
    all
}
