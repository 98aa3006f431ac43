//! The hook the session calls for each command: what goes to the slow
//! log, the latency monitor and MONITOR, with secrets redacted (see
//! `crate::diag` for the invariants).

use std::borrow::Cow;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;

use crate::client::Client;
use crate::cmd::{flags, Action, CommandSpec};
use crate::diag::{latency, monitor};
use crate::shared::Shared;

/// What a redacted argument shows.
const REDACTED: Bytes = Bytes::from_static(b"(redacted)");

/// Observes a command whose handler ran on `client` for `duration` and
/// returned `action`: slow log, latency monitor, MONITOR. `spec` is the
/// command's table entry, `effective` its subcommand's (or the same).
pub fn after_call(
    shared: &Shared,
    client: &Client,
    spec: &'static CommandSpec,
    effective: &'static CommandSpec,
    args: &[Bytes],
    action: &Action,
    duration: Duration,
) {
    if matches!(action, Action::CheckThenRetry | Action::WaitForWrites) {
        return; // it runs again later, and is observed then
    }
    let diag = &shared.diag;
    let duration_us = duration.as_micros() as u64;
    let slow = diag.slowlog.is_slow(duration_us);
    let spike = diag.latency.is_spike(duration_us / 1000);
    let monitored = diag.monitors.active() && effective.flags & flags::ADMIN == 0;
    if (slow || spike || monitored) && ran(spec, effective, args) {
        observe(
            shared,
            client,
            effective,
            args,
            action,
            duration_us,
            (slow, spike, monitored),
        );
    }
}

/// Whether the handler really ran the command: a container's handler
/// also answers an unknown subcommand or a subcommand's wrong arity,
/// which Redis refuses before running anything.
fn ran(spec: &CommandSpec, effective: &CommandSpec, args: &[Bytes]) -> bool {
    let unknown_sub = !spec.subcommands.is_empty() && std::ptr::eq(spec, effective);
    !unknown_sub && effective.arity_ok(args.len())
}

/// The cold part of [`after_call`].
#[cold]
fn observe(
    shared: &Shared,
    client: &Client,
    effective: &CommandSpec,
    args: &[Bytes],
    action: &Action,
    duration_us: u64,
    (slow, spike, monitored): (bool, bool, bool),
) {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let diag = &shared.diag;
    let args = redact(effective, args);
    if spike {
        let event = if effective.flags & flags::FAST != 0 {
            latency::FAST_COMMAND
        } else {
            latency::COMMAND
        };
        diag.latency.add(event, duration_us / 1000, now.as_secs());
    }
    if slow {
        let name = client.info.name.lock().clone();
        let log = |args: &[Bytes]| {
            let (now_s, addr) = (now.as_secs(), client.info.addr);
            diag.slowlog
                .push(args, duration_us, now_s, addr, name.as_deref());
        };
        match action {
            // EXEC itself is not logged (Redis's `skip_slowlog`) but its
            // commands are, in order. They are proposed together, so each
            // is logged with EXEC's time: their run at apply is not timed.
            Action::Exec(exec) => {
                for queued in &exec.queued {
                    log(&queued_redacted(queued));
                }
            }
            _ if effective.name != "exec" => log(&args),
            _ => {}
        }
    }
    if monitored {
        let unix_us = now.as_micros() as u64;
        if let Action::Exec(exec) = action {
            // Redis shows the queued commands as EXEC runs them, then EXEC.
            let mut db = exec.db;
            for queued in &exec.queued {
                if queued[0].eq_ignore_ascii_case(b"select") {
                    db = queued
                        .get(1)
                        .and_then(|arg| crate::cmd::parse_db(arg).ok())
                        .unwrap_or(db);
                }
                let queued_args = queued_redacted(queued);
                let line = monitor::line(unix_us, db, client.info.addr, &queued_args);
                diag.monitors.feed(line, &shared.inboxes);
            }
        }
        let line = monitor::line(unix_us, client.db, client.info.addr, &args);
        diag.monitors.feed(line, &shared.inboxes);
    }
}

/// A queued command's arguments, redacted as if it ran on its own.
fn queued_redacted(args: &[Bytes]) -> Cow<'_, [Bytes]> {
    match crate::cmd::lookup(&args[0]) {
        Some(spec) => redact(crate::cmd::effective_spec(spec, args), args),
        None => Cow::Borrowed(args),
    }
}

