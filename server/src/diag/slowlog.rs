//! The slow log (Redis's `SLOWLOG`): the commands whose execution took at
//! least `slowlog-log-slower-than` microseconds, newest first, at most
//! `slowlog-max-len` of them, shared by every network thread of the node.
//!
//! The duration is what Redis measures: the command's run on its network
//! thread, from its handler's start to the hand-off of its result. A write
//! is timed up to its proposal; the wait for its Raft commit and apply, for
//! earlier writes of its connection or for a read check is not counted
//! (Redis does not count time a client spends blocked either).
//!
//! Invariants:
//! - The entry lock is taken only for a command slow enough to be logged
//!   (and by the SLOWLOG command itself); the fast path is two relaxed
//!   atomic loads.
//! - Ids increase by one per logged entry for the life of the process;
//!   `SLOWLOG RESET` drops entries, never ids (as in Redis).
//! - An entry holds at most [`ARGS_MAX`] arguments of at most
//!   [`ARG_BYTES_MAX`] bytes each (plus the note saying what was cut), so
//!   the log's memory is bounded by `slowlog-max-len`.
//! - The list is trimmed to `slowlog-max-len` when an entry is added, not
//!   when the setting changes (so `SLOWLOG LEN` may exceed a lowered limit
//!   until the next slow command, as in Redis).

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicI64, Ordering};

use bytes::Bytes;
use parking_lot::Mutex;

/// Arguments an entry keeps; the last kept one says how many more there
/// were (Redis's `SLOWLOG_ENTRY_MAX_ARGC`).
pub const ARGS_MAX: usize = 32;
/// Bytes of one argument an entry keeps (Redis's `SLOWLOG_ENTRY_MAX_STRING`).
pub const ARG_BYTES_MAX: usize = 128;
/// `slowlog-log-slower-than`'s default, in microseconds.
pub const SLOWER_THAN_US_DEFAULT: i64 = 10_000;
/// `slowlog-max-len`'s default.
pub const MAX_LEN_DEFAULT: i64 = 128;

/// One logged command, as `SLOWLOG GET` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub id: u64,
    /// Unix seconds when the command finished.
    pub time_s: u64,
    pub duration_us: u64,
    /// The arguments, cut as the module docs say, secrets redacted.
    pub args: Vec<Bytes>,
    /// The client's address (`ip:port`).
    pub peer: String,
    /// The client's name, empty if it has none.
    pub name: String,
}

/// The node's slow log.
pub struct SlowLog {
    /// `slowlog-log-slower-than` in microseconds; negative: log nothing.
    slower_than_us: AtomicI64,
    /// `slowlog-max-len` (0 to `i64::MAX`).
    max_len: AtomicI64,
    /// Newest first, with the id the next entry gets.
    entries: Mutex<(VecDeque<Entry>, u64)>,
}

impl Default for SlowLog {
    fn default() -> SlowLog {
        SlowLog {
            slower_than_us: AtomicI64::new(SLOWER_THAN_US_DEFAULT),
            max_len: AtomicI64::new(MAX_LEN_DEFAULT),
            entries: Mutex::new((VecDeque::new(), 0)),
        }
    }
}

impl SlowLog {
    pub fn slower_than_us(&self) -> i64 {
        self.slower_than_us.load(Ordering::Relaxed)
    }

    pub fn set_slower_than_us(&self, us: i64) {
        self.slower_than_us.store(us, Ordering::Relaxed);
    }

    pub fn max_len(&self) -> i64 {
        self.max_len.load(Ordering::Relaxed)
    }

    pub fn set_max_len(&self, len: i64) {
        assert!(len >= 0, "slowlog-max-len is validated as non-negative");
        self.max_len.store(len, Ordering::Relaxed);
    }

    /// Whether a command that ran `duration_us` belongs in the log.
    pub fn is_slow(&self, duration_us: u64) -> bool {
        let threshold = self.slower_than_us();
        threshold >= 0 && duration_us >= threshold as u64
    }

    /// Logs a command (call only when [`SlowLog::is_slow`] said so).
    /// `args` are the command's arguments, already redacted.
    pub fn push(
        &self,
        args: &[Bytes],
        duration_us: u64,
        time_s: u64,
        peer: SocketAddr,
        name: Option<&str>,
    ) {
        let args = cut_args(args);
        let (peer, name) = (peer.to_string(), name.unwrap_or_default().to_string());
        let max_len = usize::try_from(self.max_len()).unwrap_or(usize::MAX);
        let mut guard = self.entries.lock();
        let (entries, next_id) = &mut *guard;
        entries.push_front(Entry {
            id: *next_id,
            time_s,
            duration_us,
            args,
            peer,
            name,
        });
        *next_id += 1;
        entries.truncate(max_len);
    }

