//! Test support shared by the engine's integration tests: a `ReplySink`
//! that records replies as owned `Reply` values, and a one-line renderer.

#![allow(dead_code)]

use bytes::Bytes;
use redraft_engine::{
    format_double, AddOptions, BitOperation, BitmapOp, Engine, Error, ExpireCommand,
    ExpireCondition, FieldOp, FieldType, GeoFrom, GeoOrder, GeoSearch, GeoSearchArgs, GeoShape,
    HashOp, HllOp, ListOp, NewId, Overflow, Reply, ReplySink, SetCondition, SetOp, StreamId,
    StreamOp, Trim, TrimBy, TtlChange, WriteOp, ZSetOp,
};

/// Records everything written to it as `Reply` values, rebuilding arrays
/// from their headers.
#[derive(Default)]
pub struct Recorder {
    /// Finished top-level replies, in order.
    pub replies: Vec<Reply>,
    /// Arrays being filled: (elements so far, elements expected).
    open: Vec<(Vec<Reply>, usize)>,
}

impl Recorder {
    fn push(&mut self, reply: Reply) {
        let mut reply = reply;
        loop {
            match self.open.last_mut() {
                None => {
                    self.replies.push(reply);
                    return;
                }
                Some((items, len)) => {
                    items.push(reply);
                    if items.len() < *len {
                        return;
                    }
                    let (items, _) = self.open.pop().unwrap();
                    reply = Reply::Array(items);
                }
            }
        }
    }

    /// The single reply recorded; panics unless there is exactly one.
    pub fn take_one(&mut self) -> Reply {
        assert!(self.open.is_empty(), "unfinished array");
        assert_eq!(
            self.replies.len(),
            1,
            "expected one reply: {:?}",
            self.replies
        );
        self.replies.pop().unwrap()
    }
}

impl ReplySink for Recorder {
    fn ok(&mut self) {
        self.push(Reply::Ok);
    }
    fn simple(&mut self, text: &str) {
        let text: &'static str = Box::leak(text.to_string().into_boxed_str());
        self.push(Reply::Simple(text));
    }
    fn int(&mut self, value: i64) {
        self.push(Reply::Int(value));
    }
    fn bulk(&mut self, value: &[u8]) {
        self.push(Reply::Bulk(Bytes::copy_from_slice(value)));
    }
    fn nil(&mut self) {
        self.push(Reply::Nil);
    }
    fn nil_array(&mut self) {
        self.push(Reply::NilArray);
    }
    fn array(&mut self, len: usize) {
        if len == 0 {
            self.push(Reply::Array(Vec::new()));
        } else {
            self.open.push((Vec::with_capacity(len), len));
        }
    }
    fn double(&mut self, value: f64) {
        self.push(Reply::Double(value));
    }
    /// Recorded as RESP2 writes it: an array of keys and values.
    fn map(&mut self, len: usize) {
        self.array(len * 2);
    }
    fn set(&mut self, len: usize) {
        self.array(len);
    }
    fn is_resp3(&self) -> bool {
        false
    }
    fn error(&mut self, error: &Error) {
        self.push(Reply::Error(error.clone()));
    }
}

/// Runs a read that writes into a sink, and returns its one reply.
pub fn record(read: impl FnOnce(&mut Recorder)) -> Reply {
    let mut recorder = Recorder::default();
    read(&mut recorder);
    recorder.take_one()
}

/// Renders bytes as a double-quoted string, escaping like redis-cli.
pub fn quote(bytes: &[u8]) -> String {
    let mut text = String::from("\"");
    for &byte in bytes {
        match byte {
            b'"' => text.push_str("\\\""),
            b'\\' => text.push_str("\\\\"),
            b'\n' => text.push_str("\\n"),
            b'\r' => text.push_str("\\r"),
            b'\t' => text.push_str("\\t"),
            0x20..=0x7e => text.push(byte as char),
            _ => text.push_str(&format!("\\x{byte:02x}")),
        }
    }
    text.push('"');
    text
}

/// Renders a reply on one line, close to redis-cli's style.
pub fn render(reply: &Reply) -> String {
    match reply {
        Reply::Ok => "OK".to_string(),
        Reply::Simple(text) => (*text).to_string(),
        Reply::Int(value) => format!("(integer) {value}"),
        Reply::Bulk(bytes) => quote(bytes),
        Reply::Nil => "(nil)".to_string(),
        Reply::NilArray => "(nil array)".to_string(),
        // A set shows as an array, as redis-cli shows it in RESP2.
        Reply::Array(items) | Reply::Set(items) => {
            let items: Vec<String> = items.iter().map(render).collect();
            format!("[{}]", items.join(", "))
        }
        Reply::Double(value) => format!("(double) {}", format_double(*value)),
        Reply::Error(error) => format!("(error) {error}"),
        // Keyed replies show as RESP2 shows them: pairs in an array.
        Reply::Keyed(pairs) => {
            let items: Vec<String> = pairs
                .iter()
                .map(|(key, value)| format!("[{}, {}]", render(key), render(value)))
                .collect();
            format!("[{}]", items.join(", "))
        }
    }
}

