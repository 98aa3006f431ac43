//! A cluster of real `redraft-server` processes on 127.0.0.1, built for
//! faults: every peer link goes through a [`Proxy`], processes can be
//! killed, paused and restarted, segments cut back to what was synced,
//! clocks skewed and failpoints set through the chaos build's admin API.
//!
//! Layout of `dir`: `node-<id>.toml`, `node-<id>.log` (appended across
//! restarts) and `node-<id>-data/` (with `raft/` segments inside).
//!
//! Invariants:
//! - Node ids are 1..=n for the initial members, then joiners count up.
//! - Node a reaches initial member b only through proxy a->b (the chaos
//!   build reads `REDRAFT_CHAOS_PEERS`); joiners are reached directly.
//! - A restart reuses the node's config and environment, so its ports and
//!   data never move.
//! - Dropping the cluster kills every process it started (by its own
//!   child handle) and unmounts what it mounted.

use std::fs::{File, OpenOptions};
use std::io::{Seek, SeekFrom, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::client::Directory;
use crate::proxy::{Net, Proxy};

/// How long a node may take to accept connections after it starts.
const START_TIMEOUT: Duration = Duration::from_secs(20);
/// Deadline of one admin request (status, clock, failpoint).
const ADMIN_TIMEOUT: Duration = Duration::from_secs(2);
/// Deadline of a status request (the leader is sampled often).
const STATUS_TIMEOUT: Duration = Duration::from_millis(500);
/// Deadline of a membership change (a join waits for the catch-up).
const MEMBERSHIP_TIMEOUT: Duration = Duration::from_secs(90);
/// Size of the tmpfs that holds the disk-full victim's data.
const TMPFS_MB: u64 = 160;

/// One node: fixed identity and its current process.
pub struct Node {
    pub id: u64,
    pub port: u16,
    pub raft_port: u16,
    pub admin_port: u16,
    config: PathBuf,
    pub data_dir: PathBuf,
    log: PathBuf,
    /// `REDRAFT_CHAOS_PEERS` for this node.
    peers_env: String,
    child: Option<Child>,
    pub paused: bool,
    /// Removed from the group (by a membership change); not restarted.
    pub removed: bool,
    /// Its data directory is a tmpfs of our own (the disk-full victim).
    pub tmpfs: bool,
}

impl Node {
    pub fn client_addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    fn admin_url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.admin_port)
    }
}

/// What the cluster needs to start.
#[derive(Debug, Clone)]
pub struct ClusterOptions {
    pub nodes: usize,
    pub server_bin: PathBuf,
    pub dir: PathBuf,
    /// Put the last node's data on a small tmpfs (for the disk-full fault).
    pub tmpfs_victim: bool,
    pub seed: u64,
}

pub struct Cluster {
    pub nodes: Vec<Node>,
    /// Every node's `requirepass`, new for each run, so that a client
    /// never takes another process that reused a dead node's port for a
    /// node of this cluster (the machine is shared).
    pub password: String,
    /// The client addresses the workloads use (joiners are added).
    pub directory: Directory,
    /// How many nodes it started with (the ones with proxied links).
    initial: usize,
    pub net: Arc<Net>,
    _proxies: Vec<Proxy>,
    dir: PathBuf,
    bin: PathBuf,
    agent: ureq::Agent,
}

