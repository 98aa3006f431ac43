//! Opening a log directory: find the segments, verify every record, and
//! decide what to do with damage.
//!
//! Rules (see [`crate::RecoveryMode`]):
//! - Segments wholly below the purge point are deleted unread.
//! - Every other segment is read whole; its header must verify and name
//!   the file's first index; its records must verify and carry
//!   consecutive indexes; consecutive segments must be contiguous.
//! - A bad record in the last segment is a torn tail (what a crash during
//!   the final, never-acknowledged write leaves) only if no valid record
//!   with a higher index follows it; under `TolerateTail` it is cut off by
//!   writing an end marker over it, and logged with its offset. A bad
//!   record followed by a valid later one means acknowledged data was
//!   damaged: opening refuses, naming the file and offset.
//! - A bad segment header always refuses: headers are synced before the
//!   file gets its name, so a bad one is media damage, not a torn write.

use std::collections::{BTreeMap, VecDeque};
use std::fs::{self, File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;

use crate::config::{Config, RecoveryMode};
use crate::error::Error;
use crate::format::{
    decode_at, decode_segment_header, parse_segment_file_name, segment_file_name, Decoded,
    END_MARKER_BYTES, RECORD_ALIGN_BYTES, SEGMENT_HEADER_BYTES,
};
use crate::meta::{self, Kind, PURGED_FILE, VOTE_FILE};
use crate::segment::{preallocate, Segment};
use crate::{Entry, Purged};

/// What `open` found on disk.
pub struct Recovered {
    /// Live segments by first index.
    pub segments: BTreeMap<u64, Segment>,
    /// The newest entries above the purge point, at most about
    /// `cache_bytes_max` of payload, to seed the read cache.
    pub tail: VecDeque<Entry>,
    /// The saved vote.
    pub vote: Option<Bytes>,
    /// The saved purge point.
    pub purged: Option<Purged>,
}

/// Scans `dir` and returns its verified contents, repairing a torn tail
/// when `config.recovery` allows it.
pub fn recover(dir: &Path, config: &Config) -> Result<Recovered, Error> {
    for name in [VOTE_FILE, PURGED_FILE] {
        let tmp = dir.join(format!("{name}.tmp"));
        if tmp.exists() {
            fs::remove_file(&tmp).map_err(|e| Error::io(&tmp, &e))?;
        }
    }
    let vote = meta::read(dir, VOTE_FILE, Kind::Vote)?;
    let purged = meta::read_purged(dir)?;
    let purged_next = purged.as_ref().map(|p| p.index + 1);
    let firsts = live_segments(dir, purged_next)?;

    let mut scan = Scan {
        tail: VecDeque::new(),
        tail_bytes: 0,
        purged_next,
        config,
    };
    let mut segments = BTreeMap::new();
    let mut expected: Option<u64> = None;
    for (k, &first) in firsts.iter().enumerate() {
        let path = dir.join(segment_file_name(first));
        if let Some(next) = expected.filter(|&next| next != first) {
            let why =
                format!("segment starts at index {first}, but the previous one ends before {next}");
            return Err(Error::corrupt(path, 0, why));
        }
        let segment = scan.segment(path, first, k + 1 == firsts.len())?;
        expected = Some(segment.next_index());
        segments.insert(first, segment);
    }
    if let (Some(next), Some(segment)) = (purged_next, segments.values().next()) {
        if segment.first_index > next {
            let why = format!(
                "entries {next}..{} are neither purged nor present",
                segment.first_index
            );
            return Err(Error::corrupt(&segment.path, 0, why));
        }
    }
    Ok(Recovered {
        segments,
        tail: scan.tail,
        vote,
        purged,
    })
}

/// Lists segment first indexes in order, deleting the segments that the
/// purge point wholly covers (a crash can leave them behind).
fn live_segments(dir: &Path, purged_next: Option<u64>) -> Result<Vec<u64>, Error> {
    let mut firsts = Vec::new();
    for entry in fs::read_dir(dir).map_err(|e| Error::io(dir, &e))? {
        let entry = entry.map_err(|e| Error::io(dir, &e))?;
        if let Some(first) = parse_segment_file_name(&entry.file_name().to_string_lossy()) {
            firsts.push(first);
        }
    }
    firsts.sort_unstable();
    let Some(purged_next) = purged_next else {
        return Ok(firsts);
    };
    // A segment is covered when its successor starts at or below the
    // first unpurged index; the last segment is always kept.
    let covered = firsts
        .windows(2)
        .take_while(|w| w[1] <= purged_next)
        .count();
    for first in firsts.drain(..covered) {
        let path = dir.join(segment_file_name(first));
        fs::remove_file(&path).map_err(|e| Error::io(&path, &e))?;
    }
    if covered > 0 {
        meta::sync_dir(dir)?;
    }
    Ok(firsts)
}

/// The state of one recovery scan.
struct Scan<'a> {
    tail: VecDeque<Entry>,
    tail_bytes: usize,
    purged_next: Option<u64>,
    config: &'a Config,
}

