//! Set commands: membership, algebra and random members.

use bytes::Bytes;
use redraft_engine::{SetOp, WriteOp};

use super::flags::{DENYOOM, FAST, READONLY, SORT_FOR_SCRIPT, WRITE};
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

pub const COMMANDS: &[CommandSpec] = &[
    spec(
        "sadd",
        -3,
        WRITE | DENYOOM | FAST,
        (1, 1, 1),
        sadd,
        "Adds one or more members to a set. Creates the key if it doesn't exist.",
    ),
    spec(
        "smembers",
        2,
        READONLY | SORT_FOR_SCRIPT,
        (1, 1, 1),
        smembers,
        "Returns all members of a set.",
    ),
];

fn sadd(_ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    Action::Write(WriteOp::Sets(SetOp::Add {
        key: owned(&args[0]),
        members: args[1..].iter().map(owned).collect(),
    }))
}

fn smembers(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    ctx.shared
        .engine
        .smembers(ctx.client.db, &args[0], ctx.now_ms, &mut ctx.out);
    Action::Replied
}
