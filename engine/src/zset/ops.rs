//! Sorted set writes: the validated ops and their deterministic apply.
//!
//! Invariants:
//! - A write that empties a sorted set deletes its key; a `*STORE` with an
//!   empty result deletes its destination (whatever its type).
//! - Multi-key writes lock every shard they touch up front.
//! - Replies are Redis 7.0's, including the RESP3 shapes the op records
//!   (`Pop::resp3`), so every node answers alike.

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::algebra::compute;
use super::parse::{self, AddOptions, AlgebraArgs, AlgebraError, RandArgs, RangeArgs, RangeBy};
use super::parse::{RangeQuery, ScanArgs};
use super::ZSet;
use crate::collection::{find_for_write, new_entry, remove_if_empty, Kind};
use crate::key::KeyRef;
use crate::shard::Shard;
use crate::{Engine, Error, Reply, Value};

/// One validated sorted set write.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ZSetOp {
    /// `ZADD` and `ZINCRBY` (`options.incr`). Scores are never NaN; with
    /// `incr` there is exactly one pair.
    Add {
        key: Bytes,
        options: AddOptions,
        members: Vec<(f64, Bytes)>,
    },
    /// `ZREM`: the number removed.
    Remove { key: Bytes, members: Vec<Bytes> },
    /// `ZREMRANGEBYRANK`, `ZREMRANGEBYSCORE`, `ZREMRANGEBYLEX`.
    RemoveRange { key: Bytes, range: RangeBy },
    /// `ZRANGESTORE dst src ...`: the size of the stored result.
    RangeStore {
        dst: Bytes,
        src: Bytes,
        query: RangeQuery,
    },
    /// `ZPOPMIN`/`ZPOPMAX key [count]`. The reply is the non-blocking one:
    /// an empty array for a missing key or a count of 0; else without a
    /// count a flat `[member, score]`, with one a flat `[m1, s1, m2, s2,
    /// ...]` in RESP2 and nested `[[m1, s1], ...]` in RESP3 (`resp3`).
    Pop {
        key: Bytes,
        max: bool,
        count: Option<u64>,
        resp3: bool,
    },
    /// `ZMPOP numkeys key ... MIN|MAX [COUNT count]`: pops from the first
    /// non-empty key; replies `[key, [[member, score], ...]]`, or a null
    /// array when every key is missing. A key of another type met before
    /// a sorted set is WRONGTYPE.
    MPop {
        keys: Vec<Bytes>,
        max: bool,
        count: u64,
    },
    /// `BZPOPMIN`/`BZPOPMAX` once its keys are looked at: pops one member
    /// from the first non-empty key; replies `[key, member, score]`, or a
    /// null array when every key is missing (the client then blocks).
    PopFirst { keys: Vec<Bytes>, max: bool },
    /// `ZUNIONSTORE`, `ZINTERSTORE`, `ZDIFFSTORE`.
    Store { dst: Bytes, args: AlgebraArgs },
}

/// The argument parsers (the server's command parsers call these, so the query
/// types need no public path of their own).
impl ZSetOp {
    /// `ZADD key ...` (`args` starts at the key).
    pub fn parse_zadd(args: &[Bytes]) -> Result<ZSetOp, Error> {
        parse::parse_zadd(args)
    }

    /// `ZINCRBY key increment member`.
    pub fn parse_zincrby(args: &[Bytes]) -> Result<ZSetOp, Error> {
        parse::parse_zincrby(args)
    }

    /// A score as `ZADD` reads it (`None`: "not a valid float").
    pub fn parse_score(text: &[u8]) -> Option<f64> {
        super::bounds::parse_score(text)
    }

    /// The `ZRANGE`-family `command`'s arguments from its range on.
    pub fn parse_range(command: &str, args: &[Bytes]) -> Result<RangeArgs, Error> {
        parse::parse_range(command, args)
    }

    /// `ZREMRANGEBY{RANK,SCORE,LEX}` (`by`: "rank", "score" or "lex")
    /// `key min max`.
    pub fn parse_remove_range(by: &str, args: &[Bytes]) -> Result<ZSetOp, Error> {
        let (min, max) = (&args[1], &args[2]);
        let range = match by {
            "rank" => RangeBy::Rank {
                start: crate::int_arg::LONG.parse(min)?,
                stop: crate::int_arg::LONG.parse(max)?,
            },
            "score" => RangeBy::Score(parse::parse_score_range(min, max)?),
            _ => RangeBy::Lex(parse::parse_lex_range(min, max)?),
        };
        Ok(ZSetOp::RemoveRange {
            key: Bytes::copy_from_slice(&args[0]),
            range,
        })
    }

