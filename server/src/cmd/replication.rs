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
use redraft_engine::Error;

use super::args::parse_i64;
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

const TIMEOUT_NOT_INTEGER: Error = Error::Other("ERR timeout is not an integer or out of range");
const TIMEOUT_NEGATIVE: Error = Error::Other("ERR timeout is negative");

fn wait(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    let Some(wanted) = parse_i64(&args[0]) else {
        return ctx.fail(Error::NotInteger);
    };
    let timeout_ms = match parse_i64(&args[1]) {
        None => return ctx.fail(TIMEOUT_NOT_INTEGER),
        Some(ms) if ms < 0 => return ctx.fail(TIMEOUT_NEGATIVE),
        Some(0) => None,
        Some(ms) => Some(ms as u64),
    };
    Action::WaitReplicas { wanted, timeout_ms }
}
