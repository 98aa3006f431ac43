//! Stream commands: XADD, XLEN, XRANGE, XREVRANGE, XDEL, XTRIM, XSETID
//! and XREAD.
//!
//! Each parses into a read ([`Query`]) or a write ([`StreamOp`]); none
//! reads the node. Argument errors Redis 7.0 reports before it looks at
//! the key are reported here, in Redis's order; the ones it reports after
//! (`XDEL`'s IDs, `XREAD`'s IDs key by key) travel in the op or query.
//! An `*` ID is not chosen here: apply makes it from the entry's time.
//! `XREAD BLOCK` waits on the node (`crate::blocking`), woken by the
//! apply of writes to its keys.

use bytes::Bytes;
use redraft_engine::{
    parse_bound, parse_new_id, strict_id, Error, NewId, Query, ReadFrom, StreamId, StreamOp, Trim,
    TrimBy, WriteOp,
};

use super::args::{is, Args};
use super::flags::{BLOCKING, DENYOOM, FAST, MOVABLEKEYS, READONLY, WRITE};
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
    CommandSpec::keyspace(name, arity, flags, keys, parse, "stream", summary).since("5.0.0")
}

pub const COMMANDS: &[CommandSpec] = &[
    spec("xadd", -5, WRITE | DENYOOM | FAST, (1, 1, 1), xadd, "Appends a new entry to a stream"),
    spec("xlen", 2, READONLY | FAST, (1, 1, 1), xlen, "Return the number of entries in a stream"),
    spec("xrange", -4, READONLY, (1, 1, 1), xrange,
        "Return a range of elements in a stream, with IDs matching the specified IDs interval"),
    spec("xrevrange", -4, READONLY, (1, 1, 1), xrevrange,
        "Return a range of elements in a stream, with IDs matching the specified IDs interval, in reverse order (from greater to smaller IDs) compared to XRANGE"),
    spec("xdel", -3, WRITE | FAST, (1, 1, 1), xdel,
        "Removes the specified entries from the stream. Returns the number of items actually deleted, that may be different from the number of IDs passed in case certain IDs do not exist."),
    spec("xtrim", -4, WRITE, (1, 1, 1), xtrim, "Trims the stream to (approximately if '~' is passed) a certain size"),
    spec("xsetid", -3, WRITE | DENYOOM | FAST, (1, 1, 1), xsetid,
        "An internal command for replicating stream values"),
    spec("xread", -4, READONLY | BLOCKING | MOVABLEKEYS, (0, 0, 0), xread,
        "Return never seen elements in multiple streams, with IDs greater than the ones reported by the caller for each stream. Can block."),
];

/// The result of a parser.
type Parsed = Result<KeyCommand, Error>;

/// Redis's default `LIMIT` of a `~` trim: 100 nodes of 100 entries.
const APPROX_LIMIT_DEFAULT: u64 = 10_000;

const BOTH_STRATEGIES: Error =
    Error::Other("ERR syntax error, MAXLEN and MINID options at the same time are not compatible");
const MAXLEN_NEGATIVE: Error = Error::Other("ERR The MAXLEN argument must be >= 0.");
const LIMIT_NEGATIVE: Error = Error::Other("ERR The LIMIT argument must be >= 0.");
const LIMIT_WITHOUT_STRATEGY: Error =
    Error::Other("ERR syntax error, LIMIT cannot be used without specifying a trimming strategy");
const XTRIM_WITHOUT_STRATEGY: Error =
    Error::Other("ERR syntax error, XTRIM must be called with a trimming strategy");
const LIMIT_WITHOUT_APPROX: Error =
    Error::Other("ERR syntax error, LIMIT cannot be used without the special ~ option");
