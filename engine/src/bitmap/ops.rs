//! The bitmap writes, applied: `SETBIT`, `BITOP` and `BITFIELD` with a
//! `SET` or `INCRBY`.
//!
//! Each edits the stored string in place when nothing else holds its
//! buffer (`take_mut`), growing it with zero bytes to reach the highest bit
//! written, as Redis's `lookupStringForBitCommand` does: a `BITFIELD`
//! whose every write fails (`OVERFLOW FAIL`) still creates or grows the
//! key.
//!
//! Invariants:
//! - WRONGTYPE leaves every key as it was: types are checked before
//!   anything is written.
//! - A key written here has no expiry only if it had none: `SETBIT` and
//!   `BITFIELD` keep the key's expiry, `BITOP` replaces its destination
//!   (and its expiry) as `SET` does.

use bytes::{Bytes, BytesMut};

use crate::apply::{live_string, str_bytes, string_entry, take_mut};
use crate::key::KeyRef;
use crate::{Engine, Error, Reply, SmallBytes, Value};

use super::bits;
use super::{BitOperation, BitmapOp, FieldOp};

impl Engine {
    pub(crate) fn apply_bitmap(
        &self,
        db: usize,
        op: &BitmapOp,
        now_ms: u64,
    ) -> Result<Reply, Error> {
        match op {
            BitmapOp::SetBit { key, offset, on } => self.setbit(db, key, *offset, *on, now_ms),
            BitmapOp::BitOp { op, dst, keys } => self.bitop(db, *op, dst, keys, now_ms),
            BitmapOp::BitField { key, ops } => self.bitfield(db, key, ops, now_ms),
        }
    }

    fn setbit(
        &self,
        db: usize,
        key: &Bytes,
        offset: u64,
        on: bool,
        now_ms: u64,
    ) -> Result<Reply, Error> {
        let key_ref = KeyRef::new(key);
        let mut shard = self.slot_of(db, key_ref).shard.lock();
        let place = live_string(&mut shard, key_ref, now_ms)?;
        let len = (offset >> 3) as usize + 1;
        let found = match place {
            Ok(found) => found,
            Err(vacant) => {
                let mut buffer = BytesMut::zeroed(len);
                bits::set_bit(&mut buffer, offset, on);
                shard.insert_at(vacant, key, string_entry(buffer.freeze().into()));
                return Ok(Reply::Int(0));
            }
        };
        let stored = str_bytes(shard.entry(found));
        let old = bits::get_bit(stored, offset);
        if old == on && stored.len() >= len {
            return Ok(Reply::Int(i64::from(old)));
        }
        shard.update_value_at(found, |value| {
            let mut buffer = take_mut(value);
            if buffer.len() < len {
                buffer.resize(len, 0);
            }
            bits::set_bit(&mut buffer, offset, on);
            *value = Value::Str(buffer.freeze().into());
        });
        Ok(Reply::Int(i64::from(old)))
    }

    fn bitop(
        &self,
        db: usize,
        op: BitOperation,
        dst: &Bytes,
        keys: &[Bytes],
        now_ms: u64,
    ) -> Result<Reply, Error> {
        let mut shards = self.lock_keys(db, keys.iter().chain([dst]));
        let mut sources: Vec<SmallBytes> = Vec::with_capacity(keys.len());
        for key in keys {
            let key_ref = KeyRef::new(key);
            let entry = shards.shard(key_ref).get_live(key_ref, now_ms);
            let hit = entry.is_some();
            let source = match entry.as_deref().map(|entry| &entry.value) {
                None => SmallBytes::EMPTY,
                Some(Value::Str(bytes)) => bytes.clone(),
                Some(_) => return Err(Error::WrongType),
            };
            drop(entry);
            shards.slot(key_ref).count(hit);
            sources.push(source);
        }
        let slices: Vec<&[u8]> = sources.iter().map(|source| &source[..]).collect();
        let result = bits::combine(op, &slices);
        let len = result.len();
        let dst_ref = KeyRef::new(dst);
        let shard = shards.shard(dst_ref);
        let place = shard.find_for_write(dst_ref, now_ms);
        if len == 0 {
            if let Ok(found) = place {
                shard.remove_at(found);
            }
        } else {
            let value = SmallBytes::from(Bytes::from(result));
            shard.put(place, dst, string_entry(value));
        }
        Ok(Reply::Int(len as i64))
    }

    fn bitfield(
        &self,
        db: usize,
        key: &Bytes,
        ops: &[FieldOp],
        now_ms: u64,
    ) -> Result<Reply, Error> {
        let highest = ops
            .iter()
            .filter_map(FieldOp::last_written_bit)
            .max()
            .expect("a BITFIELD write holds a SET or an INCRBY");
        let len = (highest >> 3) as usize + 1;
        let key_ref = KeyRef::new(key);
        let mut shard = self.slot_of(db, key_ref).shard.lock();
        let place = live_string(&mut shard, key_ref, now_ms)?;
        let run = |buffer: &mut [u8]| ops.iter().map(|op| run_field_op(buffer, op)).collect();
        let replies = match place {
            Ok(found) => shard.update_value_at(found, |value| {
                let mut buffer = take_mut(value);
                if buffer.len() < len {
                    buffer.resize(len, 0);
                }
                let replies = run(&mut buffer);
                *value = Value::Str(buffer.freeze().into());
                replies
            }),
            Err(vacant) => {
                let mut buffer = BytesMut::zeroed(len);
                let replies = run(&mut buffer);
                shard.insert_at(vacant, key, string_entry(buffer.freeze().into()));
                replies
            }
        };
        Ok(Reply::Array(replies))
    }
}

/// Runs one `BITFIELD` op on `buffer`, which reaches every bit a write
/// touches; reads past its end see zeros.
fn run_field_op(buffer: &mut [u8], op: &FieldOp) -> Reply {
    match *op {
        FieldOp::Get { ty, offset } => Reply::Int(bits::get_field(buffer, offset, ty)),
        FieldOp::Set {
            ty,
            offset,
            value,
            overflow,
        } => {
            let old = bits::get_field(buffer, offset, ty);
            match bits::fit(value, 0, ty, overflow) {
                Some(new) => {
                    bits::set_field(buffer, offset, ty, new);
                    Reply::Int(old)
                }
                None => Reply::Nil,
            }
        }
        FieldOp::IncrBy {
            ty,
            offset,
            increment,
            overflow,
        } => {
            let old = bits::get_field(buffer, offset, ty);
            match bits::fit(old, increment, ty, overflow) {
                Some(new) => {
                    bits::set_field(buffer, offset, ty, new);
                    Reply::Int(new)
                }
                None => Reply::Nil,
            }
        }
    }
}
