//! Hash commands: HSET and its family, HGET and its family, HRANDFIELD and
//! HSCAN.
//!
//! Each command parses into a read ([`Query`]) or a write ([`HashOp`]);
//! none reads the node. Writes are validated here (every error Redis
//! reports before it looks at the key) and applied in
//! `engine/src/hash/ops.rs`. `HSCAN`'s options are the exception: Redis
//! checks them only once it has found the hash, so the query carries their
//! error. Arity and flags are those of Redis 7.0's `COMMAND INFO`.

use bytes::Bytes;
use redraft_engine::int_arg::{check_random_pairs, scan_count, LONG, RANDOM_COUNT};
use redraft_engine::{Error, HashOp, Query, ScanArgs, WriteOp};

use super::args::{is, parse_cursor};
use super::flags::{DENYOOM, FAST, READONLY, WRITE};
use super::parse::arity;
use super::strings::owned;
use super::{CommandSpec, KeyCommand, Parse};

const fn spec(
    name: &'static str,
    arity: i32,
    flags: u32,
    parse: super::Parser,
    summary: &'static str,
) -> CommandSpec {
    CommandSpec::keyspace(name, arity, flags, (1, 1, 1), parse, "hash", summary)
}

/// The result of a parser.
type Parsed = Result<KeyCommand, Error>;

/// Flags of the hash writes that may grow memory.
const GROWS: u32 = WRITE | DENYOOM | FAST;

pub const COMMANDS: &[CommandSpec] = &[
    spec("hset", -4, GROWS, hset, "Creates or modifies the value of a field in a hash.").since("2.0.0"),
    spec("hsetnx", 4, GROWS, hsetnx, "Sets the value of a field in a hash only when the field doesn't exist.").since("2.0.0"),
    spec("hmset", -4, GROWS, hmset, "Sets the values of multiple fields.").since("2.0.0"),
    spec("hget", 3, READONLY | FAST, hget, "Returns the value of a field in a hash.").since("2.0.0"),
    spec("hmget", -3, READONLY | FAST, hmget, "Returns the values of all fields in a hash.").since("2.0.0"),
    spec("hdel", -3, WRITE | FAST, hdel, "Deletes one or more fields and their values from a hash. Deletes the hash if no fields remain.").since("2.0.0"),
    spec("hexists", 3, READONLY | FAST, hexists, "Determines whether a field exists in a hash.").since("2.0.0"),
    spec("hlen", 2, READONLY | FAST, hlen, "Returns the number of fields in a hash.").since("2.0.0"),
    spec("hstrlen", 3, READONLY | FAST, hstrlen, "Returns the length of the value of a field.").since("3.2.0"),
    spec("hkeys", 2, READONLY, hkeys, "Returns all fields in a hash.").since("2.0.0"),
    spec("hvals", 2, READONLY, hvals, "Returns all values in a hash.").since("2.0.0"),
    spec("hgetall", 2, READONLY, hgetall, "Returns all fields and values in a hash.").since("2.0.0"),
    spec("hincrby", 4, GROWS, hincrby, "Increments the integer value of a field in a hash by a number. Uses 0 as initial value if the field doesn't exist.").since("2.0.0"),
    spec("hincrbyfloat", 4, GROWS, hincrbyfloat, "Increments the floating point value of a field by a number. Uses 0 as initial value if the field doesn't exist.").since("2.6.0"),
    spec("hrandfield", -2, READONLY, hrandfield, "Returns one or more random fields from a hash.").since("6.2.0"),
    spec("hscan", -3, READONLY, hscan, "Iterates over fields and values of a hash.").since("2.8.0"),
];

/// The (field, value) pairs of HSET / HMSET, or the arity error Redis gives
/// when they do not come in pairs.
fn field_pairs(name: &'static str, args: &[Bytes]) -> Result<Vec<(Bytes, Bytes)>, Error> {
    if !args.len().is_multiple_of(2) {
        return Err(arity(name));
    }
    Ok(args
        .chunks_exact(2)
        .map(|pair| (owned(&pair[0]), owned(&pair[1])))
        .collect())
}

fn write(op: HashOp) -> Parsed {
    Ok(KeyCommand::Write(WriteOp::Hashes(op)))
}

fn read(query: Query) -> Parsed {
    Ok(KeyCommand::Read(query))
}

fn hset_like(args: &[Bytes], name: &'static str, ok: bool) -> Parsed {
    write(HashOp::Set {
        key: owned(&args[0]),
        pairs: field_pairs(name, &args[1..])?,
        ok,
    })
}

fn hset(_parse: &mut Parse<'_>, args: &[Bytes]) -> Parsed {
    hset_like(args, "hset", false)
}

