//! Tests of the hash encodings: conversion at Redis's limits, the run
//! record round trip, and the whole type against a model.

use bytes::Bytes;
use proptest::prelude::*;

use super::packed::{PACKED_BYTES_MAX, PACKED_ENTRIES_MAX};
use super::{ArchivedHashRecord, Hash};

fn text(byte: u8, len: usize, index: usize) -> Bytes {
    let mut text = format!("{index:03}").into_bytes();
    text.resize(len, byte);
    Bytes::from(text)
}

/// A hash of `n` pairs whose fields and values are `len` bytes long.
fn filled(n: usize, len: usize) -> Hash {
    let mut hash = Hash::default();
    for i in 0..n {
        assert!(hash.insert(&text(b'f', len, i), &text(b'v', len, i)));
    }
    hash
}

#[test]
fn stays_packed_up_to_the_limits_and_converts_past_them() {
    let mut hash = filled(PACKED_ENTRIES_MAX, PACKED_BYTES_MAX);
    assert_eq!(hash.encoding(), "listpack");
    assert_eq!(hash.len(), PACKED_ENTRIES_MAX);
    // Replacing a value keeps the encoding and the count.
    assert!(!hash.insert(&text(b'f', PACKED_BYTES_MAX, 0), &text(b'w', 64, 0)));
    assert_eq!(hash.encoding(), "listpack");
    let extra = text(b'f', PACKED_BYTES_MAX, PACKED_ENTRIES_MAX);
    assert!(hash.insert(&extra, &Bytes::from_static(b"x")));
    assert_eq!(hash.encoding(), "hashtable");
    assert_eq!(hash.len(), PACKED_ENTRIES_MAX + 1);
    // Never back, even when it shrinks.
    assert!(hash.remove(&extra));
    for i in 1..PACKED_ENTRIES_MAX {
        assert!(hash.remove(&text(b'f', PACKED_BYTES_MAX, i)));
    }
    assert_eq!(hash.encoding(), "hashtable");
    assert_eq!(hash.get(&text(b'f', 64, 0)), Some(&text(b'w', 64, 0)[..]));
}

#[test]
fn a_long_field_or_value_converts() {
    for (field_len, value_len) in [(PACKED_BYTES_MAX + 1, 1), (1, PACKED_BYTES_MAX + 1)] {
        let mut hash = filled(3, 5);
        assert_eq!(hash.encoding(), "listpack");
        assert!(hash.insert(&text(b'f', field_len, 9), &text(b'v', value_len, 9)));
        assert_eq!(hash.encoding(), "hashtable");
        assert_eq!(hash.len(), 4);
        assert_eq!(hash.get(&text(b'f', 5, 1)), Some(&text(b'v', 5, 1)[..]));
    }
}

#[test]
fn a_hash_is_no_bigger_than_a_short_string() {
    assert!(std::mem::size_of::<Hash>() <= std::mem::size_of::<crate::SmallBytes>());
}

/// Serializes `hash`'s record and restores it, as a snapshot does.
fn round_trip(hash: &Hash) -> Hash {
    let bytes = rkyv::to_bytes::<rkyv::rancor::Error>(&hash.to_record()).expect("serializes");
    let archived =
        rkyv::access::<ArchivedHashRecord, rkyv::rancor::Error>(&bytes).expect("valid archive");
    Hash::from_archived(archived, Bytes::copy_from_slice)
}

#[test]
fn the_run_record_keeps_encoding_order_and_memory() {
    let small = filled(10, 8);
    let mut shrunk = filled(PACKED_ENTRIES_MAX + 1, 30);
    for i in 0..100 {
        shrunk.remove(&text(b'f', 30, i));
    }
    for hash in [Hash::default(), small, filled(300, 40), shrunk] {
        let restored = round_trip(&hash);
        assert_eq!(restored.encoding(), hash.encoding());
        assert!(restored.iter().eq(hash.iter()), "order differs");
        assert_eq!(restored.memory_bytes(), hash.memory_bytes());
        assert_eq!(restored, hash);
    }
}

#[derive(Debug, Clone)]
enum Op {
    Insert(Vec<u8>, Vec<u8>),
    Remove(Vec<u8>),
}

fn field() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        8 => (0u8..40).prop_map(|n| vec![b'a' + n % 26, n]),
        1 => proptest::collection::vec(any::<u8>(), 0..80),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (field(), proptest::collection::vec(any::<u8>(), 0..70))
            .prop_map(|(f, v)| Op::Insert(f, v)),
        1 => field().prop_map(Op::Remove),
    ]
}

proptest! {
    /// Either encoding holds what a map model holds; a packed hash keeps
    /// insertion order; a table iterates in (hash, field) order; the
    /// memory estimate depends only on the contents and encoding.
    #[test]
    fn behaves_like_a_map(ops in proptest::collection::vec(op(), 0..200)) {
        let mut hash = Hash::default();
        let mut model: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
        let mut converted = false;
        for op in ops {
            match op {
                Op::Insert(field, value) => {
                    let position = model.iter().position(|(f, _)| *f == field);
                    converted |= field.len() > PACKED_BYTES_MAX || value.len() > PACKED_BYTES_MAX;
                    prop_assert_eq!(hash.insert(&field, &Bytes::from(value.clone())), position.is_none());
                    match position {
                        Some(i) => model[i].1 = value,
                        None => model.push((field, value)),
                    }
                    converted |= model.len() > PACKED_ENTRIES_MAX;
                }
                Op::Remove(field) => {
                    let position = model.iter().position(|(f, _)| *f == field);
                    prop_assert_eq!(hash.remove(&field), position.is_some());
                    if let Some(i) = position {
                        model.remove(i);
                    }
                }
            }
            prop_assert_eq!(hash.encoding(), if converted { "hashtable" } else { "listpack" });
            prop_assert_eq!(hash.len(), model.len());
            let mut expected = model.clone();
            if let Some(dict) = hash.table() {
                dict.check_invariants();
                expected.sort_by_key(|(f, _)| (crate::key_hash(f), f.clone()));
            }
            let contents: Vec<_> = hash.iter().map(|(f, v)| (f.to_vec(), v.to_vec())).collect();
            prop_assert_eq!(contents, expected);
        }
        prop_assert_eq!(round_trip(&hash).memory_bytes(), hash.memory_bytes());
        prop_assert_eq!(&hash.clone(), &hash);
    }
}

