//! The tarpc server: TCP with TCP_NODELAY, length-delimited bincode frames, and every resource a
//! caller can hold before it is authenticated bounded:
//!
//! - **connections**: a total cap and a per-peer cap ([`super::conn::ConnLimiter`]); a refused
//!   connection is closed at once;
//! - **deadlines**: a connection must send its first complete frame within the handshake timeout;
//!   a frame whose body has begun must complete within the handshake timeout of its charge (a
//!   frame trickled in byte by byte holds its charge no longer); a connection with nothing in
//!   flight and no new frame for the idle timeout is closed;
//! - **request frames** are far smaller than responses (1 MiB against 16 MiB by default); a
//!   longer frame closes the connection before its body is read;
//! - **request bytes**: each frame is charged (at least [`MIN_CHARGE`] bytes) to a per-connection
//!   and a global byte budget *after its length is read and before its body is read or decoded*;
//!   the charge is held until the request's handler has finished (its response handed to the
//!   connection). A frame that does not fit waits: its connection stops reading (backpressure);
//! - **deadlines sent by the client** are clamped to `max_deadline` while decoding, before tarpc
//!   computes with them (tarpc's own decoder adds the sent duration to `Instant::now()`, which
//!   panics for `Duration::MAX`);
//! - **requests in flight** per connection (tarpc's `max_concurrent_requests`: one more is
//!   answered with a throttling error).
//!
//! It decodes and delegates; every rule lives in the service layer.

use crate::api::service::{Identity, IdentityRequest, IdentityResponse};
use crate::api::*;
use crate::metrics::{Deadline, MethodId, Metrics, Transport, instrument};
use crate::service::Service;
use futures::{Sink, SinkExt, Stream, StreamExt};
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context as TaskContext, Poll, ready};
use std::time::{Duration, Instant};
use tarpc::context::Context;
use tarpc::server::{BaseChannel, Channel};
use tarpc::tokio_serde::formats::Bincode;
use tarpc::tokio_serde::{Deserializer as _, Serializer as _};
use tarpc::{ClientMessage, Request, Response};
use tokio::io::{AsyncRead, BufReader, ReadBuf};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::bytes::{Bytes, BytesMut};
use tokio_util::codec::{Framed, FramedWrite, LengthDelimitedCodec};

/// Largest frame the client accepts and the server sends (16 MiB): bounds a response.
pub const MAX_FRAME: usize = 16 * 1024 * 1024;

/// Default largest request frame the server reads (1 MiB, as an HTTP body).
pub const MAX_REQUEST_FRAME: usize = 1024 * 1024;

/// The least a request is charged to the byte budget, whatever its frame's size: a tiny frame
/// still costs a task, a decoded request and a handler future.
pub const MIN_CHARGE: usize = 4096;

/// Length of the frame header (a big-endian u32, as `LengthDelimitedCodec`'s default).
const HEADER_LEN: usize = 4;

/// The read buffer of a connection (frames are read through it; a larger frame bypasses it).
const READ_BUF: usize = 8 * 1024;

#[derive(Debug, Clone, Copy)]
pub struct RpcLimits {
    /// Open connections at most (more are closed at once).
    pub max_connections: usize,
    /// Open connections per peer (IPv4 address, IPv6 /64) at most; 0: no per-peer cap.
    pub max_connections_per_peer: usize,
    pub max_in_flight_per_connection: usize,
    /// Largest response frame.
    pub max_frame: usize,
    /// Largest request frame.
    pub max_request_frame: usize,
    /// Request bytes charged at once per connection.
    pub connection_bytes: usize,
    /// Request bytes charged at once over all connections.
    pub global_bytes: usize,
    /// Time a new connection has to send its first complete frame.
    pub handshake_timeout: Duration,
    /// Time a connection with nothing in flight may go without a complete frame.
    pub idle_timeout: Duration,
    /// Longest deadline a request may ask for (longer ones are shortened to it).
    pub max_deadline: Duration,
}

