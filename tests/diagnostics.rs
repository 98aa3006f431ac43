//! MONITOR, the latency monitor and the slow log with real slow commands,
//! and JSON logs, end to end.
//!
//! - MONITOR runs against redraft (two network threads, connections spread
//!   over both by SO_REUSEPORT) and redis-server with the same script; the
//!   two streams must be the same once timestamps and client ports are
//!   replaced by the connection's number.
//! - A command made slow by a large keyspace must show in LATENCY and
//!   SLOWLOG (the scenario files cover only what needs no slow command).
//! - `--log-format json` must write one JSON object per line, and
//!   `CONFIG SET loglevel` must still change what is written.

mod common;

use std::collections::HashMap;
use std::io::Write;
use std::net::TcpStream;
use std::time::Duration;

use common::{render, Process, Raw};
use redraft_server::resp::Frame;

/// Connections the MONITOR script spreads its commands over.
const SCRIPT_CONNS: usize = 8;

/// The script each connection `n` runs, in turn, waiting for each reply.
fn script(n: usize) -> Vec<Vec<Vec<u8>>> {
    let key = format!("key:{n}");
    let quoted = format!("q\"{n}\\\n\t\u{1}\u{e9}");
    let lines: Vec<Vec<&str>> = vec![
        vec!["SET", &key, "v"],
        vec!["GET", &key],
        vec!["PING", &quoted],
        // Refused before running: not shown.
        vec!["NOSUCHCOMMAND", "x"],
        vec!["GET"],
        vec!["CONFIG", "NOSUCH"],
        // Admin: not shown.
        vec!["CONFIG", "GET", "port"],
        vec!["SLOWLOG", "LEN"],
        // Secrets: redacted.
        vec!["AUTH", "secret"],
        vec!["HELLO", "2", "AUTH", "default", "secret"],
        // The database shown is the one after the command.
        vec!["SELECT", "3"],
        vec!["INCR", "counter"],
        vec!["SELECT", "0"],
        // A transaction: MULTI, then its commands and EXEC at EXEC.
        vec!["MULTI"],
        vec!["SET", &key, "in-multi"],
        vec!["RPUSH", "list", "a", "b"],
        vec!["EXEC"],
        vec!["CLIENT", "SETNAME", "monitored"],
    ];
    lines
        .into_iter()
        .map(|line| {
            line.into_iter()
                .map(|arg| arg.as_bytes().to_vec())
                .collect()
        })
        .collect()
}

/// A MONITOR line with its timestamp and client address replaced by the
/// client's number in `ports` (`#3` for the fourth connection).
fn normalize(line: &str, ports: &HashMap<u16, usize>) -> String {
    let (stamp, rest) = line
        .split_once(" [")
        .unwrap_or_else(|| panic!("no ' [' in MONITOR line {line:?}"));
    let (seconds, micros) = stamp
        .strip_prefix('+')
        .and_then(|stamp| stamp.split_once('.'))
        .unwrap_or_else(|| panic!("bad timestamp in {line:?}"));
    assert!(
        seconds.parse::<u64>().is_ok()
            && micros.len() == 6
            && micros.bytes().all(|b| b.is_ascii_digit()),
        "bad timestamp in {line:?}"
    );
    let (client, command) = rest.split_once("] ").expect("a closing ']'");
    let (db, addr) = client.split_once(' ').expect("db and address");
    let port: u16 = addr
        .strip_prefix("127.0.0.1:")
        .and_then(|port| port.parse().ok())
        .unwrap_or_else(|| panic!("bad address in {line:?}"));
    let who = ports
        .get(&port)
        .map_or_else(|| format!("port {port}"), |n| format!("#{n}"));
    format!("[{db} {who}] {command}")
}

/// A frame the monitor received: a MONITOR line (normalized), or a reply
/// to its own command as redis-cli shows it (integers without the value,
/// which differ between servers: client ids).
fn monitor_frame(frame: Frame, ports: &HashMap<u16, usize>) -> String {
    match frame {
        Frame::Simple(text) if text.contains(&b'[') => {
            normalize(&format!("+{}", String::from_utf8_lossy(&text)), ports)
        }
        Frame::Integer(_) => "(integer)".to_string(),
        other => render(&other),
    }
}

