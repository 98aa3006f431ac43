//! Generic key commands: existence, deletion, expiry, renaming, iteration.

use bytes::Bytes;
use redraft_engine::int_arg::{scan_count, INT, LONG, SWAPDB_FIRST, SWAPDB_SECOND};
use redraft_engine::{Error, ExpireCommand, ExpireCondition, Query, ScanArgs, WriteOp, DB_COUNT};

use super::args::{is, parse_cursor, Args};
use super::flags::{FAST, RANDOM, READONLY, WRITE};
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
    CommandSpec::keyspace(name, arity, flags, keys, parse, "generic", summary)
}

/// The result of a parser.
type Parsed = Result<KeyCommand, Error>;

pub const COMMANDS: &[CommandSpec] = &[
    spec("del", -2, WRITE, (1, -1, 1), del, "Deletes one or more keys."),
    spec("unlink", -2, WRITE | FAST, (1, -1, 1), del, "Asynchronously deletes one or more keys."),
    spec("exists", -2, READONLY | FAST, (1, -1, 1), exists, "Determines whether one or more keys exist."),
    spec("touch", -2, READONLY | FAST, (1, -1, 1), touch, "Returns the number of existing keys out of those specified after updating the time they were last accessed."),
    spec("type", 2, READONLY | FAST, (1, 1, 1), key_type, "Determines the type of value stored at a key."),
    spec("expire", -3, WRITE | FAST, (1, 1, 1), expire, "Sets the expiration time of a key in seconds."),
    spec("pexpire", -3, WRITE | FAST, (1, 1, 1), pexpire, "Sets the expiration time of a key in milliseconds."),
    spec("expireat", -3, WRITE | FAST, (1, 1, 1), expireat, "Sets the expiration time of a key to a Unix timestamp."),
    spec("pexpireat", -3, WRITE | FAST, (1, 1, 1), pexpireat, "Sets the expiration time of a key to a Unix milliseconds timestamp."),
    spec("ttl", 2, READONLY | FAST | RANDOM, (1, 1, 1), ttl, "Returns the expiration time in seconds of a key."),
    spec("pttl", 2, READONLY | FAST | RANDOM, (1, 1, 1), pttl, "Returns the expiration time in milliseconds of a key."),
    spec("expiretime", 2, READONLY | FAST, (1, 1, 1), expiretime, "Returns the expiration time of a key as a Unix timestamp."),
    spec("pexpiretime", 2, READONLY | FAST, (1, 1, 1), pexpiretime, "Returns the expiration time of a key as a Unix milliseconds timestamp."),
    spec("persist", 2, WRITE | FAST, (1, 1, 1), persist, "Removes the expiration time of a key."),
    spec("keys", 2, READONLY, (0, 0, 0), keys, "Returns all key names that match a pattern."),
    spec("scan", -2, READONLY | RANDOM, (0, 0, 0), scan, "Iterates over the key names in the database."),
    spec("rename", 3, WRITE, (1, 2, 1), rename, "Renames a key and overwrites the destination."),
    spec("renamenx", 3, WRITE | FAST, (1, 2, 1), renamenx, "Renames a key only when the target key name doesn't exist."),
    spec("copy", -3, WRITE, (1, 2, 1), copy, "Copies the value of a key to a new key."),
    spec("randomkey", 1, READONLY | RANDOM, (0, 0, 0), randomkey, "Returns a random key name from the database."),
    spec("move", 3, WRITE | FAST, (1, 1, 1), move_key, "Moves a key to another database."),
    CommandSpec::keyspace("swapdb", 3, WRITE | FAST, (0, 0, 0), swapdb, "server", "Swaps two Redis databases.").since("4.0.0"),
];

fn owned_all(args: &[Bytes]) -> Vec<Bytes> {
    args.iter().map(owned).collect()
}

fn del(_parse: &mut Parse<'_>, args: &[Bytes]) -> Parsed {
    Ok(KeyCommand::Write(WriteOp::Del {
        keys: owned_all(args),
    }))
}