const ZERO_ID: Error = Error::Other("ERR The ID specified in XADD must be greater than 0-0");
const INVALID_START: Error = Error::Other("ERR invalid start ID for the interval");
const INVALID_END: Error = Error::Other("ERR invalid end ID for the interval");
const ENTRIES_ADDED_NEGATIVE: Error = Error::Other("ERR entries_added must be positive");
const SETID_BELOW_MAX_DELETED: Error = Error::Other(
    "ERR The ID specified in XSETID is smaller than the provided max_deleted_entry_id",
);
const UNBALANCED: Error = Error::Other(
    "ERR Unbalanced XREAD list of streams: for each stream key an ID or '$' must be specified.",
);
const GROUP_IN_XREAD: Error =
    Error::Other("ERR The GROUP option is only supported by XREADGROUP. You called XREAD instead.");
const NOACK_IN_XREAD: Error =
    Error::Other("ERR The NOACK option is only supported by XREADGROUP. You called XREAD instead.");
const GREATER_IN_XREAD: Error = Error::Other(
    "ERR The > ID can be specified only when calling XREADGROUP using the GROUP <group> <consumer> option.",
);

/// What `XADD` and `XTRIM` options say (`streamParseAddOrTrimArgsOrReply`).
struct AddOrTrim {
    trim: Option<Trim>,
    no_mkstream: bool,
    /// `XADD`'s ID and the position of its first field.
    id: Option<(NewId, usize)>,
}

/// Parses the options after the key; `xadd` also takes `NOMKSTREAM` and
/// stops at the ID.
fn add_or_trim(args: &[Bytes], xadd: bool) -> Result<AddOrTrim, Error> {
    let mut by: Option<TrimBy> = None;
    let mut approx = false;
    let mut limit: i64 = 0;
    let mut limit_given = false;
    let mut no_mkstream = false;
    let mut id = None;
    let mut i = 1;
    while i < args.len() {
        let more = args.len() - 1 - i;
        let opt = &args[i][..];
        if xadd && opt == b"*" {
            id = Some((NewId::Auto, i + 1));
            break;
        } else if (is(opt, "maxlen") || is(opt, "minid")) && more > 0 {
            if by.is_some() {
                return Err(BOTH_STRATEGIES);
            }
            approx = false;
            let next = &args[i + 1][..];
            if more >= 2 && next == b"~" {
                approx = true;
                i += 1;
            } else if more >= 2 && next == b"=" {
                i += 1;
            }
            by = Some(if is(opt, "maxlen") {
                let max = Args::new(&args[i + 1..]).next_i64()?;
                TrimBy::MaxLen(u64::try_from(max).map_err(|_| MAXLEN_NEGATIVE)?)
            } else {
                TrimBy::MinId(strict_id(&args[i + 1], 0)?)
            });
            i += 1;
        } else if is(opt, "limit") && more > 0 {
            limit = Args::new(&args[i + 1..]).next_i64()?;
            if limit < 0 {
                return Err(LIMIT_NEGATIVE);
            }
            limit_given = true;
            i += 1;
        } else if xadd && is(opt, "nomkstream") {
            no_mkstream = true;
        } else if xadd {
            id = Some((parse_new_id(opt)?, i + 1));
            break;
        } else {
            return Err(Error::Syntax);
        }
        i += 1;
    }
    if limit != 0 && by.is_none() {
        return Err(LIMIT_WITHOUT_STRATEGY);
    }
    if !xadd && by.is_none() {
        return Err(XTRIM_WITHOUT_STRATEGY);
    }
    if limit_given && !approx {
        return Err(LIMIT_WITHOUT_APPROX);
    }
    let limit = match (limit_given, approx) {
        (false, true) => APPROX_LIMIT_DEFAULT,
        _ => limit as u64,
    };
    Ok(AddOrTrim {
        trim: by.map(|by| Trim { by, approx, limit }),
        no_mkstream,
        id,
    })
}

fn write(op: StreamOp) -> Parsed {
    Ok(KeyCommand::Write(WriteOp::Streams(op)))
}

