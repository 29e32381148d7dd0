//! The document abstraction the engine reads.

use crate::api::value::Value;
use std::borrow::Cow;

/// A document the engine can read. Keys may be dotted (`tags.team`, `mfa.state`).
pub trait Doc {
    /// The value at a dotted path, or `None` when missing. Timestamps are exposed either as
    /// ISO-8601 UTC strings (`2026-11-22T10:54:11.123Z`) or as `Value::Int` milliseconds since
    /// the epoch; `datetime_*`/`timediff_*` operators and `date_format` accept both.
    fn field(&self, path: &str) -> Option<Cow<'_, Value>>;

    /// The whole document as a `Value::Object` (used by stat stages that reshape rows).
    fn to_value(&self) -> Value;
}

/// A `Value` is a document through dotted lookup ([`Value::pointer`]); lists are not traversed
/// by paths (a path stops at a list; operators then look at the list's elements).
impl Doc for Value {
    fn field(&self, path: &str) -> Option<Cow<'_, Value>> {
        self.pointer(path).map(Cow::Borrowed)
    }

    fn to_value(&self) -> Value {
        self.clone()
    }
}
