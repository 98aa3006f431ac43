//! Which arguments of a command line are keys, and how the command uses
//! each, as Redis 7.0 finds them for `COMMAND GETKEYS` and
//! `GETKEYSANDFLAGS` (`getKeysFromCommandWithSpecs` in db.c).
//!
//! The key specs are Redis 7.0.15's own, one line per spec in
//! `key_specs.txt` (generated from redis-server's `COMMAND INFO`): where the
//! search for keys begins (an index, or after a keyword) and how keys are
//! found from there (a range, or a count given in an argument). A command
//! whose specs cannot describe its keys (`SORT`'s `STORE`), or whose keys'
//! flags depend on its options (`SET ... GET`, `BITFIELD`), or whose
//! specs fail on a malformed line has Redis's own function for it
//! instead, ported here (`by_function`).
//!
//! Invariants:
//! - Every command of the table that names keys (`keys.0 > 0`, or
//!   `MOVABLEKEYS`) has specs, and its first spec begins where the table's
//!   first key is (a unit test checks both).
//! - Positions count from the command name (0) as Redis's do; a position
//!   returned is always below the number of arguments.

use std::collections::HashMap;
use std::sync::OnceLock;

use bytes::Bytes;

use super::args::{is, parse_i64};
use super::CommandSpec;

/// Where the search for a spec's keys begins.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Begin {
    /// At this argument.
    Index(usize),
    /// After the first `keyword` from `start_from` on (from the end
    /// backwards when negative).
    Keyword { keyword: String, start_from: i64 },
    /// Not described (Redis: "unknown").
    Unknown,
}

/// How a spec's keys are found from where the search began.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Find {
    /// Keys up to `last_key` (from the first; from the end when negative,
    /// or a `limit`th of what is left), every `step`th.
    Range {
        last_key: i64,
        step: usize,
        limit: i64,
    },
    /// A count at `count_at` (from the first), keys from `first_key` on.
    KeyNum {
        count_at: usize,
        first_key: usize,
        step: usize,
    },
    Unknown,
}

/// One key spec: its flags (Redis's names, in its order) and its search.
#[derive(Debug, Clone)]
struct KeySpec {
    flags: Vec<&'static str>,
    begin: Begin,
    find: Find,
}

/// A key found in a command line: its position and its flags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyAt {
    pub position: usize,
    pub flags: Vec<&'static str>,
}

/// Flags that Redis's own functions give keys.
const READ: &[&str] = &["RO", "access"];
const OVERWRITE: &[&str] = &["OW", "update"];
const READ_WRITE: &[&str] = &["RW", "access", "update"];

/// The specs of every command that has keys, by name (`container|sub` for
/// a subcommand).
fn specs() -> &'static HashMap<&'static str, Vec<KeySpec>> {
    static SPECS: OnceLock<HashMap<&'static str, Vec<KeySpec>>> = OnceLock::new();
    SPECS.get_or_init(|| {
        let mut specs: HashMap<&'static str, Vec<KeySpec>> = HashMap::new();
        for line in include_str!("key_specs.txt").lines() {
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (name, spec) = parse_line(line);
            specs.entry(name).or_default().push(spec);
        }
        specs
    })
}

/// One line of `key_specs.txt`; a malformed line is a bug in that file.
fn parse_line(line: &'static str) -> (&'static str, KeySpec) {
    let fields: Vec<&'static str> = line.split(' ').collect();
    let [name, flags, begin, find] = fields[..] else {
        panic!("key_specs.txt: not four fields: {line:?}");
    };
    let numbers = |text: &str| -> Vec<i64> {
        text.split(',')
            .map(|number| number.parse().expect("key_specs.txt: a number"))
            .collect()
    };
    let begin = match begin.split_once(':') {
        Some(("index", at)) => Begin::Index(at.parse().expect("key_specs.txt: index")),
        Some(("keyword", spec)) => {
            let (keyword, start_from) = spec.split_once(',').expect("keyword,startfrom");
            Begin::Keyword {
                keyword: keyword.to_owned(),
                start_from: start_from.parse().expect("key_specs.txt: startfrom"),
            }
        }
        _ if begin == "unknown" => Begin::Unknown,
        _ => panic!("key_specs.txt: begin_search {begin:?}"),
    };
    let find = match find.split_once(':') {
        Some(("range", spec)) => match numbers(spec)[..] {
            [last_key, step, limit] => Find::Range {
                last_key,
                step: step as usize,
                limit,
            },
            _ => panic!("key_specs.txt: range {spec:?}"),
        },
        Some(("keynum", spec)) => match numbers(spec)[..] {
            [count_at, first_key, step] => Find::KeyNum {
                count_at: count_at as usize,
                first_key: first_key as usize,
                step: step as usize,
            },
            _ => panic!("key_specs.txt: keynum {spec:?}"),
        },
        _ if find == "unknown" => Find::Unknown,
        _ => panic!("key_specs.txt: find_keys {find:?}"),
    };
    let spec = KeySpec {
        flags: flags.split(',').collect(),
        begin,
        find,
    };
    (name, spec)
}

