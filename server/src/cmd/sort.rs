//! `SORT` and `SORT_RO`.
//!
//! `SORT` is flagged `write` (as in Redis) but is a read unless it has
//! `STORE`: then it becomes [`WriteOp::SortStore`], which sorts again at
//! apply so every node stores the same list. Without `STORE` it reads on
//! this thread like `SORT_RO`.
//!
//! Redis Cluster refuses `BY` and `GET` patterns (they name keys that may
//! live on other shards). redraft is one shard that holds every slot, so it
//! allows them, as a standalone Redis does.
//!
//! Invariants:
//! - A write-flagged command is not held behind the connection's pending
//!   writes by the connection, so a `SORT` read waits for them here
//!   ([`Action::WaitForWrites`]): it then sees its own connection's writes.
//! - The options of a `SORT ... STORE` op are copied out of the read
//!   buffer, as every op's arguments are.

use bytes::Bytes;
use redraft_engine::{SortArgs, SortBy, WriteOp};

use super::flags::{DENYOOM, MOVABLEKEYS, READONLY, READS_KEYS, WRITE};
use super::strings::owned;
use super::{Action, CommandSpec, Ctx};

pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec::new(
        "sort",
        -2,
        WRITE | DENYOOM | MOVABLEKEYS | READS_KEYS,
        (1, 1, 1),
        sort,
        "generic",
        "Sorts the elements in a list, a set, or a sorted set, optionally storing the result.",
    ),
    CommandSpec::new(
        "sort_ro",
        -2,
        READONLY | MOVABLEKEYS,
        (1, 1, 1),
        sort_ro,
        "generic",
        "Returns the sorted elements of a list, a set, or a sorted set.",
    )
    .since("7.0.0"),
];

fn sort(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    sort_generic(ctx, args, true)
}

fn sort_ro(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    sort_generic(ctx, args, false)
}

/// `SORT key [options]`; `allow_store` is false for `SORT_RO`.
fn sort_generic(ctx: &mut Ctx<'_>, args: &[Bytes], allow_store: bool) -> Action {
    let (options, store) = match SortArgs::parse(&args[1..], allow_store) {
        Ok(parsed) => parsed,
        Err(error) => return ctx.fail(error),
    };
    if let Some(dst) = store {
        return Action::Write(WriteOp::SortStore {
            key: owned(&args[0]),
            dst: owned(&dst),
            args: owned_options(options),
        });
    }
    if ctx.writes_pending {
        return Action::WaitForWrites;
    }
    let (db, now_ms) = (ctx.client.db, ctx.now_ms);
    ctx.shared
        .engine
        .sort(db, &args[0], &options, now_ms, &mut ctx.out);
    Action::Replied
}

/// `options` with its patterns copied out of the read buffer.
fn owned_options(options: SortArgs) -> SortArgs {
    SortArgs {
        by: match options.by {
            SortBy::Pattern(pattern) => SortBy::Pattern(owned(&pattern)),
            other => other,
        },
        get: options.get.iter().map(owned).collect(),
        ..options
    }
}
