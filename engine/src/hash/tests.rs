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
