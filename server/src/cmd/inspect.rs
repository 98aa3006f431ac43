//! Key introspection: `OBJECT ENCODING|REFCOUNT|IDLETIME|FREQ|HELP` and
//! `MEMORY USAGE|HELP`.
//!
//! None of them is an access of the key (Redis's `LOOKUP_NOTOUCH`).
//! `OBJECT ENCODING`, `OBJECT REFCOUNT` and `MEMORY USAGE` answer from the
//! replicated value, so they parse into queries ([`Query::ObjectEncoding`]
//! and the like), which a transaction runs at apply. `OBJECT IDLETIME` and
//! `OBJECT FREQ` stay node-local handlers: the idle time is the time since
//! the last read or write on this node, which the engine keeps per key as
//! local metadata, so inside `MULTI` they run on the connection's node once
//! `EXEC` has applied (`cmd::multi::runs_locally`), never at apply.

use bytes::Bytes;
use redraft_engine::int_arg::LONG;
use redraft_engine::{Error, Query, ReplySink};

use super::args::is;
use super::flags::{LOADING, READONLY, STALE};
use super::{Action, CommandSpec, Ctx, KeyCommand, Parse};

const fn spec(
    name: &'static str,
    arity: i32,
    flags: u32,
    keys: (i32, i32, i32),
    handler: super::Handler,
    group: &'static str,
    summary: &'static str,
) -> CommandSpec {
    CommandSpec::new(name, arity, flags, keys, handler, group, summary)
}

/// A subcommand that reads the replicated value of its key (the second
/// argument).
const fn keyspace(
    name: &'static str,
    arity: i32,
    parse: super::Parser,
    group: &'static str,
    summary: &'static str,
) -> CommandSpec {
    CommandSpec::keyspace(name, arity, READONLY, (2, 2, 1), parse, group, summary)
}

const OBJECT_SUBCOMMANDS: &[CommandSpec] = &[
    keyspace(
        "object|encoding",
        3,
        object_encoding,
        "generic",
        "Returns the internal encoding of a Redis object.",
    )
    .since("2.2.3"),
    keyspace(
        "object|refcount",
        3,
        object_refcount,
        "generic",
        "Returns the reference count of a value of a key.",
    )
    .since("2.2.3"),
    spec(
        "object|idletime",
        3,
        READONLY,
        (2, 2, 1),
        object_idletime,
        "generic",
        "Returns the time since the last access to a Redis object.",
    )
    .since("2.2.3"),
    spec(
        "object|freq",
        3,
        READONLY,
        (2, 2, 1),
        object_freq,
        "generic",
        "Returns the logarithmic access frequency counter of a Redis object.",
    )
    .since("4.0.0"),
    spec(
        "object|help",
        2,
        LOADING | STALE,
        (0, 0, 0),
        object_help,
        "generic",
        "Returns helpful text about the different subcommands.",
    )
    .since("6.2.0"),
];

const MEMORY_SUBCOMMANDS: &[CommandSpec] = &[
    keyspace(
        "memory|usage",
        -3,
        memory_usage,
        "server",
        "Estimates the memory usage of a key.",
    )
    .since("4.0.0"),
    spec(
        "memory|help",
        2,
        LOADING | STALE,
        (0, 0, 0),
        memory_help,
        "server",
        "Returns helpful text about the different subcommands.",
    )
    .since("4.0.0"),
];

pub const COMMANDS: &[CommandSpec] = &[
    spec(
        "object",
        -2,
        0,
        (0, 0, 0),
        object,
        "generic",
        "A container for object introspection commands.",
    )
    .since("2.2.3")
    .with_subcommands(OBJECT_SUBCOMMANDS),
    spec(
        "memory",
        -2,
        0,
        (0, 0, 0),
        memory,
        "server",
        "A container for memory diagnostics commands.",
    )
    .since("4.0.0")
    .with_subcommands(MEMORY_SUBCOMMANDS),
];

fn object(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    let container = super::lookup(b"object").expect("object is in the table");
    super::dispatch_sub(ctx, container, args)
}

