//! Deterministic apply of one [`WriteOp`], and the string writes.
//!
//! `apply` runs on the Raft apply thread at the leader's timestamp
//! `now_ms`. Every write first removes its keys if they are expired at
//! `now_ms` (as Redis's `lookupKeyWrite` does on a master), then behaves
//! exactly as Redis 7.0 would; the reply is a pure function of the prior
//! state, the op and `now_ms`. A single-key write looks its key up once
//! ([`Shard::find_for_write`]) and does everything else at that place.
//!
//! Invariants:
//! - No clock, randomness or environment is read here.
//! - A failed condition or a type error is a reply; state is unchanged
//!   by a write that replies an error (expired keys aside, and a `PFADD`
//!   that meets a corrupt sketch, which keeps what it raised before, as
//!   Redis does: see `hll`).
//! - A stored string of at most `INLINE_BYTES_MAX` bytes is an inline copy
//!   (no allocation); a longer one shares the op's own `Bytes` buffer (no
//!   second copy).

use bytes::{Bytes, BytesMut};

use crate::key::KeyRef;
use crate::ldouble::LongDouble;
use crate::number::parse_i64_strict;
use crate::shard::{Place, Shard};
use crate::{Engine, Entry, Error, Reply, SetCondition, SmallBytes, TtlChange, Value, WriteOp};

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

/// Looks `key` up for a write that needs a string: expired keys are
/// removed first. `Err(WrongType)` if it holds another type.
pub(crate) fn live_string(shard: &mut Shard, key: KeyRef<'_>, now_ms: u64) -> Result<Place, Error> {
    let place = shard.find_for_write(key, now_ms);
    if let Ok(found) = place {
        if !matches!(shard.entry(found).value, Value::Str(_)) {
            return Err(Error::WrongType);
        }
    }
    Ok(place)
}

/// A new string entry without expiry.
pub(crate) fn string_entry(value: SmallBytes) -> Entry {
    Entry::new(Value::Str(value), None)
}

/// The bytes of a string entry.
pub(crate) fn str_bytes(entry: &Entry) -> &SmallBytes {
    match &entry.value {
        Value::Str(bytes) => bytes,
        _ => unreachable!("str_bytes on a non-string entry"),
    }
}

