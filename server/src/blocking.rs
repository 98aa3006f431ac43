//! Clients blocked by BLPOP, BRPOP, BLMOVE, BRPOPLPUSH, BLMPOP, BZPOPMIN,
//! BZPOPMAX and BZMPOP, and how applied writes wake them.
//!
//! A blocking command is proposed at once as its non-blocking form (a pop
//! from the first non-empty key). If that finds every key empty (a nil
//! reply), its connection does not answer: it waits, registered here on
//! its keys, until a write applied on this node may have filled one of
//! them, and then proposes the pop again; or until its timeout, when it
//! answers a null array. A pop is only ever decided at apply, so every
//! node pops the same element, and a woken client that loses the race to
//! another simply waits again.
//!
//! Invariants:
//! - A connection is registered from the moment its blocking command is
//!   first proposed until the command is answered or the connection
//!   closes, so no write that applies in between goes unnoticed: a wake
//!   that arrives while a pop is in flight makes the connection try again
//!   as soon as that pop comes back empty.
//! - Wakes are hints: a spurious one costs one proposal that pops nothing.
//! - When nobody is blocked, apply pays one atomic load per write.

use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use parking_lot::Mutex;
use redraft_engine::{ListOp, WriteOp, ZSetOp};
use rustc_hash::FxHashMap;

use crate::pubsub::Subscriber;
use crate::route::{Delivery, Inbox};

/// Every blocked connection of this node, by the keys it waits on.
#[derive(Default)]
pub struct Blocking {
    /// Registrations (connection, key) in `waiters`.
    registered: AtomicUsize,
    /// Connections blocked (`blocked_clients` in INFO).
    clients: AtomicUsize,
    /// (database, key) → the connections blocked on it.
    waiters: Mutex<FxHashMap<(u8, Bytes), Vec<Subscriber>>>,
}

