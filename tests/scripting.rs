//! Lua scripting (`EVAL`, `EVALSHA`, `EVAL_RO`, `SCRIPT`):
//!
//! - Differential against a real redis-server, in RESP2 and RESP3: a
//!   table of commands, each sent to both, every reply compared byte for
//!   byte (errors included): every Lua <-> RESP conversion rule, both
//!   script protocols (`redis.setresp`), `redis.pcall`'s error tables,
//!   the error texts of scripts, of `redis.call` and of the commands, the
//!   script cache, writes kept before an error, read-only scripts.
//! - The cache survives SIGKILL and restart, from the log and from a
//!   snapshot: `EVALSHA` of a loaded and of an `EVAL`ed script still runs.

mod common;

use common::node::Node;
use common::wait::until;
use redraft_server::resp::Frame;
use std::time::Duration;

/// Each command, as its arguments, sent to both servers in order.
const CASES: &[&[&str]] = &[
    // Lua -> RESP.
    &["EVAL", "return 1", "0"],
    &["EVAL", "return 3.99", "0"],
    &["EVAL", "return -3.99", "0"],
    &["EVAL", "return 'x'", "0"],
    &["EVAL", "return true", "0"],
    &["EVAL", "return false", "0"],
    &["EVAL", "return nil", "0"],
    &["EVAL", "return {1, 2, {3, 'x'}, nil, 5}", "0"],
    &["EVAL", "return {}", "0"],
    &["EVAL", "return {err='My Error'}", "0"],
    &["EVAL", "return {err='two\\nlines'}", "0"],
    &["EVAL", "return {ok='OK2'}", "0"],
    &["EVAL", "return {1, {err='inner'}, {ok='fine'}}", "0"],
    &["EVAL", "return redis.error_reply('MY err')", "0"],
    &["EVAL", "return redis.error_reply('-X y')", "0"],
    &["EVAL", "return redis.error_reply('plain')", "0"],
    &["EVAL", "return redis.status_reply('PONG2')", "0"],
    &["EVAL", "return {double=1.5}", "0"],
    &["EVAL", "return {double=3}", "0"],
    &["EVAL", "return {map={a=1}}", "0"],
    &["EVAL", "return {set={a=true}}", "0"],
    &["EVAL", "return {big_number='12345678901234567890'}", "0"],
    &[
        "EVAL",
        "return {verbatim_string={format='txt', string='hi'}}",
        "0",
    ],
    &["EVAL", "redis.setresp(3); return true", "0"],
    &["EVAL", "redis.setresp(3); return false", "0"],
    &["EVAL", "redis.setresp(3); return nil", "0"],
    &[
        "EVAL",
        "return {KEYS[1], ARGV[1], #KEYS, #ARGV}",
        "1",
        "k1",
        "a1",
        "a2",
    ],
    // RESP -> Lua, RESP2 scripts.
    &[
        "EVAL",
        "return redis.call('set', KEYS[1], ARGV[1])",
        "1",
        "str",
        "v",
    ],
    &["EVAL", "return redis.call('set', 'str', 'v')['ok']", "0"],
    &["EVAL", "return redis.call('get', 'str')", "0"],
    &["EVAL", "return type(redis.call('get', 'nokey'))", "0"],
    &["EVAL", "return tostring(redis.call('get', 'nokey'))", "0"],
    &[
        "EVAL",
        "return redis.call('rpush', 'list', 'a', 'b', 'c')",
        "0",
    ],
    &["EVAL", "return redis.call('lrange', 'list', 0, -1)", "0"],
    &["EVAL", "return type(redis.call('lpop', 'nolist', 2))", "0"],
    &[
        "EVAL",
        "return redis.call('hset', 'h', 'f', 'v', 'g', 'w')",
        "0",
    ],
    &["EVAL", "return redis.call('hgetall', 'h')", "0"],
    &["EVAL", "return redis.call('zadd', 'z', 1.5, 'm')", "0"],
    &["EVAL", "return redis.call('zscore', 'z', 'm')", "0"],
    &[
        "EVAL",
        "return redis.call('zrange', 'z', 0, -1, 'WITHSCORES')",
        "0",
    ],
    &["EVAL", "return redis.call('sadd', 's', 'x')", "0"],
    &["EVAL", "return redis.call('type', 's')", "0"],
    &["EVAL", "return redis.call('type', 's')['ok']", "0"],
    &["EVAL", "return redis.call('exists', 'str', 'nokey')", "0"],
    &[
        "EVAL",
        "redis.call('set', 'n', 3.5); return redis.call('get', 'n')",
        "0",
    ],
    &[
        "EVAL",
        "redis.call('set', 'n', 1e20); return redis.call('get', 'n')",
        "0",
    ],
    &[
        "EVAL",
        "redis.call('set', 'n', 0.1); return redis.call('get', 'n')",
        "0",
    ],
    &["EVAL", "return redis.call('incrbyfloat', 'f', '0.5')", "0"],
    &["EVAL", "return redis.call('ping')", "0"],
    &["EVAL", "return redis.call('ping', 'hello')", "0"],
    &["EVAL", "return redis.call('echo', 'e')", "0"],
    &["EVAL", "return #redis.call('time')", "0"],
    // RESP -> Lua, RESP3 scripts.
    &[
        "EVAL",
        "redis.setresp(3); return redis.call('hgetall', 'h')['map']['f']",
        "0",
    ],
    &[
        "EVAL",
        "redis.setresp(3); return redis.call('hgetall', 'h')",
        "0",
    ],
    &[
        "EVAL",
        "redis.setresp(3); return redis.call('zscore', 'z', 'm')",
        "0",
    ],
    &[
        "EVAL",
        "redis.setresp(3); return redis.call('zscore', 'z', 'm')['double']",
        "0",
    ],
    &[
        "EVAL",
        "redis.setresp(3); return redis.call('smembers', 's')",
        "0",
    ],
    &[
        "EVAL",
        "redis.setresp(3); return redis.call('smembers', 's')['set']['x']",
        "0",
    ],
    &[
        "EVAL",
        "redis.setresp(3); return type(redis.call('get', 'nokey'))",
        "0",
    ],
    &[
        "EVAL",
        "redis.setresp(3); return redis.call('zrange', 'z', 0, -1, 'WITHSCORES')",
        "0",
    ],
    // redis.pcall and error tables.
    &["EVAL", "return redis.pcall('incr', 'str')", "0"],
    &["EVAL", "return redis.pcall('incr', 'str')['err']", "0"],
    &["EVAL", "return redis.pcall('nosuch')", "0"],
    &["EVAL", "return redis.pcall('get')", "0"],
    &["EVAL", "return redis.pcall('lpush', 'str', 'x')", "0"],
    &[
        "EVAL",
        "local ok, e = pcall(redis.call, 'incr', 'str'); return {tostring(ok), e['err']}",
        "0",
    ],
    &[
        "EVAL",
        "local ok, e = pcall(error, 'x'); return {tostring(ok), e}",
        "0",
    ],
    // Errors raised by scripts and by redis.call.
    &["EVAL", "return redis.call('incr', 'str')", "0"],
    &["EVAL", "redis.call('incr', 'str')", "0"],
    &["EVAL", "return redis.call('lpush', 'str', 'x')", "0"],
    &["EVAL", "return redis.call('nosuch')", "0"],
    &["EVAL", "return redis.call()", "0"],
    &["EVAL", "return redis.call('get')", "0"],
    &["EVAL", "return redis.call('get', {})", "0"],
    &["EVAL", "return redis.call('multi')", "0"],
    &["EVAL", "return redis.call('eval', 'return 1', '0')", "0"],
    &["EVAL", "return foo", "0"],
    &["EVAL", "x = 1", "0"],
    &["EVAL", "error('boom')", "0"],
    &["EVAL", "error({err='CODE detail'})", "0"],
    &["EVAL", "return 1 + nil", "0"],
    &["EVAL", "\n\nerror('on line three')", "0"],
    &["EVAL", "return (", "0"],
    &["EVAL", "return 1", "-1"],
    &["EVAL", "return 1", "2", "a"],
    &["EVAL", "return 1", "x"],
    &["EVAL", "return redis.setresp(4)", "0"],
    &["EVAL", "return redis.sha1hex()", "0"],
    &["EVAL", "return redis.sha1hex('abc')", "0"],
    &[
        "EVAL",
        "return redis.log(redis.LOG_WARNING, 'from a test')",
        "0",
    ],
    &["EVAL", "return redis.log('x', 'y')", "0"],
    &["EVAL", "return redis.set_repl(redis.REPL_ALL)", "0"],
    &["EVAL", "return redis.set_repl(9)", "0"],
    // cjson.
    &["EVAL", "return cjson.encode({1, 2.5, 'a/b', true, {x=1}})", "0"],
    &["EVAL", "return cjson.encode({})", "0"],
    &["EVAL", "return cjson.encode({[1]=1, [3]=3})", "0"],
    &["EVAL", "return cjson.encode({name='n', list={1, 2}})", "0"],
    &["EVAL", r#"return cjson.encode('q"\\\n\1\127')"#, "0"],
    &["EVAL", "return cjson.encode(1/3)", "0"],
    &["EVAL", "return cjson.encode(1e20)", "0"],
    &["EVAL", "return cjson.encode(cjson.null)", "0"],
    &["EVAL", "return cjson.encode({[1]=1, [100]=2})", "0"],
    &["EVAL", "return cjson.encode(function() end)", "0"],
    &["EVAL", "local t = cjson.decode('{\"a\":[1,2,{\"b\":null}],\"c\":\"d\"}'); return {t.a[1], t.a[2], t.c, tostring(t.a[3].b == cjson.null)}", "0"],
    &["EVAL", "return cjson.decode('[1.5, \"x\", true, false]')", "0"],
    &["EVAL", "return cjson.encode(cjson.decode('{\"k\":[1,2,3]}'))", "0"],
    &["EVAL", "return type(cjson.decode('null'))", "0"],
    &["EVAL", "local ok, e = pcall(cjson.encode, function() end); return e", "0"],
    &["EVAL", "\nlocal x = cjson.encode({[1]=1, [50]=2})", "0"],
    // Writes made before an error are kept.
    &[
        "EVAL",
        "redis.call('set', 'kept', '1'); error('after a write')",
        "0",
    ],
    &["GET", "kept"],
    &[
        "EVAL",
        "redis.call('set', 'kept2', '1'); return redis.call('incr', 'str')",
        "0",
    ],
    &["GET", "kept2"],
    // SELECT inside a script changes the script's database only.
    &[
        "EVAL",
        "redis.call('select', 1); redis.call('set', 'indb1', 'x'); return 1",
        "0",
    ],
    &["GET", "indb1"],
    &[
        "EVAL",
        "redis.call('select', 1); return redis.call('get', 'indb1')",
        "0",
    ],
    &["EVAL", "return redis.call('select', 99)", "0"],
    // The cache.
    &[
        "SCRIPT",
        "EXISTS",
        "e0e1f9fabfc9d4800c877a703b823ac0578ff8db",
        "nosuch",
    ],
    &["EVALSHA", "e0e1f9fabfc9d4800c877a703b823ac0578ff8db", "0"],
    &["EVALSHA", "E0E1F9FABFC9D4800C877A703B823AC0578FF8DB", "0"],
    &["EVALSHA", "short", "0"],
    &["SCRIPT", "LOAD", "return 'loaded'"],
    &["SCRIPT", "LOAD", "return ("],
    &["EVALSHA", "b534286061d4b9e4026607613b95c06c06015ae8", "0"],
    &[
        "SCRIPT",
        "EXISTS",
        "b534286061d4b9e4026607613b95c06c06015ae8",
    ],
    &["EVALSHA", "b534286061d4b9e4026607613b95c06c06015ae8", "x"],
    &[
        "EVALSHA_RO",
        "b534286061d4b9e4026607613b95c06c06015ae8",
        "0",
    ],
    &["SCRIPT", "FLUSH", "BAD"],
    &["SCRIPT", "FLUSH"],
    &[
        "SCRIPT",
        "EXISTS",
        "b534286061d4b9e4026607613b95c06c06015ae8",
        "e0e1f9fabfc9d4800c877a703b823ac0578ff8db",
    ],
    &["EVALSHA", "b534286061d4b9e4026607613b95c06c06015ae8", "0"],
    &[
        "EVALSHA_RO",
        "b534286061d4b9e4026607613b95c06c06015ae8",
        "0",
    ],
    &["SCRIPT", "FLUSH", "ASYNC"],
    &["SCRIPT", "NOSUCH"],
    &["SCRIPT"],
    // Read-only scripts.
    &["EVAL_RO", "return redis.call('get', KEYS[1])", "1", "str"],
    &[
        "EVAL_RO",
        "return redis.call('set', KEYS[1], 'no')",
        "1",
        "str",
    ],
    &[
        "EVAL_RO",
        "return redis.pcall('set', KEYS[1], 'no')",
        "1",
        "str",
    ],
    &[
        "EVAL",
        "#!lua flags=no-writes\nreturn redis.call('get', 'str')",
        "0",
    ],
    &[
        "EVAL",
        "#!lua flags=no-writes\nreturn redis.call('set', 'str', 'no')",
        "0",
    ],
    &[
        "EVAL",
        "#!lua\nreturn redis.call('set', 'shebang', 'yes')",
        "0",
    ],
    &["EVAL", "#!lua flags=bad\nreturn 1", "0"],
    &["EVAL", "#!python\nreturn 1", "0"],
    &["EVAL", "#!lua", "0"],
    &["GET", "str"],
    &["GET", "shebang"],
    // Scripts inside MULTI run with the transaction, at apply.
    &["MULTI"],
    &["SET", "tx", "1"],
    &["EVAL", "return redis.call('incr', KEYS[1])", "1", "tx"],
    &["EVAL", "return redis.call('incr', 'str')", "0"],
    &["EVALSHA", "0123456789012345678901234567890123456789", "0"],
    &["EVAL_RO", "return redis.call('set', 'tx', 'no')", "0"],
    &["EVAL_RO", "return redis.call('get', 'tx')", "0"],
    &["EVAL", "return 1", "-1"],
    &["EXEC"],
    &["MULTI"],
    &["EVAL", "return (", "0"],
    &["EXEC"],
    &["MULTI"],
    &["SCRIPT", "LOAD", "return redis.call('get', 'tx')"],
    &["SCRIPT", "LOAD", "return ("],
    &["SCRIPT", "EXISTS", "a93c854b94654c6fd29f4c09c2ab81f67010ba46"],
    &["SCRIPT", "FLUSH", "BAD"],
    &["EXEC"],
    &["MULTI"],
    &["SCRIPT", "FLUSH"],
    &["SCRIPT", "EXISTS", "a93c854b94654c6fd29f4c09c2ab81f67010ba46"],
    &["SCRIPT", "LOAD", "return redis.call('get', 'tx')"],
    &["EXEC"],
    &["MULTI"],
    &["EVALSHA", "a93c854b94654c6fd29f4c09c2ab81f67010ba46", "0"],
    &["EXEC"],
];

/// Sends every case to a fresh redis-server and a fresh redraft and
/// panics listing each case whose replies differ.
fn differential(resp3: bool) {
    let redis = common::redis(&[]);
    let redraft = common::redraft(&[]);
    let (mut a, mut b) = (redis.raw(), redraft.raw());
    if resp3 {
        a.command(&[b"HELLO", b"3"]);
        b.command(&[b"HELLO", b"3"]);
    }
    let mut mismatches = Vec::new();
    for case in CASES {
        let parts: Vec<&[u8]> = case.iter().map(|arg| arg.as_bytes()).collect();
        let (from_redis, from_redraft) = (a.command(&parts), b.command(&parts));
        if from_redis != from_redraft {
            mismatches.push(format!(
                "> {case:?}\n  redis:   {from_redis:?}\n  redraft: {from_redraft:?}"
            ));
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}

#[test]
fn scripts_reply_as_redis_does_in_resp2() {
    differential(false);
}

#[test]
fn scripts_reply_as_redis_does_in_resp3() {
    differential(true);
}

const COUNTER: &str = "return redis.call('incrby', KEYS[1], ARGV[1])";

fn bulk(text: &str) -> Frame {
    Frame::Bulk(bytes::Bytes::copy_from_slice(text.as_bytes()))
}

/// Loads `COUNTER`, runs it once by `EVAL` of another body too; returns
/// the two SHA1s.
fn load_scripts(node: &Node) -> (String, String) {
    let mut conn = node.connect();
    let loaded: String = redis::cmd("SCRIPT")
        .arg("LOAD")
        .arg(COUNTER)
        .query(&mut conn)
        .unwrap();
    let evaled = "return redis.call('get', KEYS[1])";
    let value: Option<String> = redis::cmd("EVAL")
        .arg(evaled)
        .arg(1)
        .arg("counter")
        .query(&mut conn)
        .unwrap();
    assert_eq!(value, None);
    (loaded, redraft_server::apply::sha1_hex(evaled.as_bytes()))
}

/// After a restart: both scripts still run by SHA1, on the counter the
/// scripts left.
fn assert_scripts_run(node: &Node, loaded: &str, evaled: &str, counter: i64) {
    let mut raw = common::Raw::connect(node.port());
    let reply = raw.command(&[b"EVALSHA", loaded.as_bytes(), b"1", b"counter", b"1"]);
    assert_eq!(
        reply,
        Frame::Integer(counter + 1),
        "EVALSHA of a loaded script"
    );
    let reply = raw.command(&[b"EVALSHA", evaled.as_bytes(), b"1", b"counter"]);
    assert_eq!(
        reply,
        bulk(&(counter + 1).to_string()),
        "EVALSHA of an EVALed script"
    );
}

#[test]
fn the_script_cache_survives_sigkill_and_restart() {
    let mut node = Node::start();
    let (loaded, evaled) = load_scripts(&node);
    let mut conn = node.connect();
    let counter: i64 = redis::cmd("EVALSHA")
        .arg(&loaded)
        .arg(1)
        .arg("counter")
        .arg(5)
        .query(&mut conn)
        .unwrap();
    assert_eq!(counter, 5);
    node.sigkill();
    node.restart();
    node.wait_leader();
    assert_scripts_run(&node, &loaded, &evaled, 5);
}

#[test]
fn the_script_cache_survives_in_snapshots() {
    let mut node = Node::start_with_config("[raft]\nsnapshot_logs_since_last = 20\n");
    let (loaded, evaled) = load_scripts(&node);
    let mut conn = node.connect();
    for _ in 0..60 {
        let _: i64 = redis::cmd("EVALSHA")
            .arg(&loaded)
            .arg(1)
            .arg("counter")
            .arg(1)
            .query(&mut conn)
            .unwrap();
    }
    until(Duration::from_secs(20), "a snapshot", || {
        let info = common::node::info_raft(node.port())?;
        match info.get("raft_snapshot_index").map(String::as_str) {
            Some("0") | None => Err("no snapshot yet".to_string()),
            Some(_) => Ok(()),
        }
    });
    node.kill();
    node.restart();
    node.wait_leader();
    let info = common::node::info_raft(node.port()).unwrap();
    assert_ne!(
        info["raft_snapshot_index"], "0",
        "restarted without its snapshot"
    );
    assert_scripts_run(&node, &loaded, &evaled, 60);
}
