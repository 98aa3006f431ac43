//! The argument sweep: every command in redraft's command table is called
//! with extreme integers in each of its numeric positions, against redraft
//! and a real redis-server, on keys of the right type holding a few
//! elements (`tests/argument_sweep.txt` holds the call shapes and says how
//! they are written).
//!
//! For every call:
//! - redraft's reply has the kind of Redis's: an error with the very same
//!   text, or a value of the same RESP type (contents may differ: random
//!   picks, node names, timings);
//! - redraft's peak resident memory (`VmHWM`) stays within
//!   [`RSS_GROWTH_MAX_BYTES`] of what it was after the fixture was loaded,
//!   and its address space is limited, so a runaway allocation fails the
//!   test instead of taking the machine's memory.
//!
//! Invariants of the sweep itself:
//! - Every command and subcommand of the table has a call shape or a
//!   stated reason to skip it, and the file names nothing the table lacks:
//!   a new command fails the test until it is covered.
//! - Each call shape runs on fresh connections, so connection state
//!   (SELECT, HELLO, MULTI, SUBSCRIBE) never leaks into the next shape.
//! - The fixture is restored on both servers before any call that follows
//!   a write, so both servers see the same keys.

mod common;

use std::collections::BTreeSet;
use std::path::Path;

use common::{render, Process, Raw};
use redraft_server::resp::Frame;

/// How far redraft's peak RSS may rise over the sweep.
const RSS_GROWTH_MAX_BYTES: u64 = 256 << 20;
/// The address space redraft runs in: room for its threads and mappings,
/// far below the machine's memory.
const ADDRESS_SPACE_MAX_BYTES: u64 = 4 << 30;

/// The values every numeric position takes, as text.
const VALUES: &[&str] = &[
    "-9223372036854775808", // LONG_MIN
    "-9223372036854775807", // -LONG_MAX
    "-4294967296",          // -2^32
    "-2147483649",          // INT_MIN - 1
    "-1",
    "0",
    "1",
    "2147483648",           // INT_MAX + 1
    "4294967296",           // 2^32
    "9223372036854775807",  // LONG_MAX = 2^63-1
    "9223372036854775808",  // 2^63: overflows a long
    "18446744073709551616", // 2^64
    // Not integers: each position's parse error and its text.
    "-0",
    "1.5",
    "x",
];
const LONG_MIN: &str = "-9223372036854775808";
const LONG_MAX: &str = "9223372036854775807";
/// With the `repeats` flag, values from -LONG_MAX up to below this go to
/// redraft alone: Redis accepts them and builds a reply of |value|
/// elements (exhausting its memory), so there is nothing to compare, but
/// redraft must still stay within its memory bound.
const REPEATS_MIN: i128 = -1000;

/// Whether Redis accepts `value` as a count of repeated random elements
/// and answers that many (LONG_MIN it refuses, so that one stays).
fn asks_for_huge_repeats(value: &str) -> bool {
    value
        .parse::<i128>()
        .is_ok_and(|value| (-i128::from(i64::MAX)..REPEATS_MIN).contains(&value))
}

/// The fixture, written in one transaction (see the data file's header).
const FIXTURE: &[&[&str]] = &[
    &["SELECT", "0"],
    &["MULTI"],
    &["FLUSHALL"],
    &["SET", "str", "hello"],
    &["SET", "num", "10"],
    &["RPUSH", "list", "a", "b", "c", "d", "e"],
    &["RPUSH", "list2", "x", "y"],
    &["HSET", "hash", "f1", "1", "f2", "2", "f3", "3"],
    &["SADD", "set", "a", "b", "c", "d"],
    &["SADD", "set2", "c", "d", "e"],
    &["ZADD", "zset", "1", "a", "2", "b", "3", "c", "4", "d"],
    &["ZADD", "zset2", "1", "c", "2", "e"],
    &["EXEC"],
];

/// One piece of an argument: literal bytes or a numeric position.
#[derive(Clone)]
enum Piece {
    Text(Vec<u8>),
    Slot(usize),
    Dump,
}

