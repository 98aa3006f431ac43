//! Lua scripting (`EVAL`, `EVALSHA`): the interpreter that runs a script,
//! at apply on every node for a write script, or on the connection's node
//! for a read-only one.
//!
//! Each run gets a fresh Lua 5.1 state (mlua, vendored): the `base`,
//! `table`, `string` and `math` libraries, `cjson`, the `redis` table,
//! `KEYS` and `ARGV`, and globals protected as Redis 7 protects them. Nothing of one
//! run survives into the next, so no script can leave state that makes
//! nodes differ.
//!
//! Invariants:
//! - Deterministic: a run reads only the engine, the entry's time, the
//!   call (body, keys, arguments, seed); `math.random` and every random
//!   pick of a command draw from a generator seeded by the call's seed.
//! - Bounded: a run stops after `ScriptRun::instructions_max` Lua
//!   instructions (`crate::apply::SCRIPT_INSTRUCTIONS_MAX`, counted in
//!   steps of [`HOOK_STEP`]) with an error reply, so no script can hang
//!   apply on a follower; `pcall` cannot catch that error. The count is the same on every node,
//!   so every node stops it at the same point; writes made before keep,
//!   as writes before any script error do.
//! - An error of the script is its reply, never an error of apply.

mod call;
mod cjson;
mod convert;
mod redis_lib;
mod shebang;
mod vm;

pub use shebang::{parse as parse_shebang, Shebang};

use bytes::{Bytes, BytesMut};
use std::sync::Arc;

use crate::apply::{ScriptRun, ScriptRunner};
use crate::resp::ReplyWriter;

/// How often (in instructions) the limit is checked.
pub const HOOK_STEP: u32 = 10_000;

/// The runner apply calls (see `crate::apply::ScriptRunner`).
pub fn runner() -> ScriptRunner {
    Arc::new(run)
}

/// Runs one script; its reply, encoded for the caller's protocol.
pub fn run(run: &mut ScriptRun<'_>) -> Bytes {
    let reply = match vm::run(run) {
        Ok(frame) => frame,
        Err(text) => crate::resp::Frame::Error(Bytes::from(text)),
    };
    let mut out = BytesMut::new();
    reply.encode(&mut out);
    out.freeze()
}

/// Checks that `body` compiles (shebang included), as Redis does before
/// it caches a script; the error reply's text otherwise.
pub fn check(body: &[u8]) -> Result<Shebang, String> {
    let shebang = parse_shebang(body)?;
    vm::compile_check(&body[shebang.skip..])?;
    Ok(shebang)
}

/// Writes an error line for `text` (Redis's, without `-`).
pub fn write_error(out: &mut ReplyWriter<'_>, text: &str) {
    out.error_text(text);
}
