//! Tests of [`ZSet`] as a whole: both encodings against a model, the
//! conversion between them, run records, and the cost of ranks.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use bytes::Bytes;
use proptest::prelude::*;
use rkyv::rancor;

use super::packed::{ENTRIES_MAX, MEMBER_MAX};
use super::tree::VISITS;
use super::*;

/// member -> score; the order is computed on demand.
type Model = BTreeMap<Vec<u8>, f64>;

fn sorted(model: &Model) -> Vec<(f64, Vec<u8>)> {
    let mut elements: Vec<(f64, Vec<u8>)> = model.iter().map(|(m, s)| (*s, m.clone())).collect();
    elements.sort_by(|a, b| compare((a.0, &a.1), (b.0, &b.1)));
    elements
}

fn pairs<'a>(iter: impl Iterator<Item = (f64, &'a [u8])>) -> Vec<(u64, Vec<u8>)> {
    iter.map(|(s, m)| (s.to_bits(), m.to_vec())).collect()
}

fn bits(elements: &[(f64, Vec<u8>)]) -> Vec<(u64, Vec<u8>)> {
    elements
        .iter()
        .map(|(s, m)| (s.to_bits(), m.clone()))
        .collect()
}

#[derive(Debug, Clone)]
enum Op {
    Insert(f64, Vec<u8>),
    Remove(Vec<u8>),
    PopFirst,
    PopLast,
    RemoveRange(usize, usize),
    Rank(Vec<u8>),
    /// partition_point of "score below this".
    Below(f64),
    GetByRank(usize),
    Range(usize, usize),
}

fn score() -> impl Strategy<Value = f64> {
    prop_oneof![
        10 => (-5i32..5).prop_map(f64::from),
        1 => Just(-0.0),
        1 => Just(f64::INFINITY),
        1 => Just(f64::NEG_INFINITY),
        1 => Just(0.5),
    ]
}

/// Up to 250 short members, so sets cross the packed limit, and now and
/// then one too long to pack.
fn member() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        30 => (0u32..250).prop_map(|i| format!("m{i}").into_bytes()),
        1 => (0u32..4).prop_map(|i| format!("{i}{}", "x".repeat(MEMBER_MAX)).into_bytes()),
        1 => Just(vec![b'y'; MEMBER_MAX]),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        12 => (score(), member()).prop_map(|(s, m)| Op::Insert(s, m)),
        3 => member().prop_map(Op::Remove),
        1 => Just(Op::PopFirst),
        1 => Just(Op::PopLast),
        1 => (0usize..300, 0usize..8).prop_map(|(a, n)| Op::RemoveRange(a, n)),
        2 => member().prop_map(Op::Rank),
        2 => score().prop_map(Op::Below),
        2 => (0usize..300).prop_map(Op::GetByRank),
        1 => (0usize..300, 0usize..300).prop_map(|(a, b)| Op::Range(a, b)),
    ]
}

/// Applies `op` to both; checks the answers. Returns whether the op
/// added a member the packed encoding cannot hold.
fn step(zset: &mut ZSet, model: &mut Model, op: Op) -> bool {
    let elements = sorted(model);
    match op {
        Op::Insert(score, member) => {
            let overflow = !model.contains_key(&member)
                && (model.len() >= ENTRIES_MAX || member.len() > MEMBER_MAX);
            let old = zset.insert(score, &member).map(f64::to_bits);
            assert_eq!(old, model.insert(member, score).map(f64::to_bits));
            return overflow;
        }
        Op::Remove(member) => {
            let old = zset.remove(&member).map(f64::to_bits);
            assert_eq!(old, model.remove(&member).map(f64::to_bits));
        }
        Op::PopFirst | Op::PopLast => {
            let expected = match op {
                Op::PopFirst => elements.first(),
                _ => elements.last(),
            };
            let popped = match op {
                Op::PopFirst => zset.pop_first(),
                _ => zset.pop_last(),
            };
            let popped = popped.map(|(s, m)| (s.to_bits(), m.to_vec()));
            assert_eq!(popped, expected.map(|(s, m)| (s.to_bits(), m.clone())));
            if let Some((_, member)) = expected {
                model.remove(member);
            }
        }
        Op::RemoveRange(start, count) => {
            let start = start.min(elements.len());
            let end = (start + count).min(elements.len());
            zset.remove_range(start..end);
            for (_, member) in &elements[start..end] {
                model.remove(member);
            }
        }
        Op::Rank(member) => {
            let expected = elements.iter().position(|(_, m)| *m == member);
            assert_eq!(zset.rank(&member), expected);
            let score = zset.score(&member).map(f64::to_bits);
            assert_eq!(score, model.get(&member).map(|s| s.to_bits()));
        }
        Op::Below(bound) => {
            let expected = elements.iter().filter(|(s, _)| *s < bound).count();
            assert_eq!(zset.partition_point(|s, _| s < bound), expected);
        }
        Op::GetByRank(rank) => {
            let got = zset
                .get_by_rank(rank)
                .map(|(s, m)| (s.to_bits(), m.to_vec()));
            let expected = elements.get(rank).map(|(s, m)| (s.to_bits(), m.clone()));
            assert_eq!(got, expected);
        }
        Op::Range(a, b) => {
            let (a, b) = (a.min(elements.len()), b.min(elements.len()));
            let (start, end) = (a.min(b), a.max(b));
            let expected = bits(&elements[start..end]);
            assert_eq!(zset.range(start..end).len(), end - start);
            assert_eq!(pairs(zset.range(start..end)), expected);
            let mut reversed = pairs(zset.range(start..end).rev());
            reversed.reverse();
            assert_eq!(reversed, expected);
        }
    }
    false
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn zset_matches_model(ops in proptest::collection::vec(op(), 0..500)) {
        let mut zset = ZSet::default();
        let mut model = Model::new();
        let mut converted = false;
        for op in ops {
            converted |= step(&mut zset, &mut model, op);
            // Packed until a member did not fit, then indexed for good.
            let expected = if converted { "skiplist" } else { "listpack" };
            assert_eq!(zset.encoding(), expected);
            assert_eq!(zset.len(), model.len());
            zset.check_invariants();
        }
        assert_eq!(pairs(zset.iter()), bits(&sorted(&model)));
        let rebuilt = round_trip(&zset);
        assert_eq!(rebuilt, zset);
        rebuilt.check_invariants();
    }
}

