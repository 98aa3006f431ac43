//! A single redraft node that a test can SIGKILL and start again on the
//! same data directory and ports, for durability tests.
//!
//! Invariants:
//! - A restart reuses the exact command line of the first start: same
//!   ports, same data directory, same flags. Only the process is new.
//! - The server's log goes to a file beside (not inside) the data directory;
//!   when a test panics, the end of that log is printed with the failure.
//! - Every connection made here has read and write timeouts, so a server
//!   that stops answering fails the test instead of hanging it.

use std::collections::{BTreeSet, HashMap};
use std::fs::OpenOptions;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::Duration;

use super::wait::until;
use super::{temp_dir, wait_ready, Process};

/// How long a (re)started single node may take to elect itself.
const LEADER_TIMEOUT: Duration = Duration::from_secs(15);
/// Timeout for connecting and for each read or write on a test connection.
const IO_TIMEOUT: Duration = Duration::from_secs(10);
/// Log lines shown when a test fails.
const LOG_TAIL_LINES: usize = 60;

/// A `redis` crate connection to 127.0.0.1:`port`, with timeouts.
pub fn connect(port: u16) -> redis::RedisResult<redis::Connection> {
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}/"))?;
    let con = client.get_connection_with_timeout(IO_TIMEOUT)?;
    con.set_read_timeout(Some(IO_TIMEOUT))?;
    con.set_write_timeout(Some(IO_TIMEOUT))?;
    Ok(con)
}

/// `count` free TCP ports on 127.0.0.1, none of which this test process
/// has handed out before.
///
/// The OS readily gives a just-closed port to the next `bind(0)`, and the
/// server binds its client port with SO_REUSEPORT, so two servers of
/// parallel tests could otherwise share a port without an error and split
/// its connections between them. So all the listeners are held open until
/// every port is chosen, and every port given out is remembered.
pub fn free_ports(count: usize) -> Vec<u16> {
    static GIVEN: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());
    /// Bounds the search; far more than a test process ever needs.
    const ATTEMPTS_MAX: usize = 10_000;
    let mut given = GIVEN
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    // Every listener, chosen or not, stays open until the end so that the
    // OS offers no port twice within this call.
    let mut held = Vec::new();
    let mut ports = Vec::with_capacity(count);
    for _ in 0..ATTEMPTS_MAX {
        if ports.len() == count {
            break;
        }
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let port = listener.local_addr().unwrap().port();
        if given.insert(port) {
            ports.push(port);
        }
        held.push(listener);
    }
    assert_eq!(ports.len(), count, "found only {ports:?} unused ports");
    ports
}

/// The `INFO raft` fields of the server on `port`, or why they could not
/// be read.
pub fn info_raft(port: u16) -> Result<HashMap<String, String>, String> {
    let mut con = connect(port).map_err(|err| format!("port {port}: {err}"))?;
    let text: String = redis::cmd("INFO")
        .arg("raft")
        .query(&mut con)
        .map_err(|err| format!("port {port}: INFO raft: {err}"))?;
    Ok(text
        .lines()
        .filter_map(|line| line.split_once(':'))
        .map(|(key, value)| (key.to_string(), value.trim().to_string()))
        .collect())
}

/// The last `lines` lines of the file at `path` (or why it can't be read).
pub fn log_tail(path: &Path, lines: usize) -> String {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let all: Vec<&str> = text.lines().collect();
            all[all.len().saturating_sub(lines)..].join("\n")
        }
        Err(err) => format!("(cannot read {}: {err})", path.display()),
    }
}