    /// A score range (`ZCOUNT`), or "min or max is not a float".
    pub fn parse_score_range(min: &[u8], max: &[u8]) -> Result<RangeBy, Error> {
        parse::parse_score_range(min, max).map(RangeBy::Score)
    }

    /// A lex range (`ZLEXCOUNT`), or "min or max not valid string range
    /// item".
    pub fn parse_lex_range(min: &[u8], max: &[u8]) -> Result<RangeBy, Error> {
        parse::parse_lex_range(min, max).map(RangeBy::Lex)
    }

    /// A set operation's arguments from numkeys on.
    pub fn parse_algebra(command: &str, args: &[Bytes]) -> Result<AlgebraArgs, AlgebraError> {
        parse::parse_algebra(command, args)
    }

    /// `ZPOPMIN`/`ZPOPMAX`'s optional count.
    pub fn parse_pop_count(arg: Option<&Bytes>) -> Result<Option<u64>, Error> {
        parse::parse_pop_count(arg)
    }

    /// `ZMPOP`'s arguments from numkeys on.
    pub fn parse_zmpop(args: &[Bytes]) -> Result<ZSetOp, Error> {
        parse::parse_zmpop(args)
    }

    /// `ZRANDMEMBER`'s arguments after the key.
    pub fn parse_zrandmember(args: &[Bytes]) -> Result<RandArgs, Error> {
        parse::parse_zrandmember(args)
    }

    /// `ZSCAN`'s options after the cursor.
    pub fn parse_zscan(args: &[Bytes]) -> Result<ScanArgs, Error> {
        parse::parse_zscan(args)
    }
}

/// The sorted set in a value known to be one.
fn zset_mut(value: &mut Value) -> &mut ZSet {
    match value {
        Value::ZSet(zset) => zset,
        _ => unreachable!("checked to be a sorted set"),
    }
}

/// What `zsetAdd` did with one member.
enum Added {
    New,
    Updated,
    /// Nothing changed, but the member counts as processed (same score).
    Same,
    /// A condition (NX, XX, GT, LT) skipped it.
    Skipped,
}

/// Redis's `zsetAdd` for one member; returns what happened and the
/// member's score after it. `Err` when an increment makes NaN.
fn add_one(
    zset: &mut ZSet,
    score: f64,
    member: &[u8],
    options: AddOptions,
) -> Result<(Added, f64), Error> {
    let Some(current) = zset.score(member) else {
        if options.xx {
            return Ok((Added::Skipped, score));
        }
        zset.insert(score, member);
        return Ok((Added::New, score));
    };
    if options.nx {
        return Ok((Added::Skipped, current));
    }
    let score = if options.incr {
        let sum = current + score;
        if sum.is_nan() {
            return Err(Error::Other("ERR resulting score is not a number (NaN)"));
        }
        sum
    } else {
        score
    };
    if (options.lt && score >= current) || (options.gt && score <= current) {
        return Ok((Added::Skipped, current));
    }
    // Equal scores (including 0 and -0) leave the stored one alone.
    if score == current {
        return Ok((Added::Same, score));
    }
    zset.insert(score, member);
    Ok((Added::Updated, score))
}

/// Redis's default `zset-max-listpack-entries`.
pub(crate) const LISTPACK_ENTRIES_MAX: usize = 128;

/// Turns -0 scores into 0 in a set in the packed encoding: Redis stores a
/// listpack score that is an integer as one (`double2ll`), which loses
/// the sign of a zero. O(log n + zeros), on a set of at most a listpack's
/// size.
fn normalize_zeros(zset: &mut ZSet) {
    if zset.encoding() != "listpack" {
        return;
    }
    let start = zset.partition_point(|score, _| score < 0.0);
    let end = zset.partition_point(|score, _| score <= 0.0);
    let mut member = Vec::new();
    for rank in start..end {
        let (score, at) = zset.get_by_rank(rank).expect("rank within the set");
        if score.is_sign_negative() {
            member.clear();
            member.extend_from_slice(at);
            // -0 and 0 compare equal: the member keeps its rank.
            zset.insert(0.0, &member);
        }
    }
}

