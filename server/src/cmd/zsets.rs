//! Sorted set commands: adds, ranges by rank, score and lex, pops and
//! set algebra.
//!
//! Argument parsing lives with the engine's query types
//! (`ZSetOp::parse_*`); the handlers here pick the parser, turn writes into
//! ops and run reads. Redis reports a set operation's option errors only
//! after its type checks, so those errors depend on state: a read checks
//! the keys itself, a write does so once this connection's earlier writes
//! are applied (as `GETEX`'s invalid expiry does).

use bytes::Bytes;
use redraft_engine::{Error, Reply, WriteOp, ZSetOp};

use super::args::{is, parse_cursor};
use super::flags::{DENYOOM, FAST, MOVABLEKEYS, READONLY, WRITE};
use super::strings::owned;
use super::{Action, CommandSpec, Ctx};

const fn spec(
    name: &'static str,
    arity: i32,
    flags: u32,
    keys: (i32, i32, i32),
    handler: super::Handler,
    summary: &'static str,
) -> CommandSpec {
    CommandSpec::new(name, arity, flags, keys, handler, "sorted-set", summary)
}

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
fn write(ctx: &mut Ctx<'_>, op: Result<ZSetOp, Error>) -> Action {
    match op {
        Ok(op) => Action::Write(WriteOp::ZSets(op)),
        Err(error) => ctx.fail(error),
    }
}

fn zadd(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    write(ctx, ZSetOp::parse_zadd(args))
}

fn zincrby(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    write(ctx, ZSetOp::parse_zincrby(args))
}

fn zrem(_ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    Action::Write(WriteOp::ZSets(ZSetOp::Remove {
        key: owned(&args[0]),
        members: args[1..].iter().map(owned).collect(),
    }))
}

fn zscore(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    let engine = &ctx.shared.engine;
    engine.zscore(ctx.client.db, &args[0], &args[1], ctx.now_ms, &mut ctx.out);
    Action::Replied
}

fn zmscore(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    let engine = &ctx.shared.engine;
    engine.zmscore(
        ctx.client.db,
        &args[0],
        &args[1..],
        ctx.now_ms,
        &mut ctx.out,
    );
    Action::Replied
}

fn zcard(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    let engine = &ctx.shared.engine;
    engine.zcard(ctx.client.db, &args[0], ctx.now_ms, &mut ctx.out);
    Action::Replied
}

fn zcount(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    match ZSetOp::parse_score_range(&args[1], &args[2]) {
        Ok(range) => {
            let engine = &ctx.shared.engine;
            engine.zcount(ctx.client.db, &args[0], &range, ctx.now_ms, &mut ctx.out);
            Action::Replied
        }
        Err(error) => ctx.fail(error),
    }
}

fn zlexcount(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    match ZSetOp::parse_lex_range(&args[1], &args[2]) {
        Ok(range) => {
            let engine = &ctx.shared.engine;
            engine.zcount(ctx.client.db, &args[0], &range, ctx.now_ms, &mut ctx.out);
            Action::Replied
        }
        Err(error) => ctx.fail(error),
    }
}

/// `Z[REV]RANK key member [WITHSCORE]`.
fn rank(ctx: &mut Ctx<'_>, args: &[Bytes], rev: bool) -> Action {
    let with_score = match &args[2..] {
        [] => false,
        [arg] if is(arg, "withscore") => true,
        _ => return ctx.fail(Error::Syntax),
    };
    let engine = &ctx.shared.engine;
    let (db, now_ms) = (ctx.client.db, ctx.now_ms);
    engine.zrank(
        db,
        &args[0],
        &args[1],
        rev,
        with_score,
        now_ms,
        &mut ctx.out,
    );
    Action::Replied
}

fn zrank(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    rank(ctx, args, false)
}

fn zrevrank(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    rank(ctx, args, true)
}

/// One of the `ZRANGE` reads.
fn range(ctx: &mut Ctx<'_>, args: &[Bytes], command: &str) -> Action {
    match ZSetOp::parse_range(command, &args[1..]) {
        Ok(parsed) => {
            let engine = &ctx.shared.engine;
            engine.zrange(ctx.client.db, &args[0], &parsed, ctx.now_ms, &mut ctx.out);
            Action::Replied
        }
        Err(error) => ctx.fail(error),
    }
}

fn zrange(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    range(ctx, args, "zrange")
}

fn zrevrange(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    range(ctx, args, "zrevrange")
}

fn zrangebyscore(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    range(ctx, args, "zrangebyscore")
}

fn zrevrangebyscore(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    range(ctx, args, "zrevrangebyscore")
}

fn zrangebylex(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    range(ctx, args, "zrangebylex")
}

fn zrevrangebylex(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    range(ctx, args, "zrevrangebylex")
}

