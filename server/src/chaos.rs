//! Test-only knobs for the fault-injection suite (`chaos/`), compiled only
//! with the cargo feature `chaos`. A normal build has none of this: no
//! routes, no offset, no address rewriting.
//!
//! - Clock: [`offset_unix_ms`] adds a settable offset (positive or
//!   negative) to every wall-clock read that goes through
//!   `clock::unix_ms` (entry stamps, TTL checks, the lease, client idle
//!   times, INFO). `POST /chaos/clock {"offset_ms": N}` sets it; a jump is
//!   a change of the offset, skew is an offset left in place.
//! - Failpoints: `POST /chaos/failpoint {"name": ..., "actions": ...}`
//!   configures a `fail` crate failpoint at run time (raftlog's
//!   `raftlog::fsync`, `raftlog::write`, `raftlog::short-write`,
//!   `raftlog::meta-write`); `"actions": "off"` removes it.
//! - Peer links: the environment variable `REDRAFT_CHAOS_PEERS`, read once,
//!   maps a peer's Raft port to another address
//!   (`8002=127.0.0.1:41000,8003=127.0.0.1:41001`), so each node reaches
//!   each peer through its own fault-injecting proxy.
//!
//! Invariants:
//! - With no request made and no variable set, behaviour is the normal
//!   build's: offset 0, no failpoint configured, addresses unchanged.
//! - The offset never makes a reading negative (it saturates at 0).

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::OnceLock;

use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

/// Added to every wall-clock reading, in milliseconds.
static CLOCK_OFFSET_MS: AtomicI64 = AtomicI64::new(0);

/// `unix_ms` as this node's (possibly skewed) clock reads it.
pub fn offset_unix_ms(unix_ms: u64) -> u64 {
    shifted(unix_ms, CLOCK_OFFSET_MS.load(Ordering::Relaxed))
}

fn shifted(unix_ms: u64, offset_ms: i64) -> u64 {
    (unix_ms as i64).saturating_add(offset_ms).max(0) as u64
}

/// Where to connect to reach the peer whose Raft port is `raft_port`.
pub fn peer_addr(host: &str, raft_port: u16) -> (String, u16) {
    static PEERS: OnceLock<HashMap<u16, (String, u16)>> = OnceLock::new();
    let peers = PEERS.get_or_init(|| {
        std::env::var("REDRAFT_CHAOS_PEERS")
            .map(|text| parse_peers(&text))
            .unwrap_or_default()
    });
    peers
        .get(&raft_port)
        .cloned()
        .unwrap_or_else(|| (host.to_string(), raft_port))
}

/// Parses `port=host:port,...`; malformed items are skipped with a warning.
fn parse_peers(text: &str) -> HashMap<u16, (String, u16)> {
    let mut peers = HashMap::new();
    for item in text.split(',').filter(|i| !i.trim().is_empty()) {
        let parsed = item.split_once('=').and_then(|(from, to)| {
            let (host, port) = to.rsplit_once(':')?;
            Some((
                from.trim().parse().ok()?,
                (host.to_string(), port.parse().ok()?),
            ))
        });
        match parsed {
            Some((from, to)) => {
                peers.insert(from, to);
            }
            None => tracing::warn!(item, "REDRAFT_CHAOS_PEERS: ignoring malformed item"),
        }
    }
    peers
}

#[derive(Debug, Serialize, Deserialize)]
struct ClockBody {
    offset_ms: i64,
}

#[derive(Debug, Deserialize)]
struct FailpointBody {
    name: String,
    actions: String,
}

/// The `/chaos/*` admin routes.
pub fn routes() -> Router {
    Router::new()
        .route("/chaos/clock", post(set_clock).get(get_clock))
        .route("/chaos/failpoint", post(set_failpoint))
}

async fn set_clock(Json(body): Json<ClockBody>) -> Json<ClockBody> {
    CLOCK_OFFSET_MS.store(body.offset_ms, Ordering::Relaxed);
    tracing::warn!(offset_ms = body.offset_ms, "chaos: wall clock offset set");
    Json(body)
}

async fn get_clock() -> Json<ClockBody> {
    Json(ClockBody {
        offset_ms: CLOCK_OFFSET_MS.load(Ordering::Relaxed),
    })
}

async fn set_failpoint(Json(body): Json<FailpointBody>) -> (StatusCode, String) {
    tracing::warn!(name = %body.name, actions = %body.actions, "chaos: failpoint");
    if body.actions == "off" {
        fail::remove(&body.name);
        return (StatusCode::OK, "removed".into());
    }
    match fail::cfg(&body.name, &body.actions) {
        Ok(()) => (StatusCode::OK, "set".into()),
        Err(error) => (StatusCode::BAD_REQUEST, error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peers_parse_and_skip_malformed_items() {
        let peers = parse_peers("8002=127.0.0.1:41000, 8003=127.0.0.1:41001,bad,9=x");
        assert_eq!(peers.len(), 2);
        assert_eq!(peers[&8002], ("127.0.0.1".to_string(), 41000));
        assert_eq!(peers[&8003], ("127.0.0.1".to_string(), 41001));
    }

    #[test]
    fn offset_saturates_at_zero() {
        assert_eq!(shifted(1_000, -5_000), 0);
        assert_eq!(shifted(10_000, -5_000), 5_000);
        assert_eq!(shifted(10_000, 2_500), 12_500);
        assert_eq!(shifted(10_000, 0), 10_000);
    }
}
