//! Stopping the server on purpose: `SHUTDOWN [NOSAVE|SAVE] [NOW] [FORCE]
//! [ABORT]`, SIGTERM and SIGINT.
//!
//! Every acknowledged write is already in the fsynced Raft log of a
//! majority, so a shutdown has nothing to wait for: no replica to let
//! catch up (Redis's reason to pause; `NOW` is accepted and changes
//! nothing) and no buffer to save. `SAVE` takes a Raft snapshot first, as
//! Redis writes its RDB; if it fails the shutdown is called off, unless
//! `FORCE`. Then the main thread stops Raft, closes the log (its flusher
//! drains and syncs), logs that it exits, and exits 0.
//!
//! Invariants:
//! - Signals are handled by one thread only (`sigwait`): every other thread
//!   has SIGTERM and SIGINT blocked, from before the first thread starts.
//! - Only the main thread exits the process on a request, and only after
//!   the Raft log is closed.
//! - A shutdown is never paused, so `SHUTDOWN ABORT` always answers that
//!   none is in progress, as Redis does when it has none.

use std::sync::mpsc::{Receiver, Sender};

use bytes::Bytes;
use parking_lot::Mutex;
use redraft_engine::Error;

/// The error for `SHUTDOWN` with a `SAVE` that failed (Redis's text).
pub const SHUTDOWN_FAILED: &str = "ERR Errors trying to SHUTDOWN. Check logs.";
/// `SHUTDOWN ABORT` with nothing to abort (Redis's text).
pub const NO_SHUTDOWN: &str = "ERR No shutdown in progress.";

/// What `SHUTDOWN`'s arguments ask for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Flags {
    pub save: bool,
    pub nosave: bool,
    pub now: bool,
    pub force: bool,
    pub abort: bool,
}

/// Parses `SHUTDOWN`'s arguments as Redis 7.0 does: any of the flags, in
/// any order and repeated; `SAVE` with `NOSAVE`, or `ABORT` with any other,
/// is a syntax error.
pub fn parse(args: &[Bytes]) -> Result<Flags, Error> {
    let mut flags = Flags::default();
    for arg in args {
        let flag = match arg.to_ascii_lowercase().as_slice() {
            b"save" => &mut flags.save,
            b"nosave" => &mut flags.nosave,
            b"now" => &mut flags.now,
            b"force" => &mut flags.force,
            b"abort" => &mut flags.abort,
            _ => return Err(Error::Syntax),
        };
        *flag = true;
    }
    let others = flags.save || flags.nosave || flags.now || flags.force;
    if (flags.save && flags.nosave) || (flags.abort && others) {
        return Err(Error::Syntax);
    }
    Ok(flags)
}

/// A request to shut down, for the main thread.
pub struct Request {
    /// Take a snapshot first.
    pub save: bool,
    /// Exit even if the snapshot fails.
    pub force: bool,
    /// Who asked (`SHUTDOWN`, `SIGTERM`...), for the log.
    pub by: &'static str,
    /// Where to say that the shutdown was called off; `None` if nobody
    /// waits for the answer.
    pub answer: Option<Sender<String>>,
}

/// Why the main thread stops waiting.
pub enum Stop {
    /// A network loop ended: the server cannot go on.
    Failed(String),
    /// A shutdown was asked for.
    Requested(Request),
}

/// Where requests go: the main thread's channel, once it listens.
#[derive(Default)]
pub struct Shutdown {
    to_main: Mutex<Option<Sender<Stop>>>,
}

impl Shutdown {
    /// Sends requests to `to_main` from now on.
    pub fn listen(&self, to_main: Sender<Stop>) {
        *self.to_main.lock() = Some(to_main);
    }

    /// Asks the main thread to shut down; false if it does not listen.
    pub fn request(&self, request: Request) -> bool {
        self.to_main
            .lock()
            .as_ref()
            .is_some_and(|to| to.send(Stop::Requested(request)).is_ok())
    }
}

/// Blocks SIGTERM and SIGINT in this thread and every thread it starts
/// from now on, so that only [`watch_signals`] receives them. Call first
/// thing in `main`.
pub fn block_signals() {
    // SAFETY: plain libc calls on a local, initialized signal set.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
    }
}

/// Starts the thread that turns SIGTERM and SIGINT into shutdown requests
/// (without a snapshot, as Redis without save points).
pub fn watch_signals(to_main: Sender<Stop>) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name("redraft-signals".into())
        .spawn(move || loop {
            // SAFETY: as in block_signals; sigwait writes the signal number.
            let signal = unsafe {
                let mut set: libc::sigset_t = std::mem::zeroed();
                libc::sigemptyset(&mut set);
                libc::sigaddset(&mut set, libc::SIGTERM);
                libc::sigaddset(&mut set, libc::SIGINT);
                let mut signal = 0;
                if libc::sigwait(&set, &mut signal) != 0 {
                    continue;
                }
                signal
            };
            let by = if signal == libc::SIGINT {
                "SIGINT"
            } else {
                "SIGTERM"
            };
            let request = Request {
                save: false,
                force: false,
                by,
                answer: None,
            };
            if to_main.send(Stop::Requested(request)).is_err() {
                return;
            }
        })
        .map(|_| ())
}

/// The main thread's end: where it learns why to stop.
pub type Stops = Receiver<Stop>;

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(line: &str) -> Result<Flags, Error> {
        let args: Vec<Bytes> = line
            .split_whitespace()
            .map(|arg| Bytes::copy_from_slice(arg.as_bytes()))
            .collect();
        parse(&args)
    }

    #[test]
    fn shutdown_flags_parse_as_redis_does() {
        assert_eq!(parsed(""), Ok(Flags::default()));
        let all = parsed("now FORCE save now").unwrap();
        assert!(all.save && all.now && all.force && !all.nosave && !all.abort);
        assert!(parsed("abort").unwrap().abort);
        for wrong in ["save nosave", "abort now", "nosave abort", "foo", "save 1"] {
            assert_eq!(parsed(wrong), Err(Error::Syntax), "{wrong}");
        }
    }
}
