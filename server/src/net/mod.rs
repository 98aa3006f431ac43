//! The network layer: each network thread's event loop (`event_loop`),
//! accepting clients on its listener (`accept`), and driving a
//! connection's transport for its session (`conn`). Nothing here knows a
//! command: bytes go into a `crate::session::Session` and its reply bytes
//! come out.

pub mod accept;
pub mod conn;
pub mod event_loop;
#[cfg(test)]
mod scenarios;
