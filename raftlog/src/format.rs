//! The on-disk byte format of segments and records (see also
//! `docs/raftlog-format.md`). All integers are little-endian.
//!
//! A segment file `<first index, 20 digits>.log` is:
//!
//! ```text
//! offset  size  segment header (SEGMENT_HEADER_BYTES = 32)
//! 0       8     magic b"RDRFTLOG"
//! 8       4     format version, 1
//! 12      4     reserved, 0
//! 16      8     first_index: the index of the first record in this file
//! 24      4     CRC32C of bytes 0..24
//! 28      4     reserved, 0
//! 32      ...   records, each starting at a multiple of 8, then an end marker
//! ```
//!
//! A record (written by [`encode_record`]):
//!
//! ```text
//! offset  size  field
//! 0       4     len: header + payload bytes (24 + payload), padding excluded; never 0
//! 4       4     crc: CRC32C over bytes 0..4 then 8..len (len, term, index, payload)
//! 8       8     term
//! 16      8     index: the previous record's index + 1 (the first: first_index)
//! 24      n     payload (opaque)
//! 24+n    0..7  zero padding to the next multiple of 8
//! ```
//!
//! The end marker is 8 zero bytes at the offset where the next record would
//! start (`len == 0` cannot be a record). Every write appends its records
//! and a fresh end marker; the next write starts on top of that marker.
//!
//! Invariants and why they hold:
//! - The length and checksum never tear: records start on 8-byte
//!   boundaries, so the 8-byte word holding `len` and `crc` always lies
//!   inside one 512-byte (or 4 KiB) sector, which the device writes whole.
//!   A torn record therefore shows up as a checksum mismatch, never as a
//!   half-old, half-new length that sends the scan elsewhere.
//! - A record is valid only if its checksum verifies and its index is the
//!   one expected at that position, so stale records left in a recycled
//!   segment (all with smaller indexes) never pass for live ones.
//! - The scan stops at the end marker; bytes after it are ignored.

use bytes::Bytes;

/// Bytes of the segment header; records start right after it.
pub const SEGMENT_HEADER_BYTES: usize = 32;
/// Bytes of a record header (len, crc, term, index).
pub const RECORD_HEADER_BYTES: usize = 24;
/// Bytes of the zero word that ends the records of a segment.
pub const END_MARKER_BYTES: usize = 8;
/// Alignment of every record start.
pub const RECORD_ALIGN_BYTES: usize = 8;

const SEGMENT_MAGIC: &[u8; 8] = b"RDRFTLOG";
const FORMAT_VERSION: u32 = 1;

/// Bytes a record with `payload_bytes` of payload takes on disk, padding
/// included.
pub fn record_bytes(payload_bytes: usize) -> usize {
    (RECORD_HEADER_BYTES + payload_bytes).next_multiple_of(RECORD_ALIGN_BYTES)
}

/// The file name of the segment whose first record has `first_index`.
pub fn segment_file_name(first_index: u64) -> String {
    format!("{first_index:020}.log")
}

/// The first index named by a segment file name, if it is one.
pub fn parse_segment_file_name(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(".log")?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// Encodes the segment header for a segment starting at `first_index`.
pub fn encode_segment_header(first_index: u64) -> [u8; SEGMENT_HEADER_BYTES] {
    let mut header = [0u8; SEGMENT_HEADER_BYTES];
    header[0..8].copy_from_slice(SEGMENT_MAGIC);
    header[8..12].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
    header[16..24].copy_from_slice(&first_index.to_le_bytes());
    let crc = crc32c::crc32c(&header[0..24]);
    header[24..28].copy_from_slice(&crc.to_le_bytes());
    header
}

/// Decodes a segment header, returning its first index or why it is bad.
pub fn decode_segment_header(bytes: &[u8]) -> Result<u64, &'static str> {
    if bytes.len() < SEGMENT_HEADER_BYTES {
        return Err("file shorter than the segment header");
    }
    if &bytes[0..8] != SEGMENT_MAGIC {
        return Err("bad segment magic");
    }
    if crc32c::crc32c(&bytes[0..24]) != u32_at(bytes, 24) {
        return Err("segment header checksum mismatch");
    }
    if u32_at(bytes, 8) != FORMAT_VERSION {
        return Err("unsupported segment format version");
    }
    Ok(u64_at(bytes, 16))
}

