//! Security issue #11, items 2, 8, 12 and the atomic `UserProfile.update`: a token belongs to one
//! account and one login session, self-service password changes prove the current password, and
//! no side effect happens before the caller's token is re-checked against state. Everything runs
//! through the real server (tarpc, and HTTP with ureq); time moves with the injected ManualClock.

mod common;
use common::smtp::{self, Store};
use common::*;
use identityd::api::*;
use identityd::client::{IdentityClient, ctx};
use identityd::service::ResetMode;
use serde_json::{Value as Json, json};
use std::time::Duration;

const NEW_PW: &str = "N3wPassword!";

/// POSTs JSON over real HTTP; returns the status and the body.
fn http(s: &TestServer, path: &str, cred: Option<&str>, body: Json) -> (u16, Json) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut req = agent
        .post(format!("{}{path}", s.http()))
        .header("content-type", "application/json");
    if let Some(c) = cred {
        req = req.header("authorization", format!("Bearer {c}"));
    }
    let mut resp = req.send(body.to_string()).expect("HTTP exchange");
    let status = resp.status().as_u16();
    let text = resp.body_mut().read_to_string().expect("body");
    (status, serde_json::from_str(&text).expect("JSON body"))
}

fn err_code(body: &Json) -> &str {
    body["detail"]["code"].as_str().unwrap_or_default()
}

/// The claims of a JWT (payload only; the server checked the signature).
fn claims(token: &Secret) -> Json {
    use base64::Engine;
    let payload = token.expose().split('.').nth(1).expect("a JWT");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .expect("base64url");
    serde_json::from_slice(&bytes).expect("JSON claims")
}

fn refresh_req(t: &Secret) -> RefreshTokenRequest {
    RefreshTokenRequest {
        refresh_token: t.clone(),
        timeout: None,
    }
}

fn get_req(d: &str, u: &str) -> GetUserRequest {
    GetUserRequest {
        user_id: u.into(),
        domain_id: d.into(),
        only: None,
    }
}

/// Makes `uid` a DOMAIN_ADMIN; returns the binding id.
async fn make_admin(c: &IdentityClient, d: &Domain, uid: &str) -> String {
    let b = call!(c.role_binding_create(
        ctx(),
        d.admin.clone(),
        CreateRoleBindingRequest {
            user_id: uid.into(),
            role_id: "managed-domain-admin".into(),
            resource_group: Some(ResourceGroup::Domain),
            workspace_id: None,
            domain_id: d.id.clone(),
        },
    ))
    .expect("binding created");
    b.role_binding_id.expect("a binding id")
}

/// The server answers a fresh login of the domain admin: it is alive.
async fn alive(c: &IdentityClient, d: &Domain) {
    login(c, &d.id, &d.admin_id, PW)
        .await
        .expect("the server is alive and answers logins");
}

// ---- item 2: a token belongs to one account ----------------------------------------------------

