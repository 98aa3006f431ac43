//! Data-driven tests of the sort steps: each case is a value, the options
//! as a command line would give them, the keys the patterns may read, and
//! the reply redis-server 7.0.15 gave for the same data.

use std::collections::HashMap;

use bytes::Bytes;

use super::*;
use crate::{Hash, List, Set, ZSet};

fn bytes(text: &str) -> Bytes {
    Bytes::copy_from_slice(text.as_bytes())
}

fn list(items: &[&str]) -> Value {
    Value::List(Box::new(List::from_items(
        items.iter().map(|item| bytes(item)),
    )))
}

fn set(members: &[&str]) -> Value {
    let mut set = Set::default();
    for member in members {
        assert!(set.insert(member.as_bytes()));
    }
    Value::Set(Box::new(set))
}

fn zset(members: &[(f64, &str)]) -> Value {
    Value::ZSet(ZSet::from_members(
        members
            .iter()
            .map(|(score, member)| (*score, bytes(member))),
    ))
}

/// The keys patterns read: strings, and hashes as `key -> field=value,...`.
struct Keys(HashMap<Vec<u8>, Value>);

impl Keys {
    fn new(strings: &[(&str, &str)], hashes: &[(&str, &[(&str, &str)])]) -> Keys {
        let mut keys = HashMap::new();
        for (key, value) in strings {
            keys.insert(key.as_bytes().to_vec(), Value::Str(value.as_bytes().into()));
        }
        for (key, pairs) in hashes {
            let hash = Hash::from_pairs(pairs.iter().map(|(f, v)| (bytes(f), bytes(v))));
            keys.insert(key.as_bytes().to_vec(), Value::Hash(hash));
        }
        // A key of another type reads as missing.
        keys.insert(b"lk_1".to_vec(), list(&["x"]));
        Keys(keys)
    }

    fn fetch(&self, key: &[u8], field: Option<&[u8]>) -> Option<Bytes> {
        match (self.0.get(key)?, field) {
            (Value::Str(value), None) => Some(value.to_bytes()),
            (Value::Hash(hash), Some(field)) => hash.get(field).map(Bytes::copy_from_slice),
            _ => None,
        }
    }
}

/// Runs `SORT <value> <options>` (`store`: as `SORT ... STORE`) and
/// renders the reply's items (or what STORE stores) joined by `|`,
/// `(nil)` for a nil, or the error text.
fn run(value: Option<&Value>, options: &str, keys: &Keys, store: bool) -> String {
    let options: Vec<Bytes> = options.split_whitespace().map(bytes).collect();
    let (args, _) = SortArgs::parse(&options, true).expect("valid options");
    let mut fetch = |key: &[u8], field: Option<&[u8]>| keys.fetch(key, field);
    let plan = Plan::new(&args, value, store);
    let loaded = load(value, &args, &plan);
    match finish(loaded, &plan, &args.get, &mut fetch) {
        Ok(rows) => rows
            .iter()
            .map(|row| match row {
                Some(value) => String::from_utf8_lossy(value).into_owned(),
                // STORE writes a missing value as an empty string.
                None if store => String::new(),
                None => "(nil)".to_string(),
            })
            .collect::<Vec<_>>()
            .join("|"),
        Err(error) => error.to_string(),
    }
}

