//! Authentication and authorization: password hashing pool, tokens, system key, callers.

pub mod caller;
pub mod hasher;
pub mod syskey;
pub mod token;
