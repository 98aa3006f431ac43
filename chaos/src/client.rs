//! A cluster-aware client for the workloads: follows `-MOVED`, moves to
//! another node on `-CLUSTERDOWN` or a refused connection, and classifies
//! every request's outcome for the history.
//!
//! Only answers that say the request was not applied (`-MOVED`,
//! `-CLUSTERDOWN`, a connection that could not be opened) are retried;
//! a request that may have been applied is never resent, so the history
//! holds each write at most once.
//!
//! Invariants:
//! - At most [`ATTEMPTS_MAX`] tries per request, each bounded by the
//!   request timeout: a call always returns.
//! - After an indeterminate outcome the connection is dropped.

use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use crate::resp::{ClientError, Conn, Reply};
use crate::rng::Rng;

/// Tries per request (redirects and unavailable nodes).
const ATTEMPTS_MAX: usize = 5;
/// Pause before trying another node after `-CLUSTERDOWN` or a refusal.
const BACKOFF: Duration = Duration::from_millis(50);

/// The nodes clients may talk to: (id, client address). Shared so that
/// joiners become reachable.
pub type Directory = Arc<RwLock<Vec<(u64, SocketAddr)>>>;

/// How a request ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// A reply (possibly an error reply other than a redirect).
    Reply(Reply),
    /// Certainly not applied (all tries redirected, refused or down).
    NotApplied(String),
    /// May or may not have been applied.
    Unknown(String),
}

pub struct Client {
    directory: Directory,
    conn: Option<Conn>,
    /// Index in the directory of the node to use next.
    node: usize,
    pub timeout: Duration,
    rng: Rng,
    /// Sent first after every (re)connect: `AUTH <password>`; a server
    /// that refuses it is not a node of this run.
    auth: Option<Vec<u8>>,
    /// Sent after every (re)connect, e.g. `CONSISTENCY stale`.
    setup: Option<Vec<Vec<u8>>>,
    /// Stay on one node: never follow `-MOVED` (stale readers).
    pinned: bool,
    /// Connections opened so far; names the current one in the history.
    pub connections: u64,
}

impl Client {
    pub fn new(directory: Directory, timeout: Duration, mut rng: Rng) -> Client {
        let count = directory.read().expect("directory").len() as u64;
        let node = rng.below(count.max(1)) as usize;
        Client {
            directory,
            conn: None,
            node,
            timeout,
            rng,
            auth: None,
            setup: None,
            pinned: false,
            connections: 0,
        }
    }

    /// Authenticates with `password` on each connect.
    pub fn with_password(mut self, password: &str) -> Client {
        self.auth = Some(password.as_bytes().to_vec());
        self
    }

    /// Runs `setup` after each connect and never follows redirects.
    pub fn pinned_with(mut self, setup: &[&[u8]]) -> Client {
        self.setup = Some(setup.iter().map(|a| a.to_vec()).collect());
        self.pinned = true;
        self
    }

    /// Runs `setup` after each connect, following redirects as usual
    /// (e.g. `CONSISTENCY lease`, which followers answer with `-MOVED`).
    pub fn with_setup(mut self, setup: &[&[u8]]) -> Client {
        self.setup = Some(setup.iter().map(|a| a.to_vec()).collect());
        self
    }

    /// The id of the node the client talks to now.
    pub fn node_id(&self) -> u64 {
        let directory = self.directory.read().expect("directory");
        directory.get(self.node).map_or(0, |(id, _)| *id)
    }

    /// Forgets the connection and picks another node at random.
    pub fn move_on(&mut self) {
        self.conn = None;
        let count = self.directory.read().expect("directory").len() as u64;
        self.node = self.rng.below(count.max(1)) as usize;
    }

