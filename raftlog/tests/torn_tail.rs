//! Torn tail: cut the last segment at every byte offset of its last record
//! (and at a sweep of offsets across the whole segment), reopen, and check
//! that exactly a prefix survives, that appends continue, and that a
//! second reopen agrees.

mod common;

use std::fs::OpenOptions;
use std::path::{Path, PathBuf};

use common::{append_durable, assert_entries, copy_dir, segment_files, small_config};
use redraft_raftlog::{
    record_bytes, Error, RaftLog, RecoveryMode, END_MARKER_BYTES, SEGMENT_HEADER_BYTES,
};

const SEGMENT_BYTES: u64 = 8192;
/// Enough entries for three segments.
const ENTRIES: u64 = 150;

/// A pristine log of `ENTRIES` entries, and the last segment's first index
/// and record end offsets (`ends[k]` = end of its k-th record).
fn pristine() -> (tempfile::TempDir, PathBuf, u64, Vec<u64>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = RaftLog::open(
        dir.path(),
        small_config(SEGMENT_BYTES, RecoveryMode::TolerateTail),
    )
    .expect("open");
    append_durable(&log, 1..=ENTRIES, 1).expect("append");
    log.close().expect("close");
    let files = segment_files(dir.path());
    assert!(files.len() >= 3, "want several segments, got {files:?}");
    let last = files.last().expect("a segment").clone();
    let first: u64 = last.trim_end_matches(".log").parse().expect("name");
    let mut ends = Vec::new();
    let mut offset = SEGMENT_HEADER_BYTES as u64;
    for index in first..=ENTRIES {
        offset += record_bytes(common::payload(index, 1).len()) as u64;
        ends.push(offset);
    }
    (dir, PathBuf::from(last), first, ends)
}

/// Copies the pristine log, cuts its last segment at `cut` bytes, and
/// opens it.
fn open_cut(
    pristine: &Path,
    last: &Path,
    cut: u64,
    mode: RecoveryMode,
) -> (tempfile::TempDir, Result<RaftLog, Error>) {
    let dir = tempfile::tempdir().expect("tempdir");
    copy_dir(pristine, dir.path());
    let file = OpenOptions::new()
        .write(true)
        .open(dir.path().join(last))
        .expect("open segment");
    file.set_len(cut).expect("cut");
    drop(file);
    let log = RaftLog::open(dir.path(), small_config(SEGMENT_BYTES, mode));
    (dir, log)
}

/// Entries that must survive a cut at `cut`: every record that ends at or
/// before it.
fn survivors(first: u64, ends: &[u64], cut: u64) -> u64 {
    first - 1 + ends.iter().filter(|&&end| end <= cut).count() as u64
}

/// Reopened after the cut: a prefix, appends continue, reopen agrees.
fn check_prefix_and_continue(dir: &Path, log: RaftLog, expect_last: u64, cut: u64) {
    assert_eq!(log.last_index(), Some(expect_last), "cut at {cut}");
    assert_entries(&log, 1, expect_last);
    append_durable(&log, expect_last + 1..=expect_last + 3, 2).expect("append after recovery");
    log.close().expect("close");
    let log = RaftLog::open(dir, small_config(SEGMENT_BYTES, RecoveryMode::Absolute))
        .expect("clean reopen");
    assert_entries(&log, 1, expect_last + 3);
}

#[test]
fn cut_at_every_byte_of_the_last_record() {
    let (pristine, last, first, ends) = pristine();
    let record_start = ends[ends.len() - 2];
    let record_end = ends[ends.len() - 1];
    for cut in record_start..=record_end + END_MARKER_BYTES as u64 {
        let expect_last = survivors(first, &ends, cut);
        assert_eq!(
            expect_last,
            if cut < record_end {
                ENTRIES - 1
            } else {
                ENTRIES
            }
        );
        let (dir, log) = open_cut(pristine.path(), &last, cut, RecoveryMode::TolerateTail);
        check_prefix_and_continue(
            dir.path(),
            log.expect("tolerate-tail opens a torn tail"),
            expect_last,
            cut,
        );
    }
}

#[test]
fn torn_tail_is_refused_under_absolute() {
    let (pristine, last, _, ends) = pristine();
    let record_start = ends[ends.len() - 2];
    let record_end = ends[ends.len() - 1];
    for cut in record_start..record_end + END_MARKER_BYTES as u64 {
        let (dir, log) = open_cut(pristine.path(), &last, cut, RecoveryMode::Absolute);
        let bad_at = if cut < record_end {
            record_start
        } else {
            record_end
        };
        match log {
            Err(Error::Corrupt { path, offset, .. }) => {
                assert_eq!(
                    (path, offset),
                    (dir.path().join(&last), bad_at),
                    "cut at {cut}"
                );
            }
            Err(other) => panic!("cut at {cut}: wrong error {other}"),
            Ok(_) => panic!("cut at {cut}: absolute mode opened a torn log"),
        }
    }
}

#[test]
fn cut_sweep_across_the_last_segment() {
    let (pristine, last, first, ends) = pristine();
    for cut in (SEGMENT_HEADER_BYTES as u64..=SEGMENT_BYTES).step_by(29) {
        let expect_last = survivors(first, &ends, cut);
        let (dir, log) = open_cut(pristine.path(), &last, cut, RecoveryMode::TolerateTail);
        check_prefix_and_continue(
            dir.path(),
            log.expect("tolerate-tail opens a torn tail"),
            expect_last,
            cut,
        );
    }
}