/// A call shape from the data file.
struct Shape {
    line: usize,
    /// The command (`container|sub` for a subcommand).
    name: String,
    args: Vec<Vec<Piece>>,
    /// Each position's value when another one is swept.
    defaults: Vec<String>,
    solo: bool,
    repeats: bool,
    not_in_redis: bool,
}

/// The data file: call shapes and the names skipped, with reasons.
struct Sweep {
    shapes: Vec<Shape>,
    skipped: Vec<(String, String)>,
}

fn load() -> Sweep {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/argument_sweep.txt");
    let text = std::fs::read_to_string(&path).expect("read tests/argument_sweep.txt");
    let mut sweep = Sweep {
        shapes: Vec::new(),
        skipped: Vec::new(),
    };
    for (index, line) in text.lines().enumerate() {
        let line_no = index + 1;
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(rest) = line.strip_prefix("skip ") {
            let (name, reason) = rest
                .split_once(':')
                .unwrap_or_else(|| panic!("line {line_no}: `skip NAME: reason`"));
            assert!(!reason.trim().is_empty(), "line {line_no}: no reason");
            sweep
                .skipped
                .push((name.trim().to_string(), reason.trim().to_string()));
            continue;
        }
        sweep.shapes.push(parse_shape(line_no, line));
    }
    sweep
}

fn parse_shape(line_no: usize, line: &str) -> Shape {
    let (words, flags) = match line.split_once(" ; ") {
        Some((words, flags)) => (words, flags),
        None => (line, ""),
    };
    let words = common::split_args(words).unwrap_or_else(|| panic!("line {line_no}: quoting"));
    let mut defaults = Vec::new();
    let args = words
        .iter()
        .map(|word| parse_word(line_no, word, &mut defaults))
        .collect();
    let mut shape = Shape {
        line: line_no,
        name: String::from_utf8(words[0].to_ascii_lowercase()).unwrap(),
        args,
        defaults,
        solo: false,
        repeats: false,
        not_in_redis: false,
    };
    for flag in flags.split_whitespace() {
        match flag {
            "solo" => shape.solo = true,
            "repeats" => shape.repeats = true,
            "not-in-7.0" => shape.not_in_redis = true,
            other => panic!("line {line_no}: unknown flag {other}"),
        }
    }
    shape
}

/// Splits a word into text and `{N}` / `{dump}` pieces.
fn parse_word(line_no: usize, word: &[u8], defaults: &mut Vec<String>) -> Vec<Piece> {
    let text = std::str::from_utf8(word).expect("the data file is UTF-8");
    let mut pieces = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        let close = rest[open..]
            .find('}')
            .unwrap_or_else(|| panic!("line {line_no}: unclosed {{"))
            + open;
        if open > 0 {
            pieces.push(Piece::Text(rest.as_bytes()[..open].to_vec()));
        }
        match &rest[open + 1..close] {
            "dump" => pieces.push(Piece::Dump),
            default => {
                assert!(
                    default.parse::<i64>().is_ok(),
                    "line {line_no}: {{{default}}} is not a number"
                );
                pieces.push(Piece::Slot(defaults.len()));
                defaults.push(default.to_string());
            }
        }
        rest = &rest[close + 1..];
    }
    if !rest.is_empty() || pieces.is_empty() {
        pieces.push(Piece::Text(rest.as_bytes().to_vec()));
    }
    pieces
}

impl Shape {
    /// The full name a shape runs: `container|sub` for a container.
    fn resolve_name(&mut self) {
        let Some(spec) = redraft_server::cmd::lookup(self.name.as_bytes()) else {
            return;
        };
        if spec.subcommands.is_empty() || self.args.len() < 2 {
            return;
        }
        if let [Piece::Text(sub)] = &self.args[1][..] {
            self.name = format!(
                "{}|{}",
                self.name,
                String::from_utf8_lossy(sub).to_lowercase()
            );
        }
    }

