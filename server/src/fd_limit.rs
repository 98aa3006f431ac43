//! The open-files limit and `maxclients`, as Redis's
//! `adjustOpenFilesLimit`: serving `maxclients` clients takes that many
//! descriptors plus the ones the server keeps for itself
//! ([`reserved_descriptors`]). At start, and when `CONFIG SET maxclients`
//! asks for more, the soft `RLIMIT_NOFILE` is raised to cover both where
//! the hard limit allows it (and the hard limit too, for a process allowed
//! to raise it); when it cannot be, `maxclients` is lowered to what fits,
//! and the server logs Redis's lines saying so.
//!
//! Invariants:
//! - The limit is only ever raised, never lowered (Redis lowers the hard
//!   limit to the soft one; redraft leaves it, so a later `CONFIG SET` can
//!   still raise the soft limit).
//! - [`fit`] returns a `maxclients` no larger than the one asked for, and,
//!   unless the limit could not be read, one for which `maxclients` plus
//!   the reserve is within the soft limit left in effect.

use std::io;

/// Redis's `CONFIG_MIN_RESERVED_FDS`: standard streams, the log, the data
/// directory's lock and `committed` files, a snapshot being written or
/// sent, `/proc` reads and other short-lived files.
const BASE_RESERVED: u64 = 32;
/// Per network thread: its listener, its epoll instance, its waker's
/// eventfd and the spare descriptor it keeps for refusing clients when
/// descriptors run out (`net/accept.rs`).
const PER_NETWORK_THREAD: u64 = 4;
/// The Raft thread's own: its tokio runtime (epoll and eventfd), the log's
/// io_uring and directory lock, and the listeners of the peer transport and
/// of the admin HTTP API.
const RAFT_RUNTIME: u64 = 6;
/// Segment files of the Raft log: each live segment stays open, plus the
/// spare segments being prepared. A log longer than this many segments
/// between snapshots takes descriptors from the clients' share; the
/// listener then refuses the excess clients (`net/accept.rs`).
const LOG_SEGMENTS: u64 = 16;
/// Connections of the admin HTTP API (scrapers, health checks, operators).
const ADMIN_CONNECTIONS: u64 = 16;
/// Peers the reserve allows for at the least: a node started alone or
/// with three members may be grown to a group of five (`POST /cluster/join`).
const PEERS_MIN: u64 = 4;
/// What Redis assumes when the limit cannot be read.
const ASSUMED_LIMIT: u64 = 1024;

/// Descriptors the server keeps beside its clients' connections, for
/// `threads` network threads in a group of `members` voters whose peer
/// transport opens `lanes` connections to each peer: the constants above,
/// plus one connection each way per lane to every other member (every
/// peer opens as many to this node).
pub fn reserved_descriptors(threads: usize, members: usize, lanes: usize) -> u64 {
    let peers = (members.saturating_sub(1) as u64).max(PEERS_MIN);
    let lanes = lanes as u64;
    BASE_RESERVED
        + PER_NETWORK_THREAD * threads as u64
        + RAFT_RUNTIME
        + LOG_SEGMENTS
        + ADMIN_CONNECTIONS
        + 2 * lanes * peers
}

/// An `RLIMIT_NOFILE` value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    pub soft: u64,
    pub hard: u64,
}

/// Reading and setting the limit: the process's own in the server, a
/// scripted one in tests.
pub trait OpenFiles {
    fn get(&mut self) -> io::Result<Limit>;
    fn set(&mut self, limit: Limit) -> io::Result<()>;
}

/// The process's `RLIMIT_NOFILE`.
pub struct ProcessLimit;

impl OpenFiles for ProcessLimit {
    fn get(&mut self) -> io::Result<Limit> {
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit writes the struct we pass and nothing else.
        if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Limit {
            soft: limit.rlim_cur,
            hard: limit.rlim_max,
        })
    }

    fn set(&mut self, limit: Limit) -> io::Result<()> {
        let limit = libc::rlimit {
            rlim_cur: limit.soft,
            rlim_max: limit.hard,
        };
        // SAFETY: setrlimit reads the struct we pass and nothing else.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }
}

