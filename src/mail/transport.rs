//! Mail transports selected by a URL: `smtp://[user:pass@]host[:port][?tls=starttls|tls|none]`,
//! `file://DIR`, `log`, `none`.

use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;
use std::str::FromStr;

use lettre::address::Envelope;
use lettre::transport::smtp::AsyncSmtpTransportBuilder;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

use super::recipient_domain;
use crate::api::Secret;

/// How an SMTP connection is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsMode {
    /// Plaintext. The default for loopback hosts only.
    None,
    /// Plaintext then a required `STARTTLS` upgrade (no downgrade). The default for other hosts.
    StartTls,
    /// TLS from the first byte (SMTPS).
    Tls,
}

impl TlsMode {
    fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::StartTls => "starttls",
            Self::Tls => "tls",
        }
    }

    fn default_port(self) -> u16 {
        match self {
            Self::None => 25,
            Self::StartTls => 587,
            Self::Tls => 465,
        }
    }
}

/// Which kind of transport a [`MailTransport`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransportKind {
    /// SMTP relay.
    Smtp,
    /// One `.eml` file per message in a directory.
    File,
    /// Logs recipient and subject, drops the message.
    Log,
    /// Drops the message.
    None,
}

/// Why a transport URL was rejected. No variant carries the URL or any part of the credentials.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransportUrlError {
    /// Not `smtp://`, `file://`, `log` or `none`.
    #[error("unsupported mail transport (expected smtp://…, file://DIR, log or none)")]
    UnsupportedScheme,
    /// `smtp://` without a host.
    #[error("smtp URL has no host")]
    MissingHost,
    /// A port that is not a number in 1..=65535.
    #[error("smtp URL has an invalid port")]
    InvalidPort,
    /// A host that cannot be parsed (e.g. an unbracketed IPv6 address).
    #[error("smtp URL has an invalid host")]
    InvalidHost,
    /// Credentials without a `:` or with an empty user name.
    #[error("smtp URL credentials must be user:password")]
    IncompleteCredentials,
    /// Malformed `%XX` escape in the credentials.
    #[error("smtp URL credentials have an invalid percent-encoding")]
    InvalidEncoding,
    /// `tls=` with something other than `starttls`, `tls` or `none`.
    #[error("smtp URL tls must be starttls, tls or none")]
    InvalidTls,
    /// A query parameter other than `tls` (only its name is reported).
    #[error("smtp URL has an unknown parameter `{0}`")]
    UnknownParameter(String),
    /// Credentials over plaintext to a host that is not loopback.
    #[error("smtp credentials need tls or starttls for a non-loopback host")]
    InsecureCredentials,
    /// `file://` without a directory.
    #[error("file:// transport needs a directory")]
    MissingDirectory,
    /// The TLS parameters could not be built.
    #[error("TLS setup failed: {0}")]
    Tls(String),
}

enum Inner {
    // Only the builder: building a pooled lettre SMTP transport spawns a tokio task, and dropping
    // one spawns another, so both must happen inside the runtime (see `activate`).
    Smtp(AsyncSmtpTransportBuilder),
    File(PathBuf),
    Log,
    None,
}

/// A configured transport: plain configuration, usable outside any runtime; the outbox task
/// builds the live (pooled) transport from it. Its `Debug` and `Display` show the URL with
/// credentials replaced by `***`.
#[derive(Clone)]
pub struct MailTransport {
    inner: Inner,
    redacted: String,
}

impl Clone for Inner {
    fn clone(&self) -> Self {
        match self {
            Self::Smtp(b) => Self::Smtp(b.clone()),
            Self::File(d) => Self::File(d.clone()),
            Self::Log => Self::Log,
            Self::None => Self::None,
        }
    }
}

/// The live transport, owned by the outbox task (it must be built and dropped inside a tokio
/// runtime).
pub(crate) enum Active {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    /// One `<random>.eml` per message, written 0600 (the body holds codes and reset tokens);
    /// the directory is created 0700 when missing.
    File(PathBuf),
    Log,
    None,
}

impl fmt::Debug for MailTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MailTransport({})", self.redacted)
    }
}

impl fmt::Display for MailTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted)
    }
}

impl FromStr for MailTransport {
    type Err = TransportUrlError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::from_url(s)
    }
}

struct SmtpSettings {
    host: String,
    port: u16,
    tls: TlsMode,
    credentials: Option<(String, Secret<String>)>,
}

fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

fn percent_decode(text: &str) -> Result<String, TransportUrlError> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hi = bytes.get(i + 1).copied().and_then(hex);
            let lo = bytes.get(i + 2).copied().and_then(hex);
            match (hi, lo) {
                (Some(h), Some(l)) => out.push(h << 4 | l),
                _ => return Err(TransportUrlError::InvalidEncoding),
            }
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| TransportUrlError::InvalidEncoding)
}

