//! Scripts at apply: what an `EVAL`/`EVALSHA` carries through the log
//! ([`ScriptCall`]), the replicated script cache ([`ScriptCache`]), and
//! the hook through which apply runs a script ([`ScriptRunner`]).
//!
//! The Lua interpreter itself lives above apply (`crate::script`), because
//! a script's `redis.call` parses its command with the connection's
//! parsers (`crate::cmd::parse`); the state machine hands apply a
//! [`ScriptRunner`] the node built, as it hands it the isolation. What the
//! runner may touch is what apply may: the engine, the entry's time, the
//! call (body, keys, arguments, seed).
//!
//! Invariants:
//! - The cache is replicated state: it changes only at apply (`SCRIPT
//!   LOAD`, an `EVAL`'s body, `SCRIPT FLUSH`), and snapshots carry it, so
//!   every node holds the same scripts after the same entries.
//! - An `EVALSHA` names its script by SHA1 only: the body is the cache's
//!   at apply, so a script flushed before the entry applies replies
//!   `NOSCRIPT` on every node alike.
//! - A script's reply, error or not, is an outcome: a script never fails
//!   apply.

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use parking_lot::RwLock;
use redraft_engine::{Engine, WriteOp};
use serde::{Deserialize, Serialize};

/// The most Lua instructions a script runs before it stops with an error
/// (the same on every node, so every node stops it at the same point).
pub const SCRIPT_INSTRUCTIONS_MAX: u64 = 200_000_000;

/// The most memory (bytes) a script's Lua state may allocate; past it an
/// allocation fails with Lua's "not enough memory" error, at the same
/// point on every node (allocation is deterministic for one build).
pub const SCRIPT_MEMORY_MAX: usize = 512 << 20;

/// Redis's reply when `EVALSHA` names a script the cache lacks.
pub const NOSCRIPT_ERROR: &str = "NOSCRIPT No matching script. Please use EVAL.";

/// Which script an entry runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Source {
    /// `EVAL`: the body, cached at apply under its SHA1.
    Body(Bytes),
    /// `EVALSHA`: the SHA1 (40 lower-case hex digits) of a cached body.
    Sha(String),
}

/// One `EVAL` or `EVALSHA` as it travels in a Raft entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScriptCall {
    pub source: Source,
    /// `KEYS` inside the script.
    pub keys: Vec<Bytes>,
    /// `ARGV` inside the script.
    pub args: Vec<Bytes>,
    /// The calling connection speaks RESP3 (the reply's encoding).
    pub resp3: bool,
    /// Seeds `math.random` and the commands that pick at random, drawn
    /// on the connection's node so every node draws the same.
    pub seed: u64,
    /// `EVAL_RO`/`EVALSHA_RO` (run at apply inside a transaction): refuse
    /// writes.
    pub read_only: bool,
}

/// What a runner gets to run one script.
pub struct ScriptRun<'a> {
    pub engine: &'a Engine,
    /// The calling connection's database (`SELECT` inside the script
    /// changes only the script's own).
    pub db: usize,
    pub body: &'a [u8],
    pub call: &'a ScriptCall,
    /// The entry's time (Unix ms): `TIME` and expiry inside the script.
    pub now_ms: u64,
    /// Refuse writes (`EVAL_RO`, `no-writes`): set for a script run on
    /// the connection's node as a read.
    pub read_only: bool,
    /// Sees every write the script applies.
    pub on_write: &'a mut dyn FnMut(usize, &WriteOp),
    /// Stop the script after this many Lua instructions.
    pub instructions_max: u64,
    /// Fail the script's allocations past this many bytes.
    pub memory_max: usize,
}

/// Runs a script and returns its reply, encoded for the call's protocol.
pub type ScriptRunner = Arc<dyn Fn(&mut ScriptRun<'_>) -> Bytes + Send + Sync>;

/// Runs `call` at apply on database `db` at `now_ms` (the caller isolates
/// it from readers): an `EVAL`'s body joins the cache first (connections
/// propose only bodies that compile, as Redis caches only those), an
/// `EVALSHA` takes its body from the cache or replies `NOSCRIPT`. Returns
/// the reply, encoded for the call's protocol.
pub fn run_at_apply(
    scripts: &ScriptCache,
    runner: Option<&ScriptRunner>,
    engine: &Engine,
    db: usize,
    call: &ScriptCall,
    now_ms: u64,
    on_write: &mut dyn FnMut(usize, &WriteOp),
) -> Bytes {
    let body = match &call.source {
        Source::Body(body) => {
            scripts.insert(body.clone());
            body.clone()
        }
        Source::Sha(sha) => match scripts.get(sha) {
            Some(body) => body,
            None => return error_line(NOSCRIPT_ERROR),
        },
    };
    let Some(runner) = runner else {
        return error_line("ERR scripting is not available on this node");
    };
    runner(&mut ScriptRun {
        engine,
        db,
        body: &body,
        call,
        now_ms,
        read_only: call.read_only,
        on_write,
        instructions_max: SCRIPT_INSTRUCTIONS_MAX,
        memory_max: SCRIPT_MEMORY_MAX,
    })
}

/// `text` as an encoded error reply.
fn error_line(text: &str) -> Bytes {
    Bytes::from(format!("-{text}\r\n"))
}

/// The SHA1 of `body` in lower-case hex, as Redis names scripts.
pub fn sha1_hex(body: &[u8]) -> String {
    sha1_smol::Sha1::from(body).digest().to_string()
}

/// The replicated script cache: SHA1 -> body. Shared by the state machine
/// (which changes it at apply) and the connections (`SCRIPT EXISTS`).
#[derive(Debug, Default)]
pub struct ScriptCache {
    scripts: RwLock<BTreeMap<String, Bytes>>,
}

impl ScriptCache {
    pub fn get(&self, sha: &str) -> Option<Bytes> {
        self.scripts.read().get(sha).cloned()
    }

    pub fn contains(&self, sha: &str) -> bool {
        self.scripts.read().contains_key(sha)
    }

    /// Caches `body`; returns its SHA1.
    pub fn insert(&self, body: Bytes) -> String {
        let sha = sha1_hex(&body);
        self.scripts.write().entry(sha.clone()).or_insert(body);
        sha
    }

    pub fn clear(&self) {
        self.scripts.write().clear();
    }

    pub fn len(&self) -> usize {
        self.scripts.read().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every body, for a snapshot, in SHA order.
    pub fn bodies(&self) -> Vec<Bytes> {
        self.scripts.read().values().cloned().collect()
    }

    /// Replaces the whole cache with `bodies` (a snapshot's).
    pub fn replace(&self, bodies: Vec<Bytes>) {
        let map = bodies
            .into_iter()
            .map(|body| (sha1_hex(&body), body))
            .collect();
        *self.scripts.write() = map;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha1_matches_redis() {
        // redis-cli SCRIPT LOAD "return 1"
        assert_eq!(
            sha1_hex(b"return 1"),
            "e0e1f9fabfc9d4800c877a703b823ac0578ff8db"
        );
    }

    #[test]
    fn cache_round_trips_through_bodies() {
        let cache = ScriptCache::default();
        let sha = cache.insert(Bytes::from_static(b"return 1"));
        let copy = ScriptCache::default();
        copy.replace(cache.bodies());
        assert!(copy.contains(&sha));
        copy.clear();
        assert!(copy.is_empty());
    }
}
