//! Clients blocked by BLPOP, BRPOP, BLMOVE, BRPOPLPUSH, BLMPOP, BZPOPMIN,
//! BZPOPMAX, BZMPOP and XREAD BLOCK, as replicated state, and how apply
//! serves them. A blocked XREAD waits with its `$` positions fixed when it
//! blocked ([`StreamOp::for_waiting`]); an `XADD` to one of its streams
//! serves it that stream's new entries, and a read that finds nothing
//! after its position (the stream was replaced) leaves it waiting.
//!
//! Redis serves a blocked client right after the command (or the whole
//! `EXEC`) that made one of its keys ready, before any other command runs:
//! keys in the order they became ready, each against its final state, and
//! a `BLMOVE` that pushes onto a key another client waits on serves that
//! client too, in the same pass. For every node of a Raft group to pop the
//! same elements for the same clients, the waiters are part of the state
//! machine: a blocking command that finds nothing registers a waiter at
//! apply ([`Blocked::block`]), each later write's filled keys are served at
//! apply ([`Blocked::serve`]), and a waiter ends at apply too: served, or
//! unblocked by an entry its node proposes when the client's timeout
//! passes or it disconnects ([`Blocked::unblock`]), or dropped when a new
//! term begins ([`Blocked::enter_term`]). Only the node whose run proposed
//! the blocking command answers its client; the others apply the same pops
//! and drop the replies.
//!
//! Why a new term drops every waiter: waiters are registered by the
//! leader's connections, and only the leader can propose their timeouts
//! and disconnections. Once an entry of a later term applies, the node
//! that registered them no longer leads, so its waiters could never time
//! out. Redis answers blocked clients of a primary that turns replica the
//! same way (`-UNBLOCKED`, and closes the connection).
//!
//! Invariants:
//! - A waiter is registered on each of its keys, in registration order
//!   (FIFO per key, as Redis serves them), and is in `waiters` exactly as
//!   long as it is in the lists of its keys.
//! - Every decision depends only on the entries applied (their ops, order,
//!   time and term), never on node-local state, so every node registers,
//!   serves and drops the same waiters, and a snapshot carries them.
//! - A waiter is served at most once: serving removes it.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::key::KeyRef;
use crate::{Engine, ListOp, Reply, StreamOp, WriteOp, ZSetOp};

/// A blocked command: which run of which node proposed it (its `origin`),
/// and its client and write sequence number there. Unique in a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct WaiterId {
    pub origin: u64,
    pub client_id: u64,
    pub seq: u64,
}

/// One blocked command.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Waiter {
    db: usize,
    keys: Vec<Bytes>,
    /// The pop to run on a ready key (its keys are replaced by that key).
    pop: WriteOp,
}

/// How a waiter's wait ended, with the reply its client gets.
#[derive(Debug, Clone, PartialEq)]
pub struct Ended {
    pub id: WaiterId,
    pub reply: Reply,
}

/// Every waiter of the group (see the module docs).
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
pub struct Blocked {
    /// The term of the latest entry applied.
    term: u64,
    /// Every waiter, by id.
    waiters: BTreeMap<WaiterId, Waiter>,
    /// (database, key) → its waiters, in the order they blocked.
    by_key: BTreeMap<(usize, Bytes), VecDeque<WaiterId>>,
}

/// Redis's reply to a client blocked on a primary that turned replica.
pub const UNBLOCKED_ERROR: &str =
    "UNBLOCKED force unblock from blocking operation, instance state changed (master -> replica?)";

impl Blocked {
    /// No client waits.
    pub fn is_empty(&self) -> bool {
        self.waiters.is_empty()
    }

    /// Waiters registered.
    pub fn len(&self) -> usize {
        self.waiters.len()
    }

    /// Called before each entry is applied with its term: a later term
    /// ends every waiter (see the module docs) with `-UNBLOCKED`.
    pub fn enter_term(&mut self, term: u64) -> Vec<Ended> {
        assert!(
            term >= self.term,
            "terms never go back ({term} < {})",
            self.term
        );
        if term == self.term {
            return Vec::new();
        }
        self.term = term;
        let dropped = std::mem::take(&mut self.waiters);
        self.by_key.clear();
        dropped
            .into_keys()
            .map(|id| Ended {
                id,
                reply: Reply::Error(crate::Error::Other(UNBLOCKED_ERROR)),
            })
            .collect()
    }

