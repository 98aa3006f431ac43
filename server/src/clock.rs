//! The node's wall clock, in Unix milliseconds: the one place the server
//! reads it (entry stamps, TTL checks on reads, leases, idle times, INFO),
//! so the chaos build can skew it in one place.

use std::time::{SystemTime, UNIX_EPOCH};

/// Wall-clock Unix time in milliseconds.
pub fn unix_ms() -> u64 {
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    // Test builds of the chaos suite can skew this node's clock.
    #[cfg(feature = "chaos")]
    let now_ms = crate::chaos::offset_unix_ms(now_ms);
    now_ms
}
