//! Polling with a deadline, for tests that wait on real processes: a probe
//! is called until it reports success, and a timeout panics with what was
//! awaited and the last thing the probe saw.
//!
//! Invariants:
//! - Nothing waits a fixed time: the only sleep is the short pause between
//!   two probes.
//! - Every wait is bounded; a wait that times out panics, so a hung server
//!   fails the test instead of hanging it.

use std::fmt::Display;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Pause between two probes: short next to every timeout used, long enough
/// not to load a 2-core machine that runs several clusters at once.
const POLL_INTERVAL: Duration = Duration::from_millis(20);

/// Calls `probe` until it returns `Ok`, and returns that value. `probe`
/// returns `Err(observation)` while the condition does not hold; after
/// `timeout` the test panics with `what` and the last observation.
pub fn until<T>(
    timeout: Duration,
    what: impl Display,
    mut probe: impl FnMut() -> Result<T, String>,
) -> T {
    let start = Instant::now();
    loop {
        match probe() {
            Ok(value) => return value,
            Err(observed) if start.elapsed() >= timeout => {
                panic!("timed out after {timeout:?} waiting for {what}; last seen: {observed}")
            }
            Err(_) => std::thread::sleep(POLL_INTERVAL),
        }
    }
}

/// Waits until `count` (bumped by other threads) reaches `target`.
pub fn until_count(timeout: Duration, count: &AtomicU64, target: u64, what: &str) {
    until(timeout, format!("{target} {what}"), || {
        let now = count.load(Ordering::Relaxed);
        if now >= target {
            Ok(())
        } else {
            Err(format!("{now} so far"))
        }
    })
}
