//! Data-driven scenarios: each file in `tests/scenarios/` is a list of
//! blocks separated by blank lines; a block is commands in Redis syntax,
//! a `---` line, then one output line per command. `#` lines are comments.
//!
//! Besides Redis commands (lower case, parsed here into `WriteOp`s and read
//! calls, with no syntax checking: that is the server's job), the driver
//! knows:
//! - `advance <ms>`: moves the clock forward (prints nothing); the clock
//!   starts at `START_MS` (1_700_000_000_000, i.e. EXAT 1700000000).
//! - `rpush-raw <key> <item>...`: stores a list directly (no list
//!   commands exist yet), to test WRONGTYPE paths.
//! - `select <db>`, `purge <key>...` (`WriteOp::PurgeExpired`),
//!   `expires` (`expires_count`), `candidates <max>` (`expired_candidates`,
//!   printed as `db:key` sorted), `randomkey <seed>`.
//!
//! Run with `UPDATE_SCENARIOS=1` to rewrite the expected outputs (then
//! review the diff: expectations were checked against redis-server 7.0).

mod common;

use std::path::Path;

use bytes::Bytes;
use common::{quote, record, render};
use redraft_engine::{
    Engine, Entry, ExpireCommand, ExpireCondition, List, Reply, SetCondition, TtlChange, Value,
    WriteOp,
};

const START_MS: u64 = 1_700_000_000_000;

/// Splits a command line into arguments; `"..."` quotes with `\"`, `\\`,
/// `\n`, `\t` and `\xHH` escapes.
fn tokenize(line: &str) -> Vec<Vec<u8>> {
    let mut tokens = Vec::new();
    let bytes = line.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b' ' {
            i += 1;
            continue;
        }
        let mut token = Vec::new();
        if bytes[i] == b'"' {
            i += 1;
            while bytes[i] != b'"' {
                if bytes[i] == b'\\' {
                    i += 1;
                    match bytes[i] {
                        b'n' => token.push(b'\n'),
                        b't' => token.push(b'\t'),
                        b'x' => {
                            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap();
                            token.push(u8::from_str_radix(hex, 16).unwrap());
                            i += 2;
                        }
                        other => token.push(other),
                    }
                } else {
                    token.push(bytes[i]);
                }
                i += 1;
            }
            i += 1;
        } else {
            while i < bytes.len() && bytes[i] != b' ' {
                token.push(bytes[i]);
                i += 1;
            }
        }
        tokens.push(token);
    }
    tokens
}

/// One scenario's state: the engine, the clock and the selected db.
struct Driver {
    engine: Engine,
    now_ms: u64,
    db: usize,
}

fn b(arg: &[u8]) -> Bytes {
    Bytes::copy_from_slice(arg)
}

fn int(arg: &[u8]) -> i64 {
    std::str::from_utf8(arg).unwrap().parse().unwrap()
}

fn word(arg: &[u8]) -> String {
    String::from_utf8_lossy(arg).to_lowercase()
}

fn pairs(args: &[Vec<u8>]) -> Vec<(Bytes, Bytes)> {
    args.chunks(2)
        .map(|pair| (b(&pair[0]), b(&pair[1])))
        .collect()
}

fn keys(args: &[Vec<u8>]) -> Vec<Bytes> {
    args.iter().map(|arg| b(arg)).collect()
}

/// Parses `SET`'s options.
fn set_op(args: &[Vec<u8>]) -> WriteOp {
    let (mut condition, mut ttl, mut get) = (SetCondition::Always, TtlChange::Clear, false);
    let mut i = 2;
    while i < args.len() {
        match word(&args[i]).as_str() {
            "nx" => condition = SetCondition::IfAbsent,
            "xx" => condition = SetCondition::IfPresent,
            "get" => get = true,
            "keepttl" => ttl = TtlChange::Keep,
            unit => {
                let amount = int(&args[i + 1]);
                i += 1;
                ttl = match unit {
                    "ex" => TtlChange::InMs(amount * 1000),
                    "px" => TtlChange::InMs(amount),
                    "exat" => TtlChange::AtMs(amount * 1000),
                    "pxat" => TtlChange::AtMs(amount),
                    other => panic!("unknown SET option {other}"),
                }
            }
        }
        i += 1;
    }
    WriteOp::Set {
        key: b(&args[0]),
        value: b(&args[1]),
        condition,
        ttl,
        get,
    }
}

fn getex_ttl(args: &[Vec<u8>]) -> TtlChange {
    match args.first().map(|arg| word(arg)).as_deref() {
        None => TtlChange::Keep,
        Some("persist") => TtlChange::Clear,
        Some("ex") => TtlChange::InMs(int(&args[1]) * 1000),
        Some("px") => TtlChange::InMs(int(&args[1])),
        Some("exat") => TtlChange::AtMs(int(&args[1]) * 1000),
        Some("pxat") => TtlChange::AtMs(int(&args[1])),
        Some(other) => panic!("unknown GETEX option {other}"),
    }
}

