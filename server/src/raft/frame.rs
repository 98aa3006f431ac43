//! The wire format of the Raft peer transport, shared by the client
//! ([`super::network`]) and the server ([`super::peer_server`]).
//!
//! A peer connection is a plain TCP stream of frames. Every frame is
//!
//! ```text
//! +--------------------+---------------------------------------------+
//! | len: u32, big end. | body: `len` bytes, postcard-encoded message |
//! +--------------------+---------------------------------------------+
//! ```
//!
//! where the body is a [`ClientFrame`] (client to server) or a
//! [`ServerFrame`] (server to client), encoded with postcard 1.x (the same
//! serde format the log store uses for entries). A connection runs:
//!
//! 1. The client sends [`ClientFrame::Hello`] (protocol version, its own id
//!    and the node id it means to reach); the server answers
//!    [`ServerFrame::Hello`], accepting or refusing. A refusal (version or
//!    node id mismatch, so a misconfigured address never delivers votes or
//!    entries to the wrong node) is followed by the server closing.
//! 2. Then any number of exchanges, strictly one at a time: the client sends
//!    [`ClientFrame::Request`] with a fresh request id, the server answers
//!    [`ServerFrame::Response`] with the same id and the `Raft` call's
//!    result, errors included (openraft's error types are serde types).
//!    Besides openraft's RPCs, [`Rpc::Ping`] probes liveness (the health
//!    monitor) and [`Rpc::Admin`] carries an admin API request forwarded to
//!    the leader (`/cluster/join`, `/cluster/leave`), answered with the
//!    HTTP status and JSON body the leader's API gave.
//!
//! Invariants:
//! - `len` never exceeds the reader's `frame_bytes_max`; a longer frame is
//!   refused before anything is allocated for it, and the connection is
//!   closed (the stream cannot be resynchronized).
//! - A body decodes to exactly one message with no trailing bytes; anything
//!   else is a malformed frame and closes the connection.
//! - At most one request is outstanding per connection, so a response whose
//!   id is not the outstanding request's is a protocol error.

use std::fmt;
use std::io;

use openraft::error::{InstallSnapshotError, RaftError};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use openraft::RaftTypeConfig;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Version of this format, exchanged in the hello. Bump it on any change
/// to the messages below: postcard is not self-describing, so two versions
/// must never read each other's frames.
pub const PROTOCOL_VERSION: u32 = 3;

/// Default largest frame body, both directions. Append-entries batches and
/// snapshot chunks (openraft's `snapshot_max_chunk_size`, 3 MiB by default)
/// stay far below it.
pub const FRAME_BYTES_MAX_DEFAULT: usize = 64 << 20;

/// Largest hello frame body, either direction. The first frame on a
/// connection is read with this limit, so a client that has not yet
/// shaken hands cannot make the server allocate more.
pub const HELLO_BYTES_MAX: usize = 4 << 10;

/// Bytes of the length prefix.
pub const LEN_BYTES: usize = 4;

/// A message from the connecting node (the Raft leader or candidate).
#[derive(Serialize, Deserialize)]
#[serde(bound = "")]
pub enum ClientFrame<C: RaftTypeConfig> {
    /// First frame on every connection.
    Hello {
        /// The sender's [`PROTOCOL_VERSION`].
        version: u32,
        /// The sender's node id (for the server's logs).
        from: C::NodeId,
        /// The node id the sender believes it is talking to.
        target: C::NodeId,
    },
    /// One Raft RPC.
    Request {
        /// Chosen by the client, echoed in the response.
        id: u64,
        rpc: Rpc<C>,
    },
}

/// The Raft RPCs, exactly openraft's request types.
#[derive(Serialize, Deserialize)]
#[serde(bound = "")]
pub enum Rpc<C: RaftTypeConfig> {
    AppendEntries(AppendEntriesRequest<C>),
    Vote(VoteRequest<C::NodeId>),
    InstallSnapshot(InstallSnapshotRequest<C>),
    /// A liveness probe; answered with [`Reply::Pong`].
    Ping,
    /// An admin API request forwarded to the leader.
    Admin(AdminCall),
}

