//! `RaftLog::observe_syncs`: every group commit of appended entries is
//! reported, before the entries' callbacks run.

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use common::{append_durable, small_config};
use redraft_raftlog::{RaftLog, RecoveryMode};

#[test]
fn every_group_commit_is_reported_before_its_callbacks() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = RaftLog::open(
        dir.path(),
        small_config(1 << 20, RecoveryMode::TolerateTail),
    )
    .expect("open");
    let syncs = Arc::new(AtomicU64::new(0));
    let nanos = Arc::new(AtomicU64::new(0));
    let (counter, total) = (syncs.clone(), nanos.clone());
    log.observe_syncs(Box::new(move |took| {
        counter.fetch_add(1, Ordering::SeqCst);
        total.fetch_add(took.as_nanos() as u64, Ordering::SeqCst);
    }));
    let mut reported = 0;
    for round in 0..5u64 {
        append_durable(&log, round * 10 + 1..=round * 10 + 10, 1).expect("append");
        let now = syncs.load(Ordering::SeqCst);
        assert!(
            now > reported,
            "round {round}: the group commit was not reported before its callback"
        );
        reported = now;
    }
    assert!(reported <= log.stats().fsyncs, "more reports than fsyncs");
    assert!(nanos.load(Ordering::SeqCst) > 0, "durations are measured");
}