/// Runs the script on `server` with a monitor attached; returns what the
/// monitor received, normalized: the script's lines, then the replies and
/// lines of the monitor's own commands.
fn monitored_run(server: &Process) -> Vec<String> {
    let mut monitor = server.raw();
    let mut conns: Vec<Raw> = (0..SCRIPT_CONNS).map(|_| server.raw()).collect();
    let mut ports = HashMap::new();
    for (n, conn) in conns.iter_mut().chain([&mut monitor]).enumerate() {
        ports.insert(client_port(conn), n);
    }
    assert_eq!(monitor.command(&[b"MONITOR"]), Frame::Simple("OK".into()));
    // Interleave the connections: step s of every connection, then s + 1.
    let mut scripts: Vec<_> = (0..SCRIPT_CONNS).map(|n| script(n).into_iter()).collect();
    'steps: loop {
        for (conn, script) in conns.iter_mut().zip(scripts.iter_mut()) {
            let Some(args) = script.next() else {
                break 'steps;
            };
            let args: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
            conn.command(&args);
        }
    }
    let quiet = Duration::from_millis(500);
    let mut seen: Vec<String> = monitor
        .drain(quiet)
        .into_iter()
        .map(|frame| monitor_frame(frame, &ports))
        .collect();
    // What a monitor may do itself; a second MONITOR gets no reply.
    for args in [
        &[&b"GET"[..], b"key:0"][..],
        &[b"SET", b"k", b"v"],
        &[b"PING"],
        &[b"CLIENT", b"ID"],
        &[b"MONITOR"],
        &[b"ECHO", b"last"],
        // RESET leaves MONITOR: its own commands after it are replied to,
        // not streamed.
        &[b"RESET"],
        &[b"ECHO", b"after reset"],
        &[b"MONITOR"],
    ] {
        monitor.send_command(args);
        seen.push(format!("> {}", String::from_utf8_lossy(&args.join(&b' '))));
        let frames = monitor.drain(quiet);
        seen.extend(frames.into_iter().map(|frame| monitor_frame(frame, &ports)));
    }
    seen
}

/// The client port of `conn`, from CLIENT INFO (sent before MONITOR
/// starts, so no monitor sees it).
fn client_port(conn: &mut Raw) -> u16 {
    let Frame::Bulk(info) = conn.command(&[b"CLIENT", b"INFO"]) else {
        panic!("CLIENT INFO");
    };
    String::from_utf8_lossy(&info)
        .split(' ')
        .find_map(|field| field.strip_prefix("addr=127.0.0.1:"))
        .and_then(|port| port.parse().ok())
        .expect("addr= in CLIENT INFO")
}

#[test]
fn monitor_streams_every_thread_s_commands_as_redis_does() {
    let redis = common::redis(&[]);
    let redraft = common::redraft(&[]);
    let redis_seen = monitored_run(&redis);
    let redraft_seen = monitored_run(&redraft);
    // Sanity: the script's visible commands are there, redacted.
    assert!(
        redis_seen
            .iter()
            .any(|line| line.contains("\"AUTH\" \"(redacted)\"")),
        "{redis_seen:#?}"
    );
    assert!(redis_seen.len() > SCRIPT_CONNS * 10, "{redis_seen:#?}");
    assert_eq!(
        redraft_seen, redis_seen,
        "MONITOR streams differ (left: redraft, right: redis)"
    );
}