    /// Every combination of values to call with: each position over every
    /// value with the others at their defaults; then (unless `solo`) all
    /// positions at each value and the two huge ranges. Each comes with
    /// whether it goes to redraft alone (see `repeats`).
    fn calls(&self) -> Vec<(Vec<String>, bool)> {
        self.value_sets()
            .into_iter()
            .map(|set| {
                let huge = self.repeats && set.iter().any(|value| asks_for_huge_repeats(value));
                (set, huge)
            })
            .collect()
    }

    fn value_sets(&self) -> Vec<Vec<String>> {
        let count = self.defaults.len();
        let mut sets = vec![self.defaults.clone()];
        for position in 0..count {
            for value in VALUES {
                let mut set = self.defaults.clone();
                set[position] = value.to_string();
                sets.push(set);
            }
        }
        if count > 1 && !self.solo {
            for value in VALUES {
                sets.push(vec![value.to_string(); count]);
            }
            for (first, rest) in [(LONG_MIN, LONG_MAX), (LONG_MAX, LONG_MIN)] {
                let mut set = vec![rest.to_string(); count];
                set[0] = first.to_string();
                sets.push(set);
            }
        }
        let mut seen = BTreeSet::new();
        sets.retain(|set| seen.insert(set.clone()));
        sets
    }

    /// The call's arguments with `values` in the numeric positions.
    fn call(&self, values: &[String], dump: &[u8]) -> Vec<Vec<u8>> {
        self.args
            .iter()
            .map(|pieces| {
                let mut arg = Vec::new();
                for piece in pieces {
                    match piece {
                        Piece::Text(text) => arg.extend_from_slice(text),
                        Piece::Slot(slot) => arg.extend_from_slice(values[*slot].as_bytes()),
                        Piece::Dump => arg.extend_from_slice(dump),
                    }
                }
                arg
            })
            .collect()
    }
}

/// Every command and subcommand in redraft's table, by full name.
fn table_names() -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for spec in redraft_server::cmd::table() {
        if spec.subcommands.is_empty() {
            names.insert(spec.name.to_string());
        }
        for sub in spec.subcommands {
            names.insert(sub.name.to_string());
        }
    }
    names
}

/// The file covers the table exactly: every name has a shape or a skip,
/// and every shape or skip names something in the table.
fn check_coverage(sweep: &Sweep) {
    let table = table_names();
    let mut covered = BTreeSet::new();
    let mut unknown = Vec::new();
    let containers: BTreeSet<&str> = redraft_server::cmd::table()
        .iter()
        .filter(|spec| !spec.subcommands.is_empty())
        .map(|spec| spec.name)
        .collect();
    for shape in &sweep.shapes {
        if table.contains(&shape.name) {
            covered.insert(shape.name.clone());
        } else if !containers.contains(shape.name.as_str()) {
            unknown.push(format!("line {}: {}", shape.line, shape.name));
        }
    }
    for (name, _) in &sweep.skipped {
        if table.contains(name) || containers.contains(name.as_str()) {
            covered.insert(name.clone());
        } else {
            unknown.push(format!("skip {name}"));
        }
    }
    let missing: Vec<&String> = table.difference(&covered).collect();
    assert!(
        missing.is_empty(),
        "commands with no call shape in tests/argument_sweep.txt (add one, or a `skip NAME: reason` line): {missing:?}"
    );
    assert!(
        unknown.is_empty(),
        "tests/argument_sweep.txt names commands redraft's table does not have: {unknown:?}"
    );
}