/// What [`fit`] did to the limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fit {
    /// The soft limit already covered `maxclients` and the reserve.
    Enough,
    /// The soft limit was raised from `from` to `to`.
    Raised { from: u64, to: u64 },
    /// The limit could not be read; Redis's 1024 is assumed.
    Unknown { error: String },
    /// The limit reached only `limit` of the `wanted` descriptors (`error`
    /// says why not more), so `maxclients` was lowered.
    Lowered {
        wanted: u64,
        limit: u64,
        error: String,
    },
    /// Not even the reserve fits in `limit`: the server cannot run.
    TooLow { limit: u64, wanted: u64 },
}

/// Raises the limit toward `maxclients + reserved` and returns the
/// `maxclients` that fits, with what was done. On [`Fit::TooLow`] the
/// returned `maxclients` is meaningless.
pub fn fit(maxclients: u64, reserved: u64, os: &mut impl OpenFiles) -> (u64, Fit) {
    let wanted = maxclients.saturating_add(reserved);
    let limit = match os.get() {
        Ok(limit) => limit,
        Err(error) => {
            let fitting = ASSUMED_LIMIT.saturating_sub(reserved).clamp(1, maxclients);
            let error = error.to_string();
            return (fitting, Fit::Unknown { error });
        }
    };
    if limit.soft >= wanted {
        return (maxclients, Fit::Enough);
    }
    let raised = if wanted <= limit.hard {
        os.set(Limit {
            soft: wanted,
            hard: limit.hard,
        })
        .map(|()| wanted)
    } else {
        // Only a privileged process may raise the hard limit; any process
        // may raise its soft limit up to the hard one.
        os.set(Limit {
            soft: wanted,
            hard: wanted,
        })
        .map(|()| wanted)
    };
    let (best, error) = match raised {
        Ok(best) => (best, None),
        Err(error) if limit.hard > limit.soft && limit.hard < wanted => {
            let best = os
                .set(Limit {
                    soft: limit.hard,
                    hard: limit.hard,
                })
                .map_or(limit.soft, |()| limit.hard);
            (best, Some(error))
        }
        Err(error) => (limit.soft, Some(error)),
    };
    match error {
        None => (
            maxclients,
            Fit::Raised {
                from: limit.soft,
                to: best,
            },
        ),
        Some(_) if best <= reserved => (
            0,
            Fit::TooLow {
                limit: best,
                wanted,
            },
        ),
        Some(error) => (
            best - reserved,
            Fit::Lowered {
                wanted,
                limit: best,
                error: os_error_text(&error),
            },
        ),
    }
}

/// An OS error as `strerror` words it ("Operation not permitted"), as
/// Redis's log lines show it.
fn os_error_text(error: &io::Error) -> String {
    let text = error.to_string();
    match text.find(" (os error") {
        Some(end) => text[..end].to_string(),
        None => text,
    }
}

