//! What `CLIENT LIST` and `CLIENT INFO` show of a connection's state and
//! buffers (`flags`, `sub`, `psub`, `multi`, `qbuf` … `tot-mem`,
//! `events`), as Redis 7.0 names them.
//!
//! Invariants:
//! - Only the connection's network thread stores them ([`Figures::publish`]),
//!   after each event it handled and before each command it runs; any
//!   thread may read them, so relaxed atomics suffice. A reader sees the
//!   state as of the connection's last event or command, never a mix of
//!   two connections.
//! - Every figure is measured from the connection itself; none is a
//!   constant standing in for one.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU32, AtomicU64, Ordering};

/// Sent `MONITOR` (Redis's `O`).
pub const MONITOR: u32 = 1;
/// Subscribed to a channel or pattern (`P`).
pub const PUBSUB: u32 = 1 << 1;
/// Inside `MULTI` (`x`).
pub const MULTI: u32 = 1 << 2;
/// Waiting in a blocking command or `WAIT` (`b`).
pub const BLOCKED: u32 = 1 << 3;
/// Closes once its replies are sent: `QUIT`, a protocol error (`c`).
pub const CLOSE_AFTER_REPLY: u32 = 1 << 4;
/// Reads this node's own state (`READONLY`, `CONSISTENCY stale`) (`r`).
pub const READONLY: u32 = 1 << 5;

/// Redis's letters for the flags above, in the order it prints them.
const LETTERS: [(u32, char); 6] = [
    (MONITOR, 'O'),
    (PUBSUB, 'P'),
    (MULTI, 'x'),
    (BLOCKED, 'b'),
    (CLOSE_AFTER_REPLY, 'c'),
    (READONLY, 'r'),
];

/// One reading of a connection, in bytes where it is a size.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Snapshot {
    pub flags: u32,
    pub channels: u32,
    pub patterns: u32,
    /// Shard channels (`SSUBSCRIBE`).
    pub shard_channels: u32,
    /// Commands queued since `MULTI`; -1 outside a transaction.
    pub multi: i64,
    /// Input received and not yet run, the running command included.
    pub query_bytes: u64,
    /// Room left in the input buffer.
    pub query_free_bytes: u64,
    /// The arguments of the command running or waiting.
    pub argv_bytes: u64,
    /// The arguments of the commands queued since `MULTI`.
    pub multi_bytes: u64,
    /// The output buffer's size.
    pub reply_buffer_bytes: u64,
    /// The most the output buffer held in the last few seconds.
    pub reply_peak_bytes: u64,
    /// Replies in the output buffer not yet sent.
    pub output_bytes: u64,
    /// Replies held behind this connection's writes in flight (Redis's
    /// reply list: `oll` counts them).
    pub held_replies: u64,
    /// Bytes of the held replies.
    pub held_reply_bytes: u64,
    /// Everything the connection holds, its own structure included.
    pub total_bytes: u64,
    /// Waiting for the socket to take more output.
    pub writing: bool,
}

/// The published figures of one connection.
#[derive(Debug)]
pub struct Figures {
    flags: AtomicU32,
    channels: AtomicU32,
    patterns: AtomicU32,
    shard_channels: AtomicU32,
    multi: AtomicI64,
    query_bytes: AtomicU64,
    query_free_bytes: AtomicU64,
    argv_bytes: AtomicU64,
    multi_bytes: AtomicU64,
    reply_buffer_bytes: AtomicU64,
    reply_peak_bytes: AtomicU64,
    output_bytes: AtomicU64,
    held_replies: AtomicU64,
    held_reply_bytes: AtomicU64,
    total_bytes: AtomicU64,
    writing: AtomicU32,
}

impl Default for Figures {
    fn default() -> Figures {
        let figures = Figures {
            flags: AtomicU32::new(0),
            channels: AtomicU32::new(0),
            patterns: AtomicU32::new(0),
            shard_channels: AtomicU32::new(0),
            multi: AtomicI64::new(-1),
            query_bytes: AtomicU64::new(0),
            query_free_bytes: AtomicU64::new(0),
            argv_bytes: AtomicU64::new(0),
            multi_bytes: AtomicU64::new(0),
            reply_buffer_bytes: AtomicU64::new(0),
            reply_peak_bytes: AtomicU64::new(0),
            output_bytes: AtomicU64::new(0),
            held_replies: AtomicU64::new(0),
            held_reply_bytes: AtomicU64::new(0),
            total_bytes: AtomicU64::new(0),
            writing: AtomicU32::new(0),
        };
        debug_assert_eq!(
            figures.read(),
            Snapshot {
                multi: -1,
                ..Snapshot::default()
            }
        );
        figures
    }
}

