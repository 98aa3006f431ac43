//! Corruption: a flipped byte in the tail record is cut away under
//! `TolerateTail` and refused under `Absolute`; a flipped byte in a middle
//! record (of the last segment or an earlier one), a segment header or the
//! vote file is always refused, with an error naming file and offset.

mod common;

use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use common::{append_durable, assert_entries, copy_dir, segment_files, small_config};
use redraft_raftlog::{
    record_bytes, Error, RaftLog, RecoveryMode, RECORD_HEADER_BYTES, SEGMENT_HEADER_BYTES,
};

const SEGMENT_BYTES: u64 = 8192;
const ENTRIES: u64 = 150;

/// A pristine log with a vote, and the record start offsets of each
/// segment: `(file name, first index, starts)`.
fn pristine() -> (tempfile::TempDir, Vec<(String, u64, Vec<u64>)>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = RaftLog::open(
        dir.path(),
        small_config(SEGMENT_BYTES, RecoveryMode::TolerateTail),
    )
    .expect("open");
    log.save_vote(b"term 3 for node 2").expect("vote");
    append_durable(&log, 1..=ENTRIES, 1).expect("append");
    log.close().expect("close");
    let names = segment_files(dir.path());
    let firsts: Vec<u64> = names
        .iter()
        .map(|n| n.trim_end_matches(".log").parse().expect("name"))
        .collect();
    let segments = names
        .iter()
        .enumerate()
        .map(|(k, name)| {
            let end = firsts.get(k + 1).copied().unwrap_or(ENTRIES + 1);
            let mut offset = SEGMENT_HEADER_BYTES as u64;
            let starts = (firsts[k]..end)
                .map(|index| {
                    let start = offset;
                    offset += record_bytes(common::payload(index, 1).len()) as u64;
                    start
                })
                .collect();
            (name.clone(), firsts[k], starts)
        })
        .collect();
    (dir, segments)
}

/// Copies the pristine log and flips one bit of `file` at `offset`.
fn flipped(pristine: &Path, file: &str, offset: u64) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    copy_dir(pristine, dir.path());
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(dir.path().join(file))
        .expect("open");
    let mut byte = [0u8];
    f.read_exact_at(&mut byte, offset).expect("read byte");
    byte[0] ^= 0x04;
    f.write_all_at(&byte, offset).expect("write byte");
    dir
}

fn assert_refused(dir: &Path, mode: RecoveryMode, file: &str, offset: u64) {
    match RaftLog::open(dir, small_config(SEGMENT_BYTES, mode)) {
        Err(Error::Corrupt {
            path,
            offset: at,
            reason,
        }) => {
            assert_eq!(
                (path, at),
                (PathBuf::from(dir).join(file), offset),
                "reason: {reason}"
            );
        }
        Err(other) => panic!("wrong error: {other}"),
        Ok(_) => panic!("{mode:?} opened a log with a flipped byte in {file} at {offset}"),
    }
}

/// Byte positions to flip within a record: len, crc, term, index, the
/// first and last payload byte.
fn positions(start: u64, payload_bytes: usize) -> Vec<u64> {
    let header = RECORD_HEADER_BYTES as u64;
    vec![
        start,
        start + 3,
        start + 5,
        start + 9,
        start + 17,
        start + header,
        start + header + payload_bytes as u64 - 1,
    ]
}

#[test]
fn flipped_tail_record_is_cut_or_refused() {
    let (pristine, segments) = pristine();
    let (name, _, starts) = segments.last().expect("segments");
    let start = *starts.last().expect("records");
    for at in positions(start, common::payload(ENTRIES, 1).len()) {
        let dir = flipped(pristine.path(), name, at);
        assert_refused(dir.path(), RecoveryMode::Absolute, name, start);
        let log = RaftLog::open(
            dir.path(),
            small_config(SEGMENT_BYTES, RecoveryMode::TolerateTail),
        )
        .unwrap_or_else(|e| panic!("flip at {at}: tolerate-tail must cut the tail: {e}"));
        assert_entries(&log, 1, ENTRIES - 1);
        append_durable(&log, ENTRIES..=ENTRIES + 1, 2).expect("append over the cut");
        log.close().expect("close");
        let log = RaftLog::open(
            dir.path(),
            small_config(SEGMENT_BYTES, RecoveryMode::Absolute),
        )
        .expect("reopen");
        assert_entries(&log, 1, ENTRIES + 1);
    }
}

#[test]
fn flipped_middle_record_of_the_last_segment_is_refused() {
    let (pristine, segments) = pristine();
    let (name, first, starts) = segments.last().expect("segments");
    let k = starts.len() / 2;
    let start = starts[k];
    for at in positions(start, common::payload(first + k as u64, 1).len()) {
        let dir = flipped(pristine.path(), name, at);
        assert_refused(dir.path(), RecoveryMode::TolerateTail, name, start);
        assert_refused(dir.path(), RecoveryMode::Absolute, name, start);
    }
}

#[test]
fn flipped_record_of_an_earlier_segment_is_refused() {
    let (pristine, segments) = pristine();
    let (name, first, starts) = &segments[0];
    for k in [0, starts.len() / 2, starts.len() - 1] {
        let start = starts[k];
        for at in positions(start, common::payload(first + k as u64, 1).len()) {
            let dir = flipped(pristine.path(), name, at);
            assert_refused(dir.path(), RecoveryMode::TolerateTail, name, start);
        }
    }
}

#[test]
fn flipped_segment_header_is_refused() {
    let (pristine, segments) = pristine();
    for (name, _, _) in [&segments[0], segments.last().expect("segments")] {
        for at in [0, 9, 17, 25] {
            let dir = flipped(pristine.path(), name, at);
            assert_refused(dir.path(), RecoveryMode::TolerateTail, name, 0);
        }
    }
}

#[test]
fn flipped_vote_file_is_refused() {
    let (pristine, _) = pristine();
    for at in [0, 13, 21, 30] {
        let dir = flipped(pristine.path(), "vote", at);
        assert_refused(dir.path(), RecoveryMode::TolerateTail, "vote", 0);
    }
}
