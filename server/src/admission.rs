//! Who may connect: `maxclients` as Redis 7.0 enforces it, the count of
//! refused connections (`rejected_connections` in INFO), and whether each
//! network thread's listener can accept at all (for `/health`).
//!
//! A connection over `maxclients` is accepted, answered
//! `-ERR max number of clients reached` and closed at once, before any
//! client state exists, exactly as Redis does; the listener's accept path
//! (`net/accept.rs`) refuses the same way the connections it can take only by
//! giving up its spare descriptor.
//!
//! Invariants:
//! - `maxclients` is within Redis's range (1..=2^32-1) and, unless the
//!   limit could not be read, fits the open-files limit with
//!   `reserved_descriptors` to spare (`fd_limit.rs`).
//! - A listener is reported as unable to accept from the moment an accept
//!   fails for want of resources until one succeeds, or a probe finds a
//!   descriptor free again; each change is logged once, and a lasting
//!   failure again every [`STILL_FAILING_LOG_INTERVAL`].

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::fd_limit::{self, Fit, ProcessLimit};

/// Redis's reply to a connection over `maxclients`.
pub const MAX_CLIENTS_ERROR: &[u8] = b"-ERR max number of clients reached\r\n";
/// How often a listener that still cannot accept is logged again.
pub const STILL_FAILING_LOG_INTERVAL: Duration = Duration::from_secs(30);

/// A listener that cannot accept, and since when.
#[derive(Debug)]
struct Failing {
    /// The error accept gave, as text.
    reason: String,
    since: Instant,
    /// When this failure was last logged.
    logged_at: Instant,
}

/// Client admission for the whole node.
pub struct Admission {
    /// Clients allowed at once (Redis's `maxclients`, after fitting).
    maxclients: AtomicU64,
    /// Descriptors kept beside the clients' (`fd_limit::reserved_descriptors`).
    reserved_descriptors: u64,
    /// Connections refused since start or `CONFIG RESETSTAT`.
    rejected: AtomicU64,
    /// Each network thread's listener, by executor index: `Some` while it
    /// cannot accept.
    listeners: Box<[Mutex<Option<Failing>>]>,
}

impl Admission {
    /// Admission for `threads` listeners, `maxclients` as configured (not
    /// yet fitted to the limit: see [`Admission::fit_open_files_limit`]).
    pub fn new(maxclients: u64, reserved_descriptors: u64, threads: usize) -> Admission {
        Admission {
            maxclients: AtomicU64::new(maxclients),
            reserved_descriptors,
            rejected: AtomicU64::new(0),
            listeners: (0..threads).map(|_| Mutex::new(None)).collect(),
        }
    }

    /// At start: raises the open-files limit for `maxclients` or lowers
    /// `maxclients` to fit it, logging as Redis does. `Err` when not even
    /// the reserve fits (the server must not start).
    pub fn fit_open_files_limit(&self) -> Result<(), String> {
        let requested = self.maxclients();
        let (maxclients, outcome) =
            fd_limit::fit(requested, self.reserved_descriptors, &mut ProcessLimit);
        fd_limit::log(requested, maxclients, &outcome);
        if let Fit::TooLow { limit, wanted } = outcome {
            return Err(format!(
                "the open-files limit ({limit}) is too low: it must be at least {wanted}"
            ));
        }
        self.maxclients.store(maxclients, Ordering::Relaxed);
        Ok(())
    }

    /// `CONFIG SET maxclients`: takes `requested` if the open-files limit
    /// can be raised to hold it; else `Err` with the most it can hold
    /// (Redis's "try with"), and `maxclients` is unchanged.
    pub fn set_maxclients(&self, requested: u64) -> Result<(), u64> {
        let (fitting, outcome) =
            fd_limit::fit(requested, self.reserved_descriptors, &mut ProcessLimit);
        fd_limit::log(requested, fitting, &outcome);
        if fitting != requested {
            return Err(fitting);
        }
        self.maxclients.store(requested, Ordering::Relaxed);
        Ok(())
    }

    pub fn maxclients(&self) -> u64 {
        self.maxclients.load(Ordering::Relaxed)
    }

    pub fn reserved_descriptors(&self) -> u64 {
        self.reserved_descriptors
    }

    /// Refuses a connection as Redis does: the error, best effort (the
    /// socket is fresh, so its buffer has room), then close.
    pub fn refuse(&self, mut stream: impl Write) {
        let _ = stream.write(MAX_CLIENTS_ERROR);
        self.rejected.fetch_add(1, Ordering::Relaxed);
    }

    /// `rejected_connections`.
    pub fn rejected(&self) -> u64 {
        self.rejected.load(Ordering::Relaxed)
    }

    /// `CONFIG RESETSTAT`.
    pub fn reset_stats(&self) {
        self.rejected.store(0, Ordering::Relaxed);
    }

    /// Listener `executor` could not accept: `reason` is the error.
    pub fn listener_failing(&self, executor: usize, reason: &dyn std::fmt::Display) {
        let now = Instant::now();
        let mut state = self.listeners[executor].lock();
        match state.as_mut() {
            None => {
                tracing::warn!(executor, error = %reason, "client listener cannot accept connections");
                *state = Some(Failing {
                    reason: reason.to_string(),
                    since: now,
                    logged_at: now,
                });
            }
            Some(failing) => {
                if now.duration_since(failing.logged_at) >= STILL_FAILING_LOG_INTERVAL {
                    failing.logged_at = now;
                    tracing::warn!(
                        executor,
                        error = %reason,
                        failing_for_s = now.duration_since(failing.since).as_secs(),
                        rejected_connections = self.rejected(),
                        "client listener still cannot accept connections"
                    );
                }
                failing.reason = reason.to_string();
            }
        }
    }

    /// Listener `executor` can accept again.
    pub fn listener_recovered(&self, executor: usize) {
        if let Some(failing) = self.listeners[executor].lock().take() {
            tracing::info!(
                executor,
                failed_for_ms = failing.since.elapsed().as_millis() as u64,
                "client listener accepting connections again"
            );
        }
    }

    /// Why some listener cannot accept, if one cannot (for `/health`).
    pub fn listener_problem(&self) -> Option<String> {
        self.listeners.iter().find_map(|listener| {
            listener.lock().as_ref().map(|failing| {
                format!(
                    "client listener cannot accept connections for {} ms: {}",
                    failing.since.elapsed().as_millis(),
                    failing.reason
                )
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_connection_gets_redis_error_and_is_counted() {
        let admission = Admission::new(10, 100, 1);
        let mut sent = Vec::new();
        admission.refuse(&mut sent);
        assert_eq!(sent, b"-ERR max number of clients reached\r\n");
        assert_eq!(admission.rejected(), 1);
        admission.reset_stats();
        assert_eq!(admission.rejected(), 0);
    }

    #[test]
    fn a_failing_listener_is_reported_until_it_recovers() {
        let admission = Admission::new(10, 100, 2);
        assert_eq!(admission.listener_problem(), None);
        admission.listener_failing(1, &"Too many open files (os error 24)");
        let problem = admission.listener_problem().expect("reported");
        assert!(
            problem.starts_with("client listener cannot accept connections for ")
                && problem.ends_with(" ms: Too many open files (os error 24)"),
            "{problem}"
        );
        admission.listener_recovered(0);
        assert!(admission.listener_problem().is_some(), "another listener");
        admission.listener_recovered(1);
        assert_eq!(admission.listener_problem(), None);
    }
}