/// An admin API request as forwarded: the path and the JSON body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdminCall {
    /// The API path, e.g. `/cluster/join`.
    pub path: String,
    /// The request's JSON body, as the client sent it.
    pub body: Vec<u8>,
}

/// The leader's answer to an [`AdminCall`]: what its API would have
/// answered over HTTP.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdminAnswer {
    /// The HTTP status code.
    pub status: u16,
    /// The JSON body.
    pub body: Vec<u8>,
}

/// A message from the node that serves RPCs.
#[derive(Serialize, Deserialize)]
#[serde(bound = "")]
pub enum ServerFrame<C: RaftTypeConfig> {
    /// The answer to [`ClientFrame::Hello`]: `Err` carries why the server
    /// refuses, and the server closes right after sending it.
    Hello(Result<(), String>),
    /// The answer to [`ClientFrame::Request`] with the same id.
    Response { id: u64, reply: Reply<C> },
}

/// The result of the local `Raft` call, one variant per [`Rpc`] variant.
#[derive(Serialize, Deserialize)]
#[serde(bound = "")]
pub enum Reply<C: RaftTypeConfig> {
    AppendEntries(Result<AppendEntriesResponse<C::NodeId>, RaftError<C::NodeId>>),
    Vote(Result<VoteResponse<C::NodeId>, RaftError<C::NodeId>>),
    InstallSnapshot(
        Result<InstallSnapshotResponse<C::NodeId>, RaftError<C::NodeId, InstallSnapshotError>>,
    ),
    Pong(Standing),
    Admin(AdminAnswer),
}

/// What a pinged node knows of the pinging one: whether it is in the
/// newest membership the pinged node has, and that membership's log
/// index. A node that learns it is not a member of a membership at
/// least as new as its own has been removed (`raft::probe`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Standing {
    pub member: bool,
    pub membership_index: u64,
}

/// Why a frame could not be written or read.
#[derive(Debug)]
pub enum FrameError {
    /// The stream failed, or ended inside a frame (`UnexpectedEof`).
    Io(io::Error),
    /// A frame body longer than the limit (on write: not sent at all).
    TooLarge { len: usize, max: usize },
    /// The message could not be encoded (a serde error; a bug, not input).
    Encode(postcard::Error),
    /// The body is not one well-formed message of the expected type.
    Decode(postcard::Error),
    /// The body decoded with bytes left over.
    TrailingBytes(usize),
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameError::Io(e) => write!(f, "peer stream: {e}"),
            FrameError::TooLarge { len, max } => {
                write!(f, "frame of {len} bytes exceeds the {max} byte limit")
            }
            FrameError::Encode(e) => write!(f, "encoding a frame: {e}"),
            FrameError::Decode(e) => write!(f, "malformed frame: {e}"),
            FrameError::TrailingBytes(n) => write!(f, "malformed frame: {n} trailing bytes"),
        }
    }
}

impl std::error::Error for FrameError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            FrameError::Io(e) => Some(e),
            FrameError::Encode(e) | FrameError::Decode(e) => Some(e),
            FrameError::TooLarge { .. } | FrameError::TrailingBytes(_) => None,
        }
    }
}

impl From<io::Error> for FrameError {
    fn from(e: io::Error) -> Self {
        FrameError::Io(e)
    }
}

/// Encodes `message` as one whole frame (length prefix included), ready to
/// be written with a single `write_all`.
pub fn encode<T: Serialize>(message: &T, frame_bytes_max: usize) -> Result<Vec<u8>, FrameError> {
    let buf = postcard::to_extend(message, vec![0u8; LEN_BYTES]).map_err(FrameError::Encode)?;
    let len = buf.len() - LEN_BYTES;
    check_len(len, frame_bytes_max)?;
    let mut frame = buf;
    frame[..LEN_BYTES].copy_from_slice(&(len as u32).to_be_bytes());
    Ok(frame)
}

/// The body length a frame header announces, if within the limit.
pub fn parse_header(header: [u8; LEN_BYTES], frame_bytes_max: usize) -> Result<usize, FrameError> {
    let len = u32::from_be_bytes(header) as usize;
    check_len(len, frame_bytes_max)?;
    Ok(len)
}

