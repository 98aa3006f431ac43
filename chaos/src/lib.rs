//! redraft-chaos: a fault-injection suite for redraft.
//!
//! It starts a real cluster of `redraft-server` processes on 127.0.0.1
//! ([`cluster`]), routes every Raft peer link through a fault-injecting TCP
//! proxy ([`proxy`]), runs concurrent clients of several workloads
//! ([`workload`]) that record a [`history`], injects faults on a schedule
//! drawn from a seed ([`nemesis`]), and checks the history ([`checker`]).
//! [`report`] and [`svg`] write what a run found.
//!
//! Invariants:
//! - Every process and socket it opens is on 127.0.0.1; every loop is
//!   bounded in time and every run stops by itself.
//! - A checker never calls a history valid that it could not decide.

pub mod checker;
pub mod client;
pub mod cluster;
pub mod history;
pub mod nemesis;
pub mod proxy;
pub mod report;
pub mod resp;
pub mod rng;
pub mod run;
pub mod svg;
pub mod workload;