    fn connect(&mut self) -> Result<&mut Conn, ClientError> {
        if self.conn.is_none() {
            let addr = {
                let directory = self.directory.read().expect("directory");
                directory[self.node % directory.len()].1
            };
            let mut conn = Conn::connect(addr, self.timeout)?;
            if let Some(password) = &self.auth {
                match conn.call(&[b"AUTH", password]) {
                    Ok(Reply::Status(_)) => {}
                    other => {
                        return Err(ClientError::NotSent(format!(
                            "{addr} is not a node of this run (AUTH: {other:?})"
                        )))
                    }
                }
            }
            if let Some(setup) = &self.setup {
                let args: Vec<&[u8]> = setup.iter().map(Vec::as_slice).collect();
                match conn.call(&args) {
                    Ok(Reply::Status(_)) => {}
                    other => return Err(ClientError::NotSent(format!("setup failed: {other:?}"))),
                }
            }
            self.connections += 1;
            self.conn = Some(conn);
        }
        Ok(self.conn.as_mut().expect("connected"))
    }

    /// Sends one command.
    pub fn call(&mut self, args: &[&[u8]]) -> Answer {
        let command = vec![args.iter().map(|a| a.to_vec()).collect()];
        match self.exchange(&command) {
            Ok(mut replies) => Answer::Reply(replies.pop().expect("one reply")),
            Err(answer) => answer,
        }
    }

    /// Sends `MULTI`, `commands`, `EXEC` as one pipeline; the answer is
    /// EXEC's reply.
    pub fn transaction(&mut self, commands: &[Vec<Vec<u8>>]) -> Answer {
        let mut all = vec![vec![b"MULTI".to_vec()]];
        all.extend(commands.iter().cloned());
        all.push(vec![b"EXEC".to_vec()]);
        match self.exchange(&all) {
            Ok(mut replies) => Answer::Reply(replies.pop().expect("EXEC reply")),
            Err(answer) => answer,
        }
    }

    /// Sends `commands` (one pipeline) until an answer that is no
    /// redirect, following `-MOVED` and skipping nodes that are down.
    fn exchange(&mut self, commands: &[Vec<Vec<u8>>]) -> Result<Vec<Reply>, Answer> {
        let mut why = String::new();
        for _ in 0..ATTEMPTS_MAX {
            let conn = match self.connect() {
                Ok(conn) => conn,
                Err(ClientError::NotSent(e) | ClientError::Indeterminate(e)) => {
                    why = e;
                    self.move_on();
                    std::thread::sleep(BACKOFF);
                    continue;
                }
            };
            let replies = match conn.pipeline(commands) {
                Ok(replies) => replies,
                Err(ClientError::Indeterminate(e) | ClientError::NotSent(e)) => {
                    self.conn = None;
                    return Err(Answer::Unknown(e));
                }
            };
            match redirect(&replies) {
                None => return Ok(replies),
                Some(Redirect::Moved(addr)) => {
                    why = format!("MOVED to {addr}");
                    if self.pinned {
                        return Err(Answer::NotApplied(why));
                    }
                    self.conn = None;
                    let directory = self.directory.read().expect("directory");
                    if let Some(index) = directory.iter().position(|(_, a)| *a == addr) {
                        self.node = index;
                    }
                }
                Some(Redirect::Down(e)) => {
                    why = e;
                    if self.pinned {
                        return Err(Answer::NotApplied(why));
                    }
                    self.move_on();
                    std::thread::sleep(BACKOFF);
                }
            }
        }
        Err(Answer::NotApplied(why))
    }
}

enum Redirect {
    Moved(SocketAddr),
    Down(String),
}

/// Whether any reply says "not here, not applied".
fn redirect(replies: &[Reply]) -> Option<Redirect> {
    for reply in replies {
        let Reply::Error(e) = reply else { continue };
        if let Some(rest) = e.strip_prefix("MOVED ") {
            let target = rest.split_whitespace().nth(1)?;
            return target.parse().ok().map(Redirect::Moved);
        }
        if e.starts_with("CLUSTERDOWN") || e.starts_with("TRYAGAIN") || e.starts_with("LOADING") {
            return Some(Redirect::Down(e.clone()));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirects_are_recognised() {
        let moved = [
            Reply::Status("OK".into()),
            Reply::Error("MOVED 866 127.0.0.1:7002".into()),
        ];
        assert!(matches!(redirect(&moved), Some(Redirect::Moved(a)) if a.port() == 7002));
        let down = [Reply::Error("CLUSTERDOWN The cluster is down".into())];
        assert!(matches!(redirect(&down), Some(Redirect::Down(_))));
        assert!(redirect(&[Reply::Error("ERR syntax error".into())]).is_none());
    }
}
