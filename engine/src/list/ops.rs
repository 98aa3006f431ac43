//! List writes: the validated ops and their deterministic apply.
//!
//! The pop and move ops ([`ListOp::Pop`], [`ListOp::Move`],
//! [`ListOp::MPop`]) are written so the blocking commands (`BLPOP`,
//! `BLMOVE`, `BLMPOP`, ...) can reuse them: each one's apply returns
//! exactly the reply its non-blocking command gives, with a nil (or nil
//! array) reply meaning "nothing to pop", and changes nothing in that case.
//!
//! Invariants:
//! - A write that empties a list deletes its key, as Redis does.
//! - A write that finds its key holding another type replies WRONGTYPE and
//!   changes nothing; `LMOVE` checks the destination's type before it pops.

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::{clamp_range, List};
use crate::collection::{find_for_write, new_entry, remove_if_empty, Kind};
use crate::key::KeyRef;
use crate::shard::Shard;
use crate::{Engine, Error, Reply, SmallBytes, Value};

/// `LSET`'s error for an index outside the list.
const INDEX_OUT_OF_RANGE: Error = Error::Other("ERR index out of range");

/// One validated list write.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ListOp {
    /// `LPUSH` / `RPUSH` (`left` says which end), and `LPUSHX` / `RPUSHX`
    /// (`only_if_exists`): the new length (0 when `only_if_exists` and the
    /// key is missing).
    Push {
        key: Bytes,
        items: Vec<Bytes>,
        left: bool,
        only_if_exists: bool,
    },
    /// `LPOP` / `RPOP`. Without a count: the element, or nil if the key is
    /// missing. With one: an array of up to `count` elements (empty for a
    /// count of 0), or a nil array if the key is missing. `BLPOP` and
    /// `BRPOP` can reuse it: a nil reply means nothing was popped.
    Pop {
        key: Bytes,
        left: bool,
        count: Option<u64>,
    },
    /// `LSET`: `+OK`, `ERR no such key` or `ERR index out of range`.
    /// `index` counts from the tail when negative.
    Set { key: Bytes, index: i64, item: Bytes },
    /// `LREM`: the number of elements equal to `item` removed: the first
    /// `count` from the head if positive, the last `-count` if negative,
    /// all if 0.
    Rem { key: Bytes, count: i64, item: Bytes },
    /// `LTRIM`: `+OK`; keeps the elements from `start` to `stop`
    /// (inclusive, negative from the tail), deleting the key if none is.
    Trim { key: Bytes, start: i64, stop: i64 },
    /// `LINSERT`: the new length, -1 if `pivot` is not in the list, 0 if
    /// the key is missing.
    Insert {
        key: Bytes,
        before: bool,
        pivot: Bytes,
        item: Bytes,
    },
    /// `LMOVE` / `RPOPLPUSH`: pops from `from` at one end and pushes onto
    /// `to` at the other (or the same) end; replies the element, or nil if
    /// `from` is missing. With `from == to` the list rotates. `BLMOVE` and
    /// `BRPOPLPUSH` can reuse it: a nil reply means nothing was moved.
    Move {
        from: Bytes,
        to: Bytes,
        from_left: bool,
        to_left: bool,
    },
    /// `LMPOP`: pops up to `count` (at least 1) elements from the first
    /// non-empty list of `keys`; replies `[key, [elements]]`, or a nil
    /// array if every key is missing. `BLMPOP` can reuse it: a nil array
    /// means nothing was popped.
    MPop {
        keys: Vec<Bytes>,
        left: bool,
        count: u64,
    },
    /// `BLPOP`/`BRPOP` once its keys are looked at: pops one element from
    /// the first non-empty list; replies `[key, element]`, or a nil array
    /// if every key is missing (the client then blocks).
    PopFirst { keys: Vec<Bytes>, left: bool },
}

