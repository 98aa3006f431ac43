//! Fault injection (cargo feature `failpoints`): a write error or an fsync
//! error fails the log for good. Nothing is acknowledged after the error,
//! every pending callback gets the error, later requests are refused even
//! once the fault is gone (the fsync is never retried), and a reopen finds
//! every entry acknowledged before the fault.
//!
//! Run with `cargo test -p redraft-raftlog --features failpoints`.

mod common;

use std::sync::mpsc;

use common::{append_durable, assert_entries, entry, small_config};
use parking_lot::Mutex;
use redraft_raftlog::{Error, RaftLog, RecoveryMode};

/// Fail points are process-global: one test at a time.
static SERIAL: Mutex<()> = Mutex::new(());

const SEGMENT_BYTES: u64 = 16384;

/// Opens a log with 1..=10 acknowledged, arms `point`, queues five more
/// appends, and checks they all fail and the log stays failed.
fn fault_fails_the_log(point: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = RaftLog::open(
        dir.path(),
        small_config(SEGMENT_BYTES, RecoveryMode::TolerateTail),
    )
    .expect("open");
    append_durable(&log, 1..=10, 1).expect("append before the fault");
    fail::cfg(point, "return").expect("arm fail point");
    let (tx, rx) = mpsc::channel();
    for index in 11..=15 {
        let tx = tx.clone();
        // Appends queued after the failure may be refused up front.
        let _ = log.append(
            [entry(index, 1)],
            Box::new(move |r| tx.send((index, r)).expect("test alive")),
        );
    }
    drop(tx);
    let results: Vec<(u64, Result<(), Error>)> = rx.iter().collect();
    fail::remove(point);
    assert!(
        !results.is_empty(),
        "{point}: the first append must reach the flusher"
    );
    for (index, result) in &results {
        assert!(
            matches!(result, Err(Error::Failed(_))),
            "{point}: entry {index} completed with {result:?}"
        );
    }
    assert!(
        matches!(log.check(), Err(Error::Failed(_))),
        "{point}: log not failed"
    );
    // The fault is gone, but the log must not come back (no fsync retry).
    assert!(matches!(
        log.append([entry(16, 1)], Box::new(|_| {})),
        Err(Error::Failed(_))
    ));
    assert!(matches!(log.save_vote(b"v"), Err(Error::Failed(_))));
    assert!(matches!(log.read(1..5), Err(Error::Failed(_))));
    assert!(matches!(log.close(), Err(Error::Failed(_))));
    drop(log);
    dir
}

#[test]
fn write_error_fails_without_acknowledging() {
    let _serial = SERIAL.lock();
    let dir = fault_fails_the_log("raftlog::write");
    let log = RaftLog::open(
        dir.path(),
        small_config(SEGMENT_BYTES, RecoveryMode::Absolute),
    )
    .expect("reopen");
    assert_entries(&log, 1, 10);
}

#[test]
fn fsync_error_fails_without_acknowledging() {
    let _serial = SERIAL.lock();
    let dir = fault_fails_the_log("raftlog::fsync");
    // The write reached the page cache before the fsync "failed", so the
    // unacknowledged entries may or may not be there; the acknowledged
    // ones must be.
    let log = RaftLog::open(
        dir.path(),
        small_config(SEGMENT_BYTES, RecoveryMode::TolerateTail),
    )
    .expect("reopen");
    let last = log.last_index().expect("entries");
    assert!((10..=15).contains(&last), "last index {last}");
    assert_entries(&log, 1, last);
}

#[test]
fn vote_write_error_fails_the_log() {
    let _serial = SERIAL.lock();
    let dir = tempfile::tempdir().expect("tempdir");
    let log = RaftLog::open(
        dir.path(),
        small_config(SEGMENT_BYTES, RecoveryMode::TolerateTail),
    )
    .expect("open");
    log.save_vote(b"term 1").expect("first vote");
    fail::cfg("raftlog::meta-write", "return").expect("arm");
    let result = log.save_vote(b"term 2");
    fail::remove("raftlog::meta-write");
    assert!(
        matches!(result, Err(Error::Failed(_))),
        "vote write error gave {result:?}"
    );
    assert!(matches!(
        log.append([entry(1, 1)], Box::new(|_| {})),
        Err(Error::Failed(_))
    ));
    drop(log);
    let log = RaftLog::open(
        dir.path(),
        small_config(SEGMENT_BYTES, RecoveryMode::Absolute),
    )
    .expect("reopen");
    assert_eq!(
        log.read_vote().expect("vote").as_deref(),
        Some(&b"term 1"[..])
    );
}

#[test]
fn fsync_error_mid_stream_acknowledges_only_a_prefix() {
    let _serial = SERIAL.lock();
    let dir = tempfile::tempdir().expect("tempdir");
    let log =
        RaftLog::open(dir.path(), small_config(4096, RecoveryMode::TolerateTail)).expect("open");
    append_durable(&log, 1..=20, 1).expect("append");
    // Fail the fourth fsync from now, somewhere among the group commits
    // and segment rolls (4 KiB segments) of a stream of appends.
    fail::cfg("raftlog::fsync", "3*off->return").expect("arm");
    let (tx, rx) = mpsc::channel();
    let mut queued = 0;
    for index in 21..=200 {
        let tx = tx.clone();
        if log
            .append(
                [entry(index, 1)],
                Box::new(move |r| tx.send((index, r)).expect("alive")),
            )
            .is_ok()
        {
            queued += 1;
        }
    }
    drop(tx);
    let results: Vec<(u64, Result<(), Error>)> = rx.iter().collect();
    fail::remove("raftlog::fsync");
    assert_eq!(
        results.len(),
        queued,
        "every queued append completes, one way or the other"
    );
    // Acknowledged entries form a prefix, and nothing is acknowledged
    // after the first failure.
    let first_err = results
        .iter()
        .position(|(_, r)| r.is_err())
        .expect("the fault fired");
    assert!(
        results[first_err..].iter().all(|(_, r)| r.is_err()),
        "acknowledged after a failure"
    );
    let acked = results[..first_err].last().map_or(20, |(i, _)| *i);
    drop(log);
    let log =
        RaftLog::open(dir.path(), small_config(4096, RecoveryMode::TolerateTail)).expect("reopen");
    let last = log.last_index().expect("entries");
    assert!(last >= acked, "acknowledged {acked}, found {last}");
    assert_entries(&log, 1, last);
}
