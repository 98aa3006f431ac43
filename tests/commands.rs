//! Data-driven command tests: every file in `tests/scenarios/` is a list of
//! commands and the replies Redis 7.0 gives them. Each file is one `#[test]`
//! that runs the file against BOTH redraft and a real redis-server, so an
//! expectation that is not Redis's own fails as loudly as a redraft bug.
//!
//! The format, one item per line:
//! - `# text` is a comment; blank lines are ignored.
//! - `> SET k "a b" EX 10` sends a command (split as redis-cli splits: `"..."`
//!   with `\xNN` escapes, `'...'`), as a RESP array of bulk strings.
//! - `>[sorted] KEYS *` does the same but sorts every array of scalars in the
//!   reply first, for replies whose order Redis does not define.
//! - The lines after a command, up to the next blank line, comment,
//!   command or directive, are the expected reply as redis-cli prints it:
//!   `OK`, `(nil)`, `(integer) 5`, `"bulk"`, `(error) ERR syntax error`,
//!   `1) "a"` lines for arrays, `1# "k" => "v"` for RESP3 maps.
//! - In an expected line, `{any}` matches any text and `{a..b}` any integer
//!   from a to b; a line `{...}` matches every remaining line (possibly none).
//! - `!resp3` / `!resp2` switch the connection's protocol with HELLO;
//!   `!reconnect` replaces the connection with a new one (database 0, no name).
//!
//! Set `REDRAFT_BLESS=1` to rewrite a file's expectations with what
//! redis-server answered (only where they do not already match), then review
//! the diff: the blessed text is Redis's, never redraft's.
//!
//! Invariants:
//! - An expected reply is checked against both servers; a scenario passes only
//!   if both match every step.
//! - All of a file's mismatches are reported together, with the file line.

mod common;

use std::path::{Path, PathBuf};

use common::{render, split_args, Process};
use redraft_server::resp::Frame;

/// One parsed line of a scenario file that does something.
enum Item {
    /// A command and the reply both servers must give.
    Command(Step),
    /// Switch the connection to RESP3 (`true`) or RESP2 (`false`).
    Protocol(bool),
    /// Open a fresh connection in place of the current one.
    Reconnect,
}

/// A command line and its expected reply.
struct Step {
    /// 1-based line number of the `>` line, for messages.
    line: usize,
    /// The command as written, for messages.
    text: String,
    args: Vec<Vec<u8>>,
    /// Sort arrays of scalars before comparing.
    sorted: bool,
    /// The expected reply lines (patterns).
    expected: Vec<String>,
    /// Where the expected lines sit in the file (0-based, end exclusive),
    /// so blessing can replace them.
    expected_lines: std::ops::Range<usize>,
}

fn scenario_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/scenarios")
}

fn parse(text: &str, name: &str) -> Vec<Item> {
    let lines: Vec<&str> = text.lines().collect();
    let mut items = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i].trim_end();
        let trimmed = line.trim_start();
        i += 1;
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        match trimmed {
            "!resp3" => items.push(Item::Protocol(true)),
            "!resp2" => items.push(Item::Protocol(false)),
            "!reconnect" => items.push(Item::Reconnect),
            _ if trimmed.starts_with('>') => {
                let line_no = i;
                let (sorted, command) = match trimmed.strip_prefix(">[sorted]") {
                    Some(rest) => (true, rest.trim()),
                    None => (false, trimmed[1..].trim()),
                };
                let args = split_args(command)
                    .unwrap_or_else(|| panic!("{name}:{line_no}: unbalanced quotes"));
                assert!(!args.is_empty(), "{name}:{line_no}: empty command");
                let start = i;
                while i < lines.len() && is_expected_line(lines[i]) {
                    i += 1;
                }
                items.push(Item::Command(Step {
                    line: line_no,
                    text: command.to_string(),
                    args,
                    sorted,
                    expected: lines[start..i]
                        .iter()
                        .map(|l| l.trim_end().to_string())
                        .collect(),
                    expected_lines: start..i,
                }));
            }
            _ => panic!("{name}:{i}: expected a command, directive or comment: {line:?}"),
        }
    }
    items
}

