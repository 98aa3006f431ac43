//! `DUMP` and `RESTORE`. The payload is redraft's own (see the engine's
//! `payload` module and `docs/datatypes.md`), so payloads move between
//! redraft nodes and servers, not to or from Redis.
//!
//! `RESTORE` is checked in Redis's order: its options (`REPLACE`,
//! `ABSTTL`, `IDLETIME`, `FREQ`), then whether the key exists (without
//! `REPLACE`), then the TTL, then the payload (version, checksum and the
//! whole value). Only a command that passes all but the existence check
//! becomes a [`WriteOp::Restore`], carrying the decoded value; apply then
//! answers `BUSYKEY` itself. `IDLETIME` sets the key's idle time at
//! apply, as Redis does (`OBJECT IDLETIME`); `FREQ` is validated as Redis
//! does and otherwise ignored, as Redis ignores it under an eviction
//! policy that is not LFU (redraft ignores it under an LFU policy too: the
//! counter is node-local, never set at apply; `docs/memory.md`).
//!
//! Invariants:
//! - A RESTORE error that Redis would report only after its `BUSYKEY`
//!   check is reported as `BUSYKEY` when the key exists: without `REPLACE`
//!   the command becomes a [`Query::RestoreRefused`], a read that never
//!   writes (and, as any read of a write command, runs once this
//!   connection's own writes are applied).

use bytes::Bytes;
use redraft_engine::int_arg::LONG;
use redraft_engine::{decode_payload, Error, Query, WriteOp};

use super::args::is;
use super::flags::{DENYOOM, READONLY, WRITE};
use super::strings::owned;
use super::{CommandSpec, KeyCommand, Parse};

pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec::keyspace(
        "dump",
        2,
        READONLY,
        (1, 1, 1),
        dump,
        "generic",
        "Returns a serialized representation of the value stored at a key.",
    )
    .since("2.6.0"),
    CommandSpec::keyspace(
        "restore",
        -4,
        WRITE | DENYOOM,
        (1, 1, 1),
        restore,
        "generic",
        "Creates a key from the serialized representation of a value.",
    )
    .since("2.6.0"),
];

/// The result of a parser.
type Parsed = Result<KeyCommand, Error>;

fn dump(_parse: &mut Parse<'_>, args: &[Bytes]) -> Parsed {
    Ok(KeyCommand::Read(Query::Dump {
        key: args[0].clone(),
    }))
}

/// What `RESTORE`'s options say.
struct Options {
    replace: bool,
    absolute: bool,
    /// `IDLETIME`'s seconds.
    idle_s: Option<i64>,
}

/// Parses the options after the payload as Redis's `restoreCommand` does:
/// `IDLETIME` and `FREQ` exclude each other (the second is a syntax error).
fn parse_options(options: &[Bytes]) -> Result<Options, Error> {
    let mut parsed = Options {
        replace: false,
        absolute: false,
        idle_s: None,
    };
    let mut freq = false;
    let mut i = 0;
    while i < options.len() {
        let (option, more) = (&options[i], options.len() - i - 1);
        if is(option, "replace") {
            parsed.replace = true;
        } else if is(option, "absttl") {
            parsed.absolute = true;
        } else if is(option, "idletime") && more >= 1 && !freq {
            let seconds = LONG.parse(&options[i + 1])?;
            if seconds < 0 {
                return Err(Error::Other("ERR Invalid IDLETIME value, must be >= 0"));
            }
            parsed.idle_s = Some(seconds);
            i += 1;
        } else if is(option, "freq") && more >= 1 && parsed.idle_s.is_none() {
            let frequency = LONG.parse(&options[i + 1])?;
            if !(0..=255).contains(&frequency) {
                return Err(Error::Other(
                    "ERR Invalid FREQ value, must be >= 0 and <= 255",
                ));
            }
            freq = true;
            i += 1;
        } else {
            return Err(Error::Syntax);
        }
        i += 1;
    }
    Ok(parsed)
}

/// `RESTORE key ttl payload [REPLACE] [ABSTTL] [IDLETIME s] [FREQ f]`.
fn restore(_parse: &mut Parse<'_>, args: &[Bytes]) -> Parsed {
    let options = parse_options(&args[3..])?;
    let checked = LONG
        .parse(&args[1])
        .and_then(|ttl| {
            if ttl < 0 {
                Err(Error::Other("ERR Invalid TTL value, must be >= 0"))
            } else {
                Ok(ttl)
            }
        })
        .and_then(|ttl| Ok((ttl, decode_payload(&args[2])?)));
    match checked {
        Ok((ttl_ms, value)) => Ok(KeyCommand::Write(WriteOp::Restore {
            key: owned(&args[0]),
            value,
            ttl_ms,
            absolute: options.absolute,
            replace: options.replace,
            idle_s: options.idle_s,
        })),
        Err(error) if options.replace => Err(error),
        // Redis answers BUSYKEY before looking at the TTL or the payload.
        Err(error) => Ok(KeyCommand::Read(Query::RestoreRefused {
            key: args[0].clone(),
            error,
        })),
    }
}
