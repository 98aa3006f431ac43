//! Cluster commands: CLUSTER INFO / MYID / NODES / SLOTS / SHARDS /
//! KEYSLOT / HELP, READONLY and READWRITE, and redraft's CONSISTENCY.
//!
//! The Raft group is presented as one Redis Cluster shard that owns all
//! 16384 slots: the leader is its master, the other members its replicas.
//! Cluster-aware clients (`redis-cli -c`, redis-py `RedisCluster`) read
//! this topology and send writes to the leader; a follower's `-MOVED` sends
//! them there too.
//!
//! Invariants:
//! - Every node renders the same ids for the same members: a member's
//!   cluster node id is its Raft id as 40 hex digits.
//! - With no known leader the shard has no master: `cluster_state:fail`,
//!   and CLUSTER SLOTS / SHARDS list no slot owner.

use std::fmt::Write as _;

use bytes::Bytes;
use redraft_engine::ReplySink;

use super::flags::{FAST, LOADING, STALE};
use super::{Action, CommandSpec, Ctx};
use crate::config::ReadConsistency;
use crate::raft::status::{MemberView, StatusView};
use crate::resp::ReplyWriter;
use crate::route::key_slot;

/// The number of hash slots in Redis Cluster.
const SLOTS: u16 = 16384;

const fn spec(
    name: &'static str,
    arity: i32,
    flags: u32,
    handler: super::Handler,
    summary: &'static str,
) -> CommandSpec {
    CommandSpec::new(name, arity, flags, (0, 0, 0), handler, "cluster", summary).since("3.0.0")
}

const CLUSTER_SUBCOMMANDS: &[CommandSpec] = &[
    spec(
        "cluster|info",
        2,
        STALE,
        cluster_info,
        "Provides info about Redis Cluster node state",
    ),
    spec("cluster|myid", 2, STALE, cluster_myid, "Return the node id"),
    spec(
        "cluster|nodes",
        2,
        STALE,
        cluster_nodes,
        "Get Cluster config for the node",
    ),
    spec(
        "cluster|slots",
        2,
        LOADING | STALE,
        cluster_slots,
        "Get array of Cluster slot to node mappings",
    ),
    spec(
        "cluster|shards",
        2,
        LOADING | STALE,
        cluster_shards,
        "Get array of cluster slots to node mappings",
    )
    .since("7.0.0"),
    spec(
        "cluster|keyslot",
        3,
        STALE,
        cluster_keyslot,
        "Returns the hash slot of the specified key",
    ),
    spec(
        "cluster|help",
        2,
        LOADING | STALE,
        cluster_help,
        "Show helpful text about the different subcommands",
    )
    .since("5.0.0"),
];

pub const COMMANDS: &[CommandSpec] = &[
    spec(
        "cluster",
        -2,
        0,
        cluster,
        "A container for cluster commands",
    )
    .with_subcommands(CLUSTER_SUBCOMMANDS),
    spec(
        "readonly",
        1,
        FAST | LOADING | STALE,
        readonly,
        "Enables read queries for a connection to a cluster replica node",
    ),
    spec(
        "readwrite",
        1,
        FAST | LOADING | STALE,
        readwrite,
        "Disables read queries for a connection to a cluster replica node",
    ),
    spec(
        "asking",
        1,
        FAST,
        asking,
        "Sent by cluster clients after an -ASK redirect",
    ),
    CommandSpec::new(
        "consistency",
        -1,
        FAST | LOADING | STALE,
        (0, 0, 0),
        consistency,
        "connection",
        "Sets or returns the read consistency of the connection (redraft).",
    ),
];

fn cluster(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    let container = super::lookup(b"cluster").expect("cluster is in the table");
    super::dispatch_sub(ctx, container, args)
}

