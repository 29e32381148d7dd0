//! End-to-end tests of the outbox against a real SMTP server (mailin-embedded, in process, on a
//! loopback port), the file transport and the log transport.

use std::io;
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use identityd::api::Secret;
use identityd::mail::{
    EnqueueError, Mail, MailKind, MailParams, MailTransport, Outbox, OutboxConfig, OutboxHandle,
};
use tokio::time::Instant;

// ---------------------------------------------------------------- a real SMTP server

mod common;
use common::smtp::{Received, Store, serve as start_smtp, start as smtp_server};

// ---------------------------------------------------------------- helpers

fn config(base_ms: u64, max_ms: u64, attempts: u32, capacity: usize) -> OutboxConfig {
    OutboxConfig {
        from: "identityd <no-reply@identityd.test>".into(),
        service_name: "identityd".into(),
        queue_capacity: capacity,
        max_attempts: attempts,
        base_backoff: Duration::from_millis(base_ms),
        max_backoff: Duration::from_millis(max_ms),
    }
}

fn mail(to: &str, kind: MailKind, lang: &str, secret: &str) -> Mail {
    Mail {
        to: to.into(),
        kind,
        lang: lang.into(),
        params: MailParams {
            user_id: to.into(),
            secret: Secret::new(secret),
            valid_minutes: 5,
        },
    }
}

async fn wait_until(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + limit;
    while Instant::now() < end {
        if done() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    done()
}

fn delivered(store: &Store) -> Vec<Received> {
    store.lock().unwrap().clone()
}

/// Collects formatted log output of the current thread (the tests run on current-thread
/// runtimes, so the outbox task logs on the test's thread).
#[derive(Clone, Default)]
struct LogCapture(Arc<Mutex<Vec<u8>>>);

impl io::Write for LogCapture {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl LogCapture {
    fn install(&self) -> tracing::subscriber::DefaultGuard {
        let writer = self.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::set_default(subscriber)
    }
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

// ---------------------------------------------------------------- tests

#[tokio::test]
async fn smtp_delivery_through_outbox() {
    let (port, store) = smtp_server();
    let transport = MailTransport::from_url(&format!("smtp://127.0.0.1:{port}")).unwrap();
    let outbox = Outbox::start(transport, config(50, 500, 5, 16)).unwrap();
    outbox
        .enqueue(mail(
            "alice@example.com",
            MailKind::LoginCode,
            "en",
            "604213",
        ))
        .unwrap();
    assert!(wait_until(Duration::from_secs(10), || !delivered(&store).is_empty()).await);
    let got = delivered(&store);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].to, vec!["alice@example.com".to_string()]);
    let data = &got[0].data;
    assert!(
        data.contains("Subject: [identityd] Your sign-in code"),
        "{data}"
    );
    assert!(data.contains("604213"), "{data}");
    assert!(
        data.contains("From: identityd <no-reply@identityd.test>"),
        "{data}"
    );
    let report = outbox.shutdown(Duration::from_secs(2)).await;
    assert_eq!(report.abandoned, 0);
    assert_eq!(
        (report.stats.sent, report.stats.failed, report.stats.queued),
        (1, 0, 0)
    );
}

#[test]
fn smtp_delivery_inside_local_set_like_actix() {
    // actix-rt runs a current-thread tokio runtime with a LocalSet: the outbox must work there.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, async {
        let (port, store) = smtp_server();
        let transport = MailTransport::from_url(&format!("smtp://localhost:{port}")).unwrap();
        let outbox = Outbox::start(transport, config(50, 500, 5, 16)).unwrap();
        for i in 0..3 {
            outbox
                .enqueue(mail(
                    &format!("user{i}@example.com"),
                    MailKind::VerifyCode,
                    "en",
                    &format!("11111{i}"),
                ))
                .unwrap();
        }
        // shutdown drains what is queued.
        let report = outbox.shutdown(Duration::from_secs(10)).await;
        assert_eq!(report.abandoned, 0);
        assert_eq!(report.stats.sent, 3);
        let got = delivered(&store);
        assert_eq!(got.len(), 3);
        for i in 0..3 {
            assert!(got.iter().any(|r| r.data.contains(&format!("11111{i}"))));
        }
        assert_eq!(
            outbox.enqueue(mail("late@example.com", MailKind::VerifyCode, "en", "1")),
            Err(EnqueueError::Closed)
        );
    });
}

