//! Admission of client connections, against real processes: `maxclients`
//! and descriptor exhaustion, with redis-server as the reference.
//!
//! - Under `ulimit -n 512`, a flood of 1,200 connections: each one is
//!   either served or answered `-ERR max number of clients reached` and
//!   closed, as redis-server under the same limit does; once they close,
//!   20 of 20 new connections are served within 3 s.
//! - `CONFIG SET maxclients` low: the next connection gets the error, byte
//!   for byte as from redis-server, and `rejected_connections` counts it.
//! - Descriptors used up by something else (idle admin HTTP connections):
//!   a client still gets the error at once, `/health` reports the listener,
//!   and both recover when the descriptors come back.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::wait::until;
use common::{limit_open_files, raise_own_open_files, redis_with, redraft_with, Process};

/// Redis's answer to a connection over `maxclients`.
const REFUSED: &[u8] = b"-ERR max number of clients reached\r\n";
/// The open-files limit the flood runs under (the issue's `ulimit -n`).
const OPEN_FILES: u64 = 512;
/// Connections in the flood: well over what the limit allows.
const FLOOD: usize = 1200;
/// New connections after the flood, and how long they may take.
const AFTER: usize = 20;
const AFTER_TIMEOUT: Duration = Duration::from_secs(3);
/// How long one connection may wait for an answer.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(5);

/// What a connection of the flood came to.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Fate {
    /// Answered PING with PONG.
    Served,
    /// Answered Redis's error, then closed.
    Refused,
    /// Anything else (no connection, no answer, other bytes).
    Other(String),
}

fn connect(port: u16) -> std::io::Result<TcpStream> {
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let stream = TcpStream::connect_timeout(&addr, ANSWER_TIMEOUT)?;
    stream.set_read_timeout(Some(ANSWER_TIMEOUT))?;
    stream.set_write_timeout(Some(ANSWER_TIMEOUT))?;
    Ok(stream)
}

/// Every byte the server sends until it closes the connection.
fn read_to_close(stream: &mut TcpStream) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    stream
        .read_to_end(&mut out)
        .map_err(|error| format!("{error} after {:?}", String::from_utf8_lossy(&out)))?;
    Ok(out)
}

/// Whether the server has sent something on `stream` already.
fn has_data(stream: &TcpStream) -> bool {
    let mut byte = [0u8; 1];
    stream.set_nonblocking(true).expect("nonblocking");
    let ready = matches!(stream.peek(&mut byte), Ok(n) if n > 0);
    stream.set_nonblocking(false).expect("blocking");
    ready
}

/// What became of one connection: a refused one has the error waiting
/// (sent at accept, before any command); a served one answers PING.
fn fate(stream: &mut TcpStream) -> Fate {
    if has_data(stream) {
        return match read_to_close(stream) {
            Ok(bytes) if bytes == REFUSED => Fate::Refused,
            Ok(bytes) => Fate::Other(format!("{:?}", String::from_utf8_lossy(&bytes))),
            Err(error) => Fate::Other(error),
        };
    }
    if let Err(error) = stream.write_all(b"PING\r\n") {
        return Fate::Other(format!("PING: {error}"));
    }
    let mut reply = [0u8; 64];
    match stream.read(&mut reply) {
        Ok(7) if &reply[..7] == b"+PONG\r\n" => Fate::Served,
        Ok(n) if reply[..n] == REFUSED[..n.min(REFUSED.len())] && n > 0 => {
            let mut rest = read_to_close(stream).unwrap_or_default();
            let mut all = reply[..n].to_vec();
            all.append(&mut rest);
            if all == REFUSED {
                Fate::Refused
            } else {
                Fate::Other(format!("{:?}", String::from_utf8_lossy(&all)))
            }
        }
        Ok(n) => Fate::Other(format!("{:?}", String::from_utf8_lossy(&reply[..n]))),
        Err(error) => Fate::Other(format!("no answer to PING: {error}")),
    }
}

