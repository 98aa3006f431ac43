//! The HyperLogLog writes, applied: `PFADD`, `PFCOUNT` of one key (the
//! cache refresh), `PFMERGE` and `PFDEBUG GETREG|TODENSE`.
//!
//! Each edits the stored string in place when nothing else holds its
//! buffer (`take_mut`) and keeps the key's expiry, as Redis's
//! `dbUnshareStringValue` does.
//!
//! Invariants:
//! - Types are checked (WRONGTYPE, then Redis's "not a valid
//!   HyperLogLog") before anything is written.
//! - A new key is always sparse, as `createHLLObject` makes it.

use bytes::{Bytes, BytesMut};

use crate::apply::{live_string, str_bytes, string_entry, take_mut};
use crate::key::KeyRef;
use crate::{Engine, Error, Reply, Value};

use super::sketch::{self, HEADER_BYTES, REGISTERS};
use super::sparse::{self, SPARSE_BYTES_MAX};
use super::{HllOp, NO_KEY};

/// Raises the register `element` hashes to (`hllAdd`): whether it changed.
pub(crate) fn add(bytes: &mut BytesMut, element: &[u8]) -> Result<bool, Error> {
    let (index, count) = sketch::pattern(element);
    raise(bytes, index, count)
}

/// Raises register `index` to `count` in either encoding.
fn raise(bytes: &mut BytesMut, index: usize, count: u8) -> Result<bool, Error> {
    if sketch::is_dense(bytes) {
        Ok(sketch::dense_raise(
            &mut bytes[HEADER_BYTES..],
            index,
            count,
        ))
    } else {
        sparse::raise(bytes, index, count, SPARSE_BYTES_MAX)
    }
}

impl Engine {
    pub(crate) fn apply_hll(&self, db: usize, op: &HllOp, now_ms: u64) -> Result<Reply, Error> {
        match op {
            HllOp::Add { key, elements } => self.pfadd(db, key, elements, now_ms),
            HllOp::Count { key } => self.pfcount_refresh(db, key, now_ms),
            HllOp::Merge { dst, sources } => self.pfmerge(db, dst, sources, now_ms),
            HllOp::ToDense { key, registers } => self.pf_to_dense(db, key, *registers, now_ms),
        }
    }

    fn pfadd(
        &self,
        db: usize,
        key: &Bytes,
        elements: &[Bytes],
        now_ms: u64,
    ) -> Result<Reply, Error> {
        let key_ref = KeyRef::new(key);
        let mut shard = self.slot_of(db, key_ref).shard.lock();
        let found = match live_string(&mut shard, key_ref, now_ms)? {
            Ok(found) => found,
            Err(vacant) => {
                let mut bytes = sparse::empty();
                for element in elements {
                    add(&mut bytes, element).expect("a new sketch is sound");
                }
                sketch::invalidate(&mut bytes);
                shard.insert_at(vacant, key, string_entry(bytes.freeze().into()));
                return Ok(Reply::Int(1));
            }
        };
        sketch::check(str_bytes(shard.entry(found)))?;
        shard.update_value_at(found, |value| {
            let mut bytes = take_mut(value);
            let mut updated = false;
            let mut result = Ok(());
            for element in elements {
                match add(&mut bytes, element) {
                    Ok(changed) => updated |= changed,
                    Err(error) => {
                        result = Err(error);
                        break;
                    }
                }
            }
            if updated && result.is_ok() {
                sketch::invalidate(&mut bytes);
            }
            *value = Value::Str(bytes.freeze().into());
            result.map(|()| Reply::Int(i64::from(updated)))
        })
    }

