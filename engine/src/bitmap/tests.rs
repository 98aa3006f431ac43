//! Tests of the bit arithmetic: tables of cases whose answers were taken
//! from redis-server 7.0, and the fast paths against bit-at-a-time
//! definitions on random strings.

use proptest::prelude::*;

use super::bits::{self, PosRange};
use super::{BitOperation, BitUnit, FieldType, Overflow};

/// The value the tables below run on: `ff f0`.
const VALUE: &[u8] = &[0xff, 0xf0];

fn unit(name: &str) -> BitUnit {
    match name {
        "byte" => BitUnit::Byte,
        "bit" => BitUnit::Bit,
        other => panic!("unknown unit {other}"),
    }
}

/// `BITCOUNT VALUE <args>` as redis-server 7.0 answers it.
const COUNTS: &[(&str, i64)] = &[
    ("", 12),
    ("1 1", 4),
    ("5 13 bit", 7),
    ("-1 -1", 4),
    ("-5 -1 bit", 1),
    ("0 100", 12),
    ("-100 -1", 12),
    ("2 1", 0),
    ("-1 -2", 0),
    ("0 -1 bit", 12),
    ("8 8 bit", 1),
    ("12 12 bit", 0),
];

#[test]
fn bitcount_matches_redis() {
    for (args, expected) in COUNTS {
        let words: Vec<&str> = args.split_whitespace().collect();
        let range = match words[..] {
            [] => None,
            [start, end] => Some((start.parse().unwrap(), end.parse().unwrap(), BitUnit::Byte)),
            [start, end, u] => Some((start.parse().unwrap(), end.parse().unwrap(), unit(u))),
            _ => panic!("bad case {args}"),
        };
        assert_eq!(bits::count(VALUE, range), *expected, "BITCOUNT v {args}");
    }
}

/// `BITPOS VALUE <args>` as redis-server 7.0 answers it.
const POSITIONS: &[(&str, i64)] = &[
    ("0", 12),
    ("1", 0),
    ("1 2", -1),
    ("0 2", -1),
    ("0 0 -1", 12),
    ("0 0 0", -1),
    ("0 1 1", 12),
    ("1 7 15 bit", 7),
    ("0 7 15 bit", 12),
    ("0 3 5 bit", -1),
    ("0 0 -1 bit", 12),
    ("1 12 12 bit", -1),
    ("0 12 12 bit", 12),
];

#[test]
fn bitpos_matches_redis() {
    for (args, expected) in POSITIONS {
        let words: Vec<&str> = args.split_whitespace().collect();
        let bit = words[0] == "1";
        let int = |i: usize| words[i].parse::<i64>().unwrap();
        let range = match words.len() {
            1 => None,
            2 => Some(PosRange {
                start: int(1),
                end: None,
                unit: BitUnit::Byte,
            }),
            3 => Some(PosRange {
                start: int(1),
                end: Some(int(2)),
                unit: BitUnit::Byte,
            }),
            _ => Some(PosRange {
                start: int(1),
                end: Some(int(2)),
                unit: unit(words[3]),
            }),
        };
        assert_eq!(
            bits::position(VALUE, bit, range),
            *expected,
            "BITPOS v {args}"
        );
    }
}

#[test]
fn empty_strings_count_nothing_and_hold_no_bit() {
    assert_eq!(bits::count(b"", None), 0);
    assert_eq!(bits::position(b"", false, None), -1);
    assert_eq!(bits::position(b"", true, None), -1);
}

fn ty(signed: bool, bits: u8) -> FieldType {
    FieldType { signed, bits }
}

/// `BITFIELD` overflow handling: (type, value, increment, overflow,
/// stored value), from redis-server 7.0.
const FITS: &[(&str, i64, i64, Overflow, Option<i64>)] = &[
    ("u8", 255, 1, Overflow::Wrap, Some(0)),
    ("u8", 255, 1, Overflow::Sat, Some(255)),
    ("u8", 255, 1, Overflow::Fail, None),
    ("u8", 0, -1, Overflow::Wrap, Some(255)),
    ("u8", 0, -1, Overflow::Sat, Some(0)),
    ("u8", -1, 0, Overflow::Sat, Some(255)),
    ("u8", 1000, 0, Overflow::Wrap, Some(232)),
    ("i8", 127, 1, Overflow::Wrap, Some(-128)),
    ("i8", 127, 1, Overflow::Sat, Some(127)),
    ("i8", -128, -1, Overflow::Sat, Some(-128)),
    ("i8", -128, -1, Overflow::Wrap, Some(127)),
    ("i8", 200, 0, Overflow::Fail, None),
    ("i64", -1, i64::MIN, Overflow::Wrap, Some(i64::MAX)),
    ("i64", -1, i64::MIN, Overflow::Sat, Some(i64::MIN)),
    ("i64", i64::MAX, 1, Overflow::Sat, Some(i64::MAX)),
    ("i64", i64::MAX, 1, Overflow::Wrap, Some(i64::MIN)),
    ("u63", i64::MAX, 1, Overflow::Wrap, Some(0)),
    ("i1", 0, 1, Overflow::Wrap, Some(-1)),
    ("u1", 1, 1, Overflow::Sat, Some(1)),
];

