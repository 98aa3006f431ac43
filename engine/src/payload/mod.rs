//! The `DUMP` payload: one value, serialized independently of its
//! encoding, that `RESTORE` turns back into an equal value on any node.
//!
//! It is our own format, not Redis's RDB: a redraft payload cannot be
//! restored into Redis, nor the reverse. Both refuse the other's with
//! "DUMP payload version or checksum are wrong", because the format puts
//! its version and checksum where Redis puts them (the last 10 bytes),
//! with a version Redis never uses.
//!
//! Layout (integers little-endian):
//!
//! | bytes | field |
//! | --- | --- |
//! | 1 | type: 0 string, 1 list, 2 set, 3 sorted set, 4 hash, 15 stream (RDB's numbers) |
//! | n | body (below) |
//! | 2 | format version, [`PAYLOAD_VERSION`] |
//! | 8 | checksum: xxh3-64 of every byte before it |
//!
//! A body is made of strings, each a `u32` length and its bytes:
//! - string: the value;
//! - list, set: a `u32` count, then that many strings (list order, set
//!   iteration order);
//! - sorted set: a `u32` count, then that many (score as the `u64` bits of
//!   an `f64`, member string), in ascending order;
//! - hash: a `u32` count, then that many (field string, value string);
//! - stream: its nodes as they are, with its IDs and counters (the layout
//!   is `stream/codec.rs`'s), checked entry by entry.
//!
//! Invariants:
//! - [`decode`] accepts exactly what [`encode`] produces: the version and
//!   checksum must match, the body must be read to its last byte, a
//!   collection must not be empty, and members, fields and scores must be
//!   valid (unique, no NaN). So [`into_value`] never fails, and a RESTORE
//!   that reaches the log is well formed.
//! - [`into_value`] builds the value by the same steps the writes use
//!   (`SADD`, `HSET`, ...), so its encoding is the one those writes would
//!   reach for the same contents, on every node.
//! - `decode(encode(v))` turns back into a value equal to `v` whenever `v`
//!   is in the encoding its contents call for.

use std::collections::HashSet;

use bytes::Bytes;
use xxhash_rust::xxh3::xxh3_64;

use crate::{DumpValue, Error, Hash, List, Set, SmallBytes, Value, ZSet};

/// The format version, in the payload's last 10 bytes. Redis reads the
/// same two bytes as its RDB version and refuses anything above the one it
/// knows (10 for Redis 7.0), so the high byte keeps this far above.
pub const PAYLOAD_VERSION: u16 = 0x7201;
const _: () = assert!(
    PAYLOAD_VERSION > 10,
    "Redis must read it as an RDB version above its own"
);

/// Version (2 bytes) and checksum (8 bytes).
const FOOTER_BYTES: usize = 10;

/// A payload whose version or checksum does not match (Redis's words).
pub(crate) const WRONG_PAYLOAD: Error =
    Error::Other("ERR DUMP payload version or checksum are wrong");

/// A payload that checks out but does not hold a valid value.
pub(crate) const BAD_FORMAT: Error = Error::Other("ERR Bad data format");

/// The type bytes.
const STRING: u8 = 0;
const LIST: u8 = 1;
const SET: u8 = 2;
const ZSET: u8 = 3;
const HASH: u8 = 4;
const STREAM: u8 = 15;

/// Appends a `u32` length and `bytes`.
fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    put_len(out, bytes.len());
    out.extend_from_slice(bytes);
}

fn put_len(out: &mut Vec<u8>, len: usize) {
    let len = u32::try_from(len).expect("a string or collection of at most 2^32 - 1");
    out.extend_from_slice(&len.to_le_bytes());
}

/// The payload of `value`.
pub fn encode(value: &Value) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 + value.memory_bytes() as usize);
    match value {
        Value::Str(bytes) => {
            out.push(STRING);
            put_bytes(&mut out, bytes);
        }
        Value::List(list) => {
            out.push(LIST);
            put_len(&mut out, list.len());
            list.iter().for_each(|item| put_bytes(&mut out, item));
        }
        Value::Set(set) => {
            out.push(SET);
            put_len(&mut out, set.len());
            set.members()
                .for_each(|member| put_bytes(&mut out, &member));
        }
        Value::ZSet(zset) => {
            out.push(ZSET);
            put_len(&mut out, zset.len());
            for (score, member) in zset.iter() {
                out.extend_from_slice(&score.to_bits().to_le_bytes());
                put_bytes(&mut out, member);
            }
        }
        Value::Hash(hash) => {
            out.push(HASH);
            put_len(&mut out, hash.len());
            for (field, value) in hash.iter() {
                put_bytes(&mut out, field);
                put_bytes(&mut out, value);
            }
        }
        Value::Stream(stream) => {
            out.push(STREAM);
            crate::stream::encode_body(stream, &mut out);
        }
    }
    out.extend_from_slice(&PAYLOAD_VERSION.to_le_bytes());
    let checksum = xxh3_64(&out);
    out.extend_from_slice(&checksum.to_le_bytes());
    out
}

