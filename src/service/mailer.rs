//! Handing mail to the outbox, and the limits on codes and mail (issue #11, items 9 and 10).
//!
//! An RPC never waits on SMTP, but a mail it cannot send is never silent: every mail is counted
//! against its user's and its tenant's quota and takes an outbox slot *before* its code is
//! stored ([`Mailer::reserve`] inside the actor, then [`MailSlot::send`] once the write is
//! durable). A refusal is logged (recipient domain only, never the code or the full address),
//! counted (`identityd_mail_dropped_total`) and returned to the caller as RESOURCE_EXHAUSTED.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use crate::api::{ApiError, ApiResult, ErrorCode, Secret};
use crate::mail::{
    EnqueueError, Mail, MailKind, MailParams, OutboxHandle, Reservation, recipient_domain,
};
use crate::metrics::Metrics;
use crate::model::clock::Millis;
use crate::model::verification::{CodeLimits, CodeThrottle};

#[derive(Clone)]
pub struct Mailer {
    outbox: Option<OutboxHandle>,
    /// Base URL of the web console: reset mails carry `<console>/reset-password?token=…`.
    console_url: Option<String>,
    /// Attempt, issue and mail counters (in memory; see `model::verification::CodeThrottle`).
    throttle: Arc<Mutex<CodeThrottle>>,
    metrics: Option<Arc<Metrics>>,
}

/// An outbox slot taken for one mail (see [`Mailer::reserve`]). Without an outbox (mail off)
/// it sends nothing.
pub struct MailSlot {
    reservation: Option<Reservation>,
    mailer: Mailer,
}

impl std::fmt::Debug for MailSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MailSlot").finish_non_exhaustive()
    }
}

fn mail_error(e: EnqueueError) -> ApiError {
    match e {
        EnqueueError::Full | EnqueueError::DomainFull => ApiError::new(
            ErrorCode::ResourceExhausted,
            "The mail could not be queued: the outbox is full. Try again later. (resource = mail_outbox)",
        ),
        EnqueueError::Closed => ApiError::unavailable("the mail outbox is shutting down"),
        EnqueueError::InvalidRecipient => ApiError::new(
            ErrorCode::IncorrectEmailFormat,
            "The mail could not be sent: the address is not valid.",
        ),
        EnqueueError::Build => ApiError::internal(),
    }
}

impl Mailer {
    pub fn new(outbox: Option<OutboxHandle>, console_url: Option<String>) -> Self {
        Mailer {
            outbox,
            console_url: console_url.filter(|u| !u.is_empty()),
            throttle: Arc::new(Mutex::new(CodeThrottle::new(CodeLimits::default()))),
            metrics: None,
        }
    }

    /// Sets the code and mail limits (`--code-*`, `--mail-*-quota`).
    pub fn with_limits(mut self, limits: CodeLimits) -> Self {
        self.throttle = Arc::new(Mutex::new(CodeThrottle::new(limits)));
        self
    }

    /// Counts dropped mail in `metrics`.
    pub fn with_metrics(mut self, metrics: Arc<Metrics>) -> Self {
        self.metrics = Some(metrics);
        self
    }

    pub fn outbox(&self) -> Option<&OutboxHandle> {
        self.outbox.as_ref()
    }

    /// The counters. Held only for a few map operations (inside a domain actor).
    pub fn throttle(&self) -> MutexGuard<'_, CodeThrottle> {
        self.throttle.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A dropped mail: a log line without the code or the full address, and the metric.
    fn dropped(&self, reason: &str, to: &str, kind: MailKind, why: &str) {
        tracing::warn!(
            recipient_domain = recipient_domain(to),
            ?kind,
            reason,
            error = why,
            "mail not sent"
        );
        if let Some(m) = &self.metrics {
            m.record_mail_dropped(reason);
        }
    }

    /// Before a code for `to` is stored: counts the mail against the quotas of `user_id` and
    /// `domain_id` and takes an outbox slot of `domain_id`'s share. Refused: nothing is counted,
    /// the drop is logged and measured, and the error tells the caller.
    pub fn reserve(
        &self,
        domain_id: &str,
        user_id: &str,
        to: &str,
        kind: MailKind,
        now: Millis,
    ) -> ApiResult<MailSlot> {
        let reservation = match &self.outbox {
            None => None,
            Some(o) => match o.reserve(domain_id) {
                Ok(r) => Some(r),
                Err(e) => {
                    self.dropped("outbox", to, kind, &e.to_string());
                    return Err(mail_error(e));
                }
            },
        };
        if let Err(e) = self.throttle().mail(domain_id, user_id, now) {
            self.dropped("quota", to, kind, &e.message);
            return Err(e);
        }
        Ok(MailSlot {
            reservation,
            mailer: self.clone(),
        })
    }

    /// Like [`Mailer::reserve`], for callers whose quota check already happened (a code issue
    /// counts its mail in `CodeThrottle::issue`): only the outbox slot.
    pub fn reserve_slot(&self, domain_id: &str, to: &str, kind: MailKind) -> ApiResult<MailSlot> {
        let reservation = match &self.outbox {
            None => None,
            Some(o) => match o.reserve(domain_id) {
                Ok(r) => Some(r),
                Err(e) => {
                    self.dropped("outbox", to, kind, &e.to_string());
                    return Err(mail_error(e));
                }
            },
        };
        Ok(MailSlot {
            reservation,
            mailer: self.clone(),
        })
    }

    /// Logs and measures a refusal of a code issue that would have mailed (a quota).
    pub fn refused(&self, to: &str, kind: MailKind, e: &ApiError) {
        if e.message.contains("mail_quota") {
            self.dropped("quota", to, kind, &e.message);
        }
    }

    /// Queues a mail for `domain_id`'s user: quotas and outbox slot, then send. For mail whose
    /// secret is already stored (resets): a refusal is logged, measured and returned.
    #[allow(clippy::too_many_arguments)]
    pub fn send_for(
        &self,
        domain_id: &str,
        to: &str,
        kind: MailKind,
        lang: &str,
        user_id: &str,
        secret: Secret,
        valid_minutes: u32,
        now: Millis,
    ) -> ApiResult<()> {
        self.reserve(domain_id, user_id, to, kind, now)?.send(
            to,
            kind,
            lang,
            user_id,
            secret,
            valid_minutes,
        )
    }

    /// Queues a mail outside any tenant's quota (the shared bucket of the outbox); failures are
    /// logged and measured, never returned. Prefer [`Mailer::send_for`].
    pub fn send(
        &self,
        to: &str,
        kind: MailKind,
        lang: &str,
        user_id: &str,
        secret: Secret,
        valid_minutes: u32,
    ) {
        if let Ok(slot) = self.reserve_slot("", to, kind) {
            let _ = slot.send(to, kind, lang, user_id, secret, valid_minutes);
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

impl MailSlot {
    /// Renders and queues the mail in the reserved slot. A failure (an address the transport
    /// cannot take, the outbox closing) is logged, measured and returned.
    pub fn send(
        self,
        to: &str,
        kind: MailKind,
        lang: &str,
        user_id: &str,
        secret: Secret,
        valid_minutes: u32,
    ) -> ApiResult<()> {
        let Some(r) = self.reservation else {
            return Ok(());
        };
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
        r.send(mail).map_err(|e| {
            let reason = match e {
                EnqueueError::Full | EnqueueError::DomainFull | EnqueueError::Closed => "outbox",
                _ => "error",
            };
            self.mailer.dropped(reason, to, kind, &e.to_string());
            mail_error(e)
        })
    }
}