#[test]
fn bitfield_overflow_matches_redis() {
    for &(name, value, incr, overflow, expected) in FITS {
        let field = ty(name.starts_with('i'), name[1..].parse().unwrap());
        assert_eq!(
            bits::fit(value, incr, field, overflow),
            expected,
            "{name} {value} + {incr} {overflow:?}"
        );
    }
}

#[test]
fn bitfields_read_back_what_they_store_at_any_alignment() {
    for width in 1..=64u8 {
        for offset in [0u64, 1, 7, 8, 13] {
            let mut bytes = vec![0u8; 16];
            let signed = ty(true, width);
            let value = -1i64 << (width - 1); // the most negative value
            bits::set_field(&mut bytes, offset, signed, value);
            assert_eq!(
                bits::get_field(&bytes, offset, signed),
                value,
                "i{width}@{offset}"
            );
            assert_eq!(bits::count(&bytes, None), 1, "i{width}@{offset}");
            assert!(bits::get_bit(&bytes, offset));
        }
    }
}

/// The bit-at-a-time definition of a string's bits.
fn bit_at(bytes: &[u8], at: usize) -> bool {
    bytes
        .get(at / 8)
        .is_some_and(|byte| byte >> (7 - at % 8) & 1 == 1)
}

fn naive_count(bytes: &[u8]) -> u64 {
    (0..bytes.len() * 8).filter(|&at| bit_at(bytes, at)).count() as u64
}

/// The bit-at-a-time `BITCOUNT`/`BITPOS` range: the bits `lo..=hi`.
fn naive_bits(len: usize, start: i64, end: i64, unit: BitUnit) -> Option<(usize, usize)> {
    let scale = if unit == BitUnit::Bit { 1 } else { 8 };
    let total = (len * 8 / scale) as i64;
    let fix = |at: i64| if at < 0 { (total + at).max(0) } else { at };
    let (start, end) = (fix(start), fix(end).min(total - 1));
    if start > end {
        return None;
    }
    let lo = start as usize * scale;
    let hi = end as usize * scale + scale - 1;
    Some((lo, hi))
}

