//! Test-only support for the fault-injection suite (`chaos/`), compiled
//! only with the cargo feature `chaos`.
//!
//! Power loss. With `REDRAFT_CHAOS_POWER_LOSS` set in the environment, the
//! flusher records, after every fdatasync of a segment, how far that
//! segment is durable, in a side file `<segment>.durable` (20 decimal
//! digits, rewritten in place).
//! A SIGKILL keeps the page cache, so after one the suite cuts every
//! segment back to its side file's length (zeroing the rest, as the
//! preallocated file held zeros), which is what a machine that lost power
//! would find. A side file is written after its sync completes and before
//! the group's callbacks run, so it covers every acknowledged record.
//!
//! The broken build. Compiled with the environment variable
//! `REDRAFT_CHAOS_BROKEN_ACK` set at build time (never a cargo feature, so
//! `--all-features` cannot turn it on), [`BROKEN_ACK`] makes the flusher
//! acknowledge group commits as soon as they are written, and sync them
//! only every [`BROKEN_SYNC_INTERVAL`] from a helper thread, like a
//! database with a periodic fsync: the bug the suite must catch as lost
//! writes after a power loss.
//!
//! Invariants:
//! - Without `REDRAFT_CHAOS_POWER_LOSS` nothing is written (and in a
//!   correct build nothing else changes).
//! - A side file never claims more than was synced: in the broken build it
//!   is written only by the helper after its own fdatasync, and a
//!   truncation's smaller length replaces any pending larger one under the
//!   same lock.

use std::collections::HashMap;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use parking_lot::Mutex;

/// The deliberately broken build (see the module docs).
pub const BROKEN_ACK: bool = option_env!("REDRAFT_CHAOS_BROKEN_ACK").is_some();

/// How often the broken build really syncs.
pub const BROKEN_SYNC_INTERVAL: Duration = Duration::from_millis(500);

/// Segments written but not yet synced (broken build only): path -> end.
static PENDING: Mutex<Option<HashMap<PathBuf, u64>>> = Mutex::new(None);

fn power_loss_enabled() -> bool {
    static ENABLED: OnceLock<bool> = OnceLock::new();
    *ENABLED.get_or_init(|| std::env::var_os("REDRAFT_CHAOS_POWER_LOSS").is_some())
}

/// The side file of `segment`.
pub fn side_file(segment: &Path) -> PathBuf {
    let mut name = segment.as_os_str().to_owned();
    name.push(".durable");
    PathBuf::from(name)
}

fn write_side_file(segment: &Path, end: u64) {
    if !power_loss_enabled() {
        return;
    }
    // One fixed-width positional write, never a truncation: a SIGKILL
    // leaves either the old or the new length, never an empty file.
    use std::os::unix::fs::FileExt;
    let written = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(side_file(segment))
        .and_then(|file| file.write_all_at(format!("{end:020}").as_bytes(), 0));
    if let Err(error) = written {
        tracing::error!(%error, segment = %segment.display(), "chaos: cannot write side file");
    }
}

/// `segment` is durable up to `end` (a sync covering it completed).
pub fn synced(segment: &Path, end: u64) {
    let mut pending = PENDING.lock();
    if let Some(pending) = pending.as_mut() {
        pending.remove(segment);
    }
    write_side_file(segment, end);
}

/// The broken build's group commit: `segment` was written up to `end` but
/// not synced; the helper thread syncs it later.
pub fn written_unsynced(segment: &Path, end: u64) {
    let mut pending = PENDING.lock();
    if pending.is_none() {
        std::thread::Builder::new()
            .name("chaos-late-sync".into())
            .spawn(late_sync_loop)
            .expect("spawn the chaos late-sync thread");
    }
    pending
        .get_or_insert_with(HashMap::new)
        .insert(segment.to_path_buf(), end);
}

/// Syncs every pending segment now (before a roll, so the log never has a
/// synced segment behind an unsynced one).
pub fn sync_pending() {
    let mut pending = PENDING.lock();
    let Some(pending) = pending.as_mut() else {
        return;
    };
    for (segment, end) in pending.drain() {
        match std::fs::File::open(&segment) {
            // SAFETY: plain syscall on a descriptor we own.
            Ok(file) if unsafe { libc::fdatasync(file.as_raw_fd()) } == 0 => {
                write_side_file(&segment, end);
            }
            // A segment deleted meanwhile (truncated away) needs nothing.
            _ => {}
        }
    }
}

fn late_sync_loop() {
    loop {
        std::thread::sleep(BROKEN_SYNC_INTERVAL);
        sync_pending();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn side_file_sits_beside_the_segment_and_is_no_segment() {
        let side = side_file(Path::new("/d/00000000000000000001.log"));
        assert_eq!(side, Path::new("/d/00000000000000000001.log.durable"));
        let name = side.file_name().unwrap().to_string_lossy().into_owned();
        assert_eq!(crate::format::parse_segment_file_name(&name), None);
    }

    #[test]
    fn the_tested_build_is_not_broken() {
        // The normal test run must never build the broken variant.
        assert!(
            !std::hint::black_box(BROKEN_ACK),
            "built with REDRAFT_CHAOS_BROKEN_ACK set"
        );
    }
}
