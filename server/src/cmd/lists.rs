//! List commands: pushes, pops, ranges, edits and moves.
//!
//! Each command parses into a read ([`Query`]) or a write ([`ListOp`]);
//! none reads the node. Every argument error Redis 7.0 reports before it
//! looks at the key is reported here, so only well-formed writes are
//! proposed. `LSET` and `LINDEX` are the exceptions: Redis looks the key up
//! before it parses the index, so a bad index on a missing key or a key of
//! another type gets that key's reply (`LINDEX` carries the parse result in
//! its query; an `LSET` with a bad index becomes a [`Query::Refused`],
//! which never writes).
//!
//! The blocking variants (`BLPOP`, `BLMOVE`, ...) are in `blocking.rs`;
//! their ops are [`ListOp::PopFirst`], [`ListOp::Move`] and
//! [`ListOp::MPop`].

use bytes::Bytes;
use redraft_engine::int_arg::{LONG, LPOS_COUNT, LPOS_MAXLEN, MPOP_COUNT, NUMKEYS, POP_COUNT};
use redraft_engine::{Error, KeyKind, ListOp, Query, WriteOp};

use super::args::{is, Args};
use super::flags::{DENYOOM, FAST, MOVABLEKEYS, READONLY, WRITE};
use super::parse::arity;
use super::strings::owned;
use super::{CommandSpec, KeyCommand, Parse};

const fn spec(
    name: &'static str,
    arity: i32,
    flags: u32,
    keys: (i32, i32, i32),
    parse: super::Parser,
    summary: &'static str,
) -> CommandSpec {
    CommandSpec::keyspace(name, arity, flags, keys, parse, "list", summary)
}

/// The result of a parser.
type Parsed = Result<KeyCommand, Error>;

pub const COMMANDS: &[CommandSpec] = &[
    spec(
        "lpush",
        -3,
        WRITE | DENYOOM | FAST,
        (1, 1, 1),
        lpush,
        "Prepend one or multiple elements to a list",
    ),
    spec(
        "rpush",
        -3,
        WRITE | DENYOOM | FAST,
        (1, 1, 1),
        rpush,
        "Append one or multiple elements to a list",
    ),
    spec(
        "lpushx",
        -3,
        WRITE | DENYOOM | FAST,
        (1, 1, 1),
        lpushx,
        "Prepend an element to a list, only if the list exists",
    )
    .since("2.2.0"),
    spec(
        "rpushx",
        -3,
        WRITE | DENYOOM | FAST,
        (1, 1, 1),
        rpushx,
        "Append an element to a list, only if the list exists",
    )
    .since("2.2.0"),
    spec(
        "lpop",
        -2,
        WRITE | FAST,
        (1, 1, 1),
        lpop,
        "Remove and get the first elements in a list",
    ),
    spec(
        "rpop",
        -2,
        WRITE | FAST,
        (1, 1, 1),
        rpop,
        "Remove and get the last elements in a list",
    ),
    spec(
        "llen",
        2,
        READONLY | FAST,
        (1, 1, 1),
        llen,
        "Get the length of a list",
    ),
    spec(
        "lrange",
        4,
        READONLY,
        (1, 1, 1),
        lrange,
        "Get a range of elements from a list",
    ),
    spec(
        "lindex",
        3,
        READONLY,
        (1, 1, 1),
        lindex,
        "Get an element from a list by its index",
    ),
    spec(
        "lset",
        4,
        WRITE | DENYOOM,
        (1, 1, 1),
        lset,
        "Set the value of an element in a list by its index",
    ),
    spec(
        "lrem",
        4,
        WRITE,
        (1, 1, 1),
        lrem,
        "Remove elements from a list",
    ),
    spec(
        "ltrim",
        4,
        WRITE,
        (1, 1, 1),
        ltrim,
        "Trim a list to the specified range",
    ),
    spec(
        "linsert",
        5,
        WRITE | DENYOOM,
        (1, 1, 1),
        linsert,
        "Insert an element before or after another element in a list",
    )
    .since("2.2.0"),
    spec(
        "lpos",
        -3,
        READONLY,
        (1, 1, 1),
        lpos,
        "Return the index of matching elements on a list",
    )
    .since("6.0.6"),
    spec(
        "lmove",
        5,
        WRITE | DENYOOM,
        (1, 2, 1),
        lmove,
        "Pop an element from a list, push it to another list and return it",
    )
    .since("6.2.0"),
    spec(
        "rpoplpush",
        3,
        WRITE | DENYOOM,
        (1, 2, 1),
        rpoplpush,
        "Remove the last element in a list, prepend it to another list and return it",
    )
    .since("1.2.0"),
    spec(
        "lmpop",
        -4,
        WRITE | MOVABLEKEYS,
        (0, 0, 0),
        lmpop,
        "Pop elements from a list",
    )
    .since("7.0.0"),
];