proptest! {
    #[test]
    fn popcount_counts_every_bit(bytes in proptest::collection::vec(any::<u8>(), 0..300), skip in 0usize..40) {
        // Unaligned starts take the same path as aligned ones.
        let skip = skip.min(bytes.len());
        prop_assert_eq!(bits::popcount(&bytes[skip..]), naive_count(&bytes[skip..]));
    }

    #[test]
    fn every_popcount_build_agrees(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let expected = naive_count(&bytes);
        prop_assert_eq!(bits::popcount_words(&bytes), expected);
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("popcnt") {
                // SAFETY: the CPU supports POPCNT, checked just above.
                prop_assert_eq!(unsafe { bits::popcount_popcnt(&bytes) }, expected);
            }
            if std::arch::is_x86_feature_detected!("avx2") {
                // SAFETY: the CPU supports AVX2, checked just above.
                prop_assert_eq!(unsafe { bits::popcount_avx2(&bytes) }, expected);
            }
        }
    }

    #[test]
    fn count_agrees_with_bits(
        bytes in proptest::collection::vec(any::<u8>(), 1..80),
        start in -700i64..700,
        end in -700i64..700,
        in_bits in any::<bool>(),
    ) {
        let unit = if in_bits { BitUnit::Bit } else { BitUnit::Byte };
        let expected = if start < 0 && end < 0 && start > end {
            0
        } else {
            naive_bits(bytes.len(), start, end, unit)
                .map_or(0, |(lo, hi)| (lo..=hi).filter(|&at| bit_at(&bytes, at)).count() as i64)
        };
        prop_assert_eq!(bits::count(&bytes, Some((start, end, unit))), expected);
    }

    #[test]
    fn position_agrees_with_bits(
        // Long runs of 0x00 and 0xff, where the word skipping matters.
        bytes in proptest::collection::vec(prop_oneof![Just(0u8), Just(0xff), any::<u8>()], 1..80),
        bit in any::<bool>(),
        start in -700i64..700,
        end in proptest::option::of(-700i64..700),
        in_bits in any::<bool>(),
    ) {
        let unit = if in_bits && end.is_some() { BitUnit::Bit } else { BitUnit::Byte };
        let last = end.unwrap_or(bytes.len() as i64 - 1);
        let expected = match naive_bits(bytes.len(), start, last, unit) {
            None => -1,
            Some((lo, hi)) => match (lo..=hi).find(|&at| bit_at(&bytes, at) == bit) {
                Some(at) => at as i64,
                None if !bit && end.is_none() => hi as i64 + 1,
                None => -1,
            },
        };
        let range = PosRange { start, end, unit };
        prop_assert_eq!(bits::position(&bytes, bit, Some(range)), expected);
    }

    #[test]
    fn combine_agrees_with_bytes(
        sources in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..70), 1..5),
        which in 0usize..4,
    ) {
        let op = [BitOperation::And, BitOperation::Or, BitOperation::Xor, BitOperation::Not][which];
        let sources = if op == BitOperation::Not { sources[..1].to_vec() } else { sources };
        let len = sources.iter().map(Vec::len).max().unwrap_or(0);
        let byte = |source: &Vec<u8>, at: usize| source.get(at).copied().unwrap_or(0);
        let expected: Vec<u8> = (0..len)
            .map(|at| {
                let first = byte(&sources[0], at);
                sources[1..].iter().fold(first, |acc, source| match op {
                    BitOperation::And => acc & byte(source, at),
                    BitOperation::Or => acc | byte(source, at),
                    BitOperation::Xor => acc ^ byte(source, at),
                    BitOperation::Not => unreachable!("NOT has one source"),
                })
            })
            .map(|out| if op == BitOperation::Not { !out } else { out })
            .collect();
        let slices: Vec<&[u8]> = sources.iter().map(Vec::as_slice).collect();
        prop_assert_eq!(bits::combine(op, &slices), expected);
    }
}

/// The apply-level rules: growth, expiry, deletion and WRONGTYPE.
mod apply {
    use bytes::Bytes;

    use crate::{
        BitOperation, BitmapOp, Engine, Error, ExpireCommand, ExpireCondition, FieldOp, FieldType,
        ListOp, Overflow, Query, Reply, ReplySink, WriteOp,
    };

    const NOW_MS: u64 = 1_700_000_000_000;

    /// Records a read's integers, bulks, nils and errors (enough for the
    /// queries used here).
    #[derive(Default)]
    struct Recorder(Vec<String>);

    impl ReplySink for Recorder {
        fn ok(&mut self) {
            self.0.push("OK".into());
        }
        fn simple(&mut self, text: &str) {
            self.0.push(text.into());
        }
        fn int(&mut self, value: i64) {
            self.0.push(value.to_string());
        }
        fn bulk(&mut self, value: &[u8]) {
            self.0.push(format!("{value:?}"));
        }
        fn nil(&mut self) {
            self.0.push("nil".into());
        }
        fn nil_array(&mut self) {
            self.0.push("nil array".into());
        }
        fn array(&mut self, len: usize) {
            self.0.push(format!("*{len}"));
        }
        fn double(&mut self, value: f64) {
            self.0.push(value.to_string());
        }
        fn map(&mut self, len: usize) {
            self.0.push(format!("%{len}"));
        }
        fn set(&mut self, len: usize) {
            self.0.push(format!("~{len}"));
        }
        fn is_resp3(&self) -> bool {
            false
        }
        fn error(&mut self, error: &Error) {
            self.0.push(error.to_string());
        }
    }

    fn key(name: &str) -> Bytes {
        Bytes::copy_from_slice(name.as_bytes())
    }

    fn read(engine: &Engine, query: Query) -> Vec<String> {
        let mut recorder = Recorder::default();
        engine.query(0, &query, NOW_MS, &mut recorder);
        recorder.0
    }

    fn value(engine: &Engine, name: &str) -> Vec<String> {
        read(engine, Query::Get { key: key(name) })
    }

    fn ttl(engine: &Engine, name: &str) -> i64 {
        engine.ttl(0, name.as_bytes(), NOW_MS, false, false)
    }

    fn bits(op: BitmapOp) -> WriteOp {
        WriteOp::Bitmaps(op)
    }