impl Blocking {
    /// Registers `who` as blocked on `keys` of `db`.
    pub fn register(&self, who: Subscriber, db: u8, keys: &[Bytes]) {
        self.clients.fetch_add(1, Ordering::Relaxed);
        let mut waiters = self.waiters.lock();
        for key in keys {
            let list = waiters.entry((db, key.clone())).or_default();
            if !list.contains(&who) {
                list.push(who);
                self.registered.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Forgets `who`'s registrations on `keys` of `db` (one `register`).
    pub fn unregister(&self, who: Subscriber, db: u8, keys: &[Bytes]) {
        self.clients.fetch_sub(1, Ordering::Relaxed);
        let mut waiters = self.waiters.lock();
        for key in keys {
            let map_key = (db, key.clone());
            if let Some(list) = waiters.get_mut(&map_key) {
                let before = list.len();
                list.retain(|waiter| *waiter != who);
                self.registered
                    .fetch_sub(before - list.len(), Ordering::Relaxed);
                if list.is_empty() {
                    waiters.remove(&map_key);
                }
            }
        }
    }

    /// Connections blocked now.
    pub fn clients(&self) -> usize {
        self.clients.load(Ordering::Relaxed)
    }

    /// Registrations now, counted per key.
    pub fn registered(&self) -> usize {
        self.registered.load(Ordering::Relaxed)
    }

    /// Called by apply after `op` was applied on `db`: wakes whoever is
    /// blocked on a key the write may have made a non-empty list or
    /// sorted set.
    pub fn applied(&self, db: usize, op: &WriteOp, inboxes: &[Inbox]) {
        if self.registered() == 0 {
            return;
        }
        let mut woken = Vec::new();
        {
            let waiters = self.waiters.lock();
            let mut wake_key = |db: usize, key: &Bytes| {
                if let Some(list) = waiters.get(&(db as u8, key.clone())) {
                    woken.extend_from_slice(list);
                }
            };
            match filled(op) {
                Filled::Nothing => {}
                Filled::Key(key) => wake_key(db, key),
                Filled::KeyIn(to_db, key) => wake_key(to_db, key),
                Filled::Databases(a, b) => {
                    for ((key_db, _), list) in waiters.iter() {
                        if usize::from(*key_db) == a || usize::from(*key_db) == b {
                            woken.extend_from_slice(list);
                        }
                    }
                }
            }
        }
        woken.sort_unstable_by_key(|who| (who.executor, who.conn, who.client_id));
        woken.dedup();
        for who in woken {
            if let Some(inbox) = inboxes.get(usize::from(who.executor)) {
                inbox.push([Delivery::Wake { to: who }]);
            }
        }
    }
}

/// Where a write may have put a list or sorted set.
enum Filled<'a> {
    Nothing,
    /// This key of the write's database.
    Key(&'a Bytes),
    /// This key of another database.
    KeyIn(usize, &'a Bytes),
    /// Any key of these two databases (SWAPDB).
    Databases(usize, usize),
}

/// The keys `op` can leave holding a non-empty list or sorted set.
fn filled(op: &WriteOp) -> Filled<'_> {
    match op {
        WriteOp::Lists(ListOp::Push { key, .. }) => Filled::Key(key),
        WriteOp::Lists(ListOp::Move { to, .. }) => Filled::Key(to),
        WriteOp::ZSets(ZSetOp::Add { key, .. }) => Filled::Key(key),
        WriteOp::ZSets(ZSetOp::RangeStore { dst, .. } | ZSetOp::Store { dst, .. }) => {
            Filled::Key(dst)
        }
        WriteOp::Rename { to, .. } => Filled::Key(to),
        WriteOp::Copy { to, to_db, .. } => Filled::KeyIn(*to_db, to),
        WriteOp::Move { key, to_db } => Filled::KeyIn(*to_db, key),
        WriteOp::SwapDb { a, b } => Filled::Databases(*a, *b),
        WriteOp::SortStore { dst, .. } => Filled::Key(dst),
        WriteOp::Restore { key, .. } => Filled::Key(key),
        _ => Filled::Nothing,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn who(conn: u32) -> Subscriber {
        Subscriber::on_thread_0(conn)
    }

    fn keys(names: &[&str]) -> Vec<Bytes> {
        names
            .iter()
            .map(|name| Bytes::copy_from_slice(name.as_bytes()))
            .collect()
    }

    fn woken(blocking: &Blocking, db: usize, op: &WriteOp) -> Vec<u32> {
        let inboxes = [Inbox::default()];
        blocking.applied(db, op, &inboxes);
        let mut deliveries = Vec::new();
        inboxes[0].take(&mut deliveries);
        deliveries
            .into_iter()
            .map(|delivery| match delivery {
                Delivery::Wake { to } => to.conn,
                other => panic!("unexpected {other:?}"),
            })
            .collect()
    }

    fn push(key: &str) -> WriteOp {
        WriteOp::Lists(ListOp::Push {
            key: Bytes::copy_from_slice(key.as_bytes()),
            items: keys(&["x"]),
            left: true,
            only_if_exists: false,
        })
    }

    #[test]
    fn writes_wake_the_clients_blocked_on_their_keys() {
        let blocking = Blocking::default();
        blocking.register(who(1), 0, &keys(&["a", "b"]));
        blocking.register(who(2), 0, &keys(&["b"]));
        blocking.register(who(3), 1, &keys(&["a"]));
        assert_eq!(blocking.registered(), 4);
        assert_eq!(blocking.clients(), 3);
        assert_eq!(woken(&blocking, 0, &push("a")), [1]);
        assert_eq!(woken(&blocking, 0, &push("b")), [1, 2]);
        assert_eq!(woken(&blocking, 1, &push("a")), [3]);
        assert_eq!(woken(&blocking, 0, &push("c")), Vec::<u32>::new());
        let moved = WriteOp::Move {
            key: Bytes::from_static(b"a"),
            to_db: 1,
        };
        assert_eq!(woken(&blocking, 0, &moved), [3]);
        assert_eq!(woken(&blocking, 5, &WriteOp::SwapDb { a: 0, b: 7 }), [1, 2]);
        let del = WriteOp::Del { keys: keys(&["a"]) };
        assert_eq!(woken(&blocking, 0, &del), Vec::<u32>::new());
        blocking.unregister(who(1), 0, &keys(&["a", "b"]));
        assert_eq!(woken(&blocking, 0, &push("b")), [2]);
        blocking.unregister(who(2), 0, &keys(&["b"]));
        blocking.unregister(who(3), 1, &keys(&["a"]));
        assert_eq!(blocking.registered(), 0);
        assert_eq!(blocking.clients(), 0);
        assert!(blocking.waiters.lock().is_empty());
    }
}