#[test]
fn monitor_sees_nothing_after_quit_and_others_keep_working() {
    let redraft = common::redraft(&[]);
    let mut first = redraft.raw();
    let mut second = redraft.raw();
    assert_eq!(first.command(&[b"MONITOR"]), Frame::Simple("OK".into()));
    assert_eq!(second.command(&[b"MONITOR"]), Frame::Simple("OK".into()));
    assert_eq!(first.command(&[b"QUIT"]), Frame::Simple("OK".into()));
    assert!(first.is_closed());
    let mut client = redraft.raw();
    assert_eq!(
        client.command(&[b"SET", b"after", b"quit"]),
        Frame::Simple("OK".into())
    );
    // The first monitor's QUIT shows (Redis shows QUIT too), then the SET.
    let lines: Vec<String> = second
        .read_n(2)
        .into_iter()
        .map(|frame| match frame {
            Frame::Simple(line) => String::from_utf8_lossy(&line).into_owned(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert!(lines[0].ends_with("\"QUIT\""), "{lines:?}");
    assert!(
        lines[1].ends_with("\"SET\" \"after\" \"quit\""),
        "{lines:?}"
    );
}

/// A command slow enough to pass a 1 ms threshold even in a release
/// build: KEYS over this many keys.
const SLOW_KEYS: usize = 100_000;

#[test]
fn a_slow_command_shows_in_latency_and_slowlog() {
    let redraft = common::redraft(&[]);
    let mut conn = redraft.raw();
    for chunk in 0..SLOW_KEYS / 1000 {
        let keys: Vec<Vec<u8>> = (0..1000)
            .flat_map(|i| {
                let key = format!("slow:{}", chunk * 1000 + i).into_bytes();
                [key, b"v".to_vec()]
            })
            .collect();
        let mut args: Vec<&[u8]> = vec![b"MSET"];
        args.extend(keys.iter().map(Vec::as_slice));
        assert_eq!(conn.command(&args), Frame::Simple("OK".into()));
    }
    for setting in [
        &[&b"latency-monitor-threshold"[..], b"1"],
        &[b"slowlog-log-slower-than", b"1000"],
    ] {
        let mut args: Vec<&[u8]> = vec![b"CONFIG", b"SET"];
        args.extend_from_slice(setting);
        assert_eq!(conn.command(&args), Frame::Simple("OK".into()));
    }
    assert_eq!(
        conn.command(&[b"SLOWLOG", b"RESET"]),
        Frame::Simple("OK".into())
    );
    let Frame::Array(keys) = conn.command(&[b"KEYS", b"slow:*"]) else {
        panic!("KEYS");
    };
    assert_eq!(keys.len(), SLOW_KEYS);

    let latest = render(&conn.command(&[b"LATENCY", b"LATEST"]));
    assert!(latest.starts_with("1) 1) \"command\""), "{latest}");
    let history = conn.command(&[b"LATENCY", b"HISTORY", b"command"]);
    let Frame::Array(samples) = &history else {
        panic!("{history:?}");
    };
    assert_eq!(samples.len(), 1, "{history:?}");
    let Frame::Array(sample) = &samples[0] else {
        panic!("{history:?}");
    };
    assert!(
        matches!(sample[1], Frame::Integer(ms) if ms >= 1),
        "{history:?}"
    );
    let doctor = render(&conn.command(&[b"LATENCY", b"DOCTOR"]));
    assert!(doctor.contains("1. command: 1 latency spikes"), "{doctor}");
    let graph = render(&conn.command(&[b"LATENCY", b"GRAPH", b"command"]));
    assert!(graph.starts_with("\"command - high "), "{graph}");

    let slowlog = conn.command(&[b"SLOWLOG", b"GET"]);
    let Frame::Array(entries) = &slowlog else {
        panic!("{slowlog:?}");
    };
    let keys_entry = entries
        .iter()
        .find_map(|entry| match entry {
            Frame::Array(fields)
                if fields[3]
                    == Frame::Array(vec![
                        Frame::Bulk("KEYS".into()),
                        Frame::Bulk("slow:*".into()),
                    ]) =>
            {
                Some(fields)
            }
            _ => None,
        })
        .unwrap_or_else(|| panic!("no KEYS entry in {}", render(&slowlog)));
    assert!(
        matches!(keys_entry[2], Frame::Integer(us) if us >= 1000),
        "{keys_entry:?}"
    );
    assert_eq!(
        conn.command(&[b"LATENCY", b"RESET", b"COMMAND"]),
        Frame::Integer(1)
    );
    assert_eq!(conn.command(&[b"LATENCY", b"LATEST"]), Frame::Array(vec![]));
}

/// Non-empty lines of `path`, each parsed as a JSON object.
fn json_lines(path: &std::path::Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            let value: serde_json::Value = serde_json::from_str(line)
                .unwrap_or_else(|err| panic!("not JSON ({err}): {line:?}"));
            assert!(value.is_object(), "not an object: {line}");
            value
        })
        .collect()
}

/// Sends a frame the Raft peer server rejects, which it logs as a warning.
fn bad_peer_frame(raft_port: u16) {
    let mut stream = TcpStream::connect(("127.0.0.1", raft_port)).unwrap();
    let _ = stream.write_all(&[0xff; 64]);
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let _ = std::io::Read::read(&mut stream, &mut [0u8; 64]);
}

#[test]
fn json_logs_are_one_object_per_line_and_follow_config_set_loglevel() {
    let ports: [u16; 3] = common::node::free_ports(3).try_into().unwrap();
    let dir = common::temp_dir("json-logs");
    let log = dir.join("server.log");
    let mut args = common::server_args(ports, &dir.join("data"), "info");
    args.extend(["--log-format".to_string(), "json".to_string()]);
    let mut child = common::node::spawn_server(&args, &log, ports[0]);
    let lines = json_lines(&log);
    let ready = lines
        .iter()
        .find(|line| line["fields"]["message"] == "ready to accept connections")
        .unwrap_or_else(|| panic!("no ready line in {lines:?}"));
    assert_eq!(ready["level"], "INFO");
    assert_eq!(ready["target"], "redraft_server::server");
    assert!(ready["timestamp"].is_string());

    let mut conn = Raw::connect(ports[0]);
    let warnings = |log| {
        json_lines(log)
            .iter()
            .filter(|line| line["level"] == "WARN")
            .count()
    };
    let set = |conn: &mut Raw, level: &[u8]| {
        let reply = conn.command(&[b"CONFIG", b"SET", b"loglevel", level]);
        assert_eq!(reply, Frame::Simple("OK".into()));
    };
    set(&mut conn, b"error");
    let before = warnings(&log);
    bad_peer_frame(ports[2]);
    // A PING round trip gives the server time to log; nothing may appear.
    conn.command(&[b"PING"]);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(warnings(&log), before, "a warning logged at level error");
    set(&mut conn, b"warning");
    bad_peer_frame(ports[2]);
    common::wait::until(Duration::from_secs(10), "a JSON warning line", || {
        if warnings(&log) > before {
            Ok(())
        } else {
            Err(common::node::log_tail(&log, 5))
        }
    });
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&dir);
}

