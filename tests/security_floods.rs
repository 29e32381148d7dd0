//! Issue #11, the floods (items 3, 7, 14 and the Low login items), through the real server:
//! anonymous memory through the lockout table, hashing saturation by resets and garbage logins,
//! per-source and per-target rate limits, a stale write-back after a temporary-password login,
//! disabled vs unknown domains, and token lifetimes beyond i64.

mod common;
use common::smtp;
use common::*;
use identityd::api::*;
use identityd::auth::hasher::HashParams;
use identityd::auth::totp::{self, TotpSecret};
use identityd::client::{IdentityClient, ctx};
use identityd::model::clock::Clock;
use identityd::service::ResetMode;
use serde_json::{Value as Json, json};
use std::time::{Duration, Instant};

// ------------------------------------------------------------------------------------------
// helpers

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .new_agent()
}

/// POSTs JSON over real HTTP; returns (status, body).
fn http_post(s: &TestServer, path: &str, body: &Json) -> (u16, Json) {
    let mut resp = agent()
        .post(format!("{}{path}", s.http()))
        .header("content-type", "application/json")
        .send(body.to_string().as_bytes())
        .expect("HTTP exchange");
    let status = resp.status().as_u16();
    let text = resp.body_mut().read_to_string().expect("body");
    (status, serde_json::from_str(&text).unwrap_or(Json::Null))
}

/// The value of one series of `/metrics` (sent with the system key, in case the page needs it).
fn metric(s: &TestServer, series: &str) -> u64 {
    let key = s.key.0.as_ref().unwrap().expose().clone();
    let mut resp = agent()
        .get(format!("{}/metrics", s.http()))
        .header("authorization", format!("Bearer {key}"))
        .call()
        .expect("metrics");
    let text = resp.body_mut().read_to_string().expect("body");
    text.lines()
        .find_map(|l| {
            l.strip_prefix(series)?
                .strip_prefix(' ')?
                .trim()
                .parse()
                .ok()
        })
        .unwrap_or_else(|| panic!("no series {series} in\n{text}"))
}

fn lockout_entries(s: &TestServer) -> u64 {
    metric(s, "identityd_lockout_entries")
}

fn issue(domain_id: &str, uid: &str, pw: &str) -> IssueTokenRequest {
    IssueTokenRequest {
        domain_id: domain_id.into(),
        credentials: Credentials {
            user_id: uid.into(),
            password: pw.into(),
        },
        ..Default::default()
    }
}

/// A tarpc client whose connection comes from another loopback address (another source).
async fn client_from(s: &TestServer, local: [u8; 4]) -> IdentityClient {
    let sock = tokio::net::TcpSocket::new_v4().unwrap();
    sock.bind((std::net::Ipv4Addr::from(local), 0).into())
        .unwrap();
    let stream = sock.connect(s.server.rpc_addr).await.unwrap();
    stream.set_nodelay(true).unwrap();
    let transport = tarpc::serde_transport::new(
        identityd::transport::tarpc::framed(stream, identityd::transport::tarpc::MAX_FRAME),
        tarpc::tokio_serde::formats::Bincode::default(),
    );
    IdentityClient::new(tarpc::client::Config::default(), transport).spawn()
}

