//! Rules for e-mail verification, MFA and password reset (SPEC 5.1–5.4). Pure: the code text,
//! the TOTP secret and password hashes are made by the caller and passed in, with the time.
//!
//! Checking a code changes state whatever the outcome (a wrong try uses up an attempt, success
//! consumes the code), so `confirm_*` return the events together with the verdict: the caller
//! persists the events even when the verdict is an error.

use super::clock::Millis;
use super::entities::{Mfa, MfaPending, PasswordHash, TempPassword, TotpState, User};
use super::events::Event;
use super::rules::{domain_enabled, user};
use super::state::DomainState;
use crate::api::*;
use crate::auth::codes::{self, CodeCheck, CodeKey, CodePurpose, StoredCode};
use crate::auth::totp::{self, TotpSecret};

/// Wrong tries a code or a pending OTP confirmation allows.
pub const MAX_ATTEMPTS: u8 = 5;
/// Lifetime of a temporary password from a reset.
pub const TEMP_PASSWORD_TTL_MS: i64 = 24 * 3600 * 1000;

/// A freshly drawn code to store (as a keyed digest) with its lifetime.
pub struct NewCode<'a> {
    pub key: &'a CodeKey,
    pub code: &'a str,
    pub ttl_ms: i64,
}

impl NewCode<'_> {
    fn stored(&self, purpose: CodePurpose, now: Millis) -> StoredCode {
        StoredCode::new(self.key, purpose, self.code, now, self.ttl_ms, MAX_ATTEMPTS)
    }
}

pub fn invalid_code() -> ApiError {
    ApiError::new(
        ErrorCode::InvalidVerifyCode,
        "The verification code is wrong, expired or already used.",
    )
}

fn updated(mut u: User, now: Millis) -> Vec<Event> {
    u.updated_at = now;
    vec![Event::UserUpdated(u)]
}

/// Checks a stored code of `purpose`, consuming it on success and using up an attempt otherwise.
fn check_code(
    u: &mut User,
    key: &CodeKey,
    purpose: CodePurpose,
    code: &str,
    now: Millis,
) -> ApiResult<()> {
    let Some(stored) = u.take_code(purpose) else {
        return Err(invalid_code());
    };
    let outcome = codes::check(&stored, key, purpose, code, now);
    if let Some(back) = codes::apply(Some(stored), outcome) {
        u.put_code(back);
    }
    match outcome {
        CodeCheck::Ok => Ok(()),
        _ => Err(invalid_code()),
    }
}

// ---------------------------------------------------------------------------------------------
// E-mail verification

/// `verify_email` without force: sets the address if given, marks it unverified, stores a code.
/// Returns the events and the address to mail the code to.
pub fn start_email_verification(
    s: &DomainState,
    user_id: &str,
    email: Option<String>,
    code: &NewCode<'_>,
    now: Millis,
) -> ApiResult<(Vec<Event>, String)> {
    domain_enabled(s)?;
    let mut u = user(s, user_id)?.clone();
    if let Some(e) = email {
        u.email = e;
    }
    if u.email.is_empty() {
        return Err(ApiError::required("email"));
    }
    u.email_verified = false;
    u.put_code(code.stored(CodePurpose::VerifyEmail, now));
    let to = u.email.clone();
    Ok((updated(u, now), to))
}

/// `verify_email` with force (admins): sets the address if given and marks it verified.
pub fn force_email_verified(
    s: &DomainState,
    user_id: &str,
    email: Option<String>,
    now: Millis,
) -> ApiResult<Vec<Event>> {
    domain_enabled(s)?;
    let mut u = user(s, user_id)?.clone();
    if let Some(e) = email {
        u.email = e;
    }
    if u.email.is_empty() {
        return Err(ApiError::required("email"));
    }
    u.email_verified = true;
    u.take_code(CodePurpose::VerifyEmail);
    Ok(updated(u, now))
}

