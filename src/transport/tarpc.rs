//! The tarpc server: TCP with TCP_NODELAY, length-delimited frames with an explicit maximum,
//! bincode, a cap on connections and on in-flight requests per connection. It decodes and
//! delegates; every rule lives in the service layer.

use crate::api::service::Identity;
use crate::api::*;
use crate::metrics::{MethodId, Metrics, Transport, instrument};
use crate::service::Service;
use futures::StreamExt;
use std::net::SocketAddr;
use std::sync::Arc;
use tarpc::context::Context;
use tarpc::server::{BaseChannel, Channel};
use tarpc::tokio_serde::formats::Bincode;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_util::codec::{Framed, LengthDelimitedCodec};

/// Largest frame accepted in either direction (16 MiB): bounds what one request can allocate.
pub const MAX_FRAME: usize = 16 * 1024 * 1024;

#[derive(Debug, Clone, Copy)]
pub struct RpcLimits {
    pub max_connections: usize,
    pub max_in_flight_per_connection: usize,
    pub max_frame: usize,
}

impl Default for RpcLimits {
    fn default() -> Self {
        RpcLimits {
            max_connections: 4096,
            max_in_flight_per_connection: 1024,
            max_frame: MAX_FRAME,
        }
    }
}

/// A length-delimited framing of `io` with an explicit maximum frame length.
pub fn framed(io: TcpStream, max_frame: usize) -> Framed<TcpStream, LengthDelimitedCodec> {
    let codec = LengthDelimitedCodec::builder()
        .max_frame_length(max_frame)
        .new_codec();
    Framed::new(io, codec)
}

/// One connection's handler: the service plus the metrics every call is recorded in.
#[derive(Clone)]
pub struct RpcServer {
    pub service: Service,
    pub metrics: Arc<Metrics>,
    /// The connection's peer address (for the +noauth rate limits).
    pub peer: Option<std::net::IpAddr>,
}

macro_rules! delegate {
    ($($name:ident($req:ty) -> $resp:ty = $path:literal;)*) => {
        impl Identity for RpcServer {
            async fn ping(self, _: Context) {}
            $(
                async fn $name(self, _: Context, cred: Credential, req: $req) -> ApiResult<$resp> {
                    // Boxed: the request future is the size of the largest method's future, and
                    // tokio moves it into every spawned task.
                    let call = Box::pin(self.service.$name(cred.with_peer(self.peer), req));
                    instrument(&self.metrics, Transport::Tarpc, MethodId::$name, call).await
                }
            )*
        }
    };
}
crate::with_methods!(delegate);

/// Binds the RPC listener.
pub async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr).await
}

/// Accepts connections until the task is dropped.
pub async fn serve(
    listener: TcpListener,
    service: Service,
    metrics: Arc<Metrics>,
    limits: RpcLimits,
) {
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            tracing::warn!(%peer, "connection limit reached; closing");
            continue;
        };
        if let Err(e) = stream.set_nodelay(true) {
            tracing::warn!(%peer, error = %e, "set TCP_NODELAY failed");
        }
        let transport =
            tarpc::serde_transport::new(framed(stream, limits.max_frame), Bincode::default());
        let server = RpcServer {
            service: service.clone(),
            metrics: metrics.clone(),
            peer: Some(peer.ip()),
        };
        tokio::spawn(async move {
            BaseChannel::with_defaults(transport)
                .max_concurrent_requests(limits.max_in_flight_per_connection)
                .execute(server.serve())
                .for_each(|fut| async move {
                    tokio::spawn(fut);
                })
                .await;
            drop(permit);
        });
    }
}
