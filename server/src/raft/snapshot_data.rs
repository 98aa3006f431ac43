//! How a snapshot's bytes travel through openraft: [`SnapshotData`], a
//! seekable buffer that is either a run being sent (shared, no copy: a
//! slice of the mapped run file) or a run being received (a growing
//! `Vec`).
//!
//! openraft 0.9 reads a snapshot to send it in chunks and writes received
//! chunks into a buffer from `begin_receiving_snapshot`; both go through
//! tokio's `AsyncRead` / `AsyncWrite` / `AsyncSeek`, which this type
//! forwards to a `std::io::Cursor`.
//!
//! Invariants:
//! - A buffer made for sending is never written (a write fails).
//! - `into_bytes` gives exactly the bytes written or shared, whatever the
//!   cursor's position.

use std::io::{self, Cursor, SeekFrom};
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncSeek, AsyncWrite, ReadBuf};

/// A snapshot's bytes; see the module docs.
#[derive(Debug)]
pub struct SnapshotData(Buffer);

#[derive(Debug)]
enum Buffer {
    /// A run file's bytes, to be read.
    Sending(Cursor<Bytes>),
    /// Bytes being received.
    Receiving(Cursor<Vec<u8>>),
}

impl SnapshotData {
    /// `bytes`, to be read from the start.
    pub fn sending(bytes: Bytes) -> SnapshotData {
        SnapshotData(Buffer::Sending(Cursor::new(bytes)))
    }

    /// An empty buffer to receive into.
    pub fn receiving() -> SnapshotData {
        SnapshotData(Buffer::Receiving(Cursor::new(Vec::new())))
    }

    /// Every byte held.
    pub fn into_bytes(self) -> Bytes {
        match self.0 {
            Buffer::Sending(cursor) => cursor.into_inner(),
            Buffer::Receiving(cursor) => Bytes::from(cursor.into_inner()),
        }
    }
}

impl From<Vec<u8>> for SnapshotData {
    /// `data`, as if received.
    fn from(data: Vec<u8>) -> SnapshotData {
        SnapshotData(Buffer::Receiving(Cursor::new(data)))
    }
}

impl AsyncRead for SnapshotData {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match &mut self.get_mut().0 {
            Buffer::Sending(cursor) => Pin::new(cursor).poll_read(cx, buf),
            Buffer::Receiving(cursor) => Pin::new(cursor).poll_read(cx, buf),
        }
    }
}

impl AsyncSeek for SnapshotData {
    fn start_seek(self: Pin<&mut Self>, position: SeekFrom) -> io::Result<()> {
        match &mut self.get_mut().0 {
            Buffer::Sending(cursor) => Pin::new(cursor).start_seek(position),
            Buffer::Receiving(cursor) => Pin::new(cursor).start_seek(position),
        }
    }

    fn poll_complete(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<u64>> {
        match &mut self.get_mut().0 {
            Buffer::Sending(cursor) => Pin::new(cursor).poll_complete(cx),
            Buffer::Receiving(cursor) => Pin::new(cursor).poll_complete(cx),
        }
    }
}

impl AsyncWrite for SnapshotData {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        match &mut self.get_mut().0 {
            Buffer::Sending(_) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                "a snapshot being sent is read-only",
            ))),
            Buffer::Receiving(cursor) => Pin::new(cursor).poll_write(cx, data),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

    use super::*;

    #[tokio::test]
    async fn chunks_written_at_offsets_read_back_whole() {
        let mut received = SnapshotData::receiving();
        received.write_all(b"hello ").await.unwrap();
        received.seek(SeekFrom::Start(6)).await.unwrap();
        received.write_all(b"world").await.unwrap();
        let bytes = received.into_bytes();
        assert_eq!(&bytes[..], b"hello world");

        let mut sending = SnapshotData::sending(bytes);
        sending.seek(SeekFrom::Start(6)).await.unwrap();
        let mut tail = String::new();
        sending.read_to_string(&mut tail).await.unwrap();
        assert_eq!(tail, "world");
        assert!(
            sending.write_all(b"x").await.is_err(),
            "sending is read-only"
        );
    }
}