/// `LPOS`'s error for a RANK of 0.
const RANK_ZERO: Error = Error::Other(
    "ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list",
);

fn write(op: ListOp) -> Parsed {
    Ok(KeyCommand::Write(WriteOp::Lists(op)))
}

fn push(args: &[Bytes], left: bool, only_if_exists: bool) -> Parsed {
    write(ListOp::Push {
        key: owned(&args[0]),
        items: args[1..].iter().map(owned).collect(),
        left,
        only_if_exists,
    })
}

fn lpush(_parse: &mut Parse<'_>, args: &[Bytes]) -> Parsed {
    push(args, true, false)
}

fn rpush(_parse: &mut Parse<'_>, args: &[Bytes]) -> Parsed {
    push(args, false, false)
}

fn lpushx(_parse: &mut Parse<'_>, args: &[Bytes]) -> Parsed {
    push(args, true, true)
}

fn rpushx(_parse: &mut Parse<'_>, args: &[Bytes]) -> Parsed {
    push(args, false, true)
}

/// `LPOP` / `RPOP key [count]`: Redis's table allows any number of
/// arguments, and the command rejects more than one count itself. A pop
/// of a missing key is answered as a read (`WriteOp::reply_if_missing`).
fn pop(args: &[Bytes], left: bool) -> Parsed {
    if args.len() > 2 {
        return Err(arity(if left { "lpop" } else { "rpop" }));
    }
    let count = args
        .get(1)
        .map(|count| POP_COUNT.parse_u64(count))
        .transpose()?;
    write(ListOp::Pop {
        key: owned(&args[0]),
        left,
        count,
    })
}

fn lpop(_parse: &mut Parse<'_>, args: &[Bytes]) -> Parsed {
    pop(args, true)
}

fn rpop(_parse: &mut Parse<'_>, args: &[Bytes]) -> Parsed {
    pop(args, false)
}

fn llen(_parse: &mut Parse<'_>, args: &[Bytes]) -> Parsed {
    Ok(KeyCommand::Read(Query::LLen {
        key: args[0].clone(),
    }))
}

/// Two integer arguments (`start stop`), or `ERR value is not an integer`.
fn two_i64(args: &[Bytes]) -> Result<(i64, i64), Error> {
    let mut parsed = Args::new(args);
    Ok((parsed.next_i64()?, parsed.next_i64()?))
}

fn lrange(_parse: &mut Parse<'_>, args: &[Bytes]) -> Parsed {
    let (start, stop) = two_i64(&args[1..])?;
    Ok(KeyCommand::Read(Query::LRange {
        key: args[0].clone(),
        start,
        stop,
    }))
}

fn lindex(_parse: &mut Parse<'_>, args: &[Bytes]) -> Parsed {
    Ok(KeyCommand::Read(Query::LIndex {
        key: args[0].clone(),
        index: LONG.parse(&args[1]).ok(),
    }))
}

/// Redis parses LSET's index only once it has found a list at the key: a
/// missing key replies `ERR no such key` and another type WRONGTYPE,
/// whatever the index. An invalid index never writes, so it is a read.
fn lset(_parse: &mut Parse<'_>, args: &[Bytes]) -> Parsed {
    match LONG.parse(&args[1]) {
        Ok(index) => write(ListOp::Set {
            key: owned(&args[0]),
            index,
            item: owned(&args[2]),
        }),
        Err(error) => Ok(KeyCommand::Read(Query::Refused {
            key: args[0].clone(),
            kind: KeyKind::List,
            missing: Some(Error::NoSuchKey),
            error,
        })),
    }
}

fn lrem(_parse: &mut Parse<'_>, args: &[Bytes]) -> Parsed {
    let count = LONG.parse(&args[1])?;
    write(ListOp::Rem {
        key: owned(&args[0]),
        count,
        item: owned(&args[2]),
    })
}

fn ltrim(_parse: &mut Parse<'_>, args: &[Bytes]) -> Parsed {
    let (start, stop) = two_i64(&args[1..])?;
    write(ListOp::Trim {
        key: owned(&args[0]),
        start,
        stop,
    })
}

