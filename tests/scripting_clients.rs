//! Scripts as clients use them: redis-py's `Lock` (acquire, extend,
//! reacquire, release, expiry) and `register_script` (EVALSHA, NOSCRIPT,
//! fallback to SCRIPT LOAD, pipelines), run by `tests/python/
//! scripting_clients.py` against a fresh redraft. `.ci/run` installs
//! Debian's python3-redis for the system Python.

mod common;

use std::process::Command;

#[test]
fn redis_py_lock_and_register_script_work() {
    let server = common::redraft(&[]);
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/python/scripting_clients.py"
    );
    let output = Command::new("/usr/bin/python3")
        .arg(script)
        .arg(server.port.to_string())
        .output()
        .expect("run /usr/bin/python3 (.ci/run installs python3-redis)");
    assert!(
        output.status.success(),
        "redis-py failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}
