//! The recorded history of a run: one [`Op`] per client operation, with
//! when it was invoked and completed and what came of it.
//!
//! An operation's [`Outcome`] is what the client can know:
//! - `Ok`: the server answered and the answer says it happened (or, for a
//!   read, what it saw).
//! - `Fail`: it certainly did not happen (`-MOVED`, `-CLUSTERDOWN`, a
//!   connection that could not be opened before anything was sent).
//! - `Info`: indeterminate. The request may have been sent and applied, but
//!   no answer came (timeout, connection lost mid-request, an error that
//!   does not say whether it was applied). Checkers must allow both.
//!
//! Invariants:
//! - `invoke_ns <= complete_ns`, both on the run's monotonic clock
//!   (nanoseconds since the run started).
//! - A process has at most one operation in flight; after an `Info` the
//!   client takes a new process id, because the old operation may still
//!   take effect at any later time (Jepsen's convention).
//! - Values written by registers, sets, lists and transactions are unique
//!   within a run, so a read names the write it saw.

use serde::{Deserialize, Serialize};

/// What came of an operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Ok,
    Fail,
    Info,
}

/// One micro-operation of a list-append transaction (MULTI ... EXEC).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "f", rename_all = "snake_case")]
pub enum Mop {
    /// `RPUSH key value`.
    Append { key: String, value: u64 },
    /// `LRANGE key 0 -1`; `values` is `None` until answered.
    Read {
        key: String,
        values: Option<Vec<u64>>,
    },
}

/// What an operation asked for and, once answered, what it got.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "f", rename_all = "snake_case")]
pub enum Call {
    /// Register `SET key value`.
    Write { value: u64 },
    /// Register `GET key` (linearizable); `None` is nil.
    Read { value: Option<u64> },
    /// Counter `INCR key`; `value` is the reply.
    Incr { value: Option<i64> },
    /// Counter `GET key`, linearizable (the final read) or, with
    /// `stale`, from a follower under `CONSISTENCY stale`.
    CounterRead {
        value: Option<i64>,
        #[serde(default)]
        stale: bool,
        /// Which connection of the process served it (reconnects count up),
        /// for the per-connection monotonic check of stale reads.
        #[serde(default)]
        connection: u64,
    },
    /// Set `SADD key element`.
    Add { element: u64 },
    /// List `RPUSH key element`.
    Append { element: u64 },
    /// The final read of a set (`SMEMBERS`) or list (`LRANGE 0 -1`).
    ReadAll { elements: Option<Vec<u64>> },
    /// MULTI, the micro-operations, EXEC.
    Txn { mops: Vec<Mop> },
}

/// The workload an operation belongs to; each has its own checker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Workload {
    Register,
    Counter,
    Set,
    List,
    Txn,
}

/// One completed (or abandoned) client operation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Op {
    /// The logical client; see the module invariants.
    pub process: u64,
    pub workload: Workload,
    /// The key (for transactions, empty: each micro-op names its own).
    pub key: String,
    pub call: Call,
    pub outcome: Outcome,
    /// Nanoseconds since the run started.
    pub invoke_ns: u64,
    pub complete_ns: u64,
    /// The node (1-based id) that answered, 0 if none did.
    #[serde(default)]
    pub node: u64,
    /// The error text or why the outcome is unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Op {
    /// How long the client waited, in nanoseconds.
    pub fn latency_ns(&self) -> u64 {
        self.complete_ns.saturating_sub(self.invoke_ns)
    }

    /// Whether the operation changes state if it took effect.
    pub fn is_write(&self) -> bool {
        match &self.call {
            Call::Write { .. } | Call::Incr { .. } | Call::Add { .. } | Call::Append { .. } => true,
            Call::Txn { mops } => mops.iter().any(|m| matches!(m, Mop::Append { .. })),
            Call::Read { .. } | Call::CounterRead { .. } | Call::ReadAll { .. } => false,
        }
    }
}

/// Writes `ops` as JSON lines.
pub fn write_jsonl(ops: &[Op], out: &mut impl std::io::Write) -> std::io::Result<()> {
    for op in ops {
        serde_json::to_writer(&mut *out, op)?;
        out.write_all(b"\n")?;
    }
    Ok(())
}

/// Reads a history written by [`write_jsonl`].
pub fn read_jsonl(text: &str) -> Result<Vec<Op>, serde_json::Error> {
    text.lines()
        .filter(|line| !line.trim().is_empty())
        .map(serde_json::from_str)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jsonl_round_trips_every_call() {
        let calls = [
            Call::Write { value: 7 },
            Call::Read { value: None },
            Call::Incr { value: Some(3) },
            Call::CounterRead {
                value: Some(2),
                stale: true,
                connection: 4,
            },
            Call::Add { element: 9 },
            Call::Append { element: 10 },
            Call::ReadAll {
                elements: Some(vec![1, 2]),
            },
            Call::Txn {
                mops: vec![
                    Mop::Append {
                        key: "t:1".into(),
                        value: 5,
                    },
                    Mop::Read {
                        key: "t:2".into(),
                        values: Some(vec![1]),
                    },
                ],
            },
        ];
        let ops: Vec<Op> = calls
            .into_iter()
            .enumerate()
            .map(|(i, call)| Op {
                process: i as u64,
                workload: Workload::Register,
                key: "k".into(),
                call,
                outcome: Outcome::Info,
                invoke_ns: 1,
                complete_ns: 2,
                node: 1,
                error: Some("timeout".into()),
            })
            .collect();
        let mut out = Vec::new();
        write_jsonl(&ops, &mut out).unwrap();
        let back = read_jsonl(std::str::from_utf8(&out).unwrap()).unwrap();
        assert_eq!(back, ops);
    }
}