fn expire_condition(args: &[Vec<u8>]) -> ExpireCondition {
    let flags: Vec<String> = args.iter().map(|arg| word(arg)).collect();
    let has = |flag: &str| flags.iter().any(|f| f == flag);
    match (has("nx"), has("xx"), has("gt"), has("lt")) {
        (true, ..) => ExpireCondition::IfNoExpiry,
        (_, _, true, _) => ExpireCondition::IfGreater,
        (_, true, _, true) => ExpireCondition::IfHasExpiryAndLess,
        (_, _, _, true) => ExpireCondition::IfLess,
        (_, true, ..) => ExpireCondition::IfHasExpiry,
        _ => ExpireCondition::Always,
    }
}

/// Parses a write command, or returns `None` if `name` is not one.
fn write_op(name: &str, args: &[Vec<u8>]) -> Option<WriteOp> {
    let key = || b(&args[0]);
    let op = match name {
        "set" => set_op(args),
        "setnx" => WriteOp::SetNx {
            key: key(),
            value: b(&args[1]),
        },
        "setex" | "psetex" => WriteOp::Set {
            key: key(),
            value: b(&args[2]),
            condition: SetCondition::Always,
            ttl: TtlChange::InMs(int(&args[1]) * if name == "setex" { 1000 } else { 1 }),
            get: false,
        },
        "getset" => WriteOp::Set {
            key: key(),
            value: b(&args[1]),
            condition: SetCondition::Always,
            ttl: TtlChange::Clear,
            get: true,
        },
        "getdel" => WriteOp::GetDel { key: key() },
        "getex" => WriteOp::GetEx {
            key: key(),
            ttl: getex_ttl(&args[1..]),
        },
        "mset" => WriteOp::MSet { pairs: pairs(args) },
        "msetnx" => WriteOp::MSetNx { pairs: pairs(args) },
        "append" => WriteOp::Append {
            key: key(),
            value: b(&args[1]),
        },
        "incr" | "decr" | "incrby" | "decrby" => {
            let amount = if name.ends_with("by") {
                int(&args[1])
            } else {
                1
            };
            let delta = if name.starts_with("decr") {
                -amount
            } else {
                amount
            };
            WriteOp::IncrBy { key: key(), delta }
        }
        "incrbyfloat" => WriteOp::IncrByFloat {
            key: key(),
            delta: b(&args[1]),
        },
        "setrange" => WriteOp::SetRange {
            key: key(),
            offset: int(&args[1]) as u64,
            value: b(&args[2]),
        },
        "del" | "unlink" => WriteOp::Del { keys: keys(args) },
        "expire" | "pexpire" | "expireat" | "pexpireat" => WriteOp::Expire {
            key: key(),
            amount: int(&args[1]),
            command: match name {
                "expire" => ExpireCommand::Expire,
                "pexpire" => ExpireCommand::PExpire,
                "expireat" => ExpireCommand::ExpireAt,
                _ => ExpireCommand::PExpireAt,
            },
            condition: expire_condition(&args[2..]),
        },
        "persist" => WriteOp::Persist { key: key() },
        "rename" | "renamenx" => WriteOp::Rename {
            from: key(),
            to: b(&args[1]),
            only_if_absent: name == "renamenx",
        },
        "copy" => {
            let options: Vec<String> = args[2..].iter().map(|arg| word(arg)).collect();
            let to_db = options
                .iter()
                .position(|option| option == "db")
                .map(|at| options[at + 1].parse().unwrap());
            WriteOp::Copy {
                from: key(),
                to: b(&args[1]),
                to_db: to_db.unwrap_or(usize::MAX),
                replace: options.iter().any(|option| option == "replace"),
            }
        }
        "flushdb" => WriteOp::FlushDb,
        "flushall" => WriteOp::FlushAll,
        "purge" => WriteOp::PurgeExpired { keys: keys(args) },
        _ => return None,
    };
    Some(op)
}

