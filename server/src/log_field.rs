//! Log fields in readable form, for every layer that logs: nothing here
//! imports the rest of the server, so any module may use it.

use std::fmt;

/// An optional log field in readable form: the value, or `none` (not
/// `Some(..)`/`None`, which is Rust's and not an operator's).
pub struct Opt<T>(pub Option<T>);

impl<T: fmt::Display> fmt::Display for Opt<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Some(value) => value.fmt(f),
            None => f.write_str("none"),
        }
    }
}