    /// `PFCOUNT key` at apply: the cached estimate if valid, else the
    /// estimate, stored in the cache.
    fn pfcount_refresh(&self, db: usize, key: &Bytes, now_ms: u64) -> Result<Reply, Error> {
        let key_ref = KeyRef::new(key);
        let slot = self.slot_of(db, key_ref);
        let mut shard = slot.shard.lock();
        let place = live_string(&mut shard, key_ref, now_ms)?;
        slot.count(place.is_ok());
        let Ok(found) = place else {
            return Ok(Reply::Int(0));
        };
        let bytes = str_bytes(shard.entry(found));
        sketch::check(bytes)?;
        if let Some(card) = sketch::cached(bytes) {
            return Ok(Reply::Int(card as i64));
        }
        let card = sketch::estimate(&sketch::histogram(bytes)?);
        shard.update_value_at(found, |value| {
            let mut bytes = take_mut(value);
            sketch::set_cached(&mut bytes, card);
            *value = Value::Str(bytes.freeze().into());
        });
        Ok(Reply::Int(card as i64))
    }

    fn pfmerge(
        &self,
        db: usize,
        dst: &Bytes,
        sources: &[Bytes],
        now_ms: u64,
    ) -> Result<Reply, Error> {
        let mut shards = self.lock_keys(db, sources.iter().chain([dst]));
        let mut max = Box::new([0u8; REGISTERS]);
        let mut dense = false;
        for key in std::iter::once(dst).chain(sources) {
            let key_ref = KeyRef::new(key);
            let shard = shards.shard(key_ref);
            // Redis reads the sources as reads, and the destination first.
            let entry = shard.get_live(key_ref, now_ms);
            let hit = entry.is_some();
            let result = match entry.as_deref().map(|entry| &entry.value) {
                None => Ok(()),
                Some(Value::Str(bytes)) => sketch::check(bytes).and_then(|()| {
                    dense |= sketch::is_dense(bytes);
                    sketch::merge_into(&mut max, bytes)
                }),
                Some(_) => Err(Error::WrongType),
            };
            drop(entry);
            shards.slot(key_ref).count(hit);
            result?;
        }
        let dst_ref = KeyRef::new(dst);
        let shard = shards.shard(dst_ref);
        // Redis ignores what each register's raise returns: every sketch
        // here was read whole above.
        let write = |bytes: &mut BytesMut| {
            for (index, &count) in max.iter().enumerate() {
                if count > 0 {
                    let _ = raise(bytes, index, count);
                }
            }
            sketch::invalidate(bytes);
        };
        match shard.find_for_write(dst_ref, now_ms) {
            Ok(found) => {
                let stored = str_bytes(shard.entry(found));
                let converted = if dense && !sketch::is_dense(stored) {
                    Some(sparse::to_dense(stored)?)
                } else {
                    None
                };
                shard.update_value_at(found, |value| {
                    let mut bytes = converted.unwrap_or_else(|| take_mut(value));
                    write(&mut bytes);
                    *value = Value::Str(bytes.freeze().into());
                });
            }
            Err(vacant) => {
                let mut bytes = if dense {
                    sparse::to_dense(&sparse::empty()).expect("an empty sketch is sound")
                } else {
                    sparse::empty()
                };
                write(&mut bytes);
                shard.insert_at(vacant, dst, string_entry(bytes.freeze().into()));
            }
        }
        Ok(Reply::Ok)
    }

    /// `PFDEBUG GETREG` (`registers`) and `PFDEBUG TODENSE`.
    fn pf_to_dense(
        &self,
        db: usize,
        key: &Bytes,
        registers: bool,
        now_ms: u64,
    ) -> Result<Reply, Error> {
        let key_ref = KeyRef::new(key);
        let mut shard = self.slot_of(db, key_ref).shard.lock();
        let Ok(found) = live_string(&mut shard, key_ref, now_ms)? else {
            return Err(NO_KEY);
        };
        let bytes = str_bytes(shard.entry(found));
        sketch::check(bytes)?;
        let converted = !sketch::is_dense(bytes);
        if converted {
            let dense = sparse::to_dense(bytes)?;
            shard.update_value_at(found, |value| *value = Value::Str(dense.freeze().into()));
        }
        if !registers {
            return Ok(Reply::Int(i64::from(converted)));
        }
        let bytes = str_bytes(shard.entry(found));
        let registers = &bytes[HEADER_BYTES..];
        Ok(Reply::Array(
            (0..REGISTERS)
                .map(|index| Reply::Int(i64::from(sketch::get_register(registers, index))))
                .collect(),
        ))
    }
}
