//! Authentication and authorization: password hashing pool, tokens, system key, callers.

pub mod caller;
pub mod codes;
pub mod hasher;
pub mod syskey;
pub mod token;
pub mod totp;