/// Whether `spec` has keys for `COMMAND GETKEYS`: a key spec that names
/// keys (not channels), or a function of Redis's to find them.
pub fn has_keys(spec: &CommandSpec) -> bool {
    specs()
        .get(spec.name)
        .is_some_and(|specs| specs.iter().any(|spec| !spec.flags.contains(&"not_key")))
}

/// The keys of the command line `args` (the command's name first) that
/// `spec` runs, in Redis's order; `None` when Redis finds the line
/// malformed ("Invalid arguments specified for command").
pub fn keys(spec: &CommandSpec, args: &[Bytes]) -> Option<Vec<KeyAt>> {
    let specs = specs().get(spec.name)?;
    let by_specs = !specs
        .iter()
        .any(|spec| spec.flags.contains(&"variable_flags"));
    if by_specs {
        // Redis falls back to its function only when the specs fail, not
        // when they find no key.
        if let Some(keys) = by_key_specs(specs, args) {
            return (!keys.is_empty()).then_some(keys);
        }
    }
    by_function(spec.name, args).filter(|keys| !keys.is_empty())
}

/// Redis's `getKeysUsingKeySpecs`: `None` if a spec is unknown or does
/// not fit the line.
fn by_key_specs(specs: &[KeySpec], args: &[Bytes]) -> Option<Vec<KeyAt>> {
    let argc = args.len() as i64;
    let mut keys = Vec::new();
    for spec in specs.iter().filter(|spec| !spec.flags.contains(&"not_key")) {
        let first = match &spec.begin {
            Begin::Index(at) => *at as i64,
            Begin::Keyword {
                keyword,
                start_from,
            } => match find_keyword(args, keyword, *start_from) {
                Some(at) => at as i64 + 1,
                None => continue,
            },
            Begin::Unknown => return None,
        };
        let (first, last, step) = match spec.find {
            Find::Range {
                last_key,
                step,
                limit,
            } => {
                let last = if last_key >= 0 {
                    first + last_key
                } else if limit == 0 {
                    argc + last_key
                } else {
                    first + ((argc - first) / limit + last_key)
                };
                (first, last, step)
            }
            Find::KeyNum {
                count_at,
                first_key,
                step,
            } => {
                let count = args.get((first as usize).checked_add(count_at)?)?;
                let count = parse_i64(count).filter(|count| *count >= 0)?;
                let first = first + first_key as i64;
                // Redis adds the count as a C int: 2^32 + 2 counts 2.
                (first, first + i64::from(count as i32) - 1, step)
            }
            Find::Unknown => return None,
        };
        if last >= argc || last < first || first >= argc {
            return None;
        }
        keys.extend((first..=last).step_by(step.max(1)).map(|position| KeyAt {
            position: position as usize,
            flags: spec.flags.clone(),
        }));
    }
    Some(keys)
}

/// The position of `keyword` (any case) searched from `start_from`
/// towards the end, or from `argc + start_from` towards the start when it
/// is negative; never the command name.
fn find_keyword(args: &[Bytes], keyword: &str, start_from: i64) -> Option<usize> {
    let argc = args.len() as i64;
    let keyword = keyword.to_ascii_lowercase();
    let positions: Box<dyn Iterator<Item = i64>> = if start_from > 0 {
        Box::new(start_from..argc - 1)
    } else {
        Box::new((1..=argc + start_from).rev())
    };
    positions
        .take_while(|at| (1..argc).contains(at))
        .find(|at| is(&args[*at as usize], &keyword))
        .map(|at| at as usize)
}

/// Redis's own key functions (`*GetKeys` in db.c) for the commands whose
/// specs cannot say (or that fall back to them when the specs fail).
fn by_function(name: &str, args: &[Bytes]) -> Option<Vec<KeyAt>> {
    let at = |position: usize, flags: &[&'static str]| KeyAt {
        position,
        flags: flags.to_vec(),
    };
    match name {
        "set" => {
            let get = args.iter().skip(3).any(|arg| is(arg, "get"));
            Some(vec![at(1, if get { READ_WRITE } else { OVERWRITE })])
        }
        "bitfield" => Some(vec![at(
            1,
            if bitfield_reads_only(args) {
                READ
            } else {
                READ_WRITE
            },
        )]),
        "sort" => {
            let mut keys = vec![at(1, READ)];
            keys.extend(sort_store(args).map(|store| at(store, OVERWRITE)));
            Some(keys)
        }
        "sort_ro" => Some(vec![at(1, READ)]),
        "georadius" | "georadiusbymember" => {
            let mut keys = vec![at(1, READ)];
            keys.extend(georadius_store(args).map(|store| at(store, OVERWRITE)));
            Some(keys)
        }
        // (store key, count, first key) offsets of `genericGetKeys`.
        "zunionstore" | "zinterstore" | "zdiffstore" => counted(args, Some(1), 2, 3),
        "zunion" | "zinter" | "zdiff" | "zintercard" | "sintercard" | "lmpop" | "zmpop" => {
            counted(args, None, 1, 2)
        }
        "blmpop" | "bzmpop" => counted(args, None, 2, 3),
        _ => None,
    }
}

