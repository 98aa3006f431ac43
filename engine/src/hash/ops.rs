//! Hash writes: the validated ops and their deterministic apply.

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::Hash;
use crate::collection::{find_for_write, new_entry, Kind};
use crate::key::KeyRef;
use crate::{Engine, Error, Reply, SmallBytes, Value};

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
}

impl Engine {
    pub(crate) fn apply_hash(&self, db: usize, op: &HashOp, now_ms: u64) -> Result<Reply, Error> {
        match op {
            HashOp::Set { key, pairs, ok } => self.hset(db, key, pairs, *ok, now_ms),
        }
    }

    fn hset(
        &self,
        db: usize,
        key: &Bytes,
        pairs: &[(Bytes, Bytes)],
        ok: bool,
        now_ms: u64,
    ) -> Result<Reply, Error> {
        let key_ref = KeyRef::new(key);
        let mut shard = self.slot_of(db, key_ref).shard.lock();
        let place = find_for_write(&mut shard, key_ref, now_ms, Kind::Hash)?;
        let found = match place {
            Ok(found) => found,
            Err(vacant) => shard.insert_at(vacant, key, new_entry(Value::Hash(Hash::default()))),
        };
        let added = shard.update_value_at(found, |value| {
            let Value::Hash(hash) = value else {
                unreachable!("checked to be a hash")
            };
            pairs
                .iter()
                .filter(|(field, value)| hash.insert(field, SmallBytes::from(value)).is_none())
                .count()
        });
        Ok(if ok {
            Reply::Ok
        } else {
            Reply::Int(added as i64)
        })
    }
}
