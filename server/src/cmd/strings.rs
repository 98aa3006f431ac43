//! String commands: SET and its family, GET and its family, counters,
//! ranges.

use bytes::Bytes;
use redraft_engine::int_arg::LONG;
use redraft_engine::{Error, ReplySink, SetCondition, TtlChange, WriteOp};

use super::args::{is, Args};
use super::flags::{DENYOOM, FAST, READONLY, WRITE};
use super::{Action, CommandSpec, Ctx};

const fn spec(
    name: &'static str,
    arity: i32,
    flags: u32,
    keys: (i32, i32, i32),
    handler: super::Handler,
    summary: &'static str,
) -> CommandSpec {
    CommandSpec::new(name, arity, flags, keys, handler, "string", summary)
}

pub const COMMANDS: &[CommandSpec] = &[
    spec(
        "set",
        -3,
        WRITE | DENYOOM,
        (1, 1, 1),
        set,
        "Sets the string value of a key, ignoring its type.",
    ),
    spec(
        "get",
        2,
        READONLY | FAST,
        (1, 1, 1),
        get,
        "Returns the string value of a key.",
    ),
    spec(
        "getset",
        3,
        WRITE | DENYOOM | FAST,
        (1, 1, 1),
        getset,
        "Returns the previous string value of a key after setting it to a new value.",
    ),
    spec(
        "getdel",
        2,
        WRITE | FAST,
        (1, 1, 1),
        getdel,
        "Returns the string value of a key after deleting the key.",
    ),
    spec(
        "getex",
        -2,
        WRITE | FAST,
        (1, 1, 1),
        getex,
        "Returns the string value of a key after setting its expiration time.",
    ),
    spec(
        "setnx",
        3,
        WRITE | DENYOOM | FAST,
        (1, 1, 1),
        setnx,
        "Set the string value of a key only when the key doesn't exist.",
    ),
    spec(
        "setex",
        4,
        WRITE | DENYOOM,
        (1, 1, 1),
        setex,
        "Sets the string value and expiration time of a key.",
    ),
    spec(
        "psetex",
        4,
        WRITE | DENYOOM,
        (1, 1, 1),
        psetex,
        "Sets both string value and expiration time in milliseconds of a key.",
    ),
    spec(
        "mset",
        -3,
        WRITE | DENYOOM,
        (1, -1, 2),
        mset,
        "Atomically creates or modifies the string values of one or more keys.",
    ),
    spec(
        "msetnx",
        -3,
        WRITE | DENYOOM,
        (1, -1, 2),
        msetnx,
        "Atomically modifies the string values of one or more keys only when all keys don't exist.",
    ),
    spec(
        "mget",
        -2,
        READONLY | FAST,
        (1, -1, 1),
        mget,
        "Atomically returns the string values of one or more keys.",
    ),
    spec(
        "append",
        3,
        WRITE | DENYOOM | FAST,
        (1, 1, 1),
        append,
        "Appends a string to the value of a key. Creates the key if it doesn't exist.",
    ),
    spec(
        "strlen",
        2,
        READONLY | FAST,
        (1, 1, 1),
        strlen,
        "Returns the length of a string value.",
    ),
    spec(
        "incr",
        2,
        WRITE | DENYOOM | FAST,
        (1, 1, 1),
        incr,
        "Increments the integer value of a key by one.",
    ),
    spec(
        "decr",
        2,
        WRITE | DENYOOM | FAST,
        (1, 1, 1),
        decr,
        "Decrements the integer value of a key by one.",
    ),
    spec(
        "incrby",
        3,
        WRITE | DENYOOM | FAST,
        (1, 1, 1),
        incrby,
        "Increments the integer value of a key by a number.",
    ),
    spec(
        "decrby",
        3,
        WRITE | DENYOOM | FAST,
        (1, 1, 1),
        decrby,
        "Decrements a number from the integer value of a key.",
    ),
    spec(
        "incrbyfloat",
        3,
        WRITE | DENYOOM | FAST,
        (1, 1, 1),
        incrbyfloat,
        "Increment the floating point value of a key by a number.",
    ),
    spec(
        "getrange",
        4,
        READONLY,
        (1, 1, 1),
        getrange,
        "Returns a substring of the string stored at a key.",
    ),
    spec(
        "setrange",
        4,
        WRITE | DENYOOM,
        (1, 1, 1),
        setrange,
        "Overwrites a part of a string value with another by an offset.",
    ),
];

