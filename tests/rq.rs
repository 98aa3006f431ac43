//! RQ (python-rq, a job queue on Redis) against redraft: jobs enqueued,
//! then `rq worker --burst` runs them all, and every job ends `finished`
//! with its result. RQ uses lists, sorted sets, hashes, `MULTI`/`WATCH`
//! pipelines and `BLMOVE`-style pops, so this checks their sum as a real
//! client uses it. Needs python3 with `rq` installed (`.ci/run` installs
//! it); the test fails without it rather than pass unchecked.

mod common;

use std::process::Command;

const JOBS: &str = "def add(a, b):\n    return a + b\n";

const SCRIPT: &str = r#"
import subprocess, sys
from redis import Redis
from rq import Queue

port = int(sys.argv[1])
conn = Redis(port=port)
queue = Queue(connection=conn)
jobs = [queue.enqueue("jobs.add", i, i) for i in range(30)]
worker = subprocess.run(
    [sys.executable, "-m", "rq.cli", "worker", "--burst", "--url", f"redis://127.0.0.1:{port}"],
    capture_output=True, text=True, timeout=120,
)
if worker.returncode != 0:
    sys.exit("worker failed: " + worker.stderr[-3000:])
for i, job in enumerate(jobs):
    job.refresh()
    status = job.get_status()
    if status != "finished" or job.return_value() != 2 * i:
        sys.exit(f"job {i}: {status}, {job.return_value()!r}")
print("all finished")
"#;

#[test]
fn an_rq_worker_finishes_every_job() {
    let redraft = common::redraft(&[]);
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("jobs.py"), JOBS).unwrap();
    std::fs::write(dir.path().join("run.py"), SCRIPT).unwrap();
    let output = Command::new("python3")
        .arg("run.py")
        .arg(redraft.port.to_string())
        .current_dir(dir.path())
        .env("PYTHONPATH", dir.path())
        .output()
        .expect("run python3 (with rq installed: pip install rq)");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && stdout.contains("all finished"),
        "RQ against redraft failed:\n{stdout}\n{stderr}"
    );
}
