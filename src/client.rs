//! The Rust client: a tarpc [`IdentityClient`] over TCP with TCP_NODELAY and the same frame
//! limit as the server. Every call takes the credential explicitly:
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use identityd::api::*;
//! use identityd::client::{connect, ctx};
//! let c = connect("127.0.0.1:7700").await?;
//! let key = Credential::bearer(std::fs::read_to_string("snapshots/system.key")?.trim());
//! let d = c.domain_create(ctx(), key, CreateDomainRequest { name: "acme".into(), ..Default::default() }).await;
//! # Ok(()) }
//! ```

pub use crate::api::service::IdentityClient;
use crate::transport::tarpc::{MAX_FRAME, framed};
use tarpc::tokio_serde::formats::Bincode;
use tokio::net::{TcpStream, ToSocketAddrs};

/// Connects to an identityd RPC address.
pub async fn connect(addr: impl ToSocketAddrs) -> std::io::Result<IdentityClient> {
    let stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let transport = tarpc::serde_transport::new(framed(stream, MAX_FRAME), Bincode::default());
    Ok(IdentityClient::new(tarpc::client::Config::default(), transport).spawn())
}

/// A fresh call context (10 s deadline).
pub fn ctx() -> tarpc::context::Context {
    tarpc::context::current()
}
