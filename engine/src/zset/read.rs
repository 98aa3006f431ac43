//! Sorted set reads: they stream into a sink under the shard lock.
//!
//! Invariants:
//! - A bounded range (by rank, score or lex) is found with
//!   `partition_point` and read with `range`, never by walking the set.
//! - `WITHSCORES` replies are flat `[member, score, ...]` in RESP2 and
//!   `[[member, score], ...]` in RESP3, as Redis 7.0 sends them.
//! - `ZSCAN` of a set in its packed encoding returns everything at once
//!   with cursor 0, as Redis does for a listpack; otherwise the cursor is
//!   the order-preserving bits of the score to resume from (never 0), and
//!   a reply never splits the members of one score, so every element
//!   present for a whole scan is returned at least once.

use std::collections::HashSet;

use bytes::Bytes;

use super::algebra::compute;
use super::parse::{Algebra, AlgebraArgs, RandArgs, RangeArgs, RangeBy, ScanArgs};
use super::{compare, ZSet};
use crate::collection::{scan_reply_head, Kind};
use crate::key::KeyRef;
use crate::{format_double, glob_match, Engine, Error, Random, ReplySink, Value};

/// The sorted set in `value` (which `read_kind` checked).
fn zset_of(value: &Value) -> &ZSet {
    match value {
        Value::ZSet(zset) => zset,
        _ => unreachable!("read_kind checked the type"),
    }
}

/// Writes `len` elements, with their scores if asked, in the protocol's
/// shape.
fn emit_elements<'a>(
    sink: &mut impl ReplySink,
    elements: impl Iterator<Item = (f64, &'a [u8])>,
    len: usize,
    with_scores: bool,
) {
    let resp3 = sink.is_resp3();
    sink.array(if with_scores && !resp3 { len * 2 } else { len });
    for (score, member) in elements {
        if with_scores && resp3 {
            sink.array(2);
        }
        sink.bulk(member);
        if with_scores {
            sink.double(score);
        }
    }
}

/// Order-preserving bits of a score, never 0 (a `ZSCAN` cursor).
fn score_cursor(score: f64) -> u64 {
    let bits = score.to_bits();
    if score.is_sign_negative() {
        !bits
    } else {
        bits | 1 << 63
    }
}

/// The score a `ZSCAN` cursor resumes from.
fn cursor_score(cursor: u64) -> f64 {
    if cursor >> 63 == 1 {
        f64::from_bits(cursor & !(1 << 63))
    } else {
        f64::from_bits(!cursor)
    }
}

impl Engine {
    /// `ZSCORE key member`: the score as a double, or nil.
    pub fn zscore(
        &self,
        db: usize,
        key: &[u8],
        member: &[u8],
        now_ms: u64,
        sink: &mut impl ReplySink,
    ) {
        let read = self.read_kind(db, key, now_ms, Kind::ZSet, |value| {
            value.map(zset_of).and_then(|zset| zset.score(member))
        });
        match read {
            Ok(Some(score)) => sink.double(score),
            Ok(None) => sink.nil(),
            Err(error) => sink.error(&error),
        }
    }

    /// `ZMSCORE key member ...`: each score, or nil.
    pub fn zmscore(
        &self,
        db: usize,
        key: &[u8],
        members: &[Bytes],
        now_ms: u64,
        sink: &mut impl ReplySink,
    ) {
        let read = self.read_kind(db, key, now_ms, Kind::ZSet, |value| {
            let zset = value.map(zset_of);
            sink.array(members.len());
            for member in members {
                match zset.and_then(|zset| zset.score(member)) {
                    Some(score) => sink.double(score),
                    None => sink.nil(),
                }
            }
        });
        if let Err(error) = read {
            sink.error(&error);
        }
    }

    /// `ZCARD key`.
    pub fn zcard(&self, db: usize, key: &[u8], now_ms: u64, sink: &mut impl ReplySink) {
        let read = self.read_kind(db, key, now_ms, Kind::ZSet, |value| {
            value.map_or(0, |value| zset_of(value).len())
        });
        match read {
            Ok(len) => sink.int(len as i64),
            Err(error) => sink.error(&error),
        }
    }

    /// `ZCOUNT` (a score range) and `ZLEXCOUNT` (a lex range): how many
    /// elements lie in `range`, in O(log n).
    pub fn zcount(
        &self,
        db: usize,
        key: &[u8],
        range: &RangeBy,
        now_ms: u64,
        sink: &mut impl ReplySink,
    ) {
        let read = self.read_kind(db, key, now_ms, Kind::ZSet, |value| {
            value.map_or(0, |value| range.ranks(zset_of(value), false).len())
        });
        match read {
            Ok(count) => sink.int(count as i64),
            Err(error) => sink.error(&error),
        }
    }

