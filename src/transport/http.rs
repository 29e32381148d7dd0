//! The HTTP/JSON gateway: `POST <REST path>` for every method of the method table, calling the
//! same service layer as tarpc. Errors are `{"detail": {"code", "message"}}` with the HTTP status
//! of SPEC section 8. Also `GET /healthz`, `GET /metrics` (Prometheus text, see `crate::metrics`)
//! and `GET /openapi.json` (see `super::openapi`).

use super::conn::{ConnGuard, ConnLimiter, Refusal};
use crate::api::*;
use crate::auth::syskey::SystemKey;
use crate::metrics::{Deadline, Gauges, MethodId, Metrics, Transport, instrument};
use crate::service::Service;
use actix_web::body::MessageBody;
use actix_web::dev::{Service as _, ServiceResponse};
use actix_web::http::{ConnectionType, StatusCode, header};
use actix_web::{App, HttpMessage, HttpRequest, HttpResponse, HttpServer, web};
use futures::StreamExt;
use serde::de::DeserializeOwned;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// Largest request body accepted.
pub const MAX_BODY: usize = 1024 * 1024;

/// The gateway's connection limits and deadlines.
#[derive(Debug, Clone, Copy)]
pub struct HttpLimits {
    /// Open connections at most (beyond, the listener stops accepting until one closes).
    pub max_connections: usize,
    /// Open connections per peer (IPv4 address, IPv6 /64); beyond, each request is answered 429
    /// and the connection closed. 0: no per-peer cap.
    pub max_connections_per_peer: usize,
    /// Time a client has to send a request's head (after connecting, or after the previous
    /// response); 408 and closed otherwise.
    pub header_timeout: Duration,
    /// Time a client has to send a request's body once its head arrived; closed otherwise.
    pub body_timeout: Duration,
    /// Time an idle keep-alive connection stays open.
    pub keep_alive: Duration,
    /// `/metrics` shows per-domain series (`domain_id` labels) to a scraper presenting the
    /// system key; never to anyone else.
    pub metrics_tenant_labels: bool,
}

impl Default for HttpLimits {
    fn default() -> Self {
        HttpLimits {
            max_connections: 4096,
            max_connections_per_peer: 256,
            header_timeout: Duration::from_secs(5),
            body_timeout: Duration::from_secs(10),
            keep_alive: Duration::from_secs(5),
            metrics_tenant_labels: false,
        }
    }
}

/// One connection's slot (or why it has none), kept in the connection's data: dropped, and the
/// slot given back, when the connection closes.
struct HttpConn {
    slot: Result<ConnGuard, Refusal>,
    metrics: Arc<Metrics>,
}

impl Drop for HttpConn {
    fn drop(&mut self) {
        if self.slot.is_ok() {
            self.metrics.conn_closed(Transport::Http);
        }
    }
}

/// Marks a request whose connection must close after the response (its body was not read).
#[derive(Clone, Copy)]
struct CloseAfter;

/// How a response becomes JSON. Most types are their serde form; user infos drop the fields a
/// projection (`only`/`minimal`) left out.
pub trait ToJson {
    fn to_json(&self) -> serde_json::Value;
}

macro_rules! plain_json {
    ($($t:ty),*) => {$(
        impl ToJson for $t {
            fn to_json(&self) -> serde_json::Value {
                serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
            }
        }
    )*};
}
plain_json!(
    Empty,
    DomainInfo,
    DomainsInfo,
    PublicKeyInfo,
    SnapshotInfo,
    FindUsersInfo,
    ProfileInfo,
    WorkspaceInfo,
    WorkspacesInfo,
    WorkspaceGroupInfo,
    WorkspaceGroupsInfo,
    RoleInfo,
    RolesInfo,
    RoleBindingInfo,
    RoleBindingsInfo,
    MyWorkspacesInfo,
    MyWorkspaceGroupsInfo
);

impl ToJson for StatInfo {
    fn to_json(&self) -> serde_json::Value {
        let mut o = serde_json::Map::new();
        o.insert(
            "results".into(),
            self.results.iter().map(Value::to_json).collect(),
        );
        if let Some(n) = self.total_count {
            o.insert("total_count".into(), n.into());
        }
        serde_json::Value::Object(o)
    }
}

impl ToJson for UserInfo {
    fn to_json(&self) -> serde_json::Value {
        UserInfo::to_json(self)
    }
}

impl ToJson for UsersInfo {
    fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "results": self.results.iter().map(UserInfo::to_json).collect::<Vec<_>>(),
            "total_count": self.total_count,
        })
    }
}

impl ToJson for TokenInfo {
    fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "access_token": self.access_token.expose(),
            "refresh_token": self.refresh_token.expose(),
        })
    }
}