/// Appends one record to `buf`, whose length must be a multiple of 8 (it
/// mirrors the file from an aligned offset).
pub fn encode_record(buf: &mut Vec<u8>, term: u64, index: u64, payload: &[u8]) {
    debug_assert_eq!(
        buf.len() % RECORD_ALIGN_BYTES,
        0,
        "record start must be aligned"
    );
    let len = RECORD_HEADER_BYTES + payload.len();
    let len_u32 = u32::try_from(len).expect("record length fits u32 (config limits entries)");
    let start = buf.len();
    buf.extend_from_slice(&len_u32.to_le_bytes());
    buf.extend_from_slice(&[0; 4]);
    buf.extend_from_slice(&term.to_le_bytes());
    buf.extend_from_slice(&index.to_le_bytes());
    buf.extend_from_slice(payload);
    let crc = crc32c::crc32c_append(crc32c::crc32c(&buf[start..start + 4]), &buf[start + 8..]);
    buf[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
    buf.resize(start + record_bytes(payload.len()), 0);
}

/// What sits at an aligned offset of a segment.
#[derive(Debug, PartialEq, Eq)]
pub enum Decoded {
    /// A record whose checksum verifies; `bytes` is its padded size.
    Record {
        term: u64,
        index: u64,
        payload: std::ops::Range<usize>,
        bytes: usize,
    },
    /// The end marker: no more records in this segment.
    End,
    /// Neither: a torn or damaged record, with the reason.
    Bad(&'static str),
}

/// Decodes whatever sits at `offset` of `buf` (a whole segment, or a span
/// of one read back from disk). It checks framing and checksum; the
/// caller checks that the index is the one expected.
pub fn decode_at(buf: &[u8], offset: usize) -> Decoded {
    debug_assert_eq!(offset % RECORD_ALIGN_BYTES, 0, "records are aligned");
    if offset + END_MARKER_BYTES > buf.len() {
        return Decoded::Bad("end of file before the end marker");
    }
    let len = u32_at(buf, offset) as usize;
    let crc = u32_at(buf, offset + 4);
    if len == 0 {
        return if crc == 0 {
            Decoded::End
        } else {
            Decoded::Bad("zero length with a checksum")
        };
    }
    if len < RECORD_HEADER_BYTES {
        return Decoded::Bad("record length below the header size");
    }
    let padded = len.next_multiple_of(RECORD_ALIGN_BYTES);
    if offset + padded > buf.len() {
        return Decoded::Bad("record extends past the end of the file");
    }
    let record = &buf[offset..offset + len];
    if crc32c::crc32c_append(crc32c::crc32c(&record[0..4]), &record[8..]) != crc {
        return Decoded::Bad("record checksum mismatch");
    }
    Decoded::Record {
        term: u64_at(record, 8),
        index: u64_at(record, 16),
        payload: offset + RECORD_HEADER_BYTES..offset + len,
        bytes: padded,
    }
}

/// Decodes the record at `offset` and checks that it holds `index`,
/// returning the entry and the offset after it.
pub fn decode_entry(
    buf: &[u8],
    offset: usize,
    index: u64,
) -> Result<(crate::Entry, usize), &'static str> {
    match decode_at(buf, offset) {
        Decoded::Record {
            term,
            index: got,
            payload,
            bytes,
        } if got == index => Ok((
            crate::Entry {
                index,
                term,
                payload: Bytes::copy_from_slice(&buf[payload]),
            },
            offset + bytes,
        )),
        Decoded::Record { .. } => Err("record holds an unexpected index"),
        Decoded::End => Err("end marker where a record was expected"),
        Decoded::Bad(reason) => Err(reason),
    }
}

fn u32_at(buf: &[u8], offset: usize) -> u32 {
    u32::from_le_bytes(buf[offset..offset + 4].try_into().expect("4 bytes"))
}

fn u64_at(buf: &[u8], offset: usize) -> u64 {
    u64::from_le_bytes(buf[offset..offset + 8].try_into().expect("8 bytes"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_round_trips_and_is_aligned() {
        for payload_bytes in [0usize, 1, 7, 8, 9, 128, 1000] {
            let payload: Vec<u8> = (0..payload_bytes).map(|i| i as u8).collect();
            let mut buf = Vec::new();
            encode_record(&mut buf, 3, 42, &payload);
            assert_eq!(buf.len(), record_bytes(payload_bytes));
            assert_eq!(buf.len() % 8, 0);
            buf.extend_from_slice(&[0; 8]);
            let (entry, next) = decode_entry(&buf, 0, 42).expect("decodes");
            assert_eq!(
                (entry.term, entry.index, &entry.payload[..]),
                (3, 42, &payload[..])
            );
            assert_eq!(decode_at(&buf, next), Decoded::End);
        }
    }

    #[test]
    fn every_single_byte_flip_is_detected() {
        let mut buf = Vec::new();
        encode_record(&mut buf, 7, 9, b"hello, raft");
        let len = RECORD_HEADER_BYTES + 11;
        for at in 0..len {
            let mut bad = buf.clone();
            bad.extend_from_slice(&[0; 8]);
            bad[at] ^= 0x10;
            assert!(
                decode_entry(&bad, 0, 9).is_err(),
                "flip at byte {at} went unnoticed"
            );
        }
    }

    #[test]
    fn segment_header_round_trips_and_names_sort() {
        let header = encode_segment_header(12345);
        assert_eq!(decode_segment_header(&header), Ok(12345));
        let mut bad = header;
        bad[17] ^= 1;
        assert!(decode_segment_header(&bad).is_err());
        assert_eq!(segment_file_name(1), "00000000000000000001.log");
        assert_eq!(
            parse_segment_file_name(&segment_file_name(u64::MAX)),
            Some(u64::MAX)
        );
        assert_eq!(parse_segment_file_name("1.log"), None);
    }
}
