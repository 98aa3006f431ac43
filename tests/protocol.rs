//! Wire-level tests: exact reply bytes for pipelining, inline commands,
//! RESP3, protocol errors, split writes, big values and huge commands,
//! AUTH and QUIT.
//!
//! Where Redis 7.0 behaves the same, the test sends the same bytes to a real
//! redis-server and to redraft and compares the two transcripts byte for
//! byte; where it helps the reader, the expected bytes are also written out,
//! and then they are checked against both servers.
//!
//! Invariants:
//! - A transcript is everything a server sent on one connection until it
//!   closed it; requests that keep the connection open end with `QUIT`, so
//!   every transcript ends with the server closing the connection.
//! - After each protocol error, another connection opened before it still
//!   answers.

mod common;

use std::cell::RefCell;

use common::{encode_command, show, Process, Raw};
use redraft_server::resp::Frame;

/// Sends each chunk as its own write on a fresh connection, then (if `quit`)
/// `QUIT`, and returns every byte the server sent until it closed.
fn transcript(server: &Process, chunks: &[&[u8]], quit: bool) -> Vec<u8> {
    let mut conn = server.raw();
    for chunk in chunks {
        conn.try_send(chunk);
    }
    if quit {
        conn.try_send(b"QUIT\r\n");
    }
    conn.read_to_close()
}

/// Both servers, started fresh for one test, and the mismatches found so
/// far (reported together by [`Pair::finish`], so one run shows them all).
struct Pair {
    redis: Process,
    redraft: Process,
    failures: RefCell<Vec<String>>,
}

impl Pair {
    fn start(extra: &[&str]) -> Pair {
        Pair {
            redis: common::redis(extra),
            redraft: common::redraft(extra),
            failures: RefCell::new(Vec::new()),
        }
    }

    /// Checks that both servers answer `chunks` with the same bytes, and
    /// returns redis's.
    fn same(&self, label: &str, chunks: &[&[u8]], quit: bool) -> Vec<u8> {
        let redis = transcript(&self.redis, chunks, quit);
        let redraft = transcript(&self.redraft, chunks, quit);
        if redis != redraft {
            self.failures.borrow_mut().push(format!(
                "{label}: request {}\n  redraft: {}\n  redis:   {}",
                show(&chunks.concat()),
                show(&redraft),
                show(&redis)
            ));
        }
        redis
    }

    /// Checks that both servers answer `request` (then QUIT) with exactly
    /// `expected` followed by QUIT's `+OK`.
    fn expect(&self, label: &str, request: &[u8], expected: &[u8]) {
        let mut want = expected.to_vec();
        want.extend_from_slice(b"+OK\r\n");
        for (name, server) in [("redis", &self.redis), ("redraft", &self.redraft)] {
            let got = transcript(server, &[request], true);
            if got != want {
                self.failures.borrow_mut().push(format!(
                    "{label}: {name} answered {}\n  with {}\n  expected {}",
                    show(request),
                    show(&got),
                    show(&want)
                ));
            }
        }
    }

    /// Fails the test with every mismatch recorded.
    fn finish(self) {
        let failures = self.failures.take();
        assert!(
            failures.is_empty(),
            "{} mismatches:\n{}",
            failures.len(),
            failures.join("\n")
        );
    }
}

fn cmd(args: &[&str]) -> Vec<u8> {
    let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
    encode_command(&args)
}

#[test]
fn pipelined_commands_reply_in_order() {
    let pair = Pair::start(&[]);
    let mut request = Vec::new();
    for i in 0..1000 {
        let key = format!("k{}", i % 17);
        match i % 5 {
            0 => request.extend(cmd(&["SET", &key, &i.to_string()])),
            1 => request.extend(cmd(&["GET", &key])),
            2 => request.extend(cmd(&["INCR", &key])),
            3 => request.extend(cmd(&["APPEND", &key, "x"])),
            _ => request.extend(cmd(&["DEL", &key, "k3"])),
        }
    }
    let replies = pair.same("1000 pipelined commands in one write", &[&request], true);
    assert_eq!(
        count_frames(&replies),
        1000 + 1,
        "one reply per command, plus QUIT's"
    );
    pair.finish();
}