fn exists(_parse: &mut Parse<'_>, args: &[Bytes]) -> Parsed {
    Ok(KeyCommand::Read(Query::Exists {
        keys: args.to_vec(),
        touch: false,
    }))
}

/// `TOUCH`: `EXISTS`, but each key found counts as accessed.
fn touch(_parse: &mut Parse<'_>, args: &[Bytes]) -> Parsed {
    Ok(KeyCommand::Read(Query::Exists {
        keys: args.to_vec(),
        touch: true,
    }))
}

fn key_type(_parse: &mut Parse<'_>, args: &[Bytes]) -> Parsed {
    Ok(KeyCommand::Read(Query::Type {
        key: args[0].clone(),
    }))
}

/// Parses EXPIRE's NX/XX/GT/LT flags with Redis 7's compatibility errors.
fn parse_expire_condition(options: &[Bytes]) -> Result<ExpireCondition, Error> {
    let (mut nx, mut xx, mut gt, mut lt) = (false, false, false, false);
    for opt in options {
        if is(opt, "nx") {
            nx = true;
        } else if is(opt, "xx") {
            xx = true;
        } else if is(opt, "gt") {
            gt = true;
        } else if is(opt, "lt") {
            lt = true;
        } else {
            let text = format!("ERR Unsupported option {}", String::from_utf8_lossy(opt));
            return Err(Error::Text(text.into()));
        }
    }
    if nx && (xx || gt || lt) {
        return Err(Error::Other(
            "ERR NX and XX, GT or LT options at the same time are not compatible",
        ));
    }
    if gt && lt {
        return Err(Error::Other(
            "ERR GT and LT options at the same time are not compatible",
        ));
    }
    Ok(match (nx, xx, gt, lt) {
        (true, ..) => ExpireCondition::IfNoExpiry,
        // A key without an expiry never passes GT, so XX adds nothing to it.
        (_, _, true, _) => ExpireCondition::IfGreater,
        (_, true, _, true) => ExpireCondition::IfHasExpiryAndLess,
        (_, _, _, true) => ExpireCondition::IfLess,
        (_, true, ..) => ExpireCondition::IfHasExpiry,
        _ => ExpireCondition::Always,
    })
}

fn expire_generic(args: &[Bytes], command: ExpireCommand) -> Parsed {
    // Redis checks the flags before the time.
    let condition = parse_expire_condition(&args[2..])?;
    let amount = LONG.parse(&args[1])?;
    Ok(KeyCommand::Write(WriteOp::Expire {
        key: owned(&args[0]),
        amount,
        command,
        condition,
    }))
}

fn expire(_parse: &mut Parse<'_>, args: &[Bytes]) -> Parsed {
    expire_generic(args, ExpireCommand::Expire)
}

fn pexpire(_parse: &mut Parse<'_>, args: &[Bytes]) -> Parsed {
    expire_generic(args, ExpireCommand::PExpire)
}

fn expireat(_parse: &mut Parse<'_>, args: &[Bytes]) -> Parsed {
    expire_generic(args, ExpireCommand::ExpireAt)
}

fn pexpireat(_parse: &mut Parse<'_>, args: &[Bytes]) -> Parsed {
    expire_generic(args, ExpireCommand::PExpireAt)
}

fn ttl_generic(key: &Bytes, millis: bool, absolute: bool) -> Parsed {
    Ok(KeyCommand::Read(Query::Ttl {
        key: key.clone(),
        millis,
        absolute,
    }))
}

fn ttl(_parse: &mut Parse<'_>, args: &[Bytes]) -> Parsed {
    ttl_generic(&args[0], false, false)
}

fn pttl(_parse: &mut Parse<'_>, args: &[Bytes]) -> Parsed {
    ttl_generic(&args[0], true, false)
}

fn expiretime(_parse: &mut Parse<'_>, args: &[Bytes]) -> Parsed {
    ttl_generic(&args[0], false, true)
}

fn pexpiretime(_parse: &mut Parse<'_>, args: &[Bytes]) -> Parsed {
    ttl_generic(&args[0], true, true)
}

