//! Tests of the sketch: scenarios whose replies and stored bytes were
//! taken from redis-server 7.0.15 (`redis_cases.txt`), the sparse form
//! against the dense one on random registers, and the apply-level rules
//! (expiry kept, order of checks, `PFCOUNT` answered without a write).

use bytes::{Bytes, BytesMut};
use proptest::prelude::*;

use super::sketch::{self, HEADER_BYTES, REGISTERS};
use super::sparse::{self, SPARSE_BYTES_MAX};
use super::{HllDebug, HllOp};
use crate::{Engine, Error, Query, Reply, ReplySink, SetCondition, TtlChange, WriteOp};

const NOW_MS: u64 = 1_700_000_000_000;

/// Renders replies as `redis_cases.txt` writes them: integers, `OK`,
/// `ERR:<text>`, and a bulk string as `hex:<bytes>` up to 64 bytes, else
/// `len:<n> fnv:<FNV-1a 64 of its bytes>`.
#[derive(Default)]
struct Recorder(Vec<String>);

fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn show_bulk(bytes: &[u8]) -> String {
    if bytes.len() <= 64 {
        let hex: String = bytes.iter().map(|byte| format!("{byte:02x}")).collect();
        format!("hex:{hex}")
    } else {
        format!("len:{} fnv:{:016x}", bytes.len(), fnv(bytes))
    }
}

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
        self.0.push(show_bulk(value));
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
        self.0.push(format!("ERR:{error}"));
    }
}

fn bytes(text: &str) -> Bytes {
    Bytes::copy_from_slice(text.as_bytes())
}

/// Expands `e{0..9}` into `e0`..`e9`; other words stay as they are.
fn expand(words: &[&str]) -> Vec<Bytes> {
    let mut out = Vec::new();
    for word in words {
        let Some((prefix, range)) = word.strip_suffix('}').and_then(|w| w.split_once('{')) else {
            out.push(bytes(word));
            continue;
        };
        let (start, end) = range.split_once("..").expect("a range");
        let (start, end): (u32, u32) = (start.parse().unwrap(), end.parse().unwrap());
        out.extend((start..=end).map(|i| bytes(&format!("{prefix}{i}"))));
    }
    out
}

fn read(engine: &Engine, query: &Query) -> String {
    let mut recorder = Recorder::default();
    engine.query(0, query, NOW_MS, &mut recorder);
    recorder.0.join(" ")
}

fn apply(engine: &Engine, op: &WriteOp) -> String {
    let mut recorder = Recorder::default();
    engine.apply(0, op, NOW_MS).emit(&mut recorder);
    recorder.0.join(" ")
}

/// `PFCOUNT` of one key as the server runs it: a read when that changes
/// nothing, else the write.
fn count_one(engine: &Engine, key: Bytes) -> String {
    let op = WriteOp::Hll(HllOp::Count { key });
    let mut recorder = Recorder::default();
    if engine.answer_without_write(0, &op, NOW_MS, &mut recorder) {
        return recorder.0.join(" ");
    }
    apply(engine, &op)
}

/// Runs one line of `redis_cases.txt` and returns its reply.
fn run_line(engine: &Engine, words: &[&str]) -> String {
    let hll = |op| WriteOp::Hll(op);
    match words {
        ["pfadd", key, elements @ ..] => apply(
            engine,
            &hll(HllOp::Add {
                key: bytes(key),
                elements: expand(elements),
            }),
        ),
        ["pfcount", key] => count_one(engine, bytes(key)),
        ["pfcount", keys @ ..] => read(engine, &Query::PfCount { keys: expand(keys) }),
        ["pfmerge", dst, sources @ ..] => apply(
            engine,
            &hll(HllOp::Merge {
                dst: bytes(dst),
                sources: expand(sources),
            }),
        ),
        ["get", key] => read(engine, &Query::Get { key: bytes(key) }),
        other => panic!("unknown case line {other:?}"),
    }
}

