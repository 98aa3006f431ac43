//! Set commands: membership, algebra and random members.
//!
//! Every argument error Redis reports before it looks at the key is
//! reported here, so only well-formed writes enter the log. `SSCAN`'s
//! option errors come after Redis's key lookup, so they travel with the
//! read to the engine.

use bytes::Bytes;
use redraft_engine::int_arg::{scan_count, INTERCARD_LIMIT, NUMKEYS, POP_COUNT, RANDOM_COUNT};
use redraft_engine::{Error, Reply, SetOp, WriteOp};

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
    CommandSpec::new(name, arity, flags, keys, handler, "set", summary)
}

#[rustfmt::skip]
pub const COMMANDS: &[CommandSpec] = &[
    spec("sadd", -3, WRITE | DENYOOM | FAST, (1, 1, 1), sadd,
        "Adds one or more members to a set. Creates the key if it doesn't exist."),
    spec("srem", -3, WRITE | FAST, (1, 1, 1), srem,
        "Removes one or more members from a set. Deletes the set if the last member was removed."),
    spec("sismember", 3, READONLY | FAST, (1, 1, 1), sismember,
        "Determines whether a member belongs to a set."),
    spec("smismember", -3, READONLY | FAST, (1, 1, 1), smismember,
        "Determines whether multiple members belong to a set.").since("6.2.0"),
    spec("smembers", 2, READONLY, (1, 1, 1), smembers,
        "Returns all members of a set."),
    spec("scard", 2, READONLY | FAST, (1, 1, 1), scard,
        "Returns the number of members in a set."),
    spec("spop", -2, WRITE | FAST, (1, 1, 1), spop,
        "Returns one or more random members from a set after removing them. Deletes the set if the last member was popped."),
    spec("srandmember", -2, READONLY, (1, 1, 1), srandmember,
        "Get one or multiple random members from a set"),
    spec("smove", 4, WRITE | FAST, (1, 2, 1), smove,
        "Moves a member from one set to another."),
    spec("sunion", -2, READONLY, (1, -1, 1), sunion,
        "Returns the union of multiple sets."),
    spec("sinter", -2, READONLY, (1, -1, 1), sinter,
        "Returns the intersect of multiple sets."),
    spec("sdiff", -2, READONLY, (1, -1, 1), sdiff,
        "Returns the difference of multiple sets."),
    spec("sunionstore", -3, WRITE | DENYOOM, (1, -1, 1), sunionstore,
        "Stores the union of multiple sets in a key."),
    spec("sinterstore", -3, WRITE | DENYOOM, (1, -1, 1), sinterstore,
        "Stores the intersect of multiple sets in a key."),
    spec("sdiffstore", -3, WRITE | DENYOOM, (1, -1, 1), sdiffstore,
        "Stores the difference of multiple sets in a key."),
    spec("sintercard", -3, READONLY | MOVABLEKEYS, (0, 0, 0), sintercard,
        "Returns the number of members of the intersect of multiple sets.").since("7.0.0"),
    spec("sscan", -3, READONLY, (1, 1, 1), sscan,
        "Iterates over members of a set.").since("2.8.0"),
];

fn owned_all(args: &[Bytes]) -> Vec<Bytes> {
    args.iter().map(owned).collect()
}

fn sadd(_ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    Action::Write(WriteOp::Sets(SetOp::Add {
        key: owned(&args[0]),
        members: owned_all(&args[1..]),
    }))
}

fn srem(_ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    Action::Write(WriteOp::Sets(SetOp::Remove {
        key: owned(&args[0]),
        members: owned_all(&args[1..]),
    }))
}

fn sismember(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    let db = ctx.client.db;
    ctx.shared
        .engine
        .sismember(db, &args[0], &args[1], ctx.now_ms, &mut ctx.out);
    Action::Replied
}

fn smismember(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    let db = ctx.client.db;
    ctx.shared
        .engine
        .smismember(db, &args[0], &args[1..], ctx.now_ms, &mut ctx.out);
    Action::Replied
}

fn smembers(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    let db = ctx.client.db;
    ctx.shared
        .engine
        .smembers(db, &args[0], ctx.now_ms, &mut ctx.out);
    Action::Replied
}

fn scard(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    let db = ctx.client.db;
    ctx.shared
        .engine
        .scard(db, &args[0], ctx.now_ms, &mut ctx.out);
    Action::Replied
}