    /// Registers `id` as waiting on `keys` of `db` to run `pop` (a pop that
    /// found every key empty).
    pub fn block(&mut self, id: WaiterId, db: usize, keys: &[Bytes], pop: &WriteOp) {
        assert!(pop_kind(pop).is_some(), "not a blocking pop: {pop:?}");
        assert!(!self.waiters.contains_key(&id), "{id:?} blocked twice");
        let mut distinct = BTreeSet::new();
        for key in keys {
            if distinct.insert(key) {
                self.by_key
                    .entry((db, key.clone()))
                    .or_default()
                    .push_back(id);
            }
        }
        let waiter = Waiter {
            db,
            keys: distinct.into_iter().cloned().collect(),
            pop: pop.clone(),
        };
        self.waiters.insert(id, waiter);
    }

    /// Ends waiter `id` if it still waits (its timeout passed, or its
    /// client left): the client gets a null array, as on a timeout.
    pub fn unblock(&mut self, id: WaiterId) -> Option<Ended> {
        self.remove(id)?;
        Some(Ended {
            id,
            reply: Reply::NilArray,
        })
    }

    fn remove(&mut self, id: WaiterId) -> Option<Waiter> {
        let waiter = self.waiters.remove(&id)?;
        for key in &waiter.keys {
            let map_key = (waiter.db, key.clone());
            let list = self
                .by_key
                .get_mut(&map_key)
                .expect("a waiter is listed on each of its keys");
            list.retain(|other| *other != id);
            if list.is_empty() {
                self.by_key.remove(&map_key);
            }
        }
        Some(waiter)
    }

    /// Whether anyone waits on `key` of `db`.
    pub fn waits_on(&self, db: usize, key: &[u8]) -> bool {
        !self.is_empty() && self.by_key.contains_key(&(db, Bytes::copy_from_slice(key)))
    }

    /// Appends to `ready` the keys, with waiters, that `op` applied on `db`
    /// may have made hold a list or sorted set (Redis's
    /// `signalKeyAsReady`), in the order the op fills them.
    pub fn ready_after(&self, db: usize, op: &WriteOp, ready: &mut Vec<(usize, Bytes)>) {
        if self.is_empty() {
            return;
        }
        let mut add = |db: usize, key: &Bytes| {
            if self.by_key.contains_key(&(db, key.clone())) {
                ready.push((db, key.clone()));
            }
        };
        match op {
            WriteOp::Lists(ListOp::Push { key, .. }) => add(db, key),
            WriteOp::Lists(ListOp::Move { to, .. }) => add(db, to),
            WriteOp::ZSets(ZSetOp::Add { key, .. }) => add(db, key),
            WriteOp::ZSets(ZSetOp::RangeStore { dst, .. } | ZSetOp::Store { dst, .. }) => {
                add(db, dst)
            }
            WriteOp::Rename { to, .. } => add(db, to),
            WriteOp::Copy { to, to_db, .. } => add(*to_db, to),
            WriteOp::Move { key, to_db } => add(*to_db, key),
            WriteOp::SortStore { dst, .. } | WriteOp::GeoStore { dst, .. } => add(db, dst),
            WriteOp::Restore { key, .. } => add(db, key),
            WriteOp::Streams(StreamOp::Add { key, .. }) => add(db, key),
            // Redis scans both databases' blocked keys.
            WriteOp::SwapDb { a, b } => ready.extend(
                self.by_key
                    .keys()
                    .filter(|(key_db, _)| key_db == a || key_db == b)
                    .cloned(),
            ),
            _ => {}
        }
    }

