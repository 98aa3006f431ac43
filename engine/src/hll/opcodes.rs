//! Reading a sparse sketch's opcodes (Redis 7.0's run-length encoding of
//! the 16384 registers), for the sparse edits (`sparse.rs`) and the reads
//! of any sketch (`sketch.rs`) alike:
//! - `ZERO` `00xxxxxx`: 1 to 64 registers at 0;
//! - `XZERO` `01xxxxxx yyyyyyyy`: 1 to 16384 registers at 0 (14 bits);
//! - `VAL` `1vvvvvxx`: 1 to 4 registers at a value of 1 to 32.
//!
//! Invariant: any bytes are read without panicking, as Redis reads them
//! (an `XZERO` cut short by the end reads a zero low byte).

/// Which opcode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Zero,
    XZero,
    Val,
}

/// One opcode, decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Opcode {
    pub kind: Kind,
    /// The registers' value (0 for the zero runs).
    pub value: u8,
    /// How many registers it covers (at least 1).
    pub run: u32,
}

impl Opcode {
    /// Its length in bytes.
    pub fn len(self) -> usize {
        if self.kind == Kind::XZero {
            2
        } else {
            1
        }
    }
}

/// Decodes the opcode at `bytes[at]` (which must exist); a byte past the
/// end reads as 0.
pub fn opcode_at(bytes: &[u8], at: usize) -> Opcode {
    let byte = bytes[at];
    match byte & 0xc0 {
        0x00 => Opcode {
            kind: Kind::Zero,
            value: 0,
            run: u32::from(byte & 0x3f) + 1,
        },
        0x40 => {
            let low = bytes.get(at + 1).copied().unwrap_or(0);
            Opcode {
                kind: Kind::XZero,
                value: 0,
                run: ((u32::from(byte & 0x3f) << 8) | u32::from(low)) + 1,
            }
        }
        _ => Opcode {
            kind: Kind::Val,
            value: ((byte >> 2) & 0x1f) + 1,
            run: u32::from(byte & 0x03) + 1,
        },
    }
}

/// The opcodes of sparse `registers` (the bytes after the header).
pub fn opcodes(registers: &[u8]) -> impl Iterator<Item = Opcode> + '_ {
    let mut at = 0;
    std::iter::from_fn(move || {
        if at >= registers.len() {
            return None;
        }
        let op = opcode_at(registers, at);
        at += op.len();
        Some(op)
    })
}