/// Removes and returns up to `count` elements from the low (or high,
/// `max`) end of `zset`, in pop order.
fn pop_from(zset: &mut ZSet, max: bool, count: u64) -> Vec<(f64, Bytes)> {
    let count = usize::try_from(count).unwrap_or(usize::MAX).min(zset.len());
    let mut popped = Vec::with_capacity(count);
    for _ in 0..count {
        let rank = if max { zset.len() - 1 } else { 0 };
        let (score, member) = zset.get_by_rank(rank).expect("rank within the set");
        let member = Bytes::copy_from_slice(member);
        zset.remove(&member);
        popped.push((score, member));
    }
    popped
}

/// Stores `result` at `dst` in `shard` (replacing any value and expiry),
/// or deletes `dst` if `result` is empty; returns the size stored.
pub(crate) fn store_result(shard: &mut Shard, dst: &Bytes, mut result: ZSet, now_ms: u64) -> Reply {
    normalize_zeros(&mut result);
    let dst_ref = KeyRef::new(dst);
    let place = shard.find_for_write(dst_ref, now_ms);
    let len = result.len();
    if len == 0 {
        if let Ok(found) = place {
            shard.remove_at(found);
        }
    } else {
        shard.put(place, dst, new_entry(Value::ZSet(result)));
    }
    Reply::Int(len as i64)
}

impl Engine {
    pub(crate) fn apply_zset(&self, db: usize, op: &ZSetOp, now_ms: u64) -> Result<Reply, Error> {
        match op {
            ZSetOp::Add {
                key,
                options,
                members,
            } => self.zadd(db, key, *options, members, now_ms),
            ZSetOp::Remove { key, members } => self.zrem(db, key, members, now_ms),
            ZSetOp::RemoveRange { key, range } => self.zremrange(db, key, range, now_ms),
            ZSetOp::RangeStore { dst, src, query } => self.zrangestore(db, dst, src, query, now_ms),
            ZSetOp::Pop {
                key,
                max,
                count,
                resp3,
            } => self.zpop(db, key, *max, *count, *resp3, now_ms),
            ZSetOp::MPop { keys, max, count } => self.zmpop(db, keys, *max, *count, now_ms),
            // ZMPOP's `[key, [[member, score]]]`, flattened twice.
            ZSetOp::PopFirst { keys, max } => self
                .zmpop(db, keys, *max, 1, now_ms)
                .map(|reply| reply.flatten_last().flatten_last()),
            ZSetOp::Store { dst, args } => self.zstore(db, dst, args, now_ms),
        }
    }

    fn zadd(
        &self,
        db: usize,
        key: &Bytes,
        options: AddOptions,
        members: &[(f64, Bytes)],
        now_ms: u64,
    ) -> Result<Reply, Error> {
        let key_ref = KeyRef::new(key);
        let mut shard = self.slot_of(db, key_ref).shard.lock();
        let found = match find_for_write(&mut shard, key_ref, now_ms, Kind::ZSet)? {
            Ok(found) => found,
            Err(_) if options.xx => {
                return Ok(if options.incr {
                    Reply::Nil
                } else {
                    Reply::Int(0)
                });
            }
            Err(vacant) => shard.insert_at(vacant, key, new_entry(Value::ZSet(ZSet::default()))),
        };
        let outcome = shard.update_value_at(found, |value| {
            let zset = zset_mut(value);
            let (mut added, mut changed, mut last) = (0, 0, None);
            for (score, member) in members {
                let (what, score) = add_one(zset, *score, member, options)?;
                match what {
                    Added::New => added += 1,
                    Added::Updated => changed += 1,
                    Added::Same => {}
                    Added::Skipped => continue,
                }
                last = Some(score);
            }
            normalize_zeros(zset);
            Ok((added, changed, last))
        });
        remove_if_empty(&mut shard, found);
        let (added, changed, last) = outcome?;
        Ok(match (options.incr, last) {
            (true, Some(score)) => Reply::Double(score),
            (true, None) => Reply::Nil,
            (false, _) if options.ch => Reply::Int(added + changed),
            (false, _) => Reply::Int(added),
        })
    }

    /// Runs `change` on the sorted set at `key` (0 if missing), deleting
    /// the key if it empties it.
    fn change_zset(
        &self,
        db: usize,
        key: &Bytes,
        now_ms: u64,
        change: impl FnOnce(&mut ZSet) -> i64,
    ) -> Result<Reply, Error> {
        let key_ref = KeyRef::new(key);
        let mut shard = self.slot_of(db, key_ref).shard.lock();
        let Ok(found) = find_for_write(&mut shard, key_ref, now_ms, Kind::ZSet)? else {
            return Ok(Reply::Int(0));
        };
        let count = shard.update_value_at(found, |value| change(zset_mut(value)));
        remove_if_empty(&mut shard, found);
        Ok(Reply::Int(count))
    }