    /// Serves the waiters on `ready` keys (Redis's
    /// `handleClientsBlockedOnKeys`): keys in order, each key's waiters in
    /// the order they blocked, while the key holds a value of the type they
    /// pop. A served pop can make another key ready (BLMOVE); that key is
    /// served in the same pass. Returns the waiters served, in order, with
    /// their replies.
    pub fn serve(
        &mut self,
        engine: &Engine,
        ready: Vec<(usize, Bytes)>,
        now_ms: u64,
    ) -> Vec<Ended> {
        let mut served = Vec::new();
        let mut queue = ReadyQueue::default();
        for key in ready {
            queue.signal(key);
        }
        let mut filled = Vec::new();
        while let Some(ready_key) = queue.next() {
            let (db, key) = &ready_key;
            let Some(waiting) = self.by_key.get(&ready_key) else {
                continue;
            };
            let waiting: Vec<WaiterId> = waiting.iter().copied().collect();
            for id in waiting {
                let Some(kind) = value_kind(engine, *db, key, now_ms) else {
                    break; // missing, or emptied by the last pop
                };
                let pop = &self.waiters[&id].pop;
                if pop_kind(pop) != Some(kind) {
                    continue;
                }
                let pop = pop_from(pop, key);
                let reply = engine.apply(*db, &pop, now_ms);
                if kind == Kind::Stream && reply == Reply::NilArray {
                    continue; // nothing after its position: it waits on
                }
                self.remove(id);
                self.ready_after(*db, &pop, &mut filled);
                for key in filled.drain(..) {
                    queue.signal(key);
                }
                served.push(Ended { id, reply });
            }
        }
        served
    }
}

/// Keys to serve, in the order they became ready, each queued at most
/// once until it is taken (Redis's `ready_keys` list and dict).
#[derive(Default)]
struct ReadyQueue {
    queue: VecDeque<(usize, Bytes)>,
    queued: BTreeSet<(usize, Bytes)>,
}

impl ReadyQueue {
    fn signal(&mut self, key: (usize, Bytes)) {
        if self.queued.insert(key.clone()) {
            self.queue.push_back(key);
        }
    }

    /// The next key; it may be signalled again from now on.
    fn next(&mut self) -> Option<(usize, Bytes)> {
        let key = self.queue.pop_front()?;
        self.queued.remove(&key);
        Some(key)
    }
}

/// What a blocking pop takes from a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    List,
    ZSet,
    Stream,
}

/// The type of value `pop` pops, if it is a blocking command's pop.
fn pop_kind(pop: &WriteOp) -> Option<Kind> {
    match pop {
        WriteOp::Lists(ListOp::PopFirst { .. } | ListOp::MPop { .. } | ListOp::Move { .. }) => {
            Some(Kind::List)
        }
        WriteOp::ZSets(ZSetOp::PopFirst { .. } | ZSetOp::MPop { .. }) => Some(Kind::ZSet),
        WriteOp::Streams(StreamOp::Read { .. }) => Some(Kind::Stream),
        _ => None,
    }
}

/// The type of the live value at `key`, if it is one a pop takes. Not an
/// access, and not counted as a lookup (apply must not move node-local
/// statistics it does not own).
fn value_kind(engine: &Engine, db: usize, key: &[u8], now_ms: u64) -> Option<Kind> {
    let key = KeyRef::new(key);
    let shard = engine.slot_of(db, key).shard.lock();
    match shard.peek_live(key, now_ms)?.value.type_name() {
        "list" => Some(Kind::List),
        "zset" => Some(Kind::ZSet),
        "stream" => Some(Kind::Stream),
        _ => None,
    }
}

/// `pop` restricted to the one ready `key`.
fn pop_from(pop: &WriteOp, key: &Bytes) -> WriteOp {
    let keys = vec![key.clone()];
    match pop {
        WriteOp::Lists(ListOp::PopFirst { left, .. }) => {
            WriteOp::Lists(ListOp::PopFirst { keys, left: *left })
        }
        WriteOp::Lists(ListOp::MPop { left, count, .. }) => WriteOp::Lists(ListOp::MPop {
            keys,
            left: *left,
            count: *count,
        }),
        WriteOp::Lists(ListOp::Move { from, .. }) => {
            assert_eq!(from, key, "a BLMOVE waits on its source only");
            pop.clone()
        }
        WriteOp::ZSets(ZSetOp::PopFirst { max, .. }) => {
            WriteOp::ZSets(ZSetOp::PopFirst { keys, max: *max })
        }
        WriteOp::ZSets(ZSetOp::MPop { max, count, .. }) => WriteOp::ZSets(ZSetOp::MPop {
            keys,
            max: *max,
            count: *count,
        }),
        WriteOp::Streams(read) => WriteOp::Streams(read.read_only(key)),
        other => unreachable!("not a blocking pop: {other:?}"),
    }
}