/// A reply's kind: the exact text for an error, else its RESP type.
fn kind(frame: &Frame) -> String {
    match frame {
        Frame::Error(text) | Frame::BulkError(text) => {
            format!("error {}", String::from_utf8_lossy(text))
        }
        Frame::Simple(_) => "simple string".into(),
        Frame::Integer(_) => "integer".into(),
        Frame::Bulk(_) => "bulk string".into(),
        Frame::NullBulk => "null bulk".into(),
        Frame::NullArray => "null array".into(),
        Frame::Null => "null".into(),
        Frame::Array(_) => "array".into(),
        Frame::Map(_) => "map".into(),
        Frame::Set(_) => "set".into(),
        Frame::Push(_) => "push".into(),
        Frame::Double(_) => "double".into(),
        Frame::Boolean(_) => "boolean".into(),
        Frame::BigNumber(_) => "big number".into(),
        Frame::Verbatim { .. } => "verbatim string".into(),
    }
}

/// A field of `/proc/PID/status` in bytes (`VmHWM`, `VmRSS`).
fn status_bytes(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_else(|err| panic!("read /proc/{pid}/status: {err}"));
    let line = status
        .lines()
        .find(|line| line.starts_with(field) && line[field.len()..].starts_with(':'))
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"));
    let kib: u64 = line[field.len() + 1..]
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .expect("a number of kB");
    kib * 1024
}