fn member_of(i: usize) -> Vec<u8> {
    format!("member:{i:04}").into_bytes()
}

fn filled(count: usize) -> ZSet {
    let mut zset = ZSet::default();
    for i in 0..count {
        assert_eq!(zset.insert(i as f64, &member_of(i)), None);
    }
    zset
}

#[test]
fn conversion_at_the_entry_limit() {
    let mut zset = filled(ENTRIES_MAX);
    assert_eq!(zset.encoding(), "listpack");
    // Updating a member of a full packed set keeps it packed.
    assert_eq!(zset.insert(-1.0, &member_of(5)), Some(5.0));
    assert_eq!(zset.encoding(), "listpack");
    assert_eq!(zset.insert(1000.0, &member_of(ENTRIES_MAX)), None);
    assert_eq!(zset.encoding(), "skiplist");
    zset.check_invariants();
    assert_eq!(zset.len(), ENTRIES_MAX + 1);
    assert_eq!(zset.get_by_rank(0), Some((-1.0, &member_of(5)[..])));
    assert_eq!(zset.rank(&member_of(ENTRIES_MAX)), Some(ENTRIES_MAX));
    // Never back, even when it shrinks.
    while zset.len() > 1 {
        zset.pop_last();
    }
    assert_eq!(zset.encoding(), "skiplist");
    zset.check_invariants();
}

#[test]
fn conversion_at_the_member_limit() {
    let mut zset = filled(3);
    zset.insert(1.5, &[b'a'; MEMBER_MAX]);
    assert_eq!(zset.encoding(), "listpack");
    zset.insert(1.5, &[b'b'; MEMBER_MAX + 1]);
    assert_eq!(zset.encoding(), "skiplist");
    zset.check_invariants();
    let members: Vec<usize> = zset.iter().map(|(_, m)| m.len()).collect();
    assert_eq!(members, [11, 11, MEMBER_MAX, MEMBER_MAX + 1, 11]);
}

#[test]
fn from_members_picks_the_encoding_inserts_reach() {
    let make = |count: usize, long: bool| {
        let mut members: Vec<(f64, Bytes)> = (0..count)
            .map(|i| ((i % 3) as f64, Bytes::from(member_of(i))))
            .collect();
        if long {
            members.push((0.0, Bytes::from(vec![b'z'; MEMBER_MAX + 1])));
        }
        members.reverse();
        ZSet::from_members(members)
    };
    for (count, long, expected) in [
        (ENTRIES_MAX, false, "listpack"),
        (ENTRIES_MAX + 1, false, "skiplist"),
        (2, true, "skiplist"),
    ] {
        let zset = make(count, long);
        assert_eq!(zset.encoding(), expected, "{count} members, long: {long}");
        zset.check_invariants();
        let mut inserted = ZSet::default();
        for (score, member) in zset.iter() {
            inserted.insert(score, member);
        }
        assert_eq!(inserted, zset);
    }
}

#[test]
#[should_panic(expected = "duplicate member")]
fn from_members_rejects_duplicates() {
    ZSet::from_members([(1.0, Bytes::from("a")), (2.0, Bytes::from("a"))]);
}

/// `zset` through a run record and back (copying archived bytes).
fn round_trip(zset: &ZSet) -> ZSet {
    let bytes = rkyv::to_bytes::<rancor::Error>(&zset.to_record()).expect("serialize");
    let archived =
        rkyv::access::<ArchivedZSetRecord, rancor::Error>(&bytes).expect("valid archive");
    ZSet::from_archived(archived, Bytes::copy_from_slice)
}

