//! Hash reads: they stream into a sink under the shard lock.
//!
//! `HRANDFIELD` draws from a seed the caller picks (a read needs no
//! agreement between nodes); `HSCAN` walks a packed hash in one call (as
//! Redis does with a listpack) and a table in (hash, field) order from a
//! cursor that is a hash position, so it stays valid across writes.

use super::Hash;
use crate::collection::{scan_reply_head, Kind};
use crate::{glob_match, Engine, Error, Random, ReplySink, Value};

/// The hash in `value` (which `read_kind` checked).
fn hash_of(value: &Value) -> &Hash {
    match value {
        Value::Hash(hash) => hash,
        _ => unreachable!("read_kind checked the type"),
    }
}

/// Writes `n` fields (with their values if `with_values`) as Redis replies
/// them: a flat array in RESP2, an array of [field, value] pairs in RESP3.
fn emit_fields<'a>(
    sink: &mut impl ReplySink,
    n: usize,
    with_values: bool,
    pairs: impl Iterator<Item = (&'a [u8], &'a [u8])>,
) {
    let nested = with_values && sink.is_resp3();
    sink.array(if with_values && !nested { 2 * n } else { n });
    for (field, value) in pairs {
        if nested {
            sink.array(2);
        }
        sink.bulk(field);
        if with_values {
            sink.bulk(value);
        }
    }
}

impl Hash {
    /// A field picked at random (`self` is not empty): a packed hash picks
    /// an index, a table the first field at or after a random hash.
    fn random_pair(&self, random: &mut Random) -> (&[u8], &[u8]) {
        if let Some(packed) = self.packed() {
            return packed
                .nth(random.below(packed.len()))
                .expect("index below len");
        }
        let dict = self.table().expect("not packed");
        let mut pairs = dict.iter_from(random.next_u64()).map(|(_, f, v)| (f, v));
        pairs
            .next()
            .or_else(|| dict.iter().next())
            .expect("hash is not empty")
    }
}

impl Engine {
    /// Runs `read` on the hash at `key` (`None` if missing) under its
    /// shard's lock; replies WRONGTYPE instead if it holds another type.
    fn with_hash<S: ReplySink>(
        &self,
        db: usize,
        key: &[u8],
        now_ms: u64,
        sink: &mut S,
        read: impl FnOnce(Option<&Hash>, &mut S),
    ) {
        let result = self.read_kind(db, key, now_ms, Kind::Hash, |value| {
            read(value.map(hash_of), sink)
        });
        if let Err(error) = result {
            sink.error(&error);
        }
    }

    /// `HGET`: the field's value, or nil.
    pub fn hget(
        &self,
        db: usize,
        key: &[u8],
        field: &[u8],
        now_ms: u64,
        sink: &mut impl ReplySink,
    ) {
        self.with_hash(db, key, now_ms, sink, |hash, sink| {
            match hash.and_then(|hash| hash.get(field)) {
                Some(found) => sink.bulk(found),
                None => sink.nil(),
            }
        });
    }

    /// `HMGET`: each field's value, or nil.
    pub fn hmget<F: AsRef<[u8]>>(
        &self,
        db: usize,
        key: &[u8],
        fields: &[F],
        now_ms: u64,
        sink: &mut impl ReplySink,
    ) {
        self.with_hash(db, key, now_ms, sink, |hash, sink| {
            sink.array(fields.len());
            for field in fields {
                match hash.and_then(|hash| hash.get(field.as_ref())) {
                    Some(found) => sink.bulk(found),
                    None => sink.nil(),
                }
            }
        });
    }

    /// `HEXISTS`: 1 if the field is there, else 0.
    pub fn hexists(
        &self,
        db: usize,
        key: &[u8],
        field: &[u8],
        now_ms: u64,
        sink: &mut impl ReplySink,
    ) {
        self.with_hash(db, key, now_ms, sink, |hash, sink| {
            sink.int(i64::from(
                hash.is_some_and(|hash| hash.get(field).is_some()),
            ));
        });
    }

    /// `HSTRLEN`: the length of the field's value, 0 if missing.
    pub fn hstrlen(
        &self,
        db: usize,
        key: &[u8],
        field: &[u8],
        now_ms: u64,
        sink: &mut impl ReplySink,
    ) {
        self.with_hash(db, key, now_ms, sink, |hash, sink| {
            let len = hash.and_then(|hash| hash.get(field)).map_or(0, <[u8]>::len);
            sink.int(len as i64);
        });
    }

    /// `HLEN`: the number of fields, 0 if the key is missing.
    pub fn hlen(&self, db: usize, key: &[u8], now_ms: u64, sink: &mut impl ReplySink) {
        self.with_hash(db, key, now_ms, sink, |hash, sink| {
            sink.int(hash.map_or(0, Hash::len) as i64);
        });
    }

