//! A full data disk: the node stays up, refuses writes with `-MISCONF`
//! as Redis does when it cannot persist, serves reads, says why in
//! `/health`, and takes writes again by itself once space is freed; no
//! acknowledged write is lost (checked after a SIGKILL and restart).
//!
//! The data directory is a small tmpfs of its own, so the test fills a
//! disk without touching the machine's. Mounting needs root: where it is
//! refused, the test says so and does nothing.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::admin;
use common::node::{free_ports, spawn_server};
use common::wait::until;

/// Size of the data disk. The log takes two 16 MiB segments (the current
/// one and a spare) at start.
const DISK_MB: u64 = 64;
/// Room left beside the filler: less than a segment, so the next spare
/// cannot be made, and enough for the snapshot and metadata files.
const ROOM_LEFT_MB: u64 = 6;
/// Values written until the log must make a new segment.
const VALUE_BYTES: usize = 1 << 20;

/// A tmpfs mounted for the test, unmounted when dropped.
struct Disk {
    dir: PathBuf,
}

impl Disk {
    fn mount() -> Option<Disk> {
        let dir = common::temp_dir("disk-full");
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={DISK_MB}m"), "tmpfs"])
            .arg(&dir)
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|status| status.success());
        if !mounted {
            eprintln!("disk_full: cannot mount a tmpfs on {dir:?} (not root?); skipped");
            return None;
        }
        Some(Disk { dir })
    }

    /// Free bytes on the disk.
    fn free_bytes(&self) -> u64 {
        let path = std::ffi::CString::new(self.dir.to_str().unwrap()).unwrap();
        // SAFETY: statvfs writes only into `stat`, which lives on this stack.
        let mut stat: libc::statvfs = unsafe { std::mem::zeroed() };
        let rc = unsafe { libc::statvfs(path.as_ptr(), &mut stat) };
        assert_eq!(rc, 0, "statvfs {:?}", self.dir);
        stat.f_bavail * stat.f_frsize
    }

    /// Fills the disk but for `room_bytes`; returns the filler's path.
    fn fill(&self, room_bytes: u64) -> PathBuf {
        let filler = self.dir.join("filler");
        let bytes = self.free_bytes().saturating_sub(room_bytes);
        let status = Command::new("fallocate")
            .args(["-l", &bytes.to_string()])
            .arg(&filler)
            .status()
            .expect("run fallocate");
        assert!(status.success(), "fallocate {bytes} bytes");
        filler
    }
}

/// The server under test, killed when dropped: a failing assertion must
/// not leave it running (nor its disk mounted and busy).
struct Server(std::process::Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Disk {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg(&self.dir)
            .stderr(Stdio::null())
            .status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Whether `error` is `-MISCONF Errors writing to the Raft log: ...`.
fn misconf(error: &redis::RedisError) -> bool {
    error.code() == Some("MISCONF")
        && error
            .detail()
            .is_some_and(|detail| detail.starts_with("Errors writing to the Raft log: "))
}

#[test]
fn a_full_disk_refuses_writes_serves_reads_and_recovers() {
    let Some(disk) = Disk::mount() else {
        return;
    };
    let ports: [u16; 3] = free_ports(3).try_into().unwrap();
    let port = ports[0];
    let data_dir = disk.dir.join("data");
    let log = common::temp_dir("disk-full-log").join("server.log");
    let args = common::server_args(ports, &data_dir, "info");
    let server = Server(spawn_server(&args, &log, port));
    let admin_url = format!("http://127.0.0.1:{}", ports[1]);
    let mut con = common::node::connect(port).unwrap();
    until(Duration::from_secs(30), "leadership", || {
        redis::cmd("SET")
            .arg("first")
            .arg("1")
            .query::<()>(&mut con)
            .map_err(|error| error.to_string())
    });
    let filler = disk.fill(ROOM_LEFT_MB << 20);

    // Fill the log's current segment until it rolls into the spare and
    // no new spare can be made.
    let value = vec![b'v'; VALUE_BYTES];
    let mut acked = Vec::new();
    let mut refused = None;
    for i in 0..64 {
        let key = format!("big{i}");
        match redis::cmd("SET")
            .arg(&key)
            .arg(&value)
            .query::<()>(&mut con)
        {
            Ok(()) => acked.push(key),
            Err(error) if misconf(&error) => {
                refused = Some(error.to_string());
                break;
            }
            Err(error) => panic!("SET {key}: {error}\n{}", server_log(&log)),
        }
    }
    let refused = refused.unwrap_or_else(|| panic!("no write was refused\n{}", server_log(&log)));
    assert!(
        acked.len() >= 10,
        "refused after {} writes: {refused}",
        acked.len()
    );

    // Reads are served; PING is refused, as Redis refuses it.
    let got: Vec<u8> = redis::cmd("GET").arg(&acked[0]).query(&mut con).unwrap();
    assert_eq!(got, value);
    let error = redis::cmd("PING").query::<String>(&mut con).unwrap_err();
    assert!(misconf(&error), "{error}");
    // So is a script that may write; a read-only one runs.
    let error = redis::cmd("EVAL")
        .arg("return redis.call('incr', KEYS[1])")
        .arg(1)
        .arg("n")
        .query::<i64>(&mut con)
        .unwrap_err();
    assert!(misconf(&error), "{error}");
    let got: Vec<u8> = redis::cmd("EVAL_RO")
        .arg("return redis.call('get', KEYS[1])")
        .arg(1)
        .arg(&acked[0])
        .query(&mut con)
        .unwrap();
    assert_eq!(got, value);
    // A transaction with a write is refused when queued, and aborted.
    let _: () = redis::cmd("MULTI").query(&mut con).unwrap();
    let error = redis::cmd("INCR")
        .arg("n")
        .query::<i64>(&mut con)
        .unwrap_err();
    assert!(misconf(&error), "{error}");
    let error = redis::cmd("EXEC").query::<()>(&mut con).unwrap_err();
    assert_eq!(error.kind(), redis::ErrorKind::ExecAbortError, "{error}");
    let health = admin::get(&admin_url, "/health").unwrap();
    assert_eq!(health.status, 503, "{}", health.body);
    let reason = health.body["reason"].as_str().unwrap_or_default();
    assert!(reason.starts_with("disk full"), "{reason}");

    // Space comes back: writes resume by themselves.
    std::fs::remove_file(&filler).unwrap();
    until(Duration::from_secs(20), "writes to resume", || {
        redis::cmd("SET")
            .arg("after")
            .arg("space")
            .query::<()>(&mut con)
            .map_err(|error| error.to_string())
    });
    acked.push("after".into());
    let health = admin::get(&admin_url, "/health").unwrap();
    assert_eq!(health.status, 200, "{}", health.body);

    // Nothing acknowledged was lost.
    drop(con);
    drop(server);
    let _server = Server(spawn_server(&args, &log, port));
    let mut con = common::node::connect(port).unwrap();
    for key in &acked {
        let exists: bool = until(Duration::from_secs(30), "the restarted node", || {
            redis::cmd("EXISTS")
                .arg(key)
                .query::<bool>(&mut con)
                .map_err(|error| error.to_string())
        });
        assert!(exists, "{key} lost\n{}", server_log(&log));
    }
}

fn server_log(path: &Path) -> String {
    common::node::log_tail(path, 40)
}
