//! Deterministic apply of one [`WriteOp`], and the string writes.
//!
//! `apply` runs on the Raft apply thread at the leader's timestamp
//! `now_ms`. Every write first removes its keys if they are expired at
//! `now_ms` (as Redis's `lookupKeyWrite` does on a master), then behaves
//! exactly as Redis 7.0 would; the reply is a pure function of the prior
//! state, the op and `now_ms`.
//!
//! Invariants:
//! - No clock, randomness or environment is read here.
//! - A failed condition or a type error is a reply; state is unchanged
//!   by a write that replies an error (expired keys aside).
//! - Stored strings are the op's own `Bytes` handles (no second copy).

use bytes::{Bytes, BytesMut};

use crate::key::KeyRef;
use crate::ldouble::LongDouble;
use crate::number::parse_i64_strict;
use crate::shard::Shard;
use crate::{Engine, Entry, Error, Reply, SetCondition, TtlChange, Value, WriteOp};

/// Redis's `proto-max-bulk-len` default: the largest string a write may
/// build (`APPEND`, `SETRANGE`).
pub const STRING_BYTES_MAX: u64 = 512 * 1024 * 1024;

/// A TTL change resolved against the apply timestamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NewExpiry {
    Keep,
    Clear,
    At(u64),
}

/// Turns a [`TtlChange`] absolute at `now_ms`, with Redis's overflow
/// check; `command` names the command in the error.
pub(crate) fn resolve_ttl(
    ttl: TtlChange,
    now_ms: u64,
    command: &'static str,
) -> Result<NewExpiry, Error> {
    match ttl {
        TtlChange::Keep => Ok(NewExpiry::Keep),
        TtlChange::Clear => Ok(NewExpiry::Clear),
        TtlChange::InMs(ms) if ms > 0 => (now_ms as i64)
            .checked_add(ms)
            .map(|at| NewExpiry::At(at as u64))
            .ok_or(Error::InvalidExpire(command)),
        TtlChange::AtMs(at) if at > 0 => Ok(NewExpiry::At(at as u64)),
        TtlChange::InMs(_) | TtlChange::AtMs(_) => Err(Error::InvalidExpire(command)),
    }
}

/// The live string value of `key` for a write: expired keys are removed
/// first. `Ok(None)` if missing, `Err(WrongType)` if not a string.
fn live_string<'s>(
    shard: &'s mut Shard,
    key: KeyRef<'_>,
    now_ms: u64,
) -> Result<Option<&'s Entry>, Error> {
    shard.purge_if_expired(key, now_ms);
    match shard.get(key) {
        Some(entry) if !matches!(entry.value, Value::Str(_)) => Err(Error::WrongType),
        entry => Ok(entry),
    }
}

/// The bytes of a string entry.
fn str_bytes(entry: &Entry) -> &Bytes {
    match &entry.value {
        Value::Str(bytes) => bytes,
        _ => unreachable!("str_bytes on a non-string entry"),
    }
}

/// Takes a stored string out for in-place editing: no copy when nothing
/// else holds the buffer.
fn take_mut(value: &mut Value) -> BytesMut {
    let Value::Str(bytes) = value else {
        unreachable!("take_mut on a non-string value")
    };
    std::mem::take(bytes)
        .try_into_mut()
        .unwrap_or_else(|shared| BytesMut::from(&shared[..]))
}

