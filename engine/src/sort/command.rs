//! The engine side of `SORT`: which shards to lock, how a pattern's key is
//! read, and what the read replies or the write stores.
//!
//! A sort that reads only its own key locks that key's shard (and the
//! destination's, for `STORE`). One with `BY` or `GET` patterns cannot
//! know beforehand which keys it reads, so it locks every shard of the
//! database, in ascending order like any multi-shard operation: the whole
//! sort then sees one consistent state, as Redis's single thread does.
//!
//! Invariants:
//! - The sorted value's elements are copied out before any pattern key is
//!   read, so no borrow of one shard outlives the next lookup.
//! - Every key looked up (the sorted key and each pattern key) counts one
//!   keyspace hit or miss, as Redis's `lookupKeyRead` does.
//! - `SORT ... STORE` stores a plain list without expiry, or deletes the
//!   destination when the result is empty; an error stores nothing.

use bytes::Bytes;

use super::{finish, load, Plan, SortArgs};
use crate::engine::{shard_of, ShardSet};
use crate::key::KeyRef;
use crate::{Engine, Entry, Error, List, Reply, ReplySink, Value};

/// The shards a sort locks (bits of `Engine::lock_mask`).
fn sort_mask(key: &[u8], dst: Option<&[u8]>, args: &SortArgs) -> u64 {
    if args.reads_other_keys() {
        // Every shard of the database (bits past the last shard are ignored).
        return u64::MAX;
    }
    let bit = |key: &[u8]| 1u64 << shard_of(KeyRef::new(key).hash);
    bit(key) | dst.map_or(0, bit)
}

/// The string at `key`, or with `field` that field of the hash at `key`:
/// what a `BY` or `GET` pattern reads. Anything else (a missing key,
/// another type, a missing field) is `None`.
fn fetch(
    shards: &mut ShardSet<'_>,
    key: &[u8],
    field: Option<&[u8]>,
    now_ms: u64,
) -> Option<Bytes> {
    let key = KeyRef::new(key);
    let entry = shards.shard(key).get_live(key, now_ms);
    let hit = entry.is_some();
    let found = match (entry.as_deref().map(|entry| &entry.value), field) {
        (Some(Value::Str(value)), None) => Some(value.to_bytes()),
        (Some(Value::Hash(hash)), Some(field)) => hash.get(field).map(Bytes::copy_from_slice),
        _ => None,
    };
    drop(entry);
    shards.slot(key).count(hit);
    found
}

/// Runs the sort of `key` with its shards (and every pattern key's)
/// locked: the reply's items, `None` for a nil.
fn sort_locked(
    shards: &mut ShardSet<'_>,
    key: &[u8],
    args: &SortArgs,
    store: bool,
    now_ms: u64,
) -> Result<Vec<Option<Bytes>>, Error> {
    let key_ref = KeyRef::new(key);
    let entry = shards.shard(key_ref).get_live(key_ref, now_ms);
    let hit = entry.is_some();
    let value = entry.as_deref().map(|entry| &entry.value);
    let loaded = match value {
        Some(Value::Str(_) | Value::Hash(_) | Value::Stream(_)) => Err(Error::WrongType),
        value => {
            let plan = Plan::new(args, value, store);
            Ok((plan, load(value, args, &plan)))
        }
    };
    drop(entry);
    shards.slot(key_ref).count(hit);
    let (plan, loaded) = loaded?;
    let mut lookup = |key: &[u8], field: Option<&[u8]>| fetch(shards, key, field, now_ms);
    finish(loaded, &plan, &args.get, &mut lookup)
}

impl Engine {
    /// `SORT` without `STORE`, and `SORT_RO`: an array of the elements (or
    /// of the `GET` values, nil where a key or field is missing), or the
    /// error.
    pub fn sort(
        &self,
        db: usize,
        key: &[u8],
        args: &SortArgs,
        now_ms: u64,
        sink: &mut impl ReplySink,
    ) {
        let mut shards = self.lock_mask(db, sort_mask(key, None, args));
        match sort_locked(&mut shards, key, args, false, now_ms) {
            Ok(rows) => {
                sink.array(rows.len());
                for row in &rows {
                    match row {
                        Some(value) => sink.bulk(value),
                        None => sink.nil(),
                    }
                }
            }
            Err(error) => sink.error(&error),
        }
    }

    /// `SORT key ... STORE dst`: stores the result as a list at `dst` (a
    /// missing `GET` value as an empty string) and replies its length;
    /// an empty result deletes `dst`.
    pub(crate) fn apply_sort_store(
        &self,
        db: usize,
        key: &[u8],
        dst: &Bytes,
        args: &SortArgs,
        now_ms: u64,
    ) -> Result<Reply, Error> {
        let mut shards = self.lock_mask(db, sort_mask(key, Some(dst), args));
        let rows = sort_locked(&mut shards, key, args, true, now_ms)?;
        let dst_ref = KeyRef::new(dst);
        let shard = shards.shard(dst_ref);
        let place = shard.find_for_write(dst_ref, now_ms);
        let stored = rows.len() as i64;
        if rows.is_empty() {
            if let Ok(found) = place {
                shard.remove_at(found);
            }
            return Ok(Reply::Int(0));
        }
        let list = List::from_items(rows.into_iter().map(Option::unwrap_or_default));
        let entry = Entry::new(Value::List(Box::new(list)), None);
        let replaced = shard.put(place, dst, entry);
        drop(shards);
        drop(replaced);
        Ok(Reply::Int(stored))
    }
}