impl Default for RpcLimits {
    fn default() -> Self {
        RpcLimits {
            max_connections: 4096,
            max_connections_per_peer: 256,
            max_in_flight_per_connection: 1024,
            max_frame: MAX_FRAME,
            max_request_frame: MAX_REQUEST_FRAME,
            connection_bytes: 4 * MAX_REQUEST_FRAME,
            global_bytes: 16 * MAX_REQUEST_FRAME,
            handshake_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(300),
            max_deadline: Duration::from_secs(60),
        }
    }
}

impl RpcLimits {
    /// Checks that the limits fit together (a frame must fit the budgets, or it would wait
    /// forever).
    pub fn validate(&self) -> Result<(), String> {
        let charge = self.max_request_frame.max(MIN_CHARGE);
        if self.max_request_frame < 1024 || self.max_request_frame > MAX_FRAME {
            return Err(format!(
                "the request frame limit must be 1024..={MAX_FRAME} bytes"
            ));
        }
        if self.connection_bytes < charge {
            return Err(format!(
                "the per-connection request byte budget must be at least the request frame limit ({charge})"
            ));
        }
        if self.global_bytes < self.connection_bytes {
            return Err(
                "the global request byte budget must be at least the per-connection one".into(),
            );
        }
        if u32::try_from(self.global_bytes).is_err() {
            return Err("the global request byte budget must be below 4 GiB".into());
        }
        if self.max_connections == 0 || self.max_in_flight_per_connection == 0 {
            return Err("connection and in-flight caps must be at least 1".into());
        }
        for (name, d) in [
            ("handshake timeout", self.handshake_timeout),
            ("idle timeout", self.idle_timeout),
            ("maximum deadline", self.max_deadline),
        ] {
            if d.is_zero() || d > Duration::from_secs(86_400) {
                return Err(format!("the {name} must be above 0 and at most a day"));
            }
        }
        Ok(())
    }
}

/// A length-delimited framing of `io` with an explicit maximum frame length (the client's).
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

// ---------------------------------------------------------------------------------------------
// The wire form of a client message

/// tarpc's `ClientMessage` as it is encoded (same fields, same order), with the deadline as the
/// relative `Duration` the client sends instead of the `Instant` tarpc's decoder computes from it
/// (`Instant::now() + sent`, which panics on overflow). The server decodes this and clamps.
#[derive(Debug, Serialize, Deserialize)]
pub enum WireMessage<T> {
    Request(WireRequest<T>),
    Cancel {
        trace_context: tarpc::trace::Context,
        request_id: u64,
    },
}

/// tarpc's `Request` as encoded.
#[derive(Debug, Serialize, Deserialize)]
pub struct WireRequest<T> {
    pub context: WireContext,
    pub id: u64,
    pub message: T,
}

/// tarpc's `context::Context` as encoded.
#[derive(Debug, Serialize, Deserialize)]
pub struct WireContext {
    pub deadline: Duration,
    pub trace_context: tarpc::trace::Context,
}

/// The codec both tarpc and the client use (bincode 1 default options via tokio-serde).
type Codec = Bincode<WireMessage<IdentityRequest>, Response<IdentityResponse>>;

// ---------------------------------------------------------------------------------------------
// The request byte budget

/// Bytes of one request charged to its connection's and the global budget; given back on drop.
struct BytePermit {
    _conn: OwnedSemaphorePermit,
    _global: OwnedSemaphorePermit,
    bytes: u64,
    metrics: Arc<Metrics>,
}

impl Drop for BytePermit {
    fn drop(&mut self) {
        self.metrics.rpc_bytes_released(self.bytes);
    }
}

type Acquire = Pin<Box<dyn Future<Output = Option<BytePermit>> + Send>>;

