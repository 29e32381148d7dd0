//! E-mail verification, password reset and MFA end to end: the real server mails through a real
//! SMTP server; the test reads each message and completes the flow.

mod common;
use common::smtp::{self, Store};
use common::*;
use identityd::api::*;
use identityd::auth::totp::{self, TotpSecret};
use identityd::client::{IdentityClient, ctx};
use identityd::model::clock::Clock;
use identityd::service::ResetMode;
use std::time::Duration;

fn with_smtp(port: u16, tweak: impl FnOnce(&mut identityd::config::Config)) -> TestServer {
    TestServer::start_with(|c| {
        c.mail = format!("smtp://127.0.0.1:{port}");
        c.mail_backoff = Duration::from_millis(50);
        tweak(c);
    })
}

/// A domain, and a user whose e-mail the admin force-verified.
async fn verified_user(c: &IdentityClient, s: &TestServer, uid: &str) -> Domain {
    let d = domain(c, &s.key, "acme").await;
    let mut r = new_user(&d.id, uid);
    r.email = Some(uid.into());
    call!(c.user_create(ctx(), d.admin.clone(), r)).unwrap();
    let v = VerifyEmailRequest {
        user_id: uid.into(),
        domain_id: d.id.clone(),
        email: None,
        force: Some(true),
    };
    call!(c.user_verify_email(ctx(), d.admin.clone(), v)).unwrap();
    d
}

