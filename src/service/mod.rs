//! The service layer: one async function per API method, shared by the tarpc server and the HTTP
//! gateway. Each authorizes the caller, validates what needs no state, does slow stateless work
//! (argon2 on the hashing pool), then sends one closure to the domain actor, where the pure rules
//! of `model::rules` decide and the events they produce are applied and persisted.

mod domain;
mod mailer;
mod noauth;
mod profile;
mod system;
mod token;
mod user;
mod verify;
mod workspace;

pub use mailer::Mailer;

use crate::actor::domain::Ctx;
use crate::actor::registry::Registry;
use crate::actor::snapshot::Snapshotter;
use crate::api::{ApiError, ApiResult, Credential};
use crate::auth::caller::Authn;
use crate::auth::caller::Grant;
use crate::auth::codes::CodeKey;
use crate::auth::hasher::HashPool;
use crate::model::clock::{Clock, Millis};
use crate::model::state::DomainState;
use crate::model::{rules, validate};
use std::sync::Arc;

/// Tunables of the service layer (all configurable from the command line).
#[derive(Debug, Clone)]
pub struct ServiceConfig {
    pub access_ttl_s: i64,
    pub max_access_ttl_s: i64,
    pub refresh_ttl_s: i64,
    /// Rows a list without `page` returns at most.
    pub max_list_results: usize,
    /// Lifetime of an e-mail verification code.
    pub email_code_ttl_s: i64,
    /// Lifetime of an MFA code (enable, disable, login).
    pub mfa_code_ttl_s: i64,
    /// What a password reset mails.
    pub reset_mode: ResetMode,
    /// Lifetime of the access token a reset mails (ACCESS_TOKEN mode).
    pub reset_token_ttl_s: i64,
    /// Issuer shown by authenticator apps (`otpauth://totp/<issuer>:<user>`).
    pub otp_issuer: String,
    /// The cost budget of every list/stat/find query (`--query-*`).
    pub query: crate::query::Budget,
}

/// SPEC 5.3: a reset mails a short-lived access token, or a temporary password.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResetMode {
    AccessToken,
    Password,
}

impl std::str::FromStr for ResetMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "access_token" | "ACCESS_TOKEN" => Ok(ResetMode::AccessToken),
            "password" | "PASSWORD" => Ok(ResetMode::Password),
            _ => Err(format!("unknown reset mode {s:?} (access_token|password)")),
        }
    }
}

impl Default for ServiceConfig {
    fn default() -> Self {
        ServiceConfig {
            access_ttl_s: 1800,
            max_access_ttl_s: 7 * 24 * 3600,
            refresh_ttl_s: 10800,
            max_list_results: 10_000,
            email_code_ttl_s: 3600,
            mfa_code_ttl_s: 300,
            reset_mode: ResetMode::AccessToken,
            reset_token_ttl_s: 24 * 3600,
            otp_issuer: "identityd".into(),
            query: crate::query::Budget::default(),
        }
    }
}

/// The service; cheap to clone.
#[derive(Clone)]
pub struct Service {
    inner: Arc<Inner>,
}

struct Inner {
    registry: Registry,
    authn: Authn,
    hasher: HashPool,
    clock: Arc<dyn Clock>,
    cfg: ServiceConfig,
    /// Present when the server persists (absent in memory-only mode).
    snapshotter: Option<Arc<Snapshotter>>,
    mailer: Mailer,
    /// Key of the HMAC that verification codes are stored as.
    code_key: Arc<CodeKey>,
    /// Bounds the full scans that run off the actors (one per CPU at a time).
    scans: Arc<tokio::sync::Semaphore>,
    /// Rate limits of the +noauth calls.
    floods: noauth::Floods,
}

/// What the service needs besides the registry and authentication.
pub struct Parts {
    pub hasher: HashPool,
    pub clock: Arc<dyn Clock>,
    pub cfg: ServiceConfig,
    pub snapshotter: Option<Arc<Snapshotter>>,
    pub mailer: Mailer,
    pub code_key: CodeKey,
    /// Rate limits of the +noauth calls.
    pub noauth: crate::model::ratelimit::NoauthLimits,
}

