//! The bitmap reads: `GETBIT`, `BITCOUNT`, `BITPOS` and `BITFIELD` with
//! only `GET`s (`BITFIELD_RO`). Each looks its key up once, under the
//! shard lock, and computes on the stored bytes in place.
//!
//! Redis 7.0 looks the key up before it parses `BITCOUNT`'s and
//! `BITPOS`'s range: a missing key answers 0 (or -1) and another type
//! WRONGTYPE whatever the range says, so a range error travels in the
//! query as a `Result` and is reported only for a string.

use crate::key::KeyRef;
use crate::{Engine, Error, ReplySink, Value};

use super::bits::{self, PosRange};
use super::{BitUnit, FieldOp};

impl Engine {
    /// Runs `read` on the string at `key` (`None`: missing), counting a
    /// keyspace hit or miss, and replies its integer or error; another
    /// type answers WRONGTYPE.
    fn read_string(
        &self,
        db: usize,
        key: &[u8],
        now_ms: u64,
        sink: &mut impl ReplySink,
        read: impl FnOnce(Option<&[u8]>) -> Result<i64, Error>,
    ) {
        let key = KeyRef::new(key);
        let slot = self.slot_of(db, key);
        let shard = slot.shard.lock();
        let entry = shard.get_live(key, now_ms);
        slot.count(entry.is_some());
        let result = match entry.as_deref().map(|entry| &entry.value) {
            None => read(None),
            Some(Value::Str(bytes)) => read(Some(bytes)),
            Some(_) => Err(Error::WrongType),
        };
        match result {
            Ok(value) => sink.int(value),
            Err(error) => sink.error(&error),
        }
    }

    /// `GETBIT`: the bit at `offset`, 0 past the end or for a missing key.
    pub fn getbit(
        &self,
        db: usize,
        key: &[u8],
        offset: u64,
        now_ms: u64,
        sink: &mut impl ReplySink,
    ) {
        self.read_string(db, key, now_ms, sink, |bytes| {
            Ok(i64::from(bits::get_bit(bytes.unwrap_or(b""), offset)))
        });
    }

    /// `BITCOUNT`: the set bits in `range` (`None`: the whole string); 0
    /// for a missing key, else `range`'s error if it has one.
    pub fn bitcount(
        &self,
        db: usize,
        key: &[u8],
        range: &Result<Option<(i64, i64, BitUnit)>, Error>,
        now_ms: u64,
        sink: &mut impl ReplySink,
    ) {
        self.read_string(db, key, now_ms, sink, |bytes| match (bytes, range) {
            (None, _) => Ok(0),
            (Some(_), Err(error)) => Err(error.clone()),
            (Some(bytes), Ok(range)) => Ok(bits::count(bytes, *range)),
        });
    }

    /// `BITPOS`: the first bit equal to `bit` in `range`; for a missing
    /// key 0 when looking for a 0 and -1 for a 1, else `range`'s error if
    /// it has one.
    pub fn bitpos(
        &self,
        db: usize,
        key: &[u8],
        bit: bool,
        range: &Result<Option<PosRange>, Error>,
        now_ms: u64,
        sink: &mut impl ReplySink,
    ) {
        self.read_string(db, key, now_ms, sink, |bytes| match (bytes, range) {
            (None, _) => Ok(if bit { -1 } else { 0 }),
            (Some(_), Err(error)) => Err(error.clone()),
            (Some(bytes), Ok(range)) => Ok(bits::position(bytes, bit, *range)),
        });
    }

    /// `BITFIELD`/`BITFIELD_RO` with only `GET`s: one integer per op (a
    /// missing key reads as zeros).
    pub fn bitfield_get(
        &self,
        db: usize,
        key: &[u8],
        ops: &[FieldOp],
        now_ms: u64,
        sink: &mut impl ReplySink,
    ) {
        let key = KeyRef::new(key);
        let slot = self.slot_of(db, key);
        let shard = slot.shard.lock();
        let entry = shard.get_live(key, now_ms);
        slot.count(entry.is_some());
        let bytes: &[u8] = match entry.as_deref().map(|entry| &entry.value) {
            None => b"",
            Some(Value::Str(bytes)) => bytes,
            Some(_) => return sink.error(&Error::WrongType),
        };
        sink.array(ops.len());
        for op in ops {
            match op {
                FieldOp::Get { ty, offset } => sink.int(bits::get_field(bytes, *offset, *ty)),
                _ => unreachable!("a BITFIELD read holds only GETs"),
            }
        }
    }
}
