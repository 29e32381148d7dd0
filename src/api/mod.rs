//! The wire contract: types and the tarpc service trait shared by server, client and gateway.

pub mod error;
pub mod messages;
pub mod secret;
pub mod service;
pub mod types;
pub mod value;

pub use error::{ApiError, ApiResult, ErrorCode, Status};
pub use messages::*;
pub use secret::{Credential, Secret};
pub use types::*;
pub use value::{Map, Value};
