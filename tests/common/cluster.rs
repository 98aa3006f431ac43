//! A Raft cluster of real `redraft-server` processes on 127.0.0.1, for
//! end-to-end replication and failover tests.
//!
//! `Cluster::start` writes one TOML file per node into a fresh temp
//! directory (every node listed in `[[raft.members]]` with its own free client
//! and Raft ports), starts every node, and waits until they agree on a
//! leader. Nodes can then be SIGKILLed and restarted with the same file and
//! data directory.
//!
//! [`Cluster::start_joiner`] adds a node started with `join = true` and no
//! members of its own: it waits for `POST /cluster/join` (the membership
//! tests grow and shrink a cluster that way).
//!
//! Invariants:
//! - Node ids are 1..=n; node `id` is `members[id - 1]`.
//! - A restart reuses the node's config file, so its ports, data directory
//!   and settings never change for the life of the cluster.
//! - Every wait polls with a deadline and panics with what it last saw.
//! - Each node logs (at `info`) to its own file; when a test panics, the end
//!   of every node's log is printed with the failure. Dropping the cluster
//!   kills every node and removes its directory.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::Duration;

use super::node::{append_marker, connect, free_ports, info_raft, log_tail, spawn_server};
use super::wait::until;
use super::{temp_dir, Raw};

/// How long a fresh or restarted cluster may take to agree on a leader.
pub const LEADER_TIMEOUT: Duration = Duration::from_secs(15);
/// How long a node may take to apply what the leader has committed.
pub const CATCH_UP_TIMEOUT: Duration = Duration::from_secs(30);
/// Log lines shown per node when a test fails.
const LOG_TAIL_LINES: usize = 40;

/// Settings that differ between tests; everything else keeps the server's
/// defaults (heartbeat 100 ms, election timeout 400..800 ms).
#[derive(Debug, Clone, Default)]
pub struct ClusterOptions {
    /// `raft.snapshot_logs_since_last`, small to make snapshots and log
    /// purging happen within a short test.
    pub snapshot_logs_since_last: Option<u64>,
}

/// The ports one node listens on.
struct NodePorts {
    /// Client (RESP) port.
    port: u16,
    raft_port: u16,
    /// Admin HTTP port; every node needs its own.
    admin_port: u16,
}

/// One node's fixed identity and its current process.
struct Member {
    id: u64,
    /// Client (RESP) port; also what `-MOVED` must point at.
    port: u16,
    raft_port: u16,
    /// Admin HTTP port (`/health`, `/cluster/...`).
    admin_port: u16,
    /// The node's TOML file, passed with `--config` at every start.
    config: PathBuf,
    /// The node's log file, appended to across restarts.
    log: PathBuf,
    /// `None` while the node is killed.
    child: Option<Child>,
}

/// A running (or partly killed) cluster.
pub struct Cluster {
    /// Holds every node's config, data directory and log.
    dir: PathBuf,
    members: Vec<Member>,
    options: ClusterOptions,
}

impl Cluster {
    /// Starts `n` nodes and waits until they agree on a leader.
    pub fn start(n: usize, options: ClusterOptions) -> Cluster {
        assert!(n >= 1, "a cluster needs at least one node");
        let dir = temp_dir("cluster");
        let ports: Vec<NodePorts> = free_ports(3 * n)
            .chunks(3)
            .map(|chunk| NodePorts {
                port: chunk[0],
                raft_port: chunk[1],
                admin_port: chunk[2],
            })
            .collect();
        let members_toml = members_toml(&ports);
        let mut members = Vec::with_capacity(n);
        for (index, ports) in ports.iter().enumerate() {
            let id = index as u64 + 1;
            let config = dir.join(format!("node-{id}.toml"));
            let text = node_toml(id, ports, &dir, &options) + &members_toml;
            std::fs::write(&config, text).expect("write node config");
            members.push(Member {
                id,
                port: ports.port,
                raft_port: ports.raft_port,
                admin_port: ports.admin_port,
                config,
                log: dir.join(format!("node-{id}.log")),
                child: None,
            });
        }
        let mut cluster = Cluster {
            dir,
            members,
            options,
        };
        for id in cluster.ids() {
            cluster.restart(id);
        }
        cluster.leader();
        cluster
    }

    /// Starts a new node with the next id, fresh and with `join = true`:
    /// it is in no group until a member adds it. Returns its id.
    pub fn start_joiner(&mut self) -> u64 {
        let id = self.members.len() as u64 + 1;
        let [port, raft_port, admin_port]: [u16; 3] = free_ports(3).try_into().unwrap();
        let ports = NodePorts {
            port,
            raft_port,
            admin_port,
        };
        let config = self.dir.join(format!("node-{id}.toml"));
        let text = node_toml(id, &ports, &self.dir, &self.options) + "join = true\n";
        std::fs::write(&config, text).expect("write node config");
        self.members.push(Member {
            id,
            port,
            raft_port,
            admin_port,
            config,
            log: self.dir.join(format!("node-{id}.log")),
            child: None,
        });
        self.restart(id);
        id
    }

