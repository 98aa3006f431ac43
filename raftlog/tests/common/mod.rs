//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

use bytes::Bytes;
use redraft_raftlog::{Config, Entry, Error, RaftLog, RecoveryMode};

/// A small-segment config, so a few hundred entries span several segments.
pub fn small_config(segment_bytes: u64, recovery: RecoveryMode) -> Config {
    Config {
        segment_bytes,
        recovery,
        entry_bytes_max: 1024,
        batch_bytes_max: 2048,
        queue_bytes_max: 1 << 20,
        cache_bytes_max: 1 << 20,
        spare_segments_max: 1,
        ..Config::default()
    }
}

/// The payload every test writes for `index` at `term`: recognisable,
/// and of varying length so records land at varied offsets.
pub fn payload(index: u64, term: u64) -> Bytes {
    let len = 1 + (index * 37 % 200) as usize;
    let mut bytes = format!("e{index}t{term}:").into_bytes();
    bytes.resize(len.max(bytes.len()), b'a' + (index % 26) as u8);
    Bytes::from(bytes)
}

pub fn entry(index: u64, term: u64) -> Entry {
    Entry {
        index,
        term,
        payload: payload(index, term),
    }
}

/// Appends `indexes` at `term` and waits until they are durable.
pub fn append_durable(
    log: &RaftLog,
    indexes: impl Iterator<Item = u64>,
    term: u64,
) -> Result<(), Error> {
    let (tx, rx) = mpsc::channel();
    log.append(
        indexes.map(|i| entry(i, term)),
        Box::new(move |r| tx.send(r).expect("test alive")),
    )?;
    rx.recv_timeout(Duration::from_secs(30))
        .expect("append completes")
}

/// Checks that the log holds exactly `first..=last`, each with the payload
/// written for it at some term.
pub fn assert_entries(log: &RaftLog, first: u64, last: u64) {
    assert_eq!(log.first_index(), Some(first), "first index");
    assert_eq!(log.last_index(), Some(last), "last index");
    let entries = log.read(first..last + 1).expect("read");
    assert_eq!(entries.len() as u64, last + 1 - first);
    for (k, e) in entries.iter().enumerate() {
        assert_eq!(e.index, first + k as u64);
        assert_eq!(
            e.payload,
            payload(e.index, e.term),
            "payload of {}",
            e.index
        );
    }
}

/// Copies the regular files of `from` into `to` (created).
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read dir") {
        let entry = entry.expect("dir entry");
        if entry.file_type().expect("type").is_file() {
            std::fs::copy(entry.path(), to.join(entry.file_name())).expect("copy");
        }
    }
}

/// The segment files of `dir`, sorted.
pub fn segment_files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("read dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".log"))
        .collect();
    names.sort();
    names
}