impl Driver {
    /// Runs one command line; `None` for driver commands with no output.
    fn run(&mut self, line: &str) -> Option<String> {
        let tokens = tokenize(line);
        let name = word(&tokens[0]);
        let args = &tokens[1..];
        if let Some(mut op) = write_op(&name, args) {
            if let WriteOp::Copy { to_db, .. } = &mut op {
                if *to_db == usize::MAX {
                    *to_db = self.db;
                }
            }
            return Some(render(&self.engine.apply(self.db, &op, self.now_ms)));
        }
        let (engine, db, now) = (&self.engine, self.db, self.now_ms);
        let reply = match name.as_str() {
            "advance" => {
                self.now_ms += int(&args[0]) as u64;
                return None;
            }
            "select" => {
                self.db = int(&args[0]) as usize;
                return None;
            }
            "get" => record(|sink| engine.get(db, &args[0], now, sink)),
            "mget" => record(|sink| engine.mget(db, &keys(args), now, sink)),
            "strlen" => record(|sink| engine.strlen(db, &args[0], now, sink)),
            "getrange" => record(|sink| {
                engine.getrange(db, &args[0], int(&args[1]), int(&args[2]), now, sink)
            }),
            "exists" | "touch" => Reply::Int(engine.exists(db, &keys(args), now)),
            "type" => Reply::Simple(engine.key_type(db, &args[0], now)),
            "ttl" => Reply::Int(engine.ttl(db, &args[0], now, false, false)),
            "pttl" => Reply::Int(engine.ttl(db, &args[0], now, true, false)),
            "expiretime" => Reply::Int(engine.ttl(db, &args[0], now, false, true)),
            "pexpiretime" => Reply::Int(engine.ttl(db, &args[0], now, true, true)),
            "keys" => {
                let mut reply = record(|sink| engine.keys(db, &args[0], now, sink));
                sort_array(&mut reply);
                reply
            }
            "scan" => self.scan(args),
            "randomkey" => {
                let seed: u64 = std::str::from_utf8(&args[0]).unwrap().parse().unwrap();
                record(|sink| engine.random_key(db, now, seed, sink))
            }
            "rpush-raw" => {
                let items = args[1..].iter().map(|item| b(item));
                let entry = Entry::new(Value::List(Box::new(List::from_items(items))), None);
                engine.restore_entry(db, b(&args[0]), entry);
                return None;
            }
            "dbsize" => Reply::Int(engine.dbsize(db) as i64),
            "expires" => Reply::Int(engine.expires_count(db) as i64),
            "candidates" => {
                let mut found: Vec<String> = engine
                    .expired_candidates(now, int(&args[0]) as usize)
                    .iter()
                    .map(|(db, key)| format!("{db}:{}", quote(key)))
                    .collect();
                found.sort();
                return Some(format!("[{}]", found.join(", ")));
            }
            other => panic!("unknown scenario command {other:?}"),
        };
        Some(render(&reply))
    }

    /// `scan <cursor> [match p] [count n] [type t]`; the keys are sorted
    /// so the output does not depend on hash order.
    fn scan(&self, args: &[Vec<u8>]) -> Reply {
        let cursor = int(&args[0]) as u64;
        let (mut pattern, mut count, mut type_name) = (None, 10, None);
        for option in args[1..].chunks(2) {
            match word(&option[0]).as_str() {
                "match" => pattern = Some(option[1].as_slice()),
                "count" => count = int(&option[1]) as usize,
                "type" => type_name = Some(option[1].as_slice()),
                other => panic!("unknown SCAN option {other}"),
            }
        }
        let mut reply = record(|sink| {
            self.engine.scan(
                self.db,
                cursor,
                pattern,
                count,
                type_name,
                self.now_ms,
                sink,
            )
        });
        if let Reply::Array(parts) = &mut reply {
            sort_array(&mut parts[1]);
        }
        reply
    }
}

/// Sorts an array reply of bulk strings, for order-free comparison.
fn sort_array(reply: &mut Reply) {
    if let Reply::Array(items) = reply {
        items.sort_by_key(render);
    }
}

/// Runs one scenario file and compares (or, with `UPDATE_SCENARIOS`,
/// rewrites) its outputs.
fn run_scenario(name: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/scenarios")
        .join(format!("{name}.txt"));
    let text = std::fs::read_to_string(&path).unwrap();
    let mut driver = Driver {
        engine: Engine::new(),
        now_ms: START_MS,
        db: 0,
    };
    let mut rewritten = String::new();
    let mut failures = Vec::new();
    for block in text.split("\n\n") {
        let block = block.trim_matches('\n');
        if block.is_empty() {
            continue;
        }
        let (commands, expected) = block.split_once("\n---").unwrap_or((block, ""));
        let mut actual = Vec::new();
        for line in commands.lines() {
            if line.starts_with('#') || line.trim().is_empty() {
                continue;
            }
            if let Some(output) = driver.run(line) {
                actual.push(output);
            }
        }
        let expected: Vec<&str> = expected.lines().filter(|l| !l.is_empty()).collect();
        if expected != actual {
            failures.push(format!(
                "{commands}\n--- expected\n{}\n--- actual\n{}",
                expected.join("\n"),
                actual.join("\n")
            ));
        }
        if !rewritten.is_empty() {
            rewritten.push('\n');
        }
        rewritten.push_str(&format!("{commands}\n---\n"));
        for line in &actual {
            rewritten.push_str(line);
            rewritten.push('\n');
        }
        driver.engine.check_invariants();
    }
    if std::env::var_os("UPDATE_SCENARIOS").is_some() {
        std::fs::write(&path, rewritten).unwrap();
        return;
    }
    assert!(failures.is_empty(), "{name}:\n{}", failures.join("\n\n"));
}

macro_rules! scenarios {
    ($($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                run_scenario(stringify!($name));
            }
        )*
    };
}

scenarios!(
    set_options,
    expiry_boundaries,
    expire_conditions,
    incr_integers,
    incrbyfloat_format,
    string_ranges,
    rename_copy,
    keys_glob,
    keyspace_misc,
    purge_expired,
);