/// Charges `n` bytes: the connection's budget first (a connection over its own budget waits
/// alone), then the global one.
fn charge(conn: Arc<Semaphore>, global: Arc<Semaphore>, n: u32, metrics: Arc<Metrics>) -> Acquire {
    Box::pin(async move {
        let waited_conn = conn.available_permits() < n as usize;
        let c = conn.acquire_many_owned(n).await.ok()?;
        let waited_global = global.available_permits() < n as usize;
        let g = global.acquire_many_owned(n).await.ok()?;
        metrics.rpc_bytes_charged(u64::from(n), waited_conn || waited_global);
        Some(BytePermit {
            _conn: c,
            _global: g,
            bytes: u64::from(n),
            metrics,
        })
    })
}

/// Who holds the charge of each request of a connection: decoded requests not yet taken by the
/// serve loop (`pending`, by request id), and ids whose handlers run (`live`).
#[derive(Default)]
struct Book {
    pending: HashMap<u64, BytePermit>,
    live: HashSet<u64>,
}

#[derive(Clone, Default)]
struct Ledger(Arc<Mutex<Book>>);

impl Ledger {
    fn book(&self) -> std::sync::MutexGuard<'_, Book> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Holds `permit` for request `id` until the serve loop takes it. A second request with the
    /// id of one in flight is ignored by tarpc: its charge is given back at once.
    fn hold(&self, id: u64, permit: BytePermit) {
        let mut b = self.book();
        if b.live.contains(&id) || b.pending.contains_key(&id) {
            return;
        }
        b.pending.insert(id, permit);
    }

    /// The serve loop takes the charge of a request it starts; it is given back when the
    /// returned claim drops (the handler finished).
    fn claim(&self, id: u64) -> Claim {
        let mut b = self.book();
        let permit = b.pending.remove(&id);
        b.live.insert(id);
        Claim {
            ledger: self.clone(),
            id,
            _permit: permit,
        }
    }

    /// A response leaves for request `id`: a charge nobody claimed (tarpc answered the request
    /// itself, e.g. throttled it) is given back.
    fn answered(&self, id: u64) {
        self.book().pending.remove(&id);
    }
}

struct Claim {
    ledger: Ledger,
    id: u64,
    _permit: Option<BytePermit>,
}

impl Drop for Claim {
    fn drop(&mut self) {
        self.ledger.book().live.remove(&self.id);
    }
}

// ---------------------------------------------------------------------------------------------
// The server side of a connection

enum ReadState {
    /// Reading the 4-byte length.
    Header { buf: [u8; HEADER_LEN], got: usize },
    /// Waiting for the byte budget of a frame of `len` bytes.
    Charging { len: usize, acquire: Acquire },
    /// Reading the body of a charged frame.
    Body {
        buf: BytesMut,
        got: usize,
        permit: BytePermit,
    },
}

/// The server's transport over one TCP connection: frames read under the limits above, decoded
/// with clamped deadlines; responses encoded up to `max_frame`.
struct ServerTransport {
    read: BufReader<OwnedReadHalf>,
    state: ReadState,
    write: FramedWrite<OwnedWriteHalf, LengthDelimitedCodec>,
    codec: Codec,
    conn_budget: Arc<Semaphore>,
    global_budget: Arc<Semaphore>,
    ledger: Ledger,
    metrics: Arc<Metrics>,
    limits: RpcLimits,
    timer: Pin<Box<tokio::time::Sleep>>,
    got_first: bool,
    peer: SocketAddr,
}

fn header_state() -> ReadState {
    ReadState::Header {
        buf: [0; HEADER_LEN],
        got: 0,
    }
}

