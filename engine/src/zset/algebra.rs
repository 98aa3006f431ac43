//! Set operations over sorted sets and sets (`ZUNION`, `ZINTER`, `ZDIFF`,
//! their `STORE` forms and `ZINTERCARD`), as Redis's
//! `zunionInterDiffGenericCommand` computes them.
//!
//! Invariants:
//! - Every input is type-checked before any is read: a key holding
//!   anything but a sorted set or a set is WRONGTYPE. A set's members
//!   score 1.
//! - Union and intersection visit the inputs from the smallest to the
//!   largest (a stable order, as Redis's sort), so sums of floats add up
//!   in Redis's order; a weighted score or a sum that is NaN (`inf - inf`,
//!   `0 * inf`) becomes 0, as in Redis.
//! - Only one input is borrowed at a time: the engine holds every shard
//!   locked, and the result is built from copies.

use std::collections::HashMap;

use bytes::Bytes;

use super::parse::{Aggregate, Algebra, AlgebraArgs};
use super::ZSet;
use crate::engine::ShardSet;
use crate::key::KeyRef;
use crate::{Error, Set, Value};

/// One input, borrowed.
enum Source<'a> {
    ZSet(&'a ZSet),
    Set(&'a Set),
}

impl Source<'_> {
    /// The input in `value`; WRONGTYPE for other types.
    fn of(value: &Value) -> Result<Source<'_>, Error> {
        match value {
            Value::ZSet(zset) => Ok(Source::ZSet(zset)),
            Value::Set(set) => Ok(Source::Set(set)),
            _ => Err(Error::WrongType),
        }
    }

    fn len(&self) -> usize {
        match self {
            Source::ZSet(zset) => zset.len(),
            Source::Set(set) => set.len(),
        }
    }

    fn score(&self, member: &[u8]) -> Option<f64> {
        match self {
            Source::ZSet(zset) => zset.score(member),
            Source::Set(set) => set.contains(member).then_some(1.0),
        }
    }

    /// Calls `each(score, member)` for every element.
    fn for_each(&self, mut each: impl FnMut(f64, &[u8])) {
        match self {
            Source::ZSet(zset) => zset.iter().for_each(|(score, member)| each(score, member)),
            Source::Set(set) => set.iter().for_each(|member| each(1.0, member)),
        }
    }
}

/// Redis's `zunionInterAggregate`.
fn aggregate(target: &mut f64, value: f64, how: Aggregate) {
    match how {
        Aggregate::Sum => {
            *target += value;
            if target.is_nan() {
                *target = 0.0;
            }
        }
        Aggregate::Min => {
            if value < *target {
                *target = value;
            }
        }
        Aggregate::Max => {
            if value > *target {
                *target = value;
            }
        }
    }
}

/// A weighted score, NaN made 0.
fn weighted(weight: f64, score: f64) -> f64 {
    let value = weight * score;
    if value.is_nan() {
        0.0
    } else {
        value
    }
}

/// Runs `read` on the input `key` (`None` if it is missing).
fn with_source<R>(
    shards: &mut ShardSet<'_>,
    key: &[u8],
    now_ms: u64,
    read: impl FnOnce(Option<Source<'_>>) -> R,
) -> R {
    let key = KeyRef::new(key);
    let entry = shards.shard(key).get_live(key, now_ms);
    let source = entry
        .as_deref()
        .map(|entry| Source::of(&entry.value).expect("inputs were type-checked"));
    read(source)
}

/// The inputs' sizes, after checking their types; counts a keyspace hit
/// or miss per key when `count_hits` (reads).
fn sizes(
    shards: &mut ShardSet<'_>,
    keys: &[Bytes],
    now_ms: u64,
    count_hits: bool,
) -> Result<Vec<usize>, Error> {
    let mut sizes = Vec::with_capacity(keys.len());
    for key in keys {
        let key_ref = KeyRef::new(key);
        let size = match shards.shard(key_ref).get_live(key_ref, now_ms).as_deref() {
            None => None,
            Some(entry) => Some(Source::of(&entry.value)?.len()),
        };
        if count_hits {
            shards.slot(key_ref).count(size.is_some());
        }
        sizes.push(size.unwrap_or(0));
    }
    Ok(sizes)
}

/// The (score, member) elements of the operation's result, in no
/// particular order. `count_hits`: count keyspace hits (reads).
pub(crate) fn compute(
    args: &AlgebraArgs,
    shards: &mut ShardSet<'_>,
    now_ms: u64,
    count_hits: bool,
) -> Result<Vec<(f64, Bytes)>, Error> {
    let sizes = sizes(shards, &args.keys, now_ms, count_hits)?;
    let mut order: Vec<usize> = (0..args.keys.len()).collect();
    if args.algebra != Algebra::Diff {
        order.sort_by_key(|&index| sizes[index]);
    }
    Ok(match args.algebra {
        Algebra::Union => union(args, &order, shards, now_ms),
        Algebra::Inter if sizes[order[0]] == 0 => Vec::new(),
        Algebra::Inter => inter(args, &order, shards, now_ms),
        Algebra::Diff => diff(args, shards, now_ms),
    })
}

fn union(
    args: &AlgebraArgs,
    order: &[usize],
    shards: &mut ShardSet<'_>,
    now_ms: u64,
) -> Vec<(f64, Bytes)> {
    let mut scores: HashMap<Bytes, f64> = HashMap::new();
    for &index in order {
        let weight = args.weights[index];
        with_source(shards, &args.keys[index], now_ms, |source| {
            let Some(source) = source else { return };
            source.for_each(|score, member| {
                let score = weighted(weight, score);
                match scores.get_mut(member) {
                    Some(total) => aggregate(total, score, args.aggregate),
                    None => {
                        scores.insert(Bytes::copy_from_slice(member), score);
                    }
                }
            });
        });
    }
    scores
        .into_iter()
        .map(|(member, score)| (score, member))
        .collect()
}

fn inter(
    args: &AlgebraArgs,
    order: &[usize],
    shards: &mut ShardSet<'_>,
    now_ms: u64,
) -> Vec<(f64, Bytes)> {
    let first = order[0];
    let mut result = Vec::new();
    with_source(shards, &args.keys[first], now_ms, |source| {
        let source = source.expect("the smallest input is not empty");
        source.for_each(|score, member| {
            result.push((
                weighted(args.weights[first], score),
                Bytes::copy_from_slice(member),
            ));
        });
    });
    for &index in &order[1..] {
        let weight = args.weights[index];
        with_source(shards, &args.keys[index], now_ms, |source| {
            let source = source.expect("inputs larger than a non-empty one exist");
            result.retain_mut(|(total, member)| match source.score(member) {
                Some(score) => {
                    aggregate(total, score * weight, args.aggregate);
                    true
                }
                None => false,
            });
        });
    }
    result
}

fn diff(args: &AlgebraArgs, shards: &mut ShardSet<'_>, now_ms: u64) -> Vec<(f64, Bytes)> {
    let mut result = Vec::new();
    with_source(shards, &args.keys[0], now_ms, |source| {
        if let Some(source) = source {
            source.for_each(|score, member| result.push((score, Bytes::copy_from_slice(member))));
        }
    });
    for key in &args.keys[1..] {
        if result.is_empty() {
            break;
        }
        with_source(shards, key, now_ms, |source| {
            if let Some(source) = source {
                result.retain(|(_, member)| source.score(member).is_none());
            }
        });
    }
    result
}
