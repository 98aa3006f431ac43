//! `WAIT numreplicas timeout`: how many followers hold this client's
//! writes.
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
use redraft_engine::Error;

use super::flags::NOSCRIPT;
use super::{Action, CommandSpec, Ctx};

pub const COMMANDS: &[CommandSpec] = &[CommandSpec::new(
    "wait",
    3,
    NOSCRIPT,
    (0, 0, 0),
    wait,
    "generic",
    "Blocks until the asynchronous replication of all preceding write commands sent by the connection is completed.",
)
.since("3.0.0")];

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
