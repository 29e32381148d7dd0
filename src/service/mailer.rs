//! Handing mail to the outbox. An RPC never waits on SMTP and never fails because of mail: a
//! full outbox is logged (without the code) and counted.

use crate::api::Secret;
use crate::mail::{Mail, MailKind, MailParams, OutboxHandle, recipient_domain};

#[derive(Clone)]
pub struct Mailer {
    outbox: Option<OutboxHandle>,
    /// Base URL of the web console: reset mails carry `<console>/reset-password?token=…`.
    console_url: Option<String>,
}

impl Mailer {
    pub fn new(outbox: Option<OutboxHandle>, console_url: Option<String>) -> Self {
        Mailer {
            outbox,
            console_url: console_url.filter(|u| !u.is_empty()),
        }
    }

    pub fn outbox(&self) -> Option<&OutboxHandle> {
        self.outbox.as_ref()
    }

    /// Queues a mail; failures are logged and counted, never returned.
    pub fn send(
        &self,
        to: &str,
        kind: MailKind,
        lang: &str,
        user_id: &str,
        secret: Secret,
        valid_minutes: u32,
    ) {
        let Some(outbox) = &self.outbox else { return };
        let mail = Mail {
            to: to.to_owned(),
            kind,
            lang: lang.to_owned(),
            params: MailParams {
                user_id: user_id.to_owned(),
                secret,
                valid_minutes,
            },
        };
        if let Err(e) = outbox.enqueue(mail) {
            tracing::warn!(recipient_domain = recipient_domain(to), ?kind, error = %e, "mail not queued");
        }
    }

    /// What a reset mail carries for an access token: a console link, or the token itself.
    pub fn reset_secret(&self, token: &Secret) -> Secret {
        match &self.console_url {
            Some(base) => Secret::new(format!(
                "{}/reset-password?token={}",
                base.trim_end_matches('/'),
                token.expose()
            )),
            None => token.clone(),
        }
    }
}