impl Engine {
    /// Applies one validated write to database `db` at the leader's
    /// timestamp `now_ms`, and returns its reply.
    pub fn apply(&self, db: usize, op: &WriteOp, now_ms: u64) -> Reply {
        let result = match op {
            WriteOp::Set {
                key,
                value,
                condition,
                ttl,
                get,
            } => self.apply_set(db, key, value, *condition, *ttl, *get, now_ms),
            WriteOp::SetNx { key, value } => Ok(self.apply_setnx(db, key, value, now_ms)),
            WriteOp::GetDel { key } => self.apply_getdel(db, key, now_ms),
            WriteOp::GetEx { key, ttl } => self.apply_getex(db, key, *ttl, now_ms),
            WriteOp::MSet { pairs } => Ok(self.apply_mset(db, pairs, false, now_ms)),
            WriteOp::MSetNx { pairs } => Ok(self.apply_mset(db, pairs, true, now_ms)),
            WriteOp::Append { key, value } => self.apply_append(db, key, value, now_ms),
            WriteOp::IncrBy { key, delta } => self.apply_incrby(db, key, *delta, now_ms),
            WriteOp::IncrByFloat { key, delta } => self.apply_incrbyfloat(db, key, delta, now_ms),
            WriteOp::SetRange { key, offset, value } => {
                self.apply_setrange(db, key, *offset, value, now_ms)
            }
            WriteOp::Del { keys } => Ok(self.apply_del(db, keys, now_ms)),
            WriteOp::Expire {
                key,
                amount,
                command,
                condition,
            } => self.apply_expire(db, key, *amount, *command, *condition, now_ms),
            WriteOp::Persist { key } => Ok(self.apply_persist(db, key, now_ms)),
            WriteOp::Rename {
                from,
                to,
                only_if_absent,
            } => self.apply_rename(db, from, to, *only_if_absent, now_ms),
            WriteOp::Copy {
                from,
                to,
                to_db,
                replace,
            } => self.apply_copy(db, from, *to_db, to, *replace, now_ms),
            WriteOp::FlushDb => Ok(self.apply_flush(Some(db))),
            WriteOp::FlushAll => Ok(self.apply_flush(None)),
            WriteOp::PurgeExpired { keys } => Ok(self.apply_purge(db, keys, now_ms)),
        };
        result.unwrap_or_else(Reply::Error)
    }

    #[allow(clippy::too_many_arguments)]
    fn apply_set(
        &self,
        db: usize,
        key: &Bytes,
        value: &Bytes,
        condition: SetCondition,
        ttl: TtlChange,
        get: bool,
        now_ms: u64,
    ) -> Result<Reply, Error> {
        let expiry = resolve_ttl(ttl, now_ms, "set")?;
        let key_ref = KeyRef::new(key);
        let slot = self.slot_of(db, key_ref);
        let mut shard = slot.shard.lock();
        shard.purge_if_expired(key_ref, now_ms);
        let old = shard.get(key_ref);
        let old_reply = if get {
            slot.count(old.is_some());
            match old.map(|entry| &entry.value) {
                None => Reply::Nil,
                Some(Value::Str(bytes)) => Reply::Bulk(bytes.clone()),
                Some(_) => return Err(Error::WrongType),
            }
        } else {
            Reply::Ok
        };
        let blocked = match condition {
            SetCondition::Always => false,
            SetCondition::IfAbsent => old.is_some(),
            SetCondition::IfPresent => old.is_none(),
        };
        if blocked {
            return Ok(if get { old_reply } else { Reply::Nil });
        }
        let expires_at_ms = match expiry {
            NewExpiry::Keep => old.and_then(|entry| entry.expires_at_ms),
            NewExpiry::Clear => None,
            NewExpiry::At(at) => Some(at),
        };
        let entry = Entry {
            value: Value::Str(value.clone()),
            expires_at_ms,
        };
        let replaced = shard.insert(key_ref, key, entry);
        drop(shard);
        drop(replaced);
        Ok(old_reply)
    }

    fn apply_setnx(&self, db: usize, key: &Bytes, value: &Bytes, now_ms: u64) -> Reply {
        let key_ref = KeyRef::new(key);
        let mut shard = self.slot_of(db, key_ref).shard.lock();
        shard.purge_if_expired(key_ref, now_ms);
        if shard.get(key_ref).is_some() {
            return Reply::Int(0);
        }
        let entry = Entry {
            value: Value::Str(value.clone()),
            expires_at_ms: None,
        };
        shard.insert(key_ref, key, entry);
        Reply::Int(1)
    }

