//! Large writes through the log in bounded pieces.
//!
//! A write bigger than [`UPLOAD_BYTES_MIN`] as sent (a 5 MB SET, a MULTI of
//! a million commands, a 512 MB RESTORE) is not put in one entry: the
//! proposer ([`Uploads`]) encodes its op once and sends it as
//! [`Op::Part`]s of at most [`PART_BYTES_MAX`] bytes, one part per entry
//! beside the other connections' writes, then an [`Op::Assembled`] that
//! carries its reply's route. Apply ([`Staged`](crate::apply::Staged)) collects the parts and, at
//! `Assembled`, decodes the op and applies it like any other, atomically.
//! So every entry (and every append-entries RPC) stays bounded, and small
//! writes keep flowing while a large one is transferred.
//!
//! Invariants:
//! - The writer's later writes are proposed only after its `Assembled`
//!   (the proposer holds them), so one connection's writes still apply in
//!   its order; other connections' writes go past.
//! - An upload completes only within the term it started in: a leader's
//!   parts and its `Assembled` are either all in the log or the upload is
//!   cut off by a new term, which drops every staged upload (entries of
//!   an older term never follow a newer one in the log).
//! - Parts carry their offset; one missing or out of order breaks the
//!   upload, and its `Assembled` replies
//!   [`INCOMPLETE_ERROR`](crate::apply::INCOMPLETE_ERROR): the write is
//!   refused whole, never applied in part.
//! - Staged parts are replicated state: snapshots carry them.

use bytes::Bytes;

use crate::route::{Op, Proposal, Route};

/// Writes larger than this as sent go through the log in parts.
pub const UPLOAD_BYTES_MIN: usize = 1 << 20;
/// Most bytes of an encoded write in one part.
pub const PART_BYTES_MAX: usize = 1 << 20;

/// The proposer's side: the write being sent in parts, if any.
#[derive(Default)]
pub struct Uploads {
    sending: Option<Sending>,
    /// Uploads begun by this proposer run, to name each one.
    started: u64,
}

/// A write on its way to the log.
struct Sending {
    upload: u64,
    route: Option<Route>,
    db: u8,
    /// The client whose later writes wait for this one.
    client_id: Option<u64>,
    encoded: Bytes,
    /// Bytes of `encoded` already in parts.
    sent: usize,
}

/// One command of an entry that carries part of an upload, with the route
/// of its reply (only `Assembled` has one).
pub struct UploadCommand {
    pub db: u8,
    pub op: Op,
    pub route: Option<Route>,
}

impl Uploads {
    /// Whether `proposal` is large enough to be sent in parts.
    pub fn needs_parts(proposal: &Proposal) -> bool {
        proposal.bytes as usize > UPLOAD_BYTES_MIN
    }

    /// Whether a write is being sent.
    pub fn busy(&self) -> bool {
        self.sending.is_some()
    }

    /// The client whose writes wait for the upload in progress.
    pub fn holding(&self) -> Option<u64> {
        self.sending.as_ref().and_then(|sending| sending.client_id)
    }

    /// Starts sending `proposal` (none may be in progress).
    pub fn begin(&mut self, proposal: Proposal, client_id: Option<u64>) {
        assert!(self.sending.is_none(), "one upload at a time");
        let encoded = postcard::to_stdvec(&proposal.op).expect("an op serializes");
        self.started += 1;
        self.sending = Some(Sending {
            upload: self.started,
            route: proposal.route,
            db: proposal.db,
            client_id,
            encoded: Bytes::from(encoded),
            sent: 0,
        });
    }

    /// The next entry's commands of the upload in progress: its next part,
    /// and after the last part its `Assembled`, which ends the upload.
    pub fn next_commands(&mut self, out: &mut Vec<UploadCommand>) {
        let Some(sending) = self.sending.as_mut() else {
            return;
        };
        let total = sending.encoded.len();
        let end = (sending.sent + PART_BYTES_MAX).min(total);
        out.push(UploadCommand {
            db: sending.db,
            op: Op::Part {
                upload: sending.upload,
                offset: sending.sent as u64,
                total: total as u64,
                bytes: sending.encoded.slice(sending.sent..end),
            },
            route: None,
        });
        sending.sent = end;
        if end == total {
            out.push(UploadCommand {
                db: sending.db,
                op: Op::Assembled {
                    upload: sending.upload,
                    total: total as u64,
                },
                route: sending.route,
            });
            self.sending = None;
        }
    }

