//! Hash writes: the validated ops and their deterministic apply.

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::Hash;
use crate::collection::{find_for_write, new_entry, remove_if_empty, Kind};
use crate::key::KeyRef;
use crate::ldouble::LongDouble;
use crate::number::parse_i64_strict;
use crate::{Engine, Error, Reply, Value};

/// `HINCRBY` on a value that is not an integer.
const NOT_INTEGER: Error = Error::Other("ERR hash value is not an integer");
/// `HINCRBYFLOAT` on a value that is not a float.
const NOT_FLOAT: Error = Error::Other("ERR hash value is not a float");
/// `HINCRBYFLOAT` with an infinite increment.
const NAN_OR_INFINITY: Error = Error::Other("ERR value is NaN or Infinity");

/// One validated hash write.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum HashOp {
    /// `HSET` (replies the number of new fields) and `HMSET` (`ok: true`,
    /// replies `+OK`). Later pairs win over earlier ones with the same field.
    Set {
        key: Bytes,
        pairs: Vec<(Bytes, Bytes)>,
        ok: bool,
    },
    /// `HSETNX`: sets the field only if it is missing; replies 1 or 0.
    SetNx {
        key: Bytes,
        field: Bytes,
        value: Bytes,
    },
    /// `HDEL`: replies how many of `fields` were removed.
    Del { key: Bytes, fields: Vec<Bytes> },
    /// `HINCRBY`: replies the new integer.
    IncrBy {
        key: Bytes,
        field: Bytes,
        delta: i64,
    },
    /// `HINCRBYFLOAT`; `delta` is a finite `long double` (see
    /// [`HashOp::incr_by_float`]). Replies the new value's text.
    IncrByFloat {
        key: Bytes,
        field: Bytes,
        delta: Bytes,
    },
}

impl HashOp {
    /// `HINCRBYFLOAT key field delta`, or the error Redis gives for `delta`
    /// before it looks at the key: not a number (or one that overflows a
    /// `long double`), or infinite.
    pub fn incr_by_float(key: Bytes, field: Bytes, delta: Bytes) -> Result<HashOp, Error> {
        let parsed = LongDouble::parse(&delta).ok_or(Error::NotFloat)?;
        if parsed.is_infinite() {
            return Err(NAN_OR_INFINITY);
        }
        Ok(HashOp::IncrByFloat { key, field, delta })
    }
}

impl Engine {
    pub(crate) fn apply_hash(&self, db: usize, op: &HashOp, now_ms: u64) -> Result<Reply, Error> {
        match op {
            HashOp::Set { key, pairs, ok } => {
                let added = self.hash_write(db, key, now_ms, true, |hash| {
                    Ok(pairs
                        .iter()
                        .filter(|(field, value)| hash.insert(field, value))
                        .count())
                })?;
                Ok(if *ok {
                    Reply::Ok
                } else {
                    Reply::Int(added.unwrap_or(0) as i64)
                })
            }
            HashOp::SetNx { key, field, value } => {
                let added = self.hash_write(db, key, now_ms, true, |hash| {
                    Ok(hash.get(field).is_none() && hash.insert(field, value))
                })?;
                Ok(Reply::Int(i64::from(added == Some(true))))
            }
            HashOp::Del { key, fields } => {
                let removed = self.hash_write(db, key, now_ms, false, |hash| {
                    Ok(fields.iter().filter(|field| hash.remove(field)).count())
                })?;
                Ok(Reply::Int(removed.unwrap_or(0) as i64))
            }
            HashOp::IncrBy { key, field, delta } => {
                let new = self.hash_write(db, key, now_ms, true, |hash| {
                    let current = match hash.get(field) {
                        None => 0,
                        Some(text) => parse_i64_strict(text).ok_or(NOT_INTEGER)?,
                    };
                    let new = current.checked_add(*delta).ok_or(Error::Overflow)?;
                    let text = itoa::Buffer::new().format(new).as_bytes().to_vec();
                    hash.insert(field, &Bytes::from(text));
                    Ok(new)
                })?;
                Ok(Reply::Int(new.expect("created")))
            }
            HashOp::IncrByFloat { key, field, delta } => {
                let text = self.hash_write(db, key, now_ms, true, |hash| {
                    let current = match hash.get(field) {
                        None => LongDouble::ZERO,
                        Some(text) => LongDouble::parse(text).ok_or(NOT_FLOAT)?,
                    };
                    let delta = LongDouble::parse(delta).expect("validated by incr_by_float");
                    let sum = current.add(delta).ok_or(Error::NanOrInfinity)?;
                    if sum.is_infinite() {
                        return Err(Error::NanOrInfinity);
                    }
                    let text = Bytes::from(sum.to_human_string());
                    hash.insert(field, &text);
                    Ok(text)
                })?;
                Ok(Reply::Bulk(text.expect("created")))
            }
        }
    }

    /// Runs `change` on the hash at `key` under its shard's lock: an
    /// expired key is removed first, another type is WRONGTYPE, a missing
    /// key is created empty if `create` (else `change` is skipped and the
    /// result is `None`). A hash left empty is deleted, so an error on a
    /// new key leaves no trace.
    fn hash_write<R>(
        &self,
        db: usize,
        key: &Bytes,
        now_ms: u64,
        create: bool,
        change: impl FnOnce(&mut Hash) -> Result<R, Error>,
    ) -> Result<Option<R>, Error> {
        let key_ref = KeyRef::new(key);
        let mut shard = self.slot_of(db, key_ref).shard.lock();
        let found = match find_for_write(&mut shard, key_ref, now_ms, Kind::Hash)? {
            Ok(found) => found,
            Err(_) if !create => return Ok(None),
            Err(vacant) => shard.insert_at(vacant, key, new_entry(Value::Hash(Hash::default()))),
        };
        let result = shard.update_value_at(found, |value| {
            let Value::Hash(hash) = value else {
                unreachable!("checked to be a hash")
            };
            change(hash)
        });
        remove_if_empty(&mut shard, found);
        result.map(Some)
    }
}