fn show(args: &[Vec<u8>]) -> String {
    args.iter()
        .map(|arg| common::repr(arg))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Both servers, an admin connection to each (fixture restores) and the
/// DUMP payload for RESTORE.
struct Servers {
    redis: Process,
    redraft: Process,
    redis_admin: Raw,
    redraft_admin: Raw,
    /// Each server's DUMP of `str`: the two payload formats differ
    /// (docs/datatypes.md), so each RESTOREs its own.
    redis_dump: Vec<u8>,
    redraft_dump: Vec<u8>,
    /// redraft's peak RSS after the first fixture.
    baseline_bytes: u64,
}

impl Servers {
    fn start() -> Servers {
        let redis = common::redis(&[]);
        let redraft = common::redraft_address_limited(&[], ADDRESS_SPACE_MAX_BYTES);
        let mut servers = Servers {
            redis_admin: redis.raw(),
            redraft_admin: redraft.raw(),
            redis,
            redraft,
            redis_dump: Vec::new(),
            redraft_dump: Vec::new(),
            baseline_bytes: 0,
        };
        servers.restore_fixture();
        for (name, conn, dump) in [
            (
                "redis-server",
                &mut servers.redis_admin,
                &mut servers.redis_dump,
            ),
            (
                "redraft",
                &mut servers.redraft_admin,
                &mut servers.redraft_dump,
            ),
        ] {
            let Frame::Bulk(payload) = conn.command(&[b"DUMP", b"str"]) else {
                panic!("{name}: DUMP str is not a bulk string");
            };
            *dump = payload.to_vec();
        }
        servers.baseline_bytes = status_bytes(servers.redraft.child.id(), "VmHWM");
        servers
    }

    fn restore_fixture(&mut self) {
        for (name, conn) in [
            ("redis-server", &mut self.redis_admin),
            ("redraft", &mut self.redraft_admin),
        ] {
            let commands: Vec<Vec<&[u8]>> = FIXTURE
                .iter()
                .map(|command| command.iter().map(|word| word.as_bytes()).collect())
                .collect();
            let parts: Vec<&[&[u8]]> = commands.iter().map(Vec::as_slice).collect();
            conn.send(&common::encode_pipeline(&parts));
            let replies = conn.read_n(FIXTURE.len());
            let exec = replies.last().unwrap();
            assert!(
                matches!(exec, Frame::Array(items) if items.iter().all(|item| !matches!(item, Frame::Error(_)))),
                "{name}: the fixture failed: {}",
                render(exec)
            );
        }
    }

    /// Fails the test if redraft has exited or grown past the bound.
    fn check_redraft(&mut self, call: &str) {
        if let Some(status) = self.redraft.child.try_wait().unwrap() {
            panic!("redraft exited ({status}) after > {call}");
        }
        let peak = status_bytes(self.redraft.child.id(), "VmHWM");
        assert!(
            peak <= self.baseline_bytes + RSS_GROWTH_MAX_BYTES,
            "redraft's peak RSS grew from {} MiB to {} MiB by > {call}",
            self.baseline_bytes >> 20,
            peak >> 20
        );
    }
}

/// What one call did differently from Redis.
struct Mismatch {
    call: String,
    redis: String,
    redraft: String,
}

/// A fresh connection to `server`, switched to RESP3 if `resp3`.
fn connect(server: &Process, resp3: bool) -> Raw {
    let mut conn = server.raw();
    if resp3 {
        let reply = conn.command(&[b"HELLO", b"3"]);
        assert!(
            matches!(reply, Frame::Map(_)),
            "HELLO 3: {}",
            render(&reply)
        );
    }
    conn
}

/// Runs one call shape; appends what differs from Redis to `mismatches`.
fn run_shape(
    servers: &mut Servers,
    shape: &Shape,
    resp3: bool,
    dirty: &mut bool,
    mismatches: &mut Vec<Mismatch>,
) {
    let spec = redraft_server::cmd::lookup(shape.name.split('|').next().unwrap().as_bytes())
        .expect("covered names are in the table");
    let writes = spec.is_write();
    let mut redis = connect(&servers.redis, resp3);
    let mut redraft = connect(&servers.redraft, resp3);
    for (values, redraft_only) in shape.calls() {
        let args = shape.call(&values, &servers.redraft_dump);
        let call = show(&args);
        if *dirty {
            servers.restore_fixture();
            *dirty = false;
        }
        let parts: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
        let from_redraft = redraft.command_or_eof(&parts);
        servers.check_redraft(&call);
        *dirty |= writes;
        if shape.not_in_redis || redraft_only {
            if from_redraft.is_none() {
                mismatches.push(Mismatch {
                    call,
                    redis: "(not in Redis 7.0)".into(),
                    redraft: "no reply".into(),
                });
            }
            continue;
        }
        let redis_args = shape.call(&values, &servers.redis_dump);
        let parts: Vec<&[u8]> = redis_args.iter().map(Vec::as_slice).collect();
        let from_redis = redis.command_or_eof(&parts);
        let shown = |reply: &Option<Frame>| match reply {
            Some(frame) => kind(frame),
            None => "connection closed".into(),
        };
        let (redis_kind, redraft_kind) = (shown(&from_redis), shown(&from_redraft));
        if redis_kind != redraft_kind {
            mismatches.push(Mismatch {
                call,
                redis: from_redis.as_ref().map_or(redis_kind, render),
                redraft: from_redraft.as_ref().map_or(redraft_kind, render),
            });
        }
        if from_redis.is_none() || from_redraft.is_none() {
            redis = connect(&servers.redis, resp3);
            redraft = connect(&servers.redraft, resp3);
        }
    }
}

/// Runs every call shape in RESP2 or RESP3 and fails with every call whose
/// reply differs in kind from Redis's.
fn sweep(resp3: bool) {
    let mut sweep = load();
    for shape in &mut sweep.shapes {
        shape.resolve_name();
    }
    check_coverage(&sweep);
    let mut servers = Servers::start();
    let mut dirty = false;
    let mut mismatches = Vec::new();
    let mut calls = 0;
    for shape in &sweep.shapes {
        calls += shape.calls().len();
        run_shape(&mut servers, shape, resp3, &mut dirty, &mut mismatches);
    }
    let report: Vec<String> = mismatches
        .iter()
        .map(|m| {
            format!(
                "> {}\n    redis:   {}\n    redraft: {}",
                m.call,
                m.redis.replace('\n', " "),
                m.redraft.replace('\n', " ")
            )
        })
        .collect();
    assert!(
        mismatches.is_empty(),
        "{} of {calls} calls differ in kind from redis-server:\n{}",
        mismatches.len(),
        report.join("\n")
    );
}

#[test]
fn every_command_answers_extreme_integers_as_redis_does_in_resp2() {
    sweep(false);
}

#[test]
fn every_command_answers_extreme_integers_as_redis_does_in_resp3() {
    sweep(true);
}