    fn apply_getdel(&self, db: usize, key: &Bytes, now_ms: u64) -> Result<Reply, Error> {
        let key_ref = KeyRef::new(key);
        let slot = self.slot_of(db, key_ref);
        let mut shard = slot.shard.lock();
        let old = live_string(&mut shard, key_ref, now_ms)?;
        slot.count(old.is_some());
        if old.is_none() {
            return Ok(Reply::Nil);
        }
        let entry = shard.remove(key_ref).expect("key vanished under the lock");
        match entry.value {
            Value::Str(bytes) => Ok(Reply::Bulk(bytes)),
            _ => unreachable!("live_string checked the type"),
        }
    }

    fn apply_getex(
        &self,
        db: usize,
        key: &Bytes,
        ttl: TtlChange,
        now_ms: u64,
    ) -> Result<Reply, Error> {
        let expiry = resolve_ttl(ttl, now_ms, "getex")?;
        let key_ref = KeyRef::new(key);
        let slot = self.slot_of(db, key_ref);
        let mut shard = slot.shard.lock();
        let old = live_string(&mut shard, key_ref, now_ms)?;
        slot.count(old.is_some());
        let Some(entry) = old else {
            return Ok(Reply::Nil);
        };
        let reply = Reply::Bulk(str_bytes(entry).clone());
        match expiry {
            NewExpiry::Keep => {}
            NewExpiry::Clear => {
                shard.set_expiry(key_ref, None);
            }
            // Only EXAT/PXAT can be in the past; Redis then deletes.
            NewExpiry::At(at) if at <= now_ms => {
                shard.remove(key_ref);
            }
            NewExpiry::At(at) => {
                shard.set_expiry(key_ref, Some(at));
            }
        }
        Ok(reply)
    }

    fn apply_mset(&self, db: usize, pairs: &[(Bytes, Bytes)], nx: bool, now_ms: u64) -> Reply {
        let mut shards = self.lock_keys(db, pairs.iter().map(|(key, _)| key));
        for (key, _) in pairs {
            let key = KeyRef::new(key);
            shards.shard(key).purge_if_expired(key, now_ms);
        }
        if nx {
            let taken = pairs.iter().any(|(key, _)| {
                let key = KeyRef::new(key);
                shards.shard(key).get(key).is_some()
            });
            if taken {
                return Reply::Int(0);
            }
        }
        for (key, value) in pairs {
            let key_ref = KeyRef::new(key);
            let entry = Entry {
                value: Value::Str(value.clone()),
                expires_at_ms: None,
            };
            shards.shard(key_ref).insert(key_ref, key, entry);
        }
        if nx {
            Reply::Int(1)
        } else {
            Reply::Ok
        }
    }

    fn apply_append(
        &self,
        db: usize,
        key: &Bytes,
        value: &Bytes,
        now_ms: u64,
    ) -> Result<Reply, Error> {
        let key_ref = KeyRef::new(key);
        let mut shard = self.slot_of(db, key_ref).shard.lock();
        let Some(entry) = live_string(&mut shard, key_ref, now_ms)? else {
            let entry = Entry {
                value: Value::Str(value.clone()),
                expires_at_ms: None,
            };
            shard.insert(key_ref, key, entry);
            return Ok(Reply::Int(value.len() as i64));
        };
        let old_len = str_bytes(entry).len() as u64;
        if old_len + value.len() as u64 > STRING_BYTES_MAX {
            return Err(Error::StringTooLong);
        }
        let new_len = shard.update_value(key_ref, |stored| {
            let mut buffer = take_mut(stored);
            buffer.extend_from_slice(value);
            let len = buffer.len();
            *stored = Value::Str(buffer.freeze());
            len
        });
        Ok(Reply::Int(
            new_len.expect("key vanished under the lock") as i64
        ))
    }