/// Takes a stored string out for in-place editing: no copy of a heap
/// buffer that nothing else holds.
pub(crate) fn take_mut(value: &mut Value) -> BytesMut {
    let Value::Str(bytes) = value else {
        unreachable!("take_mut on a non-string value")
    };
    let bytes = std::mem::take(bytes);
    if bytes.is_inline() {
        return BytesMut::from(&bytes[..]);
    }
    bytes
        .into_bytes()
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
            WriteOp::Move { key, to_db } => Ok(self.apply_move(db, key, *to_db, now_ms)),
            WriteOp::SwapDb { a, b } => Ok(self.apply_swapdb(*a, *b)),
            WriteOp::FlushDb => Ok(self.apply_flush(Some(db))),
            WriteOp::FlushAll => Ok(self.apply_flush(None)),
            WriteOp::PurgeExpired { keys } => Ok(self.apply_purge(db, keys, now_ms)),
            WriteOp::Evict { keys } => Ok(self.apply_evict(db, keys, now_ms)),
            WriteOp::Lists(op) => self.apply_list(db, op, now_ms),
            WriteOp::Hashes(op) => self.apply_hash(db, op, now_ms),
            WriteOp::Sets(op) => self.apply_set_op(db, op, now_ms),
            WriteOp::ZSets(op) => self.apply_zset(db, op, now_ms),
            WriteOp::Bitmaps(op) => self.apply_bitmap(db, op, now_ms),
            WriteOp::Hll(op) => self.apply_hll(db, op, now_ms),
            WriteOp::Streams(op) => self.apply_stream(db, op, now_ms),
            WriteOp::GeoStore { dst, search } => self.geo_store(db, dst, search, now_ms),
            WriteOp::SortStore { key, dst, args } => {
                self.apply_sort_store(db, key, dst, args, now_ms)
            }
            WriteOp::Restore {
                key,
                value,
                ttl_ms,
                absolute,
                replace,
                idle_s,
            } => self.apply_restore(
                db,
                key,
                value,
                (*ttl_ms, *absolute),
                (*replace, *idle_s),
                now_ms,
            ),
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
        let place = shard.find_for_write(key_ref, now_ms);
        let old = place.ok().map(|found| shard.entry(found));
        let old_reply = if get {
            slot.count(old.is_some());
            match old.map(|entry| &entry.value) {
                None => Reply::Nil,
                Some(Value::Str(bytes)) => Reply::Bulk(bytes.to_bytes()),
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
            NewExpiry::Keep => old.and_then(|entry| entry.expires_at_ms()),
            NewExpiry::Clear => None,
            NewExpiry::At(at) => Some(at),
        };
        let entry = Entry::new(Value::Str(value.into()), expires_at_ms);
        let replaced = shard.put(place, key, entry);
        drop(shard);
        drop(replaced);
        Ok(old_reply)
    }

    fn apply_setnx(&self, db: usize, key: &Bytes, value: &Bytes, now_ms: u64) -> Reply {
        let key_ref = KeyRef::new(key);
        let mut shard = self.slot_of(db, key_ref).shard.lock();
        match shard.find_for_write(key_ref, now_ms) {
            Ok(_) => Reply::Int(0),
            Err(vacant) => {
                shard.insert_at(vacant, key, string_entry(value.into()));
                Reply::Int(1)
            }
        }
    }

    fn apply_getdel(&self, db: usize, key: &Bytes, now_ms: u64) -> Result<Reply, Error> {
        let key_ref = KeyRef::new(key);
        let slot = self.slot_of(db, key_ref);
        let mut shard = slot.shard.lock();
        let place = live_string(&mut shard, key_ref, now_ms)?;
        slot.count(place.is_ok());
        let Ok(found) = place else {
            return Ok(Reply::Nil);
        };
        let (entry, _) = shard.remove_at(found);
        match entry.value {
            Value::Str(bytes) => Ok(Reply::Bulk(bytes.into_bytes())),
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
        let place = live_string(&mut shard, key_ref, now_ms)?;
        slot.count(place.is_ok());
        let Ok(found) = place else {
            return Ok(Reply::Nil);
        };
        let reply = Reply::Bulk(str_bytes(shard.entry(found)).to_bytes());
        match expiry {
            NewExpiry::Keep => {}
            NewExpiry::Clear => shard.set_expiry_at(found, None),
            // Only EXAT/PXAT can be in the past; Redis then deletes.
            NewExpiry::At(at) if at <= now_ms => {
                shard.remove_at(found);
            }
            NewExpiry::At(at) => shard.set_expiry_at(found, Some(at)),
        }
        Ok(reply)
    }

    fn apply_mset(&self, db: usize, pairs: &[(Bytes, Bytes)], nx: bool, now_ms: u64) -> Reply {
        let mut shards = self.lock_keys(db, pairs.iter().map(|(key, _)| key));
        if nx {
            // Every key is purged if expired, then any live one blocks.
            let mut taken = false;
            for (key, _) in pairs {
                let key = KeyRef::new(key);
                taken |= shards.shard(key).find_for_write(key, now_ms).is_ok();
            }
            if taken {
                return Reply::Int(0);
            }
        }
        // Purging each key just before writing it is the same as purging
        // all first: a key written earlier in the batch has no expiry.
        for (key, value) in pairs {
            let key_ref = KeyRef::new(key);
            let shard = shards.shard(key_ref);
            let place = shard.find_for_write(key_ref, now_ms);
            shard.put(place, key, string_entry(value.into()));
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
        let found = match live_string(&mut shard, key_ref, now_ms)? {
            Ok(found) => found,
            Err(vacant) => {
                shard.insert_at(vacant, key, string_entry(value.into()));
                return Ok(Reply::Int(value.len() as i64));
            }
        };
        let old_len = str_bytes(shard.entry(found)).len() as u64;
        if old_len + value.len() as u64 > STRING_BYTES_MAX {
            return Err(Error::StringTooLong);
        }
        let new_len = shard.update_value_at(found, |stored| {
            let mut buffer = take_mut(stored);
            buffer.extend_from_slice(value);
            let len = buffer.len();
            *stored = Value::Str(buffer.freeze().into());
            len
        });
        Ok(Reply::Int(new_len as i64))
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
        let place = live_string(&mut shard, key_ref, now_ms)?;
        if value.is_empty() {
            let len = place.map_or(0, |found| str_bytes(shard.entry(found)).len());
            return Ok(Reply::Int(len as i64));
        }
        if offset.saturating_add(value.len() as u64) > STRING_BYTES_MAX {
            return Err(Error::StringTooLong);
        }
        let offset = offset as usize;
        let found = match place {
            Ok(found) => found,
            Err(vacant) => {
                let mut buffer = BytesMut::zeroed(offset + value.len());
                buffer[offset..].copy_from_slice(value);
                shard.insert_at(vacant, key, string_entry(buffer.freeze().into()));
                return Ok(Reply::Int((offset + value.len()) as i64));
            }
        };
        let new_len = shard.update_value_at(found, |stored| {
            let mut buffer = take_mut(stored);
            let end = offset + value.len();
            if buffer.len() < end {
                buffer.resize(end, 0);
            }
            buffer[offset..end].copy_from_slice(value);
            let len = buffer.len();
            *stored = Value::Str(buffer.freeze().into());
            len
        });
        Ok(Reply::Int(new_len as i64))
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
        let place = live_string(&mut shard, key_ref, now_ms)?;
        let current = match place {
            Err(_) => 0,
            Ok(found) => {
                parse_i64_strict(str_bytes(shard.entry(found))).ok_or(Error::NotInteger)?
            }
        };
        let new = current.checked_add(delta).ok_or(Error::Overflow)?;
        let text = SmallBytes::from(itoa::Buffer::new().format(new).as_bytes());
        store_string(&mut shard, place, key, text);
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
        let place = live_string(&mut shard, key_ref, now_ms)?;
        let current = match place {
            Err(_) => LongDouble::ZERO,
            Ok(found) => LongDouble::parse(str_bytes(shard.entry(found))).ok_or(Error::NotFloat)?,
        };
        let delta = LongDouble::parse(delta).ok_or(Error::NotFloat)?;
        let sum = current.add(delta).ok_or(Error::NanOrInfinity)?;
        if sum.is_infinite() {
            return Err(Error::NanOrInfinity);
        }
        let text = Bytes::from(sum.to_human_string());
        store_string(&mut shard, place, key, SmallBytes::from_shared(&text));
        Ok(Reply::Bulk(text))
    }
}

/// Stores a string at `place` (`key`'s), keeping the expiry of an existing
/// key (as `INCR` and `INCRBYFLOAT` do).
fn store_string(shard: &mut Shard, place: Place, key: &Bytes, text: SmallBytes) {
    match place {
        Ok(found) => shard.update_value_at(found, |stored| *stored = Value::Str(text)),
        Err(vacant) => {
            shard.insert_at(vacant, key, string_entry(text));
        }
    }
}
