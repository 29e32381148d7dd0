//! A real SMTP server (mailin-embedded) in the test process, on a loopback port.
#![allow(dead_code)]

use mailin_embedded::{Handler, Response, Server, SslConfig, response};
use std::io;
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub struct Received {
    pub to: Vec<String>,
    pub data: String,
}

impl Received {
    pub fn subject(&self) -> String {
        self.data
            .lines()
            .find_map(|l| l.strip_prefix("Subject: "))
            .unwrap_or_default()
            .to_owned()
    }

    /// The text body, decoded from base64 or quoted-printable when needed.
    pub fn body(&self) -> String {
        let (head, body) = self.data.split_once("\r\n\r\n").unwrap_or((&self.data, ""));
        if head.contains("Content-Transfer-Encoding: base64") {
            use base64::Engine;
            let joined: String = body.split_whitespace().collect();
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(joined.trim_end_matches('.'))
                .unwrap_or_default();
            String::from_utf8_lossy(&bytes).into_owned()
        } else if head.contains("Content-Transfer-Encoding: quoted-printable") {
            body.replace("=\r\n", "").replace("=3D", "=")
        } else {
            body.to_owned()
        }
    }

    /// The first run of six digits in the body (a verification code).
    pub fn code(&self) -> String {
        let re = regex::Regex::new(r"\b(\d{6})\b").unwrap();
        re.captures(&self.body())
            .expect("a 6-digit code in the mail")[1]
            .to_owned()
    }
}

pub type Store = Arc<Mutex<Vec<Received>>>;

#[derive(Clone, Default)]
struct Sink {
    to: Vec<String>,
    current: Vec<u8>,
    store: Store,
}

impl Handler for Sink {
    /// Addresses containing `reject` are refused (550), for tests of permanent failures.
    fn rcpt(&mut self, to: &str) -> Response {
        if to.contains("reject") {
            response::NO_MAILBOX
        } else {
            response::OK
        }
    }

    fn data_start(&mut self, _domain: &str, _from: &str, _is8bit: bool, to: &[String]) -> Response {
        self.to = to.to_vec();
        self.current.clear();
        response::OK
    }
    fn data(&mut self, buf: &[u8]) -> io::Result<()> {
        self.current.extend_from_slice(buf);
        Ok(())
    }
    fn data_end(&mut self) -> Response {
        let data = String::from_utf8_lossy(&self.current).into_owned();
        self.store.lock().unwrap().push(Received {
            to: std::mem::take(&mut self.to),
            data,
        });
        response::OK
    }
}

/// Serves SMTP on `listener` from a background thread (for the rest of the test process).
pub fn serve(listener: TcpListener) -> Store {
    let sink = Sink::default();
    let store = Arc::clone(&sink.store);
    let mut server = Server::new(sink);
    server
        .with_name("smtp.test")
        .with_ssl(SslConfig::None)
        .unwrap()
        .with_num_threads(2)
        .with_tcp_listener(listener);
    std::thread::spawn(move || {
        let _ = server.serve();
    });
    store
}

pub fn start() -> (u16, Store) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    (port, serve(listener))
}

/// Waits (bounded) until `n` messages to `to` arrived; returns the newest.
pub fn wait_for(store: &Store, to: &str, n: usize) -> Received {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let got: Vec<Received> = store
            .lock()
            .unwrap()
            .iter()
            .filter(|m| m.to.iter().any(|t| t.contains(to)))
            .cloned()
            .collect();
        if got.len() >= n {
            return got[n - 1].clone();
        }
        assert!(
            Instant::now() < deadline,
            "no mail #{n} to {to} within 10 s"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

pub fn count_to(store: &Store, to: &str) -> usize {
    store
        .lock()
        .unwrap()
        .iter()
        .filter(|m| m.to.iter().any(|t| t.contains(to)))
        .count()
}
