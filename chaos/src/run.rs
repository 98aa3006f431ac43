//! One run: start the cluster, run the workloads and the nemesis schedule
//! side by side until the deadline, heal, read the final state, check the
//! history, and write `history.jsonl`, `report.json` and `timeline.svg`
//! into the output folder.
//!
//! Also [`build_server`], which builds the chaos build of `redraft-server`
//! (or the deliberately broken one) into its own target directory, so the
//! workspace's normal build is never touched.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::checker::{self, Check};
use crate::client::Client;
use crate::cluster::{Cluster, ClusterOptions};
use crate::history::{self, Op};
use crate::nemesis::{self, Band, Fault, Timing};
use crate::report::{self, Report, Summary};
use crate::rng::Rng;
use crate::workload::{self, Recorder};

/// Everything a run needs.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub server_bin: PathBuf,
    pub out: PathBuf,
    pub nodes: usize,
    pub seed: u64,
    pub duration: Duration,
    pub clients: usize,
    pub faults: Vec<Fault>,
    pub timing: Timing,
    /// Per request; past it the outcome is indeterminate.
    pub request_timeout: Duration,
    /// Per key of the linearizability search.
    pub key_time_limit: Duration,
}

/// What a run produced.
pub struct RunResult {
    pub summary: Summary,
    pub checks: Vec<Check>,
    pub history: Vec<Op>,
    pub bands: Vec<Band>,
}

/// How often the leader is sampled for the timeline.
const LEADER_SAMPLE: Duration = Duration::from_millis(250);
/// How long the healed cluster has for the final reads.
const FINAL_READS_TIMEOUT: Duration = Duration::from_secs(60);

pub fn run(options: &RunOptions) -> Result<RunResult, String> {
    std::fs::create_dir_all(&options.out).map_err(|e| format!("create {:?}: {e}", options.out))?;
    let data = options.out.join("cluster");
    // A run that died may have left its tmpfs mounted.
    for entry in std::fs::read_dir(&data).into_iter().flatten().flatten() {
        let _ = Command::new("umount")
            .arg(entry.path())
            .stderr(std::process::Stdio::null())
            .status();
    }
    let _ = std::fs::remove_dir_all(&data);
    let mut rng = Rng::new(options.seed);
    let cluster = Cluster::start(&ClusterOptions {
        nodes: options.nodes,
        server_bin: options.server_bin.clone(),
        dir: data.clone(),
        tmpfs_victim: options.faults.contains(&Fault::DiskFull),
        seed: options.seed,
    })?;
    let directory = cluster.directory.clone();
    let password = cluster.password.clone();
    let cluster = Arc::new(Mutex::new(cluster));
    let started = Instant::now();
    let recorder = Arc::new(Recorder::new(started));
    let deadline = started + options.duration;

    let leaders = Arc::new(Mutex::new(Vec::<(u64, u64)>::new()));
    let sampler = {
        let (cluster, leaders, recorder) = (cluster.clone(), leaders.clone(), recorder.clone());
        std::thread::spawn(move || {
            while !recorder.stop.load(std::sync::atomic::Ordering::Relaxed) {
                if let Ok(guard) = cluster.try_lock() {
                    let leader = guard.leader().unwrap_or(0);
                    drop(guard);
                    leaders
                        .lock()
                        .expect("leaders")
                        .push((recorder.now_ns(), leader));
                }
                std::thread::sleep(LEADER_SAMPLE);
            }
        })
    };

    let workers: Vec<_> = workload::roles(options.clients)
        .into_iter()
        .enumerate()
        .map(|(i, role)| {
            let mut worker_rng = rng.fork(i as u64);
            let client = Client::new(
                directory.clone(),
                options.request_timeout,
                worker_rng.fork(1),
            )
            .with_password(&password);
            let client = match role {
                workload::Role::StaleReader => client.pinned_with(&[b"CONSISTENCY", b"stale"]),
                workload::Role::LeaseRegister => client.with_setup(&[b"CONSISTENCY", b"lease"]),
                _ => client,
            };
            let recorder = recorder.clone();
            std::thread::spawn(move || {
                workload::run_worker(role, client, &recorder, deadline, worker_rng)
            })
        })
        .collect();

    let mut nemesis_rng = rng.fork(0xFA17);
    let now = || recorder.now_ns();
    let bands = nemesis::run_schedule(
        &cluster,
        &options.faults,
        &options.timing,
        &mut nemesis_rng,
        deadline,
        &now,
    );
    for worker in workers {
        worker
            .join()
            .map_err(|_| "a client thread panicked".to_string())?;
    }
    {
        let mut guard = cluster.lock().expect("cluster lock");
        nemesis::heal_all(&mut guard);
        guard.wait_for_leader(Duration::from_secs(30))?;
    }
    let mut final_client = Client::new(
        directory,
        options.request_timeout.max(Duration::from_secs(2)),
        rng.fork(2),
    )
    .with_password(&password);
    workload::final_reads(
        &mut final_client,
        &recorder,
        Instant::now() + FINAL_READS_TIMEOUT,
    );
    recorder
        .stop
        .store(true, std::sync::atomic::Ordering::Relaxed);
    let _ = sampler.join();
    let run_ns = recorder.now_ns();

    let history = recorder.history();
    let checks = checker::check_all(&history, options.key_time_limit);
    let summary = report::summarize(
        options.seed,
        options.nodes,
        &history,
        &bands,
        &checks,
        run_ns,
    );
    let leaders = leaders.lock().expect("leaders").clone();
    write_outputs(
        &options.out,
        &history,
        &bands,
        &checks,
        &summary,
        &leaders,
        run_ns,
    )?;
    // Keep the nodes' logs, drop their data (it can be large).
    drop(cluster);
    for entry in std::fs::read_dir(&data).into_iter().flatten().flatten() {
        if entry.path().is_dir() {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
    Ok(RunResult {
        summary,
        checks,
        history,
        bands,
    })
}

fn write_outputs(
    out: &Path,
    history: &[Op],
    bands: &[Band],
    checks: &[Check],
    summary: &Summary,
    leaders: &[(u64, u64)],
    run_ns: u64,
) -> Result<(), String> {
    let mut file = std::io::BufWriter::new(
        std::fs::File::create(out.join("history.jsonl")).map_err(|e| e.to_string())?,
    );
    history::write_jsonl(history, &mut file).map_err(|e| e.to_string())?;
    let report = Report {
        summary: summary.clone(),
        checks: checks.to_vec(),
        faults: bands.to_vec(),
        leaders: leaders.to_vec(),
        not_covered: vec![
            "scripts (EVAL incrementing two keys): redraft has no scripting yet".into(),
        ],
    };
    let json = serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?;
    std::fs::write(out.join("report.json"), json).map_err(|e| e.to_string())?;
    let title = format!(
        "redraft chaos: seed {} nodes {} ops {} lost {} violations {}",
        summary.seed, summary.nodes, summary.all.ops, summary.lost_writes, summary.violations
    );
    let svg = crate::svg::timeline(history, bands, leaders, run_ns, &title);
    std::fs::write(out.join("timeline.svg"), svg).map_err(|e| e.to_string())
}

/// Draws `timeline.svg` again from the `history.jsonl` and `report.json`
/// of output folder `dir`; returns the picture's path.
pub fn render_again(dir: &Path) -> Result<PathBuf, String> {
    let text = std::fs::read_to_string(dir.join("history.jsonl")).map_err(|e| e.to_string())?;
    let history = history::read_jsonl(&text).map_err(|e| e.to_string())?;
    let report: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("report.json")).map_err(|e| e.to_string())?,
    )
    .map_err(|e| e.to_string())?;
    let bands: Vec<Band> =
        serde_json::from_value(report["faults"].clone()).map_err(|e| e.to_string())?;
    let leaders: Vec<(u64, u64)> =
        serde_json::from_value(report["leaders"].clone()).map_err(|e| e.to_string())?;
    let s = &report["summary"];
    let run_ns = (s["duration_s"].as_f64().unwrap_or(0.0) * 1e9) as u64;
    let title = format!(
        "redraft chaos: seed {} nodes {} ops {} lost {} violations {}",
        s["seed"], s["nodes"], s["all"]["ops"], s["lost_writes"], s["violations"]
    );
    let path = dir.join("timeline.svg");
    let svg = crate::svg::timeline(&history, &bands, &leaders, run_ns, &title);
    std::fs::write(&path, svg).map_err(|e| e.to_string())?;
    Ok(path)
}

