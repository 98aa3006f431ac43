//! How work crosses between the network threads and the Raft thread.
//!
//! A network thread gathers the writes its connections issue during one
//! event-loop tick into one [`ToRaft::Writes`] batch and sends it to the
//! proposer (a crossbeam channel plus a tokio `Notify`). Each write carries
//! a [`Route`] naming the connection waiting for it. When the entry holding
//! the write is applied (or fails), the Raft thread pushes a [`Delivery`]
//! into the network thread's [`Inbox`] and wakes its poller.
//!
//! Invariants:
//! - A network thread's deliveries are taken in the order they were pushed.
//!   For one connection, writes are proposed in order, entries apply in log
//!   order, and the connection re-orders by `seq` anything that still
//!   arrives early (a failed entry reported after a later applied one).
//! - A route names a connection by slab slot and client id, so a reply for a
//!   connection that has closed (and whose slot was reused) is dropped.

use std::sync::OnceLock;

use bytes::Bytes;
use parking_lot::Mutex;

pub use crate::apply::{Op, Outcome};

/// Where a write's reply goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    /// The network thread (executor) that owns the connection.
    pub executor: u16,
    /// The hash slot of the command's first key, for `-MOVED`.
    pub slot: u16,
    /// The connection's slot in its executor's slab.
    pub conn: u32,
    /// The connection's client id (CLIENT ID), to tell reused slots apart.
    pub client_id: u64,
    /// The write's sequence number on its connection, from 0.
    pub seq: u64,
}

/// One validated write on its way to the proposer.
#[derive(Debug)]
pub struct Proposal {
    /// Who waits for the reply; `None` for the server's own writes (active
    /// expiry), whose replies are dropped.
    pub route: Option<Route>,
    pub db: u8,
    pub op: Op,
    /// The command's size on the wire, to bound an entry's bytes.
    pub bytes: u32,
}

/// A message to the Raft thread.
#[derive(Debug)]
pub enum ToRaft {
    /// Writes to propose, in order.
    Writes(Vec<Proposal>),
    /// A linearizable-read check for every read the executor queued up to
    /// `ticket`.
    ReadIndex { executor: u16, ticket: u64 },
}

/// A subscribed connection: its network thread, its slot there and its
/// client id (to tell a reused slot apart).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Subscriber {
    pub executor: u16,
    pub conn: u32,
    pub client_id: u64,
}

impl Subscriber {
    /// A connection of network thread 0 in slab slot `conn`, with a
    /// client id derived from it: for tests.
    #[cfg(test)]
    pub fn on_thread_0(conn: u32) -> Subscriber {
        Subscriber {
            executor: 0,
            conn,
            client_id: u64::from(conn) + 100,
        }
    }
}

/// One published message on its way to a subscriber.
#[derive(Debug, Clone)]
pub struct Message {
    /// The pattern that matched, for a `pmessage`; `None` for a `message`
    /// or an `smessage`.
    pub pattern: Option<Bytes>,
    /// Published to a shard channel (`SPUBLISH`): an `smessage`.
    pub shard: bool,
    pub channel: Bytes,
    pub payload: Bytes,
}

/// One item for a network thread.
#[derive(Debug)]
pub enum Delivery {
    /// A write's outcome for the connection in `route`.
    Write { route: Route, outcome: Outcome },
    /// The read check for `ticket` (and every earlier one) is done:
    /// `leader` if this node was confirmed leader and has applied up to the
    /// read index, so the reads may run; otherwise they are redirected.
    ReadIndex { ticket: u64, leader: bool },
    /// A published message for a subscribed connection.
    Message { to: Subscriber, message: Message },
    /// A MONITOR line for a monitoring connection (`diag::monitor`).
    Monitor { to: Subscriber, line: Bytes },
}

/// A network thread's mailbox: a queue and the waker of its poller.
#[derive(Default)]
pub struct Inbox {
    queue: Mutex<Vec<Delivery>>,
    /// Set once by the network thread when its poller exists.
    waker: OnceLock<mio::Waker>,
}

impl Inbox {
    /// Installs the poller's waker; called once by the owning thread.
    pub fn set_waker(&self, waker: mio::Waker) {
        assert!(self.waker.set(waker).is_ok(), "inbox waker set twice");
    }

    /// Queues deliveries and wakes the owning thread if the queue was
    /// empty (a non-empty queue has a wake-up pending already).
    pub fn push(&self, deliveries: impl IntoIterator<Item = Delivery>) {
        let was_empty = {
            let mut queue = self.queue.lock();
            let was_empty = queue.is_empty();
            queue.extend(deliveries);
            was_empty && !queue.is_empty()
        };
        if was_empty {
            if let Some(waker) = self.waker.get() {
                if let Err(error) = waker.wake() {
                    tracing::error!(%error, "cannot wake a network thread");
                }
            }
        }
    }

    /// Moves every queued delivery into `into` (which should be empty),
    /// keeping their order.
    pub fn take(&self, into: &mut Vec<Delivery>) {
        std::mem::swap(&mut *self.queue.lock(), into);
    }
}

/// Redis Cluster's hash slot of `key` (CRC16/XMODEM of the key, or of its
/// `{hash tag}` when it has a non-empty one, modulo 16384).
pub fn key_slot(key: &[u8]) -> u16 {
    let key = match memchr::memchr(b'{', key) {
        Some(open) => match memchr::memchr(b'}', &key[open + 1..]) {
            Some(len) if len > 0 => &key[open + 1..open + 1 + len],
            _ => key,
        },
        None => key,
    };
    crc16_xmodem(key) & 0x3fff
}

/// CRC16/XMODEM (polynomial 0x1021, initial 0), a byte at a time.
fn crc16_xmodem(bytes: &[u8]) -> u16 {
    bytes.iter().fold(0u16, |crc, &byte| {
        (crc << 8) ^ CRC16_TABLE[usize::from((crc >> 8) as u8 ^ byte)]
    })
}

/// CRC16/XMODEM of every byte value, built at compile time.
const CRC16_TABLE: [u16; 256] = {
    let mut table = [0u16; 256];
    let mut byte = 0;
    while byte < 256 {
        let mut crc = (byte as u16) << 8;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
            bit += 1;
        }
        table[byte] = crc;
        byte += 1;
    }
    table
};

#[cfg(test)]
mod tests {
    use super::key_slot;

    #[test]
    fn key_slots_match_redis() {
        // Values from `redis-cli CLUSTER KEYSLOT` on Redis 7.
        let cases: &[(&[u8], u16)] = &[
            (b"", 0),
            (b"foo", 12182),
            (b"bar", 5061),
            (b"hello", 866),
            (b"key:000000000001", 8924),
            (b"{user1000}.following", 3443),
            (b"{user1000}.followers", 3443),
            (b"foo{}{bar}", 8363),
            (b"foo{{bar}}zap", 4015),
            (b"foo{bar}{zap}", 5061),
            (b"{}", 15257),
        ];
        for &(key, slot) in cases {
            assert_eq!(
                key_slot(key),
                slot,
                "slot of {:?}",
                String::from_utf8_lossy(key)
            );
        }
    }
}
