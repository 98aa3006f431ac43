//! Replies, protocol-agnostic.
//!
//! Writes return an owned [`Reply`] because the reply crosses threads (from
//! the apply thread back to the waiting connection). Reads stream their reply
//! straight into a [`ReplySink`] while the shard lock is held, so a read never
//! copies a value into an intermediate buffer. The server's RESP encoder
//! implements `ReplySink` for RESP2 and RESP3.

use bytes::Bytes;

use crate::Error;

/// Where a reply is written. Implemented by the server's RESP encoder; the
/// engine never knows which protocol version is on the wire.
pub trait ReplySink {
    /// `+OK`
    fn ok(&mut self);
    /// A status reply such as `+PONG` or `+string` (TYPE).
    fn simple(&mut self, text: &str);
    fn int(&mut self, value: i64);
    fn bulk(&mut self, value: &[u8]);
    /// A null bulk string (`$-1` in RESP2, `_` in RESP3).
    fn nil(&mut self);
    /// A null array (`*-1` in RESP2, `_` in RESP3).
    fn nil_array(&mut self);
    /// The header of an array of `len` elements; the elements follow.
    fn array(&mut self, len: usize);
    /// A double (`,` in RESP3, a bulk string in RESP2).
    fn double(&mut self, value: f64);
    /// A double already written as text (Redis's `GEOPOS` coordinates,
    /// printed with its own precision): `,<text>` in RESP3, a bulk string
    /// in RESP2. A sink that records values rather than bytes may keep
    /// the default, the RESP2 form.
    fn double_text(&mut self, text: &str) {
        self.bulk(text.as_bytes());
    }
    /// The header of a map of `len` pairs (`%` in RESP3, an array of
    /// `2 * len` elements in RESP2); keys and values follow, alternating.
    fn map(&mut self, len: usize);
    /// The header of a set of `len` elements (`~` in RESP3, an array in
    /// RESP2).
    fn set(&mut self, len: usize);
    /// Whether the connection speaks RESP3, for replies whose shape (not
    /// just encoding) differs, such as `ZRANGE ... WITHSCORES`.
    fn is_resp3(&self) -> bool;
    fn error(&mut self, error: &Error);
}

/// An owned reply value.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    Ok,
    Simple(&'static str),
    Int(i64),
    Bulk(Bytes),
    Nil,
    NilArray,
    Array(Vec<Reply>),
    /// A set (`~` in RESP3, an array in RESP2).
    Set(Vec<Reply>),
    Double(f64),
    Error(Error),
    /// Keyed replies (`XREAD`'s streams): a map in RESP3, an array of
    /// two-element arrays in RESP2. Last, like every new variant.
    Keyed(Vec<(Reply, Reply)>),
}

impl Reply {
    /// An array whose last element is an array, with that element's items
    /// spliced in its place (`[a, [b, c]]` becomes `[a, b, c]`); any other
    /// reply as it is.
    pub(crate) fn flatten_last(self) -> Reply {
        let Reply::Array(mut items) = self else {
            return self;
        };
        match items.pop() {
            Some(Reply::Array(last)) => items.extend(last),
            Some(other) => items.push(other),
            None => {}
        }
        Reply::Array(items)
    }

    /// Writes this reply into `sink`.
    pub fn emit(&self, sink: &mut impl ReplySink) {
        match self {
            Reply::Ok => sink.ok(),
            Reply::Simple(text) => sink.simple(text),
            Reply::Int(value) => sink.int(*value),
            Reply::Bulk(value) => sink.bulk(value),
            Reply::Nil => sink.nil(),
            Reply::NilArray => sink.nil_array(),
            Reply::Array(items) => {
                sink.array(items.len());
                for item in items {
                    item.emit(sink);
                }
            }
            Reply::Set(items) => {
                sink.set(items.len());
                for item in items {
                    item.emit(sink);
                }
            }
            Reply::Double(value) => sink.double(*value),
            Reply::Error(error) => sink.error(error),
            Reply::Keyed(pairs) => {
                let resp3 = sink.is_resp3();
                if resp3 {
                    sink.map(pairs.len());
                } else {
                    sink.array(pairs.len());
                }
                for (key, value) in pairs {
                    if !resp3 {
                        sink.array(2);
                    }
                    key.emit(sink);
                    value.emit(sink);
                }
            }
        }
    }
}

impl From<Error> for Reply {
    fn from(error: Error) -> Reply {
        Reply::Error(error)
    }
}

#[cfg(test)]
mod tests {
    use super::Reply;

    fn bulk(text: &str) -> Reply {
        Reply::Bulk(bytes::Bytes::copy_from_slice(text.as_bytes()))
    }

    #[test]
    fn flatten_last_splices_a_trailing_array() {
        let cases = [
            (
                Reply::Array(vec![bulk("k"), Reply::Array(vec![bulk("a")])]),
                Reply::Array(vec![bulk("k"), bulk("a")]),
            ),
            (
                Reply::Array(vec![bulk("k"), Reply::Array(vec![])]),
                Reply::Array(vec![bulk("k")]),
            ),
            (
                Reply::Array(vec![bulk("k"), bulk("a")]),
                Reply::Array(vec![bulk("k"), bulk("a")]),
            ),
            (Reply::Array(vec![]), Reply::Array(vec![])),
            (Reply::NilArray, Reply::NilArray),
        ];
        for (reply, want) in cases {
            assert_eq!(reply.clone().flatten_last(), want, "{reply:?}");
        }
    }
}