    fn setbit(name: &str, offset: u64, on: bool) -> WriteOp {
        bits(BitmapOp::SetBit {
            key: key(name),
            offset,
            on,
        })
    }

    #[test]
    fn setbit_grows_with_zeros_and_keeps_the_expiry() {
        let engine = Engine::new();
        assert_eq!(
            engine.apply(0, &setbit("k", 9, true), NOW_MS),
            Reply::Int(0)
        );
        assert_eq!(value(&engine, "k"), [format!("{:?}", [0u8, 0x40])]);
        let expire = WriteOp::Expire {
            key: key("k"),
            amount: 100,
            command: ExpireCommand::Expire,
            condition: ExpireCondition::Always,
        };
        assert_eq!(engine.apply(0, &expire, NOW_MS), Reply::Int(1));
        assert_eq!(
            engine.apply(0, &setbit("k", 9, true), NOW_MS),
            Reply::Int(1)
        );
        assert_eq!(
            engine.apply(0, &setbit("k", 40, false), NOW_MS),
            Reply::Int(0)
        );
        assert_eq!(
            value(&engine, "k"),
            [format!("{:?}", [0u8, 0x40, 0, 0, 0, 0])]
        );
        assert_eq!(ttl(&engine, "k"), 100);
    }

    #[test]
    fn a_failed_bitfield_still_creates_the_key() {
        let engine = Engine::new();
        let op = bits(BitmapOp::BitField {
            key: key("k"),
            ops: vec![FieldOp::Set {
                ty: FieldType {
                    signed: false,
                    bits: 8,
                },
                offset: 20,
                value: 1000,
                overflow: Overflow::Fail,
            }],
        });
        assert_eq!(engine.apply(0, &op, NOW_MS), Reply::Array(vec![Reply::Nil]));
        assert_eq!(value(&engine, "k"), [format!("{:?}", [0u8; 4])]);
    }

    #[test]
    fn bitop_replaces_or_deletes_its_destination() {
        let engine = Engine::new();
        engine.apply(0, &setbit("a", 0, true), NOW_MS);
        let set_with_ttl = WriteOp::Set {
            key: key("dst"),
            value: key("old"),
            condition: crate::SetCondition::Always,
            ttl: crate::TtlChange::InMs(100_000),
            get: false,
        };
        engine.apply(0, &set_with_ttl, NOW_MS);
        let not = |source: &str| {
            bits(BitmapOp::BitOp {
                op: BitOperation::Not,
                dst: key("dst"),
                keys: vec![key(source)],
            })
        };
        assert_eq!(engine.apply(0, &not("a"), NOW_MS), Reply::Int(1));
        assert_eq!(value(&engine, "dst"), [format!("{:?}", [0x7fu8])]);
        assert_eq!(ttl(&engine, "dst"), -1, "BITOP drops the expiry");
        assert_eq!(engine.apply(0, &not("missing"), NOW_MS), Reply::Int(0));
        assert_eq!(value(&engine, "dst"), ["nil"], "an empty result deletes");
    }

    #[test]
    fn wrong_types_change_nothing() {
        let engine = Engine::new();
        let push = WriteOp::Lists(ListOp::Push {
            key: key("list"),
            items: vec![key("x")],
            left: true,
            only_if_exists: false,
        });
        engine.apply(0, &push, NOW_MS);
        engine.apply(0, &setbit("a", 3, true), NOW_MS);
        let wrong = Reply::Error(Error::WrongType);
        assert_eq!(engine.apply(0, &setbit("list", 0, true), NOW_MS), wrong);
        let bitop = bits(BitmapOp::BitOp {
            op: BitOperation::Or,
            dst: key("a"),
            keys: vec![key("a"), key("list")],
        });
        assert_eq!(engine.apply(0, &bitop, NOW_MS), wrong);
        assert_eq!(value(&engine, "a"), [format!("{:?}", [0x10u8])]);
        let count = Query::BitCount {
            key: key("list"),
            range: Err(Error::Syntax),
        };
        assert_eq!(read(&engine, count), [Error::WrongType.to_string()]);
        let count_missing = Query::BitCount {
            key: key("missing"),
            range: Err(Error::Syntax),
        };
        assert_eq!(
            read(&engine, count_missing),
            ["0"],
            "a missing key ignores the range"
        );
        let count_string = Query::BitCount {
            key: key("a"),
            range: Err(Error::Syntax),
        };
        assert_eq!(read(&engine, count_string), [Error::Syntax.to_string()]);
    }
}
