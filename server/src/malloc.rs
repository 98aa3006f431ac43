//! Keeps glibc's allocator from holding resident memory that nothing uses.
//!
//! redraft allocates through glibc's malloc. Two of its habits left a
//! server that had loaded a million small hashes with tens of megabytes
//! resident that no key held (`docs/benchmarks.md`, "Memory per key"):
//!
//! - glibc raises its mmap threshold each time a mapped block is freed (up
//!   to 32 MiB), so after the first large Raft entry, the large transient
//!   buffers (entries encoded and decoded, replication batches, connection
//!   backlogs) come from the heaps instead of mappings of their own. Freed,
//!   they stay resident as long as one live block sits above them.
//!   [`configure`] fixes the threshold at `MMAP_THRESHOLD_BYTES`: every
//!   block that large has its own mapping and is unmapped when freed.
//!   Fixing it also stops glibc from raising its trim threshold with it,
//!   and at the default 128 KiB, `free` shrinks a heap whenever its top is
//!   that much free and faults the pages back in on the next burst (under
//!   `SET -P 16`: 53 `madvise` calls in 5 s and two thirds more page
//!   faults than without). So `configure` sets the trim threshold to
//!   `SLACK_BYTES_MIN` and leaves the rest to the trimmer.
//! - `free` returns memory to the system only from the top of a heap. What
//!   a burst frees below that (a bulk load's backlog; the frozen heads a
//!   snapshot drops once its run is adopted; deleted keys) stays resident
//!   until malloc reuses it. [`Trimmer`] runs on the cron thread: once a
//!   second it compares the anonymous resident memory with what malloc has
//!   handed out and, when the difference is large, calls `malloc_trim`,
//!   which returns every free page inside the heaps.
//!
//! Invariants:
//! - Nothing here changes what an allocation returns or frees; only where
//!   a block lives and whether free pages stay resident.
//! - `malloc_trim` runs only on the cron thread, never on a request path,
//!   and only while the resident slack is over its threshold: a trim makes
//!   it small, so trims do not repeat while nothing is freed.
//! - On targets other than Linux with glibc, both are no-ops.

use std::time::{Duration, Instant};

/// Blocks of at least this many bytes get a mapping of their own: glibc's
/// initial threshold, kept fixed.
const MMAP_THRESHOLD_BYTES: i32 = 128 * 1024;
/// Free bytes at the top of a heap that `free` leaves for reuse rather
/// than returning at once (the trimmer returns them when they stay).
const TRIM_THRESHOLD_BYTES: i32 = SLACK_BYTES_MIN as i32;
/// How often the trimmer looks at the allocator's figures.
const CHECK_INTERVAL: Duration = Duration::from_secs(1);
/// Resident slack (anonymous resident bytes malloc has not handed out)
/// that is left alone, as a floor and as a fraction of the bytes handed
/// out: trimming costs a walk of every free block, and slack below this is
/// cheaper to keep for reuse.
const SLACK_BYTES_MIN: u64 = 32 << 20;
const SLACK_FRACTION_DIVISOR: u64 = 8;

/// Fixes glibc's mmap and trim thresholds (see the module comment). Call
/// once, at start-up, before the server allocates much.
pub fn configure() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        let parameters = [
            (libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES, "mmap"),
            (libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES, "trim"),
        ];
        for (parameter, value, name) in parameters {
            // SAFETY: mallopt only sets a parameter of the allocator.
            if unsafe { libc::mallopt(parameter, value) } != 1 {
                tracing::warn!("could not set malloc's {name} threshold");
            }
        }
    }
}

/// What malloc holds, from `mallinfo2`, with the process's anonymous
/// resident memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Usage {
    /// Bytes handed out: blocks in the heaps and blocks with mappings of
    /// their own.
    pub allocated_bytes: u64,
    /// Bytes free inside the heaps, resident or not.
    pub free_bytes: u64,
    /// Anonymous resident bytes of the process (resident less file-backed,
    /// so a mapped snapshot run does not count).
    pub anonymous_resident_bytes: u64,
}

impl Usage {
    /// Anonymous resident bytes that malloc has not handed out: mostly free
    /// blocks still resident (thread stacks and the like are a few MiB).
    pub fn slack_bytes(&self) -> u64 {
        self.anonymous_resident_bytes
            .saturating_sub(self.allocated_bytes)
    }

