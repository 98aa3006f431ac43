//! The crate's one error type.
//!
//! Operating failures (disk, bad input from the caller, damaged files) are
//! [`Error`] values; a broken invariant inside the crate is a bug and panics.
//! The enum is `Clone` because one failure is delivered to every pending
//! completion callback.

use std::path::PathBuf;

/// Everything that can go wrong with a [`crate::RaftLog`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// A file operation failed. Raised by `open`; once the log is running,
    /// an I/O error turns into [`Error::Failed`] for good.
    #[error("raftlog I/O error on {path}: {message}")]
    Io { path: PathBuf, message: String },
    /// A file holds bytes that do not verify. `offset` is the byte offset
    /// of the first bad record (or header) within `path`.
    #[error("raftlog file {path} is corrupt at offset {offset}: {reason}")]
    Corrupt {
        path: PathBuf,
        offset: u64,
        reason: String,
    },
    /// A write or fsync failed earlier; the log acknowledges nothing after
    /// such a failure, and the process is expected to stop.
    #[error("raftlog has failed and accepts no more requests: {0}")]
    Failed(String),
    /// The request breaks the log's rules (an index gap, an entry over the
    /// size limit, a truncation below the purged prefix, a bad config).
    #[error("invalid raftlog request: {0}")]
    Invalid(String),
    /// The log was closed.
    #[error("raftlog is closed")]
    Closed,
}

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, err: &std::io::Error) -> Error {
        Error::Io {
            path: path.into(),
            message: err.to_string(),
        }
    }

    pub(crate) fn corrupt(
        path: impl Into<PathBuf>,
        offset: u64,
        reason: impl Into<String>,
    ) -> Error {
        Error::Corrupt {
            path: path.into(),
            offset,
            reason: reason.into(),
        }
    }
}