/// `confirm_email`.
pub fn confirm_email(
    s: &DomainState,
    user_id: &str,
    key: &CodeKey,
    code: &str,
    now: Millis,
) -> ApiResult<(Vec<Event>, ApiResult<()>)> {
    domain_enabled(s)?;
    let mut u = user(s, user_id)?.clone();
    if !u
        .codes
        .iter()
        .any(|c| c.purpose == CodePurpose::VerifyEmail)
    {
        return Ok((vec![], Err(invalid_code())));
    }
    let verdict = check_code(&mut u, key, CodePurpose::VerifyEmail, code, now);
    if verdict.is_ok() {
        u.email_verified = true;
    }
    Ok((updated(u, now), verdict))
}

// ---------------------------------------------------------------------------------------------
// MFA

/// What `enable_mfa` sets up.
pub enum MfaSetup<'a> {
    Email { email: String, code: NewCode<'a> },
    Otp { secret: TotpSecret },
}

fn mfa_not_allowed_for(u: &User) -> ApiResult<()> {
    if u.backend == Backend::External || u.user_type == UserType::ApiUser {
        return Err(ApiError::not_allowed_action("MFA"));
    }
    Ok(())
}

/// `enable_mfa`: nothing is active until `confirm_mfa`. Returns the events and, for EMAIL, the
/// address to mail the code to.
pub fn enable_mfa(
    s: &DomainState,
    user_id: &str,
    setup: MfaSetup<'_>,
    now: Millis,
) -> ApiResult<(Vec<Event>, Option<String>)> {
    domain_enabled(s)?;
    let mut u = user(s, user_id)?.clone();
    mfa_not_allowed_for(&u)?;
    if u.mfa_enabled() {
        return Err(ApiError::new(
            ErrorCode::MfaAlreadyEnabled,
            format!("MFA is already enabled. (user_id = {user_id})"),
        ));
    }
    let (mfa_type, options, totp, mail_to) = match setup {
        MfaSetup::Email { email, code } => {
            u.put_code(code.stored(CodePurpose::MfaEnable, now));
            let mut o = Map::new();
            o.insert("email".into(), Value::from(email.clone()));
            (MfaType::Email, o, None, Some(email))
        }
        MfaSetup::Otp { secret } => {
            u.take_code(CodePurpose::MfaEnable);
            (
                MfaType::Otp,
                Map::new(),
                Some(TotpState {
                    secret,
                    last_step: None,
                }),
                None,
            )
        }
    };
    u.mfa = Some(Mfa {
        state: MfaState::Disabled,
        mfa_type: Some(mfa_type),
        options,
        totp,
        pending: Some(MfaPending::Enable),
        otp_attempts_left: MAX_ATTEMPTS,
        enforced: false,
    });
    Ok((updated(u, now), mail_to))
}

fn disable_now(u: &mut User) {
    let enforced = u.mfa.as_ref().is_some_and(|m| m.enforced);
    u.mfa = None;
    u.take_code(CodePurpose::MfaDisable);
    u.take_code(CodePurpose::MfaLogin);
    if enforced {
        u.add_action(RequiredAction::EnforceMfa);
    }
}

/// `disable_mfa`. With `force` (admins) MFA is off at once. Otherwise EMAIL stores a code (the
/// address to mail it to is returned) and OTP waits for the next TOTP; `confirm_mfa` finishes.
pub fn disable_mfa(
    s: &DomainState,
    user_id: &str,
    force: bool,
    code: &NewCode<'_>,
    now: Millis,
) -> ApiResult<(Vec<Event>, Option<String>)> {
    domain_enabled(s)?;
    let mut u = user(s, user_id)?.clone();
    if !u.mfa_enabled() {
        return Err(ApiError::new(
            ErrorCode::MfaAlreadyDisabled,
            format!("MFA is already disabled. (user_id = {user_id})"),
        ));
    }
    if force {
        disable_now(&mut u);
        return Ok((updated(u, now), None));
    }
    let mut mail_to = None;
    if let Some(m) = u.mfa.as_mut() {
        // A disable already pending keeps its count (re-requesting re-arms nothing); a new one
        // starts from MAX_ATTEMPTS, bounded across re-issues by `CodeThrottle`.
        if m.pending != Some(MfaPending::Disable) {
            m.otp_attempts_left = MAX_ATTEMPTS;
        }
        m.pending = Some(MfaPending::Disable);
        if m.mfa_type == Some(MfaType::Email) {
            mail_to = m
                .options
                .get("email")
                .and_then(Value::as_str)
                .map(str::to_owned);
        }
    }
    if mail_to.is_some() {
        u.put_code(code.stored(CodePurpose::MfaDisable, now));
    }
    Ok((updated(u, now), mail_to))
}