/// A cursor over a payload's body; every read fails with [`BAD_FORMAT`]
/// past its end.
struct Reader<'a> {
    /// The bytes between the type and the footer.
    body: &'a [u8],
    /// The next byte to read.
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, len: usize) -> Result<&'a [u8], Error> {
        let end = self.pos.checked_add(len).ok_or(BAD_FORMAT)?;
        let slice = self.body.get(self.pos..end).ok_or(BAD_FORMAT)?;
        self.pos = end;
        Ok(slice)
    }

    fn u32(&mut self) -> Result<usize, Error> {
        let bytes = self.take(4)?;
        Ok(u32::from_le_bytes(bytes.try_into().expect("4 bytes")) as usize)
    }

    fn u64(&mut self) -> Result<u64, Error> {
        let bytes = self.take(8)?;
        Ok(u64::from_le_bytes(bytes.try_into().expect("8 bytes")))
    }

    fn string(&mut self) -> Result<&'a [u8], Error> {
        let len = self.u32()?;
        self.take(len)
    }

    /// A collection's count: at least one, and no more than the bytes
    /// left could hold (each element takes at least `min_bytes`), so a
    /// forged count cannot make us allocate.
    fn count(&mut self, min_bytes: usize) -> Result<usize, Error> {
        let count = self.u32()?;
        let left = self.body.len() - self.pos;
        if count == 0 || count > left / min_bytes {
            return Err(BAD_FORMAT);
        }
        Ok(count)
    }
}

/// Checks a payload (version, checksum, then the whole body) and returns
/// the value it holds, with Redis's errors: [`WRONG_PAYLOAD`] for a bad
/// version or checksum (or one too short to hold them), [`BAD_FORMAT`] for
/// a body that is not a valid value.
pub fn decode(payload: &[u8]) -> Result<DumpValue, Error> {
    if payload.len() < 1 + FOOTER_BYTES {
        return Err(WRONG_PAYLOAD);
    }
    let (covered, checksum) = payload.split_at(payload.len() - 8);
    let version = u16::from_le_bytes([covered[covered.len() - 2], covered[covered.len() - 1]]);
    let checksum = u64::from_le_bytes(checksum.try_into().expect("8 bytes"));
    if version != PAYLOAD_VERSION || xxh3_64(covered) != checksum {
        return Err(WRONG_PAYLOAD);
    }
    let mut reader = Reader {
        body: &covered[1..covered.len() - 2],
        pos: 0,
    };
    let value = match covered[0] {
        STRING => DumpValue::Str(Bytes::copy_from_slice(reader.string()?)),
        LIST => {
            let count = reader.count(4)?;
            let items = (0..count).map(|_| reader.string().map(Bytes::copy_from_slice));
            DumpValue::List(items.collect::<Result<_, _>>()?)
        }
        SET => {
            let count = reader.count(4)?;
            let members: Vec<&[u8]> = (0..count)
                .map(|_| reader.string())
                .collect::<Result<_, _>>()?;
            unique(members.iter().copied())?;
            DumpValue::Set(members.into_iter().map(Bytes::copy_from_slice).collect())
        }
        ZSET => {
            let count = reader.count(12)?;
            let mut members = Vec::with_capacity(count);
            for _ in 0..count {
                let score = f64::from_bits(reader.u64()?);
                if score.is_nan() {
                    return Err(BAD_FORMAT);
                }
                members.push((score, reader.string()?));
            }
            unique(members.iter().map(|(_, member)| *member))?;
            let copied = members
                .into_iter()
                .map(|(s, m)| (s, Bytes::copy_from_slice(m)));
            DumpValue::ZSet(copied.collect())
        }
        HASH => {
            let count = reader.count(8)?;
            let mut pairs = Vec::with_capacity(count);
            for _ in 0..count {
                pairs.push((reader.string()?, reader.string()?));
            }
            unique(pairs.iter().map(|(field, _)| *field))?;
            let copied = pairs
                .into_iter()
                .map(|(f, v)| (Bytes::copy_from_slice(f), Bytes::copy_from_slice(v)));
            DumpValue::Hash(copied.collect())
        }
        STREAM => {
            let body = reader.take(reader.body.len() - reader.pos)?;
            crate::stream::decode_body(body).ok_or(BAD_FORMAT)?;
            DumpValue::Stream(Bytes::copy_from_slice(body))
        }
        _ => return Err(BAD_FORMAT),
    };
    if reader.pos != reader.body.len() {
        return Err(BAD_FORMAT);
    }
    Ok(value)
}

/// `Ok` if no two of `items` are equal.
fn unique<'a>(items: impl ExactSizeIterator<Item = &'a [u8]>) -> Result<(), Error> {
    let mut seen = HashSet::new();
    seen.reserve(items.len());
    for item in items {
        if !seen.insert(item) {
            return Err(BAD_FORMAT);
        }
    }
    Ok(())
}

/// The value a decoded payload holds, built as the writes that add its
/// contents in order would build it (`RPUSH`, `SADD`, `ZADD`, `HSET`).
/// `value` must come from [`decode`].
pub(crate) fn into_value(value: DumpValue) -> Value {
    match value {
        DumpValue::Str(bytes) => Value::Str(SmallBytes::from(bytes)),
        DumpValue::List(items) => Value::List(Box::new(List::from_items(items))),
        DumpValue::Set(members) => {
            let mut set = Set::default();
            for member in &members {
                assert!(set.insert(member), "decode checked the members are unique");
            }
            Value::Set(Box::new(set))
        }
        // In the encoding inserting them one at a time would reach.
        DumpValue::ZSet(members) => Value::ZSet(ZSet::from_members(members)),
        DumpValue::Hash(pairs) => Value::Hash(Hash::from_pairs(pairs)),
        DumpValue::Stream(body) => Value::Stream(Box::new(
            crate::stream::decode_body(&body).expect("decode checked the stream"),
        )),
    }
}

#[cfg(test)]
mod tests;
