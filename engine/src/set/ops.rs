//! Set writes: the validated ops and their deterministic apply.

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::Set;
use crate::collection::{find_for_write, new_entry, Kind};
use crate::key::KeyRef;
use crate::{Engine, Error, Reply, Value};

/// One validated set write.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum SetOp {
    /// `SADD`: the number of members that were new.
    Add { key: Bytes, members: Vec<Bytes> },
}

impl Engine {
    pub(crate) fn apply_set_op(&self, db: usize, op: &SetOp, now_ms: u64) -> Result<Reply, Error> {
        match op {
            SetOp::Add { key, members } => self.sadd(db, key, members, now_ms),
        }
    }

    fn sadd(&self, db: usize, key: &Bytes, members: &[Bytes], now_ms: u64) -> Result<Reply, Error> {
        let key_ref = KeyRef::new(key);
        let mut shard = self.slot_of(db, key_ref).shard.lock();
        let found = match find_for_write(&mut shard, key_ref, now_ms, Kind::Set)? {
            Ok(found) => found,
            Err(vacant) => shard.insert_at(vacant, key, new_entry(Value::Set(Set::default()))),
        };
        let added = shard.update_value_at(found, |value| {
            let Value::Set(set) = value else {
                unreachable!("checked to be a set")
            };
            members.iter().filter(|member| set.insert(member)).count()
        });
        Ok(Reply::Int(added as i64))
    }
}