    /// `HKEYS` (`values: false`) and `HVALS` (`values: true`), in the
    /// hash's order.
    pub fn hkeys_or_vals(
        &self,
        db: usize,
        key: &[u8],
        values: bool,
        now_ms: u64,
        sink: &mut impl ReplySink,
    ) {
        self.with_hash(db, key, now_ms, sink, |hash, sink| {
            let Some(hash) = hash else {
                sink.array(0);
                return;
            };
            sink.array(hash.len());
            for (field, value) in hash.iter() {
                sink.bulk(if values { value } else { field });
            }
        });
    }

    /// `HGETALL`: a map of every field to its value (an empty one if the
    /// key is missing).
    pub fn hgetall(&self, db: usize, key: &[u8], now_ms: u64, sink: &mut impl ReplySink) {
        self.with_hash(db, key, now_ms, sink, |hash, sink| {
            let Some(hash) = hash else {
                sink.map(0);
                return;
            };
            sink.map(hash.len());
            for (field, value) in hash.iter() {
                sink.bulk(field);
                sink.bulk(value);
            }
        });
    }

    /// `HRANDFIELD key [count [WITHVALUES]]` (`count` is `None` without a
    /// count), drawing from `seed`. A positive count gives distinct fields
    /// (the whole hash, in its order, if it is not larger than the count);
    /// a negative one gives exactly `-count` fields, repeats allowed.
    #[allow(clippy::too_many_arguments)]
    pub fn hrandfield(
        &self,
        db: usize,
        key: &[u8],
        count: Option<i64>,
        with_values: bool,
        seed: u64,
        now_ms: u64,
        sink: &mut impl ReplySink,
    ) {
        self.with_hash(db, key, now_ms, sink, |hash, sink| {
            let mut random = Random::new(seed);
            let Some(count) = count else {
                match hash {
                    Some(hash) => sink.bulk(hash.random_pair(&mut random).0),
                    None => sink.nil(),
                }
                return;
            };
            let Some(hash) = hash.filter(|_| count != 0) else {
                sink.array(0);
                return;
            };
            if count < 0 {
                let n = match crate::int_arg::random_repeats(count) {
                    Ok(n) => n,
                    Err(error) => return sink.error(&error),
                };
                let picks = (0..n).map(|_| hash.random_pair(&mut random));
                emit_fields(sink, n, with_values, picks);
            } else if count as u64 >= hash.len() as u64 {
                emit_fields(sink, hash.len(), with_values, hash.iter());
            } else {
                // A partial Fisher-Yates shuffle: the first `n` slots end up
                // holding `n` distinct pairs drawn uniformly.
                let n = count as usize;
                let mut pairs: Vec<(&[u8], &[u8])> = hash.iter().collect();
                for i in 0..n {
                    let j = i + random.below(pairs.len() - i);
                    pairs.swap(i, j);
                }
                emit_fields(sink, n, with_values, pairs.into_iter().take(n));
            }
        });
    }

    /// `HSCAN key cursor [MATCH pattern] [COUNT count]`. `options` holds
    /// the parsed (pattern, count) or the option error, which Redis reports
    /// only once it has found the hash. A packed hash is returned whole
    /// with cursor 0; a table is walked from hash position `cursor`,
    /// `count` fields examined plus any sharing the last one's hash.
    pub fn hscan(
        &self,
        db: usize,
        key: &[u8],
        cursor: u64,
        options: Result<(Option<&[u8]>, usize), Error>,
        now_ms: u64,
        sink: &mut impl ReplySink,
    ) {
        self.with_hash(db, key, now_ms, sink, |hash, sink| {
            let Some(hash) = hash else {
                scan_reply_head(sink, 0, 0);
                return;
            };
            let (pattern, count) = match options {
                Ok(options) => options,
                Err(error) => {
                    sink.error(&error);
                    return;
                }
            };
            let wanted =
                |field: &[u8]| pattern.is_none_or(|pattern| glob_match(pattern, field, false));
            let mut found: Vec<(&[u8], &[u8])> = Vec::new();
            let mut next = 0;
            if let Some(dict) = hash.table() {
                let budget = count.max(1);
                let mut last_hash = None;
                for (examined, (hash, field, value)) in dict.iter_from(cursor).enumerate() {
                    if examined >= budget && last_hash != Some(hash) {
                        next = hash;
                        break;
                    }
                    last_hash = Some(hash);
                    if wanted(field) {
                        found.push((field, value));
                    }
                }
            } else {
                found.extend(hash.iter().filter(|(field, _)| wanted(field)));
            }
            scan_reply_head(sink, next, 2 * found.len());
            for (field, value) in found {
                sink.bulk(field);
                sink.bulk(value);
            }
        });
    }
}
