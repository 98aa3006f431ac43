//! Configuration: sizes, limits and the recovery mode.
//!
//! Every queue, batch, buffer and file has a limit here, and
//! [`Config::validate`] checks that the limits fit inside each other (an
//! entry fits a batch, a batch fits a segment), so the flusher never meets
//! a request it cannot place.

use crate::error::Error;
use crate::format::{record_bytes, END_MARKER_BYTES, SEGMENT_HEADER_BYTES};

/// How much damage [`crate::RaftLog::open`] tolerates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RecoveryMode {
    /// A torn or corrupt tail of the last segment (what a crash during the
    /// final, unacknowledged write leaves) is cut off and logged; damage
    /// anywhere else refuses to open.
    #[default]
    TolerateTail,
    /// Any damage, a torn tail included, refuses to open.
    Absolute,
}

/// Limits and sizes of a [`crate::RaftLog`]. `Config::default()` suits a
/// server; tests shrink the segment size to exercise rolls.
#[derive(Debug, Clone)]
pub struct Config {
    /// Size every segment file is preallocated (and zero-filled) to. A
    /// record never straddles two segments.
    pub segment_bytes: u64,
    /// What damage `open` tolerates.
    pub recovery: RecoveryMode,
    /// Largest payload of one entry.
    pub entry_bytes_max: usize,
    /// Most encoded bytes the flusher writes before an fdatasync; a bigger
    /// drained queue is split into several group commits.
    pub batch_bytes_max: usize,
    /// Most payload bytes queued for the flusher; `append` blocks (back
    /// pressure) while the queue is over it.
    pub queue_bytes_max: usize,
    /// Most requests queued for the flusher; `append` blocks past it.
    pub queue_requests_max: usize,
    /// Payload bytes of recent entries kept in memory for reads. Entries
    /// not yet durable are always kept, whatever this says.
    pub cache_bytes_max: usize,
    /// Zero-filled spare segments kept ready (created ahead by a background
    /// thread, or recycled from purged segments), so a segment roll never
    /// waits for a 64 MiB zero-fill.
    pub spare_segments_max: usize,
    /// Group commits whose fdatasync may be in flight at once (1 = write,
    /// sync, complete, repeat). Two let the next group's write overlap the
    /// previous group's flush; callbacks still fire strictly in order.
    pub syncs_in_flight_max: usize,
    /// Submission queue size of the flusher's io_uring.
    pub ring_entries: u32,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            segment_bytes: 64 << 20,
            recovery: RecoveryMode::TolerateTail,
            entry_bytes_max: 8 << 20,
            batch_bytes_max: 16 << 20,
            queue_bytes_max: 64 << 20,
            queue_requests_max: 1 << 16,
            cache_bytes_max: 64 << 20,
            spare_segments_max: 1,
            syncs_in_flight_max: 2,
            ring_entries: 8,
        }
    }
}

impl Config {
    /// Checks that the limits nest: one entry fits a batch, a batch fits
    /// an empty segment, segment offsets fit in 32 bits.
    pub fn validate(&self) -> Result<(), Error> {
        let invalid = |why: &str| Err(Error::Invalid(format!("config: {why}")));
        if self.segment_bytes > u64::from(u32::MAX) {
            return invalid("segment_bytes must be below 4 GiB");
        }
        if self.segment_bytes < 4096 || !self.segment_bytes.is_multiple_of(4096) {
            return invalid("segment_bytes must be a multiple of 4096, at least 4096");
        }
        let room = self.segment_bytes as usize - SEGMENT_HEADER_BYTES - END_MARKER_BYTES;
        if self.entry_bytes_max == 0 || record_bytes(self.entry_bytes_max) > self.batch_bytes_max {
            return invalid("one entry of entry_bytes_max must fit in batch_bytes_max");
        }
        if self.batch_bytes_max > room {
            return invalid("batch_bytes_max must fit in one segment");
        }
        if self.queue_requests_max == 0 || self.queue_bytes_max == 0 {
            return invalid("queue limits must be positive");
        }
        if !(1..=8).contains(&self.syncs_in_flight_max) {
            return invalid("syncs_in_flight_max must be within 1..=8");
        }
        if !(4..=4096).contains(&self.ring_entries)
            || (self.ring_entries as usize) < 2 * self.syncs_in_flight_max + 2
        {
            return invalid("ring_entries must be within 4..=4096 and hold every sync in flight");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_config_is_valid_and_limits_must_nest() {
        Config::default().validate().expect("default config");
        let bad = [
            Config {
                segment_bytes: 1000,
                ..Config::default()
            },
            Config {
                segment_bytes: 8 << 30,
                ..Config::default()
            },
            Config {
                entry_bytes_max: 32 << 20,
                ..Config::default()
            },
            Config {
                batch_bytes_max: 128 << 20,
                ..Config::default()
            },
            Config {
                queue_requests_max: 0,
                ..Config::default()
            },
            Config {
                syncs_in_flight_max: 0,
                ..Config::default()
            },
            Config {
                ring_entries: 4,
                syncs_in_flight_max: 2,
                ..Config::default()
            },
        ];
        for config in bad {
            assert!(config.validate().is_err(), "accepted {config:?}");
        }
    }
}
