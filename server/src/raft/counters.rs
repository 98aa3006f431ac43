//! Counters of Raft events for `/metrics`, and the node id and term that
//! every structured Raft event carries.
//!
//! The status watcher (`raft::events`) counts elections and leader changes
//! from openraft's metrics; the state machine counts the snapshots it
//! builds and installs. Both log one `tracing` event per occurrence with
//! `node_id` and `term` fields, reading the term from here when they are
//! not on the Raft core (the snapshot builder runs on a blocking thread).
//!
//! Invariants:
//! - Counters only grow (no reset: Prometheus counters are monotonic).
//! - `term` is the latest term the status watcher has seen; it never goes
//!   back.

use std::sync::atomic::{AtomicU64, Ordering};

/// Raft event counters of one node; every field is read with `Relaxed`
/// loads (each is an independent figure).
#[derive(Debug, Default)]
pub struct RaftCounters {
    /// This node's id, for the `node_id` field of events.
    pub node_id: u64,
    /// The latest term seen, for the `term` field of events logged off the
    /// Raft core.
    term: AtomicU64,
    /// Elections this node started (terms in which it stood as candidate).
    pub elections_started: AtomicU64,
    /// Elections this node won (terms in which it became leader).
    pub elections_won: AtomicU64,
    /// Changes of the known leader seen by this node (to another node, to
    /// none, or to this node).
    pub leader_changes: AtomicU64,
    /// Membership configurations this node has seen take effect.
    pub membership_changes: AtomicU64,
    /// Snapshots this node built from its own state.
    pub snapshots_built: AtomicU64,
    /// Snapshots received from a leader and installed.
    pub snapshots_installed: AtomicU64,
    /// Size in bytes of the last snapshot built or installed.
    pub snapshot_last_bytes: AtomicU64,
    /// Milliseconds the last snapshot build took (freeze, merge, write,
    /// fsync, rename).
    pub snapshot_last_build_ms: AtomicU64,
    /// Times the log was purged behind a snapshot.
    pub log_purges: AtomicU64,
    /// Unix seconds when this node last made a snapshot durable
    /// (`snapshot.run` built or received, synced and renamed into place):
    /// `LASTSAVE`. Before its first, the time the snapshot it started from
    /// was written (the file's modification time) or, with none, the
    /// node's start, as Redis counts its data saved when it starts.
    pub snapshot_saved_unix_s: AtomicU64,
    /// Received snapshots being written and installed now (0 or 1: openraft
    /// installs one at a time): `master_sync_in_progress`.
    pub snapshots_installing: AtomicU64,
}

impl RaftCounters {
    pub fn new(node_id: u64) -> RaftCounters {
        RaftCounters {
            node_id,
            snapshot_saved_unix_s: AtomicU64::new(crate::clock::unix_ms() / 1000),
            ..RaftCounters::default()
        }
    }

    /// Records that a snapshot became durable at `unix_s`.
    pub fn snapshot_saved(&self, unix_s: u64) {
        self.snapshot_saved_unix_s.store(unix_s, Ordering::Relaxed);
    }

    /// The latest term seen.
    pub fn term(&self) -> u64 {
        self.term.load(Ordering::Relaxed)
    }

    /// Records the term of a metrics report; an older one is ignored.
    pub fn see_term(&self, term: u64) {
        self.term.fetch_max(term, Ordering::Relaxed);
    }

    /// Adds one to `counter`.
    pub fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Records a snapshot this node built: its size and how long it took.
    pub fn snapshot_built(&self, bytes: u64, build_ms: u64) {
        Self::bump(&self.snapshots_built);
        self.snapshot_last_bytes.store(bytes, Ordering::Relaxed);
        self.snapshot_last_build_ms
            .store(build_ms, Ordering::Relaxed);
    }

    /// Counts a received snapshot as being installed until the guard drops.
    pub fn installing(&self) -> Installing<'_> {
        self.snapshots_installing.fetch_add(1, Ordering::Relaxed);
        Installing(self)
    }

    /// Records a snapshot installed from the leader.
    pub fn snapshot_installed(&self, bytes: u64) {
        Self::bump(&self.snapshots_installed);
        self.snapshot_last_bytes.store(bytes, Ordering::Relaxed);
    }
}

/// A received snapshot being installed; see [`RaftCounters::installing`].
pub struct Installing<'a>(&'a RaftCounters);

impl Drop for Installing<'_> {
    fn drop(&mut self) {
        self.0.snapshots_installing.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn term_never_goes_back_and_snapshots_record_their_figures() {
        let counters = RaftCounters::new(3);
        counters.see_term(5);
        counters.see_term(4);
        assert_eq!(counters.term(), 5);
        counters.snapshot_built(1000, 12);
        counters.snapshot_installed(2000);
        assert_eq!(counters.snapshots_built.load(Ordering::Relaxed), 1);
        assert_eq!(counters.snapshots_installed.load(Ordering::Relaxed), 1);
        assert_eq!(counters.snapshot_last_bytes.load(Ordering::Relaxed), 2000);
        assert_eq!(counters.snapshot_last_build_ms.load(Ordering::Relaxed), 12);
        let installing = counters.installing();
        assert_eq!(counters.snapshots_installing.load(Ordering::Relaxed), 1);
        drop(installing);
        assert_eq!(counters.snapshots_installing.load(Ordering::Relaxed), 0);
    }
}
