//! Issue #11 item 1: nesting is bounded at decode on every transport; the server stays alive.

mod common;
use common::*;

#[test]
fn deep_json_over_http_is_refused_and_the_server_lives() {
    let s = TestServer::start();
    let agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .new_agent();
    // 100 levels: under serde_json's own limit (128), far over ours (32).
    let deep = format!("{}null{}", "[".repeat(100), "]".repeat(100));
    let body = format!(r#"{{"user_id":"a@b.io","domain_id":"domain-x","tags":{{"d":{deep}}}}}"#);
    let resp = agent
        .post(format!("{}/identity/v1/user/create", s.http()))
        .header("content-type", "application/json")
        .send(body.as_bytes())
        .expect("HTTP exchange");
    let status = resp.status().as_u16();
    assert_eq!(status, 400);
    let mut h = agent
        .get(format!("{}/healthz", s.http()))
        .call()
        .expect("alive");
    assert_eq!(h.status().as_u16(), 200);
    let _ = h.body_mut().read_to_string();
}