    /// `ZRANK`/`ZREVRANK key member [WITHSCORE]` (`WITHSCORE` as Redis
    /// 7.2: `[rank, score]`, or a null array if the member is missing).
    #[allow(clippy::too_many_arguments)]
    pub fn zrank(
        &self,
        db: usize,
        key: &[u8],
        member: &[u8],
        rev: bool,
        with_score: bool,
        now_ms: u64,
        sink: &mut impl ReplySink,
    ) {
        let read = self.read_kind(db, key, now_ms, Kind::ZSet, |value| {
            let zset = value.map(zset_of)?;
            let rank = zset.rank(member)?;
            let (score, _) = zset
                .get_by_rank(rank)
                .expect("a member's rank is in the set");
            let rank = if rev { zset.len() - 1 - rank } else { rank };
            Some((rank, score))
        });
        match read {
            Ok(Some((rank, score))) if with_score => {
                sink.array(2);
                sink.int(rank as i64);
                sink.double(score);
            }
            Ok(Some((rank, _))) => sink.int(rank as i64),
            Ok(None) if with_score => sink.nil_array(),
            Ok(None) => sink.nil(),
            Err(error) => sink.error(&error),
        }
    }

    /// The `ZRANGE` family: the selected elements in order.
    pub fn zrange(
        &self,
        db: usize,
        key: &[u8],
        args: &RangeArgs,
        now_ms: u64,
        sink: &mut impl ReplySink,
    ) {
        let read = self.read_kind(db, key, now_ms, Kind::ZSet, |value| {
            let Some(zset) = value.map(zset_of) else {
                sink.array(0);
                return;
            };
            let ranks = args.query.ranks(zset);
            let len = ranks.len();
            let elements = zset.range(ranks);
            if args.query.rev {
                emit_elements(sink, elements.rev(), len, args.with_scores);
            } else {
                emit_elements(sink, elements, len, args.with_scores);
            }
        });
        if let Err(error) = read {
            sink.error(&error);
        }
    }

    /// `ZRANDMEMBER key [count [WITHSCORES]]`, drawing from `seed`.
    pub fn zrandmember(
        &self,
        db: usize,
        key: &[u8],
        args: RandArgs,
        seed: u64,
        now_ms: u64,
        sink: &mut impl ReplySink,
    ) {
        let read = self.read_kind(db, key, now_ms, Kind::ZSet, |value| {
            let mut random = Random::new(seed);
            match (value.map(zset_of), args.count) {
                (None, None) => sink.nil(),
                (None, Some(_)) => sink.array(0),
                (Some(zset), None) => {
                    let (_, member) = zset
                        .get_by_rank(random.below(zset.len()))
                        .expect("rank within the set");
                    sink.bulk(member);
                }
                (Some(zset), Some(count)) => {
                    random_members(zset, count, args.with_scores, &mut random, sink)
                }
            }
        });
        if let Err(error) = read {
            sink.error(&error);
        }
    }

    /// `ZSCAN key cursor [MATCH pattern] [COUNT count]`; `args` holds the
    /// option error, which Redis reports only after finding the key.
    pub fn zscan(
        &self,
        db: usize,
        key: &[u8],
        cursor: u64,
        args: Result<ScanArgs, Error>,
        now_ms: u64,
        sink: &mut impl ReplySink,
    ) {
        let read = self.read_kind(db, key, now_ms, Kind::ZSet, |value| {
            let Some(zset) = value.map(zset_of) else {
                scan_reply_head(sink, 0, 0);
                return;
            };
            match &args {
                Ok(args) => scan_page(zset, cursor, args, sink),
                Err(error) => sink.error(error),
            }
        });
        if let Err(error) = read {
            sink.error(&error);
        }
    }

    /// Whether every one of `keys` is missing, a sorted set or a set
    /// (else WRONGTYPE): the check Redis makes before reading a set
    /// operation's options.
    pub fn zalgebra_check(&self, db: usize, keys: &[Bytes], now_ms: u64) -> Result<(), Error> {
        let mut shards = self.lock_keys(db, keys.iter());
        for key in keys {
            let key = KeyRef::new(key);
            let entry = shards.shard(key).get_live(key, now_ms);
            if let Some(entry) = entry.as_deref() {
                if !matches!(entry.value, Value::ZSet(_) | Value::Set(_)) {
                    return Err(Error::WrongType);
                }
            }
        }
        Ok(())
    }

