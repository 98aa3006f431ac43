//! Argument parsing of the sorted set commands, with Redis 7.0's order of
//! checks and exact error texts. The server's command parsers call these
//! (through [`ZSetOp`]'s associated functions) so that only well-formed
//! commands become ops, and the engine's query types never need a public
//! path.
//!
//! Invariants:
//! - Every error Redis reports before it looks at a key is reported here.
//! - An error Redis reports only after its type checks (the options of
//!   `ZUNIONSTORE` and friends) is returned with the keys it follows
//!   ([`AlgebraError::after_keys`]), so the caller can answer WRONGTYPE
//!   first when a key holds another type.

use std::ops::Range;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::bounds::{clamp_ranks, limit_ranks, parse_score, LexRange, ScoreRange};
use super::{ZSet, ZSetOp};
use crate::int_arg::{
    check_random_pairs, scan_count, INTERCARD_LIMIT, LONG, MPOP_COUNT, NUMKEYS, POP_COUNT,
    RANDOM_COUNT,
};
use crate::Error;

/// Redis's `is` for option names.
fn is(arg: &[u8], keyword_lower: &str) -> bool {
    arg.eq_ignore_ascii_case(keyword_lower.as_bytes())
}

/// `getLongFromObjectOrReply`.
fn parse_long(arg: &[u8]) -> Result<i64, Error> {
    LONG.parse(arg)
}

/// What a range selects elements by.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum RangeBy {
    /// Ranks `start..=stop`, negative from the end.
    Rank {
        start: i64,
        stop: i64,
    },
    Score(ScoreRange),
    Lex(LexRange),
}

impl RangeBy {
    /// The ascending ranks of the selected elements (a rank range counted
    /// from the end when `rev`).
    pub(crate) fn ranks(&self, zset: &ZSet, rev: bool) -> Range<usize> {
        match self {
            RangeBy::Rank { start, stop } => {
                let ranks = clamp_ranks(*start, *stop, zset.len());
                if rev {
                    zset.len() - ranks.end..zset.len() - ranks.start
                } else {
                    ranks
                }
            }
            RangeBy::Score(range) => range.ranks(zset),
            RangeBy::Lex(range) => range.ranks(zset),
        }
    }
}

/// A `ZRANGE`-family selection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RangeQuery {
    pub by: RangeBy,
    /// Descending order.
    pub rev: bool,
    /// `LIMIT offset count` (score and lex ranges only).
    pub limit: Option<(i64, i64)>,
}

impl RangeQuery {
    /// The ascending ranks of the selected elements; iterate them
    /// backwards when `rev`.
    pub(crate) fn ranks(&self, zset: &ZSet) -> Range<usize> {
        let ranks = self.by.ranks(zset, self.rev);
        match self.by {
            RangeBy::Rank { .. } => ranks,
            _ => limit_ranks(ranks, self.limit, self.rev),
        }
    }
}

/// A parsed `ZRANGE`-family command.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RangeArgs {
    pub query: RangeQuery,
    pub with_scores: bool,
}

