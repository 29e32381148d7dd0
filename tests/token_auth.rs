//! Login, refresh, lockout, and authorization over the real tarpc client.

mod common;
use common::*;
use identityd::api::*;
use identityd::client::ctx;

#[tokio::test]
async fn login_success_wrong_password_unknown_user_and_disabled_user() {
    let s = TestServer::start();
    let c = s.client().await;
    let d = domain(&c, &s.key, "acme").await;
    call!(c.user_create(ctx(), d.admin.clone(), new_user(&d.id, "u@acme.io"))).unwrap();
    let t = login(&c, &d.id, "u@acme.io", PW).await.unwrap();
    assert_eq!(t.access_token.expose().split('.').count(), 3);

    let wrong = login(&c, &d.id, "u@acme.io", "Wr0ngPassword")
        .await
        .unwrap_err();
    let unknown = login(&c, &d.id, "ghost@acme.io", PW).await.unwrap_err();
    assert_eq!(wrong.code, ErrorCode::AuthenticationFailure);
    assert_eq!(
        wrong, unknown,
        "unknown user and wrong password are indistinguishable"
    );
    let no_domain = login(&c, "domain-000000000000", "u@acme.io", PW)
        .await
        .unwrap_err();
    assert_eq!(no_domain, wrong);

    call!(c.user_disable(ctx(), d.admin.clone(), user_req(&d.id, "u@acme.io"))).unwrap();
    // Only the owner (right password) learns the account is disabled.
    assert_code!(login(&c, &d.id, "u@acme.io", PW).await, UserStateDisabled);
    assert_code!(
        login(&c, &d.id, "u@acme.io", "Wr0ngPassword").await,
        AuthenticationFailure
    );
    // And the token issued before stops working.
    let g = GetUserRequest {
        user_id: "u@acme.io".into(),
        domain_id: d.id.clone(),
        only: None,
    };
    assert_code!(call!(c.user_get(ctx(), bearer(&t), g)), AuthenticateFailure);
}

#[tokio::test]
async fn api_users_cannot_log_in_and_required_params_are_named() {
    let s = TestServer::start();
    let c = s.client().await;
    let d = domain(&c, &s.key, "acme").await;
    let mut r = new_user(&d.id, "robot");
    r.password = None;
    r.user_type = Some(UserType::ApiUser);
    call!(c.user_create(ctx(), d.admin.clone(), r)).unwrap();
    assert_code!(login(&c, &d.id, "robot", PW).await, AuthenticationFailure);
    let e = login(&c, &d.id, "", PW).await.unwrap_err();
    assert_eq!(e.code, ErrorCode::RequiredParameter);
    assert!(e.message.contains("credentials.user_id"), "{}", e.message);
}

#[tokio::test]
async fn lockout_after_ten_failures_blocks_even_the_right_password() {
    let s = TestServer::start();
    let c = s.client().await;
    let d = domain(&c, &s.key, "acme").await;
    call!(c.user_create(ctx(), d.admin.clone(), new_user(&d.id, "u@acme.io"))).unwrap();
    for _ in 0..9 {
        assert_code!(
            login(&c, &d.id, "u@acme.io", "Wr0ngPassword").await,
            AuthenticationFailure
        );
    }
    // A success before the 10th failure clears the count.
    login(&c, &d.id, "u@acme.io", PW).await.unwrap();
    for _ in 0..10 {
        assert_code!(
            login(&c, &d.id, "u@acme.io", "Wr0ngPassword").await,
            AuthenticationFailure
        );
    }
    let e = login(&c, &d.id, "u@acme.io", PW).await.unwrap_err();
    assert_eq!(e.code, ErrorCode::LoginBlocked);
    assert_eq!(e.status(), Status::Unauthenticated);
    // Unknown users are counted and blocked the same way (no enumeration).
    for _ in 0..10 {
        assert_code!(
            login(&c, &d.id, "ghost@acme.io", PW).await,
            AuthenticationFailure
        );
    }
    assert_code!(login(&c, &d.id, "ghost@acme.io", PW).await, LoginBlocked);
    // Other users are not affected.
    login(&c, &d.id, &d.admin_id, PW).await.unwrap();
    // The block lasts 300 s from the 10th failure.
    s.clock.advance_ms(299_000);
    assert_code!(login(&c, &d.id, "u@acme.io", PW).await, LoginBlocked);
    s.clock.advance_ms(1_000);
    login(&c, &d.id, "u@acme.io", PW).await.unwrap();
}