    fn zrem(&self, db: usize, key: &Bytes, members: &[Bytes], now_ms: u64) -> Result<Reply, Error> {
        self.change_zset(db, key, now_ms, |zset| {
            members
                .iter()
                .filter(|member| zset.remove(member).is_some())
                .count() as i64
        })
    }

    fn zremrange(
        &self,
        db: usize,
        key: &Bytes,
        range: &RangeBy,
        now_ms: u64,
    ) -> Result<Reply, Error> {
        self.change_zset(db, key, now_ms, |zset| {
            let ranks = range.ranks(zset, false);
            // One reused buffer: the member must outlive its borrow of
            // the set while it is removed.
            let mut member = Vec::new();
            for _ in ranks.clone() {
                let (_, at) = zset.get_by_rank(ranks.start).expect("rank within the set");
                member.clear();
                member.extend_from_slice(at);
                zset.remove(&member);
            }
            ranks.len() as i64
        })
    }

    fn zrangestore(
        &self,
        db: usize,
        dst: &Bytes,
        src: &Bytes,
        query: &RangeQuery,
        now_ms: u64,
    ) -> Result<Reply, Error> {
        let src_ref = KeyRef::new(src);
        let mut pair = self.lock_pair(db, src_ref, db, KeyRef::new(dst));
        let result = match pair.src().get_live(src_ref, now_ms).as_deref() {
            None => ZSet::default(),
            Some(entry) => match &entry.value {
                Value::ZSet(zset) => {
                    let ranks = query.ranks(zset);
                    ZSet::from_members(
                        zset.range(ranks)
                            .map(|(score, member)| (score, Bytes::copy_from_slice(member))),
                    )
                }
                _ => return Err(Error::WrongType),
            },
        };
        Ok(store_result(pair.dst(), dst, result, now_ms))
    }

    fn zpop(
        &self,
        db: usize,
        key: &Bytes,
        max: bool,
        count: Option<u64>,
        resp3: bool,
        now_ms: u64,
    ) -> Result<Reply, Error> {
        let key_ref = KeyRef::new(key);
        let mut shard = self.slot_of(db, key_ref).shard.lock();
        let found = match find_for_write(&mut shard, key_ref, now_ms, Kind::ZSet)? {
            Ok(found) if count != Some(0) => found,
            _ => return Ok(Reply::Array(Vec::new())),
        };
        let popped = shard.update_value_at(found, |value| {
            pop_from(zset_mut(value), max, count.unwrap_or(1))
        });
        remove_if_empty(&mut shard, found);
        let nested = resp3 && count.is_some();
        let mut reply = Vec::with_capacity(popped.len() * 2);
        for (score, member) in popped {
            let [member, score] = [Reply::Bulk(member), Reply::Double(score)];
            if nested {
                reply.push(Reply::Array(vec![member, score]));
            } else {
                reply.extend([member, score]);
            }
        }
        Ok(Reply::Array(reply))
    }

    fn zmpop(
        &self,
        db: usize,
        keys: &[Bytes],
        max: bool,
        count: u64,
        now_ms: u64,
    ) -> Result<Reply, Error> {
        let mut shards = self.lock_keys(db, keys.iter());
        for key in keys {
            let key_ref = KeyRef::new(key);
            let shard = shards.shard(key_ref);
            let Ok(found) = find_for_write(shard, key_ref, now_ms, Kind::ZSet)? else {
                continue;
            };
            let popped =
                shard.update_value_at(found, |value| pop_from(zset_mut(value), max, count));
            remove_if_empty(shard, found);
            let elements = popped
                .into_iter()
                .map(|(score, member)| {
                    Reply::Array(vec![Reply::Bulk(member), Reply::Double(score)])
                })
                .collect();
            return Ok(Reply::Array(vec![
                Reply::Bulk(key.clone()),
                Reply::Array(elements),
            ]));
        }
        Ok(Reply::NilArray)
    }

    fn zstore(
        &self,
        db: usize,
        dst: &Bytes,
        args: &AlgebraArgs,
        now_ms: u64,
    ) -> Result<Reply, Error> {
        let mut shards = self.lock_keys(db, args.keys.iter().chain([dst]));
        let result = compute(args, &mut shards, now_ms, false)?;
        let dst_shard = shards.shard(KeyRef::new(dst));
        Ok(store_result(
            dst_shard,
            dst,
            ZSet::from_members(result),
            now_ms,
        ))
    }
}
