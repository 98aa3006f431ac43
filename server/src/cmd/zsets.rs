//! Sorted set commands: adds, ranges by rank, score and lex, pops and
//! set algebra.
//!
//! Each command parses into a read ([`Query`]) or a write ([`ZSetOp`]);
//! none reads the node. Argument parsing lives with the engine's query
//! types (`ZSetOp::parse_*`); the parsers here pick one and wrap its
//! result. Redis reports a set operation's option errors only after its
//! type checks, so those errors depend on state: they become a
//! [`Query::ZAlgebraRefused`], which answers WRONGTYPE if a key holds
//! another type and the option error otherwise (a refused store writes
//! nothing, so it is a read too).

use bytes::Bytes;
use redraft_engine::{Error, Query, WriteOp, ZSetOp};

use super::args::{is, parse_cursor};
use super::flags::{DENYOOM, FAST, MOVABLEKEYS, READONLY, WRITE};
use super::strings::owned;
use super::{CommandSpec, KeyCommand, Parse};

const fn spec(
    name: &'static str,
    arity: i32,
    flags: u32,
    keys: (i32, i32, i32),
    parse: super::Parser,
    summary: &'static str,
) -> CommandSpec {
    CommandSpec::keyspace(name, arity, flags, keys, parse, "sorted-set", summary)
}

/// The result of a parser.
type Parsed = Result<KeyCommand, Error>;

const ONE_KEY: (i32, i32, i32) = (1, 1, 1);
/// Keys given by a numkeys argument (Redis's movablekeys).
const MOVABLE: (i32, i32, i32) = (0, 0, 0);