/// The HTTP status of an error: SPEC section 8's mapping of its status, except that a body over
/// the limit is 413 (SPEC section 9).
pub fn http_status(e: &ApiError) -> StatusCode {
    match e.code {
        ErrorCode::RequestTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        _ => StatusCode::from_u16(e.status().http_code())
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
    }
}

/// The error body of SPEC section 8/9.
pub fn error_response(e: &ApiError) -> HttpResponse {
    let status = http_status(e);
    HttpResponse::build(status).json(serde_json::json!({
        "detail": {"code": e.code.as_str(), "message": e.message}
    }))
}

fn respond<T: ToJson>(r: ApiResult<T>) -> HttpResponse {
    match r {
        Ok(v) => HttpResponse::Ok().json(v.to_json()),
        Err(e) => error_response(&e),
    }
}

fn credential(req: &HttpRequest) -> Credential {
    let value = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim_start().split_once(' '))
        // The scheme is case-insensitive (RFC 9110 section 11.1).
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, v)| v.trim())
        .filter(|v| !v.is_empty());
    match value {
        Some(v) => Credential::bearer(v),
        None => Credential::none(),
    }
}

fn too_large() -> ApiError {
    ApiError::new(
        ErrorCode::RequestTooLarge,
        "Request body is larger than 1 MiB.",
    )
}

/// Reads the body: at most [`MAX_BODY`] bytes, all of it within `deadline`.
async fn read_body(mut body: web::Payload) -> ApiResult<web::BytesMut> {
    let mut buf = web::BytesMut::new();
    while let Some(chunk) = body.next().await {
        let chunk =
            chunk.map_err(|_| ApiError::invalid("body", "could not read the request body"))?;
        if buf.len().saturating_add(chunk.len()) > MAX_BODY {
            return Err(too_large());
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf)
}

/// Reads at most [`MAX_BODY`] bytes (refusing early on `Content-Length`) within the body
/// timeout and decodes the JSON; an empty body is `{}`. When the body is refused unread, the
/// connection is closed after the response.
async fn decode<T: DeserializeOwned>(
    req: &HttpRequest,
    body: web::Payload,
    limits: &HttpLimits,
    metrics: &Metrics,
) -> ApiResult<(Credential, T)> {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > MAX_BODY) {
        req.extensions_mut().insert(CloseAfter);
        return Err(too_large());
    }
    let buf = match tokio::time::timeout(limits.body_timeout, read_body(body)).await {
        Ok(Ok(buf)) => buf,
        Ok(Err(e)) => {
            req.extensions_mut().insert(CloseAfter);
            return Err(e);
        }
        Err(_) => {
            metrics.timed_out(Deadline::HttpBody);
            req.extensions_mut().insert(CloseAfter);
            return Err(ApiError::invalid(
                "body",
                &format!(
                    "the request body did not arrive within {} s",
                    limits.body_timeout.as_secs_f64()
                ),
            ));
        }
    };
    let text: &[u8] = if buf.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        &buf
    };
    let value: T = serde_json::from_slice(text).map_err(|e| {
        ApiError::new(
            ErrorCode::InvalidParameter,
            format!(
                "Parameter is invalid. (reason = {})",
                crate::model::validate::printable(&e.to_string())
            ),
        )
    })?;
    Ok((
        credential(req).with_peer(req.peer_addr().map(|a| a.ip())),
        value,
    ))
}

macro_rules! routes {
    ($($name:ident($req:ty) -> $resp:ty = $path:literal;)*) => {
        /// Registers every method's route.
        fn configure(cfg: &mut web::ServiceConfig) {
            $(
                cfg.route($path, web::post().to(
                    |r: HttpRequest, body: web::Payload, svc: web::Data<Service>, m: web::Data<Metrics>, lim: web::Data<HttpLimits>| async move {
                        let call = async {
                            let (cred, req) = decode::<$req>(&r, body, &lim, &m).await?;
                            svc.get_ref().$name(cred, req).await
                        };
                        let mut resp = respond(instrument(&m, Transport::Http, MethodId::$name, call).await);
                        if r.extensions().contains::<CloseAfter>() {
                            resp.head_mut().set_connection_type(ConnectionType::Close);
                        }
                        resp
                    },
                ));
            )*
        }
    };
}
crate::with_methods!(routes);

async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({"status": "ok"}))
}

/// What `/metrics` needs besides the service: whether per-domain series may be shown, and the
/// key that unlocks them.
struct MetricsAccess {
    tenant_labels: bool,
    system_key: Option<SystemKey>,
}