impl ServerTransport {
    fn new(
        stream: TcpStream,
        peer: SocketAddr,
        limits: RpcLimits,
        global_budget: Arc<Semaphore>,
        metrics: Arc<Metrics>,
    ) -> (ServerTransport, Ledger) {
        let (r, w) = stream.into_split();
        let write = FramedWrite::new(
            w,
            LengthDelimitedCodec::builder()
                .max_frame_length(limits.max_frame)
                .new_codec(),
        );
        let ledger = Ledger::default();
        let t = ServerTransport {
            read: BufReader::with_capacity(READ_BUF, r),
            state: header_state(),
            write,
            codec: Codec::default(),
            conn_budget: Arc::new(Semaphore::new(limits.connection_bytes)),
            global_budget,
            ledger: ledger.clone(),
            metrics,
            timer: Box::pin(tokio::time::sleep(limits.handshake_timeout)),
            got_first: false,
            peer,
            limits,
        };
        (t, ledger)
    }

    /// Nothing of this connection is in flight (no charge held by a request or a handler).
    fn idle(&self) -> bool {
        self.conn_budget.available_permits() >= self.limits.connection_bytes
    }

    fn rearm(&mut self, after: Duration) {
        let at = tokio::time::Instant::now() + after;
        self.timer.as_mut().reset(at);
    }

    /// `Ready(Err)` when a deadline closes the connection; `Pending` otherwise (the timer is
    /// armed to wake this task). Between frames the timer runs the handshake timeout (before
    /// the first frame) or the idle timeout; once a frame has begun, it must complete within
    /// the handshake timeout of its charge (a frame trickled in holds its charge no longer).
    fn poll_deadline(&mut self, cx: &mut TaskContext<'_>) -> Poll<io::Error> {
        loop {
            if self.timer.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            let between_frames = matches!(self.state, ReadState::Header { got: 0, .. });
            let (deadline, what) = if !self.got_first {
                (
                    Deadline::RpcHandshake,
                    "no request within the handshake timeout",
                )
            } else if !between_frames {
                (Deadline::RpcFrame, "request frame not completed in time")
            } else if self.idle() {
                (Deadline::RpcIdle, "idle timeout")
            } else {
                // Requests in flight: look again one idle timeout from now.
                self.rearm(self.limits.idle_timeout);
                continue;
            };
            self.metrics.timed_out(deadline);
            tracing::debug!(peer = %self.peer, what, "closing the connection");
            return Poll::Ready(io::Error::new(io::ErrorKind::TimedOut, what));
        }
    }

    /// Decodes a whole frame, clamping the deadline; the request keeps its charge.
    fn decode(
        &mut self,
        frame: &BytesMut,
        permit: BytePermit,
    ) -> io::Result<ClientMessage<IdentityRequest>> {
        let msg = Pin::new(&mut self.codec).deserialize(frame)?;
        Ok(match msg {
            WireMessage::Request(r) => {
                let mut context = tarpc::context::current();
                let now = Instant::now();
                let wanted = r.context.deadline.min(self.limits.max_deadline);
                context.deadline = now.checked_add(wanted).unwrap_or(now);
                context.trace_context = r.context.trace_context;
                self.ledger.hold(r.id, permit);
                ClientMessage::Request(Request {
                    context,
                    id: r.id,
                    message: r.message,
                })
            }
            WireMessage::Cancel {
                trace_context,
                request_id,
            } => ClientMessage::Cancel {
                trace_context,
                request_id,
            },
        })
    }
}

/// Reads into `buf[*got..]`; `Ready(Ok(true))` once full, `Ready(Ok(false))` at end of stream.
fn poll_fill(
    read: &mut BufReader<OwnedReadHalf>,
    cx: &mut TaskContext<'_>,
    buf: &mut [u8],
    got: &mut usize,
) -> Poll<io::Result<bool>> {
    while *got < buf.len() {
        let Some(rest) = buf.get_mut(*got..) else {
            return Poll::Ready(Err(io::Error::other("read past the frame")));
        };
        let mut rb = ReadBuf::new(rest);
        ready!(Pin::new(&mut *read).poll_read(cx, &mut rb))?;
        let n = rb.filled().len();
        if n == 0 {
            return Poll::Ready(Ok(false));
        }
        *got = got.saturating_add(n);
    }
    Poll::Ready(Ok(true))
}

