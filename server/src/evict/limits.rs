//! The node's memory limit and eviction settings as they stand now:
//! configured at start, changed by `CONFIG SET`, read by the connection's
//! OOM check and by the leader's evictor without a lock.
//!
//! Invariants:
//! - Every value is in its Redis range (`maxmemory.rs`); `CONFIG SET`
//!   validates before it stores.
//! - These settings are node-local, never read at apply: they only decide
//!   what the leader proposes and which writes a node refuses.

use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};

use crate::maxmemory::{MemorySettings, Policy};

/// The live settings, one atomic each.
#[derive(Debug, Default)]
pub struct Limits {
    maxmemory_bytes: AtomicU64,
    policy: AtomicU8,
    samples: AtomicU64,
    tenacity: AtomicU64,
    lfu_log_factor: AtomicU64,
    lfu_decay_time_min: AtomicU64,
}

impl Limits {
    pub fn new(settings: MemorySettings) -> Limits {
        let limits = Limits::default();
        limits.set(settings);
        limits
    }

    /// A consistent-enough copy: each field is read once.
    pub fn get(&self) -> MemorySettings {
        MemorySettings {
            maxmemory_bytes: self.maxmemory_bytes.load(Ordering::Relaxed),
            policy: Policy::from_index(self.policy.load(Ordering::Relaxed)),
            samples: self.samples.load(Ordering::Relaxed),
            tenacity: self.tenacity.load(Ordering::Relaxed),
            lfu_log_factor: self.lfu_log_factor.load(Ordering::Relaxed),
            lfu_decay_time_min: self.lfu_decay_time_min.load(Ordering::Relaxed),
        }
    }

    pub fn set(&self, settings: MemorySettings) {
        self.maxmemory_bytes
            .store(settings.maxmemory_bytes, Ordering::Relaxed);
        self.policy
            .store(settings.policy.index(), Ordering::Relaxed);
        self.samples.store(settings.samples, Ordering::Relaxed);
        self.tenacity.store(settings.tenacity, Ordering::Relaxed);
        self.lfu_log_factor
            .store(settings.lfu_log_factor, Ordering::Relaxed);
        self.lfu_decay_time_min
            .store(settings.lfu_decay_time_min, Ordering::Relaxed);
    }

    /// Changes one setting with `change`, keeping the others.
    pub fn update(&self, change: impl FnOnce(&mut MemorySettings)) {
        let mut settings = self.get();
        change(&mut settings);
        self.set(settings);
    }

    /// `maxmemory` in bytes; 0 means no limit.
    pub fn maxmemory_bytes(&self) -> u64 {
        self.maxmemory_bytes.load(Ordering::Relaxed)
    }

    pub fn policy(&self) -> Policy {
        Policy::from_index(self.policy.load(Ordering::Relaxed))
    }
}