fn parse_host_port(text: &str) -> Result<(String, Option<u16>), TransportUrlError> {
    let parse_port = |p: &str| match p.parse::<u16>() {
        Ok(port) if port != 0 => Ok(port),
        _ => Err(TransportUrlError::InvalidPort),
    };
    if let Some(rest) = text.strip_prefix('[') {
        let (host, after) = rest.split_once(']').ok_or(TransportUrlError::InvalidHost)?;
        if host.parse::<std::net::Ipv6Addr>().is_err() {
            return Err(TransportUrlError::InvalidHost);
        }
        let port = match after {
            "" => None,
            p => Some(parse_port(
                p.strip_prefix(':').ok_or(TransportUrlError::InvalidHost)?,
            )?),
        };
        return Ok((host.to_string(), port));
    }
    let (host, port) = match text.rsplit_once(':') {
        Some((h, p)) => (h, Some(parse_port(p)?)),
        None => (text, None),
    };
    if host.is_empty() {
        return Err(TransportUrlError::MissingHost);
    }
    if host.contains(':') || host.contains('/') || host.chars().any(char::is_whitespace) {
        return Err(TransportUrlError::InvalidHost);
    }
    Ok((host.to_string(), port))
}

fn parse_smtp(rest: &str) -> Result<SmtpSettings, TransportUrlError> {
    let (authority, query) = match rest.split_once('?') {
        Some((a, q)) => (a, Some(q)),
        None => (rest, None),
    };
    let authority = authority.strip_suffix('/').unwrap_or(authority);
    let (userinfo, host_port) = match authority.rsplit_once('@') {
        Some((u, h)) => (Some(u), h),
        None => (None, authority),
    };
    let credentials = match userinfo {
        None => None,
        Some(info) => {
            let (user, pass) = info
                .split_once(':')
                .ok_or(TransportUrlError::IncompleteCredentials)?;
            let user = percent_decode(user)?;
            if user.is_empty() {
                return Err(TransportUrlError::IncompleteCredentials);
            }
            Some((user, Secret::new(percent_decode(pass)?)))
        }
    };
    if host_port.is_empty() {
        return Err(TransportUrlError::MissingHost);
    }
    let (host, port) = parse_host_port(host_port)?;
    let mut tls = None;
    for pair in query
        .unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
    {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        match k {
            "tls" => {
                tls = Some(match v.to_ascii_lowercase().as_str() {
                    "none" => TlsMode::None,
                    "starttls" => TlsMode::StartTls,
                    "tls" => TlsMode::Tls,
                    _ => return Err(TransportUrlError::InvalidTls),
                })
            }
            other => return Err(TransportUrlError::UnknownParameter(other.to_string())),
        }
    }
    let loopback = is_loopback(&host);
    let tls = tls.unwrap_or(if loopback {
        TlsMode::None
    } else {
        TlsMode::StartTls
    });
    if credentials.is_some() && tls == TlsMode::None && !loopback {
        return Err(TransportUrlError::InsecureCredentials);
    }
    Ok(SmtpSettings {
        port: port.unwrap_or(tls.default_port()),
        host,
        tls,
        credentials,
    })
}

/// A message ready to hand to a transport: the envelope, the formatted bytes (secret: they hold
/// the body) and what may be logged.
pub(crate) struct Outgoing {
    pub(crate) envelope: Envelope,
    pub(crate) raw: Secret<Vec<u8>>,
    pub(crate) to: String,
    pub(crate) subject: String,
}

impl fmt::Debug for Outgoing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Outgoing")
            .field("to_domain", &recipient_domain(&self.to))
            .field("subject", &self.subject)
            .field("raw", &self.raw)
            .finish()
    }
}

/// A failed send. `permanent` failures (SMTP 5xx) are not retried.
#[derive(Debug)]
pub(crate) struct SendError {
    pub(crate) permanent: bool,
    pub(crate) detail: String,
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.detail)
    }
}

