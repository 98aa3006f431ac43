//! Parts of large writes, staged until their write is assembled (see
//! `crate::raft::upload` for the proposer's side and the invariants).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::ops::Op;

/// The reply to a write whose upload a leader change interrupted.
pub const INCOMPLETE_ERROR: &str =
    "ERR write not applied: a leader change interrupted its transfer to the log";

/// Apply's side: the uploads whose parts have arrived, by (origin,
/// upload); `None` for one that lost a part.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Staged {
    /// The term of the last entry applied.
    term: u64,
    uploads: BTreeMap<(u64, u64), Option<Vec<u8>>>,
}

impl Staged {
    /// An entry of `term` is being applied: a newer term ends every upload
    /// of the older ones.
    pub fn enter_term(&mut self, term: u64) {
        if term > self.term {
            self.term = term;
            self.uploads.clear();
        }
    }

    /// Adds a part of `total` bytes' upload `upload` from `origin`.
    pub fn part(&mut self, origin: u64, upload: u64, offset: u64, total: u64, bytes: &[u8]) {
        let staged = self.uploads.entry((origin, upload)).or_insert_with(|| {
            // The first part: room for the whole op at once (its size
            // comes from the leader's encoding, the same on every node).
            (offset == 0).then(|| Vec::with_capacity(total as usize))
        });
        if let Some(buffer) = staged {
            if buffer.len() as u64 == offset && offset + bytes.len() as u64 <= total {
                buffer.extend_from_slice(bytes);
            } else {
                *staged = None;
            }
        }
    }

    /// Ends upload `upload` from `origin`: its op, if every part of its
    /// `total` bytes arrived and decodes to a write.
    pub fn assemble(&mut self, origin: u64, upload: u64, total: u64) -> Result<Op, &'static str> {
        let buffer = self.uploads.remove(&(origin, upload)).flatten();
        let buffer = buffer
            .filter(|buffer| buffer.len() as u64 == total)
            .ok_or(INCOMPLETE_ERROR)?;
        // Only the leader's own encoding of a write ever gets here; a part
        // that does not decode to one is a defect of the log's contents.
        match postcard::from_bytes::<Op>(&buffer) {
            Ok(op @ (Op::Write(_) | Op::Exec(_))) => Ok(op),
            Ok(other) => panic!("an upload assembled to {other:?}, not a write"),
            Err(error) => panic!("an upload of {total} bytes does not decode: {error}"),
        }
    }

    /// Bytes staged, for INFO.
    pub fn bytes(&self) -> usize {
        self.uploads.values().flatten().map(Vec::len).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uploads_of_two_origins_stay_apart() {
        let mut staged = Staged::default();
        staged.part(1, 1, 0, 4, b"ab");
        staged.part(2, 1, 0, 4, b"xy");
        staged.part(1, 1, 2, 4, b"cd");
        assert_eq!(staged.uploads[&(1, 1)].as_deref(), Some(&b"abcd"[..]));
        assert_eq!(staged.uploads[&(2, 1)].as_deref(), Some(&b"xy"[..]));
        // A part past the announced total breaks the upload.
        staged.part(2, 1, 2, 4, b"xyz");
        assert_eq!(staged.uploads[&(2, 1)], None);
    }
}