pub const COMMANDS: &[CommandSpec] = &[
    spec("zadd", -4, WRITE | DENYOOM | FAST, ONE_KEY, zadd,
        "Adds one or more members to a sorted set, or updates their scores. Creates the key if it doesn't exist.")
    .since("1.2.0"),
    spec("zincrby", 4, WRITE | DENYOOM | FAST, ONE_KEY, zincrby,
        "Increments the score of a member in a sorted set.")
    .since("1.2.0"),
    spec("zrem", -3, WRITE | FAST, ONE_KEY, zrem,
        "Removes one or more members from a sorted set. Deletes the sorted set if all members were removed.")
    .since("1.2.0"),
    spec("zscore", 3, READONLY | FAST, ONE_KEY, zscore,
        "Returns the score of a member in a sorted set.")
    .since("1.2.0"),
    spec("zmscore", -3, READONLY | FAST, ONE_KEY, zmscore,
        "Returns the score of one or more members in a sorted set.")
    .since("6.2.0"),
    spec("zcard", 2, READONLY | FAST, ONE_KEY, zcard,
        "Returns the number of members in a sorted set.")
    .since("1.2.0"),
    spec("zcount", 4, READONLY | FAST, ONE_KEY, zcount,
        "Returns the count of members in a sorted set that have scores within a range.")
    .since("2.0.0"),
    spec("zlexcount", 4, READONLY | FAST, ONE_KEY, zlexcount,
        "Returns the number of members in a sorted set within a lexicographical range.")
    .since("2.8.9"),
    // Arity -3, not 7.0's 3: WITHSCORE is Redis 7.2's.
    spec("zrank", -3, READONLY | FAST, ONE_KEY, zrank,
        "Returns the index of a member in a sorted set ordered by ascending scores.")
    .since("2.0.0"),
    spec("zrevrank", -3, READONLY | FAST, ONE_KEY, zrevrank,
        "Returns the index of a member in a sorted set ordered by descending scores.")
    .since("2.0.0"),
    spec("zrange", -4, READONLY, ONE_KEY, zrange,
        "Returns members in a sorted set within a range of indexes.")
    .since("1.2.0"),
    spec("zrangestore", -5, WRITE | DENYOOM, (1, 2, 1), zrangestore,
        "Stores a range of members from sorted set in a key.")
    .since("6.2.0"),
    spec("zrevrange", -4, READONLY, ONE_KEY, zrevrange,
        "Returns members in a sorted set within a range of indexes in reverse order.")
    .since("1.2.0"),
    spec("zrangebyscore", -4, READONLY, ONE_KEY, zrangebyscore,
        "Returns members in a sorted set within a range of scores.")
    .since("1.0.5"),
    spec("zrevrangebyscore", -4, READONLY, ONE_KEY, zrevrangebyscore,
        "Returns members in a sorted set within a range of scores in reverse order.")
    .since("2.2.0"),
    spec("zrangebylex", -4, READONLY, ONE_KEY, zrangebylex,
        "Returns members in a sorted set within a lexicographical range.")
    .since("2.8.9"),
    spec("zrevrangebylex", -4, READONLY, ONE_KEY, zrevrangebylex,
        "Returns members in a sorted set within a lexicographical range in reverse order.")
    .since("2.8.9"),
    spec("zremrangebyrank", 4, WRITE, ONE_KEY, zremrangebyrank,
        "Removes members in a sorted set within a range of indexes. Deletes the sorted set if all members were removed.")
    .since("2.0.0"),
    spec("zremrangebyscore", 4, WRITE, ONE_KEY, zremrangebyscore,
        "Removes members in a sorted set within a range of scores. Deletes the sorted set if all members were removed.")
    .since("1.2.0"),
    spec("zremrangebylex", 4, WRITE, ONE_KEY, zremrangebylex,
        "Removes members in a sorted set within a lexicographical range. Deletes the sorted set if all members were removed.")
    .since("2.8.9"),
    spec("zpopmin", -2, WRITE | FAST, ONE_KEY, zpopmin,
        "Returns the lowest-scoring members from a sorted set after removing them. Deletes the sorted set if the last member was popped.")
    .since("5.0.0"),
    spec("zpopmax", -2, WRITE | FAST, ONE_KEY, zpopmax,
        "Returns the highest-scoring members from a sorted set after removing them. Deletes the sorted set if the last member was popped.")
    .since("5.0.0"),
    spec("zmpop", -4, WRITE | MOVABLEKEYS, MOVABLE, zmpop,
        "Returns the highest- or lowest-scoring members from one or more sorted sets after removing them. Deletes the sorted set if the last member was popped.")
    .since("7.0.0"),
    spec("zrandmember", -2, READONLY, ONE_KEY, zrandmember,
        "Returns one or more random members from a sorted set.")
    .since("6.2.0"),
    spec("zunion", -3, READONLY | MOVABLEKEYS, MOVABLE, zunion,
        "Returns the union of multiple sorted sets.")
    .since("6.2.0"),
    spec("zinter", -3, READONLY | MOVABLEKEYS, MOVABLE, zinter,
        "Returns the intersect of multiple sorted sets.")
    .since("6.2.0"),
    spec("zdiff", -3, READONLY | MOVABLEKEYS, MOVABLE, zdiff,
        "Returns the difference between multiple sorted sets.")
    .since("6.2.0"),
    spec("zintercard", -3, READONLY | MOVABLEKEYS, MOVABLE, zintercard,
        "Returns the number of members of the intersect of multiple sorted sets.")
    .since("7.0.0"),
    spec("zunionstore", -4, WRITE | DENYOOM | MOVABLEKEYS, ONE_KEY, zunionstore,
        "Stores the union of multiple sorted sets in a key.")
    .since("2.0.0"),
    spec("zinterstore", -4, WRITE | DENYOOM | MOVABLEKEYS, ONE_KEY, zinterstore,
        "Stores the intersect of multiple sorted sets in a key.")
    .since("2.0.0"),
    spec("zdiffstore", -4, WRITE | DENYOOM | MOVABLEKEYS, ONE_KEY, zdiffstore,
        "Stores the difference of multiple input sorted sets in a key.")
    .since("6.2.0"),
    spec("zscan", -3, READONLY, ONE_KEY, zscan,
        "Iterates over members and scores of a sorted set.")
    .since("2.8.0"),
];

/// A parsed write, or its error.
fn write(op: Result<ZSetOp, Error>) -> Parsed {
    Ok(KeyCommand::Write(WriteOp::ZSets(op?)))
}

fn read(query: Query) -> Parsed {
    Ok(KeyCommand::Read(query))
}