/// Checks an MFA code of the user's type: EMAIL against the stored code of `purpose`, OTP against
/// the TOTP secret (±1 step, never the same step twice).
fn check_mfa_code(
    u: &mut User,
    key: &CodeKey,
    purpose: CodePurpose,
    code: &str,
    now: Millis,
) -> ApiResult<()> {
    let Some(m) = u.mfa.as_mut() else {
        return Err(invalid_code());
    };
    match m.mfa_type {
        Some(MfaType::Otp) => {
            let Some(t) = m.totp.as_mut() else {
                return Err(invalid_code());
            };
            match totp::verify(&t.secret, code, now, t.last_step) {
                Some(step) => {
                    t.last_step = Some(step);
                    Ok(())
                }
                None => Err(invalid_code()),
            }
        }
        _ => check_code(u, key, purpose, code, now),
    }
}

/// `confirm_mfa`: completes a pending enable or disable.
pub fn confirm_mfa(
    s: &DomainState,
    user_id: &str,
    key: &CodeKey,
    code: &str,
    now: Millis,
) -> ApiResult<(Vec<Event>, ApiResult<()>)> {
    domain_enabled(s)?;
    let mut u = user(s, user_id)?.clone();
    let Some(pending) = u.mfa.as_ref().and_then(|m| m.pending) else {
        return Err(ApiError::new(
            ErrorCode::MfaNotEnabled,
            format!("No MFA change is waiting for confirmation. (user_id = {user_id})"),
        ));
    };
    let purpose = match pending {
        MfaPending::Enable => CodePurpose::MfaEnable,
        MfaPending::Disable => CodePurpose::MfaDisable,
    };
    let verdict = check_mfa_code(&mut u, key, purpose, code, now);
    match (&verdict, pending) {
        (Ok(()), MfaPending::Enable) => {
            let enforced = u.has_action(RequiredAction::EnforceMfa);
            u.remove_action(RequiredAction::EnforceMfa);
            if let Some(m) = u.mfa.as_mut() {
                m.state = MfaState::Enabled;
                m.pending = None;
                m.enforced = enforced;
            }
        }
        (Ok(()), MfaPending::Disable) => disable_now(&mut u),
        (Err(_), _) => {
            // OTP tries are limited here; e-mail codes count their own attempts.
            if let Some(m) = u.mfa.as_mut().filter(|m| m.mfa_type == Some(MfaType::Otp)) {
                m.otp_attempts_left = m.otp_attempts_left.saturating_sub(1);
                if m.otp_attempts_left == 0 {
                    match pending {
                        MfaPending::Enable => u.mfa = None,
                        MfaPending::Disable => m.pending = None,
                    }
                }
            }
        }
    }
    Ok((updated(u, now), verdict))
}

/// At login, for a user with MFA enabled and no code given: EMAIL stores a login code (the
/// address to mail it to is returned); OTP needs nothing stored.
pub fn start_login_mfa(u: &User, code: &NewCode<'_>, now: Millis) -> Option<(Vec<Event>, String)> {
    let m = u.mfa.as_ref()?;
    if m.mfa_type != Some(MfaType::Email) {
        return None;
    }
    let to = m.options.get("email").and_then(Value::as_str)?.to_owned();
    let mut u = u.clone();
    u.put_code(code.stored(CodePurpose::MfaLogin, now));
    Some((vec![Event::UserUpdated(u)], to))
}

/// At login with `auth_type: MFA`: checks the code (the attempt changes state either way).
pub fn check_login_mfa(
    u: &User,
    key: &CodeKey,
    code: &str,
    now: Millis,
) -> (Vec<Event>, ApiResult<()>) {
    let mut u = u.clone();
    let verdict = check_mfa_code(&mut u, key, CodePurpose::MfaLogin, code, now);
    (vec![Event::UserUpdated(u)], verdict)
}

// ---------------------------------------------------------------------------------------------
// Password reset

