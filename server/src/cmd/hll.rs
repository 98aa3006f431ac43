//! HyperLogLog commands: PFADD, PFCOUNT, PFMERGE, PFDEBUG and PFSELFTEST,
//! on string values holding Redis 7.0's sketch (`engine/src/hll`).
//!
//! Each keyspace command parses into a read ([`Query`]) or a write
//! ([`HllOp`]); none reads the node. `PFCOUNT` of one key is the write
//! [`HllOp::Count`], because Redis stores the count in the sketch's header
//! when its cache is stale; the connection answers it as a read, with no
//! Raft entry, when the cache is valid (see `run_parsed` and
//! `Engine::answer_without_write`). It keeps Redis's `readonly` flag and
//! carries [`MAY_WRITE`], so it is routed as a write (a follower
//! redirects it) and passes the read gate. `PFCOUNT` of several keys
//! writes nothing and is a plain read.
//!
//! `PFDEBUG` checks the key before its subcommand, as Redis does: `DECODE`,
//! `ENCODING` and an unknown subcommand are reads that report their errors
//! after the key's; `GETREG` and `TODENSE` turn a sparse sketch dense, so
//! they are writes. `PFSELFTEST` runs on this node.

use bytes::Bytes;
use redraft_engine::{Error, HllDebug, HllOp, Query, ReplySink, WriteOp};

use super::args::is;
use super::flags::{ADMIN, DENYOOM, FAST, MAY_WRITE, READONLY, WRITE};
use super::strings::owned;
use super::{Action, CommandSpec, Ctx, KeyCommand, Parse};

const fn spec(
    name: &'static str,
    arity: i32,
    flags: u32,
    keys: (i32, i32, i32),
    parse: super::Parser,
    summary: &'static str,
) -> CommandSpec {
    CommandSpec::keyspace(name, arity, flags, keys, parse, "hyperloglog", summary).since("2.8.9")
}

pub const COMMANDS: &[CommandSpec] = &[
    spec(
        "pfadd",
        -2,
        WRITE | DENYOOM | FAST,
        (1, 1, 1),
        pfadd,
        "Adds the specified elements to the specified HyperLogLog.",
    ),
    spec(
        "pfcount",
        -2,
        READONLY | MAY_WRITE,
        (1, -1, 1),
        pfcount,
        "Return the approximated cardinality of the set(s) observed by the HyperLogLog at key(s).",
    ),
    spec(
        "pfmerge",
        -2,
        WRITE | DENYOOM,
        (1, -1, 1),
        pfmerge,
        "Merge N different HyperLogLogs into a single one.",
    ),
    spec(
        "pfdebug",
        3,
        WRITE | DENYOOM | ADMIN,
        (2, 2, 1),
        pfdebug,
        "Internal commands for debugging HyperLogLog values",
    ),
    CommandSpec::new(
        "pfselftest",
        1,
        ADMIN,
        (0, 0, 0),
        pfselftest,
        "hyperloglog",
        "An internal command for testing HyperLogLog values",
    )
    .since("2.8.9"),
];

/// The result of a parser.
type Parsed = Result<KeyCommand, Error>;

fn pfadd(_parse: &mut Parse<'_>, args: &[Bytes]) -> Parsed {
    Ok(KeyCommand::Write(WriteOp::Hll(HllOp::Add {
        key: owned(&args[0]),
        elements: args[1..].iter().map(owned).collect(),
    })))
}

fn pfcount(_parse: &mut Parse<'_>, args: &[Bytes]) -> Parsed {
    if let [key] = args {
        return Ok(KeyCommand::Write(WriteOp::Hll(HllOp::Count {
            key: owned(key),
        })));
    }
    Ok(KeyCommand::Read(Query::PfCount {
        keys: args.to_vec(),
    }))
}

fn pfmerge(_parse: &mut Parse<'_>, args: &[Bytes]) -> Parsed {
    Ok(KeyCommand::Write(WriteOp::Hll(HllOp::Merge {
        dst: owned(&args[0]),
        sources: args[1..].iter().map(owned).collect(),
    })))
}

fn pfdebug(_parse: &mut Parse<'_>, args: &[Bytes]) -> Parsed {
    let (sub, key) = (&args[0], &args[1]);
    let to_dense = |registers| {
        Ok(KeyCommand::Write(WriteOp::Hll(HllOp::ToDense {
            key: owned(key),
            registers,
        })))
    };
    let read = if is(sub, "getreg") {
        return to_dense(true);
    } else if is(sub, "todense") {
        return to_dense(false);
    } else if is(sub, "decode") {
        Ok(HllDebug::Decode)
    } else if is(sub, "encoding") {
        Ok(HllDebug::Encoding)
    } else {
        Err(unknown_subcommand(sub))
    };
    Ok(KeyCommand::Read(Query::PfDebug {
        key: key.clone(),
        read,
    }))
}

/// Redis's error for an unknown `PFDEBUG` subcommand: the name as a C
/// string (up to a NUL), with line breaks turned into spaces.
fn unknown_subcommand(sub: &[u8]) -> Error {
    let name = &sub[..sub.iter().position(|&b| b == 0).unwrap_or(sub.len())];
    let name = String::from_utf8_lossy(name).replace(['\r', '\n'], " ");
    Error::Text(format!("ERR Unknown PFDEBUG subcommand '{name}'").into_boxed_str())
}

/// `PFSELFTEST`: Redis's self-test of the sketch code, on this node.
fn pfselftest(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> Action {
    match redraft_engine::hll_selftest(ctx.random_seed()) {
        Ok(()) => ctx.out.ok(),
        Err(text) => ctx.out.error_text(&text),
    }
    Action::Replied
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_subcommands_are_named_as_redis_names_them() {
        let cases: &[(&[u8], &str)] = &[
            (b"foo", "ERR Unknown PFDEBUG subcommand 'foo'"),
            (b"a\0b", "ERR Unknown PFDEBUG subcommand 'a'"),
            (b"a\r\nb", "ERR Unknown PFDEBUG subcommand 'a  b'"),
        ];
        for (sub, expected) in cases {
            assert_eq!(unknown_subcommand(sub).to_string(), *expected);
        }
    }
}