/// A small deterministic generator (xorshift64).
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn key(rng: &mut Rng, keys: u64) -> Bytes {
    Bytes::from(format!("k{}", rng.below(keys)))
}

/// A random string write over `keys` distinct keys of db 0.
pub fn random_op(rng: &mut Rng, keys: u64) -> WriteOp {
    match rng.below(20) {
        19 => stream_op(rng, keys),
        10..=13 => collection_op(rng, keys),
        18 => WriteOp::Evict {
            keys: vec![key(rng, keys), key(rng, keys)],
        },
        14 | 15 => bitmap_op(rng, keys),
        16 => hll_op(rng, keys),
        17 => geo_op(rng, keys),
        0..=2 => WriteOp::Set {
            key: key(rng, keys),
            value: Bytes::from(format!("{}", rng.below(1000))),
            condition: [
                SetCondition::Always,
                SetCondition::IfAbsent,
                SetCondition::IfPresent,
            ][rng.below(3) as usize],
            ttl: [
                TtlChange::Clear,
                TtlChange::Keep,
                TtlChange::InMs(rng.below(500) as i64 + 1),
            ][rng.below(3) as usize],
            get: rng.below(2) == 0,
        },
        3 => WriteOp::IncrBy {
            key: key(rng, keys),
            delta: rng.below(10) as i64 - 5,
        },
        4 => WriteOp::IncrByFloat {
            key: key(rng, keys),
            delta: Bytes::from_static(b"0.1"),
        },
        5 => WriteOp::Append {
            key: key(rng, keys),
            value: Bytes::from_static(b"x"),
        },
        6 => WriteOp::Del {
            keys: vec![key(rng, keys), key(rng, keys)],
        },
        7 => WriteOp::Expire {
            key: key(rng, keys),
            amount: rng.below(600) as i64 - 100,
            command: ExpireCommand::PExpire,
            condition: ExpireCondition::Always,
        },
        8 => WriteOp::Rename {
            from: key(rng, keys),
            to: key(rng, keys),
            only_if_absent: rng.below(2) == 0,
        },
        _ => WriteOp::Copy {
            from: key(rng, keys),
            to: key(rng, keys),
            to_db: 0,
            replace: rng.below(2) == 0,
        },
    }
}

/// A stream write: appends (`*` from the apply time, past a node's 100
/// entries), deletions inside nodes and trims, which edit a stream's
/// nodes in place and must never change one a frozen layer or run holds.
fn stream_op(rng: &mut Rng, keys: u64) -> WriteOp {
    let key = key(rng, keys);
    let id = StreamId::new(rng.below(300), rng.below(3));
    let op = match rng.below(6) {
        0..=2 => StreamOp::Add {
            key,
            no_mkstream: false,
            id: if rng.below(2) == 0 {
                NewId::Auto
            } else {
                NewId::AutoSeq(rng.below(300))
            },
            pairs: vec![(
                Bytes::from_static(b"f"),
                Bytes::from(format!("{}", rng.below(100))),
            )],
            trim: (rng.below(4) == 0).then(|| Trim {
                by: TrimBy::MaxLen(rng.below(150)),
                approx: rng.below(2) == 0,
                limit: 0,
            }),
        },
        3 => StreamOp::Del {
            key,
            ids: Ok(vec![id]),
        },
        4 => StreamOp::Trim {
            key,
            trim: Trim {
                by: TrimBy::MinId(id),
                approx: rng.below(2) == 0,
                limit: 0,
            },
        },
        _ => StreamOp::SetId {
            key,
            id,
            entries_added: None,
            max_deleted_id: None,
        },
    };
    WriteOp::Streams(op)
}

/// A bit write: it edits a string in place (or grows it), which must
/// never change a value that a frozen layer or a run still holds.
fn bitmap_op(rng: &mut Rng, keys: u64) -> WriteOp {
    let key = key(rng, keys);
    let op = match rng.below(3) {
        0 => BitmapOp::SetBit {
            key,
            offset: rng.below(400),
            on: rng.below(2) == 0,
        },
        1 => BitmapOp::BitOp {
            op: [BitOperation::And, BitOperation::Or, BitOperation::Xor][rng.below(3) as usize],
            dst: key,
            keys: (0..1 + rng.below(3))
                .map(|_| self::key(rng, keys))
                .collect(),
        },
        _ => BitmapOp::BitField {
            key,
            ops: vec![FieldOp::IncrBy {
                ty: FieldType {
                    signed: rng.below(2) == 0,
                    bits: 1 + rng.below(40) as u8,
                },
                offset: rng.below(300),
                increment: rng.below(1000) as i64 - 500,
                overflow: [Overflow::Wrap, Overflow::Sat, Overflow::Fail][rng.below(3) as usize],
            }],
        },
    };
    WriteOp::Bitmaps(op)
}