fn hmset(_parse: &mut Parse<'_>, args: &[Bytes]) -> Parsed {
    hset_like(args, "hmset", true)
}

fn hsetnx(_parse: &mut Parse<'_>, args: &[Bytes]) -> Parsed {
    write(HashOp::SetNx {
        key: owned(&args[0]),
        field: owned(&args[1]),
        value: owned(&args[2]),
    })
}

fn hdel(_parse: &mut Parse<'_>, args: &[Bytes]) -> Parsed {
    write(HashOp::Del {
        key: owned(&args[0]),
        fields: args[1..].iter().map(owned).collect(),
    })
}

fn hincrby(_parse: &mut Parse<'_>, args: &[Bytes]) -> Parsed {
    let delta = LONG.parse(&args[2])?;
    write(HashOp::IncrBy {
        key: owned(&args[0]),
        field: owned(&args[1]),
        delta,
    })
}

fn hincrbyfloat(_parse: &mut Parse<'_>, args: &[Bytes]) -> Parsed {
    write(HashOp::incr_by_float(
        owned(&args[0]),
        owned(&args[1]),
        owned(&args[2]),
    )?)
}

fn hget(_parse: &mut Parse<'_>, args: &[Bytes]) -> Parsed {
    read(Query::HGet {
        key: args[0].clone(),
        field: args[1].clone(),
    })
}

fn hmget(_parse: &mut Parse<'_>, args: &[Bytes]) -> Parsed {
    read(Query::HMGet {
        key: args[0].clone(),
        fields: args[1..].to_vec(),
    })
}

fn hexists(_parse: &mut Parse<'_>, args: &[Bytes]) -> Parsed {
    read(Query::HExists {
        key: args[0].clone(),
        field: args[1].clone(),
    })
}

fn hlen(_parse: &mut Parse<'_>, args: &[Bytes]) -> Parsed {
    read(Query::HLen {
        key: args[0].clone(),
    })
}

fn hstrlen(_parse: &mut Parse<'_>, args: &[Bytes]) -> Parsed {
    read(Query::HStrLen {
        key: args[0].clone(),
        field: args[1].clone(),
    })
}

fn hkeys(_parse: &mut Parse<'_>, args: &[Bytes]) -> Parsed {
    read(Query::HKeys {
        key: args[0].clone(),
        values: false,
    })
}

fn hvals(_parse: &mut Parse<'_>, args: &[Bytes]) -> Parsed {
    read(Query::HKeys {
        key: args[0].clone(),
        values: true,
    })
}

fn hgetall(_parse: &mut Parse<'_>, args: &[Bytes]) -> Parsed {
    read(Query::HGetAll {
        key: args[0].clone(),
    })
}

/// `HRANDFIELD key [count [WITHVALUES]]`, checked in Redis's order: the
/// count, then the syntax, then the WITHVALUES range, then the key.
fn hrandfield(parse: &mut Parse<'_>, args: &[Bytes]) -> Parsed {
    let count = args
        .get(1)
        .map(|text| RANDOM_COUNT.parse(text))
        .transpose()?;
    let with_values = match args.get(2) {
        None => false,
        Some(arg) if args.len() == 3 && is(arg, "withvalues") => true,
        Some(_) => return Err(Error::Syntax),
    };
    if let (true, Some(count)) = (with_values, count) {
        check_random_pairs(count)?;
    }
    read(Query::HRandField {
        key: args[0].clone(),
        count,
        with_values,
        seed: parse.random_seed(),
    })
}

/// `HSCAN`'s options, or the error Redis gives for them (which it reports
/// only after finding the hash). A `MATCH *` matches everything, so it is
/// no pattern.
pub(super) fn scan_options(options: &[Bytes]) -> Result<ScanArgs, Error> {
    let mut parsed = ScanArgs {
        pattern: None,
        count: 10,
    };
    for pair in options.chunks(2) {
        let [option, value] = pair else {
            return Err(Error::Syntax);
        };
        if is(option, "count") {
            parsed.count = scan_count(value)?;
        } else if is(option, "match") {
            parsed.pattern = Some(value.clone());
        } else {
            return Err(Error::Syntax);
        }
    }
    parsed.pattern = parsed.pattern.filter(|pattern| &pattern[..] != b"*");
    Ok(parsed)
}

fn hscan(_parse: &mut Parse<'_>, args: &[Bytes]) -> Parsed {
    let cursor = parse_cursor(&args[1]).ok_or(Error::Other("ERR invalid cursor"))?;
    read(Query::HScan {
        key: args[0].clone(),
        cursor,
        options: scan_options(&args[2..]),
    })
}