impl Scan<'_> {
    fn segment(&mut self, path: PathBuf, first: u64, is_last: bool) -> Result<Segment, Error> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .map_err(|e| Error::io(&path, &e))?;
        let buf = fs::read(&path).map_err(|e| Error::io(&path, &e))?;
        match decode_segment_header(&buf) {
            Ok(named) if named == first => {}
            Ok(named) => {
                return Err(Error::corrupt(
                    &path,
                    0,
                    format!("header names first index {named}"),
                ))
            }
            Err(why) => return Err(Error::corrupt(&path, 0, why)),
        }
        let mut offsets = Vec::new();
        let mut offset = SEGMENT_HEADER_BYTES;
        let mut index = first;
        loop {
            let reason = match decode_at(&buf, offset) {
                Decoded::Record {
                    term,
                    index: got,
                    payload,
                    bytes,
                } if got == index => {
                    offsets.push(offset as u32);
                    self.keep(Entry {
                        index,
                        term,
                        payload: Bytes::copy_from_slice(&buf[payload]),
                    });
                    offset += bytes;
                    index += 1;
                    continue;
                }
                Decoded::End => break,
                Decoded::Record { .. } => "record holds an unexpected index",
                Decoded::Bad(reason) => reason,
            };
            self.bad_record(&path, &file, &buf, offset, index, reason, is_last)?;
            break;
        }
        if is_last && (buf.len() as u64) < self.config.segment_bytes {
            preallocate(&file, self.config.segment_bytes).map_err(|e| Error::io(&path, &e))?;
        }
        Ok(Segment {
            first_index: first,
            path,
            file: Arc::new(file),
            offsets,
            end: offset as u32,
        })
    }

    /// Keeps an entry for the read cache, dropping the oldest past the cap.
    fn keep(&mut self, entry: Entry) {
        if self.purged_next.is_some_and(|next| entry.index < next) {
            return;
        }
        self.tail_bytes += entry.payload.len();
        self.tail.push_back(entry);
        while self.tail_bytes > self.config.cache_bytes_max {
            let old = self.tail.pop_front().expect("over the cap means not empty");
            self.tail_bytes -= old.payload.len();
        }
    }

    /// Decides what a bad record at `offset` means: a torn tail to cut, or
    /// damage that refuses the open.
    #[allow(clippy::too_many_arguments)]
    fn bad_record(
        &self,
        path: &Path,
        file: &File,
        buf: &[u8],
        offset: usize,
        index: u64,
        reason: &str,
        is_last: bool,
    ) -> Result<(), Error> {
        let refuse = |why: String| Err(Error::corrupt(path, offset as u64, why));
        if !is_last {
            return refuse(format!(
                "{reason} (record {index}, not in the last segment)"
            ));
        }
        if self.config.recovery == RecoveryMode::Absolute {
            return refuse(format!(
                "{reason} (record {index}; recovery mode is absolute)"
            ));
        }
        if let Some((at, later)) = later_record(buf, offset, index) {
            return refuse(format!(
                "{reason} (record {index}), yet a valid record {later} follows at offset {at}"
            ));
        }
        tracing::warn!(
            path = %path.display(),
            offset,
            reason,
            "raftlog: cutting the torn tail of the last segment from record {index}"
        );
        file.write_all_at(&[0; END_MARKER_BYTES], offset as u64)
            .and_then(|()| file.sync_data())
            .map_err(|e| Error::io(path, &e))
    }
}

/// The first valid record after `offset` whose index is above `index`, as
/// (offset, index): evidence that the damage is not at the tail.
fn later_record(buf: &[u8], offset: usize, index: u64) -> Option<(usize, u64)> {
    (offset + RECORD_ALIGN_BYTES..buf.len())
        .step_by(RECORD_ALIGN_BYTES)
        .find_map(|at| match decode_at(buf, at) {
            Decoded::Record { index: got, .. } if got > index => Some((at, got)),
            _ => None,
        })
}