#[tokio::test]
async fn a_recreated_user_id_does_not_revive_the_deleted_accounts_tokens() {
    let s = TestServer::start();
    let c = s.client().await;
    let d = domain(&c, &s.key, "acme").await;
    let other = domain(&c, &s.key, "other").await;
    let uid = "mallory@acme.io";
    call!(c.user_create(ctx(), d.admin.clone(), new_user(&d.id, uid))).unwrap();
    let old = login(&c, &d.id, uid, PW).await.unwrap();
    // Control: the old tokens work while the account exists.
    call!(c.user_get(ctx(), bearer(&old), get_req(&d.id, uid))).expect("own token works");

    // The account is deleted and the same user_id is created again, as a DOMAIN_ADMIN.
    call!(c.user_delete(ctx(), d.admin.clone(), user_req(&d.id, uid))).unwrap();
    let mut again = new_user(&d.id, uid);
    again.password = Some("An0therPassword".into());
    call!(c.user_create(ctx(), d.admin.clone(), again)).unwrap();
    make_admin(&c, &d, uid).await;

    // The old access token is refused everywhere (tarpc), and cannot act as the new admin.
    assert_code!(
        call!(c.user_get(ctx(), bearer(&old), get_req(&d.id, uid))),
        AuthenticateFailure
    );
    assert_code!(
        call!(c.user_profile_get(ctx(), bearer(&old), UserProfileRequest::default())),
        AuthenticateFailure
    );
    // (The old token says USER, so an admin call is refused before state is even read.)
    assert_code!(
        call!(c.user_list(
            ctx(),
            bearer(&old),
            UserQuery {
                domain_id: d.id.clone(),
                ..Default::default()
            }
        )),
        PermissionDenied
    );
    // The old refresh token mints nothing: neither a refresh nor a DOMAIN-scoped grant.
    assert_code!(
        call!(c.token_refresh(ctx(), Credential::none(), refresh_req(&old.refresh_token))),
        AuthenticateFailure
    );
    assert_code!(
        call!(c.token_grant(
            ctx(),
            Credential::none(),
            GrantTokenRequest {
                grant_type: Some("REFRESH_TOKEN".into()),
                token: old.refresh_token.clone(),
                scope: Some(TokenScope::Domain),
                workspace_id: None,
                timeout: None,
            }
        )),
        AuthenticateFailure
    );
    // The same over HTTP: 401 with the error body.
    let (st, body) = http(
        &s,
        "/identity/v2/user-profile/get",
        Some(old.access_token.expose()),
        json!({}),
    );
    assert_eq!((st, err_code(&body)), (401, "ERROR_AUTHENTICATE_FAILURE"));
    let (st, body) = http(
        &s,
        "/identity/v2/token/refresh",
        None,
        json!({"refresh_token": old.refresh_token.expose()}),
    );
    assert_eq!((st, err_code(&body)), (401, "ERROR_AUTHENTICATE_FAILURE"));

    // The new account itself works, and is the admin it was made.
    let fresh = login(&c, &d.id, uid, "An0therPassword").await.unwrap();
    assert_eq!(claims(&fresh.access_token)["rol"], "DOMAIN_ADMIN");
    assert_ne!(
        claims(&fresh.access_token)["cv"],
        claims(&old.access_token)["cv"],
        "a re-created account starts at a fresh credential version"
    );
    call!(c.user_get(ctx(), bearer(&fresh), get_req(&d.id, uid))).unwrap();
    // Another tenant is unaffected; the server is alive.
    alive(&c, &other).await;
    alive(&c, &d).await;
}

#[tokio::test]
async fn disable_then_enable_does_not_revive_tokens() {
    let s = TestServer::start();
    let c = s.client().await;
    let d = domain(&c, &s.key, "acme").await;
    let uid = "bob@acme.io";
    call!(c.user_create(ctx(), d.admin.clone(), new_user(&d.id, uid))).unwrap();
    let old = login(&c, &d.id, uid, PW).await.unwrap();
    call!(c.user_disable(ctx(), d.admin.clone(), user_req(&d.id, uid))).unwrap();
    assert_code!(
        call!(c.user_profile_get(ctx(), bearer(&old), UserProfileRequest::default())),
        AuthenticateFailure
    );
    call!(c.user_enable(ctx(), d.admin.clone(), user_req(&d.id, uid))).unwrap();
    assert_code!(
        call!(c.user_profile_get(ctx(), bearer(&old), UserProfileRequest::default())),
        AuthenticateFailure
    );
    assert_code!(
        call!(c.token_refresh(ctx(), Credential::none(), refresh_req(&old.refresh_token))),
        AuthenticateFailure
    );
    let (st, body) = http(
        &s,
        "/identity/v1/user/get",
        Some(old.access_token.expose()),
        json!({"domain_id": d.id, "user_id": uid}),
    );
    assert_eq!((st, err_code(&body)), (401, "ERROR_AUTHENTICATE_FAILURE"));
    // A new login after enable works.
    let t = login(&c, &d.id, uid, PW).await.unwrap();
    call!(c.user_profile_get(ctx(), bearer(&t), UserProfileRequest::default())).unwrap();
}