fn linsert(_parse: &mut Parse<'_>, args: &[Bytes]) -> Parsed {
    let before = if is(&args[1], "after") {
        false
    } else if is(&args[1], "before") {
        true
    } else {
        return Err(Error::Syntax);
    };
    write(ListOp::Insert {
        key: owned(&args[0]),
        before,
        pivot: owned(&args[2]),
        item: owned(&args[3]),
    })
}

/// LPOS's options as `(rank, count, maxlen)`: rank 1, no count and maxlen
/// 0 (no limit) unless given. Each option may repeat; the last one wins.
fn lpos_options(args: &[Bytes]) -> Result<(i64, Option<u64>, u64), Error> {
    let (mut rank, mut count, mut maxlen) = (1, None, 0);
    let mut parsed = Args::new(args);
    while let Some(option) = parsed.next_opt() {
        if parsed.remaining() == 0 {
            return Err(Error::Syntax);
        }
        let value = parsed.next_bytes()?;
        if is(option, "rank") {
            rank = LONG.parse(value)?;
            if rank == 0 {
                return Err(RANK_ZERO);
            }
        } else if is(option, "count") {
            count = Some(LPOS_COUNT.parse_u64(value)?);
        } else if is(option, "maxlen") {
            maxlen = LPOS_MAXLEN.parse_u64(value)?;
        } else {
            return Err(Error::Syntax);
        }
    }
    Ok((rank, count, maxlen))
}

fn lpos(_parse: &mut Parse<'_>, args: &[Bytes]) -> Parsed {
    let (rank, count, maxlen) = lpos_options(&args[2..])?;
    Ok(KeyCommand::Read(Query::LPos {
        key: args[0].clone(),
        element: args[1].clone(),
        rank,
        count,
        maxlen,
    }))
}

/// `LEFT` (true) or `RIGHT` (false), or `ERR syntax error`.
pub(super) fn side(arg: &[u8]) -> Result<bool, Error> {
    if is(arg, "left") {
        Ok(true)
    } else if is(arg, "right") {
        Ok(false)
    } else {
        Err(Error::Syntax)
    }
}

/// The write of `LMOVE` and `RPOPLPUSH` (and of their blocking forms).
pub(super) fn move_op(from: &Bytes, to: &Bytes, from_left: bool, to_left: bool) -> WriteOp {
    WriteOp::Lists(ListOp::Move {
        from: owned(from),
        to: owned(to),
        from_left,
        to_left,
    })
}

/// `LMOVE`'s and `BLMOVE`'s two sides (`wherefrom`, `whereto`).
pub(super) fn sides(from: &[u8], to: &[u8]) -> Result<(bool, bool), Error> {
    Ok((side(from)?, side(to)?))
}

fn lmove(_parse: &mut Parse<'_>, args: &[Bytes]) -> Parsed {
    let (from_left, to_left) = sides(&args[2], &args[3])?;
    Ok(KeyCommand::Write(move_op(
        &args[0], &args[1], from_left, to_left,
    )))
}

fn rpoplpush(_parse: &mut Parse<'_>, args: &[Bytes]) -> Parsed {
    Ok(KeyCommand::Write(move_op(&args[0], &args[1], false, true)))
}

/// `LMPOP numkeys key [key ...] LEFT|RIGHT [COUNT count]`'s arguments
/// (after the command name) as `(keys, left, count)`, checked in Redis's
/// order.
pub(super) fn lmpop_args(args: &[Bytes]) -> Result<(&[Bytes], bool, u64), Error> {
    let numkeys = NUMKEYS.parse_u64(&args[0])?;
    // The keys and the side must all be there.
    if numkeys >= args.len() as u64 - 1 {
        return Err(Error::Syntax);
    }
    let (keys, rest) = args[1..].split_at(numkeys as usize);
    let mut parsed = Args::new(rest);
    let left = side(parsed.next_bytes()?)?;
    let mut count = None;
    while let Some(option) = parsed.next_opt() {
        if count.is_some() || !is(option, "count") || parsed.remaining() == 0 {
            return Err(Error::Syntax);
        }
        count = Some(MPOP_COUNT.parse_u64(parsed.next_bytes()?)?);
    }
    Ok((keys, left, count.unwrap_or(1)))
}

/// The write of `LMPOP` (and of `BLMPOP`).
pub(super) fn mpop_op(keys: &[Bytes], left: bool, count: u64) -> WriteOp {
    WriteOp::Lists(ListOp::MPop {
        keys: keys.iter().map(owned).collect(),
        left,
        count,
    })
}

fn lmpop(_parse: &mut Parse<'_>, args: &[Bytes]) -> Parsed {
    let (keys, left, count) = lmpop_args(args)?;
    Ok(KeyCommand::Write(mpop_op(keys, left, count)))
}
