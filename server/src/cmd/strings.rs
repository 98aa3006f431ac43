//! String commands: SET and its family, GET and its family, counters,
//! ranges, LCS.

use bytes::Bytes;
use redraft_engine::int_arg::LONG;
use redraft_engine::{Error, KeyKind, LcsReply, Query, SetCondition, TtlChange, WriteOp};

use super::args::{is, Args};
use super::flags::{DENYOOM, FAST, READONLY, WRITE};
use super::parse::arity;
use super::{CommandSpec, KeyCommand, Parse};

const fn spec(
    name: &'static str,
    arity: i32,
    flags: u32,
    keys: (i32, i32, i32),
    parse: super::Parser,
    summary: &'static str,
) -> CommandSpec {
    CommandSpec::keyspace(name, arity, flags, keys, parse, "string", summary)
}

/// The result of a parser.
type Parsed = Result<KeyCommand, Error>;

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
        "lcs",
        -3,
        READONLY,
        (1, 2, 1),
        lcs,
        "Find longest common substring",
    )
    .since("7.0.0"),
    // GETRANGE's name before Redis 2.0, still answered the same way.
    spec(
        "substr",
        4,
        READONLY,
        (1, 1, 1),
        getrange,
        "Get a substring of the string stored at a key",
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

fn set(parse: &mut Parse<'_>, args: &[Bytes]) -> Parsed {
    let opts = parse_extended(&args[2..], true)?;
    let ttl = match &opts.expiry {
        Some((kind, text)) => parse_expiry(text, *kind, "set", parse.now_ms)?,
        None if opts.keep_ttl => TtlChange::Keep,
        None => TtlChange::Clear,
    };
    Ok(KeyCommand::Write(WriteOp::Set {
        key: owned(&args[0]),
        value: owned(&args[1]),
        condition: opts.condition,
        ttl,
        get: opts.get,
    }))
}

fn get(_parse: &mut Parse<'_>, args: &[Bytes]) -> Parsed {
    Ok(KeyCommand::Read(Query::Get {
        key: args[0].clone(),
    }))
}

fn getset(_parse: &mut Parse<'_>, args: &[Bytes]) -> Parsed {
    Ok(KeyCommand::Write(WriteOp::Set {
        key: owned(&args[0]),
        value: owned(&args[1]),
        condition: SetCondition::Always,
        ttl: TtlChange::Clear,
        get: true,
    }))
}

fn getdel(_parse: &mut Parse<'_>, args: &[Bytes]) -> Parsed {
    Ok(KeyCommand::Write(WriteOp::GetDel {
        key: owned(&args[0]),
    }))
}

fn getex(parse: &mut Parse<'_>, args: &[Bytes]) -> Parsed {
    let opts = parse_extended(&args[1..], false)?;
    let ttl = match &opts.expiry {
        Some((kind, text)) => match parse_expiry(text, *kind, "getex", parse.now_ms) {
            Ok(ttl) => ttl,
            // Redis checks GETEX's time only once it has found a string at
            // the key: a missing key replies nil and another type
            // WRONGTYPE, whatever the time. It never writes.
            Err(error) => {
                return Ok(KeyCommand::Read(Query::Refused {
                    key: args[0].clone(),
                    kind: KeyKind::String,
                    missing: None,
                    error,
                }))
            }
        },
        None if opts.persist => TtlChange::Clear,
        None => TtlChange::Keep,
    };
    Ok(KeyCommand::Write(WriteOp::GetEx {
        key: owned(&args[0]),
        ttl,
    }))
}

fn setnx(_parse: &mut Parse<'_>, args: &[Bytes]) -> Parsed {
    Ok(KeyCommand::Write(WriteOp::SetNx {
        key: owned(&args[0]),
        value: owned(&args[1]),
    }))
}

fn set_with_expiry(
    parse: &mut Parse<'_>,
    args: &[Bytes],
    kind: ExpiryKind,
    command: &'static str,
) -> Parsed {
    let ttl = parse_expiry(&args[1], kind, command, parse.now_ms)?;
    Ok(KeyCommand::Write(WriteOp::Set {
        key: owned(&args[0]),
        value: owned(&args[2]),
        condition: SetCondition::Always,
        ttl,
        get: false,
    }))
}

fn setex(parse: &mut Parse<'_>, args: &[Bytes]) -> Parsed {
    set_with_expiry(parse, args, ExpiryKind::Seconds, "setex")
}

fn psetex(parse: &mut Parse<'_>, args: &[Bytes]) -> Parsed {
    set_with_expiry(parse, args, ExpiryKind::Millis, "psetex")
}

/// Key/value pairs of MSET and MSETNX, or `command`'s arity error if the
/// count is odd.
fn pairs(args: &[Bytes], command: &'static str) -> Result<Vec<(Bytes, Bytes)>, Error> {
    if !args.len().is_multiple_of(2) {
        return Err(arity(command));
    }
    Ok(args
        .chunks_exact(2)
        .map(|pair| (owned(&pair[0]), owned(&pair[1])))
        .collect())
}

fn mset(_parse: &mut Parse<'_>, args: &[Bytes]) -> Parsed {
    let pairs = pairs(args, "mset")?;
    Ok(KeyCommand::Write(WriteOp::MSet { pairs }))
}

fn msetnx(_parse: &mut Parse<'_>, args: &[Bytes]) -> Parsed {
    let pairs = pairs(args, "msetnx")?;
    Ok(KeyCommand::Write(WriteOp::MSetNx { pairs }))
}

fn mget(_parse: &mut Parse<'_>, args: &[Bytes]) -> Parsed {
    Ok(KeyCommand::Read(Query::MGet {
        keys: args.to_vec(),
    }))
}

fn append(_parse: &mut Parse<'_>, args: &[Bytes]) -> Parsed {
    Ok(KeyCommand::Write(WriteOp::Append {
        key: owned(&args[0]),
        value: owned(&args[1]),
    }))
}

fn strlen(_parse: &mut Parse<'_>, args: &[Bytes]) -> Parsed {
    Ok(KeyCommand::Read(Query::StrLen {
        key: args[0].clone(),
    }))
}

fn incr_by(key: &Bytes, delta: i64) -> Parsed {
    Ok(KeyCommand::Write(WriteOp::IncrBy {
        key: owned(key),
        delta,
    }))
}

fn incr(_parse: &mut Parse<'_>, args: &[Bytes]) -> Parsed {
    incr_by(&args[0], 1)
}

fn decr(_parse: &mut Parse<'_>, args: &[Bytes]) -> Parsed {
    incr_by(&args[0], -1)
}

fn incrby(_parse: &mut Parse<'_>, args: &[Bytes]) -> Parsed {
    incr_by(&args[0], LONG.parse(&args[1])?)
}

fn decrby(_parse: &mut Parse<'_>, args: &[Bytes]) -> Parsed {
    match LONG.parse(&args[1])? {
        i64::MIN => Err(Error::Other("ERR decrement would overflow")),
        delta => incr_by(&args[0], -delta),
    }
}

fn incrbyfloat(_parse: &mut Parse<'_>, args: &[Bytes]) -> Parsed {
    // Redis parses the increment as a long double: `1e400` is valid there
    // (and the result then fails as infinite), so only unparsable text is
    // rejected here.
    redraft_engine::parse_float(&args[1]).ok_or(Error::NotFloat)?;
    Ok(KeyCommand::Write(WriteOp::IncrByFloat {
        key: owned(&args[0]),
        delta: owned(&args[1]),
    }))
}

fn getrange(_parse: &mut Parse<'_>, args: &[Bytes]) -> Parsed {
    let mut rest = Args::new(&args[1..]);
    let start = rest.next_i64()?;
    let end = rest.next_i64()?;
    Ok(KeyCommand::Read(Query::GetRange {
        key: args[0].clone(),
        start,
        end,
    }))
}

fn setrange(_parse: &mut Parse<'_>, args: &[Bytes]) -> Parsed {
    let offset = match LONG.parse(&args[1])? {
        offset if offset < 0 => return Err(Error::OffsetOutOfRange),
        offset => offset as u64,
    };
    // Past the largest string, apply refuses it once it has found the key
    // missing or a string (another type answers WRONGTYPE), as Redis does.
    Ok(KeyCommand::Write(WriteOp::SetRange {
        key: owned(&args[0]),
        offset,
        value: owned(&args[2]),
    }))
}

fn lcs(_parse: &mut Parse<'_>, args: &[Bytes]) -> Parsed {
    Ok(KeyCommand::Read(Query::Lcs {
        a: args[0].clone(),
        b: args[1].clone(),
        reply: lcs_options(&args[2..]),
    }))
}

/// `LCS`'s options, as Redis reads them: in any order and repeated,
/// `MINMATCHLEN` (a negative length is 0) and `WITHMATCHLEN` count only
/// with `IDX`, and `LEN` with `IDX` is refused. Redis reports these errors
/// only once both keys are found missing or strings, so they travel in the
/// query.
fn lcs_options(args: &[Bytes]) -> Result<LcsReply, Error> {
    let (mut idx, mut len, mut with_match_len, mut min_match_len) = (false, false, false, 0);
    let mut rest = Args::new(args);
    while let Some(option) = rest.next_opt() {
        if is(option, "idx") {
            idx = true;
        } else if is(option, "len") {
            len = true;
        } else if is(option, "withmatchlen") {
            with_match_len = true;
        } else if is(option, "minmatchlen") && rest.remaining() > 0 {
            min_match_len = rest.next_i64()?.max(0) as u64;
        } else {
            return Err(Error::Syntax);
        }
    }
    match (idx, len) {
        (true, true) => Err(Error::Other(
            "ERR If you want both the length and indexes, please just use IDX.",
        )),
        (true, false) => Ok(LcsReply::Ranges {
            min_match_len,
            with_match_len,
        }),
        (false, true) => Ok(LcsReply::Len),
        (false, false) => Ok(LcsReply::Subsequence),
    }
}
