//! The HTTP/JSON gateway: `POST <REST path>` for every method of the method table, calling the
//! same service layer as tarpc. Errors are `{"detail": {"code", "message"}}` with the HTTP status
//! of SPEC section 8. Also `GET /healthz`, `GET /metrics` (Prometheus text, see `crate::metrics`)
//! and `GET /openapi.json` (see `super::openapi`).

use crate::api::*;
use crate::metrics::{Gauges, MethodId, Metrics, Transport, instrument};
use crate::service::Service;
use actix_web::http::{StatusCode, header};
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use futures::StreamExt;
use serde::de::DeserializeOwned;
use std::net::SocketAddr;
use std::sync::Arc;

/// Largest request body accepted.
pub const MAX_BODY: usize = 1024 * 1024;

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

/// Reads at most [`MAX_BODY`] bytes (refusing early on `Content-Length`) and decodes the JSON;
/// an empty body is `{}`.
async fn decode<T: DeserializeOwned>(
    req: &HttpRequest,
    mut body: web::Payload,
) -> ApiResult<(Credential, T)> {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > MAX_BODY) {
        return Err(too_large());
    }
    let mut buf = web::BytesMut::new();
    while let Some(chunk) = body.next().await {
        let chunk =
            chunk.map_err(|_| ApiError::invalid("body", "could not read the request body"))?;
        if buf.len() + chunk.len() > MAX_BODY {
            return Err(too_large());
        }
        buf.extend_from_slice(&chunk);
    }
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
                    |r: HttpRequest, body: web::Payload, svc: web::Data<Service>, m: web::Data<Metrics>| async move {
                        let call = async {
                            let (cred, req) = decode::<$req>(&r, body).await?;
                            svc.get_ref().$name(cred, req).await
                        };
                        respond(instrument(&m, Transport::Http, MethodId::$name, call).await)
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

/// `GET /metrics`: the Prometheus text page.
async fn metrics(svc: web::Data<Service>, m: web::Data<Metrics>) -> HttpResponse {
    let gauges = Gauges::read(svc.registry()).await;
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

/// Binds and starts the gateway on the current actix system.
pub fn start(
    addr: SocketAddr,
    service: Service,
    metrics: Arc<Metrics>,
) -> std::io::Result<(SocketAddr, actix_web::dev::ServerHandle)> {
    let data = web::Data::new(service);
    let metrics = web::Data::from(metrics);
    let openapi = web::Data::new(OpenApi(super::openapi::document().to_string()));
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .app_data(metrics.clone())
            .route("/healthz", web::get().to(healthz))
            .app_data(openapi.clone())
            .route("/metrics", web::get().to(self::metrics))
            .route("/openapi.json", web::get().to(openapi_json))
            .configure(configure)
            .default_service(web::to(not_found))
    })
    .workers(1)
    .disable_signals()
    .bind(addr)?;
    let bound = server.addrs().first().copied().unwrap_or(addr);
    let running = server.run();
    let handle = running.handle();
    actix_rt::spawn(running);
    Ok((bound, handle))
}