impl Stream for ServerTransport {
    type Item = io::Result<ClientMessage<IdentityRequest>>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            match &mut this.state {
                ReadState::Header { buf, got } => {
                    let filled = match poll_fill(&mut this.read, cx, buf, got) {
                        Poll::Ready(Ok(true)) => true,
                        Poll::Ready(Ok(false)) => {
                            if *got > 0 {
                                return Poll::Ready(Some(Err(io::ErrorKind::UnexpectedEof.into())));
                            }
                            return Poll::Ready(None);
                        }
                        Poll::Ready(Err(e)) => return Poll::Ready(Some(Err(e))),
                        Poll::Pending => false,
                    };
                    if !filled {
                        return match this.poll_deadline(cx) {
                            Poll::Ready(e) => Poll::Ready(Some(Err(e))),
                            Poll::Pending => Poll::Pending,
                        };
                    }
                    let len = u32::from_be_bytes(*buf) as usize;
                    if len > this.limits.max_request_frame {
                        this.metrics.frame_too_large();
                        tracing::debug!(peer = %this.peer, len, "request frame over the limit; closing");
                        return Poll::Ready(Some(Err(io::Error::new(
                            io::ErrorKind::InvalidData,
                            format!(
                                "request frame of {len} bytes is over the limit of {}",
                                this.limits.max_request_frame
                            ),
                        ))));
                    }
                    let n = u32::try_from(len.max(MIN_CHARGE)).unwrap_or(u32::MAX);
                    let acquire = charge(
                        this.conn_budget.clone(),
                        this.global_budget.clone(),
                        n,
                        this.metrics.clone(),
                    );
                    this.state = ReadState::Charging { len, acquire };
                }
                ReadState::Charging { len, acquire } => {
                    let Some(permit) = ready!(acquire.as_mut().poll(cx)) else {
                        return Poll::Ready(Some(Err(io::Error::other("request budget closed"))));
                    };
                    this.state = ReadState::Body {
                        buf: BytesMut::zeroed(*len),
                        got: 0,
                        permit,
                    };
                    this.rearm(this.limits.handshake_timeout);
                }
                ReadState::Body { buf, got, .. } => {
                    match poll_fill(&mut this.read, cx, buf, got) {
                        Poll::Ready(Ok(true)) => {}
                        Poll::Ready(Ok(false)) => {
                            return Poll::Ready(Some(Err(io::ErrorKind::UnexpectedEof.into())));
                        }
                        Poll::Ready(Err(e)) => return Poll::Ready(Some(Err(e))),
                        Poll::Pending => {
                            return match this.poll_deadline(cx) {
                                Poll::Ready(e) => Poll::Ready(Some(Err(e))),
                                Poll::Pending => Poll::Pending,
                            };
                        }
                    }
                    let ReadState::Body { buf, permit, .. } =
                        std::mem::replace(&mut this.state, header_state())
                    else {
                        return Poll::Ready(Some(Err(io::Error::other("read state"))));
                    };
                    this.got_first = true;
                    this.rearm(this.limits.idle_timeout);
                    return Poll::Ready(Some(this.decode(&buf, permit)));
                }
            }
        }
    }
}

impl Sink<Response<IdentityResponse>> for ServerTransport {
    type Error = io::Error;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<io::Result<()>> {
        Sink::<Bytes>::poll_ready(Pin::new(&mut self.get_mut().write), cx)
    }