#[tokio::test]
async fn outage_then_recovery_delivers_after_retries() {
    let logs = LogCapture::default();
    let _guard = logs.install();

    // Reserve a port, then leave it closed: nothing listens there for now.
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let transport = MailTransport::from_url(&format!("smtp://127.0.0.1:{port}")).unwrap();
    let outbox: OutboxHandle = Outbox::start(transport, config(20, 200, 1000, 16)).unwrap();

    // enqueue is synchronous: it returns without awaiting anything, while SMTP is down.
    let queued = outbox.enqueue(mail("bob@example.org", MailKind::MfaCode, "en", "777001"));
    assert_eq!(queued, Ok(()));
    assert_eq!(outbox.stats().queued, 1);

    // Let several attempts fail.
    assert!(wait_until(Duration::from_secs(10), || outbox.stats().retried >= 3).await);
    assert_eq!(outbox.stats().sent, 0);

    // Bring the server up on that port.
    let listener = {
        let end = std::time::Instant::now() + Duration::from_secs(5);
        loop {
            match TcpListener::bind(("127.0.0.1", port)) {
                Ok(l) => break l,
                Err(e) if std::time::Instant::now() < end => {
                    eprintln!("rebinding {port}: {e}");
                    std::thread::sleep(Duration::from_millis(50));
                }
                Err(e) => panic!("cannot rebind {port}: {e}"),
            }
        }
    };
    let store = start_smtp(listener);
    // The server stores the message before it answers 250, so wait for both sides.
    assert!(
        wait_until(Duration::from_secs(10), || {
            !delivered(&store).is_empty() && outbox.stats().sent == 1
        })
        .await
    );
    let got = delivered(&store);
    assert!(got[0].data.contains("777001"));
    assert!(got[0].data.contains("Subject: [identityd] "));
    let stats = outbox.stats();
    assert_eq!((stats.sent, stats.failed, stats.queued), (1, 0, 0));
    assert!(stats.retried >= 3);

    let text = logs.text();
    assert!(text.contains("will retry"), "{text}");
    assert!(text.contains("example.org"), "{text}");
    assert!(!text.contains("777001"), "code leaked into logs: {text}");
    assert!(
        !text.contains("bob@example.org"),
        "full recipient in failure logs: {text}"
    );
}

#[tokio::test]
async fn permanent_rejection_is_not_retried() {
    let (port, store) = smtp_server();
    let transport = MailTransport::from_url(&format!("smtp://127.0.0.1:{port}")).unwrap();
    let outbox = Outbox::start(transport, config(10, 50, 5, 16)).unwrap();
    outbox
        .enqueue(mail(
            "reject@example.com",
            MailKind::VerifyCode,
            "en",
            "123123",
        ))
        .unwrap();
    assert!(wait_until(Duration::from_secs(10), || outbox.stats().failed == 1).await);
    let stats = outbox.stats();
    assert_eq!((stats.sent, stats.retried, stats.queued), (0, 0, 0));
    assert!(delivered(&store).is_empty());
}

#[tokio::test]
async fn attempts_are_bounded() {
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let transport = MailTransport::from_url(&format!("smtp://127.0.0.1:{port}")).unwrap();
    let outbox = Outbox::start(transport, config(5, 20, 3, 16)).unwrap();
    outbox
        .enqueue(mail("carol@example.com", MailKind::VerifyCode, "en", "9"))
        .unwrap();
    assert!(wait_until(Duration::from_secs(10), || outbox.stats().failed == 1).await);
    let stats = outbox.stats();
    assert_eq!((stats.sent, stats.retried, stats.queued), (0, 2, 0));
}

#[tokio::test]
async fn full_queue_rejects_without_waiting_and_shutdown_abandons() {
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let transport = MailTransport::from_url(&format!("smtp://127.0.0.1:{port}")).unwrap();
    let outbox = Outbox::start(transport, config(60_000, 60_000, 10, 1)).unwrap();
    // Current-thread runtime and no await in between: the worker has not run yet.
    assert_eq!(
        outbox.enqueue(mail("a@example.com", MailKind::LoginCode, "en", "1")),
        Ok(())
    );
    assert_eq!(
        outbox.enqueue(mail("b@example.com", MailKind::LoginCode, "en", "2")),
        Err(EnqueueError::Full)
    );
    assert_eq!(outbox.stats().queued, 1);
    assert_eq!(
        outbox.enqueue(mail("not an address", MailKind::LoginCode, "en", "3")),
        Err(EnqueueError::InvalidRecipient)
    );
    let report = outbox.shutdown(Duration::from_millis(300)).await;
    assert_eq!(report.abandoned, 1);
    assert_eq!(
        (report.stats.failed, report.stats.queued, report.stats.sent),
        (1, 0, 0)
    );
}

