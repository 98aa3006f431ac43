//! Set writes: the validated ops and their deterministic apply.
//!
//! Invariants:
//! - A write that empties a set deletes its key (`remove_if_empty`).
//! - `SPOP` draws only from the seed its op carries, so every node pops
//!   the same members.
//! - Multi-key writes lock every shard they touch up front (`lock_keys`,
//!   `lock_pair`), and check every key's type before changing anything.

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::algebra::{self, Algebra, WriteSources};
use super::Set;
use crate::collection::{find_for_write, new_entry, remove_if_empty, Kind};
use crate::key::KeyRef;
use crate::shard::Shard;
use crate::{Engine, Error, Random, Reply, Value};

/// One validated set write.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum SetOp {
    /// `SADD`: the number of members that were new.
    Add { key: Bytes, members: Vec<Bytes> },
    /// `SREM`: the number of members removed.
    Remove { key: Bytes, members: Vec<Bytes> },
    /// `SPOP key` (`count: None`: a member or nil) and `SPOP key count`
    /// (an array of up to `count` members). `seed` picks the members.
    Pop {
        key: Bytes,
        count: Option<u64>,
        seed: u64,
    },
    /// `SMOVE`: `:1` if `member` moved (or is in `src` when `src == dst`).
    Move {
        src: Bytes,
        dst: Bytes,
        member: Bytes,
    },
    /// `SUNIONSTORE`: the size of the union stored at `dst`.
    UnionStore { dst: Bytes, keys: Vec<Bytes> },
    /// `SINTERSTORE`: the size of the intersection stored at `dst`.
    InterStore { dst: Bytes, keys: Vec<Bytes> },
    /// `SDIFFSTORE`: the size of the difference stored at `dst`.
    DiffStore { dst: Bytes, keys: Vec<Bytes> },
}

/// The set in `value`, which was checked to be one.
fn set_mut(value: &mut Value) -> &mut Set {
    match value {
        Value::Set(set) => set,
        _ => unreachable!("checked to be a set"),
    }
}

impl Engine {
    pub(crate) fn apply_set_op(&self, db: usize, op: &SetOp, now_ms: u64) -> Result<Reply, Error> {
        match op {
            SetOp::Add { key, members } => self.sadd(db, key, members, now_ms),
            SetOp::Remove { key, members } => self.srem(db, key, members, now_ms),
            SetOp::Pop { key, count, seed } => self.spop(db, key, *count, *seed, now_ms),
            SetOp::Move { src, dst, member } => self.smove(db, src, dst, member, now_ms),
            SetOp::UnionStore { dst, keys } => self.sstore(db, dst, keys, Algebra::Union, now_ms),
            SetOp::InterStore { dst, keys } => self.sstore(db, dst, keys, Algebra::Inter, now_ms),
            SetOp::DiffStore { dst, keys } => self.sstore(db, dst, keys, Algebra::Diff, now_ms),
        }
    }

    fn sadd(&self, db: usize, key: &Bytes, members: &[Bytes], now_ms: u64) -> Result<Reply, Error> {
        let key_ref = KeyRef::new(key);
        let mut shard = self.slot_of(db, key_ref).shard.lock();
        let found = match find_for_write(&mut shard, key_ref, now_ms, Kind::Set)? {
            Ok(found) => found,
            Err(vacant) => shard.insert_at(vacant, key, new_entry(Value::Set(Box::default()))),
        };
        let added = shard.update_value_at(found, |value| {
            let set = set_mut(value);
            members.iter().filter(|member| set.insert(member)).count()
        });
        Ok(Reply::Int(added as i64))
    }

    fn srem(&self, db: usize, key: &Bytes, members: &[Bytes], now_ms: u64) -> Result<Reply, Error> {
        let key_ref = KeyRef::new(key);
        let mut shard = self.slot_of(db, key_ref).shard.lock();
        let Ok(found) = find_for_write(&mut shard, key_ref, now_ms, Kind::Set)? else {
            return Ok(Reply::Int(0));
        };
        let removed = shard.update_value_at(found, |value| {
            let set = set_mut(value);
            members.iter().filter(|member| set.remove(member)).count()
        });
        remove_if_empty(&mut shard, found);
        Ok(Reply::Int(removed as i64))
    }

