//! Shared test harness: a real server on a free loopback port, with an injectable clock and tiny
//! argon2 parameters, reached through the real tarpc client.
#![allow(dead_code)]

pub mod smtp;

use identityd::api::*;
use identityd::auth::hasher::HashParams;
use identityd::client::{IdentityClient, connect, ctx};
use identityd::config::Config;
use identityd::model::clock::ManualClock;
use identityd::server::Server;
use std::sync::Arc;

pub const T0: i64 = 1_790_000_000_000;
pub const PW: &str = "Passw0rd!";

pub struct TestServer {
    pub server: Server,
    pub clock: Arc<ManualClock>,
    pub key: Credential,
    pub dir: tempfile::TempDir,
}

pub fn test_config(dir: &std::path::Path) -> Config {
    let mut c = Config::new(dir);
    c.rpc_addr = "127.0.0.1:0".parse().unwrap();
    c.http_addr = Some("127.0.0.1:0".parse().unwrap());
    c.hash_params = HashParams::insecure_fast();
    c.hash_threads = 2;
    // Small segments: no 64 MiB preallocation per test server, and rolls get exercised.
    c.wal_segment_bytes = 1 << 20;
    c
}

impl TestServer {
    pub fn start() -> TestServer {
        Self::start_with(|_| {})
    }

    pub fn start_with(tweak: impl FnOnce(&mut Config)) -> TestServer {
        Self::start_in(tempfile::tempdir().unwrap(), tweak)
    }

    /// Starts on an existing data dir (a restart).
    pub fn start_in(dir: tempfile::TempDir, tweak: impl FnOnce(&mut Config)) -> TestServer {
        let mut config = test_config(dir.path());
        tweak(&mut config);
        let clock = ManualClock::new(T0);
        let server = Server::start(config, clock.clone()).expect("server starts");
        let key = std::fs::read_to_string(dir.path().join("system.key")).unwrap();
        TestServer {
            server,
            clock,
            key: Credential::bearer(key.trim()),
            dir,
        }
    }

    pub async fn client(&self) -> IdentityClient {
        connect(self.server.rpc_addr)
            .await
            .expect("client connects")
    }

    pub fn http(&self) -> String {
        format!("http://{}", self.server.http_addr.unwrap())
    }
}

/// Unwraps the transport result, leaving the API result.
#[macro_export]
macro_rules! call {
    ($e:expr) => {
        $e.await.expect("rpc transport")
    };
}

/// Asserts an API error code.
#[macro_export]
macro_rules! assert_code {
    ($e:expr, $code:ident) => {{
        match $e {
            Ok(v) => panic!("expected {}, got Ok({:?})", stringify!($code), v),
            Err(err) => assert_eq!(err.code, ErrorCode::$code, "{}", err.message),
        }
    }};
}

pub struct Domain {
    pub id: String,
    pub admin: Credential,
    pub admin_id: String,
}

/// Creates a domain with an admin and logs the admin in.
pub async fn domain(c: &IdentityClient, key: &Credential, name: &str) -> Domain {
    let admin_id = format!("admin@{name}.io");
    let d = c
        .domain_create(
            ctx(),
            key.clone(),
            CreateDomainRequest {
                name: name.into(),
                tags: None,
                admin: Some(DomainAdmin {
                    user_id: admin_id.clone(),
                    password: PW.into(),
                    name: Some("Admin".into()),
                    email: None,
                }),
            },
        )
        .await
        .unwrap()
        .expect("domain created");
    let t = login(c, &d.domain_id, &admin_id, PW)
        .await
        .expect("admin logs in");
    Domain {
        id: d.domain_id,
        admin: Credential::bearer(t.access_token.expose()),
        admin_id,
    }
}

pub async fn login(
    c: &IdentityClient,
    domain_id: &str,
    user_id: &str,
    pw: &str,
) -> ApiResult<TokenInfo> {
    c.token_issue(
        ctx(),
        Credential::none(),
        IssueTokenRequest {
            domain_id: domain_id.into(),
            credentials: Credentials {
                user_id: user_id.into(),
                password: pw.into(),
            },
            ..Default::default()
        },
    )
    .await
    .unwrap()
}

pub fn bearer(t: &TokenInfo) -> Credential {
    Credential::bearer(t.access_token.expose())
}

pub fn new_user(domain_id: &str, user_id: &str) -> CreateUserRequest {
    CreateUserRequest {
        user_id: user_id.into(),
        domain_id: domain_id.into(),
        password: Some(PW.into()),
        name: Some(format!("Name of {user_id}")),
        ..Default::default()
    }
}

pub fn user_req(domain_id: &str, user_id: &str) -> UserRequest {
    UserRequest {
        user_id: user_id.into(),
        domain_id: domain_id.into(),
    }
}

impl TestServer {
    /// Stops the server cleanly and hands back its data dir.
    pub fn stop(self) -> tempfile::TempDir {
        self.server.stop().expect("clean stop");
        self.dir
    }
}

/// A real `identityd` process.
pub struct Proc {
    pub child: std::process::Child,
    pub rpc: String,
    pub http: String,
}

/// Starts the real binary on `dir` with tiny argon2 params and waits for its ready line.
pub fn spawn_binary(dir: &std::path::Path, extra: &[&str]) -> Result<Proc, String> {
    use std::io::BufRead;
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_identityd"));
    cmd.args([
        "serve",
        "--rpc-addr",
        "127.0.0.1:0",
        "--http-addr",
        "127.0.0.1:0",
    ])
    .arg("--data-dir")
    .arg(dir)
    .args(["--argon2-m-kib", "8", "--argon2-t", "1"])
    .args(extra)
    .env("IDENTITYD_LOG", "warn")
    .stdout(std::process::Stdio::piped())
    .stderr(std::process::Stdio::piped());
    if !extra.contains(&"--wal-segment-bytes") {
        cmd.args(["--wal-segment-bytes", "262144"]);
    }
    let mut child = cmd.spawn().map_err(|e| e.to_string())?;
    let stdout = child.stdout.take().unwrap();
    let mut line = String::new();
    std::io::BufReader::new(stdout)
        .read_line(&mut line)
        .map_err(|e| e.to_string())?;
    if !line.contains("ready") {
        let status = child.wait().map_err(|e| e.to_string())?;
        let mut err = String::new();
        use std::io::Read;
        child.stderr.take().unwrap().read_to_string(&mut err).ok();
        return Err(format!("exit {status}: {err}"));
    }
    let field = |k: &str| {
        line.split_whitespace()
            .find_map(|w| w.strip_prefix(k))
            .unwrap_or_default()
            .to_owned()
    };
    Ok(Proc {
        rpc: field("rpc="),
        http: field("http="),
        child,
    })
}

impl Proc {
    pub fn kill9(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
    pub fn term(mut self) -> std::process::ExitStatus {
        unsafe_free_sigterm(self.child.id());
        self.child.wait().unwrap()
    }
}

fn unsafe_free_sigterm(pid: u32) {
    std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
}

pub fn system_key(dir: &std::path::Path) -> Credential {
    Credential::bearer(
        std::fs::read_to_string(dir.join("system.key"))
            .unwrap()
            .trim(),
    )
}
