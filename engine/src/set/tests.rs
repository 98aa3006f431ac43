//! Unit tests of the set encodings: conversions at their limits, a model
//! check, run records and the determinism of random pops.

use std::collections::BTreeSet;

use bytes::Bytes;
use proptest::prelude::*;
use rkyv::rancor;

use super::*;

fn members_of(set: &Set) -> Vec<Vec<u8>> {
    set.members().map(|member| member.to_vec()).collect()
}

/// `set` written as a run record and read back from the archive.
fn round_trip(set: &Set) -> Set {
    let bytes = rkyv::to_bytes::<rancor::Error>(&set.to_record()).expect("archive");
    let archived = rkyv::access::<ArchivedSetRecord, rancor::Error>(&bytes).expect("valid");
    Set::from_archived(archived, Bytes::copy_from_slice)
}

fn ints(range: std::ops::Range<i64>) -> Set {
    let mut set = Set::default();
    for value in range {
        assert!(set.insert(value.to_string().as_bytes()));
    }
    set
}

#[test]
fn an_intset_holds_canonical_integers_sorted() {
    let mut set = Set::default();
    for member in [
        "5",
        "-3",
        "9223372036854775807",
        "-9223372036854775808",
        "0",
    ] {
        assert!(set.insert(member.as_bytes()));
    }
    assert!(!set.insert(b"5"));
    assert_eq!(set.encoding(), "intset");
    let expected = [
        "-9223372036854775808",
        "-3",
        "0",
        "5",
        "9223372036854775807",
    ];
    assert_eq!(members_of(&set), expected.map(|m| m.as_bytes().to_vec()));
    assert!(set.iter().eq(expected.iter().map(|m| m.as_bytes())));
    // Not canonical: these are strings, so the set converts.
    assert!(!set.contains(b"05") && !set.contains(b"+5") && !set.contains(b"-0"));
    assert!(set.insert(b"05"));
    assert_eq!(set.encoding(), "listpack");
    assert_eq!(set.len(), 6);
    assert!(set.contains(b"5") && set.contains(b"05"));
}

#[test]
fn an_intset_converts_above_512_members() {
    let mut set = ints(0..512);
    assert_eq!((set.encoding(), set.len()), ("intset", 512));
    assert_eq!(set.memory_bytes(), 512 * 8);
    assert!(set.insert(b"512"));
    assert_eq!((set.encoding(), set.len()), ("hashtable", 513));
    assert!((0..513).all(|v| set.contains(v.to_string().as_bytes())));
}

#[test]
fn an_intset_with_a_string_becomes_packed_only_when_it_fits() {
    let mut small = ints(0..127);
    assert!(small.insert(b"x"));
    assert_eq!((small.encoding(), small.len()), ("listpack", 128));
    // Ascending integers first, then the new member.
    assert_eq!(members_of(&small).last().unwrap(), b"x");
    assert_eq!(&members_of(&small)[..2], [b"0".to_vec(), b"1".to_vec()]);

    let mut full = ints(0..128);
    assert!(full.insert(b"x"));
    assert_eq!((full.encoding(), full.len()), ("hashtable", 129));

    let mut long = ints(0..3);
    assert!(long.insert(&[b'a'; 65]));
    assert_eq!(long.encoding(), "hashtable");
    let mut edge = ints(0..3);
    assert!(edge.insert(&[b'a'; 64]));
    assert_eq!(edge.encoding(), "listpack");
}

#[test]
fn a_packed_set_converts_at_129_members_or_a_long_member() {
    let mut set = Set::default();
    for i in 0..128 {
        assert!(set.insert(format!("m{i}").as_bytes()));
    }
    assert_eq!((set.encoding(), set.len()), ("listpack", 128));
    assert!(!set.insert(b"m5"), "a duplicate does not convert");
    assert_eq!(set.encoding(), "listpack");
    assert!(set.insert(b"m128"));
    assert_eq!((set.encoding(), set.len()), ("hashtable", 129));

    let mut set = Set::default();
    assert!(set.insert(b"a"));
    assert!(set.insert(&[b'b'; 65]));
    assert_eq!(set.encoding(), "hashtable");
    // Never back: removals leave the encoding.
    assert!(set.remove(&[b'b'; 65]));
    assert!(set.remove(b"a"));
    assert!(set.insert(b"1"));
    assert_eq!(set.encoding(), "hashtable");
}

#[test]
fn records_keep_encoding_and_order() {
    let mut packed = Set::default();
    for member in ["z", "a", "7", "m"] {
        packed.insert(member.as_bytes());
    }
    let mut table = packed.clone();
    table.insert(&[b'q'; 100]);
    table.remove(&[b'q'; 100]);
    for set in [ints(-5..5), packed, table] {
        let back = round_trip(&set);
        assert_eq!(back.encoding(), set.encoding());
        assert_eq!(members_of(&back), members_of(&set));
        assert_eq!(back.memory_bytes(), set.memory_bytes());
        assert_eq!(back, set);
    }
}