impl MailTransport {
    /// Builds a transport from its URL:
    /// * `smtp://[user:pass@]host[:port][?tls=starttls|tls|none]`: user and password may be
    ///   percent-encoded; an IPv6 host goes in brackets. `tls` defaults to `none` for loopback
    ///   hosts (`localhost`, `127.0.0.0/8`, `::1`) and to `starttls` (required, no downgrade)
    ///   otherwise; credentials over plaintext to a non-loopback host are refused. The port
    ///   defaults to 25 / 587 / 465 for none / starttls / tls.
    /// * `file://DIR`: one `.eml` per message in `DIR` (created when missing).
    /// * `log`: logs recipient and subject, never the body; `none`: drops every message.
    pub fn from_url(url: &str) -> Result<Self, TransportUrlError> {
        let url = url.trim();
        if url == "log" {
            return Ok(Self {
                inner: Inner::Log,
                redacted: "log".into(),
            });
        }
        if url == "none" {
            return Ok(Self {
                inner: Inner::None,
                redacted: "none".into(),
            });
        }
        if let Some(dir) = url.strip_prefix("file://") {
            if dir.is_empty() {
                return Err(TransportUrlError::MissingDirectory);
            }
            let dir = PathBuf::from(dir);
            return Ok(Self {
                redacted: format!("file://{}", dir.display()),
                inner: Inner::File(dir),
            });
        }
        let rest = url
            .strip_prefix("smtp://")
            .ok_or(TransportUrlError::UnsupportedScheme)?;
        let s = parse_smtp(rest)?;
        let host_shown = if s.host.contains(':') {
            format!("[{}]", s.host)
        } else {
            s.host.clone()
        };
        let redacted = format!(
            "smtp://{}{}:{}?tls={}",
            if s.credentials.is_some() { "***@" } else { "" },
            host_shown,
            s.port,
            s.tls.as_str()
        );
        let tls_params = || {
            TlsParameters::new(s.host.clone()).map_err(|e| TransportUrlError::Tls(e.to_string()))
        };
        let tls = match s.tls {
            TlsMode::None => Tls::None,
            TlsMode::StartTls => Tls::Required(tls_params()?),
            TlsMode::Tls => Tls::Wrapper(tls_params()?),
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(s.host.clone())
            .port(s.port)
            .tls(tls);
        if let Some((user, pass)) = s.credentials {
            builder = builder.credentials(Credentials::new(user, pass.into_inner()));
        }
        Ok(Self {
            inner: Inner::Smtp(builder),
            redacted,
        })
    }

    /// Which kind of transport this is.
    pub fn kind(&self) -> TransportKind {
        match self.inner {
            Inner::Smtp(_) => TransportKind::Smtp,
            Inner::File(_) => TransportKind::File,
            Inner::Log => TransportKind::Log,
            Inner::None => TransportKind::None,
        }
    }

    /// The URL with any credentials replaced by `***`, safe to log.
    pub fn redacted_url(&self) -> &str {
        &self.redacted
    }

    /// Builds the live transport. Must run inside a tokio runtime (the SMTP pool spawns its
    /// cleanup task here).
    pub(crate) fn activate(&self) -> Active {
        match &self.inner {
            Inner::Smtp(builder) => Active::Smtp(builder.clone().build()),
            Inner::File(dir) => Active::File(dir.clone()),
            Inner::Log => Active::Log,
            Inner::None => Active::None,
        }
    }
}

/// Writes `raw` to a new `DIR/<32 hex>.eml` readable by the owner only (0600, created with that
/// mode: never briefly wider). A missing directory is created 0700 (an existing one is left as
/// it is: the operator chose its mode).
fn write_private_eml(dir: &std::path::Path, raw: &[u8]) -> std::io::Result<()> {
    use rand::RngCore;
    use std::io::Write;
    #[cfg(unix)]
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    if !dir.is_dir() {
        let mut b = std::fs::DirBuilder::new();
        b.recursive(true);
        #[cfg(unix)]
        b.mode(0o700);
        b.create(dir)?;
    }
    let mut id = [0u8; 16];
    rand::rng().fill_bytes(&mut id);
    let name: String = id.iter().map(|b| format!("{b:02x}")).collect();
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    o.mode(0o600);
    let mut f = o.open(dir.join(format!("{name}.eml")))?;
    f.write_all(raw)?;
    f.sync_all()
}

impl Active {
    pub(crate) async fn send(&self, msg: &Outgoing) -> Result<(), SendError> {
        match self {
            Self::Smtp(t) => t
                .send_raw(&msg.envelope, msg.raw.expose())
                .await
                .map(|_| ())
                .map_err(|e| SendError {
                    permanent: e.is_permanent(),
                    detail: e.to_string(),
                }),
            Self::File(dir) => {
                let (dir, raw) = (dir.clone(), msg.raw.clone());
                tokio::task::spawn_blocking(move || write_private_eml(&dir, raw.expose()))
                    .await
                    .map_err(|e| SendError {
                        permanent: false,
                        detail: format!("mail file task failed: {e}"),
                    })?
                    .map_err(|e| SendError {
                        permanent: false,
                        detail: format!("cannot write mail file: {e}"),
                    })
            }
            Self::Log => {
                tracing::info!(to = %msg.to, subject = %msg.subject, "mail (log transport; body not logged)");
                Ok(())
            }
            Self::None => Ok(()),
        }
    }

