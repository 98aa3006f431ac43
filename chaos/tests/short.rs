//! The chaos suite's short mode, run by `cargo test --workspace
//! --all-features` (and so by `.ci/run`): fixed seeds, every nemesis at
//! least once, and a violation fails the test.
//!
//! - `short_mode_finds_nothing_wrong`: a 3-node cluster of the chaos build
//!   of redraft-server under every fault; the history must check out.
//! - `the_suite_catches_a_server_that_acks_before_fsync`: the same harness
//!   against the deliberately broken build (`REDRAFT_CHAOS_BROKEN_ACK`,
//!   acknowledges group commits before they are synced) under power loss
//!   must report lost writes: proof that the suite bites.
//!
//! Both build their server into `target/chaos` (never the workspace's own
//! target directory, whose binary the other tests use) and run one at a
//! time: two clusters at once would starve each other on a small machine.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use redraft_chaos::checker::Validity;
use redraft_chaos::nemesis::{Fault, Timing};
use redraft_chaos::report::render;
use redraft_chaos::run::{build_server, run, workspace_root, RunOptions, RunResult};

/// One cluster at a time.
static ONE_RUN: Mutex<()> = Mutex::new(());

fn options(
    server_bin: PathBuf,
    name: &str,
    seed: u64,
    duration_s: u64,
    faults: &[Fault],
) -> RunOptions {
    RunOptions {
        server_bin,
        out: workspace_root().join("target").join("chaos").join(name),
        nodes: 3,
        seed,
        duration: Duration::from_secs(duration_s),
        clients: 8,
        faults: faults.to_vec(),
        timing: Timing {
            quiet_ms: (400, 900),
            hold_ms: (900, 1800),
            combine_per_mille: 200,
        },
        request_timeout: Duration::from_millis(1500),
        key_time_limit: Duration::from_secs(10),
    }
}

fn show(result: &RunResult) {
    println!("{}", render(&result.summary));
    for check in &result.checks {
        for v in check.violations.iter().take(10) {
            println!("  {} {} {}: {}", check.checker, v.kind, v.key, v.detail);
        }
        if !check.unknown.is_empty() {
            println!("  {} undecided: {:?}", check.checker, check.unknown);
        }
    }
}

#[test]
fn short_mode_finds_nothing_wrong() {
    let server = build_server(false).expect("build the chaos server");
    let _one = ONE_RUN.lock().unwrap_or_else(|p| p.into_inner());
    let result = run(&options(server, "short", 15, 95, &Fault::ALL)).expect("chaos run");
    show(&result);
    let tried: BTreeSet<Fault> = result.bands.iter().map(|b| b.fault).collect();
    let missing: Vec<Fault> = Fault::ALL
        .iter()
        .copied()
        .filter(|f| !tried.contains(f))
        .collect();
    assert!(missing.is_empty(), "faults never tried: {missing:?}");
    assert_eq!(result.summary.lost_writes, 0, "lost writes");
    assert_eq!(
        result.summary.validity,
        Validity::Valid,
        "the history does not check out"
    );
    assert!(
        result.summary.all.ok > 1000,
        "too few acknowledged operations to mean anything"
    );
}

#[test]
fn the_suite_catches_a_server_that_acks_before_fsync() {
    let server = build_server(true).expect("build the broken server");
    let _one = ONE_RUN.lock().unwrap_or_else(|p| p.into_inner());
    let result = run(&options(server, "broken", 3, 20, &[Fault::PowerLoss])).expect("chaos run");
    show(&result);
    assert!(
        result
            .summary
            .faults
            .get("power-loss")
            .copied()
            .unwrap_or(0)
            >= 1
    );
    assert!(
        result.summary.lost_writes > 0 && result.summary.validity == Validity::Invalid,
        "a server that acknowledges before fsync lost nothing under power loss?"
    );
}
