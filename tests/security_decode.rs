//! Issue #11 item 1: nesting is bounded at decode on every transport; the server stays alive.

mod common;
use common::*;
use identityd::client::ctx;

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

#[tokio::test(flavor = "current_thread")]
async fn deep_tag_over_tarpc_is_refused_and_the_server_lives() {
    let s = TestServer::start();
    let c = s.client().await;
    let d = domain(&c, &s.key, "deep").await;
    let mut deep = identityd::api::value::Value::Null;
    for _ in 0..100 {
        deep = identityd::api::value::Value::List(vec![deep]);
    }
    let mut req = new_user(&d.id, "a@deep.io");
    req.tags = Some(deep);
    // The server refuses to decode the frame: an error answer or a closed connection.
    let r = c.user_create(ctx(), d.admin.clone(), req).await;
    assert!(
        !matches!(r, Ok(Ok(_))),
        "an over-deep tag must not be stored"
    );
    // Alive: a fresh connection serves a get of the domain's admin-made user list.
    let c2 = s.client().await;
    call!(c2.user_create(ctx(), d.admin.clone(), new_user(&d.id, "b@deep.io"))).unwrap();
    let e = call!(c2.user_get(
        ctx(),
        d.admin.clone(),
        identityd::api::GetUserRequest {
            user_id: "a@deep.io".into(),
            domain_id: d.id.clone(),
            only: None
        }
    ));
    assert!(e.is_err(), "the refused user does not exist");
}