#[tokio::test]
async fn parallel_guesses_cannot_exceed_the_limit() {
    let s = TestServer::start();
    let c = s.client().await;
    let d = domain(&c, &s.key, "acme").await;
    call!(c.user_create(ctx(), d.admin.clone(), new_user(&d.id, "u@acme.io"))).unwrap();
    let guesses = (0..40).map(|_| login(&c, &d.id, "u@acme.io", "Wr0ngPassword"));
    let results = futures::future::join_all(guesses).await;
    let verified = results
        .iter()
        .filter(|r| matches!(r, Err(e) if e.code == ErrorCode::AuthenticationFailure))
        .count();
    let blocked = results
        .iter()
        .filter(|r| matches!(r, Err(e) if e.code == ErrorCode::LoginBlocked))
        .count();
    assert_eq!(verified + blocked, 40);
    assert!(
        verified <= 10,
        "at most 10 guesses reached the hash, got {verified}"
    );
    assert_code!(login(&c, &d.id, "u@acme.io", PW).await, LoginBlocked);
}

#[tokio::test]
async fn refresh_gives_a_new_access_token_with_the_current_role() {
    let s = TestServer::start();
    let c = s.client().await;
    let d = domain(&c, &s.key, "acme").await;
    call!(c.user_create(ctx(), d.admin.clone(), new_user(&d.id, "u@acme.io"))).unwrap();
    let t = login(&c, &d.id, "u@acme.io", PW).await.unwrap();
    s.clock.advance_ms(60_000);
    let r = RefreshTokenRequest {
        refresh_token: t.refresh_token.clone(),
        timeout: None,
    };
    let t2 = call!(c.token_refresh(ctx(), Credential::none(), r.clone())).unwrap();
    assert_ne!(t2.access_token, t.access_token);
    let g = GetUserRequest {
        user_id: "u@acme.io".into(),
        domain_id: d.id.clone(),
        only: None,
    };
    let u = call!(c.user_get(ctx(), bearer(&t2), g)).unwrap();
    assert_eq!(
        u.last_accessed_at.as_deref(),
        Some("2026-09-21T14:14:20.000Z"),
        "refresh sets last_accessed_at"
    );
    // An access token is not a refresh token, and vice versa.
    let bad = RefreshTokenRequest {
        refresh_token: t.access_token.clone(),
        timeout: None,
    };
    assert_code!(
        call!(c.token_refresh(ctx(), Credential::none(), bad)),
        AuthenticateFailure
    );
    let as_access = Credential::bearer(t.refresh_token.expose());
    let g = GetUserRequest {
        user_id: "u@acme.io".into(),
        domain_id: d.id.clone(),
        only: None,
    };
    assert_code!(call!(c.user_get(ctx(), as_access, g)), AuthenticateFailure);
    // Expired refresh token (10800 s).
    s.clock.advance_ms(10_800_000);
    assert_code!(
        call!(c.token_refresh(ctx(), Credential::none(), r)),
        AuthenticateFailure
    );
    // Access tokens expire after 1800 s.
    let t3 = login(&c, &d.id, "u@acme.io", PW).await.unwrap();
    s.clock.advance_ms(1_800_000);
    let g = GetUserRequest {
        user_id: "u@acme.io".into(),
        domain_id: d.id.clone(),
        only: None,
    };
    assert_code!(
        call!(c.user_get(ctx(), bearer(&t3), g)),
        AuthenticateFailure
    );
    // A longer lifetime may be asked for, up to 7 days.
    let mut req = IssueTokenRequest {
        domain_id: d.id.clone(),
        credentials: Credentials {
            user_id: "u@acme.io".into(),
            password: PW.into(),
        },
        ..Default::default()
    };
    req.timeout = Some(8 * 24 * 3600);
    assert_code!(
        call!(c.token_issue(ctx(), Credential::none(), req)),
        InvalidParameter
    );
}

