//! List commands: pushes, pops, ranges and edits.

use bytes::Bytes;
use redraft_engine::{ListOp, WriteOp};

use super::args::Args;
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
    CommandSpec::new(name, arity, flags, keys, handler, "list", summary)
}

pub const COMMANDS: &[CommandSpec] = &[
    spec(
        "lpush",
        -3,
        WRITE | DENYOOM | FAST,
        (1, 1, 1),
        lpush,
        "Prepends one or more elements to a list. Creates the key if it doesn't exist.",
    ),
    spec(
        "rpush",
        -3,
        WRITE | DENYOOM | FAST,
        (1, 1, 1),
        rpush,
        "Appends one or more elements to a list. Creates the key if it doesn't exist.",
    ),
    spec(
        "lrange",
        4,
        READONLY,
        (1, 1, 1),
        lrange,
        "Returns a range of elements from a list.",
    ),
];

fn push(args: &[Bytes], left: bool, only_if_exists: bool) -> Action {
    Action::Write(WriteOp::Lists(ListOp::Push {
        key: owned(&args[0]),
        items: args[1..].iter().map(owned).collect(),
        left,
        only_if_exists,
    }))
}

fn lpush(_ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    push(args, true, false)
}

fn rpush(_ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    push(args, false, false)
}

fn lrange(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    let mut parsed = Args::new(&args[1..]);
    let range = parsed
        .next_i64()
        .and_then(|start| Ok((start, parsed.next_i64()?)));
    let (start, stop) = match range {
        Ok(range) => range,
        Err(error) => return ctx.fail(error),
    };
    ctx.shared.engine.lrange(
        ctx.client.db,
        &args[0],
        start,
        stop,
        ctx.now_ms,
        &mut ctx.out,
    );
    Action::Replied
}