#[test]
fn sorts_as_redis_does() {
    let numbers = list(&["3", "1", "2", "10", "2.5", "-1", "1e1", " 5", ""]);
    let letters = list(&["e", "d", "c", "b", "a", "f", "g", "h", "i", "j"]);
    let ids = list(&["1", "2", "3"]);
    let members = zset(&[(1.0, "c"), (2.0, "b"), (3.0, "a"), (4.0, "10"), (5.0, "9")]);
    let ints = set(&["5", "3", "10", "-2"]);
    let words = set(&["b", "a", "c"]);
    let keys = Keys::new(
        &[
            ("s_1", "a"),
            ("s_2", "c"),
            ("s_3", "b"),
            ("w_a", "3"),
            ("w_b", "1"),
            ("w_c", "2"),
            ("w_d", "x"),
        ],
        &[
            ("h_1", &[("f", "30"), ("g", "x")]),
            ("h_2", &[("f", "10")]),
            ("h_3", &[("f", "20"), ("g", "y")]),
            ("hh_1", &[("f->g", "deep")]),
        ],
    );
    // (value, options, STORE, the reply redis-server gave)
    let cases: &[(&Value, &str, bool, &str)] = &[
        (&numbers, "", false, "-1||1|2|2.5|3| 5|10|1e1"),
        (&numbers, "desc limit 1 3", false, "10| 5|3"),
        (
            &numbers,
            "limit 2 9223372036854775807",
            false,
            "1|2|2.5|3| 5|10|1e1",
        ),
        (&numbers, "limit -5 2", false, "-1|"),
        (&numbers, "limit 100 2", false, ""),
        (&numbers, "limit 0 0", false, ""),
        (
            &numbers,
            "limit 9223372036854775807 9223372036854775807",
            false,
            "",
        ),
        (&numbers, "alpha", false, "| 5|-1|1|10|1e1|2|2.5|3"),
        (&letters, "by nokey_* alpha", false, "e|d|c|b|a|f|g|h|i|j"),
        (&letters, "by nokey_* alpha limit 0 3", false, "j|d|c"),
        (&letters, "by nokey_* alpha limit 2 3", false, "c|b|a"),
        (&letters, "by nokey_* alpha desc limit 2 3", false, "c|b|a"),
        (&letters, "by nokey_* limit 2 3", false, "c|d|e"),
        (&letters, "by nosort", false, "e|d|c|b|a|f|g|h|i|j"),
        (&letters, "by nosort desc", false, "j|i|h|g|f|a|b|c|d|e"),
        (&letters, "by nosort desc limit 1 3", false, "i|h|g"),
        (&letters, "by nosort limit 1 3", false, "d|c|b"),
        (
            &letters,
            "by w_*",
            false,
            "ERR One or more scores can't be converted into double",
        ),
        (&letters, "by w_* alpha", false, "e|f|g|h|i|j|b|c|a|d"),
        (&letters, "by w_* alpha limit 1 4", false, "g|h|i|e"),
        (
            &letters,
            "by w_* alpha limit 1 4 get # get w_* get nope",
            false,
            "g|(nil)|(nil)|h|(nil)|(nil)|i|(nil)|(nil)|e|(nil)|(nil)",
        ),
        (&ids, "by h_*->f", false, "2|3|1"),
        (
            &ids,
            "by h_*->f get # get h_*->g get s_*",
            false,
            "2|(nil)|c|3|y|b|1|x|a",
        ),
        (&ids, "by s_* alpha", false, "1|3|2"),
        (&ids, "by s_*->f alpha", false, "1|2|3"),
        (&ids, "get h_*->", false, "(nil)|(nil)|(nil)"),
        (&ids, "get h_*", false, "(nil)|(nil)|(nil)"),
        (&ids, "get nostar", false, "(nil)|(nil)|(nil)"),
        (&ids, "get #x", false, "(nil)|(nil)|(nil)"),
        (&ids, "get hh_*->f->g", false, "deep|(nil)|(nil)"),
        (&ids, "get lk_*", false, "(nil)|(nil)|(nil)"),
        (&ids, "by lk_*", false, "1|2|3"),
        (&ids, "by nosort by h_*->f", false, "1|2|3"),
        (&ids, "by h_*->f by nosort", false, "1|2|3"),
        (
            &ids,
            "by h_*->f by s_*",
            false,
            "ERR One or more scores can't be converted into double",
        ),
        (&ids, "get h_*->g", true, "x||y"),
        (&members, "alpha", false, "10|9|a|b|c"),
        (&members, "by nosort", false, "c|b|a|10|9"),
        (&members, "by nosort desc", false, "9|10|a|b|c"),
        (&members, "by nosort limit 1 2", false, "b|a"),
        (&members, "by nosort desc limit 1 2", false, "10|a"),
        (&members, "by nosort desc limit 4 10", false, "c"),
        (&members, "by nosort", true, "c|b|a|10|9"),
        (&ints, "by nosort", false, "-2|3|5|10"),
        (&ints, "by nosort desc limit 1 2", false, "3|5"),
        (&ints, "by nosort", true, "-2|10|3|5"),
        (&ints, "", false, "-2|3|5|10"),
        (&words, "by nosort", true, "a|b|c"),
        (&words, "by nosort desc", true, "c|b|a"),
        (&words, "by nosort desc limit 0 1", true, "c"),
        (&words, "by nosort get # get nokey_*", true, "a||b||c|"),
        (
            &words,
            "",
            false,
            "ERR One or more scores can't be converted into double",
        ),
    ];
    for (value, options, store, expected) in cases {
        let got = run(Some(value), options, &keys, *store);
        assert_eq!(
            got,
            *expected,
            "SORT {} {options} (store: {store})",
            value.type_name()
        );
    }
    assert_eq!(run(None, "", &keys, false), "");
    assert_eq!(run(None, "by w_* get #", &keys, true), "");
}