    pub(crate) async fn shutdown(&self) {
        if let Self::Smtp(t) = self {
            t.shutdown().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(url: &str) -> Result<SmtpSettings, TransportUrlError> {
        parse_smtp(url.strip_prefix("smtp://").unwrap())
    }

    #[test]
    fn smtp_defaults() {
        let s = settings("smtp://127.0.0.1:2525").unwrap();
        assert_eq!(
            (s.host.as_str(), s.port, s.tls),
            ("127.0.0.1", 2525, TlsMode::None)
        );
        assert!(s.credentials.is_none());
        let s = settings("smtp://smtp.example.com").unwrap();
        assert_eq!((s.port, s.tls), (587, TlsMode::StartTls));
        let s = settings("smtp://smtp.example.com?tls=tls").unwrap();
        assert_eq!((s.port, s.tls), (465, TlsMode::Tls));
        let s = settings("smtp://localhost?tls=none").unwrap();
        assert_eq!((s.port, s.tls), (25, TlsMode::None));
        let s = settings("smtp://[::1]:2525/").unwrap();
        assert_eq!(
            (s.host.as_str(), s.port, s.tls),
            ("::1", 2525, TlsMode::None)
        );
    }

    #[test]
    fn smtp_credentials_percent_decoded() {
        let s =
            settings("smtp://me%40corp.io:p%40ss%3Aw0rd@mail.corp.io:587?tls=starttls").unwrap();
        let (user, pass) = s.credentials.unwrap();
        assert_eq!(user, "me@corp.io");
        assert_eq!(pass.expose(), "p@ss:w0rd");
        // The last '@' separates the host, so a raw '@' in the password also works.
        let s = settings("smtp://u:a@b@host.io:25?tls=starttls").unwrap();
        assert_eq!(s.credentials.unwrap().1.expose(), "a@b");
    }

    #[test]
    fn smtp_errors_are_typed() {
        use TransportUrlError as E;
        let cases = [
            ("smtp://", E::MissingHost),
            ("smtp://:25", E::MissingHost),
            ("smtp://host:0", E::InvalidPort),
            ("smtp://host:99999", E::InvalidPort),
            ("smtp://host:abc", E::InvalidPort),
            ("smtp://host?tls=maybe", E::InvalidTls),
            (
                "smtp://host?timeout=5",
                E::UnknownParameter("timeout".into()),
            ),
            ("smtp://user@host", E::IncompleteCredentials),
            ("smtp://:pw@host", E::IncompleteCredentials),
            ("smtp://u:%zz@host", E::InvalidEncoding),
            (
                "smtp://u:pw@mail.example.com?tls=none",
                E::InsecureCredentials,
            ),
            ("smtp://[::1", E::InvalidHost),
            ("smtp://[nothost]:25", E::InvalidHost),
        ];
        for (url, expected) in cases {
            assert_eq!(MailTransport::from_url(url).err(), Some(expected), "{url}");
        }
        assert_eq!(
            MailTransport::from_url("http://x").err(),
            Some(E::UnsupportedScheme)
        );
        assert_eq!(
            MailTransport::from_url("file://").err(),
            Some(E::MissingDirectory)
        );
    }

    #[test]
    fn credentials_never_shown() {
        let url = "smtp://alice:Sup3rS3cret@smtp.example.com:587?tls=starttls";
        let t = MailTransport::from_url(url).unwrap();
        assert_eq!(t.kind(), TransportKind::Smtp);
        for shown in [
            format!("{t:?}"),
            format!("{t}"),
            t.redacted_url().to_string(),
        ] {
            assert!(!shown.contains("Sup3rS3cret"), "{shown}");
            assert!(!shown.contains("alice"), "{shown}");
            assert!(shown.contains("***@smtp.example.com:587"), "{shown}");
        }
        // Errors never echo the URL either.
        let e = MailTransport::from_url("smtp://alice:Sup3rS3cret@smtp.example.com?tls=x")
            .err()
            .unwrap();
        assert!(!format!("{e} {e:?}").contains("Sup3rS3cret"));
    }

    #[test]
    fn other_kinds() {
        assert_eq!(
            MailTransport::from_url("log").unwrap().kind(),
            TransportKind::Log
        );
        assert_eq!(
            MailTransport::from_url("none").unwrap().kind(),
            TransportKind::None
        );
        let t: MailTransport = "file:///tmp/x".parse().unwrap();
        assert_eq!(t.kind(), TransportKind::File);
        assert_eq!(t.to_string(), "file:///tmp/x");
    }
}