/// The arguments with secrets replaced by `(redacted)`: every argument of
/// AUTH, the user and password after HELLO's AUTH, and the value of a
/// sensitive setting (`requirepass`) in CONFIG SET.
pub fn redact<'a>(effective: &CommandSpec, args: &'a [Bytes]) -> Cow<'a, [Bytes]> {
    let hidden: Vec<usize> = match effective.name {
        "auth" => (1..args.len()).collect(),
        "hello" => hello_secrets(args),
        "config|set" => (2..args.len())
            .step_by(2)
            .filter(|&name| args[name].eq_ignore_ascii_case(b"requirepass"))
            .map(|name| name + 1)
            .filter(|&value| value < args.len())
            .collect(),
        _ => return Cow::Borrowed(args),
    };
    if hidden.is_empty() {
        return Cow::Borrowed(args);
    }
    let mut owned = args.to_vec();
    for index in hidden {
        owned[index] = REDACTED;
    }
    Cow::Owned(owned)
}

/// Positions of the user and password after each `AUTH` of a HELLO,
/// walking its options as HELLO parses them.
fn hello_secrets(args: &[Bytes]) -> Vec<usize> {
    let mut hidden = Vec::new();
    let mut at = 2; // after HELLO and its protocol version
    while at < args.len() {
        let more = args.len() - at - 1;
        if args[at].eq_ignore_ascii_case(b"auth") && more >= 2 {
            hidden.extend([at + 1, at + 2]);
            at += 3;
        } else if args[at].eq_ignore_ascii_case(b"setname") && more >= 1 {
            at += 2;
        } else {
            break;
        }
    }
    hidden
}

/// Why a monitoring connection may not run `effective`, if it may not:
/// Redis treats a monitor as a replica, which may not touch the keyspace.
pub fn refusal(client: &Client, effective: &CommandSpec) -> Option<&'static str> {
    let keyspace = flags::WRITE | flags::READONLY | flags::READS_KEYS;
    // The monitoring flag first: this runs for every command.
    let touches = || effective.flags & keyspace != 0 || effective.name == "publish";
    (client.monitoring && touches()).then_some("ERR Replica can't interact with the keyspace")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(texts: &[&str]) -> Vec<Bytes> {
        texts
            .iter()
            .map(|text| Bytes::copy_from_slice(text.as_bytes()))
            .collect()
    }

    fn shown(texts: &[&str]) -> Vec<String> {
        let args = args(texts);
        let spec = crate::cmd::lookup(&args[0]).unwrap();
        let effective = crate::cmd::effective_spec(spec, &args);
        redact(effective, &args)
            .iter()
            .map(|arg| String::from_utf8_lossy(arg).into_owned())
            .collect()
    }

    #[test]
    fn secrets_are_redacted_as_redis_redacts_them() {
        let cases: &[(&[&str], &[&str])] = &[
            (&["AUTH", "pw"], &["AUTH", "(redacted)"]),
            (
                &["auth", "user", "pw"],
                &["auth", "(redacted)", "(redacted)"],
            ),
            (
                &["HELLO", "3", "AUTH", "default", "pw"],
                &["HELLO", "3", "AUTH", "(redacted)", "(redacted)"],
            ),
            (
                &["hello", "3", "setname", "n", "auth", "u", "p"],
                &[
                    "hello",
                    "3",
                    "setname",
                    "n",
                    "auth",
                    "(redacted)",
                    "(redacted)",
                ],
            ),
            (
                &["HELLO", "3", "AUTH", "only"],
                &["HELLO", "3", "AUTH", "only"],
            ),
            (
                &["CONFIG", "SET", "loglevel", "debug", "REQUIREPASS", "s"],
                &[
                    "CONFIG",
                    "SET",
                    "loglevel",
                    "debug",
                    "REQUIREPASS",
                    "(redacted)",
                ],
            ),
            (&["SET", "auth", "pw"], &["SET", "auth", "pw"]),
        ];
        for (given, expected) in cases {
            assert_eq!(shown(given), *expected, "{given:?}");
        }
    }

    #[test]
    fn refused_commands_did_not_run() {
        let get = args(&["CONFIG", "GET", "x"]);
        let config = crate::cmd::lookup(b"config").unwrap();
        assert!(ran(config, crate::cmd::effective_spec(config, &get), &get));
        let unknown = args(&["CONFIG", "NOSUCH"]);
        assert!(!ran(
            config,
            crate::cmd::effective_spec(config, &unknown),
            &unknown
        ));
        let short = args(&["CONFIG", "GET"]);
        assert!(!ran(
            config,
            crate::cmd::effective_spec(config, &short),
            &short
        ));
        let ping = args(&["PING"]);
        let spec = crate::cmd::lookup(b"ping").unwrap();
        assert!(ran(spec, spec, &ping));
    }
}