impl Engine {
    pub(crate) fn apply_list(&self, db: usize, op: &ListOp, now_ms: u64) -> Result<Reply, Error> {
        match op {
            ListOp::Push {
                key,
                items,
                left,
                only_if_exists,
            } => self.push(db, key, items, *left, *only_if_exists, now_ms),
            ListOp::Pop { key, left, count } => {
                let missing = match count {
                    None => Reply::Nil,
                    Some(_) => Reply::NilArray,
                };
                self.edit_list(db, key, now_ms, missing, |list| {
                    pop_reply(list, *left, *count)
                })
            }
            ListOp::Set { key, index, item } => self.lset(db, key, *index, item, now_ms),
            ListOp::Rem { key, count, item } => {
                self.edit_list(db, key, now_ms, Reply::Int(0), |list| {
                    Reply::Int(list.remove_matching(item, *count) as i64)
                })
            }
            ListOp::Trim { key, start, stop } => {
                self.edit_list(db, key, now_ms, Reply::Ok, |list| {
                    match clamp_range(*start, *stop, list.len()) {
                        Some((first, last)) => list.keep_range(first, last),
                        None => list.clear(),
                    }
                    Reply::Ok
                })
            }
            ListOp::Insert {
                key,
                before,
                pivot,
                item,
            } => self.edit_list(db, key, now_ms, Reply::Int(0), |list| {
                let Some(at) = list.position(pivot) else {
                    return Reply::Int(-1);
                };
                let at = if *before { at } else { at + 1 };
                list.insert(at, SmallBytes::from(item));
                Reply::Int(list.len() as i64)
            }),
            ListOp::Move {
                from,
                to,
                from_left,
                to_left,
            } => self.lmove(db, from, to, *from_left, *to_left, now_ms),
            ListOp::MPop { keys, left, count } => self.lmpop(db, keys, *left, *count, now_ms),
            // LMPOP's `[key, [element]]`, flattened.
            ListOp::PopFirst { keys, left } => self
                .lmpop(db, keys, *left, 1, now_ms)
                .map(Reply::flatten_last),
        }
    }

    fn push(
        &self,
        db: usize,
        key: &Bytes,
        items: &[Bytes],
        left: bool,
        only_if_exists: bool,
        now_ms: u64,
    ) -> Result<Reply, Error> {
        let key_ref = KeyRef::new(key);
        let mut shard = self.slot_of(db, key_ref).shard.lock();
        let found = match find_for_write(&mut shard, key_ref, now_ms, Kind::List)? {
            Ok(found) => found,
            Err(_) if only_if_exists => return Ok(Reply::Int(0)),
            Err(vacant) => shard.insert_at(vacant, key, new_entry(Value::List(Box::default()))),
        };
        let len = shard.update_value_at(found, |value| {
            let list = list_mut(value);
            for item in items {
                list.push(SmallBytes::from(item), left);
            }
            list.len()
        });
        Ok(Reply::Int(len as i64))
    }

    /// Runs `change` on the list at `key` and deletes the key if that
    /// emptied it; `missing` if there is no such key, WRONGTYPE if it
    /// holds another type.
    fn edit_list(
        &self,
        db: usize,
        key: &Bytes,
        now_ms: u64,
        missing: Reply,
        change: impl FnOnce(&mut List) -> Reply,
    ) -> Result<Reply, Error> {
        let key_ref = KeyRef::new(key);
        let mut shard = self.slot_of(db, key_ref).shard.lock();
        Ok(edit_in(&mut shard, key_ref, now_ms, change)?.unwrap_or(missing))
    }

    fn lset(
        &self,
        db: usize,
        key: &Bytes,
        index: i64,
        item: &Bytes,
        now_ms: u64,
    ) -> Result<Reply, Error> {
        let key_ref = KeyRef::new(key);
        let mut shard = self.slot_of(db, key_ref).shard.lock();
        let Ok(found) = find_for_write(&mut shard, key_ref, now_ms, Kind::List)? else {
            return Err(Error::NoSuchKey);
        };
        shard.update_value_at(found, |value| {
            let list = list_mut(value);
            let at = index_in(index, list.len()).ok_or(INDEX_OUT_OF_RANGE)?;
            list.set(at, SmallBytes::from(item));
            Ok(Reply::Ok)
        })
    }