/// Decodes a frame body (without its length prefix).
pub fn decode<T: DeserializeOwned>(body: &[u8]) -> Result<T, FrameError> {
    let (message, rest) = postcard::take_from_bytes(body).map_err(FrameError::Decode)?;
    if !rest.is_empty() {
        return Err(FrameError::TrailingBytes(rest.len()));
    }
    Ok(message)
}

fn check_len(len: usize, frame_bytes_max: usize) -> Result<(), FrameError> {
    let max = frame_bytes_max.min(u32::MAX as usize);
    if len > max {
        return Err(FrameError::TooLarge { len, max });
    }
    Ok(())
}

/// Writes one frame already built by [`encode`].
pub async fn write_frame<W: AsyncWrite + Unpin>(
    writer: &mut W,
    frame: &[u8],
) -> Result<(), FrameError> {
    debug_assert!(
        frame.len() >= LEN_BYTES,
        "a frame starts with its length prefix"
    );
    writer.write_all(frame).await?;
    writer.flush().await?;
    Ok(())
}

/// Reads one frame. `Ok(None)` is a clean end of stream at a frame
/// boundary; an end of stream inside a frame is `Io(UnexpectedEof)`.
pub async fn read_frame<R, T>(
    reader: &mut R,
    frame_bytes_max: usize,
) -> Result<Option<T>, FrameError>
where
    R: AsyncRead + Unpin,
    T: DeserializeOwned,
{
    let mut header = [0u8; LEN_BYTES];
    let mut filled = 0;
    while filled < LEN_BYTES {
        match reader.read(&mut header[filled..]).await? {
            0 if filled == 0 => return Ok(None),
            0 => return Err(FrameError::Io(io::ErrorKind::UnexpectedEof.into())),
            n => filled += n,
        }
    }
    let len = parse_header(header, frame_bytes_max)?;
    let body = read_body(reader, len).await?;
    decode(&body).map(Some)
}

/// First buffer size for a frame body; see [`read_body`].
const BODY_CHUNK_BYTES: usize = 64 << 10;

