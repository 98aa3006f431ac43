//! `SORT` and `SORT_RO`.
//!
//! Both parse into a read ([`Query::Sort`]) or, for `SORT ... STORE`, a
//! write. `SORT` is flagged `write` (as in Redis) but is a read unless it
//! has `STORE`: then it becomes [`WriteOp::SortStore`], which sorts at
//! apply so every node stores the same list. Every argument error Redis
//! 7.0 reports comes before it looks at the key, so it is a parse error;
//! what depends on the keys (WRONGTYPE, `BY` and `GET` reading other keys)
//! is answered by the query or the write.
//!
//! Redis Cluster refuses `BY` and `GET` patterns (they name keys that may
//! live on other shards). redraft is one shard that holds every slot, so it
//! allows them, as a standalone Redis does.
//!
//! Invariants:
//! - A write-flagged command is not held behind the connection's pending
//!   writes by the connection, so a `SORT` read waits for them (as every
//!   write command that parses into a read does, in `cmd::run`): it then
//!   sees its own connection's writes.
//! - The options of a `SORT ... STORE` op are copied out of the read
//!   buffer, as every op's arguments are.

use bytes::Bytes;
use redraft_engine::{Error, Query, SortArgs, SortBy, WriteOp};

use super::flags::{DENYOOM, MOVABLEKEYS, READONLY, READS_KEYS, WRITE};
use super::strings::owned;
use super::{CommandSpec, KeyCommand, Parse};

pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec::keyspace(
        "sort",
        -2,
        WRITE | DENYOOM | MOVABLEKEYS | READS_KEYS,
        (1, 1, 1),
        sort,
        "generic",
        "Sorts the elements in a list, a set, or a sorted set, optionally storing the result.",
    ),
    CommandSpec::keyspace(
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

fn sort(_parse: &mut Parse<'_>, args: &[Bytes]) -> Result<KeyCommand, Error> {
    sort_generic(args, true)
}

fn sort_ro(_parse: &mut Parse<'_>, args: &[Bytes]) -> Result<KeyCommand, Error> {
    sort_generic(args, false)
}

/// `SORT key [options]`; `allow_store` is false for `SORT_RO`.
fn sort_generic(args: &[Bytes], allow_store: bool) -> Result<KeyCommand, Error> {
    let (options, store) = SortArgs::parse(&args[1..], allow_store)?;
    Ok(match store {
        Some(dst) => KeyCommand::Write(WriteOp::SortStore {
            key: owned(&args[0]),
            dst: owned(&dst),
            args: owned_options(options),
        }),
        None => KeyCommand::Read(Query::Sort {
            key: args[0].clone(),
            args: options,
        }),
    })
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
