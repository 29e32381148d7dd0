//! The OpenAPI 3.0 document of the HTTP gateway (`GET /openapi.json`), generated from the method
//! table: one `POST` operation per method (operationId = method name, summary `Service.verb`),
//! its request and response schemas derived (schemars) from the table's types, which therefore
//! all derive `JsonSchema`. Errors share one `ErrorBody` schema.

use crate::api::*;
use schemars::SchemaGenerator;
use schemars::generate::SchemaSettings;
use serde_json::{Map, Value as Json, json};

/// One operation as the table describes it.
struct Operation {
    method: &'static str,
    path: &'static str,
    request_type: &'static str,
    response_type: &'static str,
    request: schemars::Schema,
    response: schemars::Schema,
}

macro_rules! operations {
    ($($name:ident($req:ty) -> $resp:ty = $path:literal;)*) => {
        fn operations(generator: &mut SchemaGenerator) -> Vec<Operation> {
            vec![$(Operation {
                method: stringify!($name),
                path: $path,
                request_type: stringify!($req),
                response_type: stringify!($resp),
                request: generator.subschema_for::<$req>(),
                response: generator.subschema_for::<$resp>(),
            },)*]
        }
    };
}
crate::with_methods!(operations);

/// `/identity/v1/user/set-required-actions` → `User.set_required_actions` (Cloudforet's name).
fn summary(path: &str) -> String {
    let mut parts = path.rsplit('/');
    let verb = parts.next().unwrap_or_default().replace('-', "_");
    let service: String = parts
        .next()
        .unwrap_or_default()
        .split('-')
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_uppercase().chain(c).collect::<String>())
                .unwrap_or_default()
        })
        .collect();
    format!("{service}.{verb}")
}

/// The first segment after the version, e.g. `user`, `domain`, `token`.
fn tag(path: &str) -> &str {
    path.split('/').nth(3).unwrap_or("identity")
}

/// Builds the document. Called once when the gateway starts.
pub fn document() -> Json {
    let mut generator = SchemaGenerator::new(SchemaSettings::openapi3());
    let ops = operations(&mut generator);
    let mut paths = Map::new();
    for op in ops {
        let error = json!({
            "description": "Error (status per SPEC 8: 400, 401, 403, 404, 409, 413, 429, 500, 503)",
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}
        });
        paths.insert(
            op.path.to_owned(),
            json!({"post": {
                "operationId": op.method,
                "summary": summary(op.path),
                "tags": [tag(op.path)],
                "requestBody": {
                    "description": format!("{} (an empty body means {{}})", op.request_type),
                    "required": false,
                    "content": {"application/json": {"schema": op.request}}
                },
                "responses": {
                    "200": {
                        "description": op.response_type,
                        "content": {"application/json": {"schema": op.response}}
                    },
                    "default": error
                }
            }}),
        );
    }
    let mut schemas = generator.take_definitions(true);
    schemas.insert(
        "ErrorBody".into(),
        json!({
            "type": "object",
            "required": ["detail"],
            "properties": {"detail": {
                "type": "object",
                "required": ["code", "message"],
                "properties": {
                    "code": {
                        "type": "string",
                        "enum": ErrorCode::ALL.iter().map(|c| c.as_str()).collect::<Vec<_>>()
                    },
                    "message": {"type": "string"}
                }
            }}
        }),
    );
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "identityd",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Cloudforet identity User v1 / UserProfile v2 over HTTP/JSON. \
                Every operation is POST with a JSON body; the credential (a system key or an \
                access token) goes in `Authorization: Bearer …` where the method needs one."
        },
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}
        },
        "security": [{"bearer": []}, {}]
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summaries_use_cloudforet_names() {
        assert_eq!(
            summary("/identity/v1/user/set-required-actions"),
            "User.set_required_actions"
        );
        assert_eq!(
            summary("/identity/v2/role-binding/create"),
            "RoleBinding.create"
        );
        assert_eq!(tag("/identity/v2/token/public-key"), "token");
    }
}