    fn spop(
        &self,
        db: usize,
        key: &Bytes,
        count: Option<u64>,
        seed: u64,
        now_ms: u64,
    ) -> Result<Reply, Error> {
        let key_ref = KeyRef::new(key);
        let mut shard = self.slot_of(db, key_ref).shard.lock();
        let Ok(found) = find_for_write(&mut shard, key_ref, now_ms, Kind::Set)? else {
            return Ok(count.map_or(Reply::Nil, |_| Reply::Set(Vec::new())));
        };
        let mut random = Random::new(seed);
        let reply = shard.update_value_at(found, |value| {
            let set = set_mut(value);
            let Some(count) = count else {
                return Reply::Bulk(set.pop_random(&mut random).into_bytes());
            };
            if count >= set.len() as u64 {
                // Everything, in the set's order, as Redis replies the
                // whole set before deleting it.
                let all = set
                    .members()
                    .map(|m| Reply::Bulk(Bytes::copy_from_slice(&m)));
                let all = all.collect();
                *set = Set::default();
                return Reply::Set(all);
            }
            let popped = (0..count).map(|_| Reply::Bulk(set.pop_random(&mut random).into_bytes()));
            Reply::Set(popped.collect())
        });
        remove_if_empty(&mut shard, found);
        Ok(reply)
    }

    fn smove(
        &self,
        db: usize,
        src: &Bytes,
        dst: &Bytes,
        member: &Bytes,
        now_ms: u64,
    ) -> Result<Reply, Error> {
        let (src_ref, dst_ref) = (KeyRef::new(src), KeyRef::new(dst));
        let mut pair = self.lock_pair(db, src_ref, db, dst_ref);
        // Both keys are looked up (and purged if expired) before either
        // is judged, as Redis does; later lookups then change nothing.
        let src_found = pair.src().find_for_write(src_ref, now_ms).is_ok();
        pair.dst().find_for_write(dst_ref, now_ms).ok();
        if !src_found {
            return Ok(Reply::Int(0));
        }
        is_set_at(pair.src(), src_ref, now_ms)?;
        is_set_at(pair.dst(), dst_ref, now_ms)?;
        if src == dst {
            let shard = pair.src();
            let found = shard.find_for_write(src_ref, now_ms).expect("checked");
            let Value::Set(set) = &shard.entry(found).value else {
                unreachable!("checked to be a set")
            };
            return Ok(Reply::Int(i64::from(set.contains(member))));
        }
        let shard = pair.src();
        let found = shard.find_for_write(src_ref, now_ms).expect("checked");
        if !shard.update_value_at(found, |value| set_mut(value).remove(member)) {
            return Ok(Reply::Int(0));
        }
        remove_if_empty(shard, found);
        let shard = pair.dst();
        let found = match shard.find_for_write(dst_ref, now_ms) {
            Ok(found) => found,
            Err(vacant) => shard.insert_at(vacant, dst, new_entry(Value::Set(Box::default()))),
        };
        shard.update_value_at(found, |value| set_mut(value).insert(member));
        Ok(Reply::Int(1))
    }

    /// `SUNIONSTORE`, `SINTERSTORE`, `SDIFFSTORE`: the result replaces
    /// `dst` whatever it held (and its expiry); an empty result deletes it.
    fn sstore(
        &self,
        db: usize,
        dst: &Bytes,
        keys: &[Bytes],
        algebra: Algebra,
        now_ms: u64,
    ) -> Result<Reply, Error> {
        let mut shards = self.lock_keys(db, keys.iter().chain(std::iter::once(dst)));
        let mut sources = WriteSources {
            shards: &mut shards,
            now_ms,
        };
        let result = algebra::combine(&mut sources, keys, algebra)?;
        let dst_ref = KeyRef::new(dst);
        let shard = shards.shard(dst_ref);
        let place = shard.find_for_write(dst_ref, now_ms);
        let len = result.len();
        let replaced = if result.is_empty() {
            place.ok().map(|found| shard.remove_at(found).0)
        } else {
            shard.put(place, dst, new_entry(Value::Set(Box::new(result))))
        };
        drop(shards);
        drop(replaced);
        Ok(Reply::Int(len as i64))
    }
}

/// `Ok` if `key` is missing or a set; WRONGTYPE otherwise.
fn is_set_at(shard: &mut Shard, key: KeyRef<'_>, now_ms: u64) -> Result<(), Error> {
    find_for_write(shard, key, now_ms, Kind::Set).map(|_| ())
}
