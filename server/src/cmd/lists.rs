//! List commands: pushes, pops, ranges, edits and moves.
//!
//! Every argument error Redis 7.0 reports before it looks at the key is
//! reported here, so only well-formed writes are proposed. `LSET` and
//! `LINDEX` are the exceptions: Redis looks the key up before it parses the
//! index, so a bad index on a missing key or a key of another type gets
//! that key's reply (`LINDEX` passes the parse result to the engine's read;
//! `LSET` answers from local state once this connection's writes apply).
//!
//! The blocking variants (`BLPOP`, `BLMOVE`, ...) are not here; their ops
//! would be [`ListOp::Pop`], [`ListOp::Move`] and [`ListOp::MPop`].

use bytes::Bytes;
use redraft_engine::int_arg::{LONG, LPOS_COUNT, LPOS_MAXLEN, MPOP_COUNT, NUMKEYS, POP_COUNT};
use redraft_engine::{Error, ListOp, Reply, WriteOp};

use super::args::{is, Args};
use super::flags::{DENYOOM, FAST, MOVABLEKEYS, READONLY, WRITE};
use super::strings::owned;
use super::{arity_error, Action, CommandSpec, Ctx};

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

fn lpushx(_ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    push(args, true, true)
}

fn rpushx(_ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    push(args, false, true)
}

/// `LPOP` / `RPOP key [count]`: Redis's table allows any number of
/// arguments, and the command rejects more than one count itself.
fn pop(ctx: &mut Ctx<'_>, args: &[Bytes], left: bool) -> Action {
    if args.len() > 2 {
        return arity_error(ctx, if left { "lpop" } else { "rpop" });
    }
    let count = match args
        .get(1)
        .map(|count| POP_COUNT.parse_u64(count))
        .transpose()
    {
        Ok(count) => count,
        Err(error) => return ctx.fail(error),
    };
    let nothing = if count.is_some() {
        Reply::NilArray
    } else {
        Reply::Nil
    };
    if let Some(answered) = ctx.answer_if_missing(&args[0], nothing) {
        return answered;
    }
    Action::Write(WriteOp::Lists(ListOp::Pop {
        key: owned(&args[0]),
        left,
        count,
    }))
}

fn lpop(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    pop(ctx, args, true)
}

fn rpop(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    pop(ctx, args, false)
}

fn llen(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    let engine = &ctx.shared.engine;
    engine.llen(ctx.client.db, &args[0], ctx.now_ms, &mut ctx.out);
    Action::Replied
}

/// Two integer arguments (`start stop`), or `ERR value is not an integer`.
fn two_i64(args: &[Bytes]) -> Result<(i64, i64), Error> {
    let mut parsed = Args::new(args);
    Ok((parsed.next_i64()?, parsed.next_i64()?))
}

fn lrange(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    let (start, stop) = match two_i64(&args[1..]) {
        Ok(range) => range,
        Err(error) => return ctx.fail(error),
    };
    let (db, now_ms) = (ctx.client.db, ctx.now_ms);
    let engine = &ctx.shared.engine;
    engine.lrange(db, &args[0], start, stop, now_ms, &mut ctx.out);
    Action::Replied
}

fn lindex(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    let index = LONG.parse(&args[1]).ok();
    let (db, now_ms) = (ctx.client.db, ctx.now_ms);
    let engine = &ctx.shared.engine;
    engine.lindex(db, &args[0], index, now_ms, &mut ctx.out);
    Action::Replied
}

fn lset(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    let Ok(index) = LONG.parse(&args[1]) else {
        return lset_invalid_index(ctx, &args[0]);
    };
    Action::Write(WriteOp::Lists(ListOp::Set {
        key: owned(&args[0]),
        index,
        item: owned(&args[2]),
    }))
}

/// Redis parses LSET's index only once it has found a list at the key: a
/// missing key replies `ERR no such key` and another type WRONGTYPE,
/// whatever the index. An invalid index never writes, so this is a read of
/// local state, made once this connection's own earlier writes are applied.
fn lset_invalid_index(ctx: &mut Ctx<'_>, key: &[u8]) -> Action {
    if ctx.writes_pending {
        return Action::WaitForWrites;
    }
    match ctx.shared.engine.key_type(ctx.client.db, key, ctx.now_ms) {
        "none" => ctx.fail(Error::NoSuchKey),
        "list" => ctx.fail(Error::NotInteger),
        _ => ctx.fail(Error::WrongType),
    }
}

fn lrem(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    let count = match LONG.parse(&args[1]) {
        Ok(count) => count,
        Err(error) => return ctx.fail(error),
    };
    Action::Write(WriteOp::Lists(ListOp::Rem {
        key: owned(&args[0]),
        count,
        item: owned(&args[2]),
    }))
}

fn ltrim(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    match two_i64(&args[1..]) {
        Ok((start, stop)) => Action::Write(WriteOp::Lists(ListOp::Trim {
            key: owned(&args[0]),
            start,
            stop,
        })),
        Err(error) => ctx.fail(error),
    }
}

fn linsert(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    let before = if is(&args[1], "after") {
        false
    } else if is(&args[1], "before") {
        true
    } else {
        return ctx.fail(Error::Syntax);
    };
    Action::Write(WriteOp::Lists(ListOp::Insert {
        key: owned(&args[0]),
        before,
        pivot: owned(&args[2]),
        item: owned(&args[3]),
    }))
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

fn lpos(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    let options = match lpos_options(&args[2..]) {
        Ok(options) => options,
        Err(error) => return ctx.fail(error),
    };
    let (db, now_ms) = (ctx.client.db, ctx.now_ms);
    let engine = &ctx.shared.engine;
    engine.lpos(db, &args[0], &args[1], options, now_ms, &mut ctx.out);
    Action::Replied
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

fn list_move(from: &Bytes, to: &Bytes, from_left: bool, to_left: bool) -> Action {
    Action::Write(WriteOp::Lists(ListOp::Move {
        from: owned(from),
        to: owned(to),
        from_left,
        to_left,
    }))
}

fn lmove(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    match side(&args[2]).and_then(|from_left| Ok((from_left, side(&args[3])?))) {
        Ok((from_left, to_left)) => list_move(&args[0], &args[1], from_left, to_left),
        Err(error) => ctx.fail(error),
    }
}

fn rpoplpush(_ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    list_move(&args[0], &args[1], false, true)
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

fn lmpop(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    match lmpop_args(args) {
        Ok((keys, left, count)) => Action::Write(WriteOp::Lists(ListOp::MPop {
            keys: keys.iter().map(owned).collect(),
            left,
            count,
        })),
        Err(error) => ctx.fail(error),
    }
}