    /// `ZUNION`, `ZINTER`, `ZDIFF` (the result, in order) and
    /// `ZINTERCARD` (`card`: its size, up to the limit).
    pub fn zalgebra(
        &self,
        db: usize,
        args: &AlgebraArgs,
        card: bool,
        now_ms: u64,
        sink: &mut impl ReplySink,
    ) {
        let mut shards = self.lock_keys(db, args.keys.iter());
        let computed = compute(args, &mut shards, now_ms, true);
        drop(shards);
        let mut result = match computed {
            Ok(result) => result,
            Err(error) => return sink.error(&error),
        };
        if card {
            debug_assert_eq!(args.algebra, Algebra::Inter);
            let len = result.len() as u64;
            let len = if args.limit > 0 {
                len.min(args.limit)
            } else {
                len
            };
            return sink.int(len as i64);
        }
        result.sort_unstable_by(|a, b| compare((a.0, &a.1), (b.0, &b.1)));
        let len = result.len();
        let elements = result.iter().map(|(score, member)| (*score, &member[..]));
        emit_elements(sink, elements, len, args.with_scores);
    }
}

/// `ZRANDMEMBER` with a count: repeats allowed for a negative count,
/// else distinct members (the whole set if the count reaches its size).
fn random_members(
    zset: &ZSet,
    count: i64,
    with_scores: bool,
    random: &mut Random,
    sink: &mut impl ReplySink,
) {
    let len = zset.len();
    let wanted = count.unsigned_abs();
    if wanted == 0 {
        sink.array(0);
    } else if count < 0 || wanted == 1 {
        let wanted = if count < 0 {
            match crate::int_arg::random_repeats(count) {
                Ok(wanted) => wanted,
                Err(error) => return sink.error(&error),
            }
        } else {
            1
        };
        let draws = (0..wanted).map(|_| {
            zset.get_by_rank(random.below(len))
                .expect("rank within the set")
        });
        emit_elements(sink, draws, wanted, with_scores);
    } else if wanted >= len as u64 {
        // Redis returns a whole listpack from its tail.
        emit_elements(sink, zset.iter().rev(), len, with_scores);
    } else {
        // Floyd's sampling: `wanted` distinct ranks.
        let wanted = wanted as usize;
        let mut chosen = HashSet::with_capacity(wanted);
        let mut ranks = Vec::with_capacity(wanted);
        for top in len - wanted..len {
            let pick = random.below(top + 1);
            let rank = if chosen.insert(pick) { pick } else { top };
            chosen.insert(rank);
            ranks.push(rank);
        }
        // Redis returns a listpack's distinct picks in the set's order.
        ranks.sort_unstable();
        let picks = ranks
            .iter()
            .map(|&rank| zset.get_by_rank(rank).expect("rank within the set"));
        emit_elements(sink, picks, wanted, with_scores);
    }
}

/// Whether Redis would hold `zset` as a listpack, whose `ZSCAN` returns
/// everything at once: the packed encoding, or few enough elements
/// (`zset-max-listpack-entries`) for any encoding.
fn is_small(zset: &ZSet) -> bool {
    zset.encoding() == "listpack" || zset.len() <= super::ops::LISTPACK_ENTRIES_MAX
}

/// One `ZSCAN` reply from `cursor`.
fn scan_page(zset: &ZSet, cursor: u64, args: &ScanArgs, sink: &mut impl ReplySink) {
    let (ranks, next) = if is_small(zset) {
        (0..zset.len(), 0)
    } else {
        let start = if cursor == 0 {
            0
        } else {
            let from = cursor_score(cursor);
            zset.partition_point(|score, _| score < from)
        };
        let mut end = start.saturating_add(args.count).min(zset.len());
        // Never split one score's members between replies.
        if let Some((last, _)) = end.checked_sub(1).and_then(|at| zset.get_by_rank(at)) {
            end = end.max(zset.partition_point(|score, _| score <= last));
        }
        let next = zset
            .get_by_rank(end)
            .map_or(0, |(score, _)| score_cursor(score));
        (start..end, next)
    };
    let matching: Vec<(f64, &[u8])> = zset
        .range(ranks)
        .filter(|(_, member)| {
            args.pattern
                .as_ref()
                .is_none_or(|pattern| glob_match(pattern, member, false))
        })
        .collect();
    scan_reply_head(sink, next, matching.len() * 2);
    for (score, member) in matching {
        sink.bulk(member);
        sink.bulk(format_double(score).as_bytes());
    }
}