/// `GET /metrics`: the Prometheus text page. Series naming a domain (`domain_id` labels) appear
/// only with `--metrics-tenant-labels` and a scraper presenting the system key; an anonymous
/// scrape sees totals only, so it cannot list the domains.
async fn metrics(
    r: HttpRequest,
    svc: web::Data<Service>,
    m: web::Data<Metrics>,
    access: web::Data<MetricsAccess>,
) -> HttpResponse {
    let tenants = access.tenant_labels
        && match (&access.system_key, credential(&r).0) {
            (Some(key), Some(secret)) => key.matches(secret.expose()),
            _ => false,
        };
    let gauges = Gauges::read(svc.registry()).await;
    let gauges = if tenants {
        gauges
    } else {
        gauges.without_tenants()
    };
    if let Some(outbox) = svc.mailer().outbox() {
        m.set_outbox_depth(outbox.stats().queued);
    }
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(m.render(&gauges) + &svc.flood_metrics().await)
}

/// The OpenAPI document, rendered once at start.
struct OpenApi(String);

/// `GET /openapi.json`.
async fn openapi_json(doc: web::Data<OpenApi>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(doc.0.clone())
}

async fn not_found(req: HttpRequest) -> HttpResponse {
    error_response(&ApiError::new(
        ErrorCode::NotFound,
        format!(
            "Resource cannot be found or access is denied. (path = {})",
            crate::model::validate::printable(req.path())
        ),
    ))
}

/// The answer to every request of a connection over its peer's cap: 429, then closed.
fn refuse_connection<B: MessageBody + 'static>(
    req: actix_web::dev::ServiceRequest,
) -> ServiceResponse<actix_web::body::EitherBody<B>> {
    let mut resp = error_response(&ApiError::new(
        ErrorCode::ResourceExhausted,
        "Too many connections from this address.",
    ));
    resp.head_mut().set_connection_type(ConnectionType::Close);
    req.into_response(resp).map_into_right_body()
}

/// Binds and starts the gateway on the current actix system. `system_key` unlocks per-domain
/// `/metrics` series when `limits.metrics_tenant_labels` is set.
pub fn start(
    addr: SocketAddr,
    service: Service,
    metrics: Arc<Metrics>,
    limits: HttpLimits,
    system_key: Option<SystemKey>,
) -> std::io::Result<(SocketAddr, actix_web::dev::ServerHandle)> {
    let data = web::Data::new(service);
    let conn_metrics = metrics.clone();
    let metrics = web::Data::from(metrics);
    let limits_data = web::Data::new(limits);
    let access = web::Data::new(MetricsAccess {
        tenant_labels: limits.metrics_tenant_labels,
        system_key,
    });
    let conns = ConnLimiter::new(limits.max_connections, limits.max_connections_per_peer);
    let openapi = web::Data::new(OpenApi(super::openapi::document().to_string()));
    let server = HttpServer::new(move || {
        App::new()
            .wrap_fn(|req, srv| {
                let refused = req.conn_data::<HttpConn>().is_some_and(|c| c.slot.is_err());
                if refused {
                    futures::future::Either::Left(futures::future::ready(Ok(refuse_connection(
                        req,
                    ))))
                } else {
                    let call = srv.call(req);
                    futures::future::Either::Right(async move {
                        call.await.map(ServiceResponse::map_into_left_body)
                    })
                }
            })
            .app_data(data.clone())
            .app_data(metrics.clone())
            .app_data(limits_data.clone())
            .app_data(access.clone())
            .route("/healthz", web::get().to(healthz))
            .app_data(openapi.clone())
            .route("/metrics", web::get().to(self::metrics))
            .route("/openapi.json", web::get().to(openapi_json))
            .configure(configure)
            .default_service(web::to(not_found))
    })
    .workers(1)
    .max_connections(limits.max_connections)
    .client_request_timeout(limits.header_timeout)
    .client_disconnect_timeout(Duration::from_secs(1))
    .keep_alive(limits.keep_alive)
    .on_connect(move |io, ext| {
        let peer = io
            .downcast_ref::<actix_web::rt::net::TcpStream>()
            .and_then(|s| s.peer_addr().ok());
        let slot = match peer {
            Some(p) => conns.admit(p.ip()),
            None => Err(Refusal::Total),
        };
        match &slot {
            Ok(_) => conn_metrics.conn_opened(Transport::Http),
            Err(why) => conn_metrics.conn_refused(Transport::Http, *why),
        }
        ext.insert(HttpConn {
            slot,
            metrics: conn_metrics.clone(),
        });
    })
    .disable_signals()
    .bind(addr)?;
    let bound = server.addrs().first().copied().unwrap_or(addr);
    let running = server.run();
    let handle = running.handle();
    actix_rt::spawn(running);
    Ok((bound, handle))
}
