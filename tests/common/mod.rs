//! Shared harness for the end-to-end tests: starts the real
//! `redraft-server` binary (and a real `redis-server` to compare with) on
//! free loopback ports, waits until it answers, and kills it on drop.
//!
//! Every address is 127.0.0.1. Nothing here sleeps for a fixed time: start-up
//! is detected by polling the port.

#![allow(dead_code)]

pub mod admin;
pub mod cluster;
pub mod diff;
pub mod node;
pub mod wait;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use redraft_server::resp::{decode_frame, Frame};

/// How long a server may take to start answering.
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// A free TCP port on 127.0.0.1 (the OS picks it; the listener is closed
/// before the server binds it).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind 127.0.0.1:0")
        .local_addr()
        .unwrap()
        .port()
}

/// A fresh, empty directory under the system temp dir.
pub fn temp_dir(label: &str) -> PathBuf {
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("redraft-test-{label}-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A child server process, killed (SIGKILL) when dropped.
pub struct Process {
    pub child: Child,
    pub port: u16,
    pub dir: PathBuf,
    /// redraft's admin HTTP port (0 for redis-server).
    pub admin_port: u16,
}

impl Process {
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// A `redis` crate client connection.
    pub fn client(&self) -> redis::Connection {
        redis::Client::open(self.url())
            .unwrap()
            .get_connection()
            .unwrap()
    }

    /// A raw connection for exact-byte tests.
    pub fn raw(&self) -> Raw {
        Raw::connect(self.port)
    }

    /// Kills the process with SIGKILL and waits for it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill();
        // Each test makes fresh directories; leave none behind.
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Polls until something answers PING on `port`, or panics.
fn wait_ready(child: &mut Child, port: u16) {
    let deadline = Instant::now() + START_TIMEOUT;
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("server on port {port} exited during start-up: {status}");
        }
        if let Ok(stream) = TcpStream::connect(("127.0.0.1", port)) {
            let mut raw = Raw::from_stream(stream);
            raw.send(b"PING\r\n");
            if let Some(Frame::Simple(_)) | Some(Frame::Error(_)) = raw.try_read_frame() {
                return;
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("server on port {port} did not answer within {START_TIMEOUT:?}");
}

/// The flags every test server runs with: loopback, the given client,
/// admin and Raft ports, 16 MiB log segments, 2 threads.
pub fn server_args(ports: [u16; 3], data_dir: &std::path::Path, log_level: &str) -> Vec<String> {
    let [port, admin_port, raft_port] = ports.map(|port| port.to_string());
    [
        "--bind",
        "127.0.0.1",
        "--port",
        &port,
        "--admin-port",
        &admin_port,
        "--raft-port",
        &raft_port,
        "--raft-log-segment-mb",
        "16",
        "--data-dir",
        data_dir.to_str().unwrap(),
        "--threads",
        "2",
        "--log-level",
        log_level,
    ]
    .iter()
    .map(|arg| arg.to_string())
    .collect()
}

/// Starts redraft on a free port with `extra` flags.
pub fn redraft(extra: &[&str]) -> Process {
    redraft_with(extra, |_| {})
}

/// Starts redraft as [`redraft`] does, with its address space limited to
/// `bytes` (`RLIMIT_AS`): an allocation past it fails and the server
/// aborts, instead of a runaway allocation taking the machine's memory.
pub fn redraft_address_limited(extra: &[&str], bytes: u64) -> Process {
    redraft_with(extra, |command| {
        use std::os::unix::process::CommandExt;
        let limit = libc::rlimit {
            rlim_cur: bytes,
            rlim_max: bytes,
        };
        // SAFETY: setrlimit is async-signal-safe and touches only the
        // child, between fork and exec.
        unsafe {
            command.pre_exec(move || {
                if libc::setrlimit(libc::RLIMIT_AS, &limit) == 0 {
                    Ok(())
                } else {
                    Err(std::io::Error::last_os_error())
                }
            });
        }
    })
}

/// Starts redraft on a free port with `extra` flags, letting `configure`
/// adjust the command before it is spawned (to limit its address space or
/// open files, for example).
pub fn redraft_with(extra: &[&str], configure: impl FnOnce(&mut Command)) -> Process {
    let ports: [u16; 3] = node::free_ports(3).try_into().expect("3 ports");
    let port = ports[0];
    let dir = temp_dir("redraft");
    let mut command = Command::new(env!("CARGO_BIN_EXE_redraft-server"));
    command
        .args(server_args(ports, &dir, "warn"))
        .args(extra)
        .stdin(Stdio::null());
    configure(&mut command);
    let mut child = command.spawn().expect("start redraft-server");
    wait_ready(&mut child, port);
    Process {
        child,
        port,
        dir,
        admin_port: ports[1],
    }
}

/// Starts a real redis-server (no persistence) on a free port, for
/// differential tests. Fails the test if redis-server is not installed:
/// `.ci/run` installs it.
pub fn redis(extra: &[&str]) -> Process {
    redis_with(extra, |_| {})
}

/// [`redis`], with `prepare` applied to the command before it starts.
pub fn redis_with(extra: &[&str], prepare: impl FnOnce(&mut Command)) -> Process {
    let port = free_port();
    let dir = temp_dir("redis");
    let mut command = Command::new("redis-server");
    command
        .args([
            "--bind",
            "127.0.0.1",
            "--port",
            &port.to_string(),
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .args([
            "--dir",
            dir.to_str().unwrap(),
            "--daemonize",
            "no",
            "--loglevel",
            "warning",
        ])
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::null());
    prepare(&mut command);
    let mut child = command.spawn().expect(
        "redis-server must be installed (apt-get install redis-server); .ci/run installs it",
    );
    wait_ready(&mut child, port);
    Process {
        child,
        port,
        dir,
        admin_port: 0,
    }
}

/// Makes `command` start with an open-files limit of `open_files` (soft and
/// hard, as `ulimit -n` sets them) that it cannot raise: the capability to
/// raise a hard limit (CAP_SYS_RESOURCE, which a test run as root may
/// have) is dropped from the bounding set, so the server sees what an
/// unprivileged service sees.
pub fn limit_open_files(command: &mut Command, open_files: u64) {
    use std::os::unix::process::CommandExt;
    /// CAP_SYS_RESOURCE, from linux/capability.h.
    const CAP_SYS_RESOURCE: libc::c_ulong = 24;
    let limit = libc::rlimit {
        rlim_cur: open_files,
        rlim_max: open_files,
    };
    // SAFETY: between fork and exec only async-signal-safe calls are made
    // (setrlimit, prctl), on values copied into the closure.
    unsafe {
        command.pre_exec(move || {
            // Fails without CAP_SETPCAP, when there is nothing to drop.
            libc::prctl(libc::PR_CAPBSET_DROP, CAP_SYS_RESOURCE, 0, 0, 0);
            if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// Raises this test process's own soft open-files limit to at least
/// `open_files`, or fails the test saying what it needs.
pub fn raise_own_open_files(open_files: u64) {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit read or write only `limit`.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit), 0);
        if limit.rlim_cur < open_files {
            assert!(
                limit.rlim_max >= open_files,
                "this test needs {open_files} open files; the hard limit is {}",
                limit.rlim_max
            );
            limit.rlim_cur = open_files;
            assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &limit), 0);
        }
    }
}

/// A raw RESP connection: send bytes, read whole reply frames.
pub struct Raw {
    stream: TcpStream,
    buf: BytesMut,
}

impl Raw {
    pub fn connect(port: u16) -> Raw {
        Raw::from_stream(TcpStream::connect(("127.0.0.1", port)).unwrap())
    }

    fn from_stream(stream: TcpStream) -> Raw {
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        stream.set_nodelay(true).unwrap();
        Raw {
            stream,
            buf: BytesMut::new(),
        }
    }

    pub fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).unwrap();
    }

    /// Sends a command as a RESP array of bulk strings.
    pub fn send_command(&mut self, args: &[&[u8]]) {
        self.send(&encode_command(args));
    }

    fn try_read_frame(&mut self) -> Option<Frame> {
        loop {
            if let Ok(Some((frame, used))) = decode_frame(&self.buf) {
                let _ = self.buf.split_to(used);
                return Some(frame);
            }
            let mut chunk = [0u8; 16384];
            match self.stream.read(&mut chunk) {
                Ok(0) | Err(_) => return None,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
            }
        }
    }

    /// Reads one whole reply frame; panics on EOF or timeout.
    pub fn read_frame(&mut self) -> Frame {
        self.try_read_frame()
            .expect("connection closed or timed out before a whole reply")
    }

    /// Reads exactly `len` bytes of reply.
    pub fn read_exact_bytes(&mut self, len: usize) -> Vec<u8> {
        while self.buf.len() < len {
            let mut chunk = [0u8; 16384];
            let n = self.stream.read(&mut chunk).expect("read reply");
            assert!(
                n > 0,
                "connection closed after {:?}",
                String::from_utf8_lossy(&self.buf)
            );
            self.buf.extend_from_slice(&chunk[..n]);
        }
        self.buf.split_to(len).to_vec()
    }

    /// Sends `request` and asserts the reply is exactly `expected` bytes.
    pub fn roundtrip(&mut self, request: &[u8], expected: &[u8]) {
        self.send(request);
        let got = self.read_exact_bytes(expected.len());
        assert_eq!(
            String::from_utf8_lossy(&got),
            String::from_utf8_lossy(expected),
            "request {:?}",
            String::from_utf8_lossy(request)
        );
    }

    /// Whether the server has closed the connection (reads EOF).
    pub fn is_closed(&mut self) -> bool {
        let mut chunk = [0u8; 1];
        matches!(self.stream.read(&mut chunk), Ok(0))
    }
}

/// Encodes a command as a RESP array of bulk strings.
pub fn encode_command(args: &[&[u8]]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for arg in args {
        out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
        out.extend_from_slice(arg);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// `count` connections to each of two servers (a real redis-server and
/// redraft), all switched to RESP3 when `resp3` is set, for scripts that
/// compare the two connection by connection.
pub fn paired_conns(
    redis: &Process,
    redraft: &Process,
    count: usize,
    resp3: bool,
) -> (Vec<Raw>, Vec<Raw>) {
    let mut redis_conns: Vec<Raw> = (0..count).map(|_| redis.raw()).collect();
    let mut redraft_conns: Vec<Raw> = (0..count).map(|_| redraft.raw()).collect();
    if resp3 {
        for conn in redis_conns.iter_mut().chain(redraft_conns.iter_mut()) {
            let _ = conn.command(&[b"HELLO", b"3"]);
        }
    }
    (redis_conns, redraft_conns)
}

/// Several commands, encoded one after the other, to send as a pipeline.
pub fn encode_pipeline(commands: &[&[&[u8]]]) -> Vec<u8> {
    commands
        .iter()
        .flat_map(|args| encode_command(args))
        .collect()
}

impl Raw {
    /// Every frame this connection sends until it is quiet for `quiet`.
    pub fn drain(&mut self, quiet: Duration) -> Vec<Frame> {
        self.set_read_timeout(quiet);
        let mut frames = Vec::new();
        while let Some(frame) = self.read_frame_or_eof() {
            frames.push(frame);
        }
        frames
    }

    /// Exactly `count` frames (waiting up to 10 s for each); fails the
    /// test if the connection closes first.
    pub fn read_n(&mut self, count: usize) -> Vec<Frame> {
        self.set_read_timeout(Duration::from_secs(10));
        (0..count)
            .map(|_| {
                self.read_frame_or_eof()
                    .expect("the server sent fewer frames")
            })
            .collect()
    }

    /// Sends one command and reads its whole reply frame.
    pub fn command(&mut self, args: &[&[u8]]) -> Frame {
        self.send_command(args);
        self.read_frame()
    }

    /// Sends one command and reads its reply, or `None` if the server
    /// closed the connection (or the read timed out) first.
    pub fn command_or_eof(&mut self, args: &[&[u8]]) -> Option<Frame> {
        self.try_send(&encode_command(args));
        self.try_read_frame()
    }

    /// Reads one whole reply frame, or `None` if the connection closed or
    /// timed out first.
    pub fn read_frame_or_eof(&mut self) -> Option<Frame> {
        self.try_read_frame()
    }

    /// Reads every byte until the server closes the connection (or the read
    /// timeout passes), for comparing raw replies with redis-server's.
    pub fn read_to_close(&mut self) -> Vec<u8> {
        let mut out = std::mem::take(&mut self.buf).to_vec();
        let mut chunk = [0u8; 16384];
        loop {
            match self.stream.read(&mut chunk) {
                Ok(0) | Err(_) => return out,
                Ok(n) => out.extend_from_slice(&chunk[..n]),
            }
        }
    }

    /// Sets the read timeout (the default is 10 s).
    pub fn set_read_timeout(&mut self, timeout: Duration) {
        self.stream.set_read_timeout(Some(timeout)).unwrap();
    }
}

/// Renders a reply the way `redis-cli` prints it on a terminal (its
/// `cliFormatReplyTTY`), one line per scalar, without the final newline:
/// `OK`, `(nil)`, `(integer) 5`, `"bulk"`, `(error) ERR ...`, arrays as
/// `1) "a"` lines with nested arrays indented.
pub fn render(frame: &Frame) -> String {
    let mut out = String::new();
    render_into(&mut out, frame, "");
    while out.ends_with('\n') {
        out.pop();
    }
    out
}

fn render_into(out: &mut String, frame: &Frame, prefix: &str) {
    match frame {
        Frame::Simple(text) => out.push_str(&String::from_utf8_lossy(text)),
        Frame::Error(text) | Frame::BulkError(text) => {
            out.push_str("(error) ");
            out.push_str(&String::from_utf8_lossy(text));
        }
        Frame::Integer(value) => out.push_str(&format!("(integer) {value}")),
        Frame::Bulk(bytes) => out.push_str(&repr(bytes)),
        Frame::Verbatim { text, .. } => out.push_str(&repr(text)),
        Frame::NullBulk | Frame::NullArray | Frame::Null => out.push_str("(nil)"),
        Frame::Double(value) => {
            out.push_str("(double) ");
            out.push_str(redraft_server::resp::format_double(*value).as_str());
        }
        Frame::Boolean(value) => out.push_str(if *value { "(true)" } else { "(false)" }),
        Frame::BigNumber(digits) => {
            out.push_str("(big number) ");
            out.push_str(&String::from_utf8_lossy(digits));
        }
        Frame::Array(items) => render_items(out, items, ')', "(empty array)", prefix),
        Frame::Set(items) => render_items(out, items, '~', "(empty set)", prefix),
        Frame::Push(items) => render_items(out, items, ')', "(empty array)", prefix),
        Frame::Map(pairs) => render_map(out, pairs, prefix),
    }
    out.push('\n');
}

fn index_width(len: usize) -> usize {
    len.to_string().len()
}

fn render_items(out: &mut String, items: &[Frame], sep: char, empty: &str, prefix: &str) {
    if items.is_empty() {
        out.push_str(empty);
        return;
    }
    let width = index_width(items.len());
    let nested = format!("{prefix}{}", " ".repeat(width + 2));
    for (i, item) in items.iter().enumerate() {
        let lead = if i == 0 { "" } else { prefix };
        out.push_str(&format!("{lead}{:>width$}{sep} ", i + 1));
        render_into(out, item, &nested);
    }
    // The last item already ended its line.
    out.pop();
}

fn render_map(out: &mut String, pairs: &[(Frame, Frame)], prefix: &str) {
    if pairs.is_empty() {
        out.push_str("(empty hash)");
        return;
    }
    let width = index_width(pairs.len());
    let nested = format!("{prefix}{}", " ".repeat(width + 2));
    for (i, (key, value)) in pairs.iter().enumerate() {
        let lead = if i == 0 { "" } else { prefix };
        out.push_str(&format!("{lead}{:>width$}# ", i + 1));
        render_into(out, key, &nested);
        out.pop();
        out.push_str(" => ");
        render_into(out, value, &nested);
    }
    out.pop();
}

/// Quotes bytes as redis-cli does (`sdscatrepr`): printable ASCII as is,
/// `\\`, `\"`, `\n`, `\r`, `\t`, `\a`, `\b`, and `\xNN` for the rest.
pub fn repr(bytes: &[u8]) -> String {
    let mut out = String::from("\"");
    for &b in bytes {
        match b {
            b'\\' => out.push_str("\\\\"),
            b'"' => out.push_str("\\\""),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            0x07 => out.push_str("\\a"),
            0x08 => out.push_str("\\b"),
            0x20..=0x7e => out.push(b as char),
            _ => out.push_str(&format!("\\x{b:02x}")),
        }
    }
    out.push('"');
    out
}

/// Splits a command line into arguments as redis-cli and Redis's inline
/// protocol do (`sdssplitargs`): spaces separate, `"..."` understands
/// `\n \r \t \b \a \\ \" \xNN`, `'...'` understands only `\'`. `None` for
/// unbalanced quotes or a closing quote not followed by a space.
pub fn split_args(line: &str) -> Option<Vec<Vec<u8>>> {
    let bytes = line.as_bytes();
    let mut args = Vec::new();
    let mut i = 0;
    loop {
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        if i == bytes.len() {
            return Some(args);
        }
        let mut arg = Vec::new();
        match bytes[i] {
            b'"' => i = split_double_quoted(bytes, i + 1, &mut arg)?,
            b'\'' => i = split_single_quoted(bytes, i + 1, &mut arg)?,
            _ => {
                while i < bytes.len() && !bytes[i].is_ascii_whitespace() {
                    arg.push(bytes[i]);
                    i += 1;
                }
            }
        }
        if i < bytes.len() && !bytes[i].is_ascii_whitespace() {
            return None;
        }
        args.push(arg);
    }
}

fn split_double_quoted(bytes: &[u8], mut i: usize, arg: &mut Vec<u8>) -> Option<usize> {
    loop {
        match *bytes.get(i)? {
            b'"' => return Some(i + 1),
            b'\\' => {
                let escaped = *bytes.get(i + 1)?;
                let hex = bytes
                    .get(i + 2..i + 4)
                    .and_then(|h| std::str::from_utf8(h).ok());
                match (escaped, hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
                    (b'x', Some(value)) => {
                        arg.push(value);
                        i += 4;
                        continue;
                    }
                    (b'n', _) => arg.push(b'\n'),
                    (b'r', _) => arg.push(b'\r'),
                    (b't', _) => arg.push(b'\t'),
                    (b'b', _) => arg.push(0x08),
                    (b'a', _) => arg.push(0x07),
                    (other, _) => arg.push(other),
                }
                i += 2;
            }
            other => {
                arg.push(other);
                i += 1;
            }
        }
    }
}

fn split_single_quoted(bytes: &[u8], mut i: usize, arg: &mut Vec<u8>) -> Option<usize> {
    loop {
        match *bytes.get(i)? {
            b'\'' => return Some(i + 1),
            b'\\' if bytes.get(i + 1) == Some(&b'\'') => {
                arg.push(b'\'');
                i += 2;
            }
            other => {
                arg.push(other);
                i += 1;
            }
        }
    }
}

impl Raw {
    /// Writes `bytes`, ignoring a failure (the server may already have
    /// closed the connection, which is what some tests check).
    pub fn try_send(&mut self, bytes: &[u8]) {
        let _ = self.stream.write_all(bytes);
    }
}

/// Shows bytes as an escaped string for assertion messages.
pub fn show(bytes: &[u8]) -> String {
    if bytes.len() > 400 {
        return format!("{}... ({} bytes)", repr(&bytes[..400]), bytes.len());
    }
    repr(bytes)
}
