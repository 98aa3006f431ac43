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
//! - The low [`LRU_BITS`] bits of an `Lru` are the access time; the high 8
//!   bits are an LFU counter (Redis's `LFU_INIT_VAL` for a new key), which
//!   an access changes only while LFU tracking is on ([`set_lfu`], an
//!   LFU `maxmemory-policy`), as Redis's does. Redis keeps either a time
//!   or (a time in minutes and) a counter in its 24 bits; keeping both,
//!   the counter's decay runs from the last access in seconds.
//!
//! LFU tracking is one setting for the process (the server runs one
//! engine); like the access time it is local metadata, never read at
//! apply for anything replicated.

use std::cell::Cell;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
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

/// A new key's LFU counter (Redis's `LFU_INIT_VAL`), so it is not
/// evicted before it had a chance to be used.
pub(crate) const LFU_INIT_VAL: u8 = 5;

/// LFU tracking: 0 when off, else `1 << 63 | decay_time_min << 32 |
/// log_factor` (each at most `i32::MAX`, Redis's ranges).
static LFU: AtomicU64 = AtomicU64::new(0);

/// Turns LFU tracking on (`Some((lfu-log-factor, lfu-decay-time))`) or
/// off, for the whole process: an LFU `maxmemory-policy` turns it on.
pub fn set_lfu(settings: Option<(u64, u64)>) {
    let packed = settings.map_or(0, |(log_factor, decay_time_min)| {
        1 << 63 | (decay_time_min.min(i32::MAX as u64) << 32) | log_factor.min(i32::MAX as u64)
    });
    LFU.store(packed, Ordering::Relaxed);
}

/// `(log_factor, decay_time_min)` while LFU tracking is on.
#[inline]
pub fn lfu_settings() -> Option<(u64, u64)> {
    let packed = LFU.load(Ordering::Relaxed);
    (packed != 0).then_some((packed & 0xFFFF_FFFF, (packed >> 32) & 0x7FFF_FFFF))
}

/// The counter `counter` of a key last accessed at LRU clock `lru` has
/// decayed to at `clock` (Redis's `LFUDecrAndReturn`: one step per
/// `decay_time_min` minutes idle; none when it is 0).
pub(crate) fn lfu_decayed(counter: u8, clock: u32, lru: u32, decay_time_min: u64) -> u8 {
    if decay_time_min == 0 {
        return counter;
    }
    let periods = idle_seconds(clock, lru) / 60 / decay_time_min;
    u64::from(counter).saturating_sub(periods) as u8
}

/// `counter` after one access (Redis's `LFULogIncr`): up by one with
/// probability `1 / ((counter - LFU_INIT_VAL) * log_factor + 1)`, at most
/// 255. `draw` is uniform in `[0, 1)`.
pub(crate) fn lfu_incremented(counter: u8, log_factor: u64, draw: f64) -> u8 {
    if counter == 255 {
        return 255;
    }
    let base = f64::from(counter.saturating_sub(LFU_INIT_VAL));
    let p = 1.0 / (base * log_factor as f64 + 1.0);
    if draw < p {
        counter + 1
    } else {
        counter
    }
}

thread_local! {
    /// A cheap per-thread random source for `lfu_incremented` (xorshift;
    /// the counter is local metadata, so any source will do).
    static DRAWS: Cell<u64> = const { Cell::new(0x2545_F491_4F6C_DD1D) };
}

fn draw() -> f64 {
    DRAWS.with(|state| {
        let mut x = state.get();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        state.set(x);
        (x >> 11) as f64 / (1u64 << 53) as f64
    })
}

/// One key's access time, as an LRU clock value, and its LFU counter (see
/// the module docs).
#[derive(Default)]
pub(crate) struct Lru(AtomicU32);

impl Lru {
    /// A new key's: accessed at `clock`, its counter at `LFU_INIT_VAL`.
    pub(crate) fn new(clock: u32) -> Lru {
        Lru(AtomicU32::new(u32::from(LFU_INIT_VAL) << LRU_BITS | clock))
    }

