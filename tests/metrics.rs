//! The per-command figures (INFO commandstats / errorstats / latencystats,
//! LATENCY HISTOGRAM) against a real redis-server running the same script.
//!
//! Timings differ between the servers, so what is compared exactly is what
//! Redis defines exactly: calls, rejected and failed calls per command, and
//! error counts by prefix. The latency figures are checked for shape:
//! cumulative buckets that end at the number of calls, percentiles in order.

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::{redis, redraft, Process, Raw};
use redraft_server::resp::Frame;

/// The commands every server runs, each on the connection of its index
/// modulo the number of connections (so redraft's network threads share
/// them), with redirect-free, deterministic replies.
const SCRIPT: &[&[&str]] = &[
    &["SET", "k1", "v"],
    &["SET", "k2", "7"],
    &["GET", "k1"],
    &["GET", "missing"],
    &["INCR", "k2"],
    // failed: not an integer
    &["INCR", "k1"],
    // rejected: arity
    &["SET", "k1"],
    &["GET"],
    // failed: WRONGTYPE
    &["LPUSH", "k1", "x"],
    &["RPUSH", "list", "a", "b"],
    &["LRANGE", "list", "0", "-1"],
    // failed: syntax error
    &["SET", "k3", "v", "NX", "XX"],
    // not a command: an error, counted by prefix only
    &["NOSUCHCOMMAND", "x"],
    &["CONFIG", "GET", "maxmemory"],
    // rejected: a subcommand's arity
    &["CONFIG", "GET"],
    &["DEL", "k1", "k2", "list"],
];

/// Runs the script over `connections` connections.
fn run_script(server: &Process, connections: usize) {
    let mut conns: Vec<Raw> = (0..connections).map(|_| server.raw()).collect();
    for (i, command) in SCRIPT.iter().enumerate() {
        let args: Vec<&[u8]> = command.iter().map(|arg| arg.as_bytes()).collect();
        conns[i % connections].command(&args);
    }
}

/// A section of INFO as (key, value) lines.
fn info_section(server: &Process, section: &str) -> BTreeMap<String, String> {
    let mut raw = server.raw();
    let Frame::Bulk(text) = raw.command(&[b"INFO", section.as_bytes()]) else {
        panic!("INFO {section} is not a bulk string");
    };
    String::from_utf8_lossy(&text)
        .lines()
        .filter_map(|line| line.split_once(':'))
        .map(|(key, value)| (key.to_string(), value.to_string()))
        .collect()
}

/// `calls`, `rejected_calls` and `failed_calls` of each command in the
/// script (INFO's own line and `usec` left out).
fn command_counts(server: &Process) -> BTreeMap<String, String> {
    info_section(server, "commandstats")
        .into_iter()
        .filter(|(key, _)| key != "cmdstat_info")
        .map(|(key, value)| {
            let kept: Vec<&str> = value
                .split(',')
                .filter(|field| {
                    ["calls=", "rejected_calls=", "failed_calls="]
                        .iter()
                        .any(|name| field.starts_with(name))
                })
                .collect();
            (key, kept.join(","))
        })
        .collect()
}

#[test]
fn command_and_error_counts_match_redis() {
    let redis = redis(&[]);
    let redraft = redraft(&[]);
    for server in [&redis, &redraft] {
        run_script(server, 3);
    }
    let expected = command_counts(&redis);
    assert!(expected.contains_key("cmdstat_set"), "{expected:?}");
    assert_eq!(command_counts(&redraft), expected);
    assert_eq!(
        info_section(&redraft, "errorstats"),
        info_section(&redis, "errorstats")
    );
    // CONFIG RESETSTAT forgets them all, on every thread.
    for server in [&redis, &redraft] {
        server.raw().command(&[b"CONFIG", b"RESETSTAT"]);
        assert!(
            !command_counts(server).contains_key("cmdstat_set"),
            "{:?}",
            command_counts(server)
        );
        assert!(info_section(server, "errorstats").is_empty());
    }
}

/// `LATENCY HISTOGRAM <command>` as (calls, [(bucket µs, cumulative)]).
fn latency_histogram(server: &Process, command: &str) -> Option<(i64, Vec<(i64, i64)>)> {
    let mut raw = server.raw();
    let Frame::Array(reply) = raw.command(&[b"LATENCY", b"HISTOGRAM", command.as_bytes()]) else {
        panic!("LATENCY HISTOGRAM is not an array");
    };
    let [Frame::Bulk(name), Frame::Array(fields)] = reply.as_slice() else {
        return None;
    };
    assert_eq!(name.as_ref(), command.as_bytes());
    let [Frame::Bulk(calls_name), Frame::Integer(calls), Frame::Bulk(histogram_name), Frame::Array(buckets)] =
        fields.as_slice()
    else {
        panic!("unexpected histogram fields {fields:?}");
    };
    assert_eq!(
        (calls_name.as_ref(), histogram_name.as_ref()),
        (&b"calls"[..], &b"histogram_usec"[..])
    );
    let buckets = buckets
        .chunks(2)
        .map(|pair| match pair {
            [Frame::Integer(usec), Frame::Integer(count)] => (*usec, *count),
            _ => panic!("unexpected bucket {pair:?}"),
        })
        .collect();
    Some((*calls, buckets))
}

#[test]
fn latency_histograms_and_percentiles_have_redis_shape() {
    let redraft = redraft(&[]);
    let mut raw = redraft.raw();
    let started = Instant::now();
    for i in 0..200 {
        raw.command(&[b"SET", format!("key{i}").as_bytes(), b"value"]);
    }
    let client_ms = started.elapsed().as_secs_f64() * 1000.0;
    // Another connection may see the histogram up to one flush late.
    let deadline = Instant::now() + Duration::from_secs(5);
    let (calls, buckets) = loop {
        match latency_histogram(&redraft, "set") {
            Some((200, buckets)) => break (200, buckets),
            _ if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            other => panic!("SET histogram never reached 200 calls: {other:?}"),
        }
    };
    let mut previous = (0, 0);
    for &(usec, count) in &buckets {
        assert!(usec > previous.0 && count > previous.1, "{buckets:?}");
        assert!(
            (usec as u64).is_power_of_two() || usec > 64,
            "bucket {usec} µs"
        );
        previous = (usec, count);
    }
    assert_eq!(previous.1, calls, "the last bucket holds every call");
    // Each SET's server-side latency is within the client's whole run.
    let fields = info_section(&redraft, "latencystats");
    let set = &fields["latency_percentiles_usec_set"];
    let values: Vec<f64> = set
        .split(',')
        .map(|field| {
            let (name, value) = field.split_once('=').unwrap();
            assert!(["p50", "p99", "p99.9"].contains(&name), "{set}");
            value.parse().unwrap()
        })
        .collect();
    assert!(values.windows(2).all(|pair| pair[0] <= pair[1]), "{set}");
    assert!(values[0] > 0.0 && values[2] <= client_ms * 1000.0, "{set}");
    // Unknown names are skipped; no calls, no entry.
    assert_eq!(latency_histogram(&redraft, "nosuchcommand"), None);
    assert_eq!(latency_histogram(&redraft, "get"), None);
    // With tracking off, commands are counted but not timed.
    raw.command(&[b"CONFIG", b"SET", b"latency-tracking", b"no"]);
    raw.command(&[b"GET", b"key1"]);
    assert_eq!(latency_histogram(&redraft, "get"), None);
    let stats = info_section(&redraft, "commandstats");
    assert!(
        stats["cmdstat_get"].starts_with("calls=1,usec=0,"),
        "{stats:?}"
    );
    assert!(info_section(&redraft, "latencystats").is_empty());
}
