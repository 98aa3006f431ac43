//! Introspection of one key: `OBJECT ENCODING`, `OBJECT REFCOUNT`,
//! `OBJECT IDLETIME` and `MEMORY USAGE`.
//!
//! Invariants:
//! - Introspection is not an access: it leaves the key's access time
//!   alone, as Redis's `LOOKUP_NOTOUCH` does.
//! - Each answer is computed from the stored value, never assumed: the
//!   encoding is the one the value is held in (for strings, the one Redis
//!   would give the same contents), and the memory usage is the same
//!   per-key estimate that `INFO`'s `used_memory` sums.

use crate::key::KeyRef;
use crate::number::parse_i64_strict;
use crate::shard::entry_cost_bytes;
use crate::{Engine, Entry, Value};

/// Redis's `OBJ_SHARED_REFCOUNT`: the refcount it reports for the shared
/// small integers (0 to 9999), which are never freed.
const SHARED_REFCOUNT: i64 = i32::MAX as i64;
/// Redis's `OBJ_ENCODING_EMBSTR_SIZE_LIMIT`.
const EMBSTR_BYTES_MAX: usize = 44;

/// The `OBJECT ENCODING` of a string with these contents, as Redis's
/// `tryObjectEncoding` would choose it when storing them with `SET`.
fn string_encoding(bytes: &[u8]) -> &'static str {
    if bytes.len() <= 20 && parse_i64_strict(bytes).is_some() {
        "int"
    } else if bytes.len() <= EMBSTR_BYTES_MAX {
        "embstr"
    } else {
        "raw"
    }
}

impl Engine {
    /// Runs `read` on the live entry of `key` (or `None`), without counting
    /// a keyspace hit or miss: introspection is not an access (Redis looks
    /// these keys up with `LOOKUP_NOTOUCH`).
    pub(crate) fn inspect<R>(
        &self,
        db: usize,
        key: &[u8],
        now_ms: u64,
        read: impl FnOnce(Option<&Entry>, usize) -> R,
    ) -> R {
        let key_ref = KeyRef::new(key);
        let shard = self.slot_of(db, key_ref).shard.lock();
        let entry = shard.peek_live(key_ref, now_ms);
        read(entry.as_deref(), key.len())
    }

    /// `OBJECT IDLETIME`: seconds since `key` was last read or written on
    /// this node, by the LRU clock of `now_ms` (so to the second as Redis
    /// reports it, and wrapping as Redis's 24-bit clock does, after 194
    /// days); `None` if the key is missing. Not itself an access.
    pub fn object_idletime(&self, db: usize, key: &[u8], now_ms: u64) -> Option<u64> {
        let key_ref = KeyRef::new(key);
        let shard = self.slot_of(db, key_ref).shard.lock();
        shard.idle_seconds(key_ref, now_ms)
    }

    /// `OBJECT FREQ`: the key's LFU counter decayed to `now_ms` by
    /// `decay_time_min` (Redis's `LFUDecrAndReturn`); `None` if the key is
    /// missing. Meaningful while LFU tracking is on (`set_lfu`). Not
    /// itself an access.
    pub fn object_freq(
        &self,
        db: usize,
        key: &[u8],
        now_ms: u64,
        decay_time_min: u64,
    ) -> Option<u8> {
        let key_ref = KeyRef::new(key);
        let shard = self.slot_of(db, key_ref).shard.lock();
        shard.frequency(key_ref, now_ms, decay_time_min)
    }

