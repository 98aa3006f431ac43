//! Connected clients: each connection's own state ([`Client`]) and the
//! node-wide registry that `CLIENT LIST` and `INFO clients` read.
//!
//! Invariants:
//! - Client ids are unique for the life of the process and increase.
//! - Only the connection that owns a [`ClientInfo`] writes its fields; others
//!   only read them, so relaxed atomics suffice.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use parking_lot::Mutex;

use crate::config::ReadConsistency;
use crate::conn_figures::Figures;

/// What other connections may see of a client.
pub struct ClientInfo {
    pub id: u64,
    pub addr: SocketAddr,
    pub local_addr: SocketAddr,
    pub fd: i32,
    pub connected_at: Instant,
    /// Unix milliseconds of the last command (of the connection, before one).
    pub last_command_ms: AtomicU64,
    pub db: AtomicUsize,
    /// Protocol version in use (2 or 3).
    pub resp: AtomicU32,
    /// The last command's spec (`cmd::spec_address`); 0 before the first.
    pub last_command: AtomicUsize,
    pub name: Mutex<Option<String>>,
    pub lib_name: Mutex<Option<String>>,
    pub lib_ver: Mutex<Option<String>>,
    /// Its state and buffers, as its network thread last published them.
    pub figures: Figures,
}

impl ClientInfo {
    /// One `CLIENT LIST` line (without the newline), in Redis 7's field order.
    pub fn render(&self, now: Instant, last_command_name: &str) -> String {
        let age_s = now.duration_since(self.connected_at).as_secs();
        let last_ms = self.last_command_ms.load(Ordering::Relaxed);
        let idle_s = crate::clock::unix_ms().saturating_sub(last_ms) / 1000;
        let figures = self.figures.read();
        let mut line = String::with_capacity(320);
        let _ = write!(
            line,
            "id={} addr={} laddr={} fd={} name={} age={} idle={} ",
            self.id,
            self.addr,
            self.local_addr,
            self.fd,
            self.name.lock().as_deref().unwrap_or(""),
            age_s,
            idle_s,
        );
        figures.write_state(&mut line, self.db.load(Ordering::Relaxed));
        line.push(' ');
        figures.write_buffers(&mut line);
        let _ = write!(
            line,
            " cmd={} user=default redir=-1 resp={}",
            last_command_name,
            self.resp.load(Ordering::Relaxed),
        );
        let lib_name = self.lib_name.lock();
        let lib_ver = self.lib_ver.lock();
        if lib_name.is_some() || lib_ver.is_some() {
            let _ = write!(
                line,
                " lib-name={} lib-ver={}",
                lib_name.as_deref().unwrap_or(""),
                lib_ver.as_deref().unwrap_or("")
            );
        }
        line
    }
}

/// A connection's own state, touched only by its executor.
pub struct Client {
    pub info: Arc<ClientInfo>,
    /// The selected database.
    pub db: usize,
    /// Replies in RESP3 (after `HELLO 3`).
    pub resp3: bool,
    /// Whether the client has authenticated (always true without requirepass).
    pub authenticated: bool,
    /// This connection's read consistency (`CONSISTENCY`, or `READONLY`
    /// for stale); `None`: the node's `read_consistency`.
    pub consistency: Option<ReadConsistency>,
    /// `MONITOR` was sent: this connection receives every command the
    /// node runs (listed in `Diag::monitors`).
    pub monitoring: bool,
    /// Channels this connection subscribes to, in subscription order.
    pub channels: Vec<Bytes>,
    /// Patterns this connection subscribes to, in subscription order.
    pub patterns: Vec<Bytes>,
    /// Shard channels this connection subscribes to (`SSUBSCRIBE`), in
    /// subscription order.
    pub shard_channels: Vec<Bytes>,
    /// The commands queued since `MULTI`; `None` outside a transaction.
    pub multi: Option<Multi>,
    /// The keys under `WATCH`, each once, in the order watched.
    pub watches: Vec<crate::apply::Watch>,
}

impl Client {
    fn with_info(info: Arc<ClientInfo>, db: usize, resp3: bool, authenticated: bool) -> Client {
        Client {
            info,
            db,
            resp3,
            authenticated,
            consistency: None,
            monitoring: false,
            channels: Vec::new(),
            patterns: Vec::new(),
            shard_channels: Vec::new(),
            multi: None,
            watches: Vec::new(),
        }
    }

    /// Channels plus patterns: the count the (P)(UN)SUBSCRIBE replies
    /// carry. Shard channels are counted apart, as in Redis 7.0.
    pub fn subscriptions(&self) -> usize {
        self.channels.len() + self.patterns.len()
    }

    /// Whether it subscribes to anything, shard channels included: then a
    /// RESP2 connection is in subscribed mode (`CLIENT LIST`'s `P`).
    pub fn subscribed(&self) -> bool {
        self.subscriptions() + self.shard_channels.len() > 0
    }

    pub fn set_db(&mut self, db: usize) {
        self.db = db;
        self.info.db.store(db, Ordering::Relaxed);
    }

    pub fn set_resp3(&mut self, resp3: bool) {
        self.resp3 = resp3;
        self.info
            .resp
            .store(if resp3 { 3 } else { 2 }, Ordering::Relaxed);
    }
}

/// Every connected client of this node.
#[derive(Default)]
pub struct Registry {
    next_id: AtomicU64,
    clients: Mutex<BTreeMap<u64, Arc<ClientInfo>>>,
    /// Connections accepted since start (`total_connections_received`).
    pub accepted_total: AtomicU64,
}

impl Registry {
    /// Registers a new connection and returns its state, unless
    /// `maxclients` clients are connected already: then `None`, and the
    /// caller refuses the connection, as Redis does. The check and the
    /// registration are one step, so threads accepting at once never
    /// admit more than `maxclients` between them.
    pub fn connect_within(
        &self,
        maxclients: u64,
        addr: SocketAddr,
        local_addr: SocketAddr,
        fd: i32,
        authenticated: bool,
    ) -> Option<Client> {
        let mut clients = self.clients.lock();
        if clients.len() as u64 >= maxclients {
            return None;
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed) + 1;
        let info = Arc::new(ClientInfo {
            id,
            addr,
            local_addr,
            fd,
            connected_at: Instant::now(),
            last_command_ms: AtomicU64::new(crate::clock::unix_ms()),
            db: AtomicUsize::new(0),
            resp: AtomicU32::new(2),
            last_command: AtomicUsize::new(0),
            name: Mutex::new(None),
            lib_name: Mutex::new(None),
            lib_ver: Mutex::new(None),
            figures: Figures::default(),
        });
        clients.insert(id, info.clone());
        self.accepted_total.fetch_add(1, Ordering::Relaxed);
        Some(Client::with_info(info, 0, false, authenticated))
    }

    pub fn disconnect(&self, id: u64) {
        self.clients.lock().remove(&id);
    }

    pub fn count(&self) -> usize {
        self.clients.lock().len()
    }

    /// A snapshot of the connected clients, in id order.
    pub fn list(&self) -> Vec<Arc<ClientInfo>> {
        self.clients.lock().values().cloned().collect()
    }
}

/// What a connection has queued since `MULTI`.
#[derive(Debug, Default)]
pub struct Multi {
    /// Each queued command's arguments, the name included.
    pub commands: Vec<Vec<Bytes>>,
    /// Bytes of the queued arguments, to bound the entry.
    pub bytes: usize,
    /// A command was refused while queueing: `EXEC` will abort.
    pub failed: bool,
}