    fn start_send(self: Pin<&mut Self>, item: Response<IdentityResponse>) -> io::Result<()> {
        let this = self.get_mut();
        this.ledger.answered(item.request_id);
        let bytes = Pin::new(&mut this.codec).serialize(&item)?;
        this.write.start_send_unpin(bytes)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<io::Result<()>> {
        Sink::<Bytes>::poll_flush(Pin::new(&mut self.get_mut().write), cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<io::Result<()>> {
        Sink::<Bytes>::poll_close(Pin::new(&mut self.get_mut().write), cx)
    }
}

// ---------------------------------------------------------------------------------------------
// Accepting and serving

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
    let conns =
        super::conn::ConnLimiter::new(limits.max_connections, limits.max_connections_per_peer);
    let global = Arc::new(Semaphore::new(limits.global_bytes));
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                // EMFILE and the like: wait for descriptors to come back.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let guard = match conns.admit(peer.ip()) {
            Ok(g) => g,
            Err(why) => {
                metrics.conn_refused(Transport::Tarpc, why);
                tracing::debug!(%peer, reason = why.label(), "connection cap reached; closing");
                continue;
            }
        };
        if let Err(e) = stream.set_nodelay(true) {
            tracing::warn!(%peer, error = %e, "set TCP_NODELAY failed");
        }
        let (transport, ledger) =
            ServerTransport::new(stream, peer, limits, global.clone(), metrics.clone());
        let server = RpcServer {
            service: service.clone(),
            metrics: metrics.clone(),
            peer: Some(peer.ip()),
        };
        let m = metrics.clone();
        tokio::spawn(async move {
            m.conn_opened(Transport::Tarpc);
            let mut requests = BaseChannel::with_defaults(transport)
                .max_concurrent_requests(limits.max_in_flight_per_connection)
                .requests();
            while let Some(r) = requests.next().await {
                match r {
                    Ok(request) => {
                        let claim = ledger.claim(request.get().id);
                        let serve = server.clone().serve();
                        tokio::spawn(async move {
                            request.execute(serve).await;
                            drop(claim);
                        });
                    }
                    Err(e) => {
                        tracing::debug!(%peer, error = %e, "closing the connection");
                        break;
                    }
                }
            }
            m.conn_closed(Transport::Tarpc);
            drop(guard);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tarpc::tokio_serde::{Deserializer, Serializer};

    type ClientCodec = Bincode<Response<IdentityResponse>, ClientMessage<IdentityRequest>>;

    /// The wire mirror decodes exactly what tarpc's client encodes, and encodes what tarpc's
    /// decoder reads.
    #[test]
    fn wire_message_is_tarpcs_encoding() {
        let mut ctx = tarpc::context::current();
        ctx.deadline = Instant::now() + Duration::from_secs(7);
        let msg = ClientMessage::Request(Request {
            context: ctx,
            id: 42,
            message: IdentityRequest::Ping {},
        });
        let bytes = Pin::new(&mut ClientCodec::default())
            .serialize(&msg)
            .unwrap();
        let wire: WireMessage<IdentityRequest> = Pin::new(&mut Codec::default())
            .deserialize(&BytesMut::from(&bytes[..]))
            .unwrap();
        let WireMessage::Request(r) = wire else {
            panic!("not a request")
        };
        assert_eq!(r.id, 42);
        assert!(
            r.context.deadline > Duration::from_secs(6)
                && r.context.deadline <= Duration::from_secs(7)
        );
        assert_eq!(r.context.trace_context.trace_id, ctx.trace_context.trace_id);
        assert!(matches!(r.message, IdentityRequest::Ping {}));

        let cancel = ClientMessage::<IdentityRequest>::Cancel {
            trace_context: ctx.trace_context,
            request_id: 9,
        };
        let bytes = Pin::new(&mut ClientCodec::default())
            .serialize(&cancel)
            .unwrap();
        let wire: WireMessage<IdentityRequest> = Pin::new(&mut Codec::default())
            .deserialize(&BytesMut::from(&bytes[..]))
            .unwrap();
        assert!(matches!(wire, WireMessage::Cancel { request_id: 9, .. }));
    }

    #[test]
    fn default_limits_fit_together() {
        RpcLimits::default().validate().unwrap();
        let tight = RpcLimits {
            connection_bytes: 1000,
            ..RpcLimits::default()
        };
        assert!(tight.validate().is_err());
    }
}