/// Starts `redraft-server` with `args`, its stdout and stderr appended to
/// `log`, and waits until it answers PING on `port`.
pub fn spawn_server(args: &[String], log: &Path, port: u16) -> Child {
    let out = OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .expect("open server log");
    let err = out.try_clone().expect("clone server log handle");
    let mut child = Command::new(env!("CARGO_BIN_EXE_redraft-server"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::from(out))
        .stderr(Stdio::from(err))
        .spawn()
        .expect("start redraft-server");
    wait_ready(&mut child, port);
    child
}

/// One single-node redraft that can be killed and restarted.
pub struct Node {
    /// The running server. Its `dir` holds the data directory and the log
    /// and is removed when the node is dropped.
    pub process: Process,
    /// The command line, reused verbatim by `restart`.
    args: Vec<String>,
    /// Where the server's output goes, across restarts.
    log: PathBuf,
}

impl Node {
    /// Starts a single node on free loopback ports with the same settings
    /// as `common::redraft` (2 threads, 16 MiB log segments), logging at
    /// `info` to a file.
    pub fn start() -> Node {
        Node::start_with_config("")
    }

    /// `start`, with `config` (TOML) as the configuration file.
    pub fn start_with_config(config: &str) -> Node {
        let ports: [u16; 3] = free_ports(3).try_into().expect("3 ports");
        let port = ports[0];
        let dir = temp_dir("node");
        let data_dir = dir.join("data");
        let log = dir.join("server.log");
        let mut args = super::server_args(ports, &data_dir, "info");
        if !config.is_empty() {
            let path = dir.join("redraft.toml");
            std::fs::write(&path, config).expect("write config");
            args.extend(["--config".to_string(), path.display().to_string()]);
        }
        let child = spawn_server(&args, &log, port);
        Node {
            process: Process {
                child,
                port,
                dir,
                admin_port: ports[1],
            },
            args,
            log,
        }
    }

    pub fn port(&self) -> u16 {
        self.process.port
    }

    /// The server's log file (all runs).
    pub fn log(&self) -> &Path {
        &self.log
    }

    /// A new connection with timeouts; panics if the server does not accept.
    pub fn connect(&self) -> redis::Connection {
        connect(self.port()).unwrap_or_else(|err| panic!("connect to {}: {err}", self.port()))
    }

    /// Waits until the node reports `raft_role:leader`: a restarted node
    /// answers PING before it has elected itself, and until then it
    /// answers writes with `-CLUSTERDOWN`.
    pub fn wait_leader(&self) {
        until(LEADER_TIMEOUT, "the node to become leader", || {
            let info = info_raft(self.port())?;
            match info.get("raft_role").map(String::as_str) {
                Some("leader") => Ok(()),
                other => Err(format!("raft_role:{}", other.unwrap_or("?"))),
            }
        })
    }

    /// SIGKILLs the server (no shutdown code runs) and reaps it.
    pub fn kill(&mut self) {
        self.process.kill();
    }

    /// Sends SIGKILL without reaping, through a shared reference, so a test
    /// can kill the server while its writer threads still hold the node.
    /// `restart` reaps the process.
    pub fn sigkill(&self) {
        let pid = libc::pid_t::try_from(self.process.child.id()).expect("pid fits pid_t");
        // SAFETY: kill(2) has no memory effects; the pid is our own child,
        // not yet reaped, so it cannot have been reused by another process.
        let rc = unsafe { libc::kill(pid, libc::SIGKILL) };
        assert_eq!(rc, 0, "kill -9 {pid}: {}", std::io::Error::last_os_error());
    }

    /// Kills the server if it still runs, then starts it again with the same
    /// command line and waits until it answers PING.
    pub fn restart(&mut self) {
        self.kill();
        append_marker(&self.log, "restart");
        self.process.child = spawn_server(&self.args, &self.log, self.port());
    }
}

/// Writes a line into a server log so kills and restarts show in it.
pub fn append_marker(log: &Path, what: &str) {
    use std::io::Write;
    if let Ok(mut file) = OpenOptions::new().create(true).append(true).open(log) {
        let _ = writeln!(file, "---- test harness: {what} ----");
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "---- last {LOG_TAIL_LINES} lines of {} ----\n{}",
                self.log.display(),
                log_tail(&self.log, LOG_TAIL_LINES)
            );
        }
    }
}