fn persist(_parse: &mut Parse<'_>, args: &[Bytes]) -> Parsed {
    Ok(KeyCommand::Write(WriteOp::Persist {
        key: owned(&args[0]),
    }))
}

fn keys(_parse: &mut Parse<'_>, args: &[Bytes]) -> Parsed {
    Ok(KeyCommand::Read(Query::Keys {
        pattern: args[0].clone(),
    }))
}

fn scan(_parse: &mut Parse<'_>, args: &[Bytes]) -> Parsed {
    let cursor = parse_cursor(&args[0]).ok_or(Error::Other("ERR invalid cursor"))?;
    let mut options = Args::new(&args[1..]);
    let mut scan = ScanArgs {
        pattern: None,
        count: 10,
    };
    let mut type_name = None;
    while let Some(opt) = options.next_opt() {
        let value = options.next_opt().ok_or(Error::Syntax)?;
        if is(opt, "match") {
            scan.pattern = Some(value.clone());
        } else if is(opt, "count") {
            scan.count = scan_count(value)?;
        } else if is(opt, "type") {
            type_name = Some(value.clone());
        } else {
            return Err(Error::Syntax);
        }
    }
    Ok(KeyCommand::Read(Query::Scan {
        cursor,
        pattern: scan.pattern.filter(|pattern| &pattern[..] != b"*"),
        count: scan.count,
        type_name,
    }))
}

fn rename(_parse: &mut Parse<'_>, args: &[Bytes]) -> Parsed {
    Ok(KeyCommand::Write(WriteOp::Rename {
        from: owned(&args[0]),
        to: owned(&args[1]),
        only_if_absent: false,
    }))
}

fn renamenx(_parse: &mut Parse<'_>, args: &[Bytes]) -> Parsed {
    Ok(KeyCommand::Write(WriteOp::Rename {
        from: owned(&args[0]),
        to: owned(&args[1]),
        only_if_absent: true,
    }))
}

/// Parses a database index argument (SELECT, COPY ... DB, MOVE): a C
/// `int`, then an existing database.
pub fn parse_db(text: &[u8]) -> Result<usize, Error> {
    db_index(INT.parse(text)?)
}

/// The database numbered `index`, or `ERR DB index is out of range`.
fn db_index(index: i64) -> Result<usize, Error> {
    usize::try_from(index)
        .ok()
        .filter(|&db| db < DB_COUNT)
        .ok_or(Error::DbIndexOutOfRange)
}

fn copy(parse: &mut Parse<'_>, args: &[Bytes]) -> Parsed {
    let mut options = Args::new(&args[2..]);
    let (mut to_db, mut replace) = (parse.db, false);
    while let Some(opt) = options.next_opt() {
        if is(opt, "replace") {
            replace = true;
        } else if is(opt, "db") {
            to_db = parse_db(options.next_bytes()?)?;
        } else {
            return Err(Error::Syntax);
        }
    }
    Ok(KeyCommand::Write(WriteOp::Copy {
        from: owned(&args[0]),
        to: owned(&args[1]),
        to_db,
        replace,
    }))
}

fn randomkey(parse: &mut Parse<'_>, _args: &[Bytes]) -> Parsed {
    Ok(KeyCommand::Read(Query::RandomKey {
        seed: parse.random_seed(),
    }))
}

fn move_key(parse: &mut Parse<'_>, args: &[Bytes]) -> Parsed {
    let to_db = parse_db(&args[1])?;
    if to_db == parse.db {
        return Err(Error::Other(
            "ERR source and destination objects are the same",
        ));
    }
    Ok(KeyCommand::Write(WriteOp::Move {
        key: owned(&args[0]),
        to_db,
    }))
}

/// `SWAPDB a b`, with Redis's errors: each index must be a C `int` (its
/// own message per position), then both must be databases.
fn swapdb(_parse: &mut Parse<'_>, args: &[Bytes]) -> Parsed {
    let a = SWAPDB_FIRST.parse(&args[0])?;
    let b = SWAPDB_SECOND.parse(&args[1])?;
    Ok(KeyCommand::Write(WriteOp::SwapDb {
        a: db_index(a)?,
        b: db_index(b)?,
    }))
}