/// Whether a user may get a reset mail (admin-initiated calls report why not).
pub fn reset_eligible(u: &User) -> ApiResult<()> {
    if u.backend == Backend::External {
        return Err(ApiError::new(
            ErrorCode::UnableToResetPasswordInExternalAuth,
            format!(
                "Unable to reset password in external auth. (user_id = {})",
                u.user_id
            ),
        ));
    }
    if u.user_type == UserType::ApiUser {
        return Err(ApiError::not_allowed_action("UPDATE_PASSWORD"));
    }
    if u.email.is_empty() {
        return Err(ApiError::new(
            ErrorCode::UnableToResetPasswordWithoutEmail,
            format!(
                "Unable to reset password without email. (user_id = {})",
                u.user_id
            ),
        ));
    }
    if !u.email_verified {
        return Err(ApiError::new(
            ErrorCode::VerificationUnavailable,
            format!("The email is not verified. (user_id = {})", u.user_id),
        ));
    }
    Ok(())
}

/// PASSWORD-mode reset. Admin-initiated (`replace`): the temporary password replaces the old
/// one at once and UPDATE_PASSWORD is added. Started without credentials: it is kept beside the
/// old one, which keeps working until the temporary one is first used or expires.
pub fn set_temp_password(
    s: &DomainState,
    user_id: &str,
    hash: PasswordHash,
    replace: bool,
    now: Millis,
) -> ApiResult<Vec<Event>> {
    domain_enabled(s)?;
    let mut u = user(s, user_id)?.clone();
    if replace {
        u.password_hash = Some(hash);
        super::rules::bump_cred_version(&mut u);
        u.temp_password = None;
        u.add_action(RequiredAction::UpdatePassword);
    } else {
        u.temp_password = Some(TempPassword {
            hash,
            expires_at: now + TEMP_PASSWORD_TTL_MS,
        });
    }
    Ok(updated(u, now))
}

/// A login that matched the temporary password: it becomes the password, UPDATE_PASSWORD is
/// added, older tokens stop working.
pub fn promote_temp_password(u: &User, now: Millis) -> Event {
    let mut u = u.clone();
    if let Some(t) = u.temp_password.take() {
        u.password_hash = Some(t.hash);
        super::rules::bump_cred_version(&mut u);
        u.add_action(RequiredAction::UpdatePassword);
    }
    u.updated_at = now;
    Event::UserUpdated(u)
}

// ---------------------------------------------------------------------------------------------
// Limits that hold across re-issues (issue #11, items 9 and 10)
//
// A code's own `attempts_left` (and `Mfa::otp_attempts_left`) starts afresh with every issue, so
// on its own it bounds nothing: whoever may re-request a code could re-arm it. `CodeThrottle`
// counts per *target* instead — (domain, user, purpose), and for e-mail verification also
// (domain, address) — over a fixed window: wrong codes, issues (with a cooldown between two
// self-service issues) and mails per user and per tenant. No request resets a counter (not even
// a right code: a user could otherwise verify its own address to re-arm the count for someone
// else's); only the window's end does. Pure: time is passed in. Kept in memory like the login
// lockout: a restart forgets the windows (the persisted per-code counts still hold), and no
// request can cause one. Keys are fixed-size digests, the table is hard-capped and never evicts
// a live entry: when it is full of live entries new issues are refused (fail closed).

/// Settings of [`CodeThrottle`]; every one is a flag (see `config.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CodeLimits {
    /// Length of the counting window.
    pub window_ms: i64,
    /// Least time between two self-service issues of a code of the same purpose to a user.
    pub cooldown_ms: i64,
    /// Self-service issues per target per window.
    pub max_issues: u32,
    /// Wrong codes per target per window, across every code issued in it.
    pub max_failures: u32,
    /// Mails per user per window (every kind of code mail).
    pub user_mails: u32,
    /// Mails per tenant domain per window.
    pub domain_mails: u32,
    /// Entries kept at most.
    pub max_entries: usize,
}

impl Default for CodeLimits {
    fn default() -> Self {
        CodeLimits {
            window_ms: 3_600_000,
            cooldown_ms: 60_000,
            max_issues: 5,
            max_failures: 10,
            user_mails: 20,
            domain_mails: 1_000,
            max_entries: 200_000,
        }
    }
}

