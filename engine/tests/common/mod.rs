//! Test support shared by the engine's integration tests: a `ReplySink`
//! that records replies as owned `Reply` values, and a one-line renderer.

#![allow(dead_code)]

use bytes::Bytes;
use redraft_engine::{format_double, Error, Reply, ReplySink};

/// Records everything written to it as `Reply` values, rebuilding arrays
/// from their headers.
#[derive(Default)]
pub struct Recorder {
    /// Finished top-level replies, in order.
    pub replies: Vec<Reply>,
    /// Arrays being filled: (elements so far, elements expected).
    open: Vec<(Vec<Reply>, usize)>,
}

impl Recorder {
    fn push(&mut self, reply: Reply) {
        let mut reply = reply;
        loop {
            match self.open.last_mut() {
                None => {
                    self.replies.push(reply);
                    return;
                }
                Some((items, len)) => {
                    items.push(reply);
                    if items.len() < *len {
                        return;
                    }
                    let (items, _) = self.open.pop().unwrap();
                    reply = Reply::Array(items);
                }
            }
        }
    }

    /// The single reply recorded; panics unless there is exactly one.
    pub fn take_one(&mut self) -> Reply {
        assert!(self.open.is_empty(), "unfinished array");
        assert_eq!(
            self.replies.len(),
            1,
            "expected one reply: {:?}",
            self.replies
        );
        self.replies.pop().unwrap()
    }
}

impl ReplySink for Recorder {
    fn ok(&mut self) {
        self.push(Reply::Ok);
    }
    fn simple(&mut self, text: &str) {
        let text: &'static str = Box::leak(text.to_string().into_boxed_str());
        self.push(Reply::Simple(text));
    }
    fn int(&mut self, value: i64) {
        self.push(Reply::Int(value));
    }
    fn bulk(&mut self, value: &[u8]) {
        self.push(Reply::Bulk(Bytes::copy_from_slice(value)));
    }
    fn nil(&mut self) {
        self.push(Reply::Nil);
    }
    fn nil_array(&mut self) {
        self.push(Reply::NilArray);
    }
    fn array(&mut self, len: usize) {
        if len == 0 {
            self.push(Reply::Array(Vec::new()));
        } else {
            self.open.push((Vec::with_capacity(len), len));
        }
    }
    fn double(&mut self, value: f64) {
        self.push(Reply::Double(value));
    }
    fn error(&mut self, error: &Error) {
        self.push(Reply::Error(error.clone()));
    }
}

/// Runs a read that writes into a sink, and returns its one reply.
pub fn record(read: impl FnOnce(&mut Recorder)) -> Reply {
    let mut recorder = Recorder::default();
    read(&mut recorder);
    recorder.take_one()
}

/// Renders bytes as a double-quoted string, escaping like redis-cli.
pub fn quote(bytes: &[u8]) -> String {
    let mut text = String::from("\"");
    for &byte in bytes {
        match byte {
            b'"' => text.push_str("\\\""),
            b'\\' => text.push_str("\\\\"),
            b'\n' => text.push_str("\\n"),
            b'\r' => text.push_str("\\r"),
            b'\t' => text.push_str("\\t"),
            0x20..=0x7e => text.push(byte as char),
            _ => text.push_str(&format!("\\x{byte:02x}")),
        }
    }
    text.push('"');
    text
}

/// Renders a reply on one line, close to redis-cli's style.
pub fn render(reply: &Reply) -> String {
    match reply {
        Reply::Ok => "OK".to_string(),
        Reply::Simple(text) => (*text).to_string(),
        Reply::Int(value) => format!("(integer) {value}"),
        Reply::Bulk(bytes) => quote(bytes),
        Reply::Nil => "(nil)".to_string(),
        Reply::NilArray => "(nil array)".to_string(),
        Reply::Array(items) => {
            let items: Vec<String> = items.iter().map(render).collect();
            format!("[{}]", items.join(", "))
        }
        Reply::Double(value) => format!("(double) {}", format_double(*value)),
        Reply::Error(error) => format!("(error) {error}"),
    }
}
