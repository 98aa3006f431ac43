//! Checkers: each reads the whole history and says whether what the
//! clients saw is allowed, listing every violation it found.
//!
//! - [`register`]: linearizability of SET/GET per key (Wing-Gong search).
//! - [`counter`]: INCR replies unique, final value within what was acked.
//! - [`collection`]: sets and lists: lost, unexpected and duplicate elements.
//! - [`txn`]: list-append transactions, Elle-style cycle search.
//! - [`stale`]: reads from followers under `CONSISTENCY stale`, monotonic
//!   per connection (a weaker, separate guarantee).
//!
//! Invariants:
//! - A checker never reports `Valid` for what it could not decide: a search
//!   that runs out of time reports `Unknown`.
//! - Indeterminate (`Info`) operations are allowed both to have happened
//!   and not to have happened; failed ones never happened.

pub mod collection;
pub mod counter;
pub mod register;
pub mod stale;
pub mod txn;

use serde::Serialize;

/// A checker's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Validity {
    /// Nothing wrong found, and everything was decided.
    Valid,
    /// Something could not be decided in time; nothing wrong found.
    Unknown,
    /// At least one violation.
    Invalid,
}

/// One thing that went wrong.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Violation {
    /// Short name: `lost`, `unexpected`, `duplicate`, `nonlinearizable`,
    /// `G0`, `G1c`, `G-single`, `G2`, `stale-regression`, ...
    pub kind: String,
    /// The key it is about (empty if several).
    pub key: String,
    /// What exactly, for a person reading the report.
    pub detail: String,
}

/// What one checker found.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub checker: &'static str,
    pub validity: Validity,
    pub violations: Vec<Violation>,
    /// Acknowledged writes that are missing from the final state.
    pub lost_writes: u64,
    /// Keys (or other units) that could not be decided in time.
    pub unknown: Vec<String>,
    /// Operations the checker looked at.
    pub ops_checked: u64,
}

impl Check {
    /// A check with its verdict derived from what it found.
    pub fn new(
        checker: &'static str,
        violations: Vec<Violation>,
        unknown: Vec<String>,
        lost_writes: u64,
        ops_checked: u64,
    ) -> Check {
        let validity = if !violations.is_empty() {
            Validity::Invalid
        } else if !unknown.is_empty() {
            Validity::Unknown
        } else {
            Validity::Valid
        };
        Check {
            checker,
            validity,
            violations,
            lost_writes,
            unknown,
            ops_checked,
        }
    }
}

/// Runs every checker over `ops`; `key_time_limit` bounds the
/// linearizability search per key.
pub fn check_all(ops: &[crate::history::Op], key_time_limit: std::time::Duration) -> Vec<Check> {
    vec![
        register::check(ops, key_time_limit),
        counter::check(ops),
        collection::check(ops, crate::history::Workload::Set),
        collection::check(ops, crate::history::Workload::List),
        txn::check(ops),
        stale::check(ops),
    ]
}

#[cfg(test)]
pub(crate) mod build {
    //! Short constructors for hand-written histories in the checkers' tests.
    use crate::history::{Call, Op, Outcome, Workload};

    /// An op of `process` on `key` over `[invoke, complete]`.
    pub fn op(
        process: u64,
        workload: Workload,
        key: &str,
        call: Call,
        outcome: Outcome,
        invoke_ns: u64,
        complete_ns: u64,
    ) -> Op {
        Op {
            process,
            workload,
            key: key.to_string(),
            call,
            outcome,
            invoke_ns,
            complete_ns,
            node: 1,
            error: None,
        }
    }
}
