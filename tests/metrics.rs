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

/// `GET http://127.0.0.1:<admin_port><path>`: status and body.
fn admin_get(server: &Process, path: &str) -> (u16, String) {
    let url = format!("http://127.0.0.1:{}{path}", server.admin_port);
    let mut response = ureq::get(&url)
        .config()
        .http_status_as_error(false)
        .build()
        .call()
        .unwrap_or_else(|error| panic!("GET {url}: {error}"));
    let status = response.status().as_u16();
    (
        status,
        response.body_mut().read_to_string().expect("a text body"),
    )
}

/// The samples of a /metrics page, parsed as Prometheus parses it.
fn scrape(server: &Process) -> prometheus_parse::Scrape {
    let (status, body) = admin_get(server, "/metrics");
    assert_eq!(status, 200, "{body}");
    let lines = body.lines().map(|line| Ok(line.to_string()));
    prometheus_parse::Scrape::parse(lines).expect("/metrics is valid Prometheus text")
}

/// The value of sample `name` whose labels include `labels` (a summary's
/// `quantile` label picks one of its quantiles).
fn value(scrape: &prometheus_parse::Scrape, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    use prometheus_parse::Value;
    scrape
        .samples
        .iter()
        .find(|sample| {
            sample.metric == name
                && labels
                    .iter()
                    .filter(|(label, _)| *label != "quantile")
                    .all(|(label, text)| sample.labels.get(label) == Some(*text))
        })
        .map(|sample| match &sample.value {
            Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => *v,
            Value::Summary(quantiles) => {
                let wanted: f64 = labels
                    .iter()
                    .find(|(label, _)| *label == "quantile")
                    .map_or(0.5, |(_, q)| q.parse().unwrap());
                quantiles
                    .iter()
                    .find(|q| (q.quantile - wanted).abs() < 1e-9)
                    .map_or(f64::NAN, |q| q.count)
            }
            Value::Histogram(_) => f64::NAN,
        })
}