#[test]
fn replies_and_bytes_match_redis() {
    let engine = Engine::new();
    for (number, line) in include_str!("redis_cases.txt").lines().enumerate() {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        // Two spaces in a row hold an empty element.
        let words: Vec<&str> = line.split(' ').collect();
        if let ["set", key, value] = words[..] {
            let hex = value.strip_prefix("hex:").expect("a hex value");
            let value: Vec<u8> = (0..hex.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
                .collect();
            let op = WriteOp::Set {
                key: bytes(key),
                value: value.into(),
                condition: SetCondition::Always,
                ttl: TtlChange::Clear,
                get: false,
            };
            assert_eq!(apply(&engine, &op), "OK");
            continue;
        }
        let arrow = words.iter().position(|w| *w == "=>").expect("=> expected");
        let got = run_line(&engine, &words[..arrow]);
        let expected = words[arrow + 1..].join(" ");
        assert_eq!(got, expected, "line {}: {line}", number + 1);
    }
}

#[test]
fn murmur64a_reads_blocks_little_endian() {
    // The sketch cases pin the hash through the registers; these pin it
    // directly, computed from Redis's C source.
    assert_eq!(sketch::murmur64a(b"", 0), 0);
    let a = sketch::murmur64a(b"abcdefgh", 0xadc8_3b19);
    let b = sketch::murmur64a(b"abcdefgh\0", 0xadc8_3b19);
    assert_ne!(a, b, "the length is part of the hash");
}

#[test]
fn the_self_test_passes() {
    for seed in [1, 0xdead_beef] {
        assert_eq!(super::selftest::run(seed), Ok(()));
    }
}

#[test]
fn dense_registers_keep_their_neighbours() {
    let mut registers = vec![0u8; sketch::DENSE_BYTES - HEADER_BYTES];
    for index in 0..REGISTERS {
        sketch::set_register(&mut registers, index, (index % 64) as u8);
    }
    for index in 0..REGISTERS {
        assert_eq!(sketch::get_register(&registers, index), (index % 64) as u8);
    }
    sketch::set_register(&mut registers, REGISTERS - 1, 0);
    assert_eq!(sketch::get_register(&registers, REGISTERS - 2), 62);
    // The four-at-a-time paths read what one at a time reads.
    let mut dense = sparse::to_dense(&sparse::empty()).unwrap();
    dense[HEADER_BYTES..].copy_from_slice(&registers);
    let mut max = Box::new([0u8; REGISTERS]);
    sketch::merge_into(&mut max, &dense).unwrap();
    let one_at_a_time: Vec<u8> = (0..REGISTERS)
        .map(|index| sketch::get_register(&registers, index))
        .collect();
    assert_eq!(&max[..], &one_at_a_time[..]);
    let histogram = sketch::histogram(&dense).unwrap();
    assert_eq!(histogram, sketch::raw_histogram(&max));
}

proptest! {
    /// Raising random registers in a sparse sketch and in a dense one
    /// leaves the same registers and the same estimate, whether or not the
    /// sparse one was promoted on the way.
    #[test]
    fn sparse_agrees_with_dense(
        raises in prop::collection::vec((0..REGISTERS, 1u8..=40), 0..400),
        max_bytes in prop::sample::select(vec![40usize, 300, SPARSE_BYTES_MAX]),
    ) {
        let mut sparse_sketch = sparse::empty();
        let mut dense = sparse::to_dense(&sparse::empty()).unwrap();
        for &(index, count) in &raises {
            let want = sketch::dense_raise(&mut dense[HEADER_BYTES..], index, count);
            let got = if sketch::is_dense(&sparse_sketch) {
                sketch::dense_raise(&mut sparse_sketch[HEADER_BYTES..], index, count)
            } else {
                sparse::raise(&mut sparse_sketch, index, count, max_bytes).unwrap()
            };
            prop_assert_eq!(got, want);
            if !sketch::is_dense(&sparse_sketch) {
                prop_assert!(sparse_sketch.len() <= max_bytes.max(18));
            }
        }
        let as_dense: BytesMut = if sketch::is_dense(&sparse_sketch) {
            sparse_sketch.clone()
        } else {
            sparse::to_dense(&sparse_sketch).unwrap()
        };
        prop_assert_eq!(&as_dense[HEADER_BYTES..], &dense[HEADER_BYTES..]);
        prop_assert_eq!(
            sketch::estimate(&sketch::histogram(&sparse_sketch).unwrap()),
            sketch::estimate(&sketch::histogram(&dense).unwrap())
        );
    }

    /// No bytes a client can store make the sketch code panic.
    #[test]
    fn any_bytes_are_read_safely(
        body in prop::collection::vec(any::<u8>(), 0..64),
        element in prop::collection::vec(any::<u8>(), 0..8),
    ) {
        let mut value = BytesMut::from(&b"HYLL\x01\0\0\0\0\0\0\0\0\0\0\0"[..]);
        value.extend_from_slice(&body);
        let _ = sketch::histogram(&value);
        let _ = sparse::to_dense(&value);
        let _ = sparse::decode(&value[HEADER_BYTES..]);
        let mut max = Box::new([0u8; REGISTERS]);
        let _ = sketch::merge_into(&mut max, &value);
        let _ = super::ops::add(&mut value, &element);
    }
}

/// The rules around the sketch: expiry, types, `PFDEBUG`.
mod apply_rules {
    use super::*;
    use crate::{ExpireCommand, ExpireCondition, ListOp};

    fn hll(op: HllOp) -> WriteOp {
        WriteOp::Hll(op)
    }

    fn add(key: &str, elements: &[&str]) -> WriteOp {
        hll(HllOp::Add {
            key: bytes(key),
            elements: elements.iter().map(|e| bytes(e)).collect(),
        })
    }

    #[test]
    fn writes_keep_the_expiry() {
        let engine = Engine::new();
        apply(&engine, &add("h", &["a"]));
        let expire = WriteOp::Expire {
            key: bytes("h"),
            amount: 100,
            command: ExpireCommand::Expire,
            condition: ExpireCondition::Always,
        };
        assert_eq!(apply(&engine, &expire), "1");
        apply(&engine, &add("h", &["b", "c"]));
        assert_eq!(count_one(&engine, bytes("h")), "3");
        apply(
            &engine,
            &hll(HllOp::Merge {
                dst: bytes("h"),
                sources: vec![],
            }),
        );
        let todense = hll(HllOp::ToDense {
            key: bytes("h"),
            registers: false,
        });
        assert_eq!(apply(&engine, &todense), "1");
        assert_eq!(apply(&engine, &todense), "0");
        assert_eq!(engine.ttl(0, b"h", NOW_MS, false, false), 100);
    }

    #[test]
    fn types_are_checked_before_anything_is_written() {
        let engine = Engine::new();
        let push = WriteOp::Lists(ListOp::Push {
            key: bytes("l"),
            items: vec![bytes("x")],
            left: false,
            only_if_exists: false,
        });
        apply(&engine, &push);
        let wrongtype = "ERR:WRONGTYPE Operation against a key holding the wrong kind of value";
        let not_hll = "ERR:WRONGTYPE Key is not a valid HyperLogLog string value.";
        assert_eq!(apply(&engine, &add("l", &["a"])), wrongtype);
        assert_eq!(count_one(&engine, bytes("l")), wrongtype);
        let set = WriteOp::Set {
            key: bytes("s"),
            value: bytes("HYLL\x02 not a sketch"),
            condition: SetCondition::Always,
            ttl: TtlChange::Clear,
            get: false,
        };
        apply(&engine, &set);
        assert_eq!(apply(&engine, &add("s", &["a"])), not_hll);
        assert_eq!(count_one(&engine, bytes("s")), not_hll);
        apply(&engine, &add("h", &["a"]));
        // The destination is read first, then the sources in order.
        let merge = |dst: &str, sources: &[&str]| {
            hll(HllOp::Merge {
                dst: bytes(dst),
                sources: sources.iter().map(|s| bytes(s)).collect(),
            })
        };
        assert_eq!(apply(&engine, &merge("s", &["l"])), not_hll);
        assert_eq!(apply(&engine, &merge("h", &["l", "s"])), wrongtype);
        assert_eq!(apply(&engine, &merge("h", &["s", "l"])), not_hll);
        let pfcount = Query::PfCount {
            keys: vec![bytes("h"), bytes("missing"), bytes("l")],
        };
        assert_eq!(read(&engine, &pfcount), wrongtype);
        assert_eq!(
            read(&engine, &Query::Get { key: bytes("h") }).len(),
            4 + 2 * 21
        );
    }

    #[test]
    fn pfdebug_reads_and_converts() {
        let engine = Engine::new();
        let debug = |key: &str, read: Result<HllDebug, Error>| Query::PfDebug {
            key: bytes(key),
            read,
        };
        let unknown = Err(Error::Text("ERR Unknown PFDEBUG subcommand 'x'".into()));
        assert_eq!(
            read(&engine, &debug("h", unknown.clone())),
            "ERR:ERR The specified key does not exist"
        );
        apply(&engine, &add("h", &["a"]));
        assert_eq!(
            read(&engine, &debug("h", unknown)),
            "ERR:ERR Unknown PFDEBUG subcommand 'x'"
        );
        assert_eq!(read(&engine, &debug("h", Ok(HllDebug::Encoding))), "sparse");
        // Redis 7.0.15 answers these for element "a".
        assert_eq!(
            read(&engine, &debug("h", Ok(HllDebug::Decode))),
            show_bulk(b"Z:12711 v:2,1 Z:3672")
        );
        let getreg = hll(HllOp::ToDense {
            key: bytes("h"),
            registers: true,
        });
        let Reply::Array(registers) = engine.apply(0, &getreg, NOW_MS) else {
            panic!("GETREG replies an array");
        };
        assert_eq!(registers.len(), REGISTERS);
        assert_eq!(registers[12711], Reply::Int(2));
        assert_eq!(registers.iter().filter(|r| **r != Reply::Int(0)).count(), 1);
        assert_eq!(read(&engine, &debug("h", Ok(HllDebug::Encoding))), "dense");
        assert_eq!(
            read(&engine, &debug("h", Ok(HllDebug::Decode))),
            "ERR:ERR HLL encoding is not sparse"
        );
    }

    #[test]
    fn pfcount_is_a_read_while_the_cache_is_valid() {
        let engine = Engine::new();
        let count = WriteOp::Hll(HllOp::Count { key: bytes("h") });
        let mut recorder = Recorder::default();
        assert!(
            engine.answer_without_write(0, &count, NOW_MS, &mut recorder),
            "missing"
        );
        apply(&engine, &add("h", &["a", "b"]));
        let mut recorder = Recorder::default();
        assert!(
            !engine.answer_without_write(0, &count, NOW_MS, &mut recorder),
            "stale"
        );
        assert!(recorder.0.is_empty(), "nothing written when refusing");
        assert_eq!(apply(&engine, &count), "2");
        let mut recorder = Recorder::default();
        assert!(
            engine.answer_without_write(0, &count, NOW_MS, &mut recorder),
            "fresh"
        );
        assert_eq!(recorder.0, ["2"]);
        let other = add("h", &[]);
        assert!(!engine.answer_without_write(0, &other, NOW_MS, &mut Recorder::default()));
    }
}