/// Copies an argument out of the connection's read buffer so the engine
/// never pins that buffer.
pub fn owned(arg: &Bytes) -> Bytes {
    Bytes::copy_from_slice(arg)
}

/// The unit and base of an expiry argument.
#[derive(Clone, Copy, PartialEq, Eq)]
enum ExpiryKind {
    Seconds,
    Millis,
    UnixSeconds,
    UnixMillis,
}

/// Converts an expiry argument to a [`TtlChange`], with Redis's checks
/// (`getExpireMillisecondsOrReply`): the amount must be positive and the
/// absolute time must not overflow.
fn parse_expiry(
    text: &[u8],
    kind: ExpiryKind,
    command: &'static str,
    now_ms: u64,
) -> Result<TtlChange, Error> {
    let amount = LONG.parse(text)?;
    let seconds = matches!(kind, ExpiryKind::Seconds | ExpiryKind::UnixSeconds);
    if amount <= 0 || (seconds && amount > i64::MAX / 1000) {
        return Err(Error::InvalidExpire(command));
    }
    let ms = if seconds { amount * 1000 } else { amount };
    match kind {
        ExpiryKind::Seconds | ExpiryKind::Millis => {
            if ms.checked_add(now_ms as i64).is_none() {
                return Err(Error::InvalidExpire(command));
            }
            Ok(TtlChange::InMs(ms))
        }
        ExpiryKind::UnixSeconds | ExpiryKind::UnixMillis => Ok(TtlChange::AtMs(ms)),
    }
}

/// The options SET and GETEX share, parsed as Redis's
/// `parseExtendedStringArgumentsOrReply` does (later EX/PX/... repeats of the
/// same kind are allowed; mixing kinds is a syntax error).
struct ExtendedOptions {
    condition: SetCondition,
    get: bool,
    keep_ttl: bool,
    persist: bool,
    expiry: Option<(ExpiryKind, Bytes)>,
}

fn parse_extended(args: &[Bytes], for_set: bool) -> Result<ExtendedOptions, Error> {
    let mut opts = ExtendedOptions {
        condition: SetCondition::Always,
        get: false,
        keep_ttl: false,
        persist: false,
        expiry: None,
    };
    let mut index = 0;
    while index < args.len() {
        let opt = &args[index];
        let next = args.get(index + 1);
        let expiry_kind = opts.expiry.as_ref().map(|(kind, _)| *kind);
        let expiry_allowed = |kind: ExpiryKind| {
            !opts.keep_ttl
                && !opts.persist
                && expiry_kind.is_none_or(|k| k == kind)
                && next.is_some()
        };
        if for_set && is(opt, "nx") && opts.condition != SetCondition::IfPresent {
            opts.condition = SetCondition::IfAbsent;
        } else if for_set && is(opt, "xx") && opts.condition != SetCondition::IfAbsent {
            opts.condition = SetCondition::IfPresent;
        } else if for_set && is(opt, "get") {
            opts.get = true;
        } else if for_set && is(opt, "keepttl") && expiry_kind.is_none() {
            opts.keep_ttl = true;
        } else if !for_set && is(opt, "persist") && expiry_kind.is_none() {
            opts.persist = true;
        } else if let Some(kind) = [
            ("ex", ExpiryKind::Seconds),
            ("px", ExpiryKind::Millis),
            ("exat", ExpiryKind::UnixSeconds),
            ("pxat", ExpiryKind::UnixMillis),
        ]
        .iter()
        .find(|(name, _)| is(opt, name))
        .map(|(_, kind)| *kind)
        .filter(|kind| expiry_allowed(*kind))
        {
            opts.expiry = Some((kind, next.expect("checked by expiry_allowed").clone()));
            index += 1;
        } else {
            return Err(Error::Syntax);
        }
        index += 1;
    }
    Ok(opts)
}