/// Reads `len` bytes, growing the buffer (doubling, never past `len`) only
/// as bytes arrive: a header announcing a large frame costs memory only
/// once the peer actually sends that much.
async fn read_body<R: AsyncRead + Unpin>(
    reader: &mut R,
    len: usize,
) -> Result<Vec<u8>, FrameError> {
    let mut body = Vec::with_capacity(len.min(BODY_CHUNK_BYTES));
    while body.len() < len {
        if body.len() == body.capacity() {
            body.reserve_exact((len - body.len()).min(body.capacity()));
        }
        let spare = (body.capacity() - body.len()).min(len - body.len());
        let n = (&mut *reader)
            .take(spare as u64)
            .read_buf(&mut body)
            .await?;
        if n == 0 {
            return Err(FrameError::Io(io::ErrorKind::UnexpectedEof.into()));
        }
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    use openraft::{CommittedLeaderId, LogId, Vote};

    openraft::declare_raft_types!(
        TestConfig:
            D = String,
            R = String,
    );

    fn vote_request() -> ClientFrame<TestConfig> {
        ClientFrame::Request {
            id: 7,
            rpc: Rpc::Vote(VoteRequest::new(
                Vote::new(3, 1),
                Some(LogId::new(CommittedLeaderId::new(2, 1), 9)),
            )),
        }
    }

    #[test]
    fn frame_starts_with_big_endian_body_length() {
        let frame = encode(&vote_request(), FRAME_BYTES_MAX_DEFAULT).unwrap();
        let len = u32::from_be_bytes(frame[..4].try_into().unwrap()) as usize;
        assert_eq!(len, frame.len() - LEN_BYTES);
    }

    #[tokio::test]
    async fn frames_round_trip_back_to_back() {
        let mut bytes = encode(&vote_request(), FRAME_BYTES_MAX_DEFAULT).unwrap();
        bytes.extend(encode(&vote_request(), FRAME_BYTES_MAX_DEFAULT).unwrap());
        let mut reader = &bytes[..];
        for _ in 0..2 {
            let frame: ClientFrame<TestConfig> =
                read_frame(&mut reader, 1024).await.unwrap().unwrap();
            match frame {
                ClientFrame::Request {
                    id: 7,
                    rpc: Rpc::Vote(vote),
                } => assert_eq!(vote.vote, Vote::new(3, 1)),
                _ => panic!("decoded the wrong message"),
            }
        }
        let end: Option<ClientFrame<TestConfig>> = read_frame(&mut reader, 1024).await.unwrap();
        assert!(end.is_none(), "a clean end of stream is not an error");
    }

    #[tokio::test]
    async fn admin_calls_and_pings_round_trip() {
        let call = ClientFrame::<TestConfig>::Request {
            id: 9,
            rpc: Rpc::Admin(AdminCall {
                path: "/cluster/join".into(),
                body: br#"{"id":4}"#.to_vec(),
            }),
        };
        let bytes = encode(&call, 1024).unwrap();
        match read_frame::<_, ClientFrame<TestConfig>>(&mut &bytes[..], 1024)
            .await
            .unwrap()
        {
            Some(ClientFrame::Request {
                id: 9,
                rpc: Rpc::Admin(got),
            }) => assert_eq!(got.body, br#"{"id":4}"#),
            _ => panic!("decoded the wrong message"),
        }
        let pong = ServerFrame::<TestConfig>::Response {
            id: 3,
            reply: Reply::Pong(Standing {
                member: false,
                membership_index: 7,
            }),
        };
        let bytes = encode(&pong, 1024).unwrap();
        assert!(matches!(
            read_frame::<_, ServerFrame<TestConfig>>(&mut &bytes[..], 1024).await,
            Ok(Some(ServerFrame::Response {
                id: 3,
                reply: Reply::Pong(Standing {
                    member: false,
                    membership_index: 7
                })
            }))
        ));
    }

    #[tokio::test]
    async fn oversized_frame_is_refused_on_both_sides() {
        let big = encode(&vote_request(), FRAME_BYTES_MAX_DEFAULT).unwrap();
        let limit = big.len() - LEN_BYTES - 1;
        assert!(matches!(
            encode(&vote_request(), limit),
            Err(FrameError::TooLarge { .. })
        ));
        // A header announcing 4 GiB is refused before any allocation.
        let mut reader = &[0xff, 0xff, 0xff, 0xff, 0][..];
        let result: Result<Option<ClientFrame<TestConfig>>, _> =
            read_frame(&mut reader, limit).await;
        assert!(matches!(
            result,
            Err(FrameError::TooLarge {
                len: 0xffff_ffff,
                ..
            })
        ));
    }

    #[tokio::test]
    async fn truncated_frame_is_unexpected_eof() {
        let frame = encode(&vote_request(), FRAME_BYTES_MAX_DEFAULT).unwrap();
        for cut in 1..frame.len() {
            let mut reader = &frame[..cut];
            let result: Result<Option<ClientFrame<TestConfig>>, _> =
                read_frame(&mut reader, FRAME_BYTES_MAX_DEFAULT).await;
            match result {
                Err(FrameError::Io(e)) => {
                    assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof, "cut at {cut}")
                }
                _ => panic!("a frame cut at byte {cut} must be UnexpectedEof"),
            }
        }
    }

    #[tokio::test]
    async fn garbage_and_trailing_bytes_are_malformed() {
        let mut garbage = vec![0, 0, 0, 3];
        garbage.extend([0xff, 0xff, 0xff]);
        let result: Result<Option<ClientFrame<TestConfig>>, _> =
            read_frame(&mut &garbage[..], 1024).await;
        assert!(matches!(result, Err(FrameError::Decode(_))));

        let mut body = postcard::to_allocvec(&vote_request()).unwrap();
        body.push(0);
        let mut frame = (body.len() as u32).to_be_bytes().to_vec();
        frame.extend(body);
        let result: Result<Option<ClientFrame<TestConfig>>, _> =
            read_frame(&mut &frame[..], 1024).await;
        assert!(matches!(result, Err(FrameError::TrailingBytes(1))));
    }
}