/// What a code is for and whom it concerns.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    pub domain_id: &'a str,
    pub user_id: &'a str,
    pub purpose: CodePurpose,
    /// The address a verification code goes to (counted on its own as well).
    pub address: Option<&'a str>,
}

/// How an issue is counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Issue {
    /// Self-service (the user itself): cooldown and issue cap apply. Admins may force the result
    /// anyway (`force`), so only their mail is limited.
    pub self_service: bool,
    /// A mail goes out: the user's and the tenant's mail quotas apply.
    pub mail: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Key([u8; 16]);

#[derive(Debug, Clone, Copy, Default)]
struct Window {
    start: Millis,
    issues: u32,
    failures: u32,
    mails: u32,
    last_issue: Option<Millis>,
}

impl Window {
    fn roll(&mut self, now: Millis, window_ms: i64) {
        if now.saturating_sub(self.start) >= window_ms || now < self.start {
            let last_issue = self.last_issue;
            *self = Window {
                start: now,
                last_issue,
                ..Window::default()
            };
        }
    }

    fn live(&self, now: Millis, l: &CodeLimits) -> bool {
        let counting = now.saturating_sub(self.start) < l.window_ms
            && (self.issues > 0 || self.failures > 0 || self.mails > 0);
        let cooling = self
            .last_issue
            .is_some_and(|t| now.saturating_sub(t) < l.cooldown_ms);
        counting || cooling
    }

    fn wait_s(&self, now: Millis, l: &CodeLimits) -> i64 {
        let end = self.start.saturating_add(l.window_ms);
        (end.saturating_sub(now) / 1000).max(1)
    }
}

fn purpose_tag(p: CodePurpose) -> u8 {
    match p {
        CodePurpose::VerifyEmail => 1,
        CodePurpose::MfaEnable => 2,
        CodePurpose::MfaDisable => 3,
        CodePurpose::MfaLogin => 4,
    }
}

fn key(kind: u8, parts: &[&[u8]]) -> Key {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    h.update([kind]);
    for p in parts {
        h.update(u64::try_from(p.len()).unwrap_or(u64::MAX).to_le_bytes());
        h.update(p);
    }
    let d = h.finalize();
    let mut k = [0u8; 16];
    for (dst, src) in k.iter_mut().zip(d.iter()) {
        *dst = *src;
    }
    Key(k)
}

fn target_key(t: &Target<'_>) -> Key {
    key(
        1,
        &[
            t.domain_id.as_bytes(),
            t.user_id.as_bytes(),
            &[purpose_tag(t.purpose)],
        ],
    )
}

fn address_key(domain_id: &str, address: &str) -> Key {
    key(
        2,
        &[domain_id.as_bytes(), address.to_lowercase().as_bytes()],
    )
}

fn user_mail_key(domain_id: &str, user_id: &str) -> Key {
    key(3, &[domain_id.as_bytes(), user_id.as_bytes()])
}

fn domain_mail_key(domain_id: &str) -> Key {
    key(4, &[domain_id.as_bytes()])
}

/// Refusals say what is limited and when to come back, never a code or an address.
fn refused(what: &str, wait_s: i64) -> ApiError {
    ApiError::new(
        ErrorCode::ResourceExhausted,
        format!("Too many requests. (resource = {what}, retry_after_s = {wait_s})"),
    )
}

/// Counters per target, per address, per user and per tenant. See the section comment.
#[derive(Debug, Default)]
pub struct CodeThrottle {
    limits: CodeLimits,
    entries: std::collections::HashMap<Key, Window>,
}

impl CodeThrottle {
    pub fn new(limits: CodeLimits) -> Self {
        CodeThrottle {
            limits,
            entries: std::collections::HashMap::new(),
        }
    }

    pub fn limits(&self) -> &CodeLimits {
        &self.limits
    }

    /// Entries held (for tests and the hard cap).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The window of `k` as of `now` (rolled over when it ended), without creating it.
    fn peek(&self, k: Key, now: Millis) -> Window {
        let mut w = self.entries.get(&k).copied().unwrap_or(Window {
            start: now,
            ..Window::default()
        });
        w.roll(now, self.limits.window_ms);
        w
    }