    /// Node `id`'s admin API base URL, `http://127.0.0.1:<admin_port>`.
    pub fn admin_url(&self, id: u64) -> String {
        format!("http://127.0.0.1:{}", self.member(id).admin_port)
    }

    /// The body of a `POST /cluster/join` for node `id`.
    pub fn join_body(&self, id: u64) -> String {
        let member = self.member(id);
        format!(
            r#"{{"id":{id},"host":"127.0.0.1","port":{},"raft_port":{}}}"#,
            member.port, member.raft_port
        )
    }

    /// Every node's id, running or not.
    pub fn ids(&self) -> Vec<u64> {
        self.members.iter().map(|member| member.id).collect()
    }

    /// The ids of the nodes that are running.
    pub fn running(&self) -> Vec<u64> {
        self.members
            .iter()
            .filter(|member| member.child.is_some())
            .map(|member| member.id)
            .collect()
    }

    fn member(&self, id: u64) -> &Member {
        assert!(
            id >= 1 && id as usize <= self.members.len(),
            "no node {id} in a cluster of {}",
            self.members.len()
        );
        &self.members[id as usize - 1]
    }

    fn member_mut(&mut self, id: u64) -> &mut Member {
        let len = self.members.len();
        assert!(
            id >= 1 && id as usize <= len,
            "no node {id} in a cluster of {len}"
        );
        &mut self.members[id as usize - 1]
    }

    /// Everything node `id` has logged so far (across restarts).
    pub fn log(&self, id: u64) -> String {
        let path = &self.member(id).log;
        std::fs::read_to_string(path).unwrap_or_else(|err| panic!("read {}: {err}", path.display()))
    }

    /// Node `id`'s client port.
    pub fn port(&self, id: u64) -> u16 {
        self.member(id).port
    }

    /// Node `id`'s client address as `-MOVED` and CLUSTER replies give it.
    pub fn addr(&self, id: u64) -> String {
        format!("127.0.0.1:{}", self.port(id))
    }

    /// Node `id`'s client URL for the `redis` crate.
    pub fn url(&self, id: u64) -> String {
        format!("redis://127.0.0.1:{}/", self.port(id))
    }

    /// A new connection (with timeouts) to node `id`; panics on failure.
    pub fn connect(&self, id: u64) -> redis::Connection {
        connect(self.port(id)).unwrap_or_else(|err| panic!("connect to node {id}: {err}"))
    }

    /// A connection to node `id` that has sent `READONLY`, so its reads are
    /// served from that node's own state.
    pub fn connect_readonly(&self, id: u64) -> redis::Connection {
        let mut con = self.connect(id);
        let reply: String = redis::cmd("READONLY")
            .query(&mut con)
            .unwrap_or_else(|err| panic!("READONLY on node {id}: {err}"));
        assert_eq!(reply, "OK", "READONLY on node {id}");
        con
    }

    /// `DUMP` of each of `keys` as node `id` holds them (read from its own
    /// state), to compare nodes value for value.
    pub fn dumps(&self, id: u64, keys: &[&str]) -> Vec<Option<Vec<u8>>> {
        let mut con = self.connect_readonly(id);
        keys.iter()
            .map(|key| redis::cmd("DUMP").arg(key).query(&mut con).unwrap())
            .collect()
    }

    /// A raw RESP connection to node `id`, for exact reply bytes.
    pub fn raw(&self, id: u64) -> Raw {
        Raw::connect(self.port(id))
    }

    /// Node `id`'s `INFO raft` fields, or why they could not be read.
    pub fn try_info_raft(&self, id: u64) -> Result<HashMap<String, String>, String> {
        info_raft(self.port(id)).map_err(|err| format!("node {id}: {err}"))
    }

    /// Node `id`'s `INFO raft` fields; panics if the node does not answer.
    pub fn info_raft(&self, id: u64) -> HashMap<String, String> {
        self.try_info_raft(id).unwrap_or_else(|err| panic!("{err}"))
    }

    /// One numeric `INFO raft` field of node `id` (`raft_applied_index`...).
    pub fn raft_number(&self, id: u64, field: &str) -> u64 {
        number(&self.info_raft(id), field).unwrap_or_else(|err| panic!("node {id}: {err}"))
    }

    /// Waits until some running node reports `raft_role:leader` and every
    /// running node reports it as `raft_leader_id`; returns its id.
    pub fn leader(&self) -> u64 {
        self.leader_among(&self.running())
    }

    /// [`Cluster::leader`], asking only the nodes `ids` (the members, when
    /// removed nodes still run).
    pub fn leader_among(&self, ids: &[u64]) -> u64 {
        until(
            LEADER_TIMEOUT,
            format!("nodes {ids:?} to agree on a leader"),
            || self.agreed_leader(ids),
        )
    }