#[test]
fn metrics_page_parses_and_moves_with_a_known_workload() {
    let redraft = redraft(&[]);
    let before = scrape(&redraft);
    let sets_before = value(
        &before,
        "redraft_command_calls_total",
        &[("command", "set")],
    );
    assert_eq!(sets_before, None, "no SET yet");
    let mut raw = redraft.raw();
    let mut slowest_ms = 0.0f64;
    let started = Instant::now();
    for i in 0..300 {
        let sent = Instant::now();
        raw.command(&[b"SET", format!("key{i}").as_bytes(), b"value"]);
        raw.command(&[b"GET", format!("key{i}").as_bytes()]);
        slowest_ms = slowest_ms.max(sent.elapsed().as_secs_f64() * 1000.0);
    }
    raw.command(&[b"INCR", b"key0"]); // failed: not an integer
    raw.command(&[b"GET"]); // rejected: arity
    let run_s = started.elapsed().as_secs_f64();
    // Counters are exact at once; histograms may trail by one flush.
    let deadline = Instant::now() + Duration::from_secs(5);
    let after = loop {
        let page = scrape(&redraft);
        let timed = value(
            &page,
            "redraft_command_latency_seconds_count",
            &[("command", "get")],
        );
        if timed == Some(300.0) || Instant::now() > deadline {
            break page;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let calls = |command| {
        value(
            &after,
            "redraft_command_calls_total",
            &[("command", command)],
        )
    };
    assert_eq!(calls("set"), Some(300.0));
    assert_eq!(calls("get"), Some(300.0));
    assert_eq!(calls("incr"), Some(1.0));
    let failed = value(
        &after,
        "redraft_command_failed_total",
        &[("command", "incr")],
    );
    assert_eq!(failed, Some(1.0));
    let rejected = value(
        &after,
        "redraft_command_rejected_total",
        &[("command", "get")],
    );
    assert_eq!(rejected, Some(1.0));
    assert_eq!(
        value(&after, "redraft_errors_total", &[("error", "ERR")]),
        Some(2.0)
    );
    assert_eq!(
        value(
            &after,
            "redraft_command_latency_seconds_count",
            &[("command", "set")]
        ),
        Some(300.0)
    );
    // Percentiles in order, above zero, and no longer than the slowest
    // round trip the client saw (the server's part of it).
    for command in ["set", "get"] {
        let quantile = |q| {
            value(
                &after,
                "redraft_command_latency_seconds",
                &[("command", command), ("quantile", q)],
            )
            .unwrap_or_else(|| panic!("{command} has no {q} quantile"))
        };
        let quantiles = [
            quantile("0.5"),
            quantile("0.9"),
            quantile("0.99"),
            quantile("0.999"),
        ];
        let max = value(
            &after,
            "redraft_command_latency_max_seconds",
            &[("command", command)],
        )
        .expect("a max");
        assert!(quantiles[0] > 0.0, "{command}: {quantiles:?}");
        assert!(
            quantiles.windows(2).all(|pair| pair[0] <= pair[1]),
            "{quantiles:?}"
        );
        // Two significant figures: a quantile may read 1% above the value.
        assert!(
            quantiles[3] <= max * 1.01 && max <= slowest_ms / 1000.0 * 1.01,
            "{command}: {quantiles:?} max {max} slowest {slowest_ms} ms"
        );
        let sum = value(
            &after,
            "redraft_command_latency_seconds_sum",
            &[("command", command)],
        )
        .expect("a sum");
        assert!(
            sum > 0.0 && sum <= run_s,
            "{command}: sum {sum} s over a {run_s} s run"
        );
    }
    // The Raft figures moved: every SET went through the log.
    let entries = value(&after, "redraft_raft_commands_proposed_total", &[]).expect("proposed");
    assert!(entries >= 301.0, "{entries}");
    let syncs = value(&after, "redraft_raft_log_sync_seconds_count", &[]).expect("syncs");
    assert!(syncs >= 1.0, "{syncs}");
    assert_eq!(
        value(&after, "redraft_raft_role", &[("role", "leader")]),
        Some(1.0)
    );
    assert_eq!(
        value(&after, "redraft_db_keys", &[("db", "0")]),
        Some(300.0)
    );
    // The histogram counts the same SETs as the summary, its buckets
    // rising to all of them.
    let set_buckets = after
        .samples
        .iter()
        .find_map(|sample| match &sample.value {
            prometheus_parse::Value::Histogram(buckets)
                if sample.metric == "redraft_command_duration_seconds"
                    && sample.labels.get("command") == Some("set") =>
            {
                Some(buckets.clone())
            }
            _ => None,
        })
        .expect("a SET duration histogram");
    let counts: Vec<f64> = set_buckets.iter().map(|bucket| bucket.count).collect();
    assert!(
        counts.windows(2).all(|pair| pair[0] <= pair[1]),
        "{counts:?}"
    );
    assert_eq!(counts.last(), Some(&300.0), "{counts:?}");
    // The standard process series.
    assert!(value(&after, "process_resident_memory_bytes", &[]).is_some_and(|bytes| bytes > 0.0));
    assert!(value(&after, "process_open_fds", &[]).is_some_and(|fds| fds >= 3.0));
}

/// Prometheus's own linter accepts the page (`promtool check metrics`,
/// from Debian's `prometheus` package, which `.ci/run` installs).
#[test]
fn the_metrics_page_passes_promtool() {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let server = redraft(&[]);
    let mut con = server.raw();
    for command in [
        &b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n"[..],
        b"*1\r\n$4\r\nPING\r\n",
    ] {
        con.send(command);
        con.read_frame();
    }
    let (status, page) = admin_get(&server, "/metrics");
    assert_eq!(status, 200, "{page}");
    let child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(child) => child,
        Err(error) if std::env::var_os("CI").is_none() => {
            eprintln!("promtool not found ({error}); skipped (install Debian's prometheus)");
            return;
        }
        Err(error) => panic!("promtool: {error} (.ci/run installs Debian's prometheus)"),
    };
    child
        .stdin
        .take()
        .unwrap()
        .write_all(page.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "promtool check metrics: {}\n{}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn dashboard_series_exist_and_the_page_serves() {
    let redraft = redraft(&[]);
    let mut raw = redraft.raw();
    raw.command(&[b"SET", b"k", b"v"]);
    for _ in 0..3 {
        raw.command(&[b"GET", b"k"]);
    }
    let (_, body) = admin_get(&redraft, "/metrics");
    let families: std::collections::BTreeSet<&str> = body
        .lines()
        .filter_map(|line| line.strip_prefix("# TYPE "))
        .filter_map(|line| line.split(' ').next())
        .collect();
    // Every series the Grafana dashboard queries is on the page.
    let dashboard = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../docs/grafana/redraft-dashboard.json"
    ))
    .expect("the Grafana dashboard");
    let json: serde_json::Value = serde_json::from_str(&dashboard).expect("valid JSON");
    let mut used = Vec::new();
    for panel in json["panels"].as_array().expect("panels") {
        for target in panel["targets"].as_array().expect("targets") {
            let expr = target["expr"].as_str().expect("an expr");
            for (at, _) in expr.match_indices("redraft_") {
                let name: String = expr[at..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                used.push(name);
            }
        }
    }
    assert!(used.len() > 10, "{used:?}");
    for name in used {
        let family = name
            .strip_suffix("_sum")
            .or_else(|| name.strip_suffix("_count"))
            .or_else(|| name.strip_suffix("_bucket"))
            .unwrap_or(&name);
        assert!(
            families.contains(family),
            "the dashboard queries {name}, which /metrics lacks"
        );
    }
    let (status, page) = admin_get(&redraft, "/");
    assert_eq!(status, 200);
    assert!(
        page.contains("dashboard.json"),
        "the page polls dashboard.json"
    );
    let (status, report) = admin_get(&redraft, "/dashboard.json");
    assert_eq!(status, 200);
    let report: serde_json::Value = serde_json::from_str(&report).expect("JSON");
    assert_eq!(report["state"], "leader");
    let commands = report["commands"].as_array().expect("commands");
    assert!(
        commands
            .iter()
            .any(|c| c["name"] == "set" && c["calls"] == 1),
        "{commands:?}"
    );
    // Busiest first.
    assert_eq!(commands[0]["name"], "get", "{commands:?}");
    let member = &report["members"][0];
    assert_eq!(member["role"], "leader", "{member}");
    assert_eq!(member["reachable"], true, "{member}");
    assert_eq!(member["lag"], 0, "{member}");
}
