//! Access times: when each key was last read or written on this node, for
//! `OBJECT IDLETIME`.
//!
//! A key's access time is kept as Redis keeps it: an LRU clock of
//! [`LRU_BITS`] bits counting seconds (the Unix time in seconds, modulo
//! 2^24), so that the idle times this node reports, `RESTORE ... IDLETIME`
//! included, are Redis 7.0's to the second, its wrap after 194 days too.
//! It lives in an [`Lru`], an atomic, so that a read, which holds its
//! shard's lock but only a shared reference to the entry (a frozen layer is
//! shared with the snapshot writer; a run is a read-only mapping), can
//! still record its access.
//!
//! Invariants:
//! - An access time is local metadata, like Redis's `robj.lru` on a
//!   replica: no replicated outcome depends on it. It is not part of an
//!   entry's equality, of a `WATCH` stamp, of a `DUMP` payload, of a run
//!   file or of anything apply returns; two nodes with the same keyspace
//!   may disagree on it.
//! - Only the low [`LRU_BITS`] bits of an `Lru` are ever set (the rest are
//!   free for an LFU counter, as in Redis's 24-bit `lru` field).

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Bits of the LRU clock (Redis's `LRU_BITS`).
pub(crate) const LRU_BITS: u32 = 24;
/// The largest LRU clock value (Redis's `LRU_CLOCK_MAX`); the clock wraps
/// to 0 after it, every 194 days.
pub(crate) const LRU_CLOCK_MAX: u32 = (1 << LRU_BITS) - 1;

/// The LRU clock at Unix time `now_ms` (Redis's `getLRUClock`, whose
/// resolution is a second).
#[inline]
pub(crate) fn lru_clock(now_ms: u64) -> u32 {
    ((now_ms / 1000) & u64::from(LRU_CLOCK_MAX)) as u32
}

/// The LRU clock by this node's own clock: for the access times of keys
/// that arrive without a write of their own (a snapshot installed, a
/// dump loaded). The engine's only read of the clock, and never at apply
/// of a write.
pub(crate) fn local_lru_clock() -> u32 {
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_millis() as u64);
    lru_clock(now_ms)
}

/// Seconds a key accessed at LRU clock `lru` has been idle at clock
/// `clock` (Redis's `estimateObjectIdleTime`, in seconds, with its
/// unwrapping: one second short across a wrap, as in Redis).
pub(crate) fn idle_seconds(clock: u32, lru: u32) -> u64 {
    if clock >= lru {
        u64::from(clock - lru)
    } else {
        u64::from(clock) + u64::from(LRU_CLOCK_MAX - lru)
    }
}

/// The access time that makes a key `idle_s` seconds idle at `clock`, as
/// Redis's `objectSetLRUOrLFU` computes it for `RESTORE ... IDLETIME`: the
/// difference, moved up by `LRU_CLOCK_MAX` if negative, then truncated to
/// the 24-bit field (so an idle time over the clock's range wraps as it
/// does in Redis). `idle_s` is never negative (the server refuses it).
pub(crate) fn lru_for_idle(clock: u32, idle_s: i64) -> u32 {
    // Redis scales by `lru_idle * 1000 / LRU_CLOCK_RESOLUTION`, in signed
    // 64-bit arithmetic that wraps on overflow.
    let idle = idle_s.wrapping_mul(1000) / 1000;
    let mut absolute = i64::from(clock).wrapping_sub(idle);
    if absolute < 0 {
        absolute = absolute.wrapping_add(i64::from(LRU_CLOCK_MAX));
    }
    (absolute as u64 & u64::from(LRU_CLOCK_MAX)) as u32
}

/// One key's access time, as an LRU clock value (see the module docs).
#[derive(Default)]
pub(crate) struct Lru(AtomicU32);

impl Lru {
    pub(crate) fn new(clock: u32) -> Lru {
        Lru(AtomicU32::new(clock))
    }

    /// The LRU clock of the last access.
    #[inline]
    pub(crate) fn get(&self) -> u32 {
        self.0.load(Ordering::Relaxed)
    }

    /// Records an access at `clock`. Stores only if the second changed, so
    /// that reads of a hot key do not keep dirtying its cache line.
    #[inline]
    pub(crate) fn touch(&self, clock: u32) {
        if self.get() != clock {
            self.0.store(clock, Ordering::Relaxed);
        }
    }
}

impl Clone for Lru {
    fn clone(&self) -> Lru {
        Lru::new(self.get())
    }
}

impl std::fmt::Debug for Lru {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.get())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Clock values seen on a real redis-server 7.0.15 (its LRU clock was
    /// 182563, `RESTORE` then `OBJECT IDLETIME` in one script).
    #[test]
    fn restored_idle_times_are_redis_s() {
        let clock = 182_563;
        let cases: &[(i64, u64)] = &[
            (0, 0),
            (1000, 1000),
            (182_563, 182_563),
            (182_564, 182_564),
            (16_777_215, 0),
            (100_000_000, 16_113_920),
        ];
        for &(idle, reported) in cases {
            let lru = lru_for_idle(clock, idle);
            assert!(lru <= LRU_CLOCK_MAX, "{idle}: {lru} is over 24 bits");
            assert_eq!(idle_seconds(clock, lru), reported, "IDLETIME {idle}");
        }
    }

    #[test]
    fn idle_time_unwraps_the_clock() {
        assert_eq!(lru_clock(1_795_344_675_123), 182_563);
        assert_eq!(idle_seconds(10, 5), 5);
        assert_eq!(idle_seconds(5, 5), 0);
        // Accessed just before the wrap, read just after it.
        assert_eq!(idle_seconds(3, LRU_CLOCK_MAX - 2), 5);
    }

    #[test]
    fn touch_records_the_clock() {
        let lru = Lru::new(7);
        lru.touch(7);
        assert_eq!(lru.get(), 7);
        lru.touch(9);
        assert_eq!(lru.get(), 9);
        assert_eq!(lru.clone().get(), 9);
    }
}