fn issue(d: &Domain, uid: &str, pw: &str, mfa_code: Option<&str>) -> IssueTokenRequest {
    IssueTokenRequest {
        domain_id: d.id.clone(),
        credentials: Credentials {
            user_id: uid.into(),
            password: pw.into(),
        },
        auth_type: mfa_code.map(|_| AuthType::Mfa),
        verify_code: mfa_code.map(Secret::from),
        timeout: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_and_confirm_email_with_the_mailed_code() {
    let (port, store) = smtp::start();
    let s = with_smtp(port, |_| {});
    let c = s.client().await;
    let d = domain(&c, &s.key, "acme").await;
    call!(c.user_create(ctx(), d.admin.clone(), new_user(&d.id, "ann@acme.io"))).unwrap();
    let v = VerifyEmailRequest {
        user_id: "ann@acme.io".into(),
        domain_id: d.id.clone(),
        email: Some("ann@mail.test".into()),
        force: None,
    };
    call!(c.user_verify_email(ctx(), d.admin.clone(), v.clone())).unwrap();
    let m = smtp::wait_for(&store, "ann@mail.test", 1);
    assert!(m.subject().starts_with("[identityd]"), "{}", m.subject());
    let code = m.code();
    let confirm = |code: &str| ConfirmEmailRequest {
        user_id: "ann@acme.io".into(),
        verify_code: code.into(),
        domain_id: d.id.clone(),
    };
    let wrong = if code == "000000" { "111111" } else { "000000" };
    assert_code!(
        call!(c.user_confirm_email(ctx(), d.admin.clone(), confirm(wrong))),
        InvalidVerifyCode
    );
    let u = call!(c.user_confirm_email(ctx(), d.admin.clone(), confirm(&code))).unwrap();
    assert_eq!(
        (u.email.as_deref(), u.email_verified),
        (Some("ann@mail.test"), Some(true))
    );
    // Consumed: the same code again is refused.
    assert_code!(
        call!(c.user_confirm_email(ctx(), d.admin.clone(), confirm(&code))),
        InvalidVerifyCode
    );

    // A new request replaces the old code; the 6th try fails even with the right code.
    call!(c.user_verify_email(ctx(), d.admin.clone(), v.clone())).unwrap();
    let code = smtp::wait_for(&store, "ann@mail.test", 2).code();
    for _ in 0..5 {
        assert_code!(
            call!(c.user_confirm_email(ctx(), d.admin.clone(), confirm(wrong))),
            InvalidVerifyCode
        );
    }
    assert_code!(
        call!(c.user_confirm_email(ctx(), d.admin.clone(), confirm(&code))),
        InvalidVerifyCode
    );

    // Expiry: 3600 s.
    call!(c.user_verify_email(ctx(), d.admin.clone(), v)).unwrap();
    let code = smtp::wait_for(&store, "ann@mail.test", 3).code();
    s.clock.advance_ms(3_600_000);
    // (The admin's 30-minute token expired too: the system key acts from here on.)
    assert_code!(
        call!(c.user_confirm_email(ctx(), s.key.clone(), confirm(&code))),
        InvalidVerifyCode
    );
    // A user cannot force-verify itself.
    let own = bearer(&login(&c, &d.id, "ann@acme.io", PW).await.unwrap());
    let force = VerifyEmailRequest {
        user_id: "ann@acme.io".into(),
        domain_id: d.id.clone(),
        email: None,
        force: Some(true),
    };
    assert_code!(
        call!(c.user_verify_email(ctx(), own, force)),
        PermissionDenied
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reset_by_access_token_then_update_password_then_login() {
    let (port, store) = smtp::start();
    let s = with_smtp(port, |_| {});
    let c = s.client().await;
    let d = verified_user(&c, &s, "bo@mail.test").await;
    let r = UserRequest {
        user_id: "bo@mail.test".into(),
        domain_id: d.id.clone(),
    };
    call!(c.user_reset_password(ctx(), Credential::none(), r)).unwrap();
    let m = smtp::wait_for(&store, "bo@mail.test", 1);
    let token = m
        .body()
        .split_whitespace()
        .find(|w| w.split('.').count() == 3 && w.len() > 100)
        .expect("a token in the mail")
        .to_owned();
    // Nothing changed yet: the old password works.
    login(&c, &d.id, "bo@mail.test", PW).await.unwrap();
    // The reset token reaches UserProfile only.
    let reset = Credential::bearer(&token);
    let g = GetUserRequest {
        user_id: "bo@mail.test".into(),
        domain_id: d.id.clone(),
        only: None,
    };
    assert_code!(call!(c.user_get(ctx(), reset.clone(), g)), PermissionDenied);
    let up = UpdatePasswordRequest {
        new_password: "N3wPassword".into(),
        current_password: None,
    };
    let info = call!(c.user_profile_update_password(ctx(), reset.clone(), up.clone())).unwrap();
    assert!(info.required_actions.is_empty());
    assert_code!(
        login(&c, &d.id, "bo@mail.test", PW).await,
        AuthenticationFailure
    );
    login(&c, &d.id, "bo@mail.test", "N3wPassword")
        .await
        .unwrap();
    // The reset token is single-use: the password change retired it.
    let again = UpdatePasswordRequest {
        new_password: "Th1rdPassword".into(),
        current_password: None,
    };
    assert_code!(
        call!(c.user_profile_update_password(ctx(), reset, again)),
        AuthenticateFailure
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reset_by_temporary_password_keeps_the_old_one_until_used() {
    let (port, store) = smtp::start();
    let s = with_smtp(port, |c| c.service.reset_mode = ResetMode::Password);
    let c = s.client().await;
    let d = verified_user(&c, &s, "cy@mail.test").await;
    let r = UserPasswordResetRequest {
        user_id: "cy@mail.test".into(),
        domain_id: d.id.clone(),
    };
    call!(c.user_profile_reset_password(ctx(), Credential::none(), r)).unwrap();
    let body = smtp::wait_for(&store, "cy@mail.test", 1).body();
    let re = regex::Regex::new(r"\b([A-Za-z0-9]{12})\b").unwrap();
    let temp = re
        .captures_iter(&body)
        .map(|c| c[1].to_owned())
        .find(|w| {
            w.chars().any(|c| c.is_ascii_digit())
                && w.chars().any(|c| c.is_ascii_uppercase())
                && w.chars().any(|c| c.is_ascii_lowercase())
        })
        .expect("a temporary password in the mail");
    // An anonymous reset locks nobody out: the old password still works…
    login(&c, &d.id, "cy@mail.test", PW).await.unwrap();
    // …and logging in with it cancelled the reset.
    assert_code!(
        login(&c, &d.id, "cy@mail.test", &temp).await,
        AuthenticationFailure
    );

    let r = UserPasswordResetRequest {
        user_id: "cy@mail.test".into(),
        domain_id: d.id.clone(),
    };
    call!(c.user_profile_reset_password(ctx(), Credential::none(), r)).unwrap();
    let body = smtp::wait_for(&store, "cy@mail.test", 2).body();
    let temp = re
        .captures_iter(&body)
        .map(|c| c[1].to_owned())
        .find(|w| {
            w.chars().any(|c| c.is_ascii_digit())
                && w.chars().any(|c| c.is_ascii_uppercase())
                && w.chars().any(|c| c.is_ascii_lowercase())
        })
        .unwrap();
    let t = login(&c, &d.id, "cy@mail.test", &temp).await.unwrap();
    // Using it made it the password (the old one is gone) and UPDATE_PASSWORD is pending.
    assert_code!(
        login(&c, &d.id, "cy@mail.test", PW).await,
        AuthenticationFailure
    );
    let up = UpdatePasswordRequest {
        new_password: "Fr3shPassword".into(),
        current_password: None,
    };
    call!(c.user_profile_update_password(ctx(), bearer(&t), up)).unwrap();
    login(&c, &d.id, "cy@mail.test", "Fr3shPassword")
        .await
        .unwrap();
    // Expiry (24 h) of an unused temporary password.
    let r = UserPasswordResetRequest {
        user_id: "cy@mail.test".into(),
        domain_id: d.id.clone(),
    };
    call!(c.user_profile_reset_password(ctx(), Credential::none(), r)).unwrap();
    let body = smtp::wait_for(&store, "cy@mail.test", 3).body();
    let temp = re
        .captures_iter(&body)
        .map(|c| c[1].to_owned())
        .find(|w| {
            w.chars().any(|c| c.is_ascii_digit()) && w.chars().any(|c| c.is_ascii_uppercase())
        })
        .unwrap();
    s.clock.advance_ms(24 * 3600 * 1000);
    assert_code!(
        login(&c, &d.id, "cy@mail.test", &temp).await,
        AuthenticationFailure
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anonymous_resets_that_cannot_proceed_answer_empty_and_mail_nothing() {
    let (port, store) = smtp::start();
    let s = with_smtp(port, |_| {});
    let c = s.client().await;
    let d = verified_user(&c, &s, "ok@mail.test").await;
    let mut unverified = new_user(&d.id, "unv@mail.test");
    unverified.email = Some("unv@mail.test".into());
    call!(c.user_create(ctx(), d.admin.clone(), unverified)).unwrap();
    for uid in ["ghost@mail.test", "unv@mail.test"] {
        let r = UserRequest {
            user_id: uid.into(),
            domain_id: d.id.clone(),
        };
        assert_eq!(
            call!(c.user_reset_password(ctx(), Credential::none(), r)),
            Ok(Empty {})
        );
    }
    let r = UserRequest {
        user_id: "x@mail.test".into(),
        domain_id: "domain-000000000000".into(),
    };
    assert_eq!(
        call!(c.user_reset_password(ctx(), Credential::none(), r)),
        Ok(Empty {})
    );
    // A sentinel that does get mail, started after the others.
    let r = UserRequest {
        user_id: "ok@mail.test".into(),
        domain_id: d.id.clone(),
    };
    call!(c.user_reset_password(ctx(), Credential::none(), r)).unwrap();
    smtp::wait_for(&store, "ok@mail.test", 1);
    assert_eq!(
        smtp::count_to(&store, "unv@mail.test") + smtp::count_to(&store, "ghost@mail.test"),
        0
    );
    // The admin-initiated reset says why it cannot proceed.
    let up = UpdateUserRequest {
        user_id: "unv@mail.test".into(),
        domain_id: d.id.clone(),
        reset_password: Some(true),
        ..Default::default()
    };
    assert_code!(
        call!(c.user_update(ctx(), d.admin.clone(), up)),
        VerificationUnavailable
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_with_reset_password_mails_the_new_user() {
    let (port, store) = smtp::start();
    let s = with_smtp(port, |_| {});
    let c = s.client().await;
    let d = domain(&c, &s.key, "acme").await;
    let mut r = new_user(&d.id, "new@mail.test");
    r.password = None;
    r.email = Some("new@mail.test".into());
    r.reset_password = Some(true);
    let u = call!(c.user_create(ctx(), d.admin.clone(), r)).unwrap();
    assert_eq!(
        u.required_actions,
        Some(vec![RequiredAction::UpdatePassword])
    );
    let m = smtp::wait_for(&store, "new@mail.test", 1);
    let token = m
        .body()
        .split_whitespace()
        .find(|w| w.split('.').count() == 3 && w.len() > 100)
        .unwrap()
        .to_owned();
    let up = UpdatePasswordRequest {
        new_password: "F1rstPassword".into(),
        current_password: None,
    };
    call!(c.user_profile_update_password(ctx(), Credential::bearer(token), up)).unwrap();
    login(&c, &d.id, "new@mail.test", "F1rstPassword")
        .await
        .unwrap();
}

async fn enable(
    c: &IdentityClient,
    cred: &Credential,
    d: &Domain,
    uid: &str,
    t: &str,
    options: Value,
) -> ApiResult<UserInfo> {
    let r = EnableMfaRequest {
        user_id: uid.into(),
        mfa_type: t.into(),
        options,
        domain_id: d.id.clone(),
    };
    c.user_enable_mfa(ctx(), cred.clone(), r).await.unwrap()
}

async fn confirm(
    c: &IdentityClient,
    cred: &Credential,
    d: &Domain,
    uid: &str,
    code: &str,
) -> ApiResult<UserInfo> {
    let r = ConfirmMfaRequest {
        user_id: uid.into(),
        verify_code: code.into(),
        domain_id: d.id.clone(),
    };
    c.user_confirm_mfa(ctx(), cred.clone(), r).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn email_mfa_enable_confirm_login_and_disable() {
    let (port, store) = smtp::start();
    let s = with_smtp(port, |_| {});
    let c = s.client().await;
    let d = verified_user(&c, &s, "mo@mail.test").await;
    let me = bearer(&login(&c, &d.id, "mo@mail.test", PW).await.unwrap());
    assert_code!(
        enable(&c, &me, &d, "mo@mail.test", "SMS", identityd::value!({})).await,
        NotSupportedMfaType
    );
    assert_code!(
        enable(&c, &me, &d, "mo@mail.test", "EMAIL", identityd::value!({})).await,
        RequiredParameter
    );
    let u = enable(
        &c,
        &me,
        &d,
        "mo@mail.test",
        "EMAIL",
        identityd::value!({"email": "mfa@mail.test"}),
    )
    .await
    .unwrap();
    let mfa = u.mfa.unwrap();
    assert_eq!(
        (mfa.state, mfa.mfa_type),
        (MfaState::Disabled, Some(MfaType::Email)),
        "nothing active before confirm"
    );
    let code = smtp::wait_for(&store, "mfa@mail.test", 1).code();
    let u = confirm(&c, &me, &d, "mo@mail.test", &code).await.unwrap();
    assert_eq!(u.mfa.unwrap().state, MfaState::Enabled);
    assert_code!(
        enable(&c, &me, &d, "mo@mail.test", "OTP", identityd::value!({})).await,
        MfaAlreadyEnabled
    );

    // Login now needs a code: the first call mails one.
    assert_code!(
        call!(c.token_issue(
            ctx(),
            Credential::none(),
            issue(&d, "mo@mail.test", PW, None)
        )),
        MfaRequired
    );
    let code = smtp::wait_for(&store, "mfa@mail.test", 2).code();
    let wrong = if code == "000000" { "111111" } else { "000000" };
    assert_code!(
        call!(c.token_issue(
            ctx(),
            Credential::none(),
            issue(&d, "mo@mail.test", PW, Some(wrong))
        )),
        InvalidVerifyCode
    );
    assert_code!(
        call!(c.token_issue(
            ctx(),
            Credential::none(),
            issue(&d, "mo@mail.test", "Wr0ngPass", Some(&code))
        )),
        AuthenticationFailure
    );
    let t = call!(c.token_issue(
        ctx(),
        Credential::none(),
        issue(&d, "mo@mail.test", PW, Some(&code))
    ))
    .unwrap();
    // Disable: a code by mail, then confirm.
    let me = bearer(&t);
    let r = DisableMfaRequest {
        user_id: "mo@mail.test".into(),
        force: None,
        domain_id: d.id.clone(),
    };
    let u = call!(c.user_disable_mfa(ctx(), me.clone(), r.clone())).unwrap();
    assert_eq!(
        u.mfa.unwrap().state,
        MfaState::Enabled,
        "stays enabled until confirmed"
    );
    let code = smtp::wait_for(&store, "mfa@mail.test", 3).code();
    let u = confirm(&c, &me, &d, "mo@mail.test", &code).await.unwrap();
    assert_eq!(u.mfa.unwrap().state, MfaState::Disabled);
    assert_code!(
        call!(c.user_disable_mfa(ctx(), me.clone(), r)),
        MfaAlreadyDisabled
    );
    login(&c, &d.id, "mo@mail.test", PW).await.unwrap();
    // A user cannot force-disable; an admin can.
    let force = DisableMfaRequest {
        user_id: "mo@mail.test".into(),
        force: Some(true),
        domain_id: d.id.clone(),
    };
    assert_code!(
        call!(c.user_disable_mfa(ctx(), me, force)),
        PermissionDenied
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn otp_mfa_with_codes_computed_from_the_returned_secret() {
    let (port, _store) = smtp::start();
    let s = with_smtp(port, |_| {});
    let c = s.client().await;
    let d = verified_user(&c, &s, "ot@mail.test").await;
    let me = bearer(&login(&c, &d.id, "ot@mail.test", PW).await.unwrap());
    let u = enable(&c, &me, &d, "ot@mail.test", "OTP", identityd::value!({}))
        .await
        .unwrap();
    let uri = u.mfa.unwrap().options["otp_qrcode_uri"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        uri.starts_with("otpauth://totp/identityd:ot%40mail.test?"),
        "{uri}"
    );
    let secret_b32 = uri
        .split(['?', '&'])
        .find_map(|p| p.strip_prefix("secret="))
        .unwrap();
    let secret = TotpSecret::from_base32(secret_b32).unwrap();
    // The secret is shown once: a later get does not carry it.
    let g = GetUserRequest {
        user_id: "ot@mail.test".into(),
        domain_id: d.id.clone(),
        only: None,
    };
    let again = call!(c.user_get(ctx(), d.admin.clone(), g)).unwrap();
    assert!(!format!("{:?}", again.mfa).contains(secret_b32));
    let now = || s.clock.as_ref().now_ms();
    let code_now = |offset: u64| totp::code_at(&secret, totp::step_at(now()).unwrap() + offset);
    confirm(&c, &me, &d, "ot@mail.test", &code_now(0))
        .await
        .unwrap();
    assert_code!(
        call!(c.token_issue(
            ctx(),
            Credential::none(),
            issue(&d, "ot@mail.test", PW, None)
        )),
        MfaRequired
    );
    // The step used to confirm is never accepted again; the next one is.
    assert_code!(
        call!(c.token_issue(
            ctx(),
            Credential::none(),
            issue(&d, "ot@mail.test", PW, Some(&code_now(0)))
        )),
        InvalidVerifyCode
    );
    s.clock.advance_ms(30_000);
    let t = call!(c.token_issue(
        ctx(),
        Credential::none(),
        issue(&d, "ot@mail.test", PW, Some(&code_now(0)))
    ))
    .unwrap();
    // Disable with the next TOTP.
    let me = bearer(&t);
    let r = DisableMfaRequest {
        user_id: "ot@mail.test".into(),
        force: None,
        domain_id: d.id.clone(),
    };
    call!(c.user_disable_mfa(ctx(), me.clone(), r)).unwrap();
    s.clock.advance_ms(30_000);
    let u = confirm(&c, &me, &d, "ot@mail.test", &code_now(0))
        .await
        .unwrap();
    assert_eq!(u.mfa.unwrap().state, MfaState::Disabled);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_smtp_outage_neither_fails_nor_blocks_the_rpc_and_mail_arrives_later() {
    // Reserve a port, then close it: nothing listens there until the server "comes back".
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let s = with_smtp(port, |_| {});
    let c = s.client().await;
    let d = domain(&c, &s.key, "acme").await;
    call!(c.user_create(ctx(), d.admin.clone(), new_user(&d.id, "late@acme.io"))).unwrap();
    let v = VerifyEmailRequest {
        user_id: "late@acme.io".into(),
        domain_id: d.id.clone(),
        email: Some("late@mail.test".into()),
        force: None,
    };
    assert_eq!(
        call!(c.user_verify_email(ctx(), d.admin.clone(), v)),
        Ok(Empty {})
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    let store: Store = smtp::serve(std::net::TcpListener::bind(("127.0.0.1", port)).unwrap());
    let m = tokio::task::spawn_blocking(move || smtp::wait_for(&store, "late@mail.test", 1))
        .await
        .unwrap();
    assert_eq!(m.code().len(), 6);
}