impl Service {
    pub fn new(registry: Registry, authn: Authn, p: Parts) -> Self {
        Service {
            inner: Arc::new(Inner {
                registry,
                authn,
                hasher: p.hasher,
                clock: p.clock,
                cfg: p.cfg,
                snapshotter: p.snapshotter,
                mailer: p.mailer,
                code_key: Arc::new(p.code_key),
                scans: Arc::new(tokio::sync::Semaphore::new(
                    std::thread::available_parallelism().map_or(2, |n| n.get()),
                )),
                floods: noauth::Floods::new(p.noauth),
            }),
        }
    }

    pub fn mailer(&self) -> &Mailer {
        &self.inner.mailer
    }

    pub fn registry(&self) -> &Registry {
        &self.inner.registry
    }

    fn now(&self) -> Millis {
        self.inner.clock.now_ms()
    }
}

/// Checks that must pass inside the actor before any call on a domain's data: the domain is
/// enabled, and the caller's token is still valid against current state.
pub(crate) fn guard(grant: &Grant, s: &DomainState) -> ApiResult<()> {
    rules::domain_enabled(s)?;
    grant.check_in(s)
}

impl Service {
    /// SYSTEM, or the domain's admin (and, with `self_user`, that user's own token); `method`
    /// (`identity:User.create`, …) is checked against the token's `permissions`.
    pub(crate) fn grant(
        &self,
        cred: &Credential,
        method: &str,
        domain_id: &str,
        self_user: Option<&str>,
    ) -> ApiResult<Grant> {
        let g = self
            .inner
            .authn
            .admin_or_self(cred, self.now(), method, domain_id, self_user)?;
        validate::required("domain_id", domain_id)?;
        // Ids are bounded where they enter, before any state is touched (SPEC 11).
        noauth::check_id("domain_id", domain_id, noauth::DOMAIN_ID_MAX)?;
        if let Some(u) = self_user.filter(|u| !u.is_empty()) {
            noauth::check_id("user_id", u, validate::USER_ID_MAX)?;
        }
        Ok(g)
    }

    /// Runs a full scan on the blocking pool, at most one per CPU at a time, so heavy queries
    /// neither hold up the actors nor multiply threads.
    pub(crate) async fn scan<R: Send + 'static>(
        &self,
        f: impl FnOnce() -> ApiResult<R> + Send + 'static,
    ) -> ApiResult<R> {
        let _permit = self
            .inner
            .scans
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| ApiError::unavailable("shutting down"))?;
        tokio::task::spawn_blocking(f)
            .await
            .map_err(|_| ApiError::internal())?
    }

    /// Runs query work on the scan pool ([`Service::scan`]) under the query deadline
    /// (`--query-timeout-ms`), which starts when the work does: waiting for a free CPU is not
    /// counted against it.
    pub(crate) async fn query_scan<R: Send + 'static>(
        &self,
        f: impl FnOnce(Option<crate::query::Deadline>) -> ApiResult<R> + Send + 'static,
    ) -> ApiResult<R> {
        let clock = self.inner.clock.clone();
        let timeout_ms = self.inner.cfg.query.timeout_ms;
        self.scan(move || {
            let start = clock.now_ms();
            f(crate::query::Deadline::new(clock, start, timeout_ms))
        })
        .await
    }

    /// Runs `f` in the domain's actor after [`guard`].
    pub(crate) async fn exec_as<R, F>(&self, grant: Grant, domain_id: &str, f: F) -> ApiResult<R>
    where
        R: Send + 'static,
        F: FnOnce(&mut Ctx<'_>) -> ApiResult<R> + Send + 'static,
    {
        self.registry()
            .exec(domain_id, move |ctx| {
                guard(&grant, ctx.state())?;
                f(ctx)
            })
            .await
    }
}

/// A fresh resource id: `prefix-` + 12 lowercase hex characters from the OS-seeded CSPRNG.
pub fn new_id(prefix: &str) -> String {
    let mut b = [0u8; 6];
    rand::Rng::fill(&mut rand::rng(), &mut b);
    format!("{prefix}-{}", hex::encode(b))
}
