//! `MONITOR`: every command this node runs, streamed to the connections
//! that asked, as Redis streams it:
//! `+<unix seconds>.<micros> [<db> <client addr>] "arg" "arg" ...\r\n`,
//! each argument quoted as Redis's `sdscatrepr` quotes it.
//!
//! A command is shown once it has run (so a `SELECT` shows its new
//! database), by whichever network thread ran it; the line travels to each
//! monitor's own network thread through that thread's inbox, as a
//! published message does (`pubsub.rs`). Commands Redis hides are hidden:
//! admin commands (`CONFIG`, `SLOWLOG`, `MONITOR`, ...), commands refused
//! before they ran (unknown, wrong arity, not authenticated), and secrets
//! (AUTH's password, shown `(redacted)`).
//!
//! Invariants:
//! - With no monitor, a command costs one relaxed atomic load here.
//! - The registry lists a connection at most once, exactly while its
//!   `Client::monitoring` is set; a closing connection leaves nothing.
//! - A monitor whose unsent output passes [`OUTPUT_BYTES_MAX`] is
//!   disconnected, so a monitor that does not read cannot grow the node's
//!   memory. (Redis sets no limit: to its output limits a monitor is a
//!   normal client. The limit here is Redis's for replicas.)

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use parking_lot::Mutex;

use crate::pubsub::Subscriber;
use crate::route::{Delivery, Inbox};

/// Unsent monitor output past which the monitor is disconnected (Redis's
/// hard `client-output-buffer-limit` for replicas; Redis has none for
/// monitors).
pub const OUTPUT_BYTES_MAX: usize = 256 << 20;

/// The connections in MONITOR mode on this node.
#[derive(Default)]
pub struct Monitors {
    /// How many are listed: the one load the hot path makes.
    count: AtomicUsize,
    list: Mutex<Vec<Subscriber>>,
}

impl Monitors {
    /// Whether any connection monitors (a relaxed load: a monitor that
    /// starts while a command runs may miss that one command).
    pub fn active(&self) -> bool {
        self.count.load(Ordering::Relaxed) > 0
    }

    pub fn add(&self, who: Subscriber) {
        let mut list = self.list.lock();
        assert!(
            !list.iter().any(|listed| listed.client_id == who.client_id),
            "a connection monitors at most once"
        );
        list.push(who);
        self.count.store(list.len(), Ordering::Relaxed);
    }

    /// Drops client `client_id` from the list, if it is there.
    pub fn remove(&self, client_id: u64) {
        let mut list = self.list.lock();
        list.retain(|listed| listed.client_id != client_id);
        self.count.store(list.len(), Ordering::Relaxed);
    }

    /// Sends `line` to every monitor, through its network thread's inbox.
    pub fn feed(&self, line: Bytes, inboxes: &[Inbox]) {
        let list = self.list.lock();
        for who in list.iter() {
            inboxes[usize::from(who.executor)].push([Delivery::Monitor {
                to: *who,
                line: line.clone(),
            }]);
        }
    }
}

/// One MONITOR line: `+<secs>.<micros> [<db> <addr>] "arg" ...\r\n`.
/// `args` are already redacted.
pub fn line(unix_us: u64, db: usize, addr: SocketAddr, args: &[Bytes]) -> Bytes {
    let mut text = String::with_capacity(48 + args.iter().map(|a| a.len() + 3).sum::<usize>());
    let _ = write!(
        text,
        "+{}.{:06} [{db} {addr}]",
        unix_us / 1_000_000,
        unix_us % 1_000_000
    );
    for arg in args {
        text.push(' ');
        quote_into(&mut text, arg);
    }
    text.push_str("\r\n");
    Bytes::from(text)
}

/// Appends `bytes` quoted as Redis's `sdscatrepr` quotes them: in double
/// quotes, with `\\ \" \n \r \t \a \b` escaped, other printable ASCII as is
/// and every other byte as `\xHH`.
pub fn quote_into(out: &mut String, bytes: &[u8]) {
    out.push('"');
    for &byte in bytes {
        match byte {
            b'\\' => out.push_str("\\\\"),
            b'"' => out.push_str("\\\""),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            0x07 => out.push_str("\\a"),
            0x08 => out.push_str("\\b"),
            0x20..=0x7e => out.push(byte as char),
            _ => {
                let _ = write!(out, "\\x{byte:02x}");
            }
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_quote_as_redis_does() {
        // Redis 7.0.15's MONITOR line for `SET q <value>`.
        let value = "a\"b\\c\n\r\t\x07\x08\x01\u{ff} \u{e9}";
        let args = [
            Bytes::from_static(b"SET"),
            Bytes::from_static(b"q"),
            Bytes::from(value),
        ];
        let addr: SocketAddr = "127.0.0.1:34818".parse().unwrap();
        let line = line(1_795_344_632_163_245, 0, addr, &args);
        assert_eq!(
            &line[..],
            b"+1795344632.163245 [0 127.0.0.1:34818] \"SET\" \"q\" \"a\\\"b\\\\c\\n\\r\\t\\a\\b\\x01\\xc3\\xbf \\xc3\\xa9\"\r\n"
        );
        let early = super::line(5_000_007, 3, addr, &[Bytes::from_static(b"PING")]);
        assert_eq!(&early[..], b"+5.000007 [3 127.0.0.1:34818] \"PING\"\r\n");
    }

    #[test]
    fn the_count_follows_the_list() {
        let monitors = Monitors::default();
        assert!(!monitors.active());
        monitors.add(Subscriber::on_thread_0(1));
        monitors.add(Subscriber::on_thread_0(2));
        assert!(monitors.active());
        let inboxes: Vec<Inbox> = (0..1).map(|_| Inbox::default()).collect();
        monitors.feed(Bytes::from_static(b"+x\r\n"), &inboxes);
        let mut taken = Vec::new();
        inboxes[0].take(&mut taken);
        assert_eq!(taken.len(), 2);
        monitors.remove(101);
        monitors.remove(102);
        monitors.remove(102);
        assert!(!monitors.active());
    }
}
