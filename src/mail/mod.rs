//! Outgoing mail (SPEC 5.5): transports chosen by a URL, plain-Rust templates in en/ko/ja, and an
//! [`Outbox`] that sends asynchronously with bounded retries so that no RPC waits on SMTP.

mod outbox;
pub mod templates;
mod transport;

pub use outbox::{
    EnqueueError, Mail, Outbox, OutboxConfig, OutboxHandle, OutboxStartError, OutboxStats,
    Reservation, ShutdownReport,
};
pub use templates::{Lang, MailKind, MailParams, render};
pub use transport::{MailTransport, TlsMode, TransportKind, TransportUrlError};

/// The domain part of an e-mail address (after the last `@`), for log lines that must not carry
/// the full recipient. Returns `"?"` when there is no `@`.
pub fn recipient_domain(address: &str) -> &str {
    match address.rsplit_once('@') {
        Some((_, domain)) if !domain.is_empty() => domain.trim_end_matches('>'),
        _ => "?",
    }
}

#[cfg(test)]
mod tests {
    use super::recipient_domain;

    #[test]
    fn recipient_domain_parts() {
        assert_eq!(recipient_domain("a@b.io"), "b.io");
        assert_eq!(recipient_domain("Name <a@b.io>"), "b.io");
        assert_eq!(recipient_domain("x@y@z.io"), "z.io");
        assert_eq!(recipient_domain("nobody"), "?");
        assert_eq!(recipient_domain("a@"), "?");
    }
}