    /// The leader every node of `ids` agrees on, or what they report.
    fn agreed_leader(&self, ids: &[u64]) -> Result<u64, String> {
        let mut leader = None;
        let mut seen = Vec::new();
        for &id in ids {
            let info = self.try_info_raft(id)?;
            let role = info.get("raft_role").cloned().unwrap_or_default();
            let leader_id = number(&info, "raft_leader_id")?;
            seen.push(format!("node {id}: {role}, leader {leader_id}"));
            if role == "leader" {
                leader = Some(id);
            }
            if leader_id == 0 {
                return Err(seen.join("; "));
            }
        }
        let Some(leader) = leader else {
            return Err(seen.join("; "));
        };
        for &id in ids {
            if number(&self.try_info_raft(id)?, "raft_leader_id")? != leader {
                return Err(seen.join("; "));
            }
        }
        Ok(leader)
    }

    /// The running nodes other than the leader.
    pub fn followers(&self) -> Vec<u64> {
        let leader = self.leader();
        self.running()
            .into_iter()
            .filter(|&id| id != leader)
            .collect()
    }

    /// SIGKILLs node `id` (no shutdown code runs) and reaps it.
    pub fn kill(&mut self, id: u64) {
        let member = self.member_mut(id);
        if let Some(mut child) = member.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        append_marker(&member.log, "SIGKILL");
    }

    /// Stops node `id` with SIGSTOP (it keeps its sockets but does
    /// nothing) until [`Cluster::resume`].
    pub fn pause(&mut self, id: u64) {
        self.signal(id, libc::SIGSTOP, "SIGSTOP");
    }

    /// Lets a paused node `id` run again (SIGCONT).
    pub fn resume(&mut self, id: u64) {
        self.signal(id, libc::SIGCONT, "SIGCONT");
    }

    fn signal(&mut self, id: u64, signal: libc::c_int, name: &str) {
        let member = self.member_mut(id);
        let child = member.child.as_ref().expect("the node runs");
        // SAFETY: kill(2) on our own child's pid, which is not reaped yet.
        let sent = unsafe { libc::kill(child.id() as libc::pid_t, signal) };
        assert_eq!(sent, 0, "{name} node {id}");
        append_marker(&member.log, name);
    }

    /// Starts node `id` (killing it first if it runs) with its config file
    /// and waits until it answers PING. It may still be catching up.
    pub fn restart(&mut self, id: u64) {
        self.kill(id);
        let member = self.member_mut(id);
        append_marker(&member.log, "start");
        let args = vec!["--config".to_string(), member.config.display().to_string()];
        member.child = Some(spawn_server(&args, &member.log, member.port));
    }

    /// Waits until node `id` has applied at least `index`.
    pub fn wait_applied(&self, id: u64, index: u64) {
        until(
            CATCH_UP_TIMEOUT,
            format!("node {id} to apply index {index}"),
            || {
                let info = self.try_info_raft(id)?;
                let applied = number(&info, "raft_applied_index")?;
                if applied >= index {
                    Ok(())
                } else {
                    Err(format!("raft_applied_index:{applied}"))
                }
            },
        )
    }

    /// Waits until every running node has applied everything the leader
    /// had committed when this was called; returns that index.
    pub fn wait_all_applied(&self) -> u64 {
        let leader = self.leader();
        let commit_index = self.raft_number(leader, "raft_commit_index");
        for id in self.running() {
            self.wait_applied(id, commit_index);
        }
        commit_index
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for id in self.ids() {
            self.kill(id);
        }
        if std::thread::panicking() {
            for member in &self.members {
                eprintln!(
                    "---- node {} (client port {}): last {LOG_TAIL_LINES} lines of {} ----\n{}",
                    member.id,
                    member.port,
                    member.log.display(),
                    log_tail(&member.log, LOG_TAIL_LINES)
                );
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A numeric field of an `INFO raft` map.
pub fn number(info: &HashMap<String, String>, field: &str) -> Result<u64, String> {
    let text = info
        .get(field)
        .ok_or_else(|| format!("INFO raft has no {field}"))?;
    text.parse()
        .map_err(|_| format!("INFO raft {field}:{text} is not a number"))
}

/// The `[server]` and `[raft]` sections of node `id`'s file.
fn node_toml(id: u64, ports: &NodePorts, dir: &Path, options: &ClusterOptions) -> String {
    let data_dir = dir.join(format!("node-{id}-data"));
    let mut text = format!(
        "[server]\nbind = \"127.0.0.1\"\nport = {}\nadmin_port = {}\nthreads = 2\n\
         data_dir = {:?}\nlog_level = \"info\"\n\n\
         [raft]\nnode_id = {id}\nraft_port = {}\nlog_segment_mb = 16\n",
        ports.port,
        ports.admin_port,
        data_dir.display().to_string(),
        ports.raft_port,
    );
    if let Some(logs) = options.snapshot_logs_since_last {
        text.push_str(&format!("snapshot_logs_since_last = {logs}\n"));
    }
    text
}

/// The `[[raft.members]]` tables, the same in every node's file.
fn members_toml(ports: &[NodePorts]) -> String {
    let mut text = String::new();
    for (index, ports) in ports.iter().enumerate() {
        text.push_str(&format!(
            "\n[[raft.members]]\nid = {}\nhost = \"127.0.0.1\"\nport = {}\nraft_port = {}\n",
            index + 1,
            ports.port,
            ports.raft_port,
        ));
    }
    text
}
