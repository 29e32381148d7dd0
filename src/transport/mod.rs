//! Transports: tarpc (Rust services) and the HTTP/JSON gateway. Both only decode, pick the
//! credential, call the service layer and encode.

pub mod http;
pub mod tarpc;
