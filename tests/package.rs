//! The Debian package: built with cargo-deb from this build's binary,
//! installed with dpkg, started the way its systemd unit starts it (the
//! unit's `ExecStart` as the unit's `User`, without systemd), answering
//! clients, and purged without leaving its user or data behind.
//!
//! It installs into the machine's system directories, so it needs root,
//! dpkg and cargo-deb; `.ci/run` runs as root and installs cargo-deb. Run
//! by hand without them, it says what is missing and does nothing; with
//! `CI` set, a missing tool fails it.

mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::node::free_ports;
use common::wait::until;

const UNIT: &str = "/usr/lib/systemd/system/redraft.service";

/// Runs `program args`, panicking with its output unless it succeeds.
fn run(program: &str, args: &[&str]) -> String {
    let output = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|error| panic!("{program}: {error}"));
    assert!(
        output.status.success(),
        "{program} {args:?}: {}\n{}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// What is missing for this test, if anything.
fn missing() -> Option<String> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Some("root".into());
    }
    for (program, probe) in [("dpkg", "--version"), ("cargo", "deb --version")] {
        let args: Vec<&str> = probe.split(' ').collect();
        let found = Command::new(program)
            .args(&args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|status| status.success());
        if !found {
            return Some(format!("{program} {probe}"));
        }
    }
    None
}

/// The value of `key=` in the unit's `[Service]` section.
fn unit_value<'a>(unit: &'a str, key: &str) -> &'a str {
    unit.lines()
        .find_map(|line| line.strip_prefix(key)?.strip_prefix('='))
        .unwrap_or_else(|| panic!("the unit has no {key}=\n{unit}"))
}

struct Installed;

impl Drop for Installed {
    fn drop(&mut self) {
        let _ = Command::new("dpkg")
            .args(["--purge", "redraft"])
            .stdout(Stdio::null())
            .status();
    }
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn the_debian_package_installs_starts_as_its_unit_says_and_purges() {
    if let Some(what) = missing() {
        assert!(
            std::env::var_os("CI").is_none(),
            "the package test needs {what} (.ci/run provides it)"
        );
        eprintln!("package: needs {what}; skipped");
        return;
    }
    let out = common::temp_dir("deb");
    let manifest = concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml");
    // The binary this test run built (target/debug): cargo-deb warns that
    // the dev profile is meant for releases only, which is so.
    run(
        "cargo",
        &[
            "deb",
            "--manifest-path",
            manifest,
            "--no-build",
            "--profile",
            "dev",
            "-o",
            out.to_str().unwrap(),
        ],
    );
    let deb = std::fs::read_dir(&out)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .find(|path| path.extension().is_some_and(|ext| ext == "deb"))
        .expect("a .deb");
    run("dpkg", &["-i", deb.to_str().unwrap()]);
    let installed = Installed;

    for path in ["/usr/bin/redraft-server", "/etc/redraft/redraft.toml", UNIT] {
        assert!(Path::new(path).exists(), "{path} is not installed");
    }
    let owner = run("stat", &["-c", "%U:%G", "/var/lib/redraft"]);
    assert_eq!(owner.trim(), "redraft:redraft");

    // Start it as the unit does: its ExecStart, as its User, in its
    // WorkingDirectory; only the ports are moved off the defaults.
    let unit = std::fs::read_to_string(UNIT).unwrap();
    let exec: Vec<&str> = unit_value(&unit, "ExecStart").split_whitespace().collect();
    let user = unit_value(&unit, "User");
    let dir = unit_value(&unit, "WorkingDirectory");
    let [port, admin_port, raft_port]: [u16; 3] = free_ports(3).try_into().unwrap();
    let ports = [
        "--port".to_string(),
        port.to_string(),
        "--admin-port".to_string(),
        admin_port.to_string(),
        "--raft-port".to_string(),
        raft_port.to_string(),
    ];
    // setpriv execs the server itself (runuser would fork it and wait,
    // and killing runuser would leave the server running).
    let server = Server(
        Command::new("setpriv")
            .args([
                &format!("--reuid={user}"),
                &format!("--regid={user}"),
                "--init-groups",
                "--",
            ])
            .args(&exec)
            .args(&ports)
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("setpriv"),
    );
    let mut con = until(Duration::from_secs(30), "the packaged server", || {
        common::node::connect(port).map_err(|error| error.to_string())
    });
    until(Duration::from_secs(30), "a write", || {
        redis::cmd("SET")
            .arg("packaged")
            .arg("yes")
            .query::<()>(&mut con)
            .map_err(|error| error.to_string())
    });
    let value: String = redis::cmd("GET").arg("packaged").query(&mut con).unwrap();
    assert_eq!(value, "yes");
    // Its log is where the unit's user may write it.
    let files = run(
        "find",
        &["/var/lib/redraft", "-user", "redraft", "-name", "*.log"],
    );
    assert!(!files.trim().is_empty(), "no log segment owned by redraft");
    drop(server);

    drop(installed);
    assert!(!Path::new("/usr/bin/redraft-server").exists());
    assert!(!Path::new("/var/lib/redraft").exists());
    let user_left = Command::new("getent")
        .args(["passwd", "redraft"])
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(!user_left.success(), "the redraft user survived the purge");
}
