//! Replication commands: `ROLE`, and `WAIT numreplicas timeout`.
//!
//! `ROLE` answers as Redis does for the part this node plays in the Raft
//! group ([`ReplicationView`]): the leader is a master listing the members
//! in contact with their offsets (log indexes), another member a replica
//! of the leader. A node that knows no leader is a replica in state
//! `connect` with an empty master host and port 0.
//!
//! `WAIT` counts how many followers hold this client's writes.
//!
//! A write is acknowledged only once a majority holds it, so `WAIT` is
//! about the rest: it counts the other members whose log (by the leader's
//! replication metrics) reaches this node's applied index when `WAIT` runs.
//! `WAIT` runs only after the connection's earlier writes are answered, so
//! that index covers all of them (and perhaps other clients' later
//! writes: the count can only be lower than an exact one). A follower
//! redirects it to the leader, as it does writes.

use bytes::Bytes;
use redraft_engine::int_arg::{LONG, TIMEOUT_MS};
use redraft_engine::{Error, ReplySink};

use super::flags::{FAST, LOADING, NOSCRIPT, STALE};
use super::{Action, CommandSpec, Ctx};
use crate::raft::replication::{Part, ReplicationView};

pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec::new(
        "role",
        1,
        NOSCRIPT | LOADING | STALE | FAST,
        (0, 0, 0),
        role,
        "server",
        "Returns the replication role.",
    )
    .since("2.8.12"),
    CommandSpec::new(
    "wait",
    3,
    NOSCRIPT,
    (0, 0, 0),
    wait,
    "generic",
    "Blocks until the asynchronous replication of all preceding write commands sent by the connection is completed.",
)
    .since("3.0.0"),
];

fn role(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> Action {
    let view = ReplicationView::of(&ctx.shared.raft);
    let out = &mut ctx.out;
    match &view.part {
        Part::Master { replicas } => {
            out.array(3);
            out.bulk(b"master");
            out.int(view.offset as i64);
            out.array(replicas.len());
            for replica in replicas {
                out.array(3);
                out.bulk(replica.host.as_bytes());
                out.bulk(replica.port.to_string().as_bytes());
                out.bulk(replica.offset.to_string().as_bytes());
            }
        }
        Part::Replica { master } => {
            let installing = ctx
                .shared
                .raft
                .counters
                .snapshots_installing
                .load(std::sync::atomic::Ordering::Relaxed);
            let state = match master {
                Some(master) if master.link_up && installing > 0 => "sync",
                Some(master) if master.link_up => "connected",
                _ => "connect",
            };
            out.array(5);
            out.bulk(b"slave");
            out.bulk(master.as_ref().map_or(&b""[..], |m| m.host.as_bytes()));
            out.int(master.as_ref().map_or(0, |m| i64::from(m.port)));
            out.bulk(state.as_bytes());
            out.int(view.offset as i64);
        }
    }
    Action::Replied
}

const TIMEOUT_NEGATIVE: Error = Error::Other("ERR timeout is negative");

fn wait(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    let wanted = match LONG.parse(&args[0]) {
        Ok(wanted) => wanted,
        Err(error) => return ctx.fail(error),
    };
    let timeout_ms = match TIMEOUT_MS.parse(&args[1]) {
        Err(error) => return ctx.fail(error),
        Ok(ms) if ms < 0 => return ctx.fail(TIMEOUT_NEGATIVE),
        Ok(0) => None,
        Ok(ms) => Some(ms as u64),
    };
    Action::WaitReplicas { wanted, timeout_ms }
}