/// Sets up one connection in each state `CLIENT LIST` tells apart (each
/// named after it) and returns them, kept open, with the caller's view:
/// each named client's fields by name.
fn client_states(server: &Process) -> (Vec<Raw>, HashMap<String, HashMap<String, String>>) {
    let mut caller = server.raw();
    let mut conns = Vec::new();
    let named = |name: &str| {
        let mut conn = server.raw();
        assert_eq!(
            conn.command(&[b"CLIENT", b"SETNAME", name.as_bytes()]),
            Frame::Simple("OK".into())
        );
        conn
    };
    let mut subscriber = named("subscriber");
    subscriber.send_command(&[b"SUBSCRIBE", b"c1", b"c2"]);
    subscriber.send_command(&[b"PSUBSCRIBE", b"p*"]);
    subscriber.send_command(&[b"SSUBSCRIBE", b"s1", b"s2", b"s3"]);
    subscriber.read_n(6);
    // Subscribed to shard channels only: still a pub/sub client.
    let mut shard_subscriber = named("shard_subscriber");
    shard_subscriber.send_command(&[b"SSUBSCRIBE", b"s1"]);
    shard_subscriber.read_n(1);
    let mut queuing = named("queuing");
    queuing.command(&[b"MULTI"]);
    queuing.command(&[b"SET", b"k", b"v"]);
    queuing.command(&[b"INCR", b"n"]);
    let mut blocked = named("blocked");
    blocked.send_command(&[b"BLPOP", b"nothing", b"0"]);
    let mut monitor = named("monitor");
    assert_eq!(monitor.command(&[b"MONITOR"]), Frame::Simple("OK".into()));
    let idle = named("idle");
    conns.extend([
        subscriber,
        shard_subscriber,
        queuing,
        blocked,
        monitor,
        idle,
    ]);
    caller.command(&[b"CLIENT", b"SETNAME", b"caller"]);
    let fields = |line: &str| -> HashMap<String, String> {
        line.split(' ')
            .filter_map(|pair| pair.split_once('='))
            .map(|(field, value)| (field.to_owned(), value.to_owned()))
            .collect()
    };
    // Poll until the blocked client shows as blocked (its BLPOP was sent
    // without waiting for an answer).
    let view = common::wait::until(Duration::from_secs(5), "BLPOP to block", || {
        let Frame::Bulk(list) = caller.command(&[b"CLIENT", b"LIST"]) else {
            return Err("CLIENT LIST is not a bulk string".into());
        };
        let text = String::from_utf8_lossy(&list).into_owned();
        let view: HashMap<String, HashMap<String, String>> = text
            .lines()
            .map(fields)
            .map(|fields| (fields["name"].clone(), fields))
            .collect();
        match view.get("blocked") {
            Some(blocked) if blocked["flags"] == "b" => Ok(view),
            _ => Err(text),
        }
    });
    conns.push(caller);
    (conns, view)
}