impl Figures {
    /// Stores a new reading (the connection's own thread only).
    pub fn publish(&self, now: &Snapshot) {
        let relaxed = Ordering::Relaxed;
        self.flags.store(now.flags, relaxed);
        self.channels.store(now.channels, relaxed);
        self.patterns.store(now.patterns, relaxed);
        self.shard_channels.store(now.shard_channels, relaxed);
        self.multi.store(now.multi, relaxed);
        self.query_bytes.store(now.query_bytes, relaxed);
        self.query_free_bytes.store(now.query_free_bytes, relaxed);
        self.argv_bytes.store(now.argv_bytes, relaxed);
        self.multi_bytes.store(now.multi_bytes, relaxed);
        self.reply_buffer_bytes
            .store(now.reply_buffer_bytes, relaxed);
        self.reply_peak_bytes.store(now.reply_peak_bytes, relaxed);
        self.output_bytes.store(now.output_bytes, relaxed);
        self.held_replies.store(now.held_replies, relaxed);
        self.held_reply_bytes.store(now.held_reply_bytes, relaxed);
        self.total_bytes.store(now.total_bytes, relaxed);
        self.writing.store(u32::from(now.writing), relaxed);
    }

    /// The last reading published.
    pub fn read(&self) -> Snapshot {
        let relaxed = Ordering::Relaxed;
        Snapshot {
            flags: self.flags.load(relaxed),
            channels: self.channels.load(relaxed),
            patterns: self.patterns.load(relaxed),
            shard_channels: self.shard_channels.load(relaxed),
            multi: self.multi.load(relaxed),
            query_bytes: self.query_bytes.load(relaxed),
            query_free_bytes: self.query_free_bytes.load(relaxed),
            argv_bytes: self.argv_bytes.load(relaxed),
            multi_bytes: self.multi_bytes.load(relaxed),
            reply_buffer_bytes: self.reply_buffer_bytes.load(relaxed),
            reply_peak_bytes: self.reply_peak_bytes.load(relaxed),
            output_bytes: self.output_bytes.load(relaxed),
            held_replies: self.held_replies.load(relaxed),
            held_reply_bytes: self.held_reply_bytes.load(relaxed),
            total_bytes: self.total_bytes.load(relaxed),
            writing: self.writing.load(relaxed) != 0,
        }
    }
}

impl Snapshot {
    /// Redis's flag letters: `N` when none is set.
    pub fn flag_letters(&self) -> String {
        let letters: String = LETTERS
            .iter()
            .filter(|(flag, _)| self.flags & flag != 0)
            .map(|&(_, letter)| letter)
            .collect();
        if letters.is_empty() {
            "N".to_owned()
        } else {
            letters
        }
    }

    /// `CLIENT LIST TYPE`'s class: `pubsub` for a subscribed client,
    /// else `normal` (a monitor is normal, as in Redis).
    pub fn kind(&self) -> &'static str {
        if self.flags & PUBSUB != 0 {
            "pubsub"
        } else {
            "normal"
        }
    }

    /// The fields from `flags` to `ssub`, as `CLIENT LIST` prints them.
    pub fn write_state(&self, line: &mut String, db: usize) {
        let _ = write!(
            line,
            "flags={} db={} sub={} psub={} ssub={} multi={}",
            self.flag_letters(),
            db,
            self.channels,
            self.patterns,
            self.shard_channels,
            self.multi,
        );
    }

    /// The fields from `qbuf` to `events`.
    pub fn write_buffers(&self, line: &mut String) {
        let _ = write!(
            line,
            "qbuf={} qbuf-free={} argv-mem={} multi-mem={} rbs={} rbp={} obl={} oll={} omem={} \
             tot-mem={} events={}",
            self.query_bytes,
            self.query_free_bytes,
            self.argv_bytes,
            self.multi_bytes,
            self.reply_buffer_bytes,
            self.reply_peak_bytes,
            self.output_bytes,
            self.held_replies,
            self.output_bytes + self.held_reply_bytes,
            self.total_bytes,
            if self.writing { "rw" } else { "r" },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_print_as_redis_letters_in_its_order() {
        let cases: &[(u32, &str)] = &[
            (0, "N"),
            (MONITOR, "O"),
            (PUBSUB | READONLY, "Pr"),
            (READONLY | BLOCKED | MULTI, "xbr"),
            (CLOSE_AFTER_REPLY | MONITOR | PUBSUB, "OPc"),
        ];
        for &(flags, letters) in cases {
            let snapshot = Snapshot {
                flags,
                ..Snapshot::default()
            };
            assert_eq!(snapshot.flag_letters(), letters, "flags {flags:#b}");
        }
    }

    #[test]
    fn a_published_reading_reads_back_whole() {
        let figures = Figures::default();
        let reading = Snapshot {
            flags: PUBSUB | MULTI,
            channels: 2,
            patterns: 1,
            shard_channels: 4,
            multi: 3,
            query_bytes: 26,
            query_free_bytes: 16358,
            argv_bytes: 10,
            multi_bytes: 40,
            reply_buffer_bytes: 16384,
            reply_peak_bytes: 120,
            output_bytes: 7,
            held_replies: 2,
            held_reply_bytes: 30,
            total_bytes: 33000,
            writing: true,
        };
        figures.publish(&reading);
        assert_eq!(figures.read(), reading);
        let mut line = String::new();
        reading.write_buffers(&mut line);
        assert_eq!(
            line,
            "qbuf=26 qbuf-free=16358 argv-mem=10 multi-mem=40 rbs=16384 rbp=120 obl=7 oll=2 \
             omem=37 tot-mem=33000 events=rw"
        );
    }
}