/// A HyperLogLog write: it edits a sketch in place (sparse, or dense
/// once enough elements are added), or refreshes its cached count.
fn hll_op(rng: &mut Rng, keys: u64) -> WriteOp {
    let key = key(rng, keys);
    let op = match rng.below(4) {
        0 | 1 => {
            let count = if rng.below(4) == 0 {
                400
            } else {
                1 + rng.below(5)
            };
            HllOp::Add {
                key,
                elements: (0..count)
                    .map(|_| Bytes::from(format!("e{}", rng.below(5000))))
                    .collect(),
            }
        }
        2 => HllOp::Count { key },
        _ => HllOp::Merge {
            dst: key,
            sources: (0..rng.below(3)).map(|_| self::key(rng, keys)).collect(),
        },
    };
    WriteOp::Hll(op)
}

/// A geo write: a `GEOADD` (a `ZADD` of geohash scores) of points around
/// (-180, -85), or a search around there stored at another key (which
/// the search runs again at apply).
fn geo_op(rng: &mut Rng, keys: u64) -> WriteOp {
    let key = key(rng, keys);
    if rng.below(2) == 0 {
        let members = (0..1 + rng.below(3))
            .map(|_| {
                let longitude = -180.0 + rng.below(1000) as f64 / 100.0;
                let latitude = -85.0 + rng.below(1000) as f64 / 100.0;
                let score = redraft_engine::geo_score(longitude, latitude).expect("in range");
                (score, Bytes::from(format!("p{}", rng.below(20))))
            })
            .collect();
        return WriteOp::ZSets(ZSetOp::Add {
            key,
            options: AddOptions::default(),
            members,
        });
    }
    let search = GeoSearch {
        from: GeoFrom::LonLat {
            longitude: -175.0,
            latitude: -80.0,
        },
        shape: GeoShape::Radius(rng.below(1500) as f64),
        to_meters: 1000.0,
        order: [GeoOrder::Found, GeoOrder::Asc, GeoOrder::Desc][rng.below(3) as usize],
        count: rng.below(4),
        any: false,
        with_dist: false,
        with_hash: false,
        with_coord: false,
        store_dist: rng.below(2) == 0,
    };
    WriteOp::GeoStore {
        dst: self::key(rng, keys),
        search: GeoSearchArgs {
            key,
            present: Ok(search),
            missing: None,
        },
    }
}

/// A write to a list, hash, set or sorted set. Most add a few short
/// elements; one in eight adds enough (or long enough) ones to move a
/// small collection to its large encoding.
fn collection_op(rng: &mut Rng, keys: u64) -> WriteOp {
    let key = key(rng, keys);
    let count = if rng.below(8) == 0 {
        140
    } else {
        1 + rng.below(3)
    };
    let long = rng.below(8) == 0;
    let element = |rng: &mut Rng| {
        let n = rng.below(300);
        if long {
            Bytes::from(format!("{n:>70}"))
        } else {
            Bytes::from(format!("{n}"))
        }
    };
    let elements: Vec<Bytes> = (0..count).map(|_| element(rng)).collect();
    match rng.below(4) {
        0 => WriteOp::Lists(ListOp::Push {
            key,
            items: elements,
            left: rng.below(2) == 0,
            only_if_exists: rng.below(4) == 0,
        }),
        1 => WriteOp::Hashes(HashOp::Set {
            key,
            pairs: elements.into_iter().map(|e| (e.clone(), e)).collect(),
            ok: false,
        }),
        2 => WriteOp::Sets(SetOp::Add {
            key,
            members: elements,
        }),
        _ => WriteOp::ZSets(ZSetOp::Add {
            key,
            options: AddOptions::default(),
            members: elements
                .into_iter()
                .map(|e| ((rng.below(20) as f64) / 4.0, e))
                .collect(),
        }),
    }
}

/// The whole SCAN walk with COUNT 3, keys in the order returned.
pub fn scan_all(engine: &Engine, now_ms: u64) -> Vec<Reply> {
    let mut cursor = 0u64;
    let mut out = Vec::new();
    loop {
        let reply = record(|sink| engine.scan(0, cursor, None, 3, None, now_ms, sink));
        let Reply::Array(mut parts) = reply else {
            panic!("bad scan reply")
        };
        let Reply::Array(keys) = parts.pop().unwrap() else {
            panic!("bad scan keys")
        };
        out.extend(keys);
        let Some(Reply::Bulk(next)) = parts.pop() else {
            panic!("bad scan cursor")
        };
        cursor = std::str::from_utf8(&next).unwrap().parse().unwrap();
        if cursor == 0 {
            return out;
        }
    }
}