fn is_expected_line(line: &str) -> bool {
    let trimmed = line.trim();
    !(trimmed.is_empty()
        || trimmed.starts_with('#')
        || trimmed.starts_with('>')
        || trimmed.starts_with('!'))
}

/// Sorts every array (or set) whose items are all scalars, recursively.
fn sort_frame(frame: &mut Frame) {
    if let Frame::Array(items) | Frame::Set(items) = frame {
        let scalars = items
            .iter()
            .all(|item| !matches!(item, Frame::Array(_) | Frame::Set(_) | Frame::Map(_)));
        if scalars {
            items.sort_by_key(render);
        } else {
            items.iter_mut().for_each(sort_frame);
        }
    }
}

/// Runs every step on one server; returns each command step's rendered reply.
fn run_on(server: &Process, items: &[Item]) -> Vec<String> {
    let mut conn = server.raw();
    let mut replies = Vec::new();
    for item in items {
        match item {
            Item::Protocol(resp3) => {
                let version: &[u8] = if *resp3 { b"3" } else { b"2" };
                let reply = conn.command(&[b"HELLO", version]);
                assert!(
                    matches!(reply, Frame::Map(_) | Frame::Array(_)),
                    "HELLO failed on port {}: {reply:?}",
                    server.port
                );
            }
            Item::Reconnect => conn = server.raw(),
            Item::Command(step) => {
                let args: Vec<&[u8]> = step.args.iter().map(Vec::as_slice).collect();
                let mut reply = match conn.command_or_eof(&args) {
                    Some(reply) => reply,
                    None => {
                        // The server closed the connection: record it and go on
                        // with a fresh connection so later steps still run.
                        replies.push("(connection closed)".to_string());
                        conn = server.raw();
                        continue;
                    }
                };
                if step.sorted {
                    sort_frame(&mut reply);
                }
                replies.push(render(&reply));
            }
        }
    }
    replies
}

/// Whether `actual` (rendered reply lines) matches the expected patterns.
fn reply_matches(expected: &[String], actual: &str) -> bool {
    // Trailing spaces are not kept in scenario files (editors strip them).
    let actual: Vec<&str> = actual.lines().map(str::trim_end).collect();
    let mut e = 0;
    let mut a = 0;
    while e < expected.len() {
        if expected[e].trim() == "{...}" {
            return true;
        }
        match actual.get(a) {
            Some(line) if line_matches(&expected[e], line) => {}
            _ => return false,
        }
        e += 1;
        a += 1;
    }
    a == actual.len()
}

/// Matches one line against a pattern with `{any}` and `{a..b}` holes.
fn line_matches(pattern: &str, text: &str) -> bool {
    let Some(open) = pattern.find('{') else {
        return pattern == text;
    };
    let Some(close) = pattern[open..].find('}').map(|c| open + c) else {
        return pattern == text;
    };
    let (literal, hole, rest) = (
        &pattern[..open],
        &pattern[open + 1..close],
        &pattern[close + 1..],
    );
    let Some(text) = text.strip_prefix(literal) else {
        return false;
    };
    if hole == "any" {
        return (0..=text.len())
            .filter(|&cut| text.is_char_boundary(cut))
            .any(|cut| line_matches(rest, &text[cut..]));
    }
    if let Some((low, high)) = hole.split_once("..") {
        let (low, high): (i64, i64) = (low.parse().unwrap(), high.parse().unwrap());
        let digits = text
            .char_indices()
            .take_while(|&(i, c)| c.is_ascii_digit() || (i == 0 && c == '-'))
            .count();
        return text[..digits]
            .parse::<i64>()
            .is_ok_and(|n| (low..=high).contains(&n) && line_matches(rest, &text[digits..]));
    }
    // Not a hole: match the brace literally.
    text.strip_prefix(&pattern[open..=close])
        .is_some_and(|text| line_matches(rest, text))
}