#[tokio::test]
async fn public_key_verifies_issued_tokens() {
    let s = TestServer::start();
    let c = s.client().await;
    let d = domain(&c, &s.key, "acme").await;
    let pk = call!(c.token_public_key(ctx(), Credential::none(), Empty {})).unwrap();
    let jwk: serde_json::Value = serde_json::from_str(&pk.public_key).unwrap();
    assert_eq!(jwk["kty"], "OKP");
    assert_eq!(jwk["crv"], "Ed25519");
    let t = login(&c, &d.id, &d.admin_id, PW).await.unwrap();
    let payload = t.access_token.expose().split('.').nth(1).unwrap();
    use base64::Engine;
    let claims: serde_json::Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap();
    assert_eq!(claims["iss"], "identityd");
    assert_eq!(claims["typ"], "ACCESS_TOKEN");
    assert_eq!(claims["rol"], "DOMAIN_ADMIN");
    assert_eq!(claims["did"], d.id.as_str());
    assert_eq!(claims["aud"], d.admin_id.as_str());
    assert_eq!(claims["ver"], "2.0");
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        1800
    );
}

#[tokio::test]
async fn no_credential_bad_credential_and_cross_domain_access() {
    let s = TestServer::start();
    let c = s.client().await;
    let a = domain(&c, &s.key, "alpha").await;
    let b = domain(&c, &s.key, "beta").await;
    let g = |d: &str, u: &str| GetUserRequest {
        user_id: u.into(),
        domain_id: d.into(),
        only: None,
    };
    assert_code!(
        call!(c.user_get(ctx(), Credential::none(), g(&a.id, &a.admin_id))),
        AuthenticateFailure
    );
    assert_code!(
        call!(c.user_get(ctx(), Credential::bearer("garbage"), g(&a.id, &a.admin_id))),
        AuthenticateFailure
    );
    assert_code!(
        call!(c.user_get(
            ctx(),
            Credential::bearer("0".repeat(64)),
            g(&a.id, &a.admin_id)
        )),
        AuthenticateFailure
    );
    // A domain admin of A learns nothing about B: same answer whether the user exists or not.
    let e1 = call!(c.user_get(ctx(), a.admin.clone(), g(&b.id, &b.admin_id))).unwrap_err();
    let e2 = call!(c.user_get(ctx(), a.admin.clone(), g(&b.id, "ghost@beta.io"))).unwrap_err();
    let e3 =
        call!(c.user_get(ctx(), a.admin.clone(), g("domain-ffffffffffff", "x@y.io"))).unwrap_err();
    assert_eq!(e1.code, ErrorCode::PermissionDenied);
    assert_eq!(e1, e2);
    assert_eq!(e1, e3);
    assert_code!(
        call!(c.user_create(ctx(), a.admin.clone(), new_user(&b.id, "x@beta.io"))),
        PermissionDenied
    );
    // Domain.* is SYSTEM only.
    assert_code!(
        call!(c.domain_list(ctx(), a.admin.clone(), ListDomainsRequest::default())),
        PermissionDenied
    );
    assert_code!(
        call!(c.domain_list(ctx(), Credential::none(), ListDomainsRequest::default())),
        AuthenticateFailure
    );
    // An ordinary user may read and update itself, nobody else, and cannot create users.
    call!(c.user_create(ctx(), a.admin.clone(), new_user(&a.id, "u@alpha.io"))).unwrap();
    let ut = bearer(&login(&c, &a.id, "u@alpha.io", PW).await.unwrap());
    call!(c.user_get(ctx(), ut.clone(), g(&a.id, "u@alpha.io"))).unwrap();
    assert_code!(
        call!(c.user_get(ctx(), ut.clone(), g(&a.id, &a.admin_id))),
        PermissionDenied
    );
    assert_code!(
        call!(c.user_create(ctx(), ut.clone(), new_user(&a.id, "v@alpha.io"))),
        PermissionDenied
    );
    let up = UpdateUserRequest {
        user_id: "u@alpha.io".into(),
        domain_id: a.id.clone(),
        name: Some("Me".into()),
        ..Default::default()
    };
    assert_eq!(
        call!(c.user_update(ctx(), ut.clone(), up))
            .unwrap()
            .name
            .as_deref(),
        Some("Me")
    );
    // A demoted admin's token loses admin rights at once: delete the admin's binding by deleting
    // the user is covered elsewhere; here a second admin is disabled.
    call!(c.user_disable(ctx(), s.key.clone(), user_req(&a.id, "u@alpha.io"))).unwrap();
    assert_code!(
        call!(c.user_get(ctx(), ut, g(&a.id, "u@alpha.io"))),
        AuthenticateFailure
    );
}

