//! Sorted set writes: the validated ops and their deterministic apply.

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::ZSet;
use crate::collection::{find_for_write, new_entry, Kind};
use crate::key::KeyRef;
use crate::{Engine, Error, Reply, Value};

/// One validated sorted set write.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ZSetOp {
    /// `ZADD` without options: the number of members that were new.
    /// Scores are never NaN (the server rejects them).
    Add {
        key: Bytes,
        members: Vec<(f64, Bytes)>,
    },
}

impl Engine {
    pub(crate) fn apply_zset(&self, db: usize, op: &ZSetOp, now_ms: u64) -> Result<Reply, Error> {
        match op {
            ZSetOp::Add { key, members } => self.zadd(db, key, members, now_ms),
        }
    }

    fn zadd(
        &self,
        db: usize,
        key: &Bytes,
        members: &[(f64, Bytes)],
        now_ms: u64,
    ) -> Result<Reply, Error> {
        let key_ref = KeyRef::new(key);
        let mut shard = self.slot_of(db, key_ref).shard.lock();
        let found = match find_for_write(&mut shard, key_ref, now_ms, Kind::ZSet)? {
            Ok(found) => found,
            Err(vacant) => shard.insert_at(vacant, key, new_entry(Value::ZSet(ZSet::default()))),
        };
        let added = shard.update_value_at(found, |value| {
            let Value::ZSet(zset) = value else {
                unreachable!("checked to be a sorted set")
            };
            members
                .iter()
                .filter(|(score, member)| zset.insert(*score, member).is_none())
                .count()
        });
        Ok(Reply::Int(added as i64))
    }
}