/// Parses the arguments of `command` (one of the `ZRANGE` family) from
/// its `min`/`start` argument on, as `zrangeGenericCommand` does.
pub(crate) fn parse_range(command: &str, args: &[Bytes]) -> Result<RangeArgs, Error> {
    #[derive(PartialEq)]
    enum By {
        Auto,
        Rank,
        Score,
        Lex,
    }
    let store = command == "zrangestore";
    let (mut by, mut rev) = match command {
        "zrange" | "zrangestore" => (By::Auto, None),
        "zrevrange" => (By::Rank, Some(true)),
        "zrangebyscore" => (By::Score, Some(false)),
        "zrevrangebyscore" => (By::Score, Some(true)),
        "zrangebylex" => (By::Lex, Some(false)),
        "zrevrangebylex" => (By::Lex, Some(true)),
        _ => unreachable!("not a range command: {command}"),
    };
    let (mut with_scores, mut limit) = (false, None);
    let mut at = 2;
    while at < args.len() {
        let arg = &args[at];
        let left = args.len() - at - 1;
        if !store && is(arg, "withscores") {
            with_scores = true;
        } else if is(arg, "limit") && left >= 2 {
            limit = Some((parse_long(&args[at + 1])?, parse_long(&args[at + 2])?));
            at += 2;
        } else if rev.is_none() && is(arg, "rev") {
            rev = Some(true);
        } else if by == By::Auto && is(arg, "bylex") {
            by = By::Lex;
        } else if by == By::Auto && is(arg, "byscore") {
            by = By::Score;
        } else {
            return Err(Error::Syntax);
        }
        at += 1;
    }
    let rev = rev.unwrap_or(false);
    // Redis keeps "no LIMIT" as a count of -1, so `LIMIT 0 -1` passes.
    let limited = limit.is_some_and(|(_, count)| count != -1);
    if limited && matches!(by, By::Auto | By::Rank) {
        return Err(Error::Other(
            "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX",
        ));
    }
    if with_scores && by == By::Lex {
        return Err(Error::Other(
            "ERR syntax error, WITHSCORES not supported in combination with BYLEX",
        ));
    }
    // Score and lex ranges in reverse are given as (max, min).
    let (min, max) = match by {
        By::Score | By::Lex if rev => (&args[1], &args[0]),
        _ => (&args[0], &args[1]),
    };
    let by = match by {
        By::Auto | By::Rank => RangeBy::Rank {
            start: parse_long(min)?,
            stop: parse_long(max)?,
        },
        By::Score => RangeBy::Score(parse_score_range(min, max)?),
        By::Lex => RangeBy::Lex(parse_lex_range(min, max)?),
    };
    Ok(RangeArgs {
        query: RangeQuery { by, rev, limit },
        with_scores,
    })
}

/// A score range, or Redis's error for it.
pub(crate) fn parse_score_range(min: &[u8], max: &[u8]) -> Result<ScoreRange, Error> {
    ScoreRange::parse(min, max).ok_or(Error::Other("ERR min or max is not a float"))
}

/// A lex range, or Redis's error for it.
pub(crate) fn parse_lex_range(min: &[u8], max: &[u8]) -> Result<LexRange, Error> {
    LexRange::parse(min, max).ok_or(Error::Other("ERR min or max not valid string range item"))
}

/// `ZADD`'s options.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddOptions {
    /// Only add new members.
    pub nx: bool,
    /// Only update existing members.
    pub xx: bool,
    /// Only update to a greater score.
    pub gt: bool,
    /// Only update to a lesser score.
    pub lt: bool,
    /// Count changed members, not only added ones.
    pub ch: bool,
    /// Add the score to the member's (one pair only); reply the new score.
    pub incr: bool,
}

/// `ZADD key [NX|XX] [GT|LT] [CH] [INCR] score member ...` (`args`
/// starts with the key).
pub(crate) fn parse_zadd(args: &[Bytes]) -> Result<ZSetOp, Error> {
    let mut options = AddOptions::default();
    let mut at = 1;
    while let Some(arg) = args.get(at) {
        let flag = match arg.to_ascii_lowercase().as_slice() {
            b"nx" => &mut options.nx,
            b"xx" => &mut options.xx,
            b"gt" => &mut options.gt,
            b"lt" => &mut options.lt,
            b"ch" => &mut options.ch,
            b"incr" => &mut options.incr,
            _ => break,
        };
        *flag = true;
        at += 1;
    }
    let pairs = &args[at..];
    if pairs.is_empty() || !pairs.len().is_multiple_of(2) {
        return Err(Error::Syntax);
    }
    if options.nx && options.xx {
        return Err(Error::Other(
            "ERR XX and NX options at the same time are not compatible",
        ));
    }
    if (options.nx && (options.gt || options.lt)) || (options.gt && options.lt) {
        return Err(Error::Other(
            "ERR GT, LT, and/or NX options at the same time are not compatible",
        ));
    }
    if options.incr && pairs.len() > 2 {
        return Err(Error::Other(
            "ERR INCR option supports a single increment-element pair",
        ));
    }
    let mut members = Vec::with_capacity(pairs.len() / 2);
    for pair in pairs.chunks_exact(2) {
        let score = parse_score(&pair[0]).ok_or(Error::NotFloat)?;
        members.push((score, Bytes::copy_from_slice(&pair[1])));
    }
    Ok(ZSetOp::Add {
        key: Bytes::copy_from_slice(&args[0]),
        options,
        members,
    })
}