    /// Makes room for `new` more keys: drops entries that count nothing any more; refuses when
    /// the table would still exceed its cap (never evicts a live entry, which would re-arm it).
    fn room_for(&mut self, keys: &[Key], now: Millis) -> ApiResult<()> {
        let missing = keys
            .iter()
            .filter(|k| !self.entries.contains_key(k))
            .count();
        if self.entries.len().saturating_add(missing) <= self.limits.max_entries {
            return Ok(());
        }
        let l = self.limits;
        self.entries.retain(|_, w| w.live(now, &l));
        if self.entries.len().saturating_add(missing) <= self.limits.max_entries {
            Ok(())
        } else {
            Err(ApiError::exhausted("verification_counters"))
        }
    }

    fn store(&mut self, k: Key, w: Window) {
        self.entries.insert(k, w);
    }

    /// Before a code is stored (or an OTP change is started): checks every limit that applies
    /// and, only when all pass, counts the issue. Refused: nothing is counted.
    pub fn issue(&mut self, t: &Target<'_>, how: Issue, now: Millis) -> ApiResult<()> {
        let l = self.limits;
        let tk = target_key(t);
        let ak = t.address.map(|a| address_key(t.domain_id, a));
        let uk = user_mail_key(t.domain_id, t.user_id);
        let dk = domain_mail_key(t.domain_id);
        let mut tw = self.peek(tk, now);
        let mut aw = ak.map(|k| self.peek(k, now));
        let mut uw = self.peek(uk, now);
        let mut dw = self.peek(dk, now);
        if how.self_service {
            for w in std::iter::once(&tw).chain(aw.iter()) {
                if let Some(last) = w.last_issue {
                    let since = now.saturating_sub(last);
                    if since < l.cooldown_ms {
                        let wait = ((l.cooldown_ms - since) / 1000).max(1);
                        return Err(refused("verification_code_cooldown", wait));
                    }
                }
                if w.issues >= l.max_issues {
                    return Err(refused("verification_codes", w.wait_s(now, &l)));
                }
            }
        }
        // A target whose wrong tries are used up gets no new code either: it could not be used.
        for w in std::iter::once(&tw).chain(aw.iter()) {
            if w.failures >= l.max_failures {
                return Err(refused("verification_attempts", w.wait_s(now, &l)));
            }
        }
        if how.mail {
            if uw.mails >= l.user_mails {
                return Err(refused("user_mail_quota", uw.wait_s(now, &l)));
            }
            if dw.mails >= l.domain_mails {
                return Err(refused("domain_mail_quota", dw.wait_s(now, &l)));
            }
        }
        let mut keys = vec![tk];
        keys.extend(ak);
        if how.mail {
            keys.extend([uk, dk]);
        }
        self.room_for(&keys, now)?;
        for w in std::iter::once(&mut tw).chain(aw.iter_mut()) {
            w.issues = w.issues.saturating_add(1);
            w.last_issue = Some(now);
        }
        self.store(tk, tw);
        if let (Some(k), Some(w)) = (ak, aw) {
            self.store(k, w);
        }
        if how.mail {
            uw.mails = uw.mails.saturating_add(1);
            dw.mails = dw.mails.saturating_add(1);
            self.store(uk, uw);
            self.store(dk, dw);
        }
        Ok(())
    }

    /// Counts a mail that belongs to no code target (e.g. a reset mail) against the user's and
    /// the tenant's quotas. Refused: nothing is counted.
    pub fn mail(&mut self, domain_id: &str, user_id: &str, now: Millis) -> ApiResult<()> {
        let l = self.limits;
        let (uk, dk) = (
            user_mail_key(domain_id, user_id),
            domain_mail_key(domain_id),
        );
        let (mut uw, mut dw) = (self.peek(uk, now), self.peek(dk, now));
        if uw.mails >= l.user_mails {
            return Err(refused("user_mail_quota", uw.wait_s(now, &l)));
        }
        if dw.mails >= l.domain_mails {
            return Err(refused("domain_mail_quota", dw.wait_s(now, &l)));
        }
        self.room_for(&[uk, dk], now)?;
        uw.mails = uw.mails.saturating_add(1);
        dw.mails = dw.mails.saturating_add(1);
        self.store(uk, uw);
        self.store(dk, dw);
        Ok(())
    }