fn zadd(_parse: &mut Parse<'_>, args: &[Bytes]) -> Parsed {
    write(ZSetOp::parse_zadd(args))
}

fn zincrby(_parse: &mut Parse<'_>, args: &[Bytes]) -> Parsed {
    write(ZSetOp::parse_zincrby(args))
}

fn zrem(_parse: &mut Parse<'_>, args: &[Bytes]) -> Parsed {
    write(Ok(ZSetOp::Remove {
        key: owned(&args[0]),
        members: args[1..].iter().map(owned).collect(),
    }))
}

fn zscore(_parse: &mut Parse<'_>, args: &[Bytes]) -> Parsed {
    read(Query::ZScore {
        key: args[0].clone(),
        member: args[1].clone(),
    })
}

fn zmscore(_parse: &mut Parse<'_>, args: &[Bytes]) -> Parsed {
    read(Query::ZMScore {
        key: args[0].clone(),
        members: args[1..].to_vec(),
    })
}

fn zcard(_parse: &mut Parse<'_>, args: &[Bytes]) -> Parsed {
    read(Query::ZCard {
        key: args[0].clone(),
    })
}

fn zcount(_parse: &mut Parse<'_>, args: &[Bytes]) -> Parsed {
    read(Query::ZCount {
        key: args[0].clone(),
        range: ZSetOp::parse_score_range(&args[1], &args[2])?,
    })
}

fn zlexcount(_parse: &mut Parse<'_>, args: &[Bytes]) -> Parsed {
    read(Query::ZCount {
        key: args[0].clone(),
        range: ZSetOp::parse_lex_range(&args[1], &args[2])?,
    })
}

/// `Z[REV]RANK key member [WITHSCORE]`.
fn rank(args: &[Bytes], rev: bool) -> Parsed {
    let with_score = match &args[2..] {
        [] => false,
        [arg] if is(arg, "withscore") => true,
        _ => return Err(Error::Syntax),
    };
    read(Query::ZRank {
        key: args[0].clone(),
        member: args[1].clone(),
        rev,
        with_score,
    })
}

fn zrank(_parse: &mut Parse<'_>, args: &[Bytes]) -> Parsed {
    rank(args, false)
}

fn zrevrank(_parse: &mut Parse<'_>, args: &[Bytes]) -> Parsed {
    rank(args, true)
}

/// One of the `ZRANGE` reads.
fn range(args: &[Bytes], command: &str) -> Parsed {
    read(Query::ZRange {
        key: args[0].clone(),
        args: ZSetOp::parse_range(command, &args[1..])?,
    })
}

fn zrange(_parse: &mut Parse<'_>, args: &[Bytes]) -> Parsed {
    range(args, "zrange")
}

fn zrevrange(_parse: &mut Parse<'_>, args: &[Bytes]) -> Parsed {
    range(args, "zrevrange")
}

fn zrangebyscore(_parse: &mut Parse<'_>, args: &[Bytes]) -> Parsed {
    range(args, "zrangebyscore")
}

fn zrevrangebyscore(_parse: &mut Parse<'_>, args: &[Bytes]) -> Parsed {
    range(args, "zrevrangebyscore")
}

fn zrangebylex(_parse: &mut Parse<'_>, args: &[Bytes]) -> Parsed {
    range(args, "zrangebylex")
}

fn zrevrangebylex(_parse: &mut Parse<'_>, args: &[Bytes]) -> Parsed {
    range(args, "zrevrangebylex")
}

fn zrangestore(_parse: &mut Parse<'_>, args: &[Bytes]) -> Parsed {
    let parsed = ZSetOp::parse_range("zrangestore", &args[2..])?;
    write(Ok(ZSetOp::RangeStore {
        dst: owned(&args[0]),
        src: owned(&args[1]),
        query: parsed.query,
    }))
}

fn zremrangebyrank(_parse: &mut Parse<'_>, args: &[Bytes]) -> Parsed {
    write(ZSetOp::parse_remove_range("rank", args))
}

fn zremrangebyscore(_parse: &mut Parse<'_>, args: &[Bytes]) -> Parsed {
    write(ZSetOp::parse_remove_range("score", args))
}