/// Records a reply's bulk strings and integers in order (enough for the
/// shapes of HSCAN and HRANDFIELD), and any error.
#[derive(Default)]
struct Bulks {
    items: Vec<Vec<u8>>,
    errors: Vec<String>,
}

impl crate::ReplySink for Bulks {
    fn ok(&mut self) {}
    fn simple(&mut self, _: &str) {}
    fn int(&mut self, value: i64) {
        self.items.push(value.to_string().into_bytes());
    }
    fn bulk(&mut self, value: &[u8]) {
        self.items.push(value.to_vec());
    }
    fn nil(&mut self) {}
    fn nil_array(&mut self) {}
    fn array(&mut self, _: usize) {}
    fn double(&mut self, _: f64) {}
    fn map(&mut self, _: usize) {}
    fn set(&mut self, _: usize) {}
    fn is_resp3(&self) -> bool {
        false
    }
    fn error(&mut self, error: &crate::Error) {
        self.errors.push(error.to_string());
    }
}

fn hset(engine: &crate::Engine, fields: impl Iterator<Item = String>) {
    let pairs = fields
        .map(|field| (Bytes::from(field), Bytes::from_static(b"v")))
        .collect();
    let op = super::HashOp::Set {
        key: Bytes::from_static(b"h"),
        pairs,
        ok: false,
    };
    let reply = engine.apply(0, &crate::WriteOp::Hashes(op), 1);
    assert!(matches!(reply, crate::Reply::Int(_)), "{reply:?}");
}

fn hdel(engine: &crate::Engine, field: String) {
    let op = super::HashOp::Del {
        key: Bytes::from_static(b"h"),
        fields: vec![Bytes::from(field)],
    };
    engine.apply(0, &crate::WriteOp::Hashes(op), 1);
}

#[test]
fn a_table_scan_returns_every_field_present_throughout_despite_writes() {
    let engine = crate::Engine::new();
    hset(&engine, (0..300).map(|i| format!("stable{i}")));
    hset(&engine, (0..100).map(|i| format!("gone{i}")));
    let mut cursor = 0;
    let mut seen = std::collections::HashSet::new();
    for call in 0.. {
        assert!(call < 1000, "scan does not end");
        let mut sink = Bulks::default();
        engine.hscan(0, b"h", cursor, Ok((None, 7)), 1, &mut sink);
        assert!(sink.errors.is_empty(), "{:?}", sink.errors);
        let next: u64 = std::str::from_utf8(&sink.items[0])
            .unwrap()
            .parse()
            .unwrap();
        let pairs = &sink.items[1..];
        assert!(
            pairs.len() >= 14 || next == 0,
            "a call returns COUNT fields"
        );
        seen.extend(pairs.chunks(2).map(|pair| pair[0].clone()));
        // Writes between calls: fields come and go.
        hset(&engine, [format!("new{call}")].into_iter());
        hdel(&engine, format!("gone{call}"));
        if next == 0 {
            break;
        }
        cursor = next;
    }
    for i in 0..300 {
        assert!(
            seen.contains(format!("stable{i}").as_bytes()),
            "stable{i} missed"
        );
    }
}

#[test]
fn hrandfield_counts_follow_redis_rules_in_both_encodings() {
    for fields in [5usize, 300] {
        let engine = crate::Engine::new();
        hset(&engine, (0..fields).map(|i| format!("f{i}")));
        let draw = |count: i64, with_values: bool, seed: u64| {
            let mut sink = Bulks::default();
            engine.hrandfield(0, b"h", Some(count), with_values, seed, 1, &mut sink);
            assert!(sink.errors.is_empty(), "{:?}", sink.errors);
            sink.items
        };
        for seed in 0..20 {
            // Positive: distinct fields, at most the hash's size.
            let picked = draw(3, false, seed);
            assert_eq!(picked.len(), 3);
            let distinct: std::collections::HashSet<_> = picked.iter().collect();
            assert_eq!(distinct.len(), 3);
            assert_eq!(draw(1000, false, seed).len(), fields);
            // Negative: exactly |count|, repeats allowed; with values, pairs.
            let picked = draw(-(fields as i64) * 2, true, seed);
            assert_eq!(picked.len(), fields * 4);
            for pair in picked.chunks(2) {
                assert!(pair[0].starts_with(b"f") && pair[1] == b"v");
            }
        }
        // Different seeds pick differently.
        let picks: std::collections::HashSet<_> =
            (0..20).map(|seed| draw(-1, false, seed)).collect();
        assert!(picks.len() > 1, "the seed does not matter");
    }
}