fn zrangestore(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    let op = ZSetOp::parse_range("zrangestore", &args[2..]).map(|parsed| ZSetOp::RangeStore {
        dst: owned(&args[0]),
        src: owned(&args[1]),
        query: parsed.query,
    });
    write(ctx, op)
}

fn zremrangebyrank(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    write(ctx, ZSetOp::parse_remove_range("rank", args))
}

fn zremrangebyscore(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    write(ctx, ZSetOp::parse_remove_range("score", args))
}

fn zremrangebylex(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    write(ctx, ZSetOp::parse_remove_range("lex", args))
}

/// `ZPOPMIN`/`ZPOPMAX key [count]`.
fn pop(ctx: &mut Ctx<'_>, args: &[Bytes], max: bool) -> Action {
    if args.len() > 2 {
        return ctx.fail(Error::Syntax);
    }
    let count = match ZSetOp::parse_pop_count(args.get(1)) {
        Ok(count) => count,
        Err(error) => return ctx.fail(error),
    };
    if let Some(answered) = ctx.answer_if_missing(&args[0], Reply::Array(Vec::new())) {
        return answered;
    }
    Action::Write(WriteOp::ZSets(ZSetOp::Pop {
        key: owned(&args[0]),
        max,
        count,
        resp3: ctx.client.resp3,
    }))
}

fn zpopmin(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    pop(ctx, args, false)
}

fn zpopmax(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    pop(ctx, args, true)
}

fn zmpop(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    write(ctx, ZSetOp::parse_zmpop(args))
}

fn zrandmember(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    match ZSetOp::parse_zrandmember(&args[1..]) {
        Ok(parsed) => {
            let seed = ctx.random_seed();
            let engine = &ctx.shared.engine;
            let (db, now_ms) = (ctx.client.db, ctx.now_ms);
            engine.zrandmember(db, &args[0], parsed, seed, now_ms, &mut ctx.out);
            Action::Replied
        }
        Err(error) => ctx.fail(error),
    }
}

/// The set operation reads (`ZUNION`, `ZINTER`, `ZDIFF`, `ZINTERCARD`).
fn algebra_read(ctx: &mut Ctx<'_>, args: &[Bytes], command: &str) -> Action {
    let (db, now_ms) = (ctx.client.db, ctx.now_ms);
    match ZSetOp::parse_algebra(command, args) {
        Ok(parsed) => {
            let card = command == "zintercard";
            let engine = &ctx.shared.engine;
            engine.zalgebra(db, &parsed, card, now_ms, &mut ctx.out);
            Action::Replied
        }
        Err(refused) => {
            let typed = match &refused.after_keys {
                Some(keys) => ctx.shared.engine.zalgebra_check(db, keys, now_ms),
                None => Ok(()),
            };
            ctx.fail(typed.err().unwrap_or(refused.error))
        }
    }
}

fn zunion(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    algebra_read(ctx, args, "zunion")
}

fn zinter(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    algebra_read(ctx, args, "zinter")
}

fn zdiff(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    algebra_read(ctx, args, "zdiff")
}

fn zintercard(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    algebra_read(ctx, args, "zintercard")
}

/// `Z{UNION,INTER,DIFF}STORE dst numkeys key ... [options]`.
fn algebra_store(ctx: &mut Ctx<'_>, args: &[Bytes], command: &str) -> Action {
    match ZSetOp::parse_algebra(command, &args[1..]) {
        Ok(parsed) => Action::Write(WriteOp::ZSets(ZSetOp::Store {
            dst: owned(&args[0]),
            args: parsed,
        })),
        Err(refused) => match &refused.after_keys {
            // The reply depends on the keys' types: read them once this
            // connection's own writes are applied.
            Some(_) if ctx.writes_pending => Action::WaitForWrites,
            Some(keys) => {
                let typed = ctx
                    .shared
                    .engine
                    .zalgebra_check(ctx.client.db, keys, ctx.now_ms);
                ctx.fail(typed.err().unwrap_or(refused.error))
            }
            None => ctx.fail(refused.error),
        },
    }
}

fn zunionstore(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    algebra_store(ctx, args, "zunionstore")
}

fn zinterstore(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    algebra_store(ctx, args, "zinterstore")
}

fn zdiffstore(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    algebra_store(ctx, args, "zdiffstore")
}

fn zscan(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    let Some(cursor) = parse_cursor(&args[1]) else {
        return ctx.fail(Error::Other("ERR invalid cursor"));
    };
    let options = ZSetOp::parse_zscan(&args[2..]);
    let engine = &ctx.shared.engine;
    let (db, now_ms) = (ctx.client.db, ctx.now_ms);
    engine.zscan(db, &args[0], cursor, options, now_ms, &mut ctx.out);
    Action::Replied
}