/// `READONLY`: this connection's reads are served from this node's own
/// state (`CONSISTENCY stale`), even on a follower.
fn readonly(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> Action {
    ctx.client.consistency = Some(ReadConsistency::Stale);
    ctx.out.ok();
    Action::Replied
}

/// `ASKING`: a cluster client sends it before the command an `-ASK`
/// redirect points at a slot being imported. redraft never migrates slots
/// (one group owns all 16384) and so never replies `-ASK`; every slot is
/// served whether or not the flag is set, so there is nothing to record.
fn asking(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> Action {
    ctx.out.ok();
    Action::Replied
}

/// `READWRITE`: back to the node's `read_consistency`.
fn readwrite(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> Action {
    ctx.client.consistency = None;
    ctx.out.ok();
    Action::Replied
}

/// `CONSISTENCY [linearizable|lease|stale]`: sets this connection's read
/// consistency, or replies the one in force (docs/raft.md, "Reads and
/// consistency").
fn consistency(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    match args {
        [] => {
            let level = ctx
                .client
                .consistency
                .unwrap_or(ctx.shared.raft.consistency);
            ctx.out.bulk(level.name().as_bytes());
        }
        [level] => match std::str::from_utf8(level)
            .ok()
            .and_then(ReadConsistency::parse)
        {
            Some(level) => {
                ctx.client.consistency = Some(level);
                ctx.out.ok();
            }
            None => {
                let shown = String::from_utf8_lossy(&level[..level.len().min(128)]);
                ctx.out.error_text(&format!(
                    "ERR unknown consistency level '{shown}', expected linearizable, lease or stale"
                ));
            }
        },
        _ => return ctx.fail(redraft_engine::Error::Syntax),
    }
    Action::Replied
}

/// A member's Redis Cluster node id: its Raft id as 40 hex digits.
fn node_id(id: u64) -> String {
    format!("{id:040x}")
}

/// The leader's member entry, if a leader is known and is a member.
fn leader(view: &StatusView) -> Option<&MemberView> {
    view.leader.and_then(|id| view.member(id))
}

fn cluster_info(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> Action {
    let view = ctx.shared.raft.view();
    let led = leader(&view).is_some();
    let assigned = if led { SLOTS } else { 0 };
    let mut text = String::with_capacity(512);
    let _ = write!(
        text,
        "cluster_enabled:1\r\n\
         cluster_state:{}\r\n\
         cluster_slots_assigned:{assigned}\r\n\
         cluster_slots_ok:{assigned}\r\n\
         cluster_slots_pfail:0\r\n\
         cluster_slots_fail:0\r\n\
         cluster_known_nodes:{}\r\n\
         cluster_size:{}\r\n\
         cluster_current_epoch:{}\r\n\
         cluster_my_epoch:{}\r\n\
         cluster_stats_messages_sent:0\r\n\
         cluster_stats_messages_received:0\r\n\
         total_cluster_links_buffer_limit_exceeded:0\r\n",
        if led { "ok" } else { "fail" },
        view.members.len(),
        u8::from(led),
        view.term,
        view.term,
    );
    ctx.out.verbatim("txt", text.as_bytes());
    Action::Replied
}

fn cluster_myid(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> Action {
    let id = ctx.shared.raft.view().node_id;
    ctx.out.bulk(node_id(id).as_bytes());
    Action::Replied
}

/// CLUSTER NODES: one line per member, in Redis's format
/// `<id> <ip:port@cport> <flags> <master> <ping-sent> <pong-recv>
/// <config-epoch> <link-state> <slots>`. The cluster bus port shown is the
/// Raft port. A member this node's health monitor has down is flagged
/// `fail` by the leader (whose view is the group's: it replicates to the
/// member) and `fail?` (suspected) by the others, and its link is
/// `disconnected`.
fn cluster_nodes(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> Action {
    let view = ctx.shared.raft.view();
    let leader_id = leader(&view).map(|member| member.id);
    let mut text = String::with_capacity(128 * view.members.len());
    for member in &view.members {
        let is_leader = Some(member.id) == leader_id;
        let myself = member.id == view.node_id;
        let down = !myself && ctx.shared.raft.health.report(&member.id).reachable == Some(false);
        let mut flags = String::new();
        if myself {
            flags.push_str("myself,");
        }
        flags.push_str(if is_leader || leader_id.is_none() {
            "master"
        } else {
            "slave"
        });
        if down {
            flags.push_str(if leader_id == Some(view.node_id) {
                ",fail"
            } else {
                ",fail?"
            });
        }
        let master = match leader_id {
            Some(id) if !is_leader => node_id(id),
            _ => "-".to_string(),
        };
        let _ = write!(
            text,
            "{} {}:{}@{} {flags} {master} 0 0 {} {}",
            node_id(member.id),
            member.node.host,
            member.node.port,
            member.node.raft_port,
            view.term,
            if down { "disconnected" } else { "connected" },
        );
        if is_leader {
            let _ = write!(text, " 0-{}", SLOTS - 1);
        }
        text.push('\n');
    }
    ctx.out.verbatim("txt", text.as_bytes());
    Action::Replied
}

/// The members in the order CLUSTER SLOTS and SHARDS list them: the leader
/// first, then the others by id. Empty without a leader.
fn shard_members(view: &StatusView) -> Vec<&MemberView> {
    let Some(leader) = leader(view) else {
        return Vec::new();
    };
    let mut members = vec![leader];
    members.extend(view.members.iter().filter(|member| member.id != leader.id));
    members
}

/// A node as CLUSTER SLOTS gives it: `[host, port, id, {}]`.
fn slots_node(out: &mut ReplyWriter<'_>, member: &MemberView) {
    out.array(4);
    out.bulk(member.node.host.as_bytes());
    out.int(i64::from(member.node.port));
    out.bulk(node_id(member.id).as_bytes());
    out.map(0);
}

fn cluster_slots(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> Action {
    let view = ctx.shared.raft.view();
    let members = shard_members(&view);
    if members.is_empty() {
        ctx.out.array(0);
        return Action::Replied;
    }
    ctx.out.array(1);
    ctx.out.array(2 + members.len());
    ctx.out.int(0);
    ctx.out.int(i64::from(SLOTS - 1));
    for member in members {
        slots_node(&mut ctx.out, member);
    }
    Action::Replied
}

fn cluster_shards(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> Action {
    let view = ctx.shared.raft.view();
    let members = shard_members(&view);
    let out = &mut ctx.out;
    if members.is_empty() {
        out.array(0);
        return Action::Replied;
    }
    let leader_id = members[0].id;
    out.array(1);
    out.map(2);
    out.bulk(b"slots");
    out.array(2);
    out.int(0);
    out.int(i64::from(SLOTS - 1));
    out.bulk(b"nodes");
    out.array(members.len());
    for member in members {
        let is_leader = member.id == leader_id;
        out.map(7);
        out.bulk(b"id");
        out.bulk(node_id(member.id).as_bytes());
        out.bulk(b"port");
        out.int(i64::from(member.node.port));
        out.bulk(b"ip");
        out.bulk(member.node.host.as_bytes());
        out.bulk(b"endpoint");
        out.bulk(member.node.host.as_bytes());
        out.bulk(b"role");
        out.bulk(if is_leader { b"master" } else { b"replica" });
        out.bulk(b"replication-offset");
        let offset = if member.id == view.node_id {
            view.applied_index
        } else {
            member.matched_index.unwrap_or(0)
        };
        out.int(offset as i64);
        out.bulk(b"health");
        out.bulk(b"online");
    }
    Action::Replied
}

fn cluster_keyslot(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    ctx.out.int(i64::from(key_slot(&args[0])));
    Action::Replied
}

fn cluster_help(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> Action {
    const LINES: &[&str] = &[
        "CLUSTER <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "INFO",
        "    Return information about the cluster.",
        "KEYSLOT <key>",
        "    Return the hash slot for <key>.",
        "MYID",
        "    Return the node id.",
        "NODES",
        "    Return cluster configuration seen by node. Output format:",
        "    <id> <ip:port@bus-port> <flags> <master> <pings> <pongs> <epoch> <link> <slot> ...",
        "SHARDS",
        "    Return information about slot range mappings and the nodes associated with them.",
        "SLOTS",
        "    Return information about slots range mappings. Each range is made of:",
        "    start, end, master and replicas IP addresses, ports and ids",
        "HELP",
        "    Prints this help.",
    ];
    ctx.out.array(LINES.len());
    for line in LINES {
        ctx.out.simple(line);
    }
    Action::Replied
}