/// Sends one inline command on a new connection and returns the reply's
/// first line.
fn ask(port: u16, command: &str) -> String {
    let mut stream = connect(port).expect("connect");
    stream
        .write_all(format!("{command}\r\n").as_bytes())
        .expect("send");
    let mut reply = Vec::new();
    let mut byte = [0u8; 1];
    while !reply.ends_with(b"\r\n") {
        let n = stream.read(&mut byte).expect("read reply");
        assert!(n > 0, "closed after {:?}", String::from_utf8_lossy(&reply));
        reply.push(byte[0]);
    }
    String::from_utf8_lossy(&reply).trim_end().to_string()
}

/// `CONFIG GET maxclients` on a new connection.
fn maxclients(port: u16) -> u64 {
    let mut stream = connect(port).expect("connect");
    stream
        .write_all(b"CONFIG GET maxclients\r\n")
        .expect("send");
    let mut text = String::new();
    let mut chunk = [0u8; 256];
    while text.matches("\r\n").count() < 5 {
        let n = stream.read(&mut chunk).expect("read reply");
        assert!(n > 0, "closed after {text:?}");
        text.push_str(&String::from_utf8_lossy(&chunk[..n]));
    }
    let value = text.split("\r\n").nth(4).expect("the value");
    value
        .parse()
        .unwrap_or_else(|_| panic!("maxclients in {text:?}"))
}

/// Floods `server` with [`FLOOD`] connections held open at once and
/// returns what became of each, once `settled` says the server has taken
/// them all in. After a connection that cannot be made (the server's
/// queue is full) no more are tried.
fn flood(server: &Process, settled: impl Fn() -> Result<(), String>) -> Vec<Fate> {
    let mut streams: Vec<Result<TcpStream, String>> = Vec::with_capacity(FLOOD);
    let mut failed = false;
    for _ in 0..FLOOD {
        if failed {
            streams.push(Err("not tried after a failed connect".into()));
            continue;
        }
        let stream = connect(server.port).map_err(|error| error.to_string());
        failed = stream.is_err();
        streams.push(stream);
    }
    until(ANSWER_TIMEOUT, "the server to take in the flood", settled);
    let fates = streams
        .iter_mut()
        .map(|stream| match stream {
            Ok(stream) => fate(stream),
            Err(error) => Fate::Other(format!("connect: {error}")),
        })
        .collect();
    drop(streams);
    fates
}

/// Counts of each fate, and the first few odd ones.
fn tally(fates: &[Fate]) -> (usize, usize, Vec<&Fate>) {
    let served = fates.iter().filter(|fate| **fate == Fate::Served).count();
    let refused = fates.iter().filter(|fate| **fate == Fate::Refused).count();
    let odd = fates
        .iter()
        .filter(|fate| matches!(fate, Fate::Other(_)))
        .take(5)
        .collect();
    (served, refused, odd)
}

/// After the flood has closed: [`AFTER`] new connections, one after the
/// other, must each be served within [`AFTER_TIMEOUT`] of the close. A
/// refusal while the server is still closing the flood's connections is
/// retried within that time.
fn served_after_flood(port: u16) -> Result<Duration, String> {
    let start = Instant::now();
    let mut served = 0;
    while served < AFTER {
        if start.elapsed() > AFTER_TIMEOUT {
            return Err(format!(
                "{served} of {AFTER} served within {AFTER_TIMEOUT:?}"
            ));
        }
        let fate = match connect(port) {
            Ok(mut stream) => fate(&mut stream),
            Err(error) => Fate::Other(format!("connect: {error}")),
        };
        match fate {
            Fate::Served => served += 1,
            Fate::Refused => {}
            Fate::Other(what) => {
                return Err(format!("after {served} served: {what}"));
            }
        }
    }
    Ok(start.elapsed())
}