#[test]
fn record_round_trip_keeps_the_encoding() {
    let mut shrunk = filled(ENTRIES_MAX + 1);
    shrunk.remove_range(2..ENTRIES_MAX + 1);
    let mut long = filled(2);
    long.insert(f64::NEG_INFINITY, &[7; 300]);
    for zset in [
        ZSet::default(),
        filled(1),
        filled(ENTRIES_MAX),
        filled(1000),
        shrunk,
        long,
    ] {
        let rebuilt = round_trip(&zset);
        assert_eq!(rebuilt.encoding(), zset.encoding());
        assert_eq!(rebuilt, zset);
        if zset.encoding() == "listpack" {
            assert_eq!(rebuilt.memory_bytes(), zset.memory_bytes());
        } else {
            // Rebuilt leaves are full; the original's may not be.
            assert!(rebuilt.memory_bytes() <= zset.memory_bytes());
        }
        rebuilt.check_invariants();
    }
}

#[test]
#[should_panic(expected = "out of order")]
fn corrupt_packed_record_panics() {
    let mut record = filled(3).to_record();
    let mut buffer = record.packed.expect("packed").to_vec();
    // Swap the first two scores.
    buffer[..8].copy_from_slice(&9.0f64.to_le_bytes());
    record.packed = Some(Bytes::from(buffer));
    let bytes = rkyv::to_bytes::<rancor::Error>(&record).expect("serialize");
    let archived =
        rkyv::access::<ArchivedZSetRecord, rancor::Error>(&bytes).expect("valid archive");
    ZSet::from_archived(archived, Bytes::copy_from_slice);
}

#[test]
fn memory_is_compact_and_tracks_contents() {
    // A packed set of 5 ten-byte members: one buffer of 5 x 19 bytes.
    let small =
        ZSet::from_members((0..5).map(|i| (f64::from(i), Bytes::from(format!("member:{i:03}")))));
    assert_eq!(small.encoding(), "listpack");
    assert!(
        small.memory_bytes() <= 5 * 19 + 24,
        "{}",
        small.memory_bytes()
    );
    assert!(
        size_of::<ZSet>() <= 32,
        "a ZSet is {} bytes",
        size_of::<ZSet>()
    );
    // An indexed set: within a small factor of Redis's ~100 bytes each.
    let mut large = filled(100_000);
    let per_member = large.memory_bytes() / 100_000;
    assert!(
        (60..=200).contains(&per_member),
        "{per_member} bytes per member"
    );
    large.remove_range(0..99_000);
    assert!(
        large.memory_bytes() < 100_000 * 60,
        "memory given back on removal"
    );
}

#[test]
fn ranks_are_logarithmic_not_linear() {
    let count = 100_000;
    VISITS.with(|visits| visits.set(0));
    // Scrambled insertion order, so leaves split in the middle too.
    let mut zset = ZSet::default();
    for i in 0..count {
        let i = (i * 7919) % count;
        zset.insert((i % 1000) as f64, &member_of(i));
    }
    let build = VISITS.with(|visits| visits.replace(0));
    let Repr::Indexed(indexed) = &zset.repr else {
        panic!("a large set is indexed")
    };
    let height = u64::from(indexed.tree().height());
    assert!(height <= 4, "height {height}");
    // One node per level per insert (+1 for conversion's 128 inserts).
    assert!(
        build <= (count as u64 + 128) * (height + 1),
        "build visited {build}"
    );
    // Walking the leaf chain visits no node by descent.
    let mut expected = vec![0; count];
    for (rank, (_, member)) in zset.iter().enumerate() {
        let index: usize = std::str::from_utf8(&member[7..]).unwrap().parse().unwrap();
        expected[index] = rank;
    }
    assert_eq!(VISITS.with(|visits| visits.get()), 0);
    for (i, &rank) in expected.iter().enumerate() {
        assert_eq!(zset.rank(&member_of(i)), Some(rank));
    }
    let ranks = VISITS.with(|visits| visits.replace(0));
    assert!(
        ranks <= count as u64 * (height + 1),
        "ranks visited {ranks}"
    );
    for rank in 0..count {
        assert!(zset.get_by_rank(rank).is_some());
    }
    let selects = VISITS.with(|visits| visits.replace(0));
    assert!(
        selects <= count as u64 * (height + 1),
        "selects visited {selects}"
    );
    zset.check_invariants();
}

#[test]
fn compare_orders_by_score_then_bytes() {
    assert_eq!(compare((1.0, b"b"), (2.0, b"a")), Ordering::Less);
    assert_eq!(compare((1.0, b"b"), (1.0, b"a")), Ordering::Greater);
    assert_eq!(compare((0.0, b"a"), (-0.0, b"a")), Ordering::Equal);
}