/// The workspace root (the parent of this crate's folder).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("chaos/ sits in the workspace")
        .to_path_buf()
}

/// Builds `redraft-server` with the `chaos` feature (and, if `broken`,
/// with `REDRAFT_CHAOS_BROKEN_ACK` set) into `target/chaos`, and copies
/// the binary to `target/chaos/bin/redraft-server-{chaos,broken}`.
pub fn build_server(broken: bool) -> Result<PathBuf, String> {
    // Both variants share one target directory: build and copy one at a time.
    static BUILDING: Mutex<()> = Mutex::new(());
    let _one_at_a_time = BUILDING.lock().unwrap_or_else(|p| p.into_inner());
    let root = workspace_root();
    let target = root.join("target").join("chaos");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .current_dir(&root)
        .args([
            "build",
            "--locked",
            "-p",
            "redraft-server",
            "--bin",
            "redraft-server",
            "--features",
            "chaos",
        ])
        .arg("--target-dir")
        .arg(&target)
        .env_remove("REDRAFT_CHAOS_BROKEN_ACK");
    if broken {
        command.env("REDRAFT_CHAOS_BROKEN_ACK", "1");
    }
    let status = command.status().map_err(|e| format!("run cargo: {e}"))?;
    if !status.success() {
        return Err(format!("cargo build of the chaos server failed: {status}"));
    }
    let bin_dir = target.join("bin");
    std::fs::create_dir_all(&bin_dir).map_err(|e| e.to_string())?;
    let name = if broken {
        "redraft-server-broken"
    } else {
        "redraft-server-chaos"
    };
    let dest = bin_dir.join(name);
    std::fs::copy(target.join("debug").join("redraft-server"), &dest)
        .map_err(|e| format!("copy to {dest:?}: {e}"))?;
    Ok(dest)
}