#[tokio::test]
async fn update_password_set_after_issue_restricts_existing_tokens() {
    let s = TestServer::start();
    let c = s.client().await;
    let d = domain(&c, &s.key, "acme").await;
    let uid = "ops@acme.io";
    call!(c.user_create(ctx(), d.admin.clone(), new_user(&d.id, uid))).unwrap();
    make_admin(&c, &d, uid).await;
    let old = login(&c, &d.id, uid, PW).await.unwrap();
    let list = UserQuery {
        domain_id: d.id.clone(),
        ..Default::default()
    };
    call!(c.user_list(ctx(), bearer(&old), list.clone())).expect("admin token works");

    call!(c.user_set_required_actions(
        ctx(),
        d.admin.clone(),
        SetRequiredActionsRequest {
            user_id: uid.into(),
            actions: vec![RequiredAction::UpdatePassword],
            domain_id: d.id.clone(),
        }
    ))
    .unwrap();
    // SPEC 5.4: with UPDATE_PASSWORD pending only the self-service API is open, for tokens
    // issued before the action too (tarpc and HTTP).
    assert_code!(
        call!(c.user_list(ctx(), bearer(&old), list.clone())),
        PermissionDenied
    );
    assert_code!(
        call!(c.user_create(ctx(), bearer(&old), new_user(&d.id, "x@acme.io"))),
        PermissionDenied
    );
    let (st, body) = http(
        &s,
        "/identity/v1/user/list",
        Some(old.access_token.expose()),
        json!({"domain_id": d.id}),
    );
    assert_eq!((st, err_code(&body)), (403, "ERROR_PERMISSION_DENIED"));
    call!(c.user_profile_get(ctx(), bearer(&old), UserProfileRequest::default()))
        .expect("the self-service API stays open");
    // A refresh of the old session is restricted the same way.
    let r =
        call!(c.token_refresh(ctx(), Credential::none(), refresh_req(&old.refresh_token))).unwrap();
    assert_eq!(
        claims(&r.access_token)["permissions"],
        json!(["identity:UserProfile"])
    );
    assert_code!(
        call!(c.user_list(ctx(), bearer(&r), list.clone())),
        PermissionDenied
    );
    // A token from before the action does not waive the current password (a stolen token
    // is not a takeover), neither the old one nor one refreshed from its session.
    for t in [&old, &r] {
        assert_code!(
            call!(c.user_profile_update_password(
                ctx(),
                bearer(t),
                UpdatePasswordRequest {
                    new_password: NEW_PW.into(),
                    current_password: None,
                }
            )),
            RequiredParameter
        );
        assert_code!(
            call!(c.user_profile_update(
                ctx(),
                bearer(t),
                UpdateUserProfileRequest {
                    password: Some(NEW_PW.into()),
                    ..Default::default()
                }
            )),
            InvalidParameter
        );
    }
    login(&c, &d.id, uid, PW)
        .await
        .expect("the password did not change");
    // A login while the action is pending proves the password: that token may set a new one
    // without the current one (SPEC 4), and the action is then cleared.
    let t = login(&c, &d.id, uid, PW).await.unwrap();
    assert_code!(
        call!(c.user_list(ctx(), bearer(&t), list.clone())),
        PermissionDenied
    );
    call!(c.user_profile_update_password(
        ctx(),
        bearer(&t),
        UpdatePasswordRequest {
            new_password: NEW_PW.into(),
            current_password: None,
        }
    ))
    .unwrap();
    let t = login(&c, &d.id, uid, NEW_PW).await.unwrap();
    call!(c.user_list(ctx(), bearer(&t), list)).expect("unrestricted again");
    assert_code!(
        call!(c.user_profile_get(ctx(), bearer(&old), UserProfileRequest::default())),
        AuthenticateFailure
    );
}