/// A domain, and a user whose e-mail the admin force-verified (eligible for resets).
async fn verified_user(c: &IdentityClient, s: &TestServer, name: &str, uid: &str) -> Domain {
    let d = domain(c, &s.key, name).await;
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

fn temp_password_in(body: &str) -> String {
    let re = regex::Regex::new(r"\b([A-Za-z0-9]{12})\b").unwrap();
    re.captures_iter(body)
        .map(|c| c[1].to_owned())
        .find(|w| {
            w.chars().any(|c| c.is_ascii_digit())
                && w.chars().any(|c| c.is_ascii_uppercase())
                && w.chars().any(|c| c.is_ascii_lowercase())
        })
        .expect("a temporary password in the mail")
}

// ------------------------------------------------------------------------------------------
// item 3: the lockout table

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_user_ids_are_refused_and_nothing_is_kept() {
    let s = TestServer::start();
    let c = s.client().await;
    let d = domain(&c, &s.key, "acme").await;
    assert_eq!(lockout_entries(&s), 0);

    // 512 KiB: far past the id limit, yet under the 1 MiB request frame cap (a 1 MiB id never
    // reaches decoding: the transport closes the connection on its frame length).
    let mb = "a".repeat(1 << 19);
    let long = format!("{}@acme.io", "b".repeat(200));
    for uid in [mb.as_str(), long.as_str()] {
        for _ in 0..20 {
            let e = call!(c.token_issue(ctx(), Credential::none(), issue(&d.id, uid, "x")))
                .unwrap_err();
            assert_eq!(e.code, ErrorCode::InvalidParameter, "{}", e.message);
            assert!(e.message.contains("credentials.user_id"), "{}", e.message);
            assert!(e.message.len() < 200, "the id is not echoed");
        }
        // Every +noauth path bounds its ids the same way.
        let r = UserRequest {
            user_id: uid.into(),
            domain_id: d.id.clone(),
        };
        assert_code!(
            call!(c.user_reset_password(ctx(), Credential::none(), r)),
            InvalidParameter
        );
    }
    let e =
        call!(c.token_issue(ctx(), Credential::none(), issue(&mb, "u@acme.io", "x"))).unwrap_err();
    assert_eq!(e.code, ErrorCode::InvalidParameter);
    // Over HTTP too (a 200-char id; a 1 MiB body is 413 anyway).
    let (status, body) = http_post(
        &s,
        "/identity/v2/token/issue",
        &json!({"domain_id": d.id, "credentials": {"user_id": long, "password": "x"}}),
    );
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["detail"]["code"], "ERROR_INVALID_PARAMETER");
    assert_eq!(lockout_entries(&s), 0, "nothing kept for refused ids");

    // The gauge does count: one real failure is one entry (of fixed size), and a success of
    // the same user removes it.
    assert_code!(
        login(&c, &d.id, &d.admin_id, "Wr0ngPassword").await,
        AuthenticationFailure
    );
    assert_eq!(lockout_entries(&s), 1);
    login(&c, &d.id, &d.admin_id, PW).await.unwrap();
    assert_eq!(lockout_entries(&s), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_lockout_table_refuses_new_ids_but_never_unblocks_a_locked_user() {
    let s = TestServer::start_with(|c| c.lockout.max_entries = 5);
    let c = s.client().await;
    let d = domain(&c, &s.key, "acme").await;
    let other = domain(&c, &s.key, "other").await;
    call!(c.user_create(ctx(), d.admin.clone(), new_user(&d.id, "v@acme.io"))).unwrap();
    for _ in 0..10 {
        assert_code!(
            login(&c, &d.id, "v@acme.io", "Wr0ngPassword").await,
            AuthenticationFailure
        );
    }
    assert_code!(login(&c, &d.id, "v@acme.io", PW).await, LoginBlocked);

    // The attacker floods the table with distinct ids: 4 fit, then new ids are refused.
    let mut refused = 0;
    for i in 0..40 {
        match login(&c, &d.id, &format!("g{i}@acme.io"), "x").await {
            Err(e) if e.code == ErrorCode::AuthenticationFailure => {}
            Err(e) if e.code == ErrorCode::TooManyRequests => {
                assert_eq!(e.status(), Status::ResourceExhausted);
                refused += 1;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(refused, 36);
    assert_eq!(lockout_entries(&s), 5, "bounded by the cap");
    // The victim is still blocked, even with the right password.
    assert_code!(login(&c, &d.id, "v@acme.io", PW).await, LoginBlocked);
    // Over HTTP a refusal is 429.
    let (status, body) = http_post(
        &s,
        "/identity/v2/token/issue",
        &json!({"domain_id": d.id, "credentials": {"user_id": "new@acme.io", "password": "x"}}),
    );
    assert_eq!(status, 429, "{body}");
    assert_eq!(body["detail"]["code"], "ERROR_TOO_MANY_REQUESTS");
    // Another tenant has its own table.
    login(&c, &other.id, &other.admin_id, PW).await.unwrap();
    // Once the block and the failures expire, everything fits again.
    s.clock.advance_ms(300_000);
    login(&c, &d.id, "v@acme.io", PW).await.unwrap();
    login(&c, &d.id, &d.admin_id, PW).await.unwrap();
}

// ------------------------------------------------------------------------------------------
// item 7: hashing saturation and rate limits

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn password_mode_resets_hash_nothing_and_do_not_delay_logins() {
    let (port, store) = smtp::start();
    let s = TestServer::start_with(|c| {
        c.mail = format!("smtp://127.0.0.1:{port}");
        c.mail_backoff = Duration::from_millis(50);
        c.service.reset_mode = ResetMode::Password;
        // One slow hashing thread and a tiny queue: any hashing by resets would show.
        c.hash_threads = 1;
        c.hash_queue = 2;
        c.hash_params = HashParams {
            m_kib: 2048,
            t: 2,
            p: 1,
        };
        c.noauth.per_source.burst = 0;
    });
    let c = s.client().await;
    let d = verified_user(&c, &s, "acme", "cy@mail.test").await;
    let hashes = metric(&s, "identityd_hash_jobs_total{kind=\"hash\"}");
    let verifies = metric(&s, "identityd_hash_jobs_total{kind=\"verify\"}");

    // 400 anonymous resets: unknown users, unknown domains, and once the real user.
    let flood = (0..400).map(|i| {
        let (dom, uid) = match i {
            0 => (d.id.clone(), "cy@mail.test".to_owned()),
            _ if i % 2 == 0 => (d.id.clone(), format!("ghost{i}@mail.test")),
            _ => (format!("domain-{i:012x}"), "cy@mail.test".to_owned()),
        };
        let c = c.clone();
        async move {
            let r = UserRequest {
                user_id: uid,
                domain_id: dom,
            };
            c.user_reset_password(ctx(), Credential::none(), r)
                .await
                .unwrap()
        }
    });
    let started = Instant::now();
    let results = futures::future::join_all(flood).await;
    // Each answers Empty, whatever the account.
    assert!(results.iter().all(Result::is_ok));
    // A real login right after the flood is not refused and not delayed.
    let t0 = Instant::now();
    login(&c, &d.id, &d.admin_id, PW).await.unwrap();
    assert!(t0.elapsed() < Duration::from_secs(2), "{:?}", t0.elapsed());
    assert!(started.elapsed() < Duration::from_secs(10));
    // The real user got a temporary password mail; nothing was hashed for any reset.
    let body = smtp::wait_for(&store, "cy@mail.test", 1).body();
    assert_eq!(
        metric(&s, "identityd_hash_jobs_total{kind=\"hash\"}"),
        hashes,
        "resets do not hash"
    );
    assert_eq!(
        metric(&s, "identityd_hash_jobs_total{kind=\"verify\"}"),
        verifies + 1,
        "only the admin's login verified"
    );
    // The temporary password (stored as a keyed hash) works, and becomes an argon2 password.
    let temp = temp_password_in(&body);
    login(&c, &d.id, "cy@mail.test", &temp).await.unwrap();
    assert_code!(
        login(&c, &d.id, "cy@mail.test", PW).await,
        AuthenticationFailure
    );
    login(&c, &d.id, "cy@mail.test", &temp).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_from_one_source_is_limited_while_another_source_logs_in() {
    let s = TestServer::start_with(|c| {
        c.noauth.per_source.burst = 20;
        c.noauth.per_source.per_minute = 60;
    });
    let c = s.client().await;
    let d = domain(&c, &s.key, "acme").await; // 1 login from 127.0.0.1
    let refresh = login(&c, &d.id, &d.admin_id, PW)
        .await
        .unwrap()
        .refresh_token;
    // The attacker (127.0.0.1) floods garbage logins.
    let mut ok = 0;
    let mut limited = 0;
    for i in 0..40 {
        match login(&c, &d.id, &format!("g{i}@acme.io"), "x").await {
            Err(e) if e.code == ErrorCode::AuthenticationFailure => ok += 1,
            Err(e) if e.code == ErrorCode::TooManyRequests => {
                assert!(e.message.contains("per source"), "{}", e.message);
                limited += 1
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!((ok, limited), (18, 22));
    // Every +noauth method of that source is limited, on both transports.
    assert_code!(login(&c, &d.id, &d.admin_id, PW).await, TooManyRequests);
    let r = RefreshTokenRequest {
        refresh_token: refresh.clone(),
        timeout: None,
    };
    assert_code!(
        call!(c.token_refresh(ctx(), Credential::none(), r)),
        TooManyRequests
    );
    assert_code!(
        call!(c.user_reset_password(ctx(), Credential::none(), user_req(&d.id, &d.admin_id))),
        TooManyRequests
    );
    let (status, body) = http_post(
        &s,
        "/identity/v2/token/issue",
        &json!({"domain_id": d.id, "credentials": {"user_id": d.admin_id, "password": PW}}),
    );
    assert_eq!(status, 429, "{body}");
    assert_eq!(body["detail"]["code"], "ERROR_TOO_MANY_REQUESTS");
    // Credentialed calls are not affected, nor is another source.
    call!(c.user_get(
        ctx(),
        d.admin.clone(),
        GetUserRequest {
            user_id: d.admin_id.clone(),
            domain_id: d.id.clone(),
            only: None
        }
    ))
    .unwrap();
    let c2 = client_from(&s, [127, 0, 0, 2]).await;
    login(&c2, &d.id, &d.admin_id, PW).await.unwrap();
    // The source regains a call a second.
    s.clock.advance_ms(1_000);
    login(&c, &d.id, &d.admin_id, PW).await.unwrap();
    assert_code!(login(&c, &d.id, &d.admin_id, PW).await, TooManyRequests);
    assert!(metric(&s, "identityd_noauth_limited_total{by=\"source\"}") >= 26);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_target_is_limited_without_affecting_others() {
    let s = TestServer::start_with(|c| {
        c.noauth.per_source.burst = 0;
        c.noauth.per_target.burst = 3;
        c.noauth.per_target.per_minute = 1;
    });
    let c = s.client().await;
    let d = domain(&c, &s.key, "acme").await;
    call!(c.user_create(ctx(), d.admin.clone(), new_user(&d.id, "v@acme.io"))).unwrap();
    for _ in 0..3 {
        login(&c, &d.id, "v@acme.io", PW).await.unwrap();
    }
    let e = login(&c, &d.id, "v@acme.io", PW).await.unwrap_err();
    assert_eq!(e.code, ErrorCode::TooManyRequests);
    assert!(e.message.contains("per target"), "{}", e.message);
    assert_eq!(lockout_entries(&s), 0, "a refused attempt keeps nothing");
    // Other users of the domain, and the same user id in another domain, are not affected.
    login(&c, &d.id, &d.admin_id, PW).await.unwrap();
    // Resets are limited per target separately.
    for _ in 0..3 {
        call!(c.user_reset_password(ctx(), Credential::none(), user_req(&d.id, "v@acme.io")))
            .unwrap();
    }
    assert_code!(
        call!(c.user_reset_password(ctx(), Credential::none(), user_req(&d.id, "v@acme.io"))),
        TooManyRequests
    );
    s.clock.advance_ms(60_000);
    login(&c, &d.id, "v@acme.io", PW).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_logins_do_not_starve_a_known_user() {
    let s = TestServer::start_with(|c| {
        // One slow hashing thread, a tiny queue, one dummy verification at a time.
        c.hash_threads = 1;
        c.hash_queue = 4;
        c.hash_dummy_budget = Some(1);
        c.hash_params = HashParams {
            m_kib: 4096,
            t: 2,
            p: 1,
        };
        c.noauth.per_source.burst = 0;
        c.noauth.per_target.burst = 0;
    });
    let c = s.client().await;
    let d = domain(&c, &s.key, "acme").await;
    let other = domain(&c, &s.key, "other").await;
    // 300 garbage logins at once: unknown users of a real domain and unknown domains.
    let flood: Vec<_> = (0..300)
        .map(|i| {
            let c = c.clone();
            let dom = if i % 2 == 0 {
                d.id.clone()
            } else {
                format!("domain-{i:012x}")
            };
            tokio::spawn(async move { login(&c, &dom, &format!("g{i}@x.io"), "x").await })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(5)).await;
    // Real users of both tenants log in meanwhile, and are not refused.
    let t0 = Instant::now();
    login(&c, &d.id, &d.admin_id, PW).await.unwrap();
    login(&c, &other.id, &other.admin_id, PW).await.unwrap();
    let real = t0.elapsed();
    let mut refused_fast = 0;
    for f in flood {
        let e = f.await.unwrap().unwrap_err();
        // Garbage gets the answer of a wrong password, hashed or not.
        assert_eq!(e.code, ErrorCode::AuthenticationFailure, "{}", e.message);
        refused_fast += 1;
    }
    assert_eq!(refused_fast, 300);
    let dummies = metric(&s, "identityd_hash_jobs_total{kind=\"dummy_verify\"}");
    let refused = metric(&s, "identityd_hash_refused_total{queue=\"dummy\"}");
    assert_eq!(dummies + refused, 300);
    assert!(refused > 0, "the dummy budget refused some: {dummies} ran");
    assert_eq!(
        metric(&s, "identityd_hash_refused_total{queue=\"main\"}"),
        0
    );
    assert!(real < Duration::from_secs(3), "{real:?}");
}

// ------------------------------------------------------------------------------------------
// item 14: no stale write-back after a temporary-password login

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn totp_replay_after_a_temporary_password_login_is_refused() {
    let (port, store) = smtp::start();
    let s = TestServer::start_with(|c| {
        c.mail = format!("smtp://127.0.0.1:{port}");
        c.mail_backoff = Duration::from_millis(50);
        c.service.reset_mode = ResetMode::Password;
    });
    let c = s.client().await;
    let uid = "ot@mail.test";
    let d = verified_user(&c, &s, "acme", uid).await;
    let me = bearer(&login(&c, &d.id, uid, PW).await.unwrap());
    let r = EnableMfaRequest {
        user_id: uid.into(),
        mfa_type: "OTP".into(),
        options: identityd::value!({}),
        domain_id: d.id.clone(),
    };
    let u = call!(c.user_enable_mfa(ctx(), me.clone(), r)).unwrap();
    let uri = u.mfa.unwrap().options["otp_qrcode_uri"]
        .as_str()
        .unwrap()
        .to_owned();
    let secret_b32 = uri
        .split(['?', '&'])
        .find_map(|p| p.strip_prefix("secret="))
        .unwrap();
    let secret = TotpSecret::from_base32(secret_b32).unwrap();
    let code_now = || totp::code_at(&secret, totp::step_at(s.clock.as_ref().now_ms()).unwrap());
    let r = ConfirmMfaRequest {
        user_id: uid.into(),
        verify_code: code_now().into(),
        domain_id: d.id.clone(),
    };
    call!(c.user_confirm_mfa(ctx(), me.clone(), r)).unwrap();
    s.clock.advance_ms(30_000);

    // An anonymous reset leaves a temporary password pending.
    call!(c.user_reset_password(ctx(), Credential::none(), user_req(&d.id, uid))).unwrap();
    let temp = temp_password_in(&smtp::wait_for(&store, uid, 1).body());
    let mfa_login = |pw: &str, code: &str| IssueTokenRequest {
        auth_type: Some(AuthType::Mfa),
        verify_code: Some(code.into()),
        ..issue(&d.id, uid, pw)
    };
    let code = code_now();
    call!(c.token_issue(ctx(), Credential::none(), mfa_login(&temp, &code))).unwrap();
    // The same TOTP step again (the temporary password is now the password): refused.
    assert_code!(
        call!(c.token_issue(ctx(), Credential::none(), mfa_login(&temp, &code))),
        InvalidVerifyCode
    );
    // The promotion kept the MFA state it did not decide about.
    let g = GetUserRequest {
        user_id: uid.into(),
        domain_id: d.id.clone(),
        only: None,
    };
    let u = call!(c.user_get(ctx(), d.admin.clone(), g)).unwrap();
    assert_eq!(u.mfa.unwrap().state, MfaState::Enabled);
    s.clock.advance_ms(30_000);
    call!(c.token_issue(ctx(), Credential::none(), mfa_login(&temp, &code_now()))).unwrap();
}

// ------------------------------------------------------------------------------------------
// Low: disabled vs unknown domain, huge timeouts

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disabled_domain_answers_anonymous_logins_like_an_unknown_one() {
    let s = TestServer::start();
    let c = s.client().await;
    let d = domain(&c, &s.key, "acme").await;
    let dr = DomainRequest {
        domain_id: d.id.clone(),
    };
    call!(c.domain_disable(ctx(), s.key.clone(), dr.clone())).unwrap();
    let disabled = login(&c, &d.id, &d.admin_id, PW).await.unwrap_err();
    let unknown = login(&c, "domain-000000000000", &d.admin_id, PW)
        .await
        .unwrap_err();
    assert_eq!(disabled.code, ErrorCode::AuthenticationFailure);
    assert_eq!(
        (disabled.code, &disabled.message),
        (unknown.code, &unknown.message)
    );
    let body = |dom: &str| json!({"domain_id": dom, "credentials": {"user_id": d.admin_id, "password": PW}});
    let a = http_post(&s, "/identity/v2/token/issue", &body(&d.id));
    let b = http_post(&s, "/identity/v2/token/issue", &body("domain-000000000000"));
    assert_eq!(a.0, 401);
    assert_eq!(a, b);
    // Enabled again, the domain works.
    call!(c.domain_enable(ctx(), s.key.clone(), dr)).unwrap();
    login(&c, &d.id, &d.admin_id, PW).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timeout_beyond_i64_is_refused_not_wrapped() {
    let s = TestServer::start();
    let c = s.client().await;
    let d = domain(&c, &s.key, "acme").await;
    for t in [u64::MAX, i64::MAX as u64 + 1, 604_801] {
        let r = IssueTokenRequest {
            timeout: Some(t),
            ..issue(&d.id, &d.admin_id, PW)
        };
        let e = call!(c.token_issue(ctx(), Credential::none(), r)).unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidParameter, "{t}: {}", e.message);
        assert!(e.message.contains("timeout"));
    }
    let t = login(&c, &d.id, &d.admin_id, PW).await.unwrap();
    let r = RefreshTokenRequest {
        refresh_token: t.refresh_token.clone(),
        timeout: Some(u64::MAX),
    };
    assert_code!(
        call!(c.token_refresh(ctx(), Credential::none(), r)),
        InvalidParameter
    );
    // The longest allowed works, and the token is valid.
    let r = IssueTokenRequest {
        timeout: Some(604_800),
        ..issue(&d.id, &d.admin_id, PW)
    };
    let t = call!(c.token_issue(ctx(), Credential::none(), r)).unwrap();
    s.clock.advance_ms(604_000 * 1000);
    let g = GetUserRequest {
        user_id: d.admin_id.clone(),
        domain_id: d.id.clone(),
        only: None,
    };
    call!(c.user_get(ctx(), bearer(&t), g)).unwrap();
}