fn zremrangebylex(_parse: &mut Parse<'_>, args: &[Bytes]) -> Parsed {
    write(ZSetOp::parse_remove_range("lex", args))
}

/// `ZPOPMIN`/`ZPOPMAX key [count]`. A pop of a missing key is answered as
/// a read (`WriteOp::reply_if_missing`); the reply's shape follows the
/// connection's protocol, which the op carries.
fn pop(parse: &Parse<'_>, args: &[Bytes], max: bool) -> Parsed {
    if args.len() > 2 {
        return Err(Error::Syntax);
    }
    let count = ZSetOp::parse_pop_count(args.get(1))?;
    write(Ok(ZSetOp::Pop {
        key: owned(&args[0]),
        max,
        count,
        resp3: parse.resp3,
    }))
}

fn zpopmin(parse: &mut Parse<'_>, args: &[Bytes]) -> Parsed {
    pop(parse, args, false)
}

fn zpopmax(parse: &mut Parse<'_>, args: &[Bytes]) -> Parsed {
    pop(parse, args, true)
}

fn zmpop(_parse: &mut Parse<'_>, args: &[Bytes]) -> Parsed {
    write(ZSetOp::parse_zmpop(args))
}

fn zrandmember(parse: &mut Parse<'_>, args: &[Bytes]) -> Parsed {
    let parsed = ZSetOp::parse_zrandmember(&args[1..])?;
    read(Query::ZRandMember {
        key: args[0].clone(),
        args: parsed,
        seed: parse.random_seed(),
    })
}

/// A set operation's arguments refused: at once if Redis refuses them
/// before it looks at the keys, else as a [`Query::ZAlgebraRefused`].
fn refused(refused: redraft_engine::AlgebraError) -> Parsed {
    match refused.after_keys {
        Some(keys) => read(Query::ZAlgebraRefused {
            keys,
            error: refused.error,
        }),
        None => Err(refused.error),
    }
}

/// The set operation reads (`ZUNION`, `ZINTER`, `ZDIFF`, `ZINTERCARD`).
fn algebra_read(args: &[Bytes], command: &str) -> Parsed {
    match ZSetOp::parse_algebra(command, args) {
        Ok(parsed) => read(Query::ZAlgebra {
            args: parsed,
            card: command == "zintercard",
        }),
        Err(error) => refused(error),
    }
}

fn zunion(_parse: &mut Parse<'_>, args: &[Bytes]) -> Parsed {
    algebra_read(args, "zunion")
}

fn zinter(_parse: &mut Parse<'_>, args: &[Bytes]) -> Parsed {
    algebra_read(args, "zinter")
}

fn zdiff(_parse: &mut Parse<'_>, args: &[Bytes]) -> Parsed {
    algebra_read(args, "zdiff")
}

fn zintercard(_parse: &mut Parse<'_>, args: &[Bytes]) -> Parsed {
    algebra_read(args, "zintercard")
}

/// `Z{UNION,INTER,DIFF}STORE dst numkeys key ... [options]`.
fn algebra_store(args: &[Bytes], command: &str) -> Parsed {
    match ZSetOp::parse_algebra(command, &args[1..]) {
        Ok(parsed) => write(Ok(ZSetOp::Store {
            dst: owned(&args[0]),
            args: parsed,
        })),
        Err(error) => refused(error),
    }
}

fn zunionstore(_parse: &mut Parse<'_>, args: &[Bytes]) -> Parsed {
    algebra_store(args, "zunionstore")
}

fn zinterstore(_parse: &mut Parse<'_>, args: &[Bytes]) -> Parsed {
    algebra_store(args, "zinterstore")
}

fn zdiffstore(_parse: &mut Parse<'_>, args: &[Bytes]) -> Parsed {
    algebra_store(args, "zdiffstore")
}

fn zscan(_parse: &mut Parse<'_>, args: &[Bytes]) -> Parsed {
    let cursor = parse_cursor(&args[1]).ok_or(Error::Other("ERR invalid cursor"))?;
    read(Query::ZScan {
        key: args[0].clone(),
        cursor,
        options: ZSetOp::parse_zscan(&args[2..]),
    })
}