#[test]
fn alpha_reads_c_strings_unless_storing() {
    let value = list(&["a\0b", "a\0a", "a", "b"]);
    let keys = Keys::new(&[], &[]);
    let shown = |text: String| text.replace('\0', "0");
    assert_eq!(
        shown(run(Some(&value), "alpha", &keys, false)),
        "a0b|a0a|a|b"
    );
    assert_eq!(
        shown(run(Some(&value), "alpha desc", &keys, false)),
        "b|a0b|a0a|a"
    );
    assert_eq!(
        shown(run(Some(&value), "alpha", &keys, true)),
        "a|a0a|a0b|b"
    );
    let value = list(&["b\0", "a", "b", "a\0"]);
    assert_eq!(shown(run(Some(&value), "alpha", &keys, false)), "a|a0|b0|b");
    assert_eq!(shown(run(Some(&value), "alpha", &keys, true)), "a|a0|b|b0");
    let value = list(&["1\0x", "0"]);
    assert_eq!(shown(run(Some(&value), "", &keys, false)), "0|10x");
}

#[test]
fn options_parse_with_redis_errors() {
    let parse = |line: &str, allow_store: bool| {
        let options: Vec<Bytes> = line.split_whitespace().map(bytes).collect();
        SortArgs::parse(&options, allow_store)
            .map(|(args, store)| (args, store.map(|s| s.to_vec())))
    };
    assert_eq!(parse("limit 1", true).unwrap_err(), Error::Syntax);
    assert_eq!(parse("limit a 1", true).unwrap_err(), Error::NotInteger);
    assert_eq!(parse("limit 1 a", true).unwrap_err(), Error::NotInteger);
    assert_eq!(parse("store", true).unwrap_err(), Error::Syntax);
    assert_eq!(parse("store d", false).unwrap_err(), Error::Syntax);
    assert_eq!(parse("by", true).unwrap_err(), Error::Syntax);
    assert_eq!(parse("get", true).unwrap_err(), Error::Syntax);
    assert_eq!(parse("foo", true).unwrap_err(), Error::Syntax);
    let (args, store) =
        parse("DESC asc ALPHA store a Store b limit 1 2 GET # get x", true).unwrap();
    assert_eq!(store.as_deref(), Some(&b"b"[..]));
    assert!(!args.desc && args.alpha);
    assert_eq!((args.offset, args.count), (1, 2));
    assert_eq!(args.get, vec![bytes("#"), bytes("x")]);
    assert_eq!(args.by, SortBy::Element);
    let (args, _) = parse("by w_*", true).unwrap();
    assert_eq!(args.by, SortBy::Pattern(bytes("w_*")));
    // A '*' after a NUL is not seen: the pattern sorts nothing.
    let options = vec![bytes("by"), Bytes::from_static(b"w_\0*")];
    assert_eq!(
        SortArgs::parse(&options, true).unwrap().0.by,
        SortBy::NoSort
    );
}

#[test]
fn patterns_resolve_as_lookup_key_by_pattern() {
    let key = |key: &str, field: Option<&'static [u8]>| Target::Key {
        key: key.as_bytes().to_vec(),
        field,
    };
    let cases: &[(&[u8], Target<'static>)] = &[
        (b"#", Target::Element),
        (b"#\0x", Target::Element),
        (b"#x", Target::Nothing),
        (b"nostar", Target::Nothing),
        (b"w_*", key("w_7", None)),
        (b"w_*_x", key("w_7_x", None)),
        (b"a**", key("a7*", None)),
        (b"h_*->f", key("h_7", Some(b"f"))),
        (b"h_*->", key("h_7->", None)),
        (b"h_*->f->g", key("h_7", Some(b"f->g"))),
        (b"x->f_*", key("x->f_7", None)),
        (b"x->*->", key("x->7->", None)),
        (b"h_*->f\0g", key("h_7", Some(b"f\0g"))),
        (b"h_*->\0g", key("h_7->\0g", None)),
        (b"\0*", Target::Nothing),
    ];
    for (pattern, expected) in cases {
        assert_eq!(
            &resolve(pattern, b"7"),
            expected,
            "{:?}",
            String::from_utf8_lossy(pattern)
        );
    }
}

#[test]
fn limits_clamp_before_adding() {
    // ((offset, count, length), (start, end))
    type Case = ((i64, i64, usize), (i64, i64));
    let cases: &[Case] = &[
        ((0, -1, 5), (0, 4)),
        ((1, 2, 5), (1, 2)),
        ((-3, 2, 5), (0, 1)),
        ((4, 10, 5), (4, 4)),
        ((5, 1, 5), (4, 3)),
        ((i64::MAX, i64::MAX, 5), (4, 3)),
        ((2, i64::MAX, 5), (2, 4)),
        ((0, 0, 5), (0, -1)),
        ((0, -7, 5), (0, 4)),
        ((0, -1, 0), (-1, -2)),
        ((i64::MIN, i64::MIN, 3), (0, 2)),
    ];
    for ((offset, count, len), expected) in cases {
        assert_eq!(
            limits(*offset, *count, *len),
            *expected,
            "LIMIT {offset} {count} of {len}"
        );
    }
}