    /// Whether a trim is worth its cost: the slack is over the floor and
    /// over a fraction of what is handed out, and malloc does hold that
    /// much free.
    pub fn worth_trimming(&self) -> bool {
        let slack = self.slack_bytes();
        let threshold = SLACK_BYTES_MIN.max(self.allocated_bytes / SLACK_FRACTION_DIVISOR);
        slack >= threshold && self.free_bytes >= threshold
    }
}

/// The allocator's figures now; `None` where unavailable.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub fn usage() -> Option<Usage> {
    let anonymous_resident_bytes = anonymous_resident_bytes()?;
    // SAFETY: mallinfo2 only reads the allocator's state, under its locks.
    let info = unsafe { libc::mallinfo2() };
    Some(Usage {
        allocated_bytes: (info.uordblks + info.hblkhd) as u64,
        free_bytes: info.fordblks as u64,
        anonymous_resident_bytes,
    })
}

/// The allocator's figures now; `None` where unavailable.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn usage() -> Option<Usage> {
    None
}

/// Resident less file-backed (and shared) pages, from /proc/self/statm.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn anonymous_resident_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let mut fields = statm.split_whitespace().skip(1);
    let resident: u64 = fields.next()?.parse().ok()?;
    let shared: u64 = fields.next()?.parse().ok()?;
    // SAFETY: sysconf reads a constant of the system.
    let page_bytes = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    Some(resident.saturating_sub(shared) * u64::try_from(page_bytes).ok()?)
}

/// Returns free memory to the system when enough of it is resident; see
/// the module comment. Owned by the cron thread.
#[derive(Debug)]
pub struct Trimmer {
    /// When the figures were last looked at.
    checked_at: Instant,
    /// Trims done, for the log.
    trims: u64,
}

impl Default for Trimmer {
    fn default() -> Trimmer {
        Trimmer {
            checked_at: Instant::now(),
            trims: 0,
        }
    }
}

impl Trimmer {
    /// Called on every cron tick; looks at the figures once per
    /// `CHECK_INTERVAL` and trims if [`Usage::worth_trimming`].
    pub fn tick(&mut self) {
        if self.checked_at.elapsed() < CHECK_INTERVAL {
            return;
        }
        self.checked_at = Instant::now();
        let Some(before) = usage() else {
            return;
        };
        if !before.worth_trimming() {
            return;
        }
        let started = Instant::now();
        trim();
        self.trims += 1;
        let after = usage().unwrap_or(before);
        tracing::debug!(
            trims = self.trims,
            slack_before = before.slack_bytes(),
            slack_after = after.slack_bytes(),
            returned = before
                .anonymous_resident_bytes
                .saturating_sub(after.anonymous_resident_bytes),
            took_us = started.elapsed().as_micros() as u64,
            "returned free memory to the system"
        );
    }
}

/// `malloc_trim(0)`: every free page inside the heaps goes back.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn trim() {
    // SAFETY: malloc_trim only releases free pages, under the heaps' locks.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn trim() {}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1 << 20;

    fn usage(allocated: u64, free: u64, resident: u64) -> Usage {
        Usage {
            allocated_bytes: allocated * MIB,
            free_bytes: free * MIB,
            anonymous_resident_bytes: resident * MIB,
        }
    }

    #[test]
    fn trims_only_large_resident_slack() {
        // (allocated, free, resident) in MiB, and whether to trim.
        let cases = [
            // A million small hashes after their load: 60 MiB resident free.
            ((200, 60, 262), true),
            // The same after a trim: the free blocks are no longer resident.
            ((200, 60, 205), false),
            // Slack under the 32 MiB floor.
            ((100, 40, 130), false),
            // Over the floor but under an eighth of 1 GiB handed out.
            ((1024, 200, 1024 + 100), false),
            ((1024, 200, 1024 + 130), true),
            // Resident slack that malloc does not hold free (not its memory).
            ((200, 10, 262), false),
        ];
        for ((allocated, free, resident), expected) in cases {
            let usage = usage(allocated, free, resident);
            assert_eq!(usage.worth_trimming(), expected, "{usage:?}");
        }
    }

    #[test]
    fn reads_the_figures_of_this_process() {
        let figures = super::usage();
        if cfg!(all(target_os = "linux", target_env = "gnu")) {
            let figures = figures.expect("glibc and /proc are there");
            assert!(figures.anonymous_resident_bytes > 0);
            // This test allocated at least its own figures' strings.
            assert!(figures.allocated_bytes > 0);
        } else {
            assert_eq!(figures, None);
        }
    }
}
