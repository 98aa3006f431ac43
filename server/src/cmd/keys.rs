//! Generic key commands: existence, deletion, expiry, renaming, iteration.

use bytes::Bytes;
use redraft_engine::int_arg::{scan_count, INT, LONG, SWAPDB_FIRST, SWAPDB_SECOND};
use redraft_engine::{Error, ExpireCommand, ExpireCondition, ReplySink, WriteOp, DB_COUNT};

use super::args::{is, parse_cursor, Args};
use super::flags::{FAST, RANDOM, READONLY, WRITE};
use super::strings::owned;
use super::{Action, CommandSpec, Ctx};

const fn spec(
    name: &'static str,
    arity: i32,
    flags: u32,
    keys: (i32, i32, i32),
    handler: super::Handler,
    summary: &'static str,
) -> CommandSpec {
    CommandSpec::new(name, arity, flags, keys, handler, "generic", summary)
}

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
    CommandSpec::new("swapdb", 3, WRITE | FAST, (0, 0, 0), swapdb, "server", "Swaps two Redis databases.").since("4.0.0"),
];

fn owned_all(args: &[Bytes]) -> Vec<Bytes> {
    args.iter().map(owned).collect()
}

fn del(_ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    Action::Write(WriteOp::Del {
        keys: owned_all(args),
    })
}

fn exists(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    let count = ctx.shared.engine.exists(ctx.client.db, args, ctx.now_ms);
    ctx.out.int(count);
    Action::Replied
}

/// `TOUCH`: `EXISTS`, but each key found counts as accessed.
fn touch(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    let count = ctx.shared.engine.touch(ctx.client.db, args, ctx.now_ms);
    ctx.out.int(count);
    Action::Replied
}

fn key_type(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    let name = ctx
        .shared
        .engine
        .key_type(ctx.client.db, &args[0], ctx.now_ms);
    ctx.out.simple(name);
    Action::Replied
}

/// Parses EXPIRE's NX/XX/GT/LT flags with Redis 7's compatibility errors.
fn parse_expire_condition(options: &[Bytes]) -> Result<ExpireCondition, String> {
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
            return Err(format!(
                "ERR Unsupported option {}",
                String::from_utf8_lossy(opt)
            ));
        }
    }
    if nx && (xx || gt || lt) {
        return Err("ERR NX and XX, GT or LT options at the same time are not compatible".into());
    }
    if gt && lt {
        return Err("ERR GT and LT options at the same time are not compatible".into());
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

fn expire_generic(ctx: &mut Ctx<'_>, args: &[Bytes], command: ExpireCommand) -> Action {
    // Redis checks the flags before the time.
    let condition = match parse_expire_condition(&args[2..]) {
        Ok(condition) => condition,
        Err(text) => {
            ctx.out.error_text(&text);
            return Action::Replied;
        }
    };
    let amount = match LONG.parse(&args[1]) {
        Ok(amount) => amount,
        Err(error) => return ctx.fail(error),
    };
    Action::Write(WriteOp::Expire {
        key: owned(&args[0]),
        amount,
        command,
        condition,
    })
}

fn expire(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    expire_generic(ctx, args, ExpireCommand::Expire)
}

fn pexpire(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    expire_generic(ctx, args, ExpireCommand::PExpire)
}

fn expireat(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    expire_generic(ctx, args, ExpireCommand::ExpireAt)
}

fn pexpireat(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    expire_generic(ctx, args, ExpireCommand::PExpireAt)
}

fn ttl_generic(ctx: &mut Ctx<'_>, key: &[u8], millis: bool, absolute: bool) -> Action {
    let value = ctx
        .shared
        .engine
        .ttl(ctx.client.db, key, ctx.now_ms, millis, absolute);
    ctx.out.int(value);
    Action::Replied
}

fn ttl(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    ttl_generic(ctx, &args[0], false, false)
}

fn pttl(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    ttl_generic(ctx, &args[0], true, false)
}

fn expiretime(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    ttl_generic(ctx, &args[0], false, true)
}

fn pexpiretime(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    ttl_generic(ctx, &args[0], true, true)
}

fn persist(_ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    Action::Write(WriteOp::Persist {
        key: owned(&args[0]),
    })
}

fn keys(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    ctx.shared
        .engine
        .keys(ctx.client.db, &args[0], ctx.now_ms, &mut ctx.out);
    Action::Replied
}

fn scan(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    let Some(cursor) = parse_cursor(&args[0]) else {
        return ctx.fail(Error::Other("ERR invalid cursor"));
    };
    let mut options = Args::new(&args[1..]);
    let (mut pattern, mut count, mut type_name) = (None, 10usize, None);
    while let Some(opt) = options.next_opt() {
        let Some(value) = options.next_opt() else {
            return ctx.fail(Error::Syntax);
        };
        if is(opt, "match") {
            pattern = Some(&value[..]);
        } else if is(opt, "count") {
            match scan_count(value) {
                Ok(n) => count = n,
                Err(error) => return ctx.fail(error),
            }
        } else if is(opt, "type") {
            type_name = Some(&value[..]);
        } else {
            return ctx.fail(Error::Syntax);
        }
    }
    let pattern = pattern.filter(|p| *p != b"*");
    ctx.shared.engine.scan(
        ctx.client.db,
        cursor,
        pattern,
        count,
        type_name,
        ctx.now_ms,
        &mut ctx.out,
    );
    Action::Replied
}

fn rename(_ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    Action::Write(WriteOp::Rename {
        from: owned(&args[0]),
        to: owned(&args[1]),
        only_if_absent: false,
    })
}

fn renamenx(_ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    Action::Write(WriteOp::Rename {
        from: owned(&args[0]),
        to: owned(&args[1]),
        only_if_absent: true,
    })
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

fn copy(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    let mut options = Args::new(&args[2..]);
    let (mut to_db, mut replace) = (ctx.client.db, false);
    while let Some(opt) = options.next_opt() {
        if is(opt, "replace") {
            replace = true;
        } else if is(opt, "db") {
            let parsed = options.next_bytes().and_then(|text| parse_db(text));
            match parsed {
                Ok(db) => to_db = db,
                Err(error) => return ctx.fail(error),
            }
        } else {
            return ctx.fail(Error::Syntax);
        }
    }
    Action::Write(WriteOp::Copy {
        from: owned(&args[0]),
        to: owned(&args[1]),
        to_db,
        replace,
    })
}

fn randomkey(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> Action {
    let seed = ctx.random_seed();
    ctx.shared
        .engine
        .random_key(ctx.client.db, ctx.now_ms, seed, &mut ctx.out);
    Action::Replied
}

fn move_key(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    let to_db = match parse_db(&args[1]) {
        Ok(db) => db,
        Err(error) => return ctx.fail(error),
    };
    if to_db == ctx.client.db {
        return ctx.fail(Error::Other(
            "ERR source and destination objects are the same",
        ));
    }
    Action::Write(WriteOp::Move {
        key: owned(&args[0]),
        to_db,
    })
}

/// `SWAPDB a b`, with Redis's errors: each index must be a C `int` (its
/// own message per position), then both must be databases.
fn swapdb(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    let indexes = SWAPDB_FIRST.parse(&args[0]).and_then(|a| {
        let b = SWAPDB_SECOND.parse(&args[1])?;
        Ok((db_index(a)?, db_index(b)?))
    });
    match indexes {
        Ok((a, b)) => Action::Write(WriteOp::SwapDb { a, b }),
        Err(error) => ctx.fail(error),
    }
}