/// Logs what [`fit`] did for a request of `requested` clients, in Redis's
/// words.
pub fn log(requested: u64, maxclients: u64, fit: &Fit) {
    match fit {
        Fit::Enough => {}
        Fit::Raised { from, to } => tracing::info!(
            "Increased maximum number of open files to {to} (it was originally set to {from})."
        ),
        Fit::Unknown { error } => tracing::warn!(
            "Unable to obtain the current NOFILE limit ({error}), assuming {ASSUMED_LIMIT} and \
             setting the max clients configuration accordingly."
        ),
        Fit::Lowered {
            wanted,
            limit,
            error,
        } => {
            tracing::warn!(
                "You requested maxclients of {requested} requiring at least {wanted} max file descriptors."
            );
            tracing::warn!(
                "Server can't set maximum open files to {wanted} because of OS error: {error}."
            );
            tracing::warn!(
                "Current maximum open files is {limit}. maxclients has been reduced to \
                 {maxclients} to compensate for low ulimit. If you need higher maxclients \
                 increase 'ulimit -n'."
            );
        }
        Fit::TooLow { limit, wanted } => tracing::error!(
            "Your current 'ulimit -n' of {limit} is not enough for the server to start. Please \
             increase your open file limit to at least {wanted}. Exiting."
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A limit that a process without privileges has: the soft limit may
    /// go up to the hard one, the hard one only down.
    struct Unprivileged(Limit);

    impl OpenFiles for Unprivileged {
        fn get(&mut self) -> io::Result<Limit> {
            Ok(self.0)
        }

        fn set(&mut self, limit: Limit) -> io::Result<()> {
            if limit.hard > self.0.hard || limit.soft > limit.hard {
                return Err(io::Error::from_raw_os_error(libc::EPERM));
            }
            self.0 = limit;
            Ok(())
        }
    }

    /// Each case: maxclients, reserve, soft and hard limits before; the
    /// maxclients that fits, the outcome and the limit after.
    #[test]
    fn fitting_maxclients_to_the_limit() {
        let eperm = "Operation not permitted".to_string();
        let cases: &[(u64, u64, Limit, u64, Fit, Limit)] = &[
            (
                10_000,
                100,
                Limit {
                    soft: 1_048_576,
                    hard: 1_048_576,
                },
                10_000,
                Fit::Enough,
                Limit {
                    soft: 1_048_576,
                    hard: 1_048_576,
                },
            ),
            (
                10_000,
                100,
                Limit {
                    soft: 1024,
                    hard: 524_288,
                },
                10_000,
                Fit::Raised {
                    from: 1024,
                    to: 10_100,
                },
                Limit {
                    soft: 10_100,
                    hard: 524_288,
                },
            ),
            (
                10_000,
                100,
                Limit {
                    soft: 1024,
                    hard: 4096,
                },
                3996,
                Fit::Lowered {
                    wanted: 10_100,
                    limit: 4096,
                    error: eperm.clone(),
                },
                Limit {
                    soft: 4096,
                    hard: 4096,
                },
            ),
            (
                10_000,
                100,
                Limit {
                    soft: 512,
                    hard: 512,
                },
                412,
                Fit::Lowered {
                    wanted: 10_100,
                    limit: 512,
                    error: eperm.clone(),
                },
                Limit {
                    soft: 512,
                    hard: 512,
                },
            ),
            (
                10_000,
                600,
                Limit {
                    soft: 512,
                    hard: 512,
                },
                0,
                Fit::TooLow {
                    limit: 512,
                    wanted: 10_600,
                },
                Limit {
                    soft: 512,
                    hard: 512,
                },
            ),
        ];
        for (maxclients, reserved, before, want_max, want_fit, want_after) in cases {
            let mut os = Unprivileged(*before);
            let (got_max, got_fit) = fit(*maxclients, *reserved, &mut os);
            assert_eq!(
                (got_max, &got_fit, os.0),
                (*want_max, want_fit, *want_after),
                "maxclients {maxclients}, reserve {reserved}, limit {before:?}"
            );
        }
    }

    #[test]
    fn an_unreadable_limit_assumes_redis_1024() {
        struct Broken;
        impl OpenFiles for Broken {
            fn get(&mut self) -> io::Result<Limit> {
                Err(io::Error::from_raw_os_error(libc::EINVAL))
            }
            fn set(&mut self, _: Limit) -> io::Result<()> {
                unreachable!("nothing is set when the limit is unknown")
            }
        }
        let (maxclients, outcome) = fit(10_000, 100, &mut Broken);
        assert_eq!(maxclients, 924);
        assert!(matches!(outcome, Fit::Unknown { .. }));
    }

    #[test]
    fn the_reserve_counts_threads_and_peers() {
        // 2 threads, a single node (room kept for 4 peers), 5 lanes.
        assert_eq!(reserved_descriptors(2, 1, 5), 32 + 8 + 6 + 16 + 16 + 40);
        // Nine members: 8 peers.
        assert_eq!(reserved_descriptors(2, 9, 5), 32 + 8 + 6 + 16 + 16 + 80);
    }
}