#[tokio::test]
async fn refresh_tokens_never_extend_the_login_session() {
    let s = TestServer::start();
    let c = s.client().await;
    let d = domain(&c, &s.key, "acme").await;
    let uid = "ann@acme.io";
    call!(c.user_create(ctx(), d.admin.clone(), new_user(&d.id, uid))).unwrap();
    let first = login(&c, &d.id, uid, PW).await.unwrap();
    let session_end = claims(&first.refresh_token)["exp"].as_i64().unwrap();
    assert_eq!(session_end, T0 / 1000 + 10_800, "refresh TTL 10800 s");

    // Refresh again and again, each time with the newest refresh token, 50 minutes apart.
    let mut rt = first.refresh_token.clone();
    for _ in 0..3 {
        s.clock.advance_ms(3_000_000);
        let t = call!(c.token_refresh(ctx(), Credential::none(), refresh_req(&rt))).unwrap();
        assert_eq!(
            claims(&t.refresh_token)["exp"].as_i64(),
            Some(session_end),
            "a refreshed refresh token keeps the session's absolute expiry"
        );
        assert!(claims(&t.access_token)["exp"].as_i64().unwrap() <= session_end);
        call!(c.user_profile_get(ctx(), bearer(&t), UserProfileRequest::default())).unwrap();
        rt = t.refresh_token;
    }
    // 2.5 h in: an access token asked for 7 days still ends with the session.
    let t = call!(c.token_refresh(
        ctx(),
        Credential::none(),
        RefreshTokenRequest {
            refresh_token: rt.clone(),
            timeout: Some(604_800),
        }
    ))
    .unwrap();
    assert_eq!(claims(&t.access_token)["exp"].as_i64(), Some(session_end));
    let g = call!(c.token_grant(
        ctx(),
        Credential::none(),
        GrantTokenRequest {
            grant_type: Some("REFRESH_TOKEN".into()),
            token: rt.clone(),
            scope: Some(TokenScope::User),
            workspace_id: None,
            timeout: Some(604_800),
        }
    ))
    .unwrap();
    assert_eq!(claims(&g.access_token)["exp"].as_i64(), Some(session_end));

    // After the session's end nothing from it works: the first refresh token, the newest one,
    // and the access token minted last (tarpc and HTTP).
    s.clock.set_ms(session_end * 1000 + 1);
    for r in [&first.refresh_token, &rt] {
        assert_code!(
            call!(c.token_refresh(ctx(), Credential::none(), refresh_req(r))),
            AuthenticateFailure
        );
    }
    assert_code!(
        call!(c.user_profile_get(ctx(), bearer(&t), UserProfileRequest::default())),
        AuthenticateFailure
    );
    let (st, body) = http(
        &s,
        "/identity/v2/token/refresh",
        None,
        json!({"refresh_token": rt.expose()}),
    );
    assert_eq!((st, err_code(&body)), (401, "ERROR_AUTHENTICATE_FAILURE"));
    // Logging in again starts a new session.
    let again = login(&c, &d.id, uid, PW).await.unwrap();
    assert!(claims(&again.refresh_token)["exp"].as_i64().unwrap() > session_end);
}

// ---- item 8: self-service password changes prove the current password -------------------------

fn update_pw(d: &str, uid: &str, pw: &str, current: Option<&str>) -> UpdateUserRequest {
    UpdateUserRequest {
        user_id: uid.into(),
        domain_id: d.into(),
        password: Some(pw.into()),
        current_password: current.map(Into::into),
        ..Default::default()
    }
}

#[tokio::test]
async fn v1_self_password_change_needs_the_current_password() {
    let s = TestServer::start();
    let c = s.client().await;
    let d = domain(&c, &s.key, "acme").await;
    let uid = "eve-victim@acme.io";
    call!(c.user_create(ctx(), d.admin.clone(), new_user(&d.id, uid))).unwrap();
    let stolen = login(&c, &d.id, uid, PW).await.unwrap();

    // A stolen access token cannot set a new password (tarpc and HTTP)...
    assert_code!(
        call!(c.user_update(ctx(), bearer(&stolen), update_pw(&d.id, uid, NEW_PW, None))),
        RequiredParameter
    );
    assert_code!(
        call!(c.user_update(
            ctx(),
            bearer(&stolen),
            update_pw(&d.id, uid, NEW_PW, Some("Wr0ngPassword"))
        )),
        PasswordNotMatched
    );
    let (st, body) = http(
        &s,
        "/identity/v1/user/update",
        Some(stolen.access_token.expose()),
        json!({"domain_id": d.id, "user_id": uid, "password": NEW_PW, "name": "Pwned"}),
    );
    assert_eq!((st, err_code(&body)), (400, "ERROR_REQUIRED_PARAMETER"));
    // ...and nothing changed: the old password still logs in, the name is unchanged.
    let t = login(&c, &d.id, uid, PW).await.unwrap();
    let u = call!(c.user_get(ctx(), bearer(&t), get_req(&d.id, uid))).unwrap();
    assert_eq!(u.name.as_deref(), Some("Name of eve-victim@acme.io"));
    assert_code!(login(&c, &d.id, uid, NEW_PW).await, AuthenticationFailure);

    // With the current password the owner changes it.
    call!(c.user_update(ctx(), bearer(&t), update_pw(&d.id, uid, NEW_PW, Some(PW)))).unwrap();
    login(&c, &d.id, uid, NEW_PW).await.unwrap();
    let (st, body) = http(
        &s,
        "/identity/v1/user/update",
        Some(
            login(&c, &d.id, uid, NEW_PW)
                .await
                .unwrap()
                .access_token
                .expose(),
        ),
        json!({"domain_id": d.id, "user_id": uid, "password": PW, "current_password": NEW_PW}),
    );
    assert_eq!(st, 200, "{body}");
    login(&c, &d.id, uid, PW).await.unwrap();

    // An admin's token on its own account is self-service too.
    assert_code!(
        call!(c.user_update(
            ctx(),
            d.admin.clone(),
            update_pw(&d.id, &d.admin_id, NEW_PW, None)
        )),
        RequiredParameter
    );
    login(&c, &d.id, &d.admin_id, PW).await.unwrap();
    // An admin setting another user's password, and SYSTEM, need no current password.
    call!(c.user_update(ctx(), d.admin.clone(), update_pw(&d.id, uid, NEW_PW, None))).unwrap();
    login(&c, &d.id, uid, NEW_PW).await.unwrap();
    call!(c.user_update(ctx(), s.key.clone(), update_pw(&d.id, uid, PW, None))).unwrap();
    login(&c, &d.id, uid, PW).await.unwrap();
    alive(&c, &d).await;
}

