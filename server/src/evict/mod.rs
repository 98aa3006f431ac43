//! Memory limits and eviction (`maxmemory`, `maxmemory-policy`), kept
//! deterministic through Raft.
//!
//! Only the leader evicts: its evictor (`cycle.rs`) compares the engine's
//! `used_memory` with `maxmemory`, chooses victims by the policy from its
//! own view (`victims.rs`, over the engine's random samples) and proposes
//! their deletion as a `WriteOp::Evict` entry, so every node deletes the
//! same keys when the entry applies and counts them in `evicted_keys`.
//! A follower never evicts on its own. A connection refuses a command
//! that may grow memory while used memory is over the limit and nothing
//! can be evicted (`oom.rs`).
//!
//! Invariants:
//! - Nothing here runs at apply or is read by it: the settings and the
//!   victims' choice are node-local; the replicated outcome is the entry.
//! - The evictor proposes nothing on a node that is not the leader, and
//!   nothing while `maxmemory` is 0 or the policy is `noeviction`.

pub mod cycle;
pub mod limits;
pub mod oom;
pub mod victims;

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use parking_lot::{Condvar, Mutex};

pub use crate::maxmemory::{MemorySettings, Policy};
pub use limits::Limits;

use redraft_engine::Engine;

use crate::raft::status::RaftStatus;
use crate::write_path::WritePath;

/// The parts of the node eviction uses, lent by the caller so that this
/// folder stands below the node's shared state.
#[derive(Clone, Copy)]
pub struct Node<'a> {
    pub memory: &'a Memory,
    pub engine: &'a Engine,
    /// Whether this node leads (only the leader evicts or refuses).
    pub raft: &'a RaftStatus,
    /// Where the evictor proposes its `Evict` entries.
    pub write_path: &'a WritePath,
}

/// The node's memory limit, shared by connections and the evictor.
#[derive(Debug)]
pub struct Memory {
    pub limits: Limits,
    /// Whether the evictor's last look found keys the policy may evict
    /// (or still had victims in flight). While false and memory is over
    /// the limit, writes that may grow memory get `-OOM`, as Redis's do
    /// when `performEvictions` fails.
    evictable: AtomicBool,
    /// Set by a connection that saw memory over the limit; the evictor
    /// waits on `wake` for it.
    nudged: Mutex<bool>,
    wake: Condvar,
}

impl Memory {
    pub fn new(settings: MemorySettings) -> Memory {
        apply_lfu(&settings);
        Memory {
            limits: Limits::new(settings),
            evictable: AtomicBool::new(true),
            nudged: Mutex::new(false),
            wake: Condvar::new(),
        }
    }

    /// Stores new settings (`CONFIG SET`), turning the engine's LFU
    /// tracking on or off with the policy.
    pub fn set(&self, settings: MemorySettings) {
        apply_lfu(&settings);
        // Until the evictor looks again, assume it can evict.
        self.evictable.store(true, Ordering::Relaxed);
        self.limits.set(settings);
        self.nudge();
    }

    pub fn evictable(&self) -> bool {
        self.evictable.load(Ordering::Relaxed)
    }

    pub(crate) fn set_evictable(&self, evictable: bool) {
        self.evictable.store(evictable, Ordering::Relaxed);
    }

    /// Wakes the evictor early (memory is over the limit).
    pub fn nudge(&self) {
        let mut nudged = self.nudged.lock();
        if !*nudged {
            *nudged = true;
            self.wake.notify_one();
        }
    }

    /// Waits until nudged or `timeout` passed.
    pub(crate) fn wait(&self, timeout: Duration) {
        let mut nudged = self.nudged.lock();
        if !*nudged {
            self.wake.wait_for(&mut nudged, timeout);
        }
        *nudged = false;
    }
}

/// LFU counting on an access costs a little, so the engine does it only
/// under an LFU policy, as Redis does.
fn apply_lfu(settings: &MemorySettings) {
    let lfu = matches!(
        settings.policy.rank(),
        Some(crate::maxmemory::Rank::Frequency)
    );
    redraft_engine::set_lfu(lfu.then_some((settings.lfu_log_factor, settings.lfu_decay_time_min)));
}