fn memory(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    let container = super::lookup(b"memory").expect("memory is in the table");
    super::dispatch_sub(ctx, container, args)
}

fn object_encoding(_parse: &mut Parse<'_>, args: &[Bytes]) -> Result<KeyCommand, Error> {
    Ok(KeyCommand::Read(Query::ObjectEncoding {
        key: args[0].clone(),
    }))
}

fn object_refcount(_parse: &mut Parse<'_>, args: &[Bytes]) -> Result<KeyCommand, Error> {
    Ok(KeyCommand::Read(Query::ObjectRefcount {
        key: args[0].clone(),
    }))
}

/// Whether the eviction policy counts access frequency (LFU).
fn lfu_policy(ctx: &Ctx<'_>) -> bool {
    ctx.shared.memory.limits.policy().rank() == Some(crate::maxmemory::Rank::Frequency)
}

/// Seconds since the key was last read or written on this node; nil if
/// it is missing. Under an LFU policy Redis does not track idle times and
/// says so; redraft keeps them, but answers as Redis does.
fn object_idletime(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    if lfu_policy(ctx) {
        return ctx.fail(Error::Other(
            "ERR An LFU maxmemory policy is selected, idle time not tracked. Please note that \
             when switching between policies at runtime LRU and LFU data will take some time \
             to adjust.",
        ));
    }
    match ctx
        .shared
        .engine
        .object_idletime(ctx.client.db, &args[0], ctx.now_ms)
    {
        Some(seconds) => ctx.out.int(seconds as i64),
        None => ctx.out.nil(),
    }
    Action::Replied
}

/// The key's LFU counter, decayed to now, under an LFU policy; nil if it
/// is missing; otherwise Redis's error (frequencies are not tracked).
fn object_freq(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    let decay_time_min = ctx.shared.memory.limits.get().lfu_decay_time_min;
    let Some(frequency) =
        ctx.shared
            .engine
            .object_freq(ctx.client.db, &args[0], ctx.now_ms, decay_time_min)
    else {
        ctx.out.nil();
        return Action::Replied;
    };
    if lfu_policy(ctx) {
        ctx.out.int(i64::from(frequency));
        return Action::Replied;
    }
    ctx.fail(Error::Other(
        "ERR An LFU maxmemory policy is not selected, access frequency not tracked. \
         Please note that when switching between policies at runtime LRU and LFU data \
         will take some time to adjust.",
    ))
}

fn object_help(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> Action {
    super::help(
        ctx,
        "OBJECT",
        &[
            "ENCODING <key>",
            "    Return the kind of internal representation used in order to store the value",
            "    associated with a <key>.",
            "FREQ <key>",
            "    Return the access frequency index of the <key>. The returned integer is",
            "    proportional to the logarithm of the recent access frequency of the key.",
            "IDLETIME <key>",
            "    Return the idle time of the <key>, that is the approximated number of",
            "    seconds elapsed since the last access to the key.",
            "REFCOUNT <key>",
            "    Return the number of references of the value associated with the specified",
            "    <key>.",
        ],
    )
}

/// `MEMORY USAGE key [SAMPLES count] ...`: the estimate is exact for
/// every value, so the sample counts are checked (as Redis does: each a
/// long, none negative, the option may repeat) and otherwise unused.
fn memory_usage(_parse: &mut Parse<'_>, args: &[Bytes]) -> Result<KeyCommand, Error> {
    for pair in args[1..].chunks(2) {
        match pair {
            [option, count] if is(option, "samples") => {
                if LONG.parse(count)? < 0 {
                    return Err(Error::Syntax);
                }
            }
            _ => return Err(Error::Syntax),
        }
    }
    Ok(KeyCommand::Read(Query::MemoryUsage {
        key: args[0].clone(),
    }))
}

fn memory_help(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> Action {
    super::help(
        ctx,
        "MEMORY",
        &[
            "USAGE <key> [SAMPLES <count>]",
            "    Return memory in bytes used by <key> and its value. Nested values are",
            "    sampled up to <count> times (default: 5, 0 means sample all).",
        ],
    )
}
