//! Hash commands: HSET and its family, HGET and its family.

use bytes::Bytes;
use redraft_engine::{HashOp, WriteOp};

use super::flags::{DENYOOM, FAST, READONLY, WRITE};
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
    CommandSpec::new(name, arity, flags, keys, handler, "hash", summary)
}

pub const COMMANDS: &[CommandSpec] = &[
    spec(
        "hset",
        -4,
        WRITE | DENYOOM | FAST,
        (1, 1, 1),
        hset,
        "Creates or modifies the value of a field in a hash.",
    )
    .since("2.0.0"),
    spec(
        "hmset",
        -4,
        WRITE | DENYOOM | FAST,
        (1, 1, 1),
        hmset,
        "Sets the values of multiple fields.",
    )
    .since("2.0.0"),
    spec(
        "hget",
        3,
        READONLY | FAST,
        (1, 1, 1),
        hget,
        "Returns the value of a field in a hash.",
    )
    .since("2.0.0"),
    spec(
        "hgetall",
        2,
        READONLY,
        (1, 1, 1),
        hgetall,
        "Returns all fields and values in a hash.",
    )
    .since("2.0.0"),
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

fn hget(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    ctx.shared
        .engine
        .hget(ctx.client.db, &args[0], &args[1], ctx.now_ms, &mut ctx.out);
    Action::Replied
}

fn hgetall(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    ctx.shared
        .engine
        .hgetall(ctx.client.db, &args[0], ctx.now_ms, &mut ctx.out);
    Action::Replied
}