#[test]
fn client_list_shows_each_connection_s_state_as_redis_does() {
    let redis = common::redis(&[]);
    let redraft = common::redraft(&[]);
    let (_redis_conns, redis_view) = client_states(&redis);
    let (mut redraft_conns, redraft_view) = client_states(&redraft);
    // Fields whose values both servers compute the same way.
    const SAME: [&str; 9] = [
        "flags", "db", "sub", "psub", "ssub", "multi", "obl", "oll", "omem",
    ];
    for name in [
        "caller",
        "subscriber",
        "shard_subscriber",
        "queuing",
        "blocked",
        "monitor",
        "idle",
    ] {
        let (ours, theirs) = (&redraft_view[name], &redis_view[name]);
        let mut fields: Vec<&String> = ours.keys().collect();
        fields.sort();
        let mut redis_fields: Vec<&String> = theirs.keys().collect();
        redis_fields.sort();
        assert_eq!(fields, redis_fields, "{name}: the same fields");
        for field in SAME {
            assert_eq!(ours[field], theirs[field], "{name}: {field}");
        }
        assert_eq!(ours["events"], "r", "{name}");
        for field in ["qbuf-free", "rbs", "tot-mem"] {
            assert!(ours[field].parse::<u64>().unwrap() > 0, "{name}: {field}");
        }
    }
    // The caller's own command is in its query buffer, as in Redis.
    for field in ["qbuf", "argv-mem"] {
        assert_eq!(
            redraft_view["caller"][field], redis_view["caller"][field],
            "caller: {field}"
        );
    }
    assert_ne!(redraft_view["queuing"]["multi-mem"], "0");
    assert_eq!(redraft_view["idle"]["multi-mem"], "0");
    // TYPE pubsub lists the subscribers (shard channels count); TYPE
    // normal the others.
    let caller = redraft_conns.last_mut().unwrap();
    let list = |caller: &mut Raw, kind: &[u8]| -> Vec<String> {
        let Frame::Bulk(list) = caller.command(&[b"CLIENT", b"LIST", b"TYPE", kind]) else {
            panic!("CLIENT LIST TYPE");
        };
        let mut names: Vec<String> = String::from_utf8_lossy(&list)
            .lines()
            .filter_map(|line| line.split(" name=").nth(1))
            .map(|rest| rest.split(' ').next().unwrap_or("").to_owned())
            .collect();
        names.sort();
        names
    };
    assert_eq!(list(caller, b"pubsub"), ["shard_subscriber", "subscriber"]);
    assert_eq!(
        list(caller, b"normal"),
        ["blocked", "caller", "idle", "monitor", "queuing"]
    );
}

/// Sends 1 MB ECHOs while a MONITOR client never reads, until the server
/// drops the monitor; returns how many megabytes that took.
fn echoes_until_monitor_dropped(server: &Process) -> usize {
    let mut monitor = server.raw();
    assert_eq!(monitor.command(&[b"MONITOR"]), Frame::Simple("OK".into()));
    let mut client = server.raw();
    let payload = vec![b'x'; 1 << 20];
    for sent in 1..=512 {
        client.command(&[b"ECHO", &payload]);
        if sent % 16 == 0 {
            let Frame::Bulk(list) = client.command(&[b"CLIENT", b"LIST"]) else {
                panic!("CLIENT LIST");
            };
            if !String::from_utf8_lossy(&list).contains("flags=O") {
                return sent;
            }
        }
    }
    panic!("a monitor that never reads was sent 512 MB and kept");
}

/// Redis keeps such a monitor whatever it costs (monitors are "normal"
/// clients to its output limits, which are off for those); redraft drops
/// it past 256 MB, Redis's limit for replicas, so it cannot exhaust memory.
#[test]
fn a_monitor_that_does_not_read_is_dropped_past_256_mb() {
    let redraft = common::redraft(&[]);
    let by_redraft = echoes_until_monitor_dropped(&redraft);
    // Plus what the sockets hold and the 16 MB between two looks.
    assert!(
        by_redraft <= 320,
        "redraft dropped it after {by_redraft} MB"
    );
    assert!(
        by_redraft >= 256,
        "redraft dropped it early, after {by_redraft} MB"
    );
}