/// Redis's `bitfieldGetKeys`: read-only while every subcommand is a whole
/// `GET` or `OVERFLOW`.
fn bitfield_reads_only(args: &[Bytes]) -> bool {
    let mut i = 2;
    while i < args.len() {
        let left = args.len() - i - 1;
        if is(&args[i], "get") && left >= 2 {
            i += 3;
        } else if is(&args[i], "overflow") && left >= 1 {
            i += 2;
        } else {
            return false;
        }
    }
    true
}

/// Redis's `sortGetKeys`: the key after the last `STORE`, skipping the
/// arguments of `LIMIT`, `GET` and `BY`.
fn sort_store(args: &[Bytes]) -> Option<usize> {
    let mut store = None;
    let mut i = 2;
    while i < args.len() {
        let skip = [("limit", 2), ("get", 1), ("by", 1)]
            .iter()
            .find(|(name, _)| is(&args[i], name))
            .map(|(_, skip)| *skip);
        match skip {
            Some(skip) => i += skip,
            None if is(&args[i], "store") && i + 1 < args.len() => store = Some(i + 1),
            None => {}
        }
        i += 1;
    }
    store
}

/// Redis's `georadiusGetKeys`: the key after the last `STORE` or
/// `STOREDIST` from the fifth argument on.
fn georadius_store(args: &[Bytes]) -> Option<usize> {
    let mut store = None;
    let mut i = 5;
    while i < args.len() {
        if (is(&args[i], "store") || is(&args[i], "storedist")) && i + 1 < args.len() {
            store = Some(i + 1);
            i += 1;
        }
        i += 1;
    }
    store
}

/// Redis's `genericGetKeys`: `atoi` of the count at `count_at` keys from
/// `first`, then the store key; no flags. Nothing when the count is out
/// of range.
fn counted(
    args: &[Bytes],
    store: Option<usize>,
    count_at: usize,
    first: usize,
) -> Option<Vec<KeyAt>> {
    let count = atoi(args.get(count_at)?);
    if count < 1 || count > (args.len() as i64 - first as i64) {
        return Some(Vec::new());
    }
    let mut keys: Vec<KeyAt> = (0..count as usize)
        .map(|n| KeyAt {
            position: first + n,
            flags: Vec::new(),
        })
        .collect();
    keys.extend(store.map(|position| KeyAt {
        position,
        flags: Vec::new(),
    }));
    Some(keys)
}

/// C's `atoi` as glibc's, `(int) strtol(text, NULL, 10)`: leading white
/// space, a sign, then digits (0 if none), saturated to a long, then cut
/// to an int.
fn atoi(text: &[u8]) -> i64 {
    let text = text
        .iter()
        .position(|byte| !byte.is_ascii_whitespace())
        .map_or(&[][..], |start| &text[start..]);
    let (negative, digits) = match text {
        [b'-', rest @ ..] => (true, rest),
        [b'+', rest @ ..] => (false, rest),
        _ => (false, text),
    };
    let magnitude = digits
        .iter()
        .take_while(|byte| byte.is_ascii_digit())
        .fold(0i128, |value, digit| {
            (value * 10 + i128::from(digit - b'0')).min(1 << 64)
        });
    let long = if negative { -magnitude } else { magnitude }
        .clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64;
    i64::from(long as i32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cmd::{all_specs, flags};

    #[test]
    fn every_command_with_keys_has_specs_that_begin_at_its_first_key() {
        for spec in all_specs() {
            let named = spec.keys.0 > 0 || spec.flags & flags::MOVABLEKEYS != 0;
            let found = specs().get(spec.name);
            assert_eq!(named, found.is_some(), "{}: key specs", spec.name);
            if let (true, Some(found)) = (spec.keys.0 > 0, found) {
                assert_eq!(
                    found[0].begin,
                    Begin::Index(spec.keys.0 as usize),
                    "{}: first key",
                    spec.name
                );
            }
        }
    }

    #[test]
    fn atoi_reads_as_glibc() {
        for (text, value) in [
            ("2", 2),
            (" 2", 2),
            ("+2", 2),
            ("-2", -2),
            ("2x", 2),
            ("x", 0),
            ("", 0),
            ("4294967298", 2),
            ("2147483648", -2147483648),
            ("9223372036854775807", -1),
            ("99999999999999999999", -1),
            ("-99999999999999999999", 0),
        ] {
            assert_eq!(atoi(text.as_bytes()), value, "{text:?}");
        }
    }
}