    /// `OBJECT ENCODING`: the encoding's name, or `None` if the key is
    /// missing.
    pub fn object_encoding(&self, db: usize, key: &[u8], now_ms: u64) -> Option<&'static str> {
        self.inspect(db, key, now_ms, |entry, _| {
            entry.map(|entry| match &entry.value {
                Value::Str(bytes) => string_encoding(bytes),
                Value::List(list) => list.encoding(),
                Value::Hash(hash) => hash.encoding(),
                Value::Set(set) => set.encoding(),
                Value::ZSet(zset) => zset.encoding(),
                Value::Stream(stream) => stream.encoding(),
            })
        })
    }

    /// `OBJECT REFCOUNT`: 1 for a value only this key holds, Redis's shared
    /// refcount for the small integers it shares; `None` if missing.
    pub fn object_refcount(&self, db: usize, key: &[u8], now_ms: u64) -> Option<i64> {
        self.inspect(db, key, now_ms, |entry, _| {
            entry.map(|entry| match &entry.value {
                Value::Str(bytes) if matches!(parse_i64_strict(bytes), Some(0..=9999)) => {
                    SHARED_REFCOUNT
                }
                _ => 1,
            })
        })
    }

    /// Whether `key` holds a live value, without counting a keyspace hit or
    /// miss (a write's look at its key, as Redis's `lookupKeyWrite`).
    pub fn contains(&self, db: usize, key: &[u8], now_ms: u64) -> bool {
        self.inspect(db, key, now_ms, |entry, _| entry.is_some())
    }

    /// `MEMORY USAGE`: the estimated bytes the key and its value cost, or
    /// `None` if missing. Exact for the estimate, so Redis's `SAMPLES`
    /// option changes nothing.
    pub fn memory_usage(&self, db: usize, key: &[u8], now_ms: u64) -> Option<u64> {
        self.inspect(db, key, now_ms, |entry, key_len| {
            entry.map(|entry| entry_cost_bytes(key_len, entry))
        })
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::string_encoding;
    use crate::{DumpValue, Engine, Error, ReplySink, Run, SetCondition, TtlChange, WriteOp};

    /// A sink that drops the reply: the idle-time tests look only at what a
    /// read does to the key.
    struct Drop;

    impl ReplySink for Drop {
        fn ok(&mut self) {}
        fn simple(&mut self, _: &str) {}
        fn int(&mut self, _: i64) {}
        fn bulk(&mut self, _: &[u8]) {}
        fn nil(&mut self) {}
        fn nil_array(&mut self) {}
        fn array(&mut self, _: usize) {}
        fn double(&mut self, _: f64) {}
        fn map(&mut self, _: usize) {}
        fn set(&mut self, _: usize) {}
        fn is_resp3(&self) -> bool {
            false
        }
        fn error(&mut self, _: &Error) {}
    }

    /// One step of an idle-time script, at a time in seconds.
    enum Step {
        /// `SET key v` (with `EX 100` for a key starting with `x`).
        Write(&'static str),
        /// `GET key`: an access.
        Read(&'static str),
        /// `TOUCH key`: an access.
        Touch(&'static str),
        /// Every lookup Redis makes with `LOOKUP_NOTOUCH`, and `WATCH`'s
        /// stamp, which must all leave the access time alone; then a `GET`,
        /// which must reset it and leave the stamp alone.
        Peek(&'static str),
        /// `RESTORE key 0 payload REPLACE IDLETIME seconds`.
        RestoreIdle(&'static str, i64),
        /// Freezes the heads (a snapshot's first step), and no more.
        Freeze,
        /// A whole snapshot: freeze, write the run, adopt it.
        Snapshot,
        /// `OBJECT IDLETIME key` must be this.
        Idle(&'static str, Option<u64>),
    }

    const START_MS: u64 = 1_795_344_675_000;

    fn run_script(script: &[(u64, Step)]) {
        let dir = tempfile::tempdir().expect("tempdir");
        let engine = Engine::new();
        let mut runs = 0;
        for (at_s, step) in script {
            let now_ms = START_MS + at_s * 1000 + 500;
            let key = |name: &str| Bytes::copy_from_slice(name.as_bytes());
            match *step {
                Step::Write(name) => {
                    let ttl = if name.starts_with('x') {
                        TtlChange::InMs(100_000)
                    } else {
                        TtlChange::Clear
                    };
                    let op = WriteOp::Set {
                        key: key(name),
                        value: Bytes::from_static(b"v"),
                        condition: SetCondition::Always,
                        ttl,
                        get: false,
                    };
                    engine.apply(0, &op, now_ms);
                }
                Step::Read(name) => engine.get(0, name.as_bytes(), now_ms, &mut Drop),
                Step::Touch(name) => {
                    assert_eq!(engine.touch(0, &[key(name)], now_ms), 1, "{name}");
                }
                Step::Peek(name) => {
                    let bytes = name.as_bytes();
                    let idle = engine.object_idletime(0, bytes, now_ms);
                    assert!(idle > Some(0), "{name} must be idle for the check to tell");
                    assert_eq!(engine.exists(0, &[key(name)], now_ms), 1);
                    assert_ne!(engine.key_type(0, bytes, now_ms), "none");
                    engine.ttl(0, bytes, now_ms, false, false);
                    engine.ttl(0, bytes, now_ms, true, true);
                    assert!(engine.object_encoding(0, bytes, now_ms).is_some());
                    assert!(engine.object_refcount(0, bytes, now_ms).is_some());
                    assert!(engine.memory_usage(0, bytes, now_ms).is_some());
                    assert!(engine.contains(0, bytes, now_ms));
                    let stamp = engine.watch_stamp(0, bytes, now_ms);
                    assert_eq!(
                        engine.object_idletime(0, bytes, now_ms),
                        idle,
                        "a NOTOUCH lookup of {name} was an access"
                    );
                    // An access changes the access time, never the stamp.
                    engine.get(0, bytes, now_ms, &mut Drop);
                    assert_eq!(engine.object_idletime(0, bytes, now_ms), Some(0));
                    assert_eq!(
                        engine.watch_stamp(0, bytes, now_ms),
                        stamp,
                        "an access changed {name}'s WATCH stamp"
                    );
                }
                Step::RestoreIdle(name, idle_s) => {
                    let op = WriteOp::Restore {
                        key: key(name),
                        value: DumpValue::Str(Bytes::from_static(b"r")),
                        ttl_ms: 0,
                        absolute: false,
                        replace: true,
                        idle_s: Some(idle_s),
                    };
                    engine.apply(0, &op, now_ms);
                }
                Step::Freeze => drop(engine.freeze()),
                Step::Snapshot => {
                    let frozen = engine.freeze();
                    let path = dir.path().join(format!("run-{runs}"));
                    runs += 1;
                    frozen.write_run(&path, b"").expect("write run");
                    let run = Run::open(&path).expect("open run");
                    assert!(engine.adopt_run(&frozen, &run) > 0, "nothing adopted");
                }
                Step::Idle(name, expected) => {
                    let used = engine.stats().used_memory_bytes;
                    let idle = engine.object_idletime(0, name.as_bytes(), now_ms);
                    assert_eq!(idle, expected, "OBJECT IDLETIME {name} at {at_s} s");
                    assert_eq!(
                        engine.object_idletime(0, name.as_bytes(), now_ms),
                        expected,
                        "OBJECT IDLETIME is not an access"
                    );
                    assert_eq!(engine.stats().used_memory_bytes, used, "a copy-up");
                }
            }
            engine.check_invariants();
        }
    }

    #[test]
    fn idle_times_follow_writes_and_reads() {
        use Step::*;
        run_script(&[
            (0, Idle("a", None)),
            (0, Write("a")),
            (0, Write("b")),
            (0, Idle("a", Some(0))),
            (5, Idle("a", Some(5))),
            (5, Read("a")),
            (5, Idle("a", Some(0))),
            (7, Idle("a", Some(2))),
            (8, Touch("a")),
            (9, Idle("a", Some(1))),
            (9, Write("a")),
            (9, Idle("a", Some(0))),
            (9, Idle("b", Some(9))),
            // A write of another key leaves b alone; RESTORE sets the idle
            // time it is given, and a later read resets it.
            (10, RestoreIdle("r", 1000)),
            (10, Idle("r", Some(1000))),
            (12, Idle("r", Some(1002))),
            (12, Read("r")),
            (12, Idle("r", Some(0))),
            // An expiring key is idle until it expires, then missing.
            (20, Write("x")),
            (50, Idle("x", Some(30))),
            (120, Idle("x", None)),
        ]);
    }

    #[test]
    fn lookups_without_touch_leave_the_idle_time() {
        use Step::*;
        run_script(&[
            (0, Write("a")),
            (0, Write("b")),
            (6, Peek("b")),
            (6, Idle("a", Some(6))),
            (6, Idle("b", Some(0))),
            (9, Write("x1")),
            (11, Peek("x1")),
        ]);
    }

    #[test]
    fn frozen_and_run_keys_keep_true_idle_times() {
        use Step::*;
        run_script(&[
            (0, Write("a")),
            (0, Write("b")),
            (0, Write("c")),
            (2, Read("a")),
            (3, Freeze),
            // In a frozen head: reads and TOUCH set the time in place.
            (4, Idle("a", Some(2))),
            (4, Idle("b", Some(4))),
            (5, Read("b")),
            (6, Idle("b", Some(1))),
            (7, Snapshot),
            // Adopted into the run: the times carry over, reads of the
            // frozen head's keys included.
            (8, Idle("a", Some(6))),
            (8, Idle("b", Some(3))),
            (8, Idle("c", Some(8))),
            (9, Read("c")),
            (10, Touch("a")),
            (11, Idle("c", Some(2))),
            (11, Idle("a", Some(1))),
            (11, Peek("b")),
            // A write copies b up into the head, accessed now.
            (12, Write("b")),
            (13, Idle("b", Some(1))),
            // A second run carries the first run's times over.
            (14, Snapshot),
            (15, Idle("a", Some(5))),
            (15, Idle("b", Some(3))),
            (15, Idle("c", Some(6))),
            (15, Freeze),
            (16, Idle("c", Some(7))),
            (16, Read("c")),
            (17, Snapshot),
            (17, Idle("c", Some(1))),
            (17, Idle("missing", None)),
        ]);
    }

    #[test]
    fn strings_are_encoded_as_redis_stores_them() {
        let cases: &[(&[u8], &str)] = &[
            (b"0", "int"),
            (b"-12345", "int"),
            (b"9223372036854775807", "int"),
            (b"9223372036854775808", "embstr"),
            (b"007", "embstr"),
            (b"", "embstr"),
            (&[b'x'; 44], "embstr"),
            (&[b'x'; 45], "raw"),
        ];
        for (bytes, encoding) in cases {
            assert_eq!(string_encoding(bytes), *encoding, "{bytes:?}");
        }
    }
}