// ---- item 12: a stale admin token changes nothing and mails nothing ----------------------------

fn with_smtp(port: u16, mode: ResetMode) -> TestServer {
    TestServer::start_with(|c| {
        c.mail = format!("smtp://127.0.0.1:{port}");
        c.mail_backoff = Duration::from_millis(50);
        c.service.reset_mode = mode;
    })
}

fn reset_req(d: &str, uid: &str) -> UpdateUserRequest {
    UpdateUserRequest {
        user_id: uid.into(),
        domain_id: d.into(),
        reset_password: Some(true),
        ..Default::default()
    }
}

async fn stale_admin_tokens_cannot_reset(mode: ResetMode, victim_mail: &str) {
    let (port, store): (u16, Store) = smtp::start();
    let s = with_smtp(port, mode);
    let c = s.client().await;
    let d = domain(&c, &s.key, "acme").await;
    let victim = victim_mail;
    let mut r = new_user(&d.id, victim);
    r.email = Some(victim.into());
    call!(c.user_create(ctx(), d.admin.clone(), r)).unwrap();
    call!(c.user_verify_email(
        ctx(),
        d.admin.clone(),
        VerifyEmailRequest {
            user_id: victim.into(),
            domain_id: d.id.clone(),
            email: None,
            force: Some(true),
        }
    ))
    .unwrap();

    // A demoted admin: its token still says DOMAIN_ADMIN and has not expired.
    let demoted = "demoted@acme.io";
    call!(c.user_create(ctx(), d.admin.clone(), new_user(&d.id, demoted))).unwrap();
    let binding = make_admin(&c, &d, demoted).await;
    let demoted_t = bearer(&login(&c, &d.id, demoted, PW).await.unwrap());
    call!(c.role_binding_delete(
        ctx(),
        d.admin.clone(),
        RoleBindingRequest {
            role_binding_id: binding,
            domain_id: d.id.clone(),
        }
    ))
    .unwrap();
    assert_code!(
        call!(c.user_update(ctx(), demoted_t.clone(), reset_req(&d.id, victim))),
        PermissionDenied
    );
    // A deleted admin.
    let deleted = "deleted@acme.io";
    call!(c.user_create(ctx(), d.admin.clone(), new_user(&d.id, deleted))).unwrap();
    make_admin(&c, &d, deleted).await;
    let deleted_t = login(&c, &d.id, deleted, PW).await.unwrap();
    call!(c.user_delete(ctx(), d.admin.clone(), user_req(&d.id, deleted))).unwrap();
    assert_code!(
        call!(c.user_update(ctx(), bearer(&deleted_t), reset_req(&d.id, victim))),
        AuthenticateFailure
    );
    let (st, body) = http(
        &s,
        "/identity/v1/user/update",
        Some(deleted_t.access_token.expose()),
        json!({"domain_id": d.id, "user_id": victim, "reset_password": true}),
    );
    assert_eq!((st, err_code(&body)), (401, "ERROR_AUTHENTICATE_FAILURE"));
    // Nor through create with reset_password.
    let mut cr = new_user(&d.id, "new@mail.test");
    cr.password = None;
    cr.email = Some("new@mail.test".into());
    cr.reset_password = Some(true);
    assert_code!(
        call!(c.user_create(ctx(), bearer(&deleted_t), cr)),
        AuthenticateFailure
    );

    // The victim's password is unchanged and no required action was added.
    let vt = login(&c, &d.id, victim, PW)
        .await
        .expect("the victim's password is unchanged");
    let u = call!(c.user_profile_get(ctx(), bearer(&vt), UserProfileRequest::default())).unwrap();
    assert!(u.required_actions.is_empty());
    // Control: the real admin's reset mails the victim. Mail leaves in order, so the victim
    // getting exactly this one mail shows the stale tokens sent none.
    call!(c.user_update(ctx(), d.admin.clone(), reset_req(&d.id, victim))).unwrap();
    smtp::wait_for(&store, victim, 1);
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(smtp::count_to(&store, victim), 1);
    assert_eq!(smtp::count_to(&store, "new@mail.test"), 0);
    alive(&c, &d).await;
}

