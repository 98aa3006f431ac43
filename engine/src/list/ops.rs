//! List writes: the validated ops and their deterministic apply.

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::List;
use crate::collection::{find_for_write, new_entry, Kind};
use crate::key::KeyRef;
use crate::{Engine, Error, Reply, SmallBytes, Value};

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
            Err(vacant) => shard.insert_at(vacant, key, new_entry(Value::List(List::default()))),
        };
        let len = shard.update_value_at(found, |value| {
            let Value::List(list) = value else {
                unreachable!("checked to be a list")
            };
            for item in items {
                if left {
                    list.push_front(SmallBytes::from(item));
                } else {
                    list.push_back(SmallBytes::from(item));
                }
            }
            list.len()
        });
        Ok(Reply::Int(len as i64))
    }
}
