//! Hash commands: HSET and its family, HGET and its family, HRANDFIELD and
//! HSCAN.
//!
//! Writes are validated here (every error Redis reports before it looks at
//! the key) and applied in `engine/src/hash/ops.rs`; reads stream from the
//! engine. Arity and flags are those of Redis 7.0's `COMMAND INFO`.

use bytes::Bytes;
use redraft_engine::int_arg::{check_random_pairs, scan_count, LONG, RANDOM_COUNT};
use redraft_engine::{Error, HashOp, WriteOp};

use super::args::{is, parse_cursor};
use super::flags::{DENYOOM, FAST, READONLY, WRITE};
use super::strings::owned;
use super::{Action, CommandSpec, Ctx};

const fn spec(
    name: &'static str,
    arity: i32,
    flags: u32,
    handler: super::Handler,
    summary: &'static str,
) -> CommandSpec {
    CommandSpec::new(name, arity, flags, (1, 1, 1), handler, "hash", summary)
}

/// Flags of the hash writes that may grow memory.
const GROWS: u32 = WRITE | DENYOOM | FAST;

pub const COMMANDS: &[CommandSpec] = &[
    spec("hset", -4, GROWS, hset, "Creates or modifies the value of a field in a hash.").since("2.0.0"),
    spec("hsetnx", 4, GROWS, hsetnx, "Sets the value of a field in a hash only when the field doesn't exist.").since("2.0.0"),
    spec("hmset", -4, GROWS, hmset, "Sets the values of multiple fields.").since("2.0.0"),
    spec("hget", 3, READONLY | FAST, hget, "Returns the value of a field in a hash.").since("2.0.0"),
    spec("hmget", -3, READONLY | FAST, hmget, "Returns the values of all fields in a hash.").since("2.0.0"),
    spec("hdel", -3, WRITE | FAST, hdel, "Deletes one or more fields and their values from a hash. Deletes the hash if no fields remain.").since("2.0.0"),
    spec("hexists", 3, READONLY | FAST, hexists, "Determines whether a field exists in a hash.").since("2.0.0"),
    spec("hlen", 2, READONLY | FAST, hlen, "Returns the number of fields in a hash.").since("2.0.0"),
    spec("hstrlen", 3, READONLY | FAST, hstrlen, "Returns the length of the value of a field.").since("3.2.0"),
    spec("hkeys", 2, READONLY, hkeys, "Returns all fields in a hash.").since("2.0.0"),
    spec("hvals", 2, READONLY, hvals, "Returns all values in a hash.").since("2.0.0"),
    spec("hgetall", 2, READONLY, hgetall, "Returns all fields and values in a hash.").since("2.0.0"),
    spec("hincrby", 4, GROWS, hincrby, "Increments the integer value of a field in a hash by a number. Uses 0 as initial value if the field doesn't exist.").since("2.0.0"),
    spec("hincrbyfloat", 4, GROWS, hincrbyfloat, "Increments the floating point value of a field by a number. Uses 0 as initial value if the field doesn't exist.").since("2.6.0"),
    spec("hrandfield", -2, READONLY, hrandfield, "Returns one or more random fields from a hash.").since("6.2.0"),
    spec("hscan", -3, READONLY, hscan, "Iterates over fields and values of a hash.").since("2.8.0"),
];

/// The (field, value) pairs of HSET / HMSET, or the arity error Redis gives
/// when they do not come in pairs.
fn field_pairs(ctx: &mut Ctx<'_>, name: &str, args: &[Bytes]) -> Option<Vec<(Bytes, Bytes)>> {
    if !args.len().is_multiple_of(2) {
        super::arity_error(ctx, name);
        return None;
    }
    Some(
        args.chunks_exact(2)
            .map(|pair| (owned(&pair[0]), owned(&pair[1])))
            .collect(),
    )
}

fn hset_like(ctx: &mut Ctx<'_>, args: &[Bytes], name: &str, ok: bool) -> Action {
    let Some(pairs) = field_pairs(ctx, name, &args[1..]) else {
        return Action::Replied;
    };
    Action::Write(WriteOp::Hashes(HashOp::Set {
        key: owned(&args[0]),
        pairs,
        ok,
    }))
}

fn hset(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    hset_like(ctx, args, "hset", false)
}

fn hmset(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    hset_like(ctx, args, "hmset", true)
}

fn hsetnx(_ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    Action::Write(WriteOp::Hashes(HashOp::SetNx {
        key: owned(&args[0]),
        field: owned(&args[1]),
        value: owned(&args[2]),
    }))
}