/// One Prometheus sample of redraft's `/metrics`.
fn metric(server: &Process, name: &str) -> Result<u64, String> {
    let url = format!("http://127.0.0.1:{}/metrics", server.admin_port);
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(ANSWER_TIMEOUT))
        .build()
        .into();
    let text = agent
        .get(&url)
        .call()
        .map_err(|error| error.to_string())?
        .body_mut()
        .read_to_string()
        .map_err(|error| error.to_string())?;
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
        .ok_or_else(|| format!("no {name} in /metrics"))?
        .parse()
        .map_err(|_| format!("{name} is not a number"))
}

#[test]
fn a_flood_under_a_descriptor_limit_is_refused_as_redis_does_and_recovers() {
    raise_own_open_files(2 * FLOOD as u64 + 256);
    let redraft = redraft_with(&[], |command| limit_open_files(command, OPEN_FILES));
    let fates = flood(&redraft, || {
        let connected = metric(&redraft, "redraft_connected_clients")?;
        let rejected = metric(&redraft, "redraft_rejected_connections_total")?;
        if connected + rejected >= FLOOD as u64 {
            Ok(())
        } else {
            Err(format!("{connected} connected, {rejected} rejected"))
        }
    });
    let (served, refused, odd) = tally(&fates);
    assert!(
        odd.is_empty() && served + refused == FLOOD,
        "redraft: {served} served, {refused} refused, others: {odd:?}"
    );
    let after = served_after_flood(redraft.port).unwrap_or_else(|error| panic!("redraft: {error}"));
    eprintln!("redraft: {served} served, {refused} refused; {AFTER} served {after:?} after");
    // The limit was fitted and reported as Redis does.
    let limit = maxclients(redraft.port);
    assert!(limit < OPEN_FILES, "maxclients {limit}");
    assert_eq!(served as u64, limit, "every slot served, no more");
    assert_eq!(
        metric(&redraft, "redraft_rejected_connections_total").unwrap(),
        refused as u64
    );
    assert_eq!(
        ask(redraft.port, "CONFIG SET maxclients 100000"),
        format!(
            "-ERR CONFIG SET failed (possibly related to argument 'maxclients') - The operating \
             system is not able to handle the specified number of clients, try with {limit}"
        )
    );
    assert_eq!(maxclients(redraft.port), limit, "unchanged after a refusal");

    // redis-server under the same limit does the same.
    let redis = redis_with(&[], |command| limit_open_files(command, OPEN_FILES));
    let redis_limit = maxclients(redis.port);
    let fates = flood(&redis, || Ok(()));
    let (served, refused, odd) = tally(&fates);
    assert!(
        odd.is_empty() && served + refused == FLOOD && served as u64 == redis_limit,
        "redis: {served} served, {refused} refused of maxclients {redis_limit}, others: {odd:?}"
    );
    served_after_flood(redis.port).unwrap_or_else(|error| panic!("redis: {error}"));
    assert_eq!(
        ask(redis.port, "CONFIG SET maxclients 100000"),
        format!(
            "-ERR CONFIG SET failed (possibly related to argument 'maxclients') - The operating \
             system is not able to handle the specified number of clients, try with {redis_limit}"
        )
    );
}

/// On each server: a connection lowers `maxclients` to 2, a second one
/// is served, a third is refused; raising it again admits the next.
/// Returns the bytes each step saw.
fn lowered_maxclients(server: &Process) -> Vec<Vec<u8>> {
    let mut seen = Vec::new();
    let mut first = server.raw();
    first.send(b"CONFIG SET maxclients 2\r\n");
    seen.push(first.read_exact_bytes(5));
    let mut second = server.raw();
    second.send(b"PING\r\n");
    seen.push(second.read_exact_bytes(7));
    let mut third = connect(server.port).expect("connect");
    seen.push(read_to_close(&mut third).expect("refused and closed"));
    first.send(b"INFO stats\r\n");
    let info = match first.read_frame() {
        redraft_server::resp::Frame::Bulk(text) => String::from_utf8_lossy(&text).into_owned(),
        other => panic!("INFO stats: {other:?}"),
    };
    let rejected = info
        .lines()
        .find(|line| line.starts_with("rejected_connections:"))
        .expect("rejected_connections in INFO stats")
        .trim_end()
        .to_string();
    seen.push(rejected.into_bytes());
    first.send(b"CONFIG SET maxclients 3\r\n");
    seen.push(first.read_exact_bytes(5));
    let mut fourth = server.raw();
    fourth.send(b"PING\r\n");
    seen.push(fourth.read_exact_bytes(7));
    seen
}

