//! Crash test: a child process appends and prints every acknowledged
//! index; we SIGKILL it at random moments, reopen the log, and check that
//! every acknowledged index survived with its payload. The same directory
//! goes through every round, so each recovery starts from the previous
//! crash's leftovers.

mod common;

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use redraft_raftlog::{Config, RaftLog};

/// Kill rounds; the whole test stays well under 30 s.
const ROUNDS: u64 = 40;

/// Must match the child's payload function.
fn payload(index: u64, term: u64) -> Bytes {
    let len = 1 + (index * 37 % 300) as usize;
    let mut bytes = format!("e{index}t{term}:").into_bytes();
    bytes.resize(len.max(bytes.len()), b'a' + (index % 26) as u8);
    Bytes::from(bytes)
}

#[test]
fn sigkill_never_loses_an_acknowledged_entry() {
    let dir = tempfile::tempdir().expect("tempdir");
    let started = Instant::now();
    let mut rng = 0x2545_F491_4F6C_DD1Du64 ^ u64::from(std::process::id());
    let mut acked_total = 0;
    for round in 1..=ROUNDS {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let mut child = Command::new(env!("CARGO_BIN_EXE_raftlog-crash-child"))
            .arg(dir.path())
            .arg(round.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn child");
        std::thread::sleep(Duration::from_millis(5 + rng % 150));
        child.kill().expect("SIGKILL");
        let status = child.wait().expect("wait");
        assert!(!status.success(), "the child must die by the signal");
        let mut out = String::new();
        child
            .stdout
            .take()
            .expect("stdout")
            .read_to_string(&mut out)
            .expect("read stdout");
        // Only complete lines count: a line cut by the kill was never
        // fully reported.
        let complete = out.rfind('\n').map_or("", |end| &out[..end]);
        let acked = complete
            .lines()
            .map(|l| l.parse::<u64>().expect("index line"))
            .max();
        acked_total += complete.lines().count();

        let log = RaftLog::open(dir.path(), Config::default_for_crash_test())
            .expect("reopen after SIGKILL");
        if let Some(acked) = acked {
            let last = log.last_index().expect("acknowledged entries exist");
            assert!(
                last >= acked,
                "round {round}: acknowledged {acked} but the log ends at {last}"
            );
        }
        if let (Some(first), Some(last)) = (log.first_index(), log.last_index()) {
            let entries = log.read(first..last + 1).expect("read back");
            assert_eq!(
                entries.len() as u64,
                last + 1 - first,
                "round {round}: a hole in the log"
            );
            let mut term = 0;
            for e in &entries {
                assert_eq!(
                    e.payload,
                    payload(e.index, e.term),
                    "round {round}: payload of {}",
                    e.index
                );
                assert!(
                    e.term >= term && e.term <= round,
                    "round {round}: term order at {}",
                    e.index
                );
                term = e.term;
            }
        }
        log.close().expect("close");
    }
    assert!(
        acked_total > 0,
        "the child never acknowledged anything; the test proved nothing"
    );
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "crash test too slow: {:?}",
        started.elapsed()
    );
}

trait CrashConfig {
    fn default_for_crash_test() -> Config;
}

impl CrashConfig for Config {
    /// The child's config (segment size matters for recovery).
    fn default_for_crash_test() -> Config {
        Config {
            segment_bytes: 256 << 10,
            entry_bytes_max: 4096,
            batch_bytes_max: 64 << 10,
            queue_bytes_max: 256 << 10,
            cache_bytes_max: 1 << 20,
            ..Config::default()
        }
    }
}