fn set(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    let opts = match parse_extended(&args[2..], true) {
        Ok(opts) => opts,
        Err(error) => return ctx.fail(error),
    };
    let ttl = match &opts.expiry {
        Some((kind, text)) => match parse_expiry(text, *kind, "set", ctx.now_ms) {
            Ok(ttl) => ttl,
            Err(error) => return ctx.fail(error),
        },
        None if opts.keep_ttl => TtlChange::Keep,
        None => TtlChange::Clear,
    };
    Action::Write(WriteOp::Set {
        key: owned(&args[0]),
        value: owned(&args[1]),
        condition: opts.condition,
        ttl,
        get: opts.get,
    })
}

fn get(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    ctx.shared
        .engine
        .get(ctx.client.db, &args[0], ctx.now_ms, &mut ctx.out);
    Action::Replied
}

fn getset(_ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    Action::Write(WriteOp::Set {
        key: owned(&args[0]),
        value: owned(&args[1]),
        condition: SetCondition::Always,
        ttl: TtlChange::Clear,
        get: true,
    })
}

fn getdel(_ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    Action::Write(WriteOp::GetDel {
        key: owned(&args[0]),
    })
}

fn getex(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    let opts = match parse_extended(&args[1..], false) {
        Ok(opts) => opts,
        Err(error) => return ctx.fail(error),
    };
    let ttl = match &opts.expiry {
        Some((kind, text)) => match parse_expiry(text, *kind, "getex", ctx.now_ms) {
            Ok(ttl) => ttl,
            Err(error) => return getex_invalid_expiry(ctx, &args[0], error),
        },
        None if opts.persist => TtlChange::Clear,
        None => TtlChange::Keep,
    };
    Action::Write(WriteOp::GetEx {
        key: owned(&args[0]),
        ttl,
    })
}

/// Redis checks GETEX's time only once it has found a string at the key:
/// a missing key replies nil and another type WRONGTYPE, whatever the time.
/// An invalid time never writes, so this is a read of local state, made
/// once this connection's own earlier writes are applied.
fn getex_invalid_expiry(ctx: &mut Ctx<'_>, key: &[u8], error: Error) -> Action {
    if ctx.writes_pending {
        return Action::WaitForWrites;
    }
    match ctx.shared.engine.key_type(ctx.client.db, key, ctx.now_ms) {
        "none" => {
            ctx.out.nil();
            Action::Replied
        }
        "string" => ctx.fail(error),
        _ => ctx.fail(Error::WrongType),
    }
}

fn setnx(_ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    Action::Write(WriteOp::SetNx {
        key: owned(&args[0]),
        value: owned(&args[1]),
    })
}

fn set_with_expiry(
    ctx: &mut Ctx<'_>,
    args: &[Bytes],
    kind: ExpiryKind,
    command: &'static str,
) -> Action {
    match parse_expiry(&args[1], kind, command, ctx.now_ms) {
        Ok(ttl) => Action::Write(WriteOp::Set {
            key: owned(&args[0]),
            value: owned(&args[2]),
            condition: SetCondition::Always,
            ttl,
            get: false,
        }),
        Err(error) => ctx.fail(error),
    }
}

fn setex(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    set_with_expiry(ctx, args, ExpiryKind::Seconds, "setex")
}

fn psetex(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    set_with_expiry(ctx, args, ExpiryKind::Millis, "psetex")
}

/// Key/value pairs of MSET and MSETNX, or `None` if the count is odd.
fn pairs(args: &[Bytes]) -> Option<Vec<(Bytes, Bytes)>> {
    if !args.len().is_multiple_of(2) {
        return None;
    }
    Some(
        args.chunks_exact(2)
            .map(|pair| (owned(&pair[0]), owned(&pair[1])))
            .collect(),
    )
}

