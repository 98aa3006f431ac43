//! INFO's persistence, replication and cluster sections: what Redis's
//! fields mean for a node of a Raft group.
//!
//! - Persistence: every write is in the fsynced Raft log before it is
//!   acknowledged, so the append-only file Redis would have is always on
//!   and synced per write (`aof_enabled:1`); a Raft snapshot is Redis's
//!   RDB save (`rdb_*`), and what has no Redis name is `raft_*`.
//! - Replication: [`ReplicationView`]; offsets are log indexes.
//! - Cluster: a group of more than one member is a Redis Cluster of one
//!   shard (`cmd::cluster`); a lone node is not a cluster.

use std::fmt::Write as _;
use std::sync::atomic::Ordering;

use crate::raft::replication::{Part, ReplicationView};
use crate::shared::Shared;

/// `# Persistence`.
pub fn persistence(shared: &Shared, out: &mut String) {
    let status = &shared.raft;
    let counters = &status.counters;
    let view = status.view();
    let load = |counter: &std::sync::atomic::AtomicU64| counter.load(Ordering::Relaxed);
    let built = load(&counters.snapshots_built);
    // Redis's -1 for "no save yet"; a build's time in whole seconds.
    let last_build_s = if built == 0 {
        -1
    } else {
        (load(&counters.snapshot_last_build_ms) / 1000) as i64
    };
    let _ = write!(
        out,
        "# Persistence\r\nloading:{}\r\nasync_loading:0\r\n\
         rdb_changes_since_last_save:{}\r\nrdb_last_save_time:{}\r\nrdb_last_bgsave_status:ok\r\n\
         rdb_last_bgsave_time_sec:{last_build_s}\r\nrdb_saves:{built}\r\n\
         aof_enabled:1\r\naof_rewrite_in_progress:0\r\naof_last_write_status:ok\r\n\
         raft_snapshot_last_bytes:{}\r\nraft_snapshots_installed:{}\r\nraft_log_purges:{}\r\n",
        u8::from(!status.caught_up()),
        view.applied_index.saturating_sub(view.snapshot_index),
        load(&counters.snapshot_saved_unix_s),
        load(&counters.snapshot_last_bytes),
        load(&counters.snapshots_installed),
        load(&counters.log_purges),
    );
}

/// `# Replication`, in the order Redis 7.0 writes its fields.
pub fn replication(shared: &Shared, out: &mut String) {
    let view = ReplicationView::of(&shared.raft);
    match &view.part {
        Part::Master { replicas } => {
            let _ = write!(
                out,
                "# Replication\r\nrole:master\r\nconnected_slaves:{}\r\n",
                replicas.len()
            );
            for (n, replica) in replicas.iter().enumerate() {
                let _ = write!(
                    out,
                    "slave{n}:ip={},port={},state=online,offset={},lag={}\r\n",
                    replica.host, replica.port, replica.offset, replica.lag_s,
                );
            }
        }
        Part::Replica { master } => {
            out.push_str("# Replication\r\nrole:slave\r\n");
            let (host, port) = master
                .as_ref()
                .map_or((String::new(), 0), |m| (m.host.clone(), m.port));
            let link_up = master.as_ref().is_some_and(|m| m.link_up);
            let last_io_s = master
                .as_ref()
                .and_then(|m| m.last_io_s)
                .map_or(-1, |s| s as i64);
            let installing = shared
                .raft
                .counters
                .snapshots_installing
                .load(Ordering::Relaxed);
            let _ = write!(
                out,
                "master_host:{host}\r\nmaster_port:{port}\r\nmaster_link_status:{}\r\n\
                 master_last_io_seconds_ago:{last_io_s}\r\nmaster_sync_in_progress:{}\r\n\
                 slave_read_repl_offset:{offset}\r\nslave_repl_offset:{offset}\r\n\
                 slave_priority:100\r\nslave_read_only:1\r\nreplica_announced:1\r\n\
                 connected_slaves:0\r\n",
                if link_up { "up" } else { "down" },
                u8::from(installing > 0),
                offset = view.offset,
            );
        }
    }
    let _ = write!(
        out,
        "master_failover_state:no-failover\r\nmaster_replid:{}\r\n\
         master_replid2:0000000000000000000000000000000000000000\r\n\
         master_repl_offset:{}\r\nsecond_repl_offset:-1\r\n",
        view.replid, view.offset,
    );
}

/// Whether this node's group is presented as a Redis Cluster: more than
/// one member.
pub fn cluster_enabled(shared: &Shared) -> bool {
    shared.raft.view().members.len() > 1
}

/// `# Cluster`.
pub fn cluster(shared: &Shared, out: &mut String) {
    let _ = write!(
        out,
        "# Cluster\r\ncluster_enabled:{}\r\n",
        u8::from(cluster_enabled(shared))
    );
}