fn hdel(_ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    Action::Write(WriteOp::Hashes(HashOp::Del {
        key: owned(&args[0]),
        fields: args[1..].iter().map(owned).collect(),
    }))
}

fn hincrby(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    let delta = match LONG.parse(&args[2]) {
        Ok(delta) => delta,
        Err(error) => return ctx.fail(error),
    };
    Action::Write(WriteOp::Hashes(HashOp::IncrBy {
        key: owned(&args[0]),
        field: owned(&args[1]),
        delta,
    }))
}

fn hincrbyfloat(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    match HashOp::incr_by_float(owned(&args[0]), owned(&args[1]), owned(&args[2])) {
        Ok(op) => Action::Write(WriteOp::Hashes(op)),
        Err(error) => ctx.fail(error),
    }
}

fn hget(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    let engine = &ctx.shared.engine;
    engine.hget(ctx.client.db, &args[0], &args[1], ctx.now_ms, &mut ctx.out);
    Action::Replied
}

fn hmget(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    let engine = &ctx.shared.engine;
    engine.hmget(
        ctx.client.db,
        &args[0],
        &args[1..],
        ctx.now_ms,
        &mut ctx.out,
    );
    Action::Replied
}

fn hexists(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    let engine = &ctx.shared.engine;
    engine.hexists(ctx.client.db, &args[0], &args[1], ctx.now_ms, &mut ctx.out);
    Action::Replied
}

fn hlen(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    let engine = &ctx.shared.engine;
    engine.hlen(ctx.client.db, &args[0], ctx.now_ms, &mut ctx.out);
    Action::Replied
}

fn hstrlen(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    let engine = &ctx.shared.engine;
    engine.hstrlen(ctx.client.db, &args[0], &args[1], ctx.now_ms, &mut ctx.out);
    Action::Replied
}

fn hkeys(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    let engine = &ctx.shared.engine;
    engine.hkeys_or_vals(ctx.client.db, &args[0], false, ctx.now_ms, &mut ctx.out);
    Action::Replied
}

fn hvals(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    let engine = &ctx.shared.engine;
    engine.hkeys_or_vals(ctx.client.db, &args[0], true, ctx.now_ms, &mut ctx.out);
    Action::Replied
}

fn hgetall(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    let engine = &ctx.shared.engine;
    engine.hgetall(ctx.client.db, &args[0], ctx.now_ms, &mut ctx.out);
    Action::Replied
}

/// `HRANDFIELD key [count [WITHVALUES]]`, checked in Redis's order: the
/// count, then the syntax, then the WITHVALUES range, then the key.
fn hrandfield(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    let count = match args.get(1).map(|text| RANDOM_COUNT.parse(text)).transpose() {
        Ok(count) => count,
        Err(error) => return ctx.fail(error),
    };
    let with_values = match args.get(2) {
        None => false,
        Some(arg) if args.len() == 3 && is(arg, "withvalues") => true,
        Some(_) => return ctx.fail(Error::Syntax),
    };
    if let (true, Some(count)) = (with_values, count) {
        if let Err(error) = check_random_pairs(count) {
            return ctx.fail(error);
        }
    }
    let seed = ctx.random_seed();
    let engine = &ctx.shared.engine;
    engine.hrandfield(
        ctx.client.db,
        &args[0],
        count,
        with_values,
        seed,
        ctx.now_ms,
        &mut ctx.out,
    );
    Action::Replied
}

/// `HSCAN`'s options as (pattern, count), or the error Redis gives for
/// them (which it reports only after finding the hash).
fn scan_options(options: &[Bytes]) -> Result<(Option<&[u8]>, usize), Error> {
    let (mut pattern, mut count) = (None, 10usize);
    let mut pairs = options.chunks(2);
    for pair in pairs.by_ref() {
        let [option, value] = pair else {
            return Err(Error::Syntax);
        };
        if is(option, "count") {
            count = scan_count(value)?;
        } else if is(option, "match") {
            pattern = Some(&value[..]);
        } else {
            return Err(Error::Syntax);
        }
    }
    Ok((pattern.filter(|pattern| *pattern != b"*"), count))
}

fn hscan(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    let Some(cursor) = parse_cursor(&args[1]) else {
        return ctx.fail(Error::Other("ERR invalid cursor"));
    };
    let options = scan_options(&args[2..]);
    let engine = &ctx.shared.engine;
    engine.hscan(
        ctx.client.db,
        &args[0],
        cursor,
        options,
        ctx.now_ms,
        &mut ctx.out,
    );
    Action::Replied
}