/// Runs one scenario file against both servers and fails with every
/// mismatch found.
fn run_scenario(name: &str) {
    let path = scenario_dir().join(format!("{name}.txt"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    let items = parse(&text, name);
    let redis = common::redis(&[]);
    let redraft = common::redraft(&[]);
    let redis_replies = run_on(&redis, &items);
    let redraft_replies = run_on(&redraft, &items);
    let steps: Vec<&Step> = items
        .iter()
        .filter_map(|item| match item {
            Item::Command(step) => Some(step),
            _ => None,
        })
        .collect();
    if std::env::var_os("REDRAFT_BLESS").is_some() {
        bless(&path, &text, &steps, &redis_replies);
    }
    let mut failures = Vec::new();
    for (i, step) in steps.iter().enumerate() {
        let (redis_reply, redraft_reply) = (&redis_replies[i], &redraft_replies[i]);
        if !reply_matches(&step.expected, redis_reply) {
            failures.push(format!(
                "{name}.txt:{}: > {}\n  expected (not what Redis says):\n    {}\n  redis replied:\n    {}",
                step.line,
                step.text,
                step.expected.join("\n    "),
                redis_reply.replace('\n', "\n    "),
            ));
        }
        if !reply_matches(&step.expected, redraft_reply) {
            failures.push(format!(
                "{name}.txt:{}: > {}\n  expected:\n    {}\n  redraft replied:\n    {}\n  redis replied:\n    {}",
                step.line,
                step.text,
                step.expected.join("\n    "),
                redraft_reply.replace('\n', "\n    "),
                redis_reply.replace('\n', "\n    "),
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} mismatches in {name}.txt:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Rewrites the expectations that redis-server does not match with its reply.
fn bless(path: &Path, text: &str, steps: &[&Step], redis_replies: &[String]) {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    for (step, reply) in steps.iter().zip(redis_replies).rev() {
        if !reply_matches(&step.expected, reply) {
            lines.splice(
                step.expected_lines.clone(),
                reply.lines().map(str::to_string),
            );
        }
    }
    std::fs::write(path, lines.join("\n") + "\n").unwrap();
}

macro_rules! scenarios {
    ($($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                run_scenario(stringify!($name));
            }
        )*

        /// Every file in tests/scenarios has a test, so none is silently skipped.
        #[test]
        fn every_scenario_file_has_a_test() {
            let known = [$(stringify!($name)),*];
            for entry in std::fs::read_dir(scenario_dir()).unwrap() {
                let file = entry.unwrap().file_name().into_string().unwrap();
                let stem = file.strip_suffix(".txt").unwrap_or_else(|| panic!("not a .txt: {file}"));
                assert!(known.contains(&stem), "scenario {file} has no test in commands.rs");
            }
        }
    };
}

#[test]
fn pattern_holes_match_as_documented() {
    assert!(line_matches("(integer) {99..100}", "(integer) 99"));
    assert!(!line_matches("(integer) {99..100}", "(integer) 101"));
    assert!(line_matches("(integer) {-2..-1}", "(integer) -2"));
    assert!(line_matches("1) {any}", "1) \"1700000000\""));
    assert!(line_matches("a{any}c", "abbbc"));
    assert!(!line_matches("a{any}c", "abbbd"));
    assert!(reply_matches(
        &["1) \"a\"".into(), "{...}".into()],
        "1) \"a\"\n2) \"b\""
    ));
    assert!(!reply_matches(&["1) \"a\"".into()], "1) \"a\"\n2) \"b\""));
}

scenarios!(
    slowlog,
    latency_monitor,
    keys_object_move,
    transactions,
    replication_wait,
    keys_sort,
    keys_dump_restore,
    strings_set,
    strings_get_family,
    strings_setex,
    strings_mset,
    strings_incr,
    strings_incrbyfloat,
    strings_ranges,
    strings_lcs,
    keys_del_exists,
    keys_expire,
    keys_ttl,
    keys_pattern,
    keys_scan,
    keys_rename_copy,
    keys_misc,
    db_select,
    connection,
    connection_reset,
    command_getkeys,
    server,
    resp3,
    lists_push_pop,
    lists_range_index,
    lists_edit,
    lists_move,
    lists_resp3,
    sets_basic,
    sets_algebra,
    sets_random,
    sets_scan,
    sets_resp3,
    hashes_basic,
    hashes_incr,
    hashes_random_scan,
    hashes_resp3,
    hashes_large,
    zsets_add,
    zsets_range_rank,
    zsets_range_score_lex,
    zsets_remrange,
    zsets_pop,
    zsets_algebra,
    zsets_random_scan,
    zsets_resp3,
    count_arguments,
);
