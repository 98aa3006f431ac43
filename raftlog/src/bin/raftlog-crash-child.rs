//! Child process of the crash test (`tests/crash.rs`): opens the log in
//! `<dir>`, then appends from several producer threads as fast as it can,
//! printing the last index of every acknowledged (durable) append on its
//! own stdout line, until the parent kills it with SIGKILL. Every so often
//! it purges an old prefix, so crashes also land in purges and segment
//! recycling.
//!
//! ```text
//! raftlog-crash-child <dir> <term>
//! ```
//!
//! Payloads follow `payload(index, term)` below, which the test repeats
//! to check what survives.

use std::io::Write;
use std::sync::Arc;

use bytes::Bytes;
use parking_lot::Mutex;
use redraft_raftlog::{Config, Entry, RaftLog};

/// Producer threads.
const PRODUCERS: u64 = 4;
/// A purge keeps this many entries behind the last one.
const PURGE_KEEP: u64 = 2000;
/// Entries between purges.
const PURGE_EVERY: u64 = 3000;

/// The payload for `index` at `term` (the test has the same function).
fn payload(index: u64, term: u64) -> Bytes {
    let len = 1 + (index * 37 % 300) as usize;
    let mut bytes = format!("e{index}t{term}:").into_bytes();
    bytes.resize(len.max(bytes.len()), b'a' + (index % 26) as u8);
    Bytes::from(bytes)
}

fn main() {
    let mut args = std::env::args().skip(1);
    let dir = args
        .next()
        .expect("usage: raftlog-crash-child <dir> <term>");
    let term: u64 = args
        .next()
        .expect("term")
        .parse()
        .expect("term is a number");
    let config = Config {
        segment_bytes: 256 << 10,
        entry_bytes_max: 4096,
        batch_bytes_max: 64 << 10,
        queue_bytes_max: 256 << 10,
        cache_bytes_max: 1 << 20,
        ..Config::default()
    };
    let log = Arc::new(RaftLog::open(&dir, config).expect("open"));
    let next = Arc::new(Mutex::new(log.last_index().map_or_else(
        || log.last_purged().map_or(1, |p| p.index + 1),
        |last| last + 1,
    )));
    let producers: Vec<_> = (0..PRODUCERS)
        .map(|p| {
            let (log, next) = (log.clone(), next.clone());
            std::thread::spawn(move || {
                let mut rng = 0x9E37_79B9_7F4A_7C15u64 ^ (term << 8) ^ p;
                loop {
                    rng ^= rng << 13;
                    rng ^= rng >> 7;
                    rng ^= rng << 17;
                    let count = 1 + rng % 8;
                    let mut next = next.lock();
                    let first = *next;
                    let entries = (first..first + count).map(|i| Entry {
                        index: i,
                        term,
                        payload: payload(i, term),
                    });
                    let last = first + count - 1;
                    let done = Box::new(move |result: Result<(), _>| {
                        result.expect("append failed");
                        let mut out = std::io::stdout().lock();
                        writeln!(out, "{last}")
                            .and_then(|()| out.flush())
                            .expect("stdout");
                    });
                    log.append(entries, done).expect("append");
                    *next = last + 1;
                    if first / PURGE_EVERY != last / PURGE_EVERY && last > PURGE_KEEP {
                        let upto = last - PURGE_KEEP;
                        log.purge_upto(upto, Bytes::from(format!("{upto}")))
                            .expect("purge");
                    }
                }
            })
        })
        .collect();
    for producer in producers {
        producer.join().expect("producer");
    }
}