/// `ZINCRBY key increment member`.
pub(crate) fn parse_zincrby(args: &[Bytes]) -> Result<ZSetOp, Error> {
    let score = parse_score(&args[1]).ok_or(Error::NotFloat)?;
    Ok(ZSetOp::Add {
        key: Bytes::copy_from_slice(&args[0]),
        options: AddOptions {
            incr: true,
            ..AddOptions::default()
        },
        members: vec![(score, Bytes::copy_from_slice(&args[2]))],
    })
}

/// Which set operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Algebra {
    Union,
    Inter,
    Diff,
}

/// How scores of one member in several inputs combine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Aggregate {
    Sum,
    Min,
    Max,
}

/// A parsed `ZUNION`/`ZINTER`/`ZDIFF`(`STORE`)/`ZINTERCARD`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlgebraArgs {
    pub algebra: Algebra,
    /// The input keys (sorted sets or sets).
    pub keys: Vec<Bytes>,
    /// One per key (all 1 unless `WEIGHTS`).
    pub weights: Vec<f64>,
    pub aggregate: Aggregate,
    /// `WITHSCORES` (reads only).
    pub with_scores: bool,
    /// `ZINTERCARD`'s `LIMIT` (0: none).
    pub limit: u64,
}

/// Why algebra arguments were refused.
#[derive(Debug, Clone, PartialEq)]
pub struct AlgebraError {
    pub error: Error,
    /// The keys, when Redis reports this error only after finding that
    /// every key is missing, a sorted set or a set (else WRONGTYPE).
    pub after_keys: Option<Vec<Bytes>>,
}

/// Parses `numkeys key ... [options]` (`args` starts at numkeys) of
/// `command`, as `zunionInterDiffGenericCommand` does.
pub(crate) fn parse_algebra(command: &str, args: &[Bytes]) -> Result<AlgebraArgs, AlgebraError> {
    let early = |error| AlgebraError {
        error,
        after_keys: None,
    };
    let (algebra, store, card) = match command {
        "zunion" => (Algebra::Union, false, false),
        "zinter" => (Algebra::Inter, false, false),
        "zdiff" => (Algebra::Diff, false, false),
        "zunionstore" => (Algebra::Union, true, false),
        "zinterstore" => (Algebra::Inter, true, false),
        "zdiffstore" => (Algebra::Diff, true, false),
        "zintercard" => (Algebra::Inter, false, true),
        _ => unreachable!("not a set operation: {command}"),
    };
    let numkeys = parse_long(&args[0]).map_err(early)?;
    if numkeys < 1 {
        let error = match command {
            "zunion" => "ERR at least 1 input key is needed for 'zunion' command",
            "zinter" => "ERR at least 1 input key is needed for 'zinter' command",
            "zdiff" => "ERR at least 1 input key is needed for 'zdiff' command",
            "zunionstore" => "ERR at least 1 input key is needed for 'zunionstore' command",
            "zinterstore" => "ERR at least 1 input key is needed for 'zinterstore' command",
            "zdiffstore" => "ERR at least 1 input key is needed for 'zdiffstore' command",
            _ => "ERR at least 1 input key is needed for 'zintercard' command",
        };
        return Err(early(Error::Other(error)));
    }
    let numkeys = numkeys as usize;
    if numkeys > args.len() - 1 {
        return Err(early(Error::Syntax));
    }
    let keys: Vec<Bytes> = args[1..=numkeys]
        .iter()
        .map(|key| Bytes::copy_from_slice(key))
        .collect();
    let mut parsed = AlgebraArgs {
        algebra,
        keys,
        weights: vec![1.0; numkeys],
        aggregate: Aggregate::Sum,
        with_scores: false,
        limit: 0,
    };
    match parse_algebra_options(&mut parsed, &args[numkeys + 1..], store, card) {
        Ok(()) => Ok(parsed),
        Err(error) => Err(AlgebraError {
            error,
            after_keys: Some(parsed.keys),
        }),
    }
}