    /// Gives up the upload in progress (this node no longer leads) and
    /// returns its route, to be refused.
    pub fn abandon(&mut self) -> Option<Route> {
        self.sending.take().and_then(|sending| sending.route)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apply::{Staged, INCOMPLETE_ERROR};
    use redraft_engine::WriteOp;

    fn append(value_bytes: usize) -> Proposal {
        let value = Bytes::from(vec![b'v'; value_bytes]);
        Proposal {
            route: None,
            db: 3,
            op: Op::Write(WriteOp::Append {
                key: Bytes::from_static(b"k"),
                value: value.clone(),
            }),
            bytes: value_bytes as u32 + 30,
        }
    }

    /// Sends `proposal` through `Uploads` and applies every command to
    /// `staged`: the entries' sizes and what the `Assembled` gave.
    fn transfer(proposal: Proposal, staged: &mut Staged) -> (Vec<usize>, Result<Op, &str>) {
        let mut uploads = Uploads::default();
        uploads.begin(proposal, Some(7));
        assert_eq!(uploads.holding(), Some(7));
        let mut entry_bytes = Vec::new();
        loop {
            let mut commands = Vec::new();
            uploads.next_commands(&mut commands);
            let mut size = 0;
            for command in commands {
                assert_eq!(command.db, 3);
                match command.op {
                    Op::Part {
                        upload,
                        offset,
                        total,
                        bytes,
                    } => {
                        assert!(command.route.is_none());
                        size += bytes.len();
                        staged.part(1, upload, offset, total, &bytes);
                    }
                    Op::Assembled { upload, total } => {
                        entry_bytes.push(size);
                        assert!(!uploads.busy());
                        return (entry_bytes, staged.assemble(1, upload, total));
                    }
                    other => panic!("unexpected {other:?}"),
                }
            }
            entry_bytes.push(size);
        }
    }

    #[test]
    fn parts_assemble_the_write() {
        let proposal = append(5_000_000);
        let op = proposal.op.clone();
        let mut staged = Staged::default();
        let (entries, assembled) = transfer(proposal, &mut staged);
        assert_eq!(assembled, Ok(op));
        assert_eq!(entries.len(), 5);
        assert!(entries.iter().all(|&bytes| bytes <= PART_BYTES_MAX));
        assert_eq!(staged.bytes(), 0, "nothing stays staged");
    }

    #[test]
    fn a_new_term_or_a_lost_part_refuses_the_write() {
        let mut uploads = Uploads::default();
        uploads.begin(append(3_000_000), None);
        let mut commands = Vec::new();
        uploads.next_commands(&mut commands);
        uploads.next_commands(&mut commands);
        let Op::Part { upload, total, .. } = commands[0].op else {
            panic!("a part first");
        };
        let parts: Vec<(u64, Bytes)> = commands
            .iter()
            .map(|command| match &command.op {
                Op::Part { offset, bytes, .. } => (*offset, bytes.clone()),
                other => panic!("unexpected {other:?}"),
            })
            .collect();

        // Parts from an older term are dropped.
        let mut staged = Staged::default();
        staged.enter_term(1);
        for (offset, bytes) in &parts {
            staged.part(1, upload, *offset, total, bytes);
        }
        assert!(staged.bytes() > 0);
        staged.enter_term(2);
        assert_eq!(staged.bytes(), 0);
        assert_eq!(staged.assemble(1, upload, total), Err(INCOMPLETE_ERROR));

        // A part skipped.
        let mut staged = Staged::default();
        staged.part(1, upload, parts[1].0, total, &parts[1].1);
        assert_eq!(staged.assemble(1, upload, total), Err(INCOMPLETE_ERROR));

        // All parts present but the last never came.
        let mut staged = Staged::default();
        for (offset, bytes) in &parts {
            staged.part(1, upload, *offset, total, bytes);
        }
        assert_eq!(staged.assemble(1, upload, total), Err(INCOMPLETE_ERROR));
    }

    #[test]
    fn small_writes_are_not_uploaded() {
        assert!(!Uploads::needs_parts(&append(UPLOAD_BYTES_MIN - 100)));
        assert!(Uploads::needs_parts(&append(UPLOAD_BYTES_MIN)));
    }
}