    fn apply_setrange(
        &self,
        db: usize,
        key: &Bytes,
        offset: u64,
        value: &Bytes,
        now_ms: u64,
    ) -> Result<Reply, Error> {
        let key_ref = KeyRef::new(key);
        let mut shard = self.slot_of(db, key_ref).shard.lock();
        let old = live_string(&mut shard, key_ref, now_ms)?;
        if value.is_empty() {
            let len = old.map_or(0, |entry| str_bytes(entry).len());
            return Ok(Reply::Int(len as i64));
        }
        if offset.saturating_add(value.len() as u64) > STRING_BYTES_MAX {
            return Err(Error::StringTooLong);
        }
        let offset = offset as usize;
        if old.is_none() {
            let mut buffer = BytesMut::zeroed(offset + value.len());
            buffer[offset..].copy_from_slice(value);
            let entry = Entry {
                value: Value::Str(buffer.freeze()),
                expires_at_ms: None,
            };
            shard.insert(key_ref, key, entry);
            return Ok(Reply::Int((offset + value.len()) as i64));
        }
        let new_len = shard.update_value(key_ref, |stored| {
            let mut buffer = take_mut(stored);
            let end = offset + value.len();
            if buffer.len() < end {
                buffer.resize(end, 0);
            }
            buffer[offset..end].copy_from_slice(value);
            let len = buffer.len();
            *stored = Value::Str(buffer.freeze());
            len
        });
        Ok(Reply::Int(
            new_len.expect("key vanished under the lock") as i64
        ))
    }

    fn apply_incrby(
        &self,
        db: usize,
        key: &Bytes,
        delta: i64,
        now_ms: u64,
    ) -> Result<Reply, Error> {
        let key_ref = KeyRef::new(key);
        let mut shard = self.slot_of(db, key_ref).shard.lock();
        let old = live_string(&mut shard, key_ref, now_ms)?;
        let current = match old {
            None => 0,
            Some(entry) => parse_i64_strict(str_bytes(entry)).ok_or(Error::NotInteger)?,
        };
        let new = current.checked_add(delta).ok_or(Error::Overflow)?;
        let text = Bytes::copy_from_slice(itoa::Buffer::new().format(new).as_bytes());
        store_string(&mut shard, key_ref, key, text);
        Ok(Reply::Int(new))
    }

    fn apply_incrbyfloat(
        &self,
        db: usize,
        key: &Bytes,
        delta: &Bytes,
        now_ms: u64,
    ) -> Result<Reply, Error> {
        let key_ref = KeyRef::new(key);
        let mut shard = self.slot_of(db, key_ref).shard.lock();
        let old = live_string(&mut shard, key_ref, now_ms)?;
        let current = match old {
            None => LongDouble::ZERO,
            Some(entry) => LongDouble::parse(str_bytes(entry)).ok_or(Error::NotFloat)?,
        };
        let delta = LongDouble::parse(delta).ok_or(Error::NotFloat)?;
        let sum = current.add(delta).ok_or(Error::NanOrInfinity)?;
        if sum.is_infinite() {
            return Err(Error::NanOrInfinity);
        }
        let text = Bytes::from(sum.to_human_string());
        store_string(&mut shard, key_ref, key, text.clone());
        Ok(Reply::Bulk(text))
    }
}

/// Stores a string under `key`, keeping its expiry if it exists (as
/// `INCR` and `INCRBYFLOAT` do).
fn store_string(shard: &mut Shard, key_ref: KeyRef<'_>, key: &Bytes, text: Bytes) {
    let updated = shard.update_value(key_ref, |stored| *stored = Value::Str(text.clone()));
    if updated.is_none() {
        let entry = Entry {
            value: Value::Str(text),
            expires_at_ms: None,
        };
        shard.insert(key_ref, key, entry);
    }
}
