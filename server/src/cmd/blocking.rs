//! The blocking pops: BLPOP, BRPOP, BLMOVE, BRPOPLPUSH, BLMPOP, BZPOPMIN,
//! BZPOPMAX and BZMPOP.
//!
//! Each parses like its non-blocking form plus a timeout, into a
//! [`KeyCommand::Block`]: the write to propose (which pops, or replies nil
//! when every key is empty) and the keys to wait on. The connection does
//! the waiting (see `crate::blocking`); inside a transaction the write
//! simply runs once, as Redis runs a blocking command in MULTI.

use bytes::Bytes;
use redraft_engine::{parse_float, Error, ListOp, WriteOp, ZSetOp};

use super::flags::{BLOCKING, DENYOOM, FAST, MOVABLEKEYS, NOSCRIPT, WRITE};
use super::lists::{lmpop_args, move_op, mpop_op, sides};
use super::strings::owned;
use super::{CommandSpec, KeyCommand, Parse};

const fn spec(
    name: &'static str,
    arity: i32,
    flags: u32,
    keys: (i32, i32, i32),
    parse: super::Parser,
    (group, summary, since): (&'static str, &'static str, &'static str),
) -> CommandSpec {
    CommandSpec::keyspace(name, arity, flags, keys, parse, group, summary).since(since)
}

/// The result of a parser.
type Parsed = Result<KeyCommand, Error>;

pub const COMMANDS: &[CommandSpec] = &[
    spec("blpop", -3, WRITE | NOSCRIPT | BLOCKING, (1, -2, 1), blpop,
        ("list", "Remove and get the first element in a list, or block until one is available", "2.0.0")),
    spec("brpop", -3, WRITE | NOSCRIPT | BLOCKING, (1, -2, 1), brpop,
        ("list", "Remove and get the last element in a list, or block until one is available", "2.0.0")),
    spec("blmove", 6, WRITE | DENYOOM | NOSCRIPT | BLOCKING, (1, 2, 1), blmove,
        ("list", "Pop an element from a list, push it to another list and return it; or block until one is available", "6.2.0")),
    spec("brpoplpush", 4, WRITE | DENYOOM | NOSCRIPT | BLOCKING, (1, 2, 1), brpoplpush,
        ("list", "Pop an element from a list, push it to another list and return it; or block until one is available", "2.2.0")),
    spec("blmpop", -5, WRITE | BLOCKING | MOVABLEKEYS, (0, 0, 0), blmpop,
        ("list", "Pop elements from a list, or block until one is available", "7.0.0")),
    spec("bzpopmin", -3, WRITE | NOSCRIPT | BLOCKING | FAST, (1, -2, 1), bzpopmin,
        ("sorted-set", "Remove and return the member with the lowest score from one or more sorted sets, or block until one is available", "5.0.0")),
    spec("bzpopmax", -3, WRITE | NOSCRIPT | BLOCKING | FAST, (1, -2, 1), bzpopmax,
        ("sorted-set", "Remove and return the member with the highest score from one or more sorted sets, or block until one is available", "5.0.0")),
    spec("bzmpop", -5, WRITE | BLOCKING | MOVABLEKEYS, (0, 0, 0), bzmpop,
        ("sorted-set", "Remove and return members with scores in a sorted set or block until one is available", "7.0.0")),
];

/// Redis's errors for a bad timeout.
const TIMEOUT_NOT_FLOAT: Error = Error::Other("ERR timeout is not a float or out of range");
const TIMEOUT_NEGATIVE: Error = Error::Other("ERR timeout is negative");
/// The first millisecond count that does not fit in Redis's `long long`.
const TWO_POW_63: f64 = 9_223_372_036_854_775_808.0;

/// A timeout in seconds (a float) as milliseconds, rounded up as Redis
/// does; `None` for 0, which blocks for ever. Redis converts to a signed
/// 64-bit count of milliseconds, so whatever does not fit is "negative".
pub fn parse_timeout_ms(text: &[u8]) -> Result<Option<u64>, Error> {
    let seconds = parse_float(text).ok_or(TIMEOUT_NOT_FLOAT)?;
    if seconds.is_nan() {
        return Err(TIMEOUT_NOT_FLOAT);
    }
    let ms = (seconds * 1000.0).ceil();
    if !(0.0..TWO_POW_63).contains(&ms) {
        return Err(TIMEOUT_NEGATIVE);
    }
    Ok((ms > 0.0).then_some(ms as u64))
}

/// A blocking pop that waits on `keys` (the timeout is checked first).
fn block(timeout: &[u8], keys: &[Bytes], pop: Result<WriteOp, Error>) -> Parsed {
    let timeout_ms = parse_timeout_ms(timeout)?;
    Ok(KeyCommand::Block {
        pop: pop?,
        keys: keys.iter().map(owned).collect(),
        timeout_ms,
    })
}

/// `B[LR]POP key [key ...] timeout` and `BZPOPMIN|BZPOPMAX` alike.
fn pop_first(args: &[Bytes], op: impl FnOnce(Vec<Bytes>) -> WriteOp) -> Parsed {
    let (timeout, keys) = args.split_last().expect("arity guarantees a timeout");
    let op = op(keys.iter().map(owned).collect());
    block(timeout, keys, Ok(op))
}

fn blpop(_parse: &mut Parse<'_>, args: &[Bytes]) -> Parsed {
    pop_first(args, |keys| {
        WriteOp::Lists(ListOp::PopFirst { keys, left: true })
    })
}

fn brpop(_parse: &mut Parse<'_>, args: &[Bytes]) -> Parsed {
    pop_first(args, |keys| {
        WriteOp::Lists(ListOp::PopFirst { keys, left: false })
    })
}

fn bzpopmin(_parse: &mut Parse<'_>, args: &[Bytes]) -> Parsed {
    pop_first(args, |keys| {
        WriteOp::ZSets(ZSetOp::PopFirst { keys, max: false })
    })
}

fn bzpopmax(_parse: &mut Parse<'_>, args: &[Bytes]) -> Parsed {
    pop_first(args, |keys| {
        WriteOp::ZSets(ZSetOp::PopFirst { keys, max: true })
    })
}

/// `BLMOVE source destination LEFT|RIGHT LEFT|RIGHT timeout`: the timeout
/// is checked before the sides, as Redis does.
fn blmove(_parse: &mut Parse<'_>, args: &[Bytes]) -> Parsed {
    let op = sides(&args[2], &args[3])
        .map(|(from_left, to_left)| move_op(&args[0], &args[1], from_left, to_left));
    block(&args[4], &args[..1], op)
}

fn brpoplpush(_parse: &mut Parse<'_>, args: &[Bytes]) -> Parsed {
    let op = move_op(&args[0], &args[1], false, true);
    block(&args[2], &args[..1], Ok(op))
}

/// `BLMPOP timeout numkeys key ... LEFT|RIGHT [COUNT n]`: the pop's
/// arguments are checked before the timeout, as Redis does.
fn blmpop(_parse: &mut Parse<'_>, args: &[Bytes]) -> Parsed {
    let (keys, left, count) = lmpop_args(&args[1..])?;
    block(&args[0], keys, Ok(mpop_op(keys, left, count)))
}

/// `BZMPOP timeout numkeys key ... MIN|MAX [COUNT n]`, checked in the same
/// order as `BLMPOP`.
fn bzmpop(_parse: &mut Parse<'_>, args: &[Bytes]) -> Parsed {
    let op = ZSetOp::parse_zmpop(&args[1..])?;
    let keys = match &op {
        ZSetOp::MPop { keys, .. } => keys.clone(),
        _ => unreachable!("ZMPOP parses to MPop"),
    };
    block(&args[0], &keys, Ok(WriteOp::ZSets(op)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_parse_as_redis_does() {
        let cases: &[(&str, Result<Option<u64>, Error>)] = &[
            ("0", Ok(None)),
            ("-0", Ok(None)),
            ("1", Ok(Some(1000))),
            ("0.01", Ok(Some(10))),
            ("0.0001", Ok(Some(1))),
            ("1.5e2", Ok(Some(150_000))),
            ("9000000000000000", Ok(Some(9_000_000_000_000_000_000))),
            ("9223372036854776", Err(TIMEOUT_NEGATIVE)),
            ("1e30", Err(TIMEOUT_NEGATIVE)),
            ("inf", Err(TIMEOUT_NEGATIVE)),
            ("-inf", Err(TIMEOUT_NEGATIVE)),
            ("-1", Err(TIMEOUT_NEGATIVE)),
            ("nan", Err(TIMEOUT_NOT_FLOAT)),
            ("abc", Err(TIMEOUT_NOT_FLOAT)),
            ("1x", Err(TIMEOUT_NOT_FLOAT)),
            ("", Err(TIMEOUT_NOT_FLOAT)),
        ];
        for (text, want) in cases {
            assert_eq!(&parse_timeout_ms(text.as_bytes()), want, "{text:?}");
        }
    }
}