/// How many whole reply frames `bytes` holds (panics on a partial one).
fn count_frames(mut bytes: &[u8]) -> usize {
    let mut count = 0;
    while !bytes.is_empty() {
        let (_, used) = redraft_server::resp::decode_frame(bytes)
            .expect("well-formed RESP")
            .expect("a whole frame");
        bytes = &bytes[used..];
        count += 1;
    }
    count
}

#[test]
fn pipelined_writes_then_reads_see_the_writes() {
    let pair = Pair::start(&[]);
    let mut request = Vec::new();
    for i in 0..500 {
        request.extend(cmd(&["INCR", "counter"]));
        request.extend(cmd(&["GET", "counter"]));
        if i % 100 == 0 {
            request.extend(cmd(&["SET", "s", &i.to_string(), "GET"]));
        }
    }
    request.extend(b"PING\r\n");
    let replies = pair.same("interleaved writes and reads", &[&request], true);
    assert!(
        replies.ends_with(b":500\r\n$3\r\n500\r\n+PONG\r\n+OK\r\n"),
        "{}",
        show(&replies)
    );
    pair.finish();
}

#[test]
fn inline_commands() {
    let pair = Pair::start(&[]);
    pair.expect("inline PING", b"PING\r\n", b"+PONG\r\n");
    pair.expect("inline with LF only", b"PING\n", b"+PONG\r\n");
    pair.expect(
        "inline quoted",
        b"SET a \"b c\"\r\nGET a\r\n",
        b"+OK\r\n$3\r\nb c\r\n",
    );
    pair.expect(
        "inline escapes",
        b"SET a \"\\x00\\xff\\n\" \r\nSTRLEN a\r\nGET a\r\n",
        b"+OK\r\n:3\r\n$3\r\n\x00\xff\n\r\n",
    );
    pair.expect(
        "inline single quotes",
        b"ECHO 'it\\'s'\r\n",
        b"$4\r\nit's\r\n",
    );
    pair.expect(
        "blank lines are skipped",
        b"\r\n\r\n\n  \r\nPING\r\n",
        b"+PONG\r\n",
    );
    pair.expect(
        "extra spaces",
        b"   SET    sp    v   \r\nGET sp\r\n",
        b"+OK\r\n$1\r\nv\r\n",
    );
    pair.expect("lowercase", b"echo hi\r\n", b"$2\r\nhi\r\n");
    pair.expect(
        "inline unknown command",
        b"NOPE a b\r\n",
        b"-ERR unknown command 'NOPE', with args beginning with: 'a' 'b' \r\n",
    );
    pair.expect(
        "inline mixed with multibulk",
        b"PING\r\n*1\r\n$4\r\nPING\r\nPING\r\n",
        b"+PONG\r\n+PONG\r\n+PONG\r\n",
    );
    pair.same("a top-level $ line is inline", &[b"$3\r\nfoo\r\n"], true);
    pair.same(
        "empty quotes",
        &[b"SET e \"\"\r\nSTRLEN e\r\nEXISTS e\r\n"],
        true,
    );
    pair.finish();
}

#[test]
fn multibulk_quirks_match_redis() {
    let pair = Pair::start(&[]);
    pair.expect(
        "*0 is an empty command",
        b"*0\r\n*1\r\n$4\r\nPING\r\n",
        b"+PONG\r\n",
    );
    pair.expect(
        "*-1 is an empty command",
        b"*-1\r\n*1\r\n$4\r\nPING\r\n",
        b"+PONG\r\n",
    );
    // Redis skips the two bytes after a payload without checking them.
    pair.same(
        "bytes after a payload are not checked",
        &[b"*1\r\n$4\r\nPINGxx*1\r\n$4\r\nPING\r\n"],
        true,
    );
    pair.same(
        "empty bulk argument",
        &[b"*2\r\n$4\r\nECHO\r\n$0\r\n\r\n"],
        true,
    );
    pair.same(
        "command name in any case",
        &[b"*2\r\n$4\r\neChO\r\n$1\r\nx\r\n"],
        true,
    );
    pair.finish();
}