#[tokio::test]
async fn a_deleted_or_demoted_admins_token_cannot_reset_passwords_in_password_mode() {
    stale_admin_tokens_cannot_reset(ResetMode::Password, "victim@mail.test").await;
}

#[tokio::test]
async fn a_deleted_or_demoted_admins_token_cannot_reset_passwords_in_access_token_mode() {
    stale_admin_tokens_cannot_reset(ResetMode::AccessToken, "victim2@mail.test").await;
}

// ---- Low: UserProfile.update with a password is atomic -----------------------------------------

#[tokio::test]
async fn profile_update_with_a_password_is_atomic() {
    let s = TestServer::start();
    let c = s.client().await;
    let d = domain(&c, &s.key, "acme").await;
    let uid = "cy@acme.io";
    call!(c.user_create(ctx(), d.admin.clone(), new_user(&d.id, uid))).unwrap();
    // Without a token that carries UPDATE_PASSWORD: refused as a whole, nothing changes.
    let t = login(&c, &d.id, uid, PW).await.unwrap();
    assert_code!(
        call!(c.user_profile_update(
            ctx(),
            bearer(&t),
            UpdateUserProfileRequest {
                password: Some(NEW_PW.into()),
                name: Some("Changed".into()),
                ..Default::default()
            }
        )),
        InvalidParameter
    );
    let u = call!(c.user_profile_get(ctx(), bearer(&t), UserProfileRequest::default())).unwrap();
    assert_eq!(u.name, "Name of cy@acme.io");

    // With UPDATE_PASSWORD pending and a login after it: password and fields in one write.
    call!(c.user_set_required_actions(
        ctx(),
        d.admin.clone(),
        SetRequiredActionsRequest {
            user_id: uid.into(),
            actions: vec![RequiredAction::UpdatePassword],
            domain_id: d.id.clone(),
        }
    ))
    .unwrap();
    let t = login(&c, &d.id, uid, PW).await.unwrap();
    // A bad field refuses the whole call: the password is not changed either.
    assert_code!(
        call!(c.user_profile_update(
            ctx(),
            bearer(&t),
            UpdateUserProfileRequest {
                password: Some(NEW_PW.into()),
                timezone: Some("Mars/Olympus".into()),
                ..Default::default()
            }
        )),
        InvalidParameter
    );
    login(&c, &d.id, uid, PW).await.expect("password unchanged");
    let (st, body) = http(
        &s,
        "/identity/v2/user-profile/update",
        Some(t.access_token.expose()),
        json!({"password": NEW_PW, "name": "Cy Lee", "timezone": "Asia/Seoul"}),
    );
    assert_eq!(st, 200, "{body}");
    assert_eq!(body["name"], "Cy Lee");
    assert_eq!(body["timezone"], "Asia/Seoul");
    assert_eq!(body["required_actions"], json!([]));
    // The password changed with them; the old token is now stale.
    assert_code!(login(&c, &d.id, uid, PW).await, AuthenticationFailure);
    let t2 = login(&c, &d.id, uid, NEW_PW).await.unwrap();
    let u = call!(c.user_profile_get(ctx(), bearer(&t2), UserProfileRequest::default())).unwrap();
    assert_eq!(
        (u.name.as_str(), u.timezone.as_str()),
        ("Cy Lee", "Asia/Seoul")
    );
    assert_code!(
        call!(c.user_profile_get(ctx(), bearer(&t), UserProfileRequest::default())),
        AuthenticateFailure
    );
}