#[tokio::test]
async fn a_disabled_domain_rejects_everything_but_domain_calls() {
    let s = TestServer::start();
    let c = s.client().await;
    let d = domain(&c, &s.key, "acme").await;
    let dr = DomainRequest {
        domain_id: d.id.clone(),
    };
    let info = call!(c.domain_disable(ctx(), s.key.clone(), dr.clone())).unwrap();
    assert_eq!(info.state, DomainState::Disabled);
    assert_code!(
        call!(c.user_create(ctx(), s.key.clone(), new_user(&d.id, "u@acme.io"))),
        DomainState
    );
    assert_code!(
        call!(c.user_list(
            ctx(),
            s.key.clone(),
            UserQuery {
                domain_id: d.id.clone(),
                ..Default::default()
            }
        )),
        DomainState
    );
    // Anonymous logins cannot tell a disabled domain from an unknown one (issue #11).
    assert_code!(
        login(&c, &d.id, &d.admin_id, PW).await,
        AuthenticationFailure
    );
    call!(c.domain_get(ctx(), s.key.clone(), dr.clone())).unwrap();
    call!(c.domain_enable(ctx(), s.key.clone(), dr.clone())).unwrap();
    call!(c.user_create(ctx(), s.key.clone(), new_user(&d.id, "u@acme.io"))).unwrap();
}

#[tokio::test]
async fn domain_lifecycle_and_unique_names() {
    let s = TestServer::start();
    let c = s.client().await;
    let d = domain(&c, &s.key, "acme").await;
    assert!(d.id.starts_with("domain-") && d.id.len() == 19);
    let dup = CreateDomainRequest {
        name: "acme".into(),
        ..Default::default()
    };
    assert_code!(
        call!(c.domain_create(ctx(), s.key.clone(), dup.clone())),
        SaveUniqueValues
    );
    let bad = CreateDomainRequest {
        name: "x".repeat(41),
        ..Default::default()
    };
    assert_code!(
        call!(c.domain_create(ctx(), s.key.clone(), bad)),
        InvalidParameter
    );
    let weak_admin = CreateDomainRequest {
        name: "beta".into(),
        admin: Some(DomainAdmin {
            user_id: "a@beta.io".into(),
            password: "weak".into(),
            ..Default::default()
        }),
        ..Default::default()
    };
    assert_code!(
        call!(c.domain_create(ctx(), s.key.clone(), weak_admin)),
        IncorrectPasswordFormat
    );
    let list = call!(c.domain_list(ctx(), s.key.clone(), ListDomainsRequest::default())).unwrap();
    assert_eq!(list.total_count, 1, "the refused domain was not created");
    call!(c.domain_delete(
        ctx(),
        s.key.clone(),
        DomainRequest {
            domain_id: d.id.clone()
        }
    ))
    .unwrap();
    assert_code!(
        call!(c.domain_get(
            ctx(),
            s.key.clone(),
            DomainRequest {
                domain_id: d.id.clone()
            }
        )),
        NotFound
    );
    // Its name is free again, and its admin's token is useless.
    call!(c.domain_create(ctx(), s.key.clone(), dup)).unwrap();
    let g = GetUserRequest {
        user_id: d.admin_id.clone(),
        domain_id: d.id.clone(),
        only: None,
    };
    assert_code!(call!(c.user_get(ctx(), d.admin.clone(), g)), NotFound);
}
