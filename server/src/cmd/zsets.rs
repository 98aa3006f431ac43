//! Sorted set commands: adds, ranges by rank, score and lex, pops and
//! set algebra.

use bytes::Bytes;
use redraft_engine::{parse_float, Error, WriteOp, ZSetOp};

use super::args::{is, Args};
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
    CommandSpec::new(name, arity, flags, keys, handler, "sorted-set", summary)
}

pub const COMMANDS: &[CommandSpec] = &[
    spec(
        "zadd",
        -4,
        WRITE | DENYOOM | FAST,
        (1, 1, 1),
        zadd,
        "Adds one or more members to a sorted set, or updates their scores. Creates the key if it doesn't exist.",
    )
    .since("1.2.0"),
    spec(
        "zrange",
        -4,
        READONLY,
        (1, 1, 1),
        zrange,
        "Returns members in a sorted set within a range of indexes.",
    )
    .since("1.2.0"),
];

fn zadd(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    let rest = &args[1..];
    if !rest.len().is_multiple_of(2) {
        return ctx.fail(Error::Syntax);
    }
    let mut members = Vec::with_capacity(rest.len() / 2);
    for pair in rest.chunks_exact(2) {
        match parse_float(&pair[0]) {
            Some(score) if !score.is_nan() => members.push((score, owned(&pair[1]))),
            _ => return ctx.fail(Error::NotFloat),
        }
    }
    Action::Write(WriteOp::ZSets(ZSetOp::Add {
        key: owned(&args[0]),
        members,
    }))
}

fn zrange(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    let mut parsed = Args::new(&args[1..]);
    let range = parsed
        .next_i64()
        .and_then(|start| Ok((start, parsed.next_i64()?)));
    let (start, stop) = match range {
        Ok(range) => range,
        Err(error) => return ctx.fail(error),
    };
    let with_scores = match parsed.next_opt() {
        None => false,
        Some(arg) if is(arg, "withscores") && parsed.remaining() == 0 => true,
        Some(_) => return ctx.fail(Error::Syntax),
    };
    ctx.shared.engine.zrange_by_rank(
        ctx.client.db,
        &args[0],
        start,
        stop,
        with_scores,
        ctx.now_ms,
        &mut ctx.out,
    );
    Action::Replied
}