    fn lmove(
        &self,
        db: usize,
        from: &Bytes,
        to: &Bytes,
        from_left: bool,
        to_left: bool,
        now_ms: u64,
    ) -> Result<Reply, Error> {
        let (src, dst) = (KeyRef::new(from), KeyRef::new(to));
        if from == to {
            let mut shard = self.slot_of(db, src).shard.lock();
            let moved = edit_in(&mut shard, src, now_ms, |list| {
                let item = list.pop(from_left).expect("stored lists are not empty");
                let reply = Reply::Bulk(item.to_bytes());
                list.push(item, to_left);
                reply
            })?;
            return Ok(moved.unwrap_or(Reply::Nil));
        }
        let mut pair = self.lock_pair(db, src, db, dst);
        // Redis looks at the source first (a missing one replies nil
        // whatever the destination holds), then at the destination's type,
        // and only then pops.
        if find_for_write(pair.src(), src, now_ms, Kind::List)?.is_err() {
            return Ok(Reply::Nil);
        }
        find_for_write(pair.dst(), dst, now_ms, Kind::List).map(drop)?;
        // Each step looks its key up again: the two keys may share a shard,
        // where removing or inserting one moves the other's handle.
        let popped = edit_in(pair.src(), src, now_ms, |list| {
            list.pop(from_left).expect("stored lists are not empty")
        })?;
        let item = popped.expect("the source was found under the lock");
        let reply = Reply::Bulk(item.to_bytes());
        let shard = pair.dst();
        let found = match find_for_write(shard, dst, now_ms, Kind::List)? {
            Ok(found) => found,
            Err(vacant) => shard.insert_at(vacant, to, new_entry(Value::List(Box::default()))),
        };
        shard.update_value_at(found, |value| list_mut(value).push(item, to_left));
        Ok(reply)
    }

    fn lmpop(
        &self,
        db: usize,
        keys: &[Bytes],
        left: bool,
        count: u64,
        now_ms: u64,
    ) -> Result<Reply, Error> {
        let mut shards = self.lock_keys(db, keys.iter());
        for key in keys {
            let key_ref = KeyRef::new(key);
            let popped = edit_in(shards.shard(key_ref), key_ref, now_ms, |list| {
                pop_reply(list, left, Some(count))
            })?;
            if let Some(items) = popped {
                return Ok(Reply::Array(vec![Reply::Bulk(key.clone()), items]));
            }
        }
        Ok(Reply::NilArray)
    }
}

/// Runs `change` on the list at `key` in `shard` and deletes the key if
/// that emptied it; `None` if the key is missing, WRONGTYPE if it holds
/// another type.
fn edit_in<R>(
    shard: &mut Shard,
    key: KeyRef<'_>,
    now_ms: u64,
    change: impl FnOnce(&mut List) -> R,
) -> Result<Option<R>, Error> {
    let Ok(found) = find_for_write(shard, key, now_ms, Kind::List)? else {
        return Ok(None);
    };
    let result = shard.update_value_at(found, |value| change(list_mut(value)));
    remove_if_empty(shard, found);
    Ok(Some(result))
}

/// Pops from a stored (non-empty) list: the element if `count` is `None`,
/// else an array of up to `count` elements.
fn pop_reply(list: &mut List, left: bool, count: Option<u64>) -> Reply {
    let Some(count) = count else {
        let item = list.pop(left).expect("stored lists are not empty");
        return Reply::Bulk(item.into_bytes());
    };
    let take = count.min(list.len() as u64) as usize;
    let items = (0..take)
        .map_while(|_| list.pop(left))
        .map(|item| Reply::Bulk(item.into_bytes()))
        .collect();
    Reply::Array(items)
}

/// The position `index` (negative: from the tail) names in a list of
/// `len`, if it is in range.
pub(crate) fn index_in(index: i64, len: usize) -> Option<usize> {
    let at = if index < 0 {
        (len as i64).checked_add(index)?
    } else {
        index
    };
    (0..len as i64).contains(&at).then_some(at as usize)
}

/// The list in `value` (which the caller checked).
fn list_mut(value: &mut Value) -> &mut List {
    match value {
        Value::List(list) => list,
        _ => unreachable!("checked to be a list"),
    }
}