/// `XADD key [NOMKSTREAM] [MAXLEN|MINID [=|~] threshold [LIMIT count]]
/// *|id field value [field value ...]`
fn xadd(_parse: &mut Parse<'_>, args: &[Bytes]) -> Parsed {
    let parsed = add_or_trim(args, true)?;
    let (id, fields_at) = parsed.id.unwrap_or((NewId::Auto, args.len() + 1));
    let fields = args.get(fields_at..).unwrap_or(&[]);
    if fields.len() < 2 || fields.len() % 2 == 1 {
        return Err(Error::Arity("xadd"));
    }
    if id == NewId::Explicit(StreamId::MIN) {
        return Err(ZERO_ID);
    }
    write(StreamOp::Add {
        key: owned(&args[0]),
        no_mkstream: parsed.no_mkstream,
        id,
        pairs: fields
            .chunks_exact(2)
            .map(|pair| (owned(&pair[0]), owned(&pair[1])))
            .collect(),
        trim: parsed.trim,
    })
}

/// `XTRIM key MAXLEN|MINID [=|~] threshold [LIMIT count]`
fn xtrim(_parse: &mut Parse<'_>, args: &[Bytes]) -> Parsed {
    let parsed = add_or_trim(args, false)?;
    write(StreamOp::Trim {
        key: owned(&args[0]),
        trim: parsed.trim.expect("XTRIM has a strategy"),
    })
}

/// `XDEL key id [id ...]`
fn xdel(_parse: &mut Parse<'_>, args: &[Bytes]) -> Parsed {
    let ids = args[1..].iter().map(|id| strict_id(id, 0)).collect();
    write(StreamOp::Del {
        key: owned(&args[0]),
        ids,
    })
}

/// `XSETID key last-id [ENTRIESADDED entries-added] [MAXDELETEDID
/// max-deleted-id]`
fn xsetid(_parse: &mut Parse<'_>, args: &[Bytes]) -> Parsed {
    let id = strict_id(&args[1], 0)?;
    let (mut entries_added, mut max_deleted_id) = (None, None);
    let mut rest = Args::new(&args[2..]);
    while let Some(opt) = rest.next_opt() {
        if rest.remaining() == 0 {
            return Err(Error::Syntax);
        }
        if is(opt, "entriesadded") {
            let added = rest.next_i64()?;
            entries_added = Some(u64::try_from(added).map_err(|_| ENTRIES_ADDED_NEGATIVE)?);
        } else if is(opt, "maxdeletedid") {
            let max = strict_id(rest.next_bytes()?, 0)?;
            if id < max {
                return Err(SETID_BELOW_MAX_DELETED);
            }
            max_deleted_id = Some(max);
        } else {
            return Err(Error::Syntax);
        }
    }
    write(StreamOp::SetId {
        key: owned(&args[0]),
        id,
        entries_added,
        max_deleted_id,
    })
}

fn xlen(_parse: &mut Parse<'_>, args: &[Bytes]) -> Parsed {
    Ok(KeyCommand::Read(Query::XLen {
        key: args[0].clone(),
    }))
}

fn xrange(_parse: &mut Parse<'_>, args: &[Bytes]) -> Parsed {
    range(args, false)
}

fn xrevrange(_parse: &mut Parse<'_>, args: &[Bytes]) -> Parsed {
    range(args, true)
}

/// `XRANGE key start end [COUNT count]` (`XREVRANGE key end start ...`).
fn range(args: &[Bytes], rev: bool) -> Parsed {
    let (start, end) = if rev {
        (&args[2], &args[1])
    } else {
        (&args[1], &args[2])
    };
    let (mut start, exclusive) = parse_bound(start, 0)?;
    if exclusive {
        start = start.next().ok_or(INVALID_START)?;
    }
    let (mut end, exclusive) = parse_bound(end, u64::MAX)?;
    if exclusive {
        end = end.prev().ok_or(INVALID_END)?;
    }
    let mut count = None;
    let mut rest = Args::new(&args[3..]);
    while let Some(opt) = rest.next_opt() {
        if !is(opt, "count") || rest.remaining() == 0 {
            return Err(Error::Syntax);
        }
        count = Some(rest.next_i64()?.max(0) as u64);
    }
    Ok(KeyCommand::Read(Query::XRange {
        key: args[0].clone(),
        start,
        end,
        rev,
        count,
    }))
}

