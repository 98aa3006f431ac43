//! The HyperLogLog reads: `PFCOUNT` of many keys, `PFCOUNT` of one key
//! when its cached cardinality is valid, and `PFDEBUG DECODE|ENCODING`.
//! Each looks its keys up under their shard locks and reads the stored
//! bytes in place.

use crate::key::KeyRef;
use crate::{Engine, Error, ReplySink, Value, WriteOp};

use super::sketch::{self, REGISTERS};
use super::{sparse, HllDebug, HllOp, NO_KEY};

/// `PFDEBUG DECODE`'s error for a dense sketch.
const NOT_SPARSE: Error = Error::Other("ERR HLL encoding is not sparse");

impl Engine {
    /// `PFCOUNT` of two keys or more: the estimate of their union, a
    /// missing key counting as empty. Changes nothing.
    pub fn pfcount(
        &self,
        db: usize,
        keys: &[bytes::Bytes],
        now_ms: u64,
        sink: &mut impl ReplySink,
    ) {
        let mut max = Box::new([0u8; REGISTERS]);
        for key in keys {
            let key = KeyRef::new(key);
            let slot = self.slot_of(db, key);
            let shard = slot.shard.lock();
            let entry = shard.get_live(key, now_ms);
            slot.count(entry.is_some());
            let result = match entry.as_deref().map(|entry| &entry.value) {
                None => Ok(()),
                Some(Value::Str(bytes)) => {
                    sketch::check(bytes).and_then(|()| sketch::merge_into(&mut max, bytes))
                }
                Some(_) => Err(Error::WrongType),
            };
            if let Err(error) = result {
                return sink.error(&error);
            }
        }
        sink.int(sketch::estimate(&sketch::raw_histogram(&max)) as i64);
    }

    /// Answers `op` as a read, and returns true, when applying it now
    /// would change nothing: `PFCOUNT` of one key whose cached cardinality
    /// is valid, or which is missing or not a sketch. Returns false, having
    /// written nothing, when `op` must go through the log (a stale cache,
    /// or any other op).
    pub fn answer_without_write(
        &self,
        db: usize,
        op: &WriteOp,
        now_ms: u64,
        sink: &mut impl ReplySink,
    ) -> bool {
        let WriteOp::Hll(HllOp::Count { key }) = op else {
            return false;
        };
        let key = KeyRef::new(key);
        let slot = self.slot_of(db, key);
        let shard = slot.shard.lock();
        let entry = shard.get_live(key, now_ms);
        let result = match entry.as_deref().map(|entry| &entry.value) {
            None => Ok(0),
            Some(Value::Str(bytes)) => match sketch::check(bytes) {
                Err(error) => Err(error),
                Ok(()) => match sketch::cached(bytes) {
                    Some(card) => Ok(card as i64),
                    None => return false,
                },
            },
            Some(_) => Err(Error::WrongType),
        };
        slot.count(entry.is_some());
        match result {
            Ok(card) => sink.int(card),
            Err(error) => sink.error(&error),
        }
        true
    }

    /// `PFDEBUG DECODE|ENCODING` (or an unknown subcommand's error, which
    /// Redis gives only once the key has passed its checks).
    pub fn pfdebug(
        &self,
        db: usize,
        key: &[u8],
        read: &Result<HllDebug, Error>,
        now_ms: u64,
        sink: &mut impl ReplySink,
    ) {
        let key = KeyRef::new(key);
        let shard = self.slot_of(db, key).shard.lock();
        let entry = shard.get_live(key, now_ms);
        let bytes = match entry.as_deref().map(|entry| &entry.value) {
            None => return sink.error(&NO_KEY),
            Some(Value::Str(bytes)) => bytes,
            Some(_) => return sink.error(&Error::WrongType),
        };
        if let Err(error) = sketch::check(bytes) {
            return sink.error(&error);
        }
        match read {
            Err(error) => sink.error(error),
            Ok(HllDebug::Encoding) if sketch::is_dense(bytes) => sink.simple("dense"),
            Ok(HllDebug::Encoding) => sink.simple("sparse"),
            Ok(HllDebug::Decode) if sketch::is_dense(bytes) => sink.error(&NOT_SPARSE),
            Ok(HllDebug::Decode) => {
                sink.bulk(sparse::decode(&bytes[sketch::HEADER_BYTES..]).as_bytes())
            }
        }
    }
}
