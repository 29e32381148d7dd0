//! The HTTP/JSON gateway through a real HTTP client (ureq) against a real server: every method's
//! REST path, status codes and error bodies (SPEC 8), the JSON shape of the seed examples (SPEC 1,
//! 9), body limits, credentials.

mod common;
use common::*;
use identityd::api::service::METHODS;
use serde_json::{Value as Json, json};
use std::io::Read;

/// A plain-HTTP client for one test server.
struct Http {
    base: String,
    agent: ureq::Agent,
    key: String,
}

struct Reply {
    status: u16,
    content_type: String,
    body: Json,
}

impl Http {
    fn new(s: &TestServer) -> Http {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .new_agent();
        let key = std::fs::read_to_string(s.dir.path().join("system.key")).unwrap();
        Http {
            base: s.http(),
            agent,
            key: key.trim().to_owned(),
        }
    }

    fn finish(resp: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Reply {
        let mut resp = resp.expect("HTTP exchange");
        let status = resp.status().as_u16();
        let content_type = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let text = resp.body_mut().read_to_string().expect("body");
        let body = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {text:?} (status {status})"));
        Reply {
            status,
            content_type,
            body,
        }
    }

    /// POSTs raw bytes with an optional bearer credential.
    fn post_raw(&self, path: &str, cred: Option<&str>, body: &[u8]) -> Reply {
        let mut req = self
            .agent
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/json");
        if let Some(c) = cred {
            req = req.header("authorization", format!("Bearer {c}"));
        }
        Self::finish(req.send(body))
    }

    fn post(&self, path: &str, cred: Option<&str>, body: Json) -> Reply {
        self.post_raw(path, cred, body.to_string().as_bytes())
    }

    fn sys(&self, path: &str, body: Json) -> Reply {
        self.post(path, Some(&self.key.clone()), body)
    }

    fn get(&self, path: &str) -> (u16, String) {
        let mut resp = self
            .agent
            .get(format!("{}{path}", self.base))
            .call()
            .expect("HTTP exchange");
        let status = resp.status().as_u16();
        (status, resp.body_mut().read_to_string().expect("body"))
    }

    /// Creates a domain with an admin over HTTP and logs the admin in; returns (domain_id, token).
    fn domain(&self, name: &str) -> (String, String) {
        let r = self.sys(
            "/identity/v2/domain/create",
            json!({"name": name, "admin": {"user_id": format!("admin@{name}.io"), "password": PW}}),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        let domain_id = r.body["domain_id"].as_str().unwrap().to_owned();
        let t = self.post(
            "/identity/v2/token/issue",
            None,
            json!({"domain_id": domain_id,
                   "credentials": {"user_id": format!("admin@{name}.io"), "password": PW}}),
        );
        assert_eq!(t.status, 200, "{}", t.body);
        let token = t.body["access_token"].as_str().unwrap().to_owned();
        (domain_id, token)
    }
}

#[track_caller]
fn assert_error(r: &Reply, status: u16, code: &str) {
    assert_eq!(r.status, status, "{}", r.body);
    assert!(
        r.content_type.starts_with("application/json"),
        "{}",
        r.content_type
    );
    let detail = r.body["detail"]
        .as_object()
        .expect("an error body has detail");
    assert_eq!(detail["code"], code, "{}", r.body);
    assert!(
        detail["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{}",
        r.body
    );
    assert_eq!(
        detail.len(),
        2,
        "detail has exactly code and message: {}",
        r.body
    );
}

fn iso_ms(v: &Json) -> bool {
    let re = regex::Regex::new(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$").unwrap();
    v.as_str().is_some_and(|s| re.is_match(s))
}

// ---------------------------------------------------------------------------------------------
// The method table

/// `/identity/v1/user/<verb>` or `/identity/v2/<service>/<verb>`, `_` written as `-`, and the
/// method name is `<service>_<verb>`.
fn path_matches_name(name: &str, path: &str) -> bool {
    let segment = regex::Regex::new(r"^[a-z]+(-[a-z]+)*$").unwrap();
    let parts: Vec<&str> = path.split('/').collect();
    let (service, verb) = match parts.as_slice() {
        ["", "identity", "v1", "user", verb] => ("user", *verb),
        ["", "identity", "v2", service, verb] if *service != "user" => (*service, *verb),
        _ => return false,
    };
    segment.is_match(service)
        && segment.is_match(verb)
        && name == format!("{}_{}", service.replace('-', "_"), verb.replace('-', "_"))
}

#[test]
fn the_method_table_has_one_unique_documented_path_per_method() {
    assert!(!METHODS.is_empty());
    let mut names = std::collections::HashSet::new();
    let mut paths = std::collections::HashSet::new();
    for (name, path) in METHODS {
        assert!(names.insert(*name), "method {name} appears twice");
        assert!(paths.insert(*path), "path {path} is used by two methods");
        assert!(
            path_matches_name(name, path),
            "{name}: path {path} does not follow /identity/v1/user/<verb> or \
             /identity/v2/<service>/<verb> derived from the name"
        );
    }
    // The pattern check itself.
    assert!(path_matches_name(
        "user_set_required_actions",
        "/identity/v1/user/set-required-actions"
    ));
    assert!(path_matches_name(
        "role_binding_create",
        "/identity/v2/role-binding/create"
    ));
    assert!(!path_matches_name("user_get", "/identity/v1/user/list"));
    assert!(!path_matches_name("user_get", "/identity/v2/user/get"));
    assert!(!path_matches_name("user_get_x", "/identity/v1/user/get_x"));
}

#[test]
fn every_method_has_a_gateway_route_that_answers_json() {
    let s = TestServer::start();
    let h = Http::new(&s);
    for (name, path) in METHODS {
        for cred in [None, Some(h.key.as_str())] {
            let r = h.post(path, cred, json!({}));
            assert_ne!(
                r.status,
                404,
                "{name} {path} (cred: {}): {}",
                cred.is_some(),
                r.body
            );
            assert!(r.content_type.starts_with("application/json"), "{name}");
            assert!(r.body.is_object(), "{name}: {}", r.body);
            if r.status != 200 {
                assert!(r.body["detail"]["code"].is_string(), "{name}: {}", r.body);
            }
        }
        // Without a body at all, too (an empty body means `{}`).
        let r = h.post_raw(path, Some(&h.key), b"");
        assert_ne!(r.status, 404, "{name} {path}: {}", r.body);
    }
}

// ---------------------------------------------------------------------------------------------
// Fixed routes

#[test]
fn healthz_and_unknown_paths() {
    let s = TestServer::start();
    let h = Http::new(&s);
    let (status, body) = h.get("/healthz");
    assert_eq!(status, 200);
    assert_eq!(
        serde_json::from_str::<Json>(&body).unwrap(),
        json!({"status": "ok"})
    );

    let r = h.sys("/identity/v1/user/no-such-verb", json!({}));
    assert_error(&r, 404, "ERROR_NOT_FOUND");
    let r = h.sys("/nope", json!({}));
    assert_error(&r, 404, "ERROR_NOT_FOUND");
    let (status, body) = h.get("/identity/v2/domain/nope");
    assert_eq!(status, 404);
    let v: Json = serde_json::from_str(&body).unwrap();
    assert_eq!(v["detail"]["code"], "ERROR_NOT_FOUND");
}

// ---------------------------------------------------------------------------------------------
// JSON shapes

#[test]
fn json_fields_and_formats_match_the_seed() {
    let s = TestServer::start();
    let h = Http::new(&s);

    let r = h.sys(
        "/identity/v2/domain/create",
        json!({"name": "acme", "tags": [{"key": "tier", "value": "gold"}],
               "admin": {"user_id": "admin@acme.io", "password": PW}}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let d = r.body.as_object().unwrap();
    let mut keys: Vec<&str> = d.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["created_at", "domain_id", "name", "state", "tags"]);
    let domain_id = d["domain_id"].as_str().unwrap().to_owned();
    assert!(
        regex::Regex::new("^domain-[0-9a-f]{12}$")
            .unwrap()
            .is_match(&domain_id),
        "{domain_id}"
    );
    assert_eq!(d["state"], "ENABLED");
    assert_eq!(d["tags"], json!({"tier": "gold"}));
    assert!(iso_ms(&d["created_at"]), "{}", d["created_at"]);

    let t = h.post(
        "/identity/v2/token/issue",
        None,
        json!({"domain_id": domain_id,
               "credentials": {"user_id": "admin@acme.io", "password": PW}}),
    );
    assert_eq!(t.status, 200, "{}", t.body);
    let tokens = t.body.as_object().unwrap();
    assert_eq!(tokens.len(), 2);
    assert!(
        tokens["access_token"]
            .as_str()
            .is_some_and(|t| t.split('.').count() == 3)
    );
    assert!(
        tokens["refresh_token"]
            .as_str()
            .is_some_and(|t| t.split('.').count() == 3)
    );
    let admin = tokens["access_token"].as_str().unwrap().to_owned();

    // The seed's create example: tags as a list of {key, value}.
    let r = h.post(
        "/identity/v1/user/create",
        Some(&admin),
        json!({"user_id": "dkang@mz.co.kr", "password": PW, "name": "Dong Yoo kang",
               "email": "dkang@mz.co.kr", "language": "en", "timezone": "UTC",
               "tags": [{"key": "user1", "value": "Reuters"}, {"key": "user2", "value": "Bloomberg"}],
               "domain_id": domain_id}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let u = r.body.as_object().unwrap();
    let mut keys: Vec<&str> = u.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "backend",
            "created_at",
            "domain_id",
            "email",
            "email_verified",
            "language",
            "last_accessed_at",
            "mfa",
            "name",
            "required_actions",
            "state",
            "tags",
            "timezone",
            "user_id",
            "user_type"
        ],
        "every v1 UserInfo field is present (no role_type/role_id in v1)"
    );
    assert_eq!(u["user_id"], "dkang@mz.co.kr");
    assert_eq!(u["name"], "Dong Yoo kang");
    assert_eq!(u["state"], "ENABLED");
    assert_eq!(u["backend"], "LOCAL");
    assert_eq!(u["user_type"], "USER");
    assert_eq!(u["email_verified"], false);
    assert_eq!(u["tags"], json!({"user1": "Reuters", "user2": "Bloomberg"}));
    assert_eq!(u["required_actions"], json!([]));
    assert_eq!(u["last_accessed_at"], Json::Null);
    assert_eq!(u["mfa"]["state"], "DISABLED");
    assert_eq!(u["mfa"]["mfa_type"], Json::Null);
    assert_eq!(u["mfa"]["options"], json!({}));
    assert!(iso_ms(&u["created_at"]), "{}", u["created_at"]);
    assert_eq!(u["created_at"], "2026-09-21T14:13:20.000Z");
    assert_eq!(u["domain_id"], domain_id.as_str());
    assert!(
        !r.body.to_string().contains("password"),
        "no password field"
    );

    // A login sets last_accessed_at (with milliseconds).
    s.clock.advance_ms(1234);
    let t = h.post(
        "/identity/v2/token/issue",
        None,
        json!({"domain_id": domain_id,
               "credentials": {"user_id": "dkang@mz.co.kr", "password": PW}}),
    );
    assert_eq!(t.status, 200, "{}", t.body);
    let g = h.post(
        "/identity/v1/user/get",
        Some(&admin),
        json!({"user_id": "dkang@mz.co.kr", "domain_id": domain_id}),
    );
    assert_eq!(g.status, 200);
    assert_eq!(g.body["last_accessed_at"], "2026-09-21T14:13:21.234Z");

    // Update with tags as an object; list; delete → {}.
    let r = h.post(
        "/identity/v1/user/update",
        Some(&admin),
        json!({"user_id": "dkang@mz.co.kr", "domain_id": domain_id, "tags": {"k": "v"}}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["tags"], json!({"k": "v"}));
    let l = h.post(
        "/identity/v1/user/list",
        Some(&admin),
        json!({"domain_id": domain_id}),
    );
    assert_eq!(l.status, 200, "{}", l.body);
    assert_eq!(l.body["total_count"], 2);
    let results = l.body["results"].as_array().unwrap();
    assert_eq!(results.len(), 2);
    assert!(results.iter().all(|u| u.as_object().unwrap().len() == 15));
    let r = h.post(
        "/identity/v1/user/delete",
        Some(&admin),
        json!({"user_id": "dkang@mz.co.kr", "domain_id": domain_id}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body, json!({}));

    let r = h.post("/identity/v2/token/public-key", None, json!({}));
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body["public_key"].is_string());

    let r = h.sys("/identity/v2/domain/list", json!({}));
    assert_eq!(r.status, 200);
    assert_eq!(r.body["total_count"], 1);
    assert_eq!(r.body["results"][0]["domain_id"], domain_id.as_str());
}

#[test]
fn only_and_minimal_leave_fields_absent() {
    let s = TestServer::start();
    let h = Http::new(&s);
    let (domain_id, admin) = h.domain("acme");
    let r = h.post(
        "/identity/v1/user/get",
        Some(&admin),
        json!({"user_id": "admin@acme.io", "domain_id": domain_id, "only": ["name", "tags.x"]}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let mut keys: Vec<&str> = r
        .body
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(keys, ["domain_id", "name", "tags", "user_id"]);

    let r = h.post(
        "/identity/v1/user/list",
        Some(&admin),
        json!({"domain_id": domain_id, "query": {"minimal": true}}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let row = r.body["results"][0].as_object().unwrap();
    assert!(!row.contains_key("email"), "{}", r.body);
    assert!(!row.contains_key("last_accessed_at"), "{}", r.body);
    assert_eq!(row["state"], "ENABLED");

    let r = h.post(
        "/identity/v1/user/list",
        Some(&admin),
        json!({"domain_id": domain_id, "query": {"only": ["email"]}}),
    );
    let row = r.body["results"][0].as_object().unwrap();
    assert!(
        row.contains_key("email") && !row.contains_key("name"),
        "{}",
        r.body
    );
}

// ---------------------------------------------------------------------------------------------
// Bodies

#[test]
fn bodies_over_one_mib_are_refused_with_413() {
    let s = TestServer::start();
    let h = Http::new(&s);
    let (domain_id, admin) = h.domain("acme");
    // Valid JSON just over the limit: the limit, not the parser, refuses it.
    let big = json!({"domain_id": domain_id, "user_id": "a@b.io", "name": "x".repeat(1024 * 1024)})
        .to_string();
    assert!(big.len() > identityd::transport::http::MAX_BODY);

    // With Content-Length.
    let r = h.post_raw("/identity/v1/user/create", Some(&admin), big.as_bytes());
    assert_error(&r, 413, "ERROR_REQUEST_TOO_LARGE");

    // Chunked (no Content-Length): refused once the bytes read pass the limit.
    let mut reader = std::io::Cursor::new(big.clone().into_bytes());
    let resp = h
        .agent
        .post(format!("{}/identity/v1/user/create", h.base))
        .header("authorization", format!("Bearer {admin}"))
        .header("content-type", "application/json")
        .send(ureq::SendBody::from_reader(&mut reader as &mut dyn Read));
    let r = Http::finish(resp);
    assert_error(&r, 413, "ERROR_REQUEST_TOO_LARGE");

    // Exactly at the limit is read (and then judged on its content).
    let mut at = json!({"domain_id": domain_id, "user_id": "a@b.io"}).to_string();
    at.pop();
    at.push_str(",\"pad\":\"");
    let pad = identityd::transport::http::MAX_BODY - at.len() - 2;
    at.push_str(&"y".repeat(pad));
    at.push_str("\"}");
    assert_eq!(at.len(), identityd::transport::http::MAX_BODY);
    let r = h.post_raw("/identity/v1/user/get", Some(&admin), at.as_bytes());
    assert_error(&r, 404, "ERROR_NOT_FOUND");

    // The server still serves after refusing.
    let r = h.post(
        "/identity/v1/user/list",
        Some(&admin),
        json!({"domain_id": domain_id}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
}

#[test]
fn malformed_json_is_400_and_an_empty_body_means_an_empty_object() {
    let s = TestServer::start();
    let h = Http::new(&s);
    let (domain_id, admin) = h.domain("acme");
    for bad in [
        &b"{"[..],
        b"not json",
        b"[1,2]",
        b"\"a string\"",
        b"{\"user_id\": 5}",
        b"{\"domain_id\": \"x\"} trailing",
        b"\xff\xfe",
    ] {
        let r = h.post_raw("/identity/v1/user/get", Some(&admin), bad);
        assert_error(&r, 400, "ERROR_INVALID_PARAMETER");
    }
    // An unknown enum name is a bad parameter too.
    let r = h.post(
        "/identity/v1/user/list",
        Some(&admin),
        json!({"domain_id": domain_id, "state": "SLEEPING"}),
    );
    assert_error(&r, 400, "ERROR_INVALID_PARAMETER");
    // The error message does not echo a password that was sent.
    let r = h.post_raw(
        "/identity/v1/user/create",
        Some(&admin),
        br#"{"password": "Secret-Passw0rd-123", "user_id": 7}"#,
    );
    assert_error(&r, 400, "ERROR_INVALID_PARAMETER");
    assert!(
        !r.body.to_string().contains("Secret-Passw0rd-123"),
        "{}",
        r.body
    );

    // Empty body = {}: domain_list answers, user_get asks for its required fields.
    let r = h.post_raw("/identity/v2/domain/list", Some(&h.key), b"");
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["total_count"], 1);
    let r = h.post_raw("/identity/v1/user/get", Some(&h.key), b"  \n");
    assert_error(&r, 400, "ERROR_REQUIRED_PARAMETER");
}

// ---------------------------------------------------------------------------------------------
// Credentials and statuses

#[test]
fn credentials_and_statuses_follow_spec_section_8() {
    let s = TestServer::start();
    let h = Http::new(&s);
    let (a_id, a_admin) = h.domain("a");
    let (b_id, _) = h.domain("b");
    let get_admin = |domain_id: &str| {
        json!({"user_id": format!("admin@{}.io", if domain_id == a_id { "a" } else { "b" }),
               "domain_id": domain_id})
    };

    // Missing credential.
    let r = h.post("/identity/v1/user/get", None, get_admin(&a_id));
    assert_error(&r, 401, "ERROR_AUTHENTICATE_FAILURE");
    let r = h.post("/identity/v2/domain/list", None, json!({}));
    assert_error(&r, 401, "ERROR_AUTHENTICATE_FAILURE");
    // Wrong credentials: a wrong key, a forged token, a non-bearer scheme.
    let wrong_key = "0".repeat(64);
    let r = h.post("/identity/v2/domain/list", Some(&wrong_key), json!({}));
    assert_error(&r, 401, "ERROR_AUTHENTICATE_FAILURE");
    let mut forged = a_admin.clone();
    forged.pop();
    forged.push(if a_admin.ends_with('A') { 'B' } else { 'A' });
    let r = h.post("/identity/v1/user/get", Some(&forged), get_admin(&a_id));
    assert_error(&r, 401, "ERROR_AUTHENTICATE_FAILURE");
    let resp = h
        .agent
        .post(format!("{}/identity/v2/domain/list", h.base))
        .header("authorization", format!("Basic {}", h.key))
        .send("{}");
    assert_error(&Http::finish(resp), 401, "ERROR_AUTHENTICATE_FAILURE");
    // The error never echoes the credential.
    assert!(!r.body.to_string().contains(&forged));

    // Wrong password at login.
    let r = h.post(
        "/identity/v2/token/issue",
        None,
        json!({"domain_id": a_id, "credentials": {"user_id": "admin@a.io", "password": "Wr0ngPassword"}}),
    );
    assert_error(&r, 401, "ERROR_AUTHENTICATION_FAILURE");

    // Cross-domain: A's admin cannot read B (403) and a domain admin cannot call Domain.*.
    let r = h.post("/identity/v1/user/get", Some(&a_admin), get_admin(&b_id));
    assert_error(&r, 403, "ERROR_PERMISSION_DENIED");
    assert!(!r.body.to_string().contains("admin@b.io"), "{}", r.body);
    let r = h.post("/identity/v2/domain/list", Some(&a_admin), json!({}));
    assert_error(&r, 403, "ERROR_PERMISSION_DENIED");

    // 404, 409, 400.
    let r = h.post(
        "/identity/v1/user/get",
        Some(&a_admin),
        json!({"user_id": "ghost@a.io", "domain_id": a_id}),
    );
    assert_error(&r, 404, "ERROR_NOT_FOUND");
    let create = json!({"user_id": "ann@a.io", "password": PW, "domain_id": a_id});
    let r = h.post("/identity/v1/user/create", Some(&a_admin), create.clone());
    assert_eq!(r.status, 200, "{}", r.body);
    let r = h.post("/identity/v1/user/create", Some(&a_admin), create);
    assert_error(&r, 409, "ERROR_SAVE_UNIQUE_VALUES");
    let r = h.post(
        "/identity/v1/user/create",
        Some(&a_admin),
        json!({"user_id": "not-an-email", "password": PW, "domain_id": a_id}),
    );
    assert_error(&r, 400, "ERROR_INCORRECT_USER_ID_FORMAT");
    let r = h.post(
        "/identity/v1/user/create",
        Some(&a_admin),
        json!({"user_id": "bob@a.io", "password": "short", "domain_id": a_id}),
    );
    assert_error(&r, 400, "ERROR_INCORRECT_PASSWORD_FORMAT");
    assert!(!r.body.to_string().contains("\"short\""), "{}", r.body);
    let r = h.post(
        "/identity/v1/user/get",
        Some(&h.key),
        json!({"user_id": "ann@a.io", "domain_id": "domain-000000000000"}),
    );
    assert_error(&r, 404, "ERROR_NOT_FOUND");

    // Disabled domain: 400 ERROR_DOMAIN_STATE for the admin, Domain.* still works for SYSTEM.
    let r = h.sys("/identity/v2/domain/disable", json!({"domain_id": a_id}));
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["state"], "DISABLED");
    let r = h.post("/identity/v1/user/get", Some(&a_admin), get_admin(&a_id));
    assert_error(&r, 400, "ERROR_DOMAIN_STATE");
    let r = h.sys("/identity/v2/domain/get", json!({"domain_id": a_id}));
    assert_eq!(r.status, 200, "{}", r.body);
}

#[test]
fn bearer_scheme_is_case_insensitive_and_a_system_key_works_everywhere() {
    let s = TestServer::start();
    let h = Http::new(&s);
    let (domain_id, _) = h.domain("acme");
    let resp = h
        .agent
        .post(format!("{}/identity/v1/user/get", h.base))
        .header("authorization", format!("BEARER {}", h.key))
        .send(json!({"user_id": "admin@acme.io", "domain_id": domain_id}).to_string());
    let r = Http::finish(resp);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["user_id"], "admin@acme.io");
}

// ---------------------------------------------------------------------------------------------
// /metrics

/// Parses a Prometheus text page into series → value, checking its syntax on the way: every
/// sample belongs to a family declared by `# TYPE` before it.
fn parse_metrics(page: &str) -> std::collections::HashMap<String, f64> {
    let sample = regex::Regex::new(
        r#"^([a-z_]+)(\{[a-z_]+="(?:[^"\\]|\\.)*"(?:,[a-z_]+="(?:[^"\\]|\\.)*")*\})? (\S+)$"#,
    )
    .unwrap();
    let mut declared = std::collections::HashSet::new();
    let mut series = std::collections::HashMap::new();
    for line in page.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap();
            assert!(["counter", "gauge", "histogram"].contains(&kind), "{line}");
            assert!(declared.insert(name.to_owned()), "{name} declared twice");
            continue;
        }
        if line.starts_with("# HELP ") {
            continue;
        }
        let c = sample
            .captures(line)
            .unwrap_or_else(|| panic!("bad line {line:?}"));
        let name = &c[1];
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| name.strip_suffix(s).filter(|f| declared.contains(*f)))
            .unwrap_or(name);
        assert!(declared.contains(family), "{name} has no # TYPE");
        let value: f64 = c[3]
            .parse()
            .unwrap_or_else(|_| panic!("bad value {line:?}"));
        let key = format!("{}{}", name, c.get(2).map_or("", |m| m.as_str()));
        assert!(
            series.insert(key, value).is_none(),
            "duplicate series {line:?}"
        );
    }
    series
}

#[test]
fn metrics_count_both_transports_per_method_and_outcome() {
    let s = TestServer::start();
    let h = Http::new(&s);
    let (domain_id, admin) = h.domain("acme");
    let (other_id, _) = h.domain("other");
    for i in 0..3 {
        let r = h.post(
            "/identity/v1/user/create",
            Some(&admin),
            json!({"user_id": format!("u{i}@acme.io"), "password": PW, "domain_id": domain_id}),
        );
        assert_eq!(r.status, 200, "{}", r.body);
    }
    let r = h.post(
        "/identity/v1/user/get",
        Some(&admin),
        json!({"user_id": "ghost@acme.io", "domain_id": domain_id}),
    );
    assert_eq!(r.status, 404);
    let r = h.post_raw("/identity/v1/user/get", Some(&admin), b"{oops");
    assert_eq!(r.status, 400);
    let big = vec![b' '; identityd::transport::http::MAX_BODY + 1];
    let r = h.post_raw("/identity/v1/user/update", Some(&admin), &big);
    assert_eq!(r.status, 413);

    // Over tarpc.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        use identityd::api::*;
        use identityd::client::ctx;
        let c = s.client().await;
        let admin = Credential::bearer(admin.as_str());
        for _ in 0..2 {
            let q = UserQuery {
                domain_id: domain_id.clone(),
                ..Default::default()
            };
            c.user_list(ctx(), admin.clone(), q).await.unwrap().unwrap();
        }
        let e = c
            .user_get(ctx(), Credential::none(), GetUserRequest::default())
            .await
            .unwrap()
            .unwrap_err();
        assert_eq!(e.code, ErrorCode::AuthenticateFailure);
    });

    let resp = h.agent.get(format!("{}/metrics", h.base)).call().unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let ct = resp.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(ct.starts_with("text/plain; version=0.0.4"), "{ct}");
    let page = resp.into_body().read_to_string().unwrap();
    let m = parse_metrics(&page);
    let get = |k: &str| {
        *m.get(k)
            .unwrap_or_else(|| panic!("no series {k} in\n{page}"))
    };
    let req = |t: &str, method: &str, outcome: &str| {
        get(&format!(
            "identityd_requests_total{{transport=\"{t}\",method=\"{method}\",outcome=\"{outcome}\"}}"
        ))
    };
    assert_eq!(req("http", "domain_create", "ok"), 2.0);
    assert_eq!(req("http", "token_issue", "ok"), 2.0);
    assert_eq!(req("http", "user_create", "ok"), 3.0);
    assert_eq!(req("http", "user_get", "ok"), 0.0);
    assert_eq!(req("http", "user_get", "ERROR_NOT_FOUND"), 1.0);
    assert_eq!(req("http", "user_get", "ERROR_INVALID_PARAMETER"), 1.0);
    assert_eq!(req("http", "user_update", "ERROR_REQUEST_TOO_LARGE"), 1.0);
    assert_eq!(req("tarpc", "user_list", "ok"), 2.0);
    assert_eq!(req("tarpc", "user_get", "ERROR_AUTHENTICATE_FAILURE"), 1.0);
    assert!(!m.contains_key(
        "identityd_requests_total{transport=\"tarpc\",method=\"user_create\",outcome=\"ok\"}"
    ));

    let hist = |t: &str, method: &str, suffix: &str, le: Option<&str>| {
        let le = le.map_or(String::new(), |l| format!(",le=\"{l}\""));
        get(&format!(
            "identityd_request_duration_seconds{suffix}{{transport=\"{t}\",method=\"{method}\"{le}}}"
        ))
    };
    assert_eq!(hist("http", "user_get", "_count", None), 2.0);
    assert_eq!(hist("http", "user_get", "_bucket", Some("+Inf")), 2.0);
    assert_eq!(hist("tarpc", "user_list", "_count", None), 2.0);
    assert!(hist("http", "user_create", "_sum", None) > 0.0);
    // Buckets are cumulative.
    let mut last = 0.0;
    for le in [
        "0.00005", "0.0001", "0.001", "0.01", "0.1", "1", "10", "+Inf",
    ] {
        let v = hist("http", "user_create", "_bucket", Some(le));
        assert!(v >= last, "{le}");
        last = v;
    }
    assert_eq!(last, 3.0);

    assert_eq!(get("identityd_domains"), 2.0);
    // An anonymous scrape names no domain (per-domain series: tests/security_transport.rs).
    assert_eq!(get("identityd_users"), 5.0);
    assert!(
        !page.contains(&domain_id) && !page.contains(&other_id),
        "{page}"
    );
    // The WAL's fsync latency (writes were made with --fsync always) and the outbox depth.
    assert!(
        page.contains("identityd_wal_fsync_duration_seconds_count"),
        "{page}"
    );
    assert!(page.contains("identityd_outbox_depth"), "{page}");
    // No secret reaches the page.
    assert!(!page.contains(&admin) && !page.contains(&h.key));
}

// ---------------------------------------------------------------------------------------------
// /openapi.json

/// Every `$ref` in `v`.
fn refs(v: &Json, out: &mut Vec<String>) {
    match v {
        Json::Object(m) => {
            if let Some(Json::String(r)) = m.get("$ref") {
                out.push(r.clone());
            }
            m.values().for_each(|x| refs(x, out));
        }
        Json::Array(a) => a.iter().for_each(|x| refs(x, out)),
        _ => {}
    }
}

#[test]
fn openapi_document_describes_exactly_the_method_table() {
    let s = TestServer::start();
    let h = Http::new(&s);
    let (status, body) = h.get("/openapi.json");
    assert_eq!(status, 200);
    let doc: Json = serde_json::from_str(&body).unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let paths = doc["paths"].as_object().unwrap();
    let mut documented: Vec<&str> = paths.keys().map(String::as_str).collect();
    documented.sort_unstable();
    let mut table: Vec<&str> = METHODS.iter().map(|(_, p)| *p).collect();
    table.sort_unstable();
    assert_eq!(
        documented, table,
        "the document has exactly the table's paths"
    );
    for (name, path) in METHODS {
        let item = paths[*path].as_object().unwrap();
        assert_eq!(item.keys().collect::<Vec<_>>(), ["post"], "{path}");
        let op = &item["post"];
        assert_eq!(op["operationId"], *name);
        assert!(op["requestBody"]["content"]["application/json"]["schema"].is_object());
        assert!(op["responses"]["200"]["content"]["application/json"]["schema"].is_object());
        assert_eq!(
            op["responses"]["default"]["content"]["application/json"]["schema"]["$ref"],
            "#/components/schemas/ErrorBody"
        );
    }
    // Every reference resolves.
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    let mut all = Vec::new();
    refs(&doc, &mut all);
    assert!(!all.is_empty());
    for r in all {
        let name = r.strip_prefix("#/components/schemas/").expect(&r);
        assert!(schemas.contains_key(name), "dangling {r}");
    }
    // Schemas are full, not names: the seed's fields and enums are there.
    let create = &schemas["CreateUserRequest"]["properties"];
    for f in [
        "user_id",
        "domain_id",
        "password",
        "tags",
        "backend",
        "user_type",
    ] {
        assert!(create.get(f).is_some(), "CreateUserRequest.{f}");
    }
    let info = &schemas["UserInfo"]["properties"];
    assert!(info.get("last_accessed_at").is_some());
    assert!(
        info.get("projected").is_none(),
        "internal field not documented"
    );
    assert_eq!(
        schemas["UserState"]["enum"],
        json!(["ENABLED", "DISABLED", "PENDING"])
    );
    let codes = schemas["ErrorBody"]["properties"]["detail"]["properties"]["code"]["enum"]
        .as_array()
        .unwrap();
    assert!(codes.contains(&json!("ERROR_REQUEST_TOO_LARGE")));
}