/// One malformed request and the error Redis 7.0 sends before closing.
struct BadInput {
    label: &'static str,
    request: Vec<u8>,
    error: &'static [u8],
}

fn bad_inputs() -> Vec<BadInput> {
    // No terminator at all: whatever the read sizes, once more than 64 KiB
    // is buffered without a newline the request is too big.
    let long_inline = vec![b'a'; 70 * 1024];
    let mut long_count = b"*".to_vec();
    long_count.extend(vec![b'1'; 70 * 1024]);
    let mut long_bulk_count = b"*1\r\n$".to_vec();
    long_bulk_count.extend(vec![b'1'; 70 * 1024]);
    vec![
        BadInput {
            label: "negative bulk length",
            request: b"*1\r\n$-5\r\n".to_vec(),
            error: b"-ERR Protocol error: invalid bulk length\r\n",
        },
        BadInput {
            label: "bulk length not a number",
            request: b"*1\r\n$abc\r\n".to_vec(),
            error: b"-ERR Protocol error: invalid bulk length\r\n",
        },
        BadInput {
            label: "bulk length above proto-max-bulk-len",
            request: b"*1\r\n$536870913\r\n".to_vec(),
            error: b"-ERR Protocol error: invalid bulk length\r\n",
        },
        BadInput {
            label: "bulk length with a plus",
            request: b"*1\r\n$+1\r\n".to_vec(),
            error: b"-ERR Protocol error: invalid bulk length\r\n",
        },
        BadInput {
            label: "multibulk count not a number",
            request: b"*abc\r\n".to_vec(),
            error: b"-ERR Protocol error: invalid multibulk length\r\n",
        },
        BadInput {
            label: "multibulk count above INT_MAX",
            request: b"*2147483648\r\n".to_vec(),
            error: b"-ERR Protocol error: invalid multibulk length\r\n",
        },
        BadInput {
            label: "argument without a dollar",
            request: b"*1\r\nfoo\r\n".to_vec(),
            error: b"-ERR Protocol error: expected '$', got 'f'\r\n",
        },
        BadInput {
            label: "second argument without a dollar",
            request: b"*2\r\n$3\r\nGET\r\n:1\r\n".to_vec(),
            error: b"-ERR Protocol error: expected '$', got ':'\r\n",
        },
        BadInput {
            label: "argument starting with a high byte",
            request: b"*1\r\n\xffoo\r\n".to_vec(),
            error: b"-ERR Protocol error: expected '$', got '\xff'\r\n",
        },
        BadInput {
            label: "unbalanced double quotes",
            request: b"SET a \"b\r\n".to_vec(),
            error: b"-ERR Protocol error: unbalanced quotes in request\r\n",
        },
        BadInput {
            label: "unbalanced single quotes",
            request: b"SET a 'b\r\n".to_vec(),
            error: b"-ERR Protocol error: unbalanced quotes in request\r\n",
        },
        BadInput {
            label: "closing quote followed by a letter",
            request: b"SET a \"b\"c\r\n".to_vec(),
            error: b"-ERR Protocol error: unbalanced quotes in request\r\n",
        },
        BadInput {
            label: "inline request over 64 KiB",
            request: long_inline,
            error: b"-ERR Protocol error: too big inline request\r\n",
        },
        BadInput {
            label: "multibulk count line over 64 KiB",
            request: long_count,
            error: b"-ERR Protocol error: too big mbulk count string\r\n",
        },
        BadInput {
            label: "bulk count line over 64 KiB",
            request: long_bulk_count,
            error: b"-ERR Protocol error: too big bulk count string\r\n",
        },
    ]
}