fn mset(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    match pairs(args) {
        Some(pairs) => Action::Write(WriteOp::MSet { pairs }),
        None => super::arity_error(ctx, "mset"),
    }
}

fn msetnx(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    match pairs(args) {
        Some(pairs) => Action::Write(WriteOp::MSetNx { pairs }),
        None => super::arity_error(ctx, "msetnx"),
    }
}

fn mget(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    ctx.shared
        .engine
        .mget(ctx.client.db, args, ctx.now_ms, &mut ctx.out);
    Action::Replied
}

fn append(_ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    Action::Write(WriteOp::Append {
        key: owned(&args[0]),
        value: owned(&args[1]),
    })
}

fn strlen(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    ctx.shared
        .engine
        .strlen(ctx.client.db, &args[0], ctx.now_ms, &mut ctx.out);
    Action::Replied
}

fn incr_by(key: &Bytes, delta: i64) -> Action {
    Action::Write(WriteOp::IncrBy {
        key: owned(key),
        delta,
    })
}

fn incr(_ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    incr_by(&args[0], 1)
}

fn decr(_ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    incr_by(&args[0], -1)
}

fn incrby(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    match LONG.parse(&args[1]) {
        Ok(delta) => incr_by(&args[0], delta),
        Err(error) => ctx.fail(error),
    }
}

fn decrby(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    match LONG.parse(&args[1]) {
        Ok(i64::MIN) => ctx.fail(Error::Other("ERR decrement would overflow")),
        Ok(delta) => incr_by(&args[0], -delta),
        Err(error) => ctx.fail(error),
    }
}

fn incrbyfloat(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    // Redis parses the increment as a long double: `1e400` is valid there
    // (and the result then fails as infinite), so only unparsable text is
    // rejected here.
    match redraft_engine::parse_float(&args[1]) {
        Some(_) => Action::Write(WriteOp::IncrByFloat {
            key: owned(&args[0]),
            delta: owned(&args[1]),
        }),
        None => ctx.fail(Error::NotFloat),
    }
}

fn getrange(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    let mut rest = Args::new(&args[1..]);
    let (start, end) = match rest
        .next_i64()
        .and_then(|start| Ok((start, rest.next_i64()?)))
    {
        Ok(range) => range,
        Err(error) => return ctx.fail(error),
    };
    ctx.shared.engine.getrange(
        ctx.client.db,
        &args[0],
        start,
        end,
        ctx.now_ms,
        &mut ctx.out,
    );
    Action::Replied
}

/// Largest string Redis allows (`proto-max-bulk-len`).
const STRING_BYTES_MAX: u64 = 512 * 1024 * 1024;

/// Redis refuses a SETRANGE past the largest string only once it has found
/// the key missing or a string: another type answers WRONGTYPE. The write
/// would fail either way, so it is answered here, from local state, once
/// this connection's own earlier writes are applied (as LSET's bad index).
fn setrange_too_long(ctx: &mut Ctx<'_>, key: &[u8]) -> Action {
    if ctx.writes_pending {
        return Action::WaitForWrites;
    }
    match ctx.shared.engine.key_type(ctx.client.db, key, ctx.now_ms) {
        "none" | "string" => ctx.fail(Error::StringTooLong),
        _ => ctx.fail(Error::WrongType),
    }
}

fn setrange(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    let offset = match LONG.parse(&args[1]) {
        Ok(offset) if offset < 0 => return ctx.fail(Error::OffsetOutOfRange),
        Ok(offset) => offset as u64,
        Err(error) => return ctx.fail(error),
    };
    if !args[2].is_empty() && offset + args[2].len() as u64 > STRING_BYTES_MAX {
        return setrange_too_long(ctx, &args[0]);
    }
    Action::Write(WriteOp::SetRange {
        key: owned(&args[0]),
        offset,
        value: owned(&args[2]),
    })
}