/// The options after the keys.
fn parse_algebra_options(
    parsed: &mut AlgebraArgs,
    args: &[Bytes],
    store: bool,
    card: bool,
) -> Result<(), Error> {
    let combines = parsed.algebra != Algebra::Diff && !card;
    let mut at = 0;
    while at < args.len() {
        let arg = &args[at];
        let left = args.len() - at;
        if combines && left > parsed.keys.len() && is(arg, "weights") {
            for (weight, text) in parsed.weights.iter_mut().zip(&args[at + 1..]) {
                *weight =
                    parse_score(text).ok_or(Error::Other("ERR weight value is not a float"))?;
            }
            at += 1 + parsed.keys.len();
        } else if combines && left >= 2 && is(arg, "aggregate") {
            let how = &args[at + 1];
            parsed.aggregate = if is(how, "sum") {
                Aggregate::Sum
            } else if is(how, "min") {
                Aggregate::Min
            } else if is(how, "max") {
                Aggregate::Max
            } else {
                return Err(Error::Syntax);
            };
            at += 2;
        } else if !store && !card && is(arg, "withscores") {
            parsed.with_scores = true;
            at += 1;
        } else if card && left >= 2 && is(arg, "limit") {
            parsed.limit = INTERCARD_LIMIT.parse_u64(&args[at + 1])?;
            at += 2;
        } else {
            return Err(Error::Syntax);
        }
    }
    Ok(())
}

/// `ZPOPMIN`/`ZPOPMAX key [count]`'s count: `None` without one.
pub(crate) fn parse_pop_count(arg: Option<&Bytes>) -> Result<Option<u64>, Error> {
    arg.map(|arg| POP_COUNT.parse_u64(arg)).transpose()
}

/// `ZMPOP numkeys key ... MIN|MAX [COUNT count]` (`args` starts at
/// numkeys).
pub(crate) fn parse_zmpop(args: &[Bytes]) -> Result<ZSetOp, Error> {
    let numkeys = NUMKEYS.parse(&args[0])?;
    let where_at = usize::try_from(numkeys)
        .ok()
        .and_then(|numkeys| numkeys.checked_add(1))
        .filter(|&at| at < args.len())
        .ok_or(Error::Syntax)?;
    let max = match &args[where_at] {
        arg if is(arg, "min") => false,
        arg if is(arg, "max") => true,
        _ => return Err(Error::Syntax),
    };
    let mut count = None;
    let mut at = where_at + 1;
    while at < args.len() {
        if count.is_none() && is(&args[at], "count") && at + 1 < args.len() {
            count = Some(MPOP_COUNT.parse_u64(&args[at + 1])?);
            at += 2;
        } else {
            return Err(Error::Syntax);
        }
    }
    Ok(ZSetOp::MPop {
        keys: args[1..where_at]
            .iter()
            .map(|key| Bytes::copy_from_slice(key))
            .collect(),
        max,
        count: count.unwrap_or(1),
    })
}

/// A parsed `ZRANDMEMBER key [count [WITHSCORES]]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RandArgs {
    /// `None`: one member as a bulk reply.
    pub count: Option<i64>,
    pub with_scores: bool,
}

/// Parses `ZRANDMEMBER`'s arguments after the key.
pub(crate) fn parse_zrandmember(args: &[Bytes]) -> Result<RandArgs, Error> {
    let Some(count) = args.first() else {
        return Ok(RandArgs {
            count: None,
            with_scores: false,
        });
    };
    let count = RANDOM_COUNT.parse(count)?;
    let with_scores = match &args[1..] {
        [] => false,
        [arg] if is(arg, "withscores") => true,
        _ => return Err(Error::Syntax),
    };
    if with_scores {
        check_random_pairs(count)?;
    }
    Ok(RandArgs {
        count: Some(count),
        with_scores,
    })
}

/// A parsed `*SCAN`'s options.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScanArgs {
    pub pattern: Option<Bytes>,
    pub count: usize,
}

/// Parses `ZSCAN`'s options after the cursor (`[MATCH pattern] [COUNT
/// count]`).
pub(crate) fn parse_zscan(args: &[Bytes]) -> Result<ScanArgs, Error> {
    let mut parsed = ScanArgs {
        pattern: None,
        count: 10,
    };
    let mut at = 0;
    while at < args.len() {
        let arg = &args[at];
        if at + 1 >= args.len() {
            return Err(Error::Syntax);
        }
        if is(arg, "count") {
            parsed.count = scan_count(&args[at + 1])?;
        } else if is(arg, "match") {
            let pattern = &args[at + 1];
            // "*" matches everything: skip the matching.
            parsed.pattern = (&pattern[..] != b"*").then(|| Bytes::copy_from_slice(pattern));
        } else {
            return Err(Error::Syntax);
        }
        at += 2;
    }
    Ok(parsed)
}
