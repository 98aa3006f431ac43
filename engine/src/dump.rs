//! A full-keyspace dump and its restore, as plain records: what tests and
//! tools compare engines by (snapshots are runs, see `snapshot.rs`).
//!
//! A dump lists every stored key with its value and absolute expiry, expired
//! or not: a key that has expired but not yet been purged is still part of
//! the replicated state (its deletion is a proposed write), so a restored
//! node must hold it too.
//!
//! Invariants:
//! - The order is (db, shard, hash, key bytes), a pure function of the
//!   contents, so two engines with the same contents dump the same records
//!   in the same order.
//! - `restore` of a dump yields an engine whose dump equals it.
//! - Each shard is locked on its own while it is read; the caller keeps
//!   writes out for the whole dump when it needs one consistent cut.

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::{Engine, Entry, Hash, List, Set, SmallBytes, Value, ZSet, SHARDS_PER_DB};

/// A stored value in its serializable form.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum DumpValue {
    Str(Bytes),
    List(Vec<Bytes>),
    Hash(Vec<(Bytes, Bytes)>),
    Set(Vec<Bytes>),
    ZSet(Vec<(f64, Bytes)>),
    /// A stream, as its body (`stream/codec.rs`): its nodes as they are.
    Stream(Bytes),
}

/// One key of a dump.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DumpRecord {
    /// The database, `0..DB_COUNT`.
    pub db: u8,
    pub key: Bytes,
    pub value: DumpValue,
    /// Unix time in milliseconds at which the key expires; `None` if never.
    pub expires_at_ms: Option<u64>,
}

impl DumpValue {
    fn from_value(value: &Value) -> DumpValue {
        match value {
            Value::Str(bytes) => DumpValue::Str(bytes.to_bytes()),
            Value::List(list) => DumpValue::List(list.iter().map(Bytes::copy_from_slice).collect()),
            Value::Hash(hash) => DumpValue::Hash(
                hash.iter()
                    .map(|(field, value)| {
                        (Bytes::copy_from_slice(field), Bytes::copy_from_slice(value))
                    })
                    .collect(),
            ),
            Value::Set(set) => DumpValue::Set(set.iter().map(Bytes::copy_from_slice).collect()),
            Value::ZSet(zset) => DumpValue::ZSet(
                zset.iter()
                    .map(|(score, member)| (score, Bytes::copy_from_slice(member)))
                    .collect(),
            ),
            Value::Stream(stream) => {
                let mut body = Vec::new();
                crate::stream::encode_body(stream, &mut body);
                DumpValue::Stream(Bytes::from(body))
            }
        }
    }

    fn into_value(self) -> Value {
        match self {
            DumpValue::Str(bytes) => Value::Str(SmallBytes::from(bytes)),
            DumpValue::List(items) => Value::List(Box::new(List::from_items(items))),
            DumpValue::Hash(pairs) => Value::Hash(Hash::from_pairs(pairs)),
            DumpValue::Set(members) => Value::Set(Box::new(Set::from_members(members))),
            DumpValue::ZSet(members) => Value::ZSet(ZSet::from_members(members)),
            DumpValue::Stream(body) => Value::Stream(Box::new(
                crate::stream::decode_body(&body).expect("a stream body from a dump"),
            )),
        }
    }
}

impl Engine {
    /// Every stored key of every database, in (db, shard, hash, key) order.
    pub fn dump(&self) -> Vec<DumpRecord> {
        let mut records = Vec::new();
        for (index, slot) in self.slots().iter().enumerate() {
            let db = u8::try_from(index / SHARDS_PER_DB).expect("db index fits in u8");
            let shard = slot.shard.lock();
            records.extend(shard.iter().map(|(_, key, view)| {
                let entry = view.to_entry();
                DumpRecord {
                    db,
                    key: Bytes::copy_from_slice(key),
                    value: DumpValue::from_value(&entry.value),
                    expires_at_ms: entry.expires_at_ms(),
                }
            }));
        }
        records
    }

    /// Replaces the whole keyspace with `records` (as a `FLUSHALL` followed
    /// by storing each record as is).
    pub fn restore(&self, records: impl IntoIterator<Item = DumpRecord>) {
        self.apply_flush(None);
        for record in records {
            let entry = Entry::new(record.value.into_value(), record.expires_at_ms);
            self.restore_entry(usize::from(record.db), record.key, entry);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{SetCondition, TtlChange, WriteOp};

    fn set(engine: &Engine, db: usize, key: &str, value: &str, ttl: TtlChange) {
        let op = WriteOp::Set {
            key: Bytes::copy_from_slice(key.as_bytes()),
            value: Bytes::copy_from_slice(value.as_bytes()),
            condition: SetCondition::Always,
            ttl,
            get: false,
        };
        engine.apply(db, &op, 1_000);
    }

    #[test]
    fn restore_of_a_dump_dumps_the_same() {
        let engine = Engine::new();
        for i in 0..200 {
            let key = format!("key:{i}");
            set(&engine, i % 16, &key, &"v".repeat(i), TtlChange::Clear);
        }
        set(&engine, 3, "ttl", "x", TtlChange::InMs(5_000));
        set(&engine, 3, "gone", "x", TtlChange::AtMs(10));
        let list = Entry::new(
            Value::List(Box::new(List::from_items([
                Bytes::from_static(b"a"),
                Bytes::from_static(b"b"),
            ]))),
            Some(9_999),
        );
        engine.restore_entry(15, Bytes::from_static(b"list"), list);
        let dump = engine.dump();
        assert_eq!(dump.len(), 203, "every key, expired or not, is dumped");
        assert!(dump.windows(2).all(|pair| pair[0].db <= pair[1].db));

        let restored = Engine::new();
        set(
            &restored,
            0,
            "stale",
            "replaced by the restore",
            TtlChange::Clear,
        );
        restored.restore(dump.clone());
        restored.check_invariants();
        assert_eq!(restored.dump(), dump);
        assert_eq!(restored.expires_count(3), 2);
    }
}