/// `count` distinct free ports on 127.0.0.1 (held open while choosing).
pub fn free_ports(count: usize) -> Vec<u16> {
    let listeners: Vec<TcpListener> = (0..count)
        .map(|_| TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0"))
        .collect();
    listeners
        .iter()
        .map(|l| l.local_addr().expect("local addr").port())
        .collect()
}

impl Cluster {
    /// Writes the configs, starts the proxies and every node, and waits
    /// for a leader.
    pub fn start(options: &ClusterOptions) -> Result<Cluster, String> {
        let n = options.nodes;
        assert!(n >= 1, "a cluster needs a node");
        std::fs::create_dir_all(&options.dir)
            .map_err(|e| format!("create {:?}: {e}", options.dir))?;
        let ports = free_ports(3 * n);
        let net = Net::new(options.seed);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        let password = format!(
            "chaos-{:016x}",
            crate::rng::mix(options.seed ^ nanos ^ u64::from(std::process::id()))
        );
        let mut proxies = Vec::new();
        let mut nodes = Vec::new();
        let raft_port = |id: u64| ports[(id as usize - 1) * 3 + 1];
        let mut members = String::new();
        for id in 1..=n as u64 {
            let p = &ports[(id as usize - 1) * 3..][..3];
            members.push_str(&format!(
                "\n[[raft.members]]\nid = {id}\nhost = \"127.0.0.1\"\nport = {}\nraft_port = {}\n",
                p[0], p[1]
            ));
        }
        for id in 1..=n as u64 {
            let p = &ports[(id as usize - 1) * 3..][..3];
            let mut peers = Vec::new();
            for to in (1..=n as u64).filter(|to| *to != id) {
                let target = SocketAddr::from(([127, 0, 0, 1], raft_port(to)));
                let proxy = Proxy::start(id, to, target, net.clone())
                    .map_err(|e| format!("start proxy {id}->{to}: {e}"))?;
                peers.push(format!("{}={}", raft_port(to), proxy.listen));
                proxies.push(proxy);
            }
            let data_dir = options.dir.join(format!("node-{id}-data"));
            std::fs::create_dir_all(&data_dir).map_err(|e| format!("create {data_dir:?}: {e}"))?;
            let tmpfs = options.tmpfs_victim && id == n as u64 && mount_tmpfs(&data_dir);
            let config = options.dir.join(format!("node-{id}.toml"));
            let text = node_toml(id, p[0], p[2], p[1], &data_dir, &password) + &members;
            std::fs::write(&config, text).map_err(|e| format!("write {config:?}: {e}"))?;
            nodes.push(Node {
                id,
                port: p[0],
                raft_port: p[1],
                admin_port: p[2],
                config,
                data_dir,
                log: options.dir.join(format!("node-{id}.log")),
                peers_env: peers.join(","),
                child: None,
                paused: false,
                removed: false,
                tmpfs,
            });
        }
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(ADMIN_TIMEOUT))
            .build()
            .into();
        let directory: Directory = Arc::new(std::sync::RwLock::new(
            nodes.iter().map(|n| (n.id, n.client_addr())).collect(),
        ));
        let mut cluster = Cluster {
            nodes,
            password,
            directory,
            initial: n,
            net,
            _proxies: proxies,
            dir: options.dir.clone(),
            bin: options.server_bin.clone(),
            agent,
        };
        for id in 1..=n as u64 {
            cluster.restart(id)?;
        }
        cluster.wait_for_leader(Duration::from_secs(30))?;
        Ok(cluster)
    }

    /// How many nodes the cluster started with.
    pub fn initial_size(&self) -> usize {
        self.initial
    }

    pub fn node(&self, id: u64) -> &Node {
        &self.nodes[id as usize - 1]
    }

    fn node_mut(&mut self, id: u64) -> &mut Node {
        &mut self.nodes[id as usize - 1]
    }

    /// Ids of the members (not removed), running or not.
    pub fn member_ids(&self) -> Vec<u64> {
        self.nodes
            .iter()
            .filter(|n| !n.removed)
            .map(|n| n.id)
            .collect()
    }

    /// Starts node `id` (again) and waits until it accepts connections.
    pub fn restart(&mut self, id: u64) -> Result<(), String> {
        let bin = self.bin.clone();
        let node = self.node_mut(id);
        if node.child.is_some() {
            return Ok(());
        }
        let out = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&node.log)
            .map_err(|e| format!("open {:?}: {e}", node.log))?;
        let err = out.try_clone().map_err(|e| e.to_string())?;
        let child = Command::new(&bin)
            .arg("--config")
            .arg(&node.config)
            .env("REDRAFT_CHAOS_PEERS", &node.peers_env)
            .env("REDRAFT_CHAOS_POWER_LOSS", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err))
            .spawn()
            .map_err(|e| format!("start {bin:?}: {e}"))?;
        node.child = Some(child);
        node.paused = false;
        let addr = node.client_addr();
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                return Ok(());
            }
            let node = self.node_mut(id);
            if let Some(status) = node
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                node.child = None;
                return Err(format!(
                    "node {id} exited at start: {status}; see {:?}",
                    node.log
                ));
            }
            if Instant::now() > deadline {
                return Err(format!("node {id} did not listen within {START_TIMEOUT:?}"));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGKILLs node `id` (paused or not) and reaps it.
    pub fn kill(&mut self, id: u64) {
        let node = self.node_mut(id);
        if let Some(mut child) = node.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        node.paused = false;
    }

    /// Whether node `id`'s process exited by itself (a fatal disk error);
    /// reaps it if so.
    pub fn exited(&mut self, id: u64) -> bool {
        let node = self.node_mut(id);
        match node.child.as_mut().map(|c| c.try_wait()) {
            Some(Ok(Some(_))) => {
                node.child = None;
                true
            }
            _ => false,
        }
    }

    /// SIGSTOP (`pause`) or SIGCONT node `id`.
    pub fn pause(&mut self, id: u64, pause: bool) {
        let node = self.node_mut(id);
        let Some(child) = node.child.as_ref() else {
            return;
        };
        let signal = if pause { libc::SIGSTOP } else { libc::SIGCONT };
        // SAFETY: signals a child we started and have not reaped.
        unsafe {
            libc::kill(child.id() as libc::pid_t, signal);
        }
        node.paused = pause;
    }

    /// Cuts every segment of node `id` (which must be dead) back to the
    /// length its side file says was synced, zeroing the rest. Returns the
    /// bytes zeroed.
    pub fn lose_unsynced(&self, id: u64) -> Result<u64, String> {
        let node = self.node(id);
        assert!(node.child.is_none(), "power loss on a running node");
        let raft = node.data_dir.join("raft");
        let Ok(entries) = std::fs::read_dir(&raft) else {
            return Ok(0);
        };
        let mut zeroed = 0;
        for entry in entries.flatten() {
            let path = entry.path();
            if path.extension().is_none_or(|e| e != "log") {
                continue;
            }
            let side = PathBuf::from(format!("{}.durable", path.display()));
            let Ok(text) = std::fs::read_to_string(&side) else {
                continue;
            };
            let durable: u64 = text.trim().parse().map_err(|e| format!("{side:?}: {e}"))?;
            zeroed += zero_from(&path, durable)?;
        }
        Ok(zeroed)
    }

    /// `GET /cluster/status` of node `id`, if it answers in time.
    pub fn status(&self, id: u64) -> Option<Value> {
        let node = self.node(id);
        if node.child.is_none() || node.paused {
            return None;
        }
        let mut response = self
            .agent
            .get(node.admin_url("/cluster/status"))
            .config()
            .timeout_global(Some(STATUS_TIMEOUT))
            .build()
            .call()
            .ok()?;
        let text = response.body_mut().read_to_string().ok()?;
        serde_json::from_str(&text).ok()
    }

    /// The node that says it leads, with the highest term, if any.
    pub fn leader(&self) -> Option<u64> {
        self.nodes
            .iter()
            .filter(|n| !n.removed)
            .filter_map(|n| {
                let status = self.status(n.id)?;
                (status["role"] == "leader").then(|| (status["term"].as_u64().unwrap_or(0), n.id))
            })
            .max()
            .map(|(_, id)| id)
    }

    pub fn wait_for_leader(&self, timeout: Duration) -> Result<u64, String> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(id) = self.leader() {
                return Ok(id);
            }
            if Instant::now() > deadline {
                return Err(format!("no leader within {timeout:?}"));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Sets node `id`'s wall-clock offset.
    pub fn set_clock(&self, id: u64, offset_ms: i64) -> Result<(), String> {
        self.admin_post(
            id,
            "/chaos/clock",
            &format!("{{\"offset_ms\":{offset_ms}}}"),
            ADMIN_TIMEOUT,
        )
        .map(|_| ())
    }

    /// Configures failpoint `name` on node `id` (`"off"` removes it).
    pub fn failpoint(&self, id: u64, name: &str, actions: &str) -> Result<(), String> {
        let body = serde_json::json!({ "name": name, "actions": actions }).to_string();
        self.admin_post(id, "/chaos/failpoint", &body, ADMIN_TIMEOUT)
            .map(|_| ())
    }

    /// POSTs `body` to node `id`'s admin `path`; a non-2xx status is an error.
    pub fn admin_post(
        &self,
        id: u64,
        path: &str,
        body: &str,
        timeout: Duration,
    ) -> Result<String, String> {
        let node = self.node(id);
        let mut response = self
            .agent
            .post(node.admin_url(path))
            .config()
            .timeout_global(Some(timeout))
            .build()
            .header("content-type", "application/json")
            .send(body)
            .map_err(|e| format!("node {id} {path}: {e}"))?;
        let status = response.status().as_u16();
        let text = response.body_mut().read_to_string().unwrap_or_default();
        if (200..300).contains(&status) {
            Ok(text)
        } else {
            Err(format!("node {id} {path}: {status} {text}"))
        }
    }

    /// Starts a new node with `join = true` (reached directly, no proxy)
    /// and asks member `via` to add it. Returns its id.
    pub fn join_new(&mut self, via: u64) -> Result<u64, String> {
        let id = self.nodes.len() as u64 + 1;
        let [port, raft_port, admin_port]: [u16; 3] =
            free_ports(3).try_into().expect("three ports");
        let data_dir = self.dir.join(format!("node-{id}-data"));
        std::fs::create_dir_all(&data_dir).map_err(|e| e.to_string())?;
        let config = self.dir.join(format!("node-{id}.toml"));
        let text =
            node_toml(id, port, admin_port, raft_port, &data_dir, &self.password) + "join = true\n";
        std::fs::write(&config, text).map_err(|e| e.to_string())?;
        self.nodes.push(Node {
            id,
            port,
            raft_port,
            admin_port,
            config,
            data_dir,
            log: self.dir.join(format!("node-{id}.log")),
            peers_env: String::new(),
            child: None,
            paused: false,
            removed: false,
            tmpfs: false,
        });
        self.restart(id)?;
        let addr = self.node(id).client_addr();
        self.directory.write().expect("directory").push((id, addr));
        let body = format!(
            "{{\"id\":{id},\"host\":\"127.0.0.1\",\"port\":{port},\"raft_port\":{raft_port}}}"
        );
        match self.admin_post(via, "/cluster/join", &body, MEMBERSHIP_TIMEOUT) {
            Ok(_) => Ok(id),
            Err(e) => {
                // The change may have got as far as adding a learner: ask
                // for its removal (best effort), and stop it.
                let _ = self.admin_post(
                    via,
                    "/cluster/leave",
                    &format!("{{\"id\":{id}}}"),
                    ADMIN_TIMEOUT,
                );
                self.kill(id);
                self.node_mut(id).removed = true;
                Err(e)
            }
        }
    }

    /// Asks member `via` to remove node `id`; on success stops it.
    pub fn leave(&mut self, via: u64, id: u64) -> Result<(), String> {
        let body = format!("{{\"id\":{id}}}");
        self.admin_post(via, "/cluster/leave", &body, MEMBERSHIP_TIMEOUT)?;
        self.node_mut(id).removed = true;
        self.kill(id);
        Ok(())
    }

    /// Brings removed node `id` back as a new member: its data wiped, its
    /// config switched to `join = true` (same ports and directory, so its
    /// links stay proxied), started, and added through member `via`.
    pub fn rejoin(&mut self, id: u64, via: u64) -> Result<(), String> {
        self.kill(id);
        let node = self.node(id);
        for entry in std::fs::read_dir(&node.data_dir)
            .map_err(|e| e.to_string())?
            .flatten()
        {
            let path = entry.path();
            let removed = if path.is_dir() {
                std::fs::remove_dir_all(&path)
            } else {
                std::fs::remove_file(&path)
            };
            removed.map_err(|e| format!("wipe {path:?}: {e}"))?;
        }
        let config = self.dir.join(format!("node-{id}-rejoin.toml"));
        let text = node_toml(
            id,
            node.port,
            node.admin_port,
            node.raft_port,
            &node.data_dir,
            &self.password,
        ) + "join = true\n";
        std::fs::write(&config, text).map_err(|e| e.to_string())?;
        let (port, raft_port) = (node.port, node.raft_port);
        let node = self.node_mut(id);
        node.config = config;
        node.removed = false;
        self.restart(id)?;
        let body = format!(
            "{{\"id\":{id},\"host\":\"127.0.0.1\",\"port\":{port},\"raft_port\":{raft_port}}}"
        );
        if let Err(e) = self.admin_post(via, "/cluster/join", &body, MEMBERSHIP_TIMEOUT) {
            self.kill(id);
            self.node_mut(id).removed = true;
            return Err(e);
        }
        Ok(())
    }

    /// Fills node `id`'s tmpfs data disk (it must have one); returns the
    /// filler's path.
    pub fn fill_disk(&self, id: u64) -> Result<PathBuf, String> {
        let node = self.node(id);
        assert!(node.tmpfs, "fill_disk on a node without its own disk");
        let filler = node.data_dir.join("chaos-filler");
        let mut file = File::create(&filler).map_err(|e| e.to_string())?;
        let chunk = vec![0xA5u8; 1 << 20];
        // Bounded by the tmpfs size; stops at ENOSPC.
        for _ in 0..TMPFS_MB * 2 {
            if file.write_all(&chunk).is_err() {
                break;
            }
        }
        Ok(filler)
    }

    /// The end of node `id`'s log, for reports.
    pub fn log_tail(&self, id: u64, lines: usize) -> String {
        let text = std::fs::read_to_string(&self.node(id).log).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for id in 1..=self.nodes.len() as u64 {
            self.kill(id);
        }
        for node in &self.nodes {
            if node.tmpfs {
                unmount(&node.data_dir);
            }
        }
    }
}

/// A node's config; `password` is the run's `requirepass`.
fn node_toml(
    id: u64,
    port: u16,
    admin_port: u16,
    raft_port: u16,
    data_dir: &Path,
    password: &str,
) -> String {
    format!(
        "[server]\nbind = \"127.0.0.1\"\nport = {port}\nadmin_port = {admin_port}\nthreads = 1\n\
         data_dir = {:?}\nlog_level = \"info\"\nrequirepass = \"{password}\"\n\n\
         [raft]\nnode_id = {id}\nraft_port = {raft_port}\nlog_segment_mb = 16\n",
        data_dir.display().to_string(),
    )
}

/// Zeroes `path` from `from` to its end; returns the bytes that were not
/// already zero.
fn zero_from(path: &Path, from: u64) -> Result<u64, String> {
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map_err(|e| format!("{path:?}: {e}"))?;
    let len = file.seek(SeekFrom::End(0)).map_err(|e| e.to_string())?;
    let mut at = from;
    let mut changed = 0;
    let mut buf = vec![0u8; 1 << 20];
    let zeros = vec![0u8; 1 << 20];
    while at < len {
        let n = ((len - at) as usize).min(buf.len());
        file.read_exact_at(&mut buf[..n], at)
            .map_err(|e| e.to_string())?;
        let dirty = buf[..n].iter().filter(|b| **b != 0).count() as u64;
        if dirty > 0 {
            changed += dirty;
            file.write_all_at(&zeros[..n], at)
                .map_err(|e| e.to_string())?;
        }
        at += n as u64;
    }
    Ok(changed)
}

/// Mounts a small tmpfs on `dir`; false (with a message) if not allowed.
fn mount_tmpfs(dir: &Path) -> bool {
    let status = Command::new("mount")
        .args(["-t", "tmpfs", "-o", &format!("size={TMPFS_MB}m"), "tmpfs"])
        .arg(dir)
        .stderr(Stdio::null())
        .status();
    let mounted = status.is_ok_and(|s| s.success());
    if !mounted {
        eprintln!("chaos: cannot mount a tmpfs on {dir:?}; the disk-full nemesis is skipped");
    }
    mounted
}

fn unmount(dir: &Path) {
    let _ = Command::new("umount")
        .arg(dir)
        .stderr(Stdio::null())
        .status();
}