#[test]
fn from_members_restores_a_dumped_order() {
    let mut table = ints(0..600);
    for value in 3..600 {
        table.remove(value.to_string().as_bytes());
    }
    let mut packed = Set::default();
    for member in ["b", "1", "a"] {
        packed.insert(member.as_bytes());
    }
    packed.remove(b"b");
    for set in [ints(0..10), packed, table, ints(0..600)] {
        let dumped: Vec<Bytes> = set.iter().map(Bytes::copy_from_slice).collect();
        let restored = Set::from_members(dumped);
        assert_eq!(members_of(&restored), members_of(&set));
    }
}

#[test]
fn a_table_scan_visits_every_member_once() {
    let mut set = Set::default();
    for i in 0..1000 {
        set.insert(format!("member:{i}").as_bytes());
    }
    for count in [1, 7, 100] {
        let mut seen = Vec::new();
        let mut cursor = 0;
        let mut calls = 0;
        loop {
            cursor = set.scan(cursor, count, |member| seen.push(member.to_vec()));
            calls += 1;
            if cursor == 0 {
                break;
            }
        }
        assert!(calls >= 1000 / count, "{calls} calls of {count}");
        let unique: BTreeSet<_> = seen.iter().cloned().collect();
        assert_eq!((seen.len(), unique.len()), (1000, 1000));
    }
}

/// A member from a small alphabet: canonical and non-canonical integers,
/// short words and a few long strings, so every conversion happens.
fn member() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => (-300i64..300).prop_map(|v| v.to_string().into_bytes()),
        2 => (0u8..40).prop_map(|b| format!("w{b}").into_bytes()),
        1 => Just(b"007".to_vec()),
        1 => (0usize..3).prop_map(|n| vec![b'L'; 60 + n * 5]),
    ]
}

#[derive(Debug, Clone)]
enum Op {
    Insert(Vec<u8>),
    Remove(Vec<u8>),
    Pop(u64),
    RoundTrip,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => member().prop_map(Op::Insert),
        3 => member().prop_map(Op::Remove),
        1 => any::<u64>().prop_map(Op::Pop),
        1 => Just(Op::RoundTrip),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn matches_a_btreeset_model(ops in proptest::collection::vec(op(), 1..700)) {
        let mut set = Set::default();
        let mut model = BTreeSet::new();
        for op in ops {
            match op {
                Op::Insert(m) => prop_assert_eq!(set.insert(&m), model.insert(m)),
                Op::Remove(m) => prop_assert_eq!(set.remove(&m), model.remove(&m)),
                Op::Pop(seed) => {
                    if !model.is_empty() {
                        let popped = set.pop_random(&mut Random::new(seed));
                        prop_assert!(model.remove(&popped[..]));
                    }
                }
                Op::RoundTrip => set = round_trip(&set),
            }
            prop_assert_eq!(set.len(), model.len());
            let mut members = members_of(&set);
            members.sort();
            prop_assert_eq!(&members, &model.iter().cloned().collect::<Vec<_>>());
            let ints_only = model.iter().all(|m| parse_i64_strict(m).is_some());
            if set.encoding() == "intset" {
                prop_assert!(ints_only && model.len() <= INTSET_ENTRIES_MAX);
            }
            if set.encoding() == "listpack" {
                prop_assert!(model.len() <= PACKED_ENTRIES_MAX);
                prop_assert!(model.iter().all(|m| m.len() <= PACKED_VALUE_MAX));
            }
        }
        for member in &model {
            prop_assert!(set.contains(member));
        }
    }

    /// The same writes and seed on a set and on its copy rebuilt from a
    /// run record pop the same members, in every encoding.
    #[test]
    fn pops_are_a_function_of_contents_order_and_seed(
        members in proptest::collection::vec(member(), 1..300),
        removals in proptest::collection::vec(member(), 0..100),
        seed in any::<u64>(),
    ) {
        let mut set = Set::default();
        for m in &members {
            set.insert(m);
        }
        for m in &removals {
            set.remove(m);
        }
        let mut restored = round_trip(&set);
        let (mut a, mut b) = (Random::new(seed), Random::new(seed));
        while !set.is_empty() {
            prop_assert_eq!(set.random_member(&mut a.clone()).to_vec(),
                restored.random_member(&mut b.clone()).to_vec());
            prop_assert_eq!(set.pop_random(&mut a), restored.pop_random(&mut b));
        }
        prop_assert!(restored.is_empty());
    }
}