    /// Before a code is compared: refused once the target's (or the address's) wrong tries in
    /// this window are used up, whatever the code (so a right code found later is no use).
    pub fn may_attempt(&self, t: &Target<'_>, now: Millis) -> ApiResult<()> {
        let l = self.limits;
        let keys =
            std::iter::once(target_key(t)).chain(t.address.map(|a| address_key(t.domain_id, a)));
        for k in keys {
            let w = self.peek(k, now);
            if w.failures >= l.max_failures {
                return Err(refused("verification_attempts", w.wait_s(now, &l)));
            }
        }
        Ok(())
    }

    /// Counts a wrong code against the target (and the address). When the table is full of live
    /// entries the count still lands: an existing entry is updated in place, and a missing one
    /// may exceed the cap by the one entry (a failure must never go uncounted).
    pub fn failed(&mut self, t: &Target<'_>, now: Millis) {
        let keys: Vec<Key> = std::iter::once(target_key(t))
            .chain(t.address.map(|a| address_key(t.domain_id, a)))
            .collect();
        let _ = self.room_for(&keys, now);
        for k in keys {
            let mut w = self.peek(k, now);
            w.failures = w.failures.saturating_add(1);
            self.store(k, w);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::entities::PasswordHash;
    use crate::model::rules::{NewUser, create_domain};

    const T0: Millis = 1_700_000_000_000;

    fn state() -> DomainState {
        let d = crate::model::entities::Domain {
            domain_id: "domain-1".into(),
            name: "d".into(),
            state: DomainState_::Enabled,
            tags: Map::new(),
            created_at: T0,
        };
        let nu = NewUser {
            user_id: "u@a.io".into(),
            name: "U".into(),
            email: "u@a.io".into(),
            user_type: UserType::User,
            backend: Backend::Local,
            password_hash: Some(PasswordHash("h".into())),
            language: "en".into(),
            timezone: "UTC".into(),
            tags: Map::new(),
            reset_password: false,
            cred_version: 0,
        };
        create_domain(d, Some((nu, "rb-1".into())), T0).unwrap().0
    }
    use crate::api::DomainState as DomainState_;

    fn apply(s: &mut DomainState, evs: Vec<Event>) {
        for e in &evs {
            s.apply(e);
        }
    }

    #[test]
    fn email_code_is_consumed_and_limited() {
        let key = CodeKey::from_bytes([7; 32]);
        let mut s = state();
        let nc = NewCode {
            key: &key,
            code: "123456",
            ttl_ms: 3_600_000,
        };
        let (evs, to) =
            start_email_verification(&s, "u@a.io", Some("new@a.io".into()), &nc, T0).unwrap();
        assert_eq!(to, "new@a.io");
        apply(&mut s, evs);
        assert!(!s.users["u@a.io"].email_verified);
        let (evs, v) = confirm_email(&s, "u@a.io", &key, "000000", T0).unwrap();
        assert_eq!(v.unwrap_err().code, ErrorCode::InvalidVerifyCode);
        apply(&mut s, evs);
        let (evs, v) = confirm_email(&s, "u@a.io", &key, "123456", T0).unwrap();
        v.unwrap();
        apply(&mut s, evs);
        assert!(s.users["u@a.io"].email_verified);
        // Consumed: the same code again fails.
        let (_, v) = confirm_email(&s, "u@a.io", &key, "123456", T0).unwrap();
        assert!(v.is_err());
    }

    #[test]
    fn sixth_try_fails_even_with_the_right_code_and_expiry_holds() {
        let key = CodeKey::from_bytes([1; 32]);
        let mut s = state();
        let nc = NewCode {
            key: &key,
            code: "654321",
            ttl_ms: 1000,
        };
        let evs = start_email_verification(&s, "u@a.io", None, &nc, T0)
            .unwrap()
            .0;
        apply(&mut s, evs);
        for _ in 0..5 {
            let (evs, v) = confirm_email(&s, "u@a.io", &key, "111111", T0).unwrap();
            assert!(v.is_err());
            apply(&mut s, evs);
        }
        assert!(
            confirm_email(&s, "u@a.io", &key, "654321", T0)
                .unwrap()
                .1
                .is_err()
        );
        let evs = start_email_verification(&s, "u@a.io", None, &nc, T0)
            .unwrap()
            .0;
        apply(&mut s, evs);
        assert!(
            confirm_email(&s, "u@a.io", &key, "654321", T0 + 1000)
                .unwrap()
                .1
                .is_err(),
            "expired"
        );
    }

    #[test]
    fn mfa_enable_confirm_disable_with_enforcement() {
        let key = CodeKey::from_bytes([2; 32]);
        let mut s = state();
        let mut u = s.users["u@a.io"].clone();
        u.add_action(RequiredAction::EnforceMfa);
        s.apply(&Event::UserUpdated(u));
        let secret = totp::generate_secret();
        let (evs, mail) = enable_mfa(
            &s,
            "u@a.io",
            MfaSetup::Otp {
                secret: secret.clone(),
            },
            T0,
        )
        .unwrap();
        assert!(mail.is_none());
        apply(&mut s, evs);
        assert!(
            !s.users["u@a.io"].mfa_enabled(),
            "nothing active before confirm"
        );
        let step = totp::step_at(T0).unwrap();
        let (evs, v) = confirm_mfa(&s, "u@a.io", &key, &totp::code_at(&secret, step), T0).unwrap();
        v.unwrap();
        apply(&mut s, evs);
        let u = &s.users["u@a.io"];
        assert!(u.mfa_enabled());
        assert!(!u.has_action(RequiredAction::EnforceMfa));
        assert_eq!(
            enable_mfa(
                &s,
                "u@a.io",
                MfaSetup::Otp {
                    secret: secret.clone()
                },
                T0
            )
            .unwrap_err()
            .code,
            ErrorCode::MfaAlreadyEnabled
        );
        // The same step is never accepted twice.
        let nc = NewCode {
            key: &key,
            code: "000000",
            ttl_ms: 1000,
        };
        let evs = disable_mfa(&s, "u@a.io", false, &nc, T0).unwrap().0;
        apply(&mut s, evs);
        let (_, v) = confirm_mfa(&s, "u@a.io", &key, &totp::code_at(&secret, step), T0).unwrap();
        assert!(v.is_err(), "replayed step");
        let (evs, v) = confirm_mfa(
            &s,
            "u@a.io",
            &key,
            &totp::code_at(&secret, step + 1),
            T0 + 30_000,
        )
        .unwrap();
        v.unwrap();
        apply(&mut s, evs);
        let u = &s.users["u@a.io"];
        assert!(!u.mfa_enabled());
        assert!(
            u.has_action(RequiredAction::EnforceMfa),
            "an admin-enforced MFA that is disabled puts the action back"
        );
        assert_eq!(
            disable_mfa(&s, "u@a.io", false, &nc, T0).unwrap_err().code,
            ErrorCode::MfaAlreadyDisabled
        );
    }

    #[test]
    fn reset_rules() {
        let mut s = state();
        let u = s.users["u@a.io"].clone();
        assert_eq!(
            reset_eligible(&u).unwrap_err().code,
            ErrorCode::VerificationUnavailable
        );
        let mut v = u.clone();
        v.email_verified = true;
        s.apply(&Event::UserUpdated(v.clone()));
        reset_eligible(&v).unwrap();
        let evs = set_temp_password(&s, "u@a.io", PasswordHash("tmp".into()), false, T0).unwrap();
        apply(&mut s, evs);
        let u = &s.users["u@a.io"];
        assert_eq!(
            u.password_hash,
            Some(PasswordHash("h".into())),
            "old password kept"
        );
        assert_eq!(
            u.temp_password.as_ref().unwrap().expires_at,
            T0 + TEMP_PASSWORD_TTL_MS
        );
        s.apply(&promote_temp_password(u, T0));
        let u = &s.users["u@a.io"];
        assert_eq!(u.password_hash, Some(PasswordHash("tmp".into())));
        assert!(u.has_action(RequiredAction::UpdatePassword));
        assert_eq!(u.cred_version, 1);
    }
}