#[test]
fn protocol_errors_reply_then_close_only_that_connection() {
    let pair = Pair::start(&[]);
    let mut bystanders = [pair.redis.raw(), pair.redraft.raw()];
    let mut failures = Vec::new();
    for input in bad_inputs() {
        for (name, server) in [("redis", &pair.redis), ("redraft", &pair.redraft)] {
            // No QUIT: the server must close the connection by itself.
            let got = transcript(server, &[&input.request], false);
            if got != input.error {
                failures.push(format!(
                    "{}: {name} sent {}, expected {}",
                    input.label,
                    show(&got),
                    show(input.error)
                ));
            }
        }
        for bystander in &mut bystanders {
            bystander.roundtrip(b"*2\r\n$4\r\nECHO\r\n$5\r\nalive\r\n", b"$5\r\nalive\r\n");
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn replies_before_a_protocol_error_are_sent() {
    let pair = Pair::start(&[]);
    let request = b"SET a 1\r\n*1\r\n$4\r\nPING\r\nGET a\r\n*1\r\n$-7\r\nGET a\r\n";
    let got = pair.same("good commands, then a bad one", &[request], false);
    assert_eq!(
        show(&got),
        show(b"+OK\r\n+PONG\r\n$1\r\n1\r\n-ERR Protocol error: invalid bulk length\r\n")
    );
    pair.finish();
}

#[test]
fn unauthenticated_limits_with_requirepass() {
    let pair = Pair::start(&["--requirepass", "secret"]);
    let mut eleven = b"*11\r\n".to_vec();
    for _ in 0..11 {
        eleven.extend_from_slice(b"$1\r\na\r\n");
    }
    let cases: [(&str, &[u8], &[u8]); 3] = [
        (
            "11 arguments before AUTH",
            &eleven,
            b"-ERR Protocol error: unauthenticated multibulk length\r\n",
        ),
        (
            "16385-byte argument before AUTH",
            b"*1\r\n$16385\r\n",
            b"-ERR Protocol error: unauthenticated bulk length\r\n",
        ),
        (
            "count above INT_MAX before AUTH",
            b"*2147483648\r\n",
            b"-ERR Protocol error: invalid multibulk length\r\n",
        ),
    ];
    for (label, request, error) in cases {
        for (name, server) in [("redis", &pair.redis), ("redraft", &pair.redraft)] {
            let got = transcript(server, &[request], false);
            assert_eq!(show(&got), show(error), "{label}: {name}");
        }
    }
    // Ten arguments and a 16384-byte argument are still fine before AUTH.
    let mut ten = b"*10\r\n$4\r\nMSET\r\n".to_vec();
    for _ in 0..9 {
        ten.extend_from_slice(b"$1\r\na\r\n");
    }
    pair.expect(
        "10 arguments before AUTH",
        &ten,
        b"-NOAUTH Authentication required.\r\n",
    );
    let big = cmd(&["ECHO", &"x".repeat(16384)]);
    pair.expect(
        "16384-byte argument before AUTH",
        &big,
        b"-NOAUTH Authentication required.\r\n",
    );
    pair.finish();
}

#[test]
fn auth_with_requirepass() {
    let pair = Pair::start(&["--requirepass", "secret"]);
    let noauth: &[u8] = b"-NOAUTH Authentication required.\r\n";
    let wrongpass: &[u8] = b"-WRONGPASS invalid username-password pair or user is disabled.\r\n";
    pair.expect("GET before AUTH", &cmd(&["GET", "k"]), noauth);
    pair.expect("SET before AUTH", &cmd(&["SET", "k", "v"]), noauth);
    pair.expect("PING before AUTH", b"PING\r\n", noauth);
    // Redis looks the command up and checks its arity before AUTH.
    pair.expect(
        "unknown command before AUTH",
        b"NOPE\r\n",
        b"-ERR unknown command 'NOPE', with args beginning with: \r\n",
    );
    pair.expect(
        "wrong arity before AUTH",
        b"GET\r\n",
        b"-ERR wrong number of arguments for 'get' command\r\n",
    );
    pair.expect("wrong password", &cmd(&["AUTH", "nope"]), wrongpass);
    pair.expect(
        "wrong user",
        &cmd(&["AUTH", "someone", "secret"]),
        wrongpass,
    );
    pair.expect(
        "default user, wrong password",
        &cmd(&["AUTH", "default", "nope"]),
        wrongpass,
    );
    pair.expect(
        "AUTH arity",
        &cmd(&["AUTH"]),
        b"-ERR wrong number of arguments for 'auth' command\r\n",
    );
    pair.expect(
        "AUTH then commands",
        &[
            cmd(&["AUTH", "secret"]),
            cmd(&["SET", "k", "v"]),
            cmd(&["GET", "k"]),
        ]
        .concat(),
        b"+OK\r\n+OK\r\n$1\r\nv\r\n",
    );
    pair.expect(
        "AUTH default then commands",
        &[cmd(&["AUTH", "default", "secret"]), cmd(&["GET", "k"])].concat(),
        b"+OK\r\n$1\r\nv\r\n",
    );
    pair.expect(
        "a failed AUTH does not authenticate",
        &[cmd(&["AUTH", "nope"]), cmd(&["GET", "k"])].concat(),
        &[wrongpass, noauth].concat(),
    );
    pair.expect(
        "HELLO without AUTH",
        &cmd(&["HELLO", "3"]),
        b"-NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time\r\n",
    );
    pair.expect(
        "HELLO AUTH wrong",
        &cmd(&["HELLO", "3", "AUTH", "default", "nope"]),
        wrongpass,
    );
    // HELLO AUTH right: the reply holds the connection id, so compare frames
    // with the id masked, then check the connection is authenticated.
    for (name, server) in [("redis", &pair.redis), ("redraft", &pair.redraft)] {
        let mut conn = server.raw();
        let hello = conn.command(&[b"HELLO", b"3", b"AUTH", b"default", b"secret"]);
        assert_eq!(masked_hello(hello), expected_hello(3), "{name}");
        conn.roundtrip(&cmd(&["GET", "k"]), b"$1\r\nv\r\n");
        conn.roundtrip(&cmd(&["GET", "nothing"]), b"_\r\n");
    }
    pair.finish();
}

#[test]
fn reset_unauthenticates_with_requirepass() {
    let pair = Pair::start(&["--requirepass", "secret"]);
    let noauth: &[u8] = b"-NOAUTH Authentication required.\r\n";
    pair.expect("RESET before AUTH", &cmd(&["RESET"]), b"+RESET\r\n");
    pair.expect(
        "AUTH, RESET, then a command",
        &[
            cmd(&["AUTH", "secret"]),
            cmd(&["PING"]),
            cmd(&["RESET"]),
            cmd(&["PING"]),
            cmd(&["AUTH", "secret"]),
            cmd(&["PING"]),
        ]
        .concat(),
        &[b"+OK\r\n+PONG\r\n+RESET\r\n", noauth, b"+OK\r\n+PONG\r\n"].concat(),
    );
    pair.finish();
}

/// The HELLO reply with its `id` value replaced by 0.
fn masked_hello(frame: Frame) -> Frame {
    let mask = |(key, value): (Frame, Frame)| {
        let value = if key == Frame::Bulk("id".into()) {
            Frame::Integer(0)
        } else {
            value
        };
        (key, value)
    };
    match frame {
        Frame::Map(pairs) => Frame::Map(pairs.into_iter().map(mask).collect()),
        Frame::Array(items) => {
            let pairs = items
                .chunks(2)
                .map(|kv| mask((kv[0].clone(), kv[1].clone())));
            Frame::Array(pairs.flat_map(|(k, v)| [k, v]).collect())
        }
        other => other,
    }
}

/// What Redis 7.0.15 says to HELLO, with the id masked.
fn expected_hello(proto: i64) -> Frame {
    let bulk = |s: &'static str| Frame::Bulk(s.into());
    let pairs = vec![
        (bulk("server"), bulk("redis")),
        (bulk("version"), bulk("7.0.15")),
        (bulk("proto"), Frame::Integer(proto)),
        (bulk("id"), Frame::Integer(0)),
        (bulk("mode"), bulk("standalone")),
        (bulk("role"), bulk("master")),
        (bulk("modules"), Frame::Array(vec![])),
    ];
    if proto == 3 {
        Frame::Map(pairs)
    } else {
        Frame::Array(pairs.into_iter().flat_map(|(k, v)| [k, v]).collect())
    }
}

#[test]
fn hello_switches_protocol() {
    let pair = Pair::start(&[]);
    for (name, server) in [("redis", &pair.redis), ("redraft", &pair.redraft)] {
        let mut conn = server.raw();
        assert_eq!(
            masked_hello(conn.command(&[b"HELLO"])),
            expected_hello(2),
            "{name}: HELLO"
        );
        assert_eq!(
            masked_hello(conn.command(&[b"HELLO", b"3"])),
            expected_hello(3),
            "{name}"
        );
        conn.roundtrip(&cmd(&["GET", "nothing"]), b"_\r\n");
        assert_eq!(
            masked_hello(conn.command(&[b"HELLO"])),
            expected_hello(3),
            "{name}: HELLO keeps 3"
        );
        assert_eq!(
            masked_hello(conn.command(&[b"HELLO", b"2"])),
            expected_hello(2),
            "{name}"
        );
        conn.roundtrip(&cmd(&["GET", "nothing"]), b"$-1\r\n");
    }
}

#[test]
fn resp3_replies_match_redis_bytes() {
    let pair = Pair::start(&[]);
    // The HELLO reply differs only in the id; send it first on both, drop
    // its bytes, and compare everything after it.
    let commands = [
        cmd(&["GET", "nothing"]),
        cmd(&["SET", "k", "v"]),
        cmd(&["GET", "k"]),
        cmd(&["MGET", "k", "nothing"]),
        cmd(&["SET", "k", "w", "GET"]),
        cmd(&["SET", "n", "w", "XX", "GET"]),
        cmd(&["GETDEL", "nothing"]),
        cmd(&["GETEX", "nothing"]),
        cmd(&["CONFIG", "GET", "databases"]),
        cmd(&["CONFIG", "GET", "nosuchparam"]),
        cmd(&["INCRBYFLOAT", "f", "1.5"]),
        cmd(&["INCR", "i"]),
        cmd(&["KEYS", "nothing*"]),
        cmd(&["SCAN", "0", "MATCH", "nothing*"]),
        cmd(&["CLIENT", "GETNAME"]),
        cmd(&["COMMAND", "INFO", "nosuchcommand"]),
        cmd(&["NOPE"]),
        cmd(&["GET"]),
        cmd(&["TTL", "nothing"]),
        cmd(&["EXISTS", "k"]),
        cmd(&["ECHO", "x"]),
        cmd(&["PING"]),
        cmd(&["HELLO", "4"]),
    ]
    .concat();
    let mut transcripts = Vec::new();
    for server in [&pair.redis, &pair.redraft] {
        let mut conn = server.raw();
        let _ = conn.command(&[b"HELLO", b"3"]);
        conn.send(&commands);
        conn.send(b"QUIT\r\n");
        transcripts.push(conn.read_to_close());
    }
    assert_eq!(
        show(&transcripts[1]),
        show(&transcripts[0]),
        "RESP3 replies: redraft (left), redis (right)"
    );
    let expected_start = b"_\r\n+OK\r\n$1\r\nv\r\n*2\r\n$1\r\nv\r\n_\r\n$1\r\nv\r\n_\r\n_\r\n_\r\n%1\r\n$9\r\ndatabases\r\n$2\r\n16\r\n%0\r\n";
    assert!(
        transcripts[0].starts_with(expected_start),
        "{}",
        show(&transcripts[0])
    );
}

#[test]
fn resp3_info_is_verbatim() {
    let pair = Pair::start(&[]);
    for (name, server) in [("redis", &pair.redis), ("redraft", &pair.redraft)] {
        let mut conn = server.raw();
        let _ = conn.command(&[b"HELLO", b"3"]);
        match conn.command(&[b"INFO", b"keyspace"]) {
            Frame::Verbatim { format, text } => {
                assert_eq!(&format, b"txt", "{name}");
                assert_eq!(show(&text), show(b"# Keyspace\r\n"), "{name}");
            }
            other => panic!("{name}: INFO in RESP3 should be verbatim, got {other:?}"),
        }
    }
}

#[test]
fn command_split_into_one_byte_writes() {
    let pair = Pair::start(&[]);
    let request = [
        cmd(&["SET", "k", "a value with spaces"]),
        b"GET k\r\n".to_vec(),
        cmd(&["APPEND", "k", "!"]),
        b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n".to_vec(),
        b"\r\nPING\r\n".to_vec(),
    ]
    .concat();
    let bytes: Vec<&[u8]> = request.chunks(1).collect();
    let got = pair.same("one byte per write", &bytes, true);
    assert_eq!(
        show(&got),
        show(b"+OK\r\n$19\r\na value with spaces\r\n:20\r\n$20\r\na value with spaces!\r\n+PONG\r\n+OK\r\n")
    );
    // Split at every point of a multibulk: each split must give one reply.
    let one = cmd(&["ECHO", "split"]);
    for cut in 1..one.len() {
        let got = transcript(&pair.redraft, &[&one[..cut], &one[cut..]], true);
        assert_eq!(
            show(&got),
            show(b"$5\r\nsplit\r\n+OK\r\n"),
            "split at byte {cut}"
        );
    }
    pair.finish();
}

#[test]
fn one_mebibyte_value_round_trip() {
    let pair = Pair::start(&[]);
    // Every byte value, repeated, so a dropped or reordered chunk shows.
    let value: Vec<u8> = (0..1024 * 1024).map(|i: u32| (i % 251) as u8).collect();
    for (name, server) in [("redis", &pair.redis), ("redraft", &pair.redraft)] {
        let mut conn = server.raw();
        assert_eq!(
            conn.command(&[b"SET", b"big", &value]),
            Frame::Simple("OK".into()),
            "{name}"
        );
        assert_eq!(
            conn.command(&[b"STRLEN", b"big"]),
            Frame::Integer(1 << 20),
            "{name}"
        );
        match conn.command(&[b"GET", b"big"]) {
            Frame::Bulk(got) => assert!(
                got[..] == value[..],
                "{name}: the value came back different"
            ),
            other => panic!("{name}: GET big: {other:?}"),
        }
        let mut header = b"$1048576\r\n".to_vec();
        header.extend_from_slice(&value[..16]);
        conn.send(&cmd(&["GET", "big"]));
        assert_eq!(
            show(&conn.read_exact_bytes(header.len())),
            show(&header),
            "{name}"
        );
        let rest = conn.read_exact_bytes(value.len() - 16 + 2);
        assert!(
            rest[..value.len() - 16] == value[16..] && rest.ends_with(b"\r\n"),
            "{name}"
        );
        assert_eq!(
            conn.command(&[b"APPEND", b"big", &value]),
            Frame::Integer(2 << 20),
            "{name}"
        );
        assert_eq!(
            conn.command(&[b"GETRANGE", b"big", b"1048575", b"1048576"]),
            Frame::Bulk(
                value[1048575..]
                    .iter()
                    .chain(&value[..1])
                    .copied()
                    .collect::<Vec<u8>>()
                    .into()
            ),
            "{name}"
        );
    }
}

#[test]
fn hundred_thousand_argument_mset_and_del() {
    let pair = Pair::start(&[]);
    let keys: Vec<String> = (0..50_000).map(|i| format!("key:{i}")).collect();
    let mut mset: Vec<&[u8]> = vec![b"MSET"];
    for key in &keys {
        mset.push(key.as_bytes());
        mset.push(key.as_bytes());
    }
    let mut del: Vec<&[u8]> = vec![b"DEL"];
    del.extend(keys.iter().map(|k| k.as_bytes()));
    del.extend(keys.iter().take(50_000).map(|k| k.as_bytes()));
    let mut mget: Vec<&[u8]> = vec![b"MGET"];
    mget.extend(keys.iter().map(|k| k.as_bytes()));
    for (name, server) in [("redis", &pair.redis), ("redraft", &pair.redraft)] {
        let mut conn = server.raw();
        assert_eq!(
            conn.command(&mset),
            Frame::Simple("OK".into()),
            "{name}: MSET of 100001 arguments"
        );
        assert_eq!(conn.command(&[b"DBSIZE"]), Frame::Integer(50_000), "{name}");
        assert_eq!(
            conn.command(&[b"GET", b"key:49999"]),
            Frame::Bulk("key:49999".into()),
            "{name}"
        );
        match conn.command(&mget) {
            Frame::Array(items) => {
                assert_eq!(items.len(), 50_000, "{name}");
                assert_eq!(items[123], Frame::Bulk("key:123".into()), "{name}");
            }
            other => panic!("{name}: MGET: {other:?}"),
        }
        let existing = conn.command(&{
            let mut exists: Vec<&[u8]> = vec![b"EXISTS"];
            exists.extend(keys.iter().map(|k| k.as_bytes()));
            exists
        });
        assert_eq!(existing, Frame::Integer(50_000), "{name}");
        assert_eq!(
            conn.command(&del),
            Frame::Integer(50_000),
            "{name}: DEL of 100001 arguments"
        );
        assert_eq!(conn.command(&[b"DBSIZE"]), Frame::Integer(0), "{name}");
    }
}

#[test]
fn quit_replies_ok_then_closes() {
    let pair = Pair::start(&[]);
    // Nothing after QUIT runs, even when it arrived in the same write.
    let got = pair.same(
        "QUIT then more",
        &[b"SET a 1\r\nQUIT\r\nSET b 2\r\n"],
        false,
    );
    assert_eq!(show(&got), show(b"+OK\r\n+OK\r\n"));
    pair.same("multibulk QUIT", &[&cmd(&["QUIT"])], false);
    pair.same("QUIT with arguments", &[&cmd(&["QUIT", "now"])], false);
    for (name, server) in [("redis", &pair.redis), ("redraft", &pair.redraft)] {
        let mut conn = server.raw();
        assert_eq!(
            conn.command(&[b"EXISTS", b"a", b"b"]),
            Frame::Integer(1),
            "{name}"
        );
    }
    pair.finish();
}

#[test]
fn client_setinfo_as_in_redis_7_2() {
    // README lists CLIENT SETINFO, which Redis 7.0 does not have; these are
    // Redis 7.2's replies, checked on redraft alone.
    let server = common::redraft(&[]);
    let mut conn: Raw = server.raw();
    conn.roundtrip(
        &cmd(&["CLIENT", "SETINFO", "LIB-NAME", "mylib"]),
        b"+OK\r\n",
    );
    conn.roundtrip(&cmd(&["CLIENT", "SETINFO", "lib-ver", "1.2.3"]), b"+OK\r\n");
    conn.roundtrip(
        &cmd(&["CLIENT", "SETINFO", "FOO", "bar"]),
        b"-ERR Unrecognized option 'FOO'\r\n",
    );
    conn.roundtrip(
        &cmd(&["CLIENT", "SETINFO", "LIB-NAME"]),
        b"-ERR wrong number of arguments for 'client|setinfo' command\r\n",
    );
    match conn.command(&[b"CLIENT", b"INFO"]) {
        Frame::Bulk(info) => {
            let info = String::from_utf8_lossy(&info);
            assert!(
                info.contains("lib-name=mylib") && info.contains("lib-ver=1.2.3"),
                "{info}"
            );
        }
        other => panic!("CLIENT INFO: {other:?}"),
    }
}

#[test]
fn many_connections_at_once() {
    let pair = Pair::start(&[]);
    for server in [&pair.redis, &pair.redraft] {
        let mut conns: Vec<Raw> = (0..64).map(|_| server.raw()).collect();
        for (i, conn) in conns.iter_mut().enumerate() {
            conn.send(&cmd(&["SET", &format!("c{i}"), &i.to_string()]));
        }
        // Every SET is acknowledged before any GET is sent: on a server
        // with several network threads, a SET not yet acknowledged may
        // still be behind another connection's GET.
        for conn in conns.iter_mut() {
            assert_eq!(conn.read_frame(), Frame::Simple("OK".into()));
        }
        for (i, conn) in conns.iter_mut().enumerate() {
            conn.roundtrip(
                &cmd(&["GET", &format!("c{}", 63 - i)]),
                format!("${}\r\n{}\r\n", (63 - i).to_string().len(), 63 - i).as_bytes(),
            );
        }
    }
}