    /// The newest `count` entries, newest first.
    pub fn newest(&self, count: usize) -> Vec<Entry> {
        let guard = self.entries.lock();
        guard.0.iter().take(count).cloned().collect()
    }

    pub fn len(&self) -> usize {
        self.entries.lock().0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `SLOWLOG RESET`: drops every entry (ids go on).
    pub fn reset(&self) {
        self.entries.lock().0.clear();
    }
}

/// The arguments as an entry keeps them: at most [`ARGS_MAX`], the last
/// kept one replaced by `... (N more arguments)` when some were dropped,
/// each at most [`ARG_BYTES_MAX`] bytes followed by `... (N more bytes)`
/// when cut.
pub fn cut_args(args: &[Bytes]) -> Vec<Bytes> {
    let kept = args.len().min(ARGS_MAX);
    let mut out = Vec::with_capacity(kept);
    for (index, arg) in args.iter().take(kept).enumerate() {
        if kept != args.len() && index == kept - 1 {
            let more = args.len() - kept + 1;
            out.push(Bytes::from(format!("... ({more} more arguments)")));
        } else if arg.len() > ARG_BYTES_MAX {
            let mut cut = arg[..ARG_BYTES_MAX].to_vec();
            let more = arg.len() - ARG_BYTES_MAX;
            cut.extend_from_slice(format!("... ({more} more bytes)").as_bytes());
            out.push(Bytes::from(cut));
        } else {
            // A copy: the argument is a slice of the connection's input
            // buffer, which an entry must not keep alive.
            out.push(Bytes::copy_from_slice(arg));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(texts: &[&str]) -> Vec<Bytes> {
        texts
            .iter()
            .map(|text| Bytes::copy_from_slice(text.as_bytes()))
            .collect()
    }

    #[test]
    fn arguments_are_cut_as_redis_cuts_them() {
        let long = "x".repeat(130);
        let cut = cut_args(&args(&["set", &long, "1"]));
        assert_eq!(cut[1], format!("{}... (2 more bytes)", "x".repeat(128)));
        assert_eq!(cut[2], "1");
        let exact = "y".repeat(128);
        assert_eq!(cut_args(&args(&[&exact]))[0], exact.as_str());
        let many: Vec<String> = (0..42).map(|n| n.to_string()).collect();
        let many: Vec<&str> = many.iter().map(String::as_str).collect();
        let cut = cut_args(&args(&many));
        assert_eq!(cut.len(), 32);
        assert_eq!(cut[30], "30");
        assert_eq!(cut[31], "... (11 more arguments)");
        let exactly_32: Vec<&str> = many[..32].to_vec();
        assert_eq!(cut_args(&args(&exactly_32))[31], "31");
    }

    #[test]
    fn entries_are_newest_first_and_trimmed_on_push() {
        let log = SlowLog::default();
        let peer: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        log.set_slower_than_us(0);
        assert!(log.is_slow(0));
        log.set_slower_than_us(-1);
        assert!(!log.is_slow(u64::MAX));
        log.set_slower_than_us(10);
        assert!(!log.is_slow(9) && log.is_slow(10));
        for n in 0..5 {
            log.push(&args(&["get", &n.to_string()]), 10 + n, 1, peer, None);
        }
        let ids: Vec<u64> = log.newest(3).iter().map(|entry| entry.id).collect();
        assert_eq!(ids, [4, 3, 2]);
        log.set_max_len(2);
        assert_eq!(log.len(), 5, "trimmed only when an entry is added");
        log.push(&args(&["ping"]), 10, 1, peer, Some("name"));
        assert_eq!(log.len(), 2);
        let newest = &log.newest(1)[0];
        assert_eq!((newest.id, newest.name.as_str()), (5, "name"));
        assert_eq!(newest.peer, "127.0.0.1:5000");
        log.reset();
        assert!(log.is_empty());
        log.push(&args(&["ping"]), 10, 1, peer, None);
        assert_eq!(log.newest(10)[0].id, 6, "ids survive a reset");
        log.set_max_len(0);
        log.push(&args(&["ping"]), 10, 1, peer, None);
        assert!(log.is_empty());
    }
}