#[test]
fn config_set_maxclients_refuses_the_next_connection_as_redis_does() {
    let redis = common::redis(&[]);
    let redraft = common::redraft(&[]);
    let want = lowered_maxclients(&redis);
    assert_eq!(
        want[2], REFUSED,
        "redis-server refuses the third connection"
    );
    assert_eq!(want[3], b"rejected_connections:1");
    let got = lowered_maxclients(&redraft);
    let show = |steps: &[Vec<u8>]| -> Vec<String> {
        steps
            .iter()
            .map(|bytes| String::from_utf8_lossy(bytes).into_owned())
            .collect()
    };
    assert_eq!(show(&got), show(&want));
}

/// A keep-alive HTTP/1.1 connection to the admin port, opened while
/// descriptors are free, to ask `/health` while they are not.
struct Health(TcpStream);

impl Health {
    fn open(server: &Process) -> Health {
        let stream = TcpStream::connect(("127.0.0.1", server.admin_port)).expect("admin port");
        stream.set_read_timeout(Some(ANSWER_TIMEOUT)).unwrap();
        Health(stream)
    }

    /// The status code and body of `GET /health`.
    fn get(&mut self) -> (u16, String) {
        self.0
            .write_all(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            .expect("send");
        let mut text = String::new();
        let mut chunk = [0u8; 4096];
        loop {
            if let Some((head, body)) = text.split_once("\r\n\r\n") {
                let head = head.to_ascii_lowercase();
                let length: usize = head
                    .split("content-length: ")
                    .nth(1)
                    .and_then(|rest| rest.lines().next())
                    .and_then(|value| value.trim().parse().ok())
                    .expect("content-length");
                if body.len() >= length {
                    let status = head[9..12].parse().expect("status code");
                    return (status, body[..length].to_string());
                }
            }
            let n = self.0.read(&mut chunk).expect("health answer");
            assert!(n > 0, "admin connection closed");
            text.push_str(&String::from_utf8_lossy(&chunk[..n]));
        }
    }
}

#[test]
fn clients_are_refused_while_descriptors_are_used_up_elsewhere_and_health_says_so() {
    /// Open files for the server: little beyond its own reserve.
    const LIMIT: u64 = 256;
    raise_own_open_files(4 * LIMIT);
    let redraft = redraft_with(&[], |command| limit_open_files(command, LIMIT));
    let mut health = Health::open(&redraft);
    assert_eq!(health.get().0, 200);
    // Idle admin connections take every descriptor the server has left.
    let hogs: Vec<TcpStream> = (0..LIMIT)
        .map(|_| TcpStream::connect(("127.0.0.1", redraft.admin_port)).expect("admin connect"))
        .collect();
    // A client is answered at once, with Redis's refusal.
    until(
        ANSWER_TIMEOUT,
        "a client refused for want of descriptors",
        || {
            let mut stream = connect(redraft.port).map_err(|error| error.to_string())?;
            match fate(&mut stream) {
                Fate::Refused => Ok(()),
                other => Err(format!("{other:?}")),
            }
        },
    );
    let (status, body) = health.get();
    assert_eq!(status, 503, "{body}");
    assert!(
        body.contains("client listener cannot accept connections")
            && body.contains("Too many open files"),
        "{body}"
    );
    drop(hogs);
    until(AFTER_TIMEOUT, "/health ok again", || match health.get() {
        (200, _) => Ok(()),
        (status, body) => Err(format!("{status} {body}")),
    });
    served_after_flood(redraft.port).unwrap_or_else(|error| panic!("{error}"));
}
