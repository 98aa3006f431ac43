//! Small state files beside the segments: the vote and the purge point.
//!
//! Each is replaced whole, never edited in place: the new contents go to
//! `<name>.tmp`, which is fsynced, renamed over `<name>`, and then the
//! directory is fsynced. A reader therefore sees the old file or the new
//! one, never a mix, and a checksum guards against media damage.
//!
//! File format (written by [`write`]), little-endian:
//!
//! ```text
//! offset  size  field
//! 0       8     magic b"RDRFMETA"
//! 8       4     format version, 1
//! 12      4     kind: 1 = vote, 2 = purged
//! 16      4     payload length n
//! 20      4     CRC32C over bytes 0..20 then the payload
//! 24      n     payload: the vote's opaque bytes, or for `purged` the
//!               purged index (u64) followed by the caller's opaque id
//! ```

use std::fs::{self, File};
use std::io::{ErrorKind, Write};
use std::path::Path;

use bytes::Bytes;

use crate::error::Error;
use crate::Purged;

/// The vote file's name.
pub const VOTE_FILE: &str = "vote";
/// The purge point file's name.
pub const PURGED_FILE: &str = "purged";

const MAGIC: &[u8; 8] = b"RDRFMETA";
const VERSION: u32 = 1;
const HEADER_BYTES: usize = 24;
/// Limit on a meta file's payload, so a damaged length cannot make us
/// allocate without bound.
pub const META_PAYLOAD_BYTES_MAX: usize = 1 << 20;

/// What a meta file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Vote = 1,
    Purged = 2,
}

/// Atomically replaces `dir/name` with a meta file holding `payload`.
pub fn write(dir: &Path, name: &str, kind: Kind, payload: &[u8]) -> Result<(), Error> {
    assert!(
        payload.len() <= META_PAYLOAD_BYTES_MAX,
        "meta payload over its limit"
    );
    #[cfg(feature = "failpoints")]
    fail::fail_point!("raftlog::meta-write", |_| Err(Error::io(
        dir.join(name),
        &std::io::Error::other("failpoint")
    )));
    let mut bytes = Vec::with_capacity(HEADER_BYTES + payload.len());
    bytes.extend_from_slice(MAGIC);
    bytes.extend_from_slice(&VERSION.to_le_bytes());
    bytes.extend_from_slice(&(kind as u32).to_le_bytes());
    bytes.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    let crc = crc32c::crc32c_append(crc32c::crc32c(&bytes), payload);
    bytes.extend_from_slice(&crc.to_le_bytes());
    bytes.extend_from_slice(payload);

    let tmp = dir.join(format!("{name}.tmp"));
    let path = dir.join(name);
    let mut file = File::create(&tmp).map_err(|e| Error::io(&tmp, &e))?;
    file.write_all(&bytes).map_err(|e| Error::io(&tmp, &e))?;
    file.sync_all().map_err(|e| Error::io(&tmp, &e))?;
    fs::rename(&tmp, &path).map_err(|e| Error::io(&path, &e))?;
    sync_dir(dir)
}

/// Reads `dir/name`, or `None` if it does not exist.
pub fn read(dir: &Path, name: &str, kind: Kind) -> Result<Option<Bytes>, Error> {
    let path = dir.join(name);
    let bytes = match fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io(&path, &e)),
    };
    let corrupt = |why: &str| Err(Error::corrupt(&path, 0, why));
    if bytes.len() < HEADER_BYTES || &bytes[0..8] != MAGIC {
        return corrupt("bad meta file header");
    }
    let word = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes"));
    let len = word(16) as usize;
    if word(8) != VERSION || word(12) != kind as u32 || len != bytes.len() - HEADER_BYTES {
        return corrupt("bad meta file version, kind or length");
    }
    let crc = crc32c::crc32c_append(crc32c::crc32c(&bytes[0..20]), &bytes[HEADER_BYTES..]);
    if crc != word(20) {
        return corrupt("meta file checksum mismatch");
    }
    Ok(Some(Bytes::copy_from_slice(&bytes[HEADER_BYTES..])))
}

/// Encodes the purge point's payload.
pub fn encode_purged(purged: &Purged) -> Vec<u8> {
    let mut payload = purged.index.to_le_bytes().to_vec();
    payload.extend_from_slice(&purged.id);
    payload
}

/// Reads the purge point, if one was ever saved.
pub fn read_purged(dir: &Path) -> Result<Option<Purged>, Error> {
    let Some(payload) = read(dir, PURGED_FILE, Kind::Purged)? else {
        return Ok(None);
    };
    if payload.len() < 8 {
        return Err(Error::corrupt(
            dir.join(PURGED_FILE),
            0,
            "purged payload too short",
        ));
    }
    let index = u64::from_le_bytes(payload[0..8].try_into().expect("8 bytes"));
    Ok(Some(Purged {
        index,
        id: payload.slice(8..),
    }))
}

/// Fsyncs a directory, making renames, creations and unlinks in it durable.
pub fn sync_dir(dir: &Path) -> Result<(), Error> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io(dir, &e))
}
