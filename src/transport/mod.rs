//! Transports: tarpc (Rust services) and the HTTP/JSON gateway. Both only decode, pick the
//! credential, call the service layer and encode. `openapi` describes the gateway.

pub mod conn;
pub mod http;
pub mod openapi;
pub mod tarpc;