fn spop(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    let count = match args {
        [_] => None,
        [_, count] => match POP_COUNT.parse_u64(count) {
            Ok(count) => Some(count),
            Err(error) => return ctx.fail(error),
        },
        _ => return ctx.fail(Error::Syntax),
    };
    let nothing = if count.is_some() {
        Reply::Set(Vec::new())
    } else {
        Reply::Nil
    };
    if let Some(answered) = ctx.answer_if_missing(&args[0], nothing) {
        return answered;
    }
    let seed = ctx.random_seed();
    Action::Write(WriteOp::Sets(SetOp::Pop {
        key: owned(&args[0]),
        count,
        seed,
    }))
}

fn srandmember(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    let count = match args {
        [_] => None,
        [_, count] => match RANDOM_COUNT.parse(count) {
            Ok(count) => Some(count),
            Err(error) => return ctx.fail(error),
        },
        _ => return ctx.fail(Error::Syntax),
    };
    let (db, seed) = (ctx.client.db, ctx.random_seed());
    ctx.shared
        .engine
        .srandmember(db, &args[0], count, seed, ctx.now_ms, &mut ctx.out);
    Action::Replied
}

fn smove(_ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    Action::Write(WriteOp::Sets(SetOp::Move {
        src: owned(&args[0]),
        dst: owned(&args[1]),
        member: owned(&args[2]),
    }))
}

fn sunion(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    let db = ctx.client.db;
    ctx.shared.engine.sunion(db, args, ctx.now_ms, &mut ctx.out);
    Action::Replied
}

fn sinter(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    let db = ctx.client.db;
    ctx.shared.engine.sinter(db, args, ctx.now_ms, &mut ctx.out);
    Action::Replied
}

fn sdiff(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    let db = ctx.client.db;
    ctx.shared.engine.sdiff(db, args, ctx.now_ms, &mut ctx.out);
    Action::Replied
}

fn sunionstore(_ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    Action::Write(WriteOp::Sets(SetOp::UnionStore {
        dst: owned(&args[0]),
        keys: owned_all(&args[1..]),
    }))
}

fn sinterstore(_ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    Action::Write(WriteOp::Sets(SetOp::InterStore {
        dst: owned(&args[0]),
        keys: owned_all(&args[1..]),
    }))
}

fn sdiffstore(_ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    Action::Write(WriteOp::Sets(SetOp::DiffStore {
        dst: owned(&args[0]),
        keys: owned_all(&args[1..]),
    }))
}

/// `SINTERCARD numkeys key [key ...] [LIMIT limit]`: the keys and the
/// limit (0: none), with Redis's errors in its order.
fn parse_sintercard(args: &[Bytes]) -> Result<(&[Bytes], u64), Error> {
    let numkeys = NUMKEYS.parse(&args[0])?;
    let rest = &args[1..];
    if numkeys as u64 > rest.len() as u64 {
        return Err(Error::Other(
            "ERR Number of keys can't be greater than number of args",
        ));
    }
    let (keys, mut options) = rest.split_at(numkeys as usize);
    let mut limit = 0;
    while let [option, more @ ..] = options {
        match more {
            [value, after @ ..] if is(option, "limit") => {
                limit = INTERCARD_LIMIT.parse_u64(value)?;
                options = after;
            }
            _ => return Err(Error::Syntax),
        }
    }
    Ok((keys, limit))
}

fn sintercard(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    let (keys, limit) = match parse_sintercard(args) {
        Ok(parsed) => parsed,
        Err(error) => return ctx.fail(error),
    };
    let db = ctx.client.db;
    ctx.shared
        .engine
        .sintercard(db, keys, limit, ctx.now_ms, &mut ctx.out);
    Action::Replied
}

/// `SSCAN`'s options: (MATCH pattern, COUNT), or the first error.
fn parse_sscan_options(mut options: &[Bytes]) -> Result<(Option<&[u8]>, usize), Error> {
    let (mut pattern, mut count) = (None, 10usize);
    while let [option, more @ ..] = options {
        let [value, after @ ..] = more else {
            return Err(Error::Syntax);
        };
        if is(option, "count") {
            count = scan_count(value)?;
        } else if is(option, "match") {
            pattern = Some(&value[..]);
        } else {
            return Err(Error::Syntax);
        }
        options = after;
    }
    Ok((pattern, count))
}

fn sscan(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    let Some(cursor) = parse_cursor(&args[1]) else {
        return ctx.fail(Error::Other("ERR invalid cursor"));
    };
    let options = parse_sscan_options(&args[2..]);
    let db = ctx.client.db;
    ctx.shared
        .engine
        .sscan(db, &args[0], cursor, options, ctx.now_ms, &mut ctx.out);
    Action::Replied
}