#[test]
fn file_transport_writes_eml_inside_local_set() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let local = tokio::task::LocalSet::new();
    let dir = tempfile::tempdir().unwrap();
    let mail_dir = dir.path().join("outbox"); // does not exist yet
    local.block_on(&rt, async {
        let url = format!("file://{}", mail_dir.display());
        let outbox = Outbox::start(
            MailTransport::from_url(&url).unwrap(),
            config(10, 100, 3, 8),
        )
        .unwrap();
        outbox
            .enqueue(mail(
                "dave@example.com",
                MailKind::TempPassword,
                "en",
                "Tmp4Pass8xyz",
            ))
            .unwrap();
        outbox
            .enqueue(mail("eve@example.jp", MailKind::VerifyCode, "ja", "246810"))
            .unwrap();
        let report = outbox.shutdown(Duration::from_secs(5)).await;
        assert_eq!(report.stats.sent, 2);
    });
    let mut files: Vec<_> = std::fs::read_dir(&mail_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert_eq!(files.len(), 2);
    assert!(
        files
            .iter()
            .all(|p| p.extension().is_some_and(|e| e == "eml"))
    );
    let texts: Vec<String> = files
        .iter()
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect();
    let en = texts
        .iter()
        .find(|t| t.contains("dave@example.com"))
        .unwrap();
    assert!(
        en.contains("Subject: [identityd] Your temporary password"),
        "{en}"
    );
    assert!(en.contains("Tmp4Pass8xyz"));
    let ja = texts.iter().find(|t| t.contains("eve@example.jp")).unwrap();
    // Non-ASCII subject: the prefix stays literal, the rest is an RFC 2047 encoded word.
    let subject = ja
        .lines()
        .find_map(|l| l.strip_prefix("Subject: [identityd] =?utf-8?b?"))
        .and_then(|rest| rest.strip_suffix("?="))
        .unwrap_or_else(|| panic!("{ja}"));
    assert_eq!(b64(subject), "メールアドレスの確認");
    assert!(ja.contains("Content-Transfer-Encoding: base64"), "{ja}");
    let (_, body) = ja.split_once("\r\n\r\n").unwrap();
    let body = b64(&body.replace("\r\n", ""));
    assert!(body.contains("確認コード"), "{body}");
    assert!(body.contains("246810"), "{body}");
}

fn b64(text: &str) -> String {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .unwrap();
    String::from_utf8(bytes).unwrap()
}

#[tokio::test]
async fn log_transport_logs_recipient_and_subject_only() {
    let logs = LogCapture::default();
    let _guard = logs.install();
    let outbox = Outbox::start(
        MailTransport::from_url("log").unwrap(),
        config(10, 100, 3, 8),
    )
    .unwrap();
    outbox
        .enqueue(mail(
            "frank@example.com",
            MailKind::ResetLink,
            "en",
            "https://x.test/r?t=SECRET-TOKEN-42",
        ))
        .unwrap();
    assert!(wait_until(Duration::from_secs(5), || outbox.stats().sent == 1).await);
    let text = logs.text();
    assert!(text.contains("frank@example.com"), "{text}");
    assert!(text.contains("[identityd] Reset your password"), "{text}");
    assert!(
        !text.contains("SECRET-TOKEN-42"),
        "secret leaked into logs: {text}"
    );
}

#[tokio::test]
async fn none_transport_drops() {
    let outbox = Outbox::start(
        MailTransport::from_url("none").unwrap(),
        config(10, 100, 3, 8),
    )
    .unwrap();
    outbox
        .enqueue(mail("g@example.com", MailKind::MfaCode, "ko", "135790"))
        .unwrap();
    let report = outbox.shutdown(Duration::from_secs(2)).await;
    assert_eq!((report.stats.sent, report.stats.failed), (1, 0));
}

#[test]
fn mail_debug_hides_secret() {
    let m = mail("h@example.com", MailKind::LoginCode, "en", "864209");
    let dbg = format!("{m:?} {m:#?}");
    assert!(!dbg.contains("864209"), "{dbg}");
    assert!(dbg.contains("Secret(***)"));
}

#[test]
fn dropping_runtime_with_live_pooled_smtp_transport_does_not_panic() {
    // lettre's SMTP pool spawns on build and on drop; the outbox keeps it inside the runtime,
    // so even a runtime dropped without `shutdown` (a parked pooled connection included) is fine.
    let (port, store) = smtp_server();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let outbox = rt.block_on(async {
        let t = MailTransport::from_url(&format!("smtp://127.0.0.1:{port}")).unwrap();
        let outbox = Outbox::start(t, config(10, 100, 3, 8)).unwrap();
        outbox
            .enqueue(mail("i@example.com", MailKind::VerifyCode, "en", "5"))
            .unwrap();
        assert!(wait_until(Duration::from_secs(10), || outbox.stats().sent == 1).await);
        outbox
    });
    drop(rt);
    assert_eq!(delivered(&store).len(), 1);
    // The task is gone with the runtime: enqueue reports it instead of hanging or panicking.
    assert_eq!(
        outbox.enqueue(mail("j@example.com", MailKind::VerifyCode, "en", "6")),
        Err(EnqueueError::Closed)
    );
}

#[tokio::test]
async fn pending_mail_is_sent_after_every_handle_is_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("file://{}", dir.path().display());
    let outbox = Outbox::start(
        MailTransport::from_url(&url).unwrap(),
        config(10, 100, 3, 8),
    )
    .unwrap();
    outbox
        .enqueue(mail("k@example.com", MailKind::VerifyCode, "en", "7"))
        .unwrap();
    drop(outbox);
    let count = || {
        std::fs::read_dir(dir.path())
            .map(|d| d.count())
            .unwrap_or(0)
    };
    assert!(wait_until(Duration::from_secs(5), || count() == 1).await);
}