/// `XREAD`'s options.
pub struct XRead {
    pub keys: Vec<Bytes>,
    pub from: Vec<Result<ReadFrom, Error>>,
    /// 0: all.
    pub count: u64,
    /// `BLOCK`'s milliseconds (0: for ever), `None` without `BLOCK`.
    pub block_ms: Option<u64>,
}

/// Redis's errors for a bad `BLOCK` timeout.
const TIMEOUT_NOT_INTEGER: Error = Error::Other("ERR timeout is not an integer or out of range");
const TIMEOUT_NEGATIVE: Error = Error::Other("ERR timeout is negative");

/// `XREAD [COUNT count] [BLOCK milliseconds] STREAMS key [key ...] id
/// [id ...]`
pub fn parse_xread(args: &[Bytes]) -> Result<XRead, Error> {
    let mut count = 0u64;
    let mut block_ms = None;
    let mut streams_at = None;
    let mut i = 0;
    while i < args.len() {
        let more = args.len() - 1 - i;
        let opt = &args[i][..];
        if is(opt, "block") && more > 0 {
            i += 1;
            let ms = super::args::parse_i64(&args[i]).ok_or(TIMEOUT_NOT_INTEGER)?;
            block_ms = Some(u64::try_from(ms).map_err(|_| TIMEOUT_NEGATIVE)?);
        } else if is(opt, "count") && more > 0 {
            i += 1;
            count = Args::new(&args[i..]).next_i64()?.max(0) as u64;
        } else if is(opt, "streams") && more > 0 {
            if !more.is_multiple_of(2) {
                return Err(UNBALANCED);
            }
            streams_at = Some(i + 1);
            break;
        } else if is(opt, "group") && more >= 2 {
            return Err(GROUP_IN_XREAD);
        } else if is(opt, "noack") {
            return Err(NOACK_IN_XREAD);
        } else {
            return Err(Error::Syntax);
        }
        i += 1;
    }
    let streams_at = streams_at.ok_or(Error::Syntax)?;
    let streams = &args[streams_at..];
    let (keys, ids) = streams.split_at(streams.len() / 2);
    let from = ids
        .iter()
        .map(|id| match &id[..] {
            b"$" => Ok(ReadFrom::Last),
            b">" => Err(GREATER_IN_XREAD),
            id => strict_id(id, 0).map(ReadFrom::After),
        })
        .collect();
    Ok(XRead {
        keys: keys.to_vec(),
        from,
        count,
        block_ms,
    })
}

/// `XREAD` without `BLOCK` is a read. With it, it is a blocking
/// command: its first attempt and its wait run at apply, where `$` is
/// fixed (see `redraft_engine::Blocked`); `BLOCK 0` waits for ever.
fn xread(_parse: &mut Parse<'_>, args: &[Bytes]) -> Parsed {
    let read = parse_xread(args)?;
    let Some(block_ms) = read.block_ms else {
        return Ok(KeyCommand::Read(Query::XRead {
            keys: read.keys,
            from: read.from,
            count: read.count,
        }));
    };
    Ok(KeyCommand::Block {
        keys: read.keys.iter().map(owned).collect(),
        pop: WriteOp::Streams(StreamOp::Read {
            keys: read.keys.iter().map(owned).collect(),
            from: read.from,
            count: read.count,
        }),
        timeout_ms: (block_ms > 0).then_some(block_ms),
    })
}