    /// The LRU clock of the last access.
    #[inline]
    pub(crate) fn get(&self) -> u32 {
        self.0.load(Ordering::Relaxed) & LRU_CLOCK_MAX
    }

    /// The LFU counter as last stored (not decayed).
    pub(crate) fn counter(&self) -> u8 {
        (self.0.load(Ordering::Relaxed) >> LRU_BITS) as u8
    }

    /// The LFU counter decayed to `clock` by `decay_time_min` (what `OBJECT
    /// FREQ` reports).
    pub(crate) fn frequency(&self, clock: u32, decay_time_min: u64) -> u8 {
        lfu_decayed(self.counter(), clock, self.get(), decay_time_min)
    }

    /// Records an access at `clock`; while LFU tracking is on, also counts
    /// it. Stores only if something changed, so that reads of a hot key do
    /// not keep dirtying its cache line.
    #[inline]
    pub(crate) fn touch(&self, clock: u32) {
        let raw = self.0.load(Ordering::Relaxed);
        let new = match lfu_settings() {
            None => (raw & !LRU_CLOCK_MAX) | clock,
            Some((log_factor, decay_time_min)) => {
                let counter = self.frequency(clock, decay_time_min);
                let counter = lfu_incremented(counter, log_factor, draw());
                u32::from(counter) << LRU_BITS | clock
            }
        };
        if new != raw {
            self.0.store(new, Ordering::Relaxed);
        }
    }

    /// Sets the access time to `clock`, keeping the counter (`RESTORE ...
    /// IDLETIME`).
    pub(crate) fn set_clock(&self, clock: u32) {
        let raw = self.0.load(Ordering::Relaxed);
        self.0
            .store((raw & !LRU_CLOCK_MAX) | clock, Ordering::Relaxed);
    }

    /// Takes `other`'s access time and counter (a run adopting the layers
    /// it merged).
    pub(crate) fn copy_from(&self, other: &Lru) {
        self.0
            .store(other.0.load(Ordering::Relaxed), Ordering::Relaxed);
    }
}

impl Clone for Lru {
    fn clone(&self) -> Lru {
        Lru(AtomicU32::new(self.0.load(Ordering::Relaxed)))
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

    /// Redis's `LFULogIncr` at the default log factor: counters past
    /// `LFU_INIT_VAL` grow ever more rarely; `LFUDecrAndReturn`: one step
    /// per decay period idle.
    #[test]
    fn lfu_counter_grows_logarithmically_and_decays() {
        let cases: &[(u8, u64, f64, u8)] = &[
            (5, 10, 0.999, 6),
            (0, 10, 0.999, 1),
            (6, 10, 0.09, 7),
            (6, 10, 0.091, 6),
            (15, 10, 0.0098, 16),
            (15, 10, 0.01, 15),
            (255, 0, 0.0, 255),
            (100, 0, 0.999, 101),
        ];
        for &(counter, factor, draw, want) in cases {
            assert_eq!(
                lfu_incremented(counter, factor, draw),
                want,
                "{counter} {factor} {draw}"
            );
        }
        // Idle 10 minutes, decay time 1: ten steps down; 3: three.
        assert_eq!(lfu_decayed(20, 1000 + 600, 1000, 1), 10);
        assert_eq!(lfu_decayed(20, 1000 + 600, 1000, 3), 17);
        assert_eq!(lfu_decayed(5, 1000 + 6000, 1000, 1), 0);
        assert_eq!(lfu_decayed(20, 1000 + 6000, 1000, 0), 20);
        // A new key starts at LFU_INIT_VAL; an access with tracking off
        // leaves the counter.
        let lru = Lru::new(1000);
        assert_eq!((lru.get(), lru.counter()), (1000, LFU_INIT_VAL));
        lru.touch(1001);
        assert_eq!((lru.get(), lru.counter()), (1001, LFU_INIT_VAL));
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
