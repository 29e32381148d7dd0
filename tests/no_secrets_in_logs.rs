//! Runs the flows that handle secrets with every log line captured at TRACE level, then searches
//! the logs for each password, code, token and key that went by.

mod common;
use common::smtp;
use common::*;
use identityd::api::*;
use identityd::client::ctx;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Clone, Default)]
struct Buf(Arc<Mutex<Vec<u8>>>);
impl Write for Buf {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_password_code_token_or_key_appears_in_any_log_line() {
    let buf = Buf::default();
    let w = buf.clone();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || w.clone())
        .init();

    let (port, store) = smtp::start();
    let s = TestServer::start_with(|c| {
        c.mail = format!("smtp://127.0.0.1:{port}");
        c.mail_backoff = Duration::from_millis(50);
    });
    let c = s.client().await;
    let d = domain(&c, &s.key, "acme").await;
    let mut secrets: Vec<String> = vec![
        PW.into(),
        s.key.0.clone().unwrap().expose().clone(),
        d.admin.0.clone().unwrap().expose().clone(),
    ];

    let mut r = new_user(&d.id, "sec@mail.test");
    r.email = Some("sec@mail.test".into());
    call!(c.user_create(ctx(), d.admin.clone(), r)).unwrap();
    // Wrong and right passwords, tokens.
    let wrong = "Wr0ngSecretPw";
    secrets.push(wrong.into());
    let _ = login(&c, &d.id, "sec@mail.test", wrong).await;
    let t = login(&c, &d.id, "sec@mail.test", PW).await.unwrap();
    secrets.push(t.access_token.expose().clone());
    secrets.push(t.refresh_token.expose().clone());
    let rt = RefreshTokenRequest {
        refresh_token: t.refresh_token.clone(),
        timeout: None,
    };
    let t2 = call!(c.token_refresh(ctx(), Credential::none(), rt)).unwrap();
    secrets.push(t2.access_token.expose().clone());
    // A verification code.
    let v = VerifyEmailRequest {
        user_id: "sec@mail.test".into(),
        domain_id: d.id.clone(),
        email: None,
        force: None,
    };
    call!(c.user_verify_email(ctx(), d.admin.clone(), v)).unwrap();
    let code = smtp::wait_for(&store, "sec@mail.test", 1).code();
    secrets.push(code.clone());
    let ce = ConfirmEmailRequest {
        user_id: "sec@mail.test".into(),
        verify_code: code.as_str().into(),
        domain_id: d.id.clone(),
    };
    call!(c.user_confirm_email(ctx(), d.admin.clone(), ce)).unwrap();
    // A reset token.
    let rr = UserRequest {
        user_id: "sec@mail.test".into(),
        domain_id: d.id.clone(),
    };
    call!(c.user_reset_password(ctx(), Credential::none(), rr)).unwrap();
    let body = smtp::wait_for(&store, "sec@mail.test", 2).body();
    let reset = body
        .split_whitespace()
        .find(|w| w.split('.').count() == 3 && w.len() > 100)
        .unwrap()
        .to_owned();
    secrets.push(reset.clone());
    let newpw = "An0therSecretPw";
    secrets.push(newpw.into());
    let up = UpdatePasswordRequest {
        new_password: newpw.into(),
        current_password: None,
    };
    call!(c.user_profile_update_password(ctx(), Credential::bearer(reset), up)).unwrap();
    // An MFA code at login.
    let me = bearer(&login(&c, &d.id, "sec@mail.test", newpw).await.unwrap());
    let en = EnableMfaRequest {
        user_id: "sec@mail.test".into(),
        mfa_type: "EMAIL".into(),
        options: identityd::value!({"email": "sec@mail.test"}),
        domain_id: d.id.clone(),
    };
    call!(c.user_enable_mfa(ctx(), me.clone(), en)).unwrap();
    let mcode = smtp::wait_for(&store, "sec@mail.test", 3).code();
    secrets.push(mcode.clone());
    let cm = ConfirmMfaRequest {
        user_id: "sec@mail.test".into(),
        verify_code: mcode.as_str().into(),
        domain_id: d.id.clone(),
    };
    call!(c.user_confirm_mfa(ctx(), me, cm)).unwrap();
    // Over HTTP too (the gateway's own logging).
    let http = s.http();
    let _ = std::thread::spawn(move || {
        ureq::post(format!("{http}/identity/v2/token/issue"))
            .send_json(serde_json::json!({"domain_id": "domain-x", "credentials": {"user_id": "a@b.io", "password": "HttpSecretPw1"}}))
    })
    .join();
    secrets.push("HttpSecretPw1".into());
    let dir = s.stop();
    for f in ["token.key", "code.key"] {
        secrets.push(
            std::fs::read_to_string(dir.path().join(f))
                .unwrap()
                .trim()
                .to_owned(),
        );
    }

    let logs = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
    assert!(logs.lines().count() > 20, "the logs were captured: {logs}");
    for secret in &secrets {
        assert!(!secret.is_empty());
        assert!(
            !logs.contains(secret.as_str()),
            "a secret reached the logs: …{}…",
            &secret[..secret.len().min(4)]
        );
    }
}
