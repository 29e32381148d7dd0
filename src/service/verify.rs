//! User v1 e-mail verification, MFA and password reset (SPEC 3, 5.1–5.3).

use super::{ResetMode, Service, noauth};
use crate::api::*;
use crate::auth::caller::Grant;
use crate::auth::codes::generate_code;
use crate::auth::codes::{CodeKey, CodePurpose};
use crate::auth::token::TokenType;
use crate::auth::totp;
use crate::mail::MailKind;
use crate::model::clock::Millis;
use crate::model::entities::{PasswordHash, User};
use crate::model::events::Event;
use crate::model::rules;
use crate::model::validate;
use crate::model::verification::{self as v, Issue, MfaSetup, NewCode, Target};

use super::mailer::{MailSlot, Mailer};

/// Who started a reset, which decides what is checked and what changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ResetBy {
    /// `create` with `reset_password`: the admin supplied the (unverified) address.
    AdminCreate,
    /// `update` with `reset_password`: needs a verified address; PASSWORD mode replaces at once.
    Admin,
    /// The +noauth calls: the old password keeps working until the temporary one is used.
    Anonymous,
}

/// The shape of `verification::confirm_email` and `confirm_mfa`.
type ConfirmRule = fn(
    &crate::model::state::DomainState,
    &str,
    &crate::auth::codes::CodeKey,
    &str,
    crate::model::clock::Millis,
) -> ApiResult<(Vec<crate::model::events::Event>, ApiResult<()>)>;

/// What a confirmation is counted against: the purpose and, for e-mail verification, the
/// address the code went to. `None`: nothing is pending (the rule answers).
type TargetOf = fn(&User) -> Option<(CodePurpose, Option<String>)>;

fn email_target(u: &User) -> Option<(CodePurpose, Option<String>)> {
    Some((CodePurpose::VerifyEmail, Some(u.email.clone())))
}

fn mfa_target(u: &User) -> Option<(CodePurpose, Option<String>)> {
    let pending = u.mfa.as_ref().and_then(|m| m.pending)?;
    let purpose = match pending {
        crate::model::entities::MfaPending::Enable => CodePurpose::MfaEnable,
        crate::model::entities::MfaPending::Disable => CodePurpose::MfaDisable,
    };
    Some((purpose, None))
}

/// At login, MFA enabled and no code given (called inside the actor by `token_issue`): for
/// EMAIL, checks the limits of (user, MfaLogin) — cooldown, issue cap, wrong tries, mail quotas
/// — and takes an outbox slot before the login code is stored. Returns the events, the address
/// and the slot; `None` for OTP (nothing is issued).
pub(crate) fn login_code_issue(
    mailer: &Mailer,
    domain_id: &str,
    u: &User,
    nc: &NewCode<'_>,
    now: Millis,
) -> ApiResult<Option<(Vec<Event>, String, MailSlot)>> {
    let Some((evs, to)) = v::start_login_mfa(u, nc, now) else {
        return Ok(None);
    };
    let kind = MailKind::LoginCode;
    let slot = mailer.reserve_slot(domain_id, &to, kind)?;
    let t = Target {
        domain_id,
        user_id: &u.user_id,
        purpose: CodePurpose::MfaLogin,
        address: None,
    };
    let how = Issue {
        self_service: true,
        mail: true,
    };
    if let Err(e) = mailer.throttle().issue(&t, how, now) {
        mailer.refused(&to, kind, &e);
        return Err(e);
    }
    Ok(Some((evs, to, slot)))
}

/// At login with `auth_type: MFA` (inside the actor): refused outright once the wrong codes of
/// (user, MfaLogin) in the window are used up (e-mail codes and TOTP alike, across re-issued
/// codes); otherwise checks the code and counts a wrong one.
pub(crate) fn login_code_check(
    mailer: &Mailer,
    domain_id: &str,
    u: &User,
    key: &CodeKey,
    code: &str,
    now: Millis,
) -> ApiResult<(Vec<Event>, ApiResult<()>)> {
    let t = Target {
        domain_id,
        user_id: &u.user_id,
        purpose: CodePurpose::MfaLogin,
        address: None,
    };
    mailer.throttle().may_attempt(&t, now)?;
    let (evs, verdict) = v::check_login_mfa(u, key, code, now);
    if verdict.is_err() {
        mailer.throttle().failed(&t, now);
    }
    Ok((evs, verdict))
}

/// An MFA enable or disable about to be stored (inside the actor): takes an outbox slot when a
/// code is mailed, then counts the issue against (user, purpose). Refused: nothing is stored.
fn issue_mfa(
    mailer: &Mailer,
    domain_id: &str,
    user_id: &str,
    purpose: CodePurpose,
    mail_to: Option<&str>,
    self_service: bool,
    now: Millis,
) -> ApiResult<Option<MailSlot>> {
    let kind = MailKind::MfaCode;
    let slot = mail_to
        .map(|to| mailer.reserve_slot(domain_id, to, kind))
        .transpose()?;
    let t = Target {
        domain_id,
        user_id,
        purpose,
        address: None,
    };
    let how = Issue {
        self_service,
        mail: mail_to.is_some(),
    };
    if let Err(e) = mailer.throttle().issue(&t, how, now) {
        if let Some(to) = mail_to {
            mailer.refused(to, kind, &e);
        }
        return Err(e);
    }
    Ok(slot)
}

fn minutes(s: i64) -> u32 {
    u32::try_from((s / 60).max(1)).unwrap_or(u32::MAX)
}

/// 12 characters with at least one lower-case letter, one upper-case letter and one digit.
pub(crate) fn temp_password() -> Secret {
    use rand::Rng;
    const CHARS: &[u8] = b"abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = rand::rng();
    loop {
        let pw: String = (0..12)
            .map(|_| CHARS[rng.random_range(0..CHARS.len())] as char)
            .collect();
        if validate::password(&pw).is_ok() {
            return Secret::new(pw);
        }
    }
}

/// How a pending temporary password (anonymous reset) is stored: a keyed hash, not argon2. It is
/// 12 random characters (~70 bits), so a fast keyed hash is as safe as a slow one, and checking
/// it costs microseconds: a login of a user with a reset pending costs the same one argon2
/// verification as any other login (no timing oracle), and an anonymous reset hashes nothing.
const TEMP_MAC_PREFIX: &str = "hmac-sha256$";

/// The stored form of a temporary password for (domain, user).
pub(crate) fn temp_password_mac(
    key: &crate::auth::codes::CodeKey,
    domain_id: &str,
    user_id: &str,
    password: &str,
) -> PasswordHash {
    PasswordHash(format!(
        "{TEMP_MAC_PREFIX}{}",
        hex::encode(temp_mac_bytes(key, domain_id, user_id, password))
    ))
}

fn temp_mac_bytes(
    key: &crate::auth::codes::CodeKey,
    domain_id: &str,
    user_id: &str,
    password: &str,
) -> [u8; 32] {
    use hmac::{Hmac, Mac, digest::KeyInit};
    // HMAC zero-pads a key shorter than its block: this is exactly HMAC(key, ·).
    let mut block = [0u8; 64];
    block[..32].copy_from_slice(key.as_bytes());
    let mut mac = <Hmac<sha2::Sha256> as KeyInit>::new(&block.into());
    for part in [
        b"identityd temp-password".as_slice(),
        domain_id.as_bytes(),
        user_id.as_bytes(),
        password.as_bytes(),
    ] {
        mac.update(&(part.len() as u64).to_le_bytes());
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

/// Whether `password` is the temporary password stored as `stored`, in constant time; None when
/// `stored` is not a keyed hash (an argon2 hash from an older version: verify it on the pool).
pub(crate) fn temp_password_matches(
    key: &crate::auth::codes::CodeKey,
    domain_id: &str,
    user_id: &str,
    password: &str,
    stored: &PasswordHash,
) -> Option<bool> {
    use subtle::ConstantTimeEq;
    let hex_mac = stored.0.strip_prefix(TEMP_MAC_PREFIX)?;
    let want = temp_mac_bytes(key, domain_id, user_id, password);
    let Ok(got) = hex::decode(hex_mac) else {
        return Some(false);
    };
    Some(bool::from(got.as_slice().ct_eq(want.as_slice())))
}

fn is_admin(g: &Grant) -> bool {
    matches!(g, Grant::System | Grant::Admin(_))
}

impl Service {
    pub async fn user_verify_email(
        &self,
        cred: Credential,
        req: VerifyEmailRequest,
    ) -> ApiResult<Empty> {
        let grant = self.user_grant(&cred, "verify_email", &req.domain_id, None)?;
        validate::required("user_id", &req.user_id)?;
        if let Some(e) = &req.email {
            validate::email(e)?;
        }
        let force = req.force.unwrap_or(false);
        if force && !is_admin(&grant) {
            return Err(ApiError::permission_denied());
        }
        self.verify_email_for(grant, req.domain_id, req.user_id, req.email, force)
            .await
    }

    /// Shared by v1 and v2 `verify_email`. Without force: the issue is checked against the
    /// target's limits (cooldown and issue cap for self-service, wrong tries, mail quotas) and an
    /// outbox slot is taken *before* the code is stored; any refusal stores nothing.
    pub(crate) async fn verify_email_for(
        &self,
        grant: Grant,
        domain_id: String,
        user_id: String,
        email: Option<String>,
        force: bool,
    ) -> ApiResult<Empty> {
        let key = self.inner.code_key.clone();
        let ttl_s = self.inner.cfg.email_code_ttl_s;
        let code = generate_code();
        let code2 = code.clone();
        let mailer = self.mailer().clone();
        let self_service = !is_admin(&grant);
        let sent = self
            .exec_as(grant, &domain_id, move |ctx| {
                if force {
                    let evs = v::force_email_verified(ctx.state(), &user_id, email, ctx.now)?;
                    ctx.emit(evs);
                    return Ok(None);
                }
                let nc = NewCode {
                    key: &key,
                    code: &code2,
                    ttl_ms: ttl_s * 1000,
                };
                let (evs, to) =
                    v::start_email_verification(ctx.state(), &user_id, email, &nc, ctx.now)?;
                let did = ctx.state().domain.domain_id.clone();
                let kind = MailKind::VerifyCode;
                let slot = mailer.reserve_slot(&did, &to, kind)?;
                let t = Target {
                    domain_id: &did,
                    user_id: &user_id,
                    purpose: CodePurpose::VerifyEmail,
                    address: Some(&to),
                };
                let how = Issue {
                    self_service,
                    mail: true,
                };
                if let Err(e) = mailer.throttle().issue(&t, how, ctx.now) {
                    mailer.refused(&to, kind, &e);
                    return Err(e);
                }
                ctx.emit(evs);
                let u = rules::user(ctx.state(), &user_id)?;
                Ok(Some((slot, to, u.language.clone(), u.user_id.clone())))
            })
            .await?;
        if let Some((slot, to, lang, uid)) = sent {
            slot.send(
                &to,
                MailKind::VerifyCode,
                &lang,
                &uid,
                Secret::new(code),
                minutes(ttl_s),
            )?;
        }
        Ok(Empty {})
    }

    pub async fn user_confirm_email(
        &self,
        cred: Credential,
        req: ConfirmEmailRequest,
    ) -> ApiResult<UserInfo> {
        let grant = self.user_grant(&cred, "confirm_email", &req.domain_id, None)?;
        validate::required("user_id", &req.user_id)?;
        validate::required("verify_code", req.verify_code.expose())?;
        let u = self
            .confirm_email_for(grant, &req.domain_id, req.user_id, req.verify_code)
            .await?;
        Ok(u.info_v1(&req.domain_id))
    }

    pub(crate) async fn confirm_email_for(
        &self,
        grant: Grant,
        domain_id: &str,
        user_id: String,
        code: Secret,
    ) -> ApiResult<User> {
        self.confirm_with(
            grant,
            domain_id,
            user_id,
            code,
            v::confirm_email,
            email_target,
        )
        .await
    }

    /// Runs a code-confirming rule: refused outright once the target's wrong tries in the
    /// window are used up (across every code issued in it); otherwise its events are persisted
    /// whatever the verdict (a wrong try uses up an attempt), a wrong code is counted against
    /// the target, and the verdict decides the answer.
    async fn confirm_with(
        &self,
        grant: Grant,
        domain_id: &str,
        user_id: String,
        code: Secret,
        rule: ConfirmRule,
        target: TargetOf,
    ) -> ApiResult<User> {
        let key = self.inner.code_key.clone();
        let mailer = self.mailer().clone();
        self.exec_as(grant, domain_id, move |ctx| {
            let did = ctx.state().domain.domain_id.clone();
            let which = target(rules::user(ctx.state(), &user_id)?);
            let t = which.as_ref().map(|(purpose, address)| Target {
                domain_id: &did,
                user_id: &user_id,
                purpose: *purpose,
                address: address.as_deref(),
            });
            if let Some(t) = &t {
                mailer.throttle().may_attempt(t, ctx.now)?;
            }
            let (evs, verdict) = rule(ctx.state(), &user_id, &key, code.expose(), ctx.now)?;
            ctx.emit(evs);
            if let (Err(_), Some(t)) = (&verdict, &t) {
                mailer.throttle().failed(t, ctx.now);
            }
            verdict?;
            Ok(rules::user(ctx.state(), &user_id)?.clone())
        })
        .await
    }

    /// +noauth: always Empty, whatever the outcome; the reason is only logged, and the work runs
    /// after the reply so the response time tells nothing either. Ids are bounded and the call
    /// rate-limited (per source, per target) first; a refusal there says nothing about the
    /// account either.
    pub async fn user_reset_password(
        &self,
        cred: Credential,
        req: UserRequest,
    ) -> ApiResult<Empty> {
        noauth::check_ids("domain_id", &req.domain_id, "user_id", &req.user_id)?;
        self.admit_noauth(
            &cred,
            Some(noauth::Target::Reset {
                domain_id: &req.domain_id,
                user_id: &req.user_id,
            }),
        )?;
        let svc = self.clone();
        tokio::spawn(async move {
            if let Err(e) = svc
                .start_reset(None, &req.domain_id, &req.user_id, ResetBy::Anonymous)
                .await
            {
                tracing::info!(code = %e.code, reason = %e.message, "anonymous password reset not started");
            }
        });
        Ok(Empty {})
    }

    /// Starts a password reset per the configured mode (SPEC 5.3). Everything is checked in the
    /// actor before any work: an anonymous PASSWORD-mode reset costs no argon2 at all (its
    /// temporary password is stored as a keyed hash, made in the actor after the checks), and an
    /// admin one hashes only once the domain and the user were found eligible.
    /// An admin-initiated reset carries the admin's `grant`, re-checked in the actor before
    /// anything is written, and mail goes out only after that checked step (a deleted or demoted
    /// admin's token changes nothing and sends nothing).
    pub(crate) async fn start_reset(
        &self,
        grant: Option<Grant>,
        domain_id: &str,
        user_id: &str,
        by: ResetBy,
    ) -> ApiResult<()> {
        let cfg = self.inner.cfg.clone();
        let uid = user_id.to_owned();
        let check = move |u: &User| match by {
            ResetBy::AdminCreate if u.email.is_empty() => Err(ApiError::new(
                ErrorCode::UnableToResetPasswordWithoutEmail,
                format!(
                    "Unable to reset password without email. (user_id = {})",
                    u.user_id
                ),
            )),
            ResetBy::AdminCreate => Ok(()),
            _ => v::reset_eligible(u),
        };
        match cfg.reset_mode {
            ResetMode::AccessToken => {
                let u = self
                    .registry()
                    .exec(domain_id, move |ctx| {
                        rules::domain_enabled(ctx.state())?;
                        if let Some(g) = &grant {
                            g.check_in(ctx.state())?;
                        }
                        let u = rules::user(ctx.state(), &uid)?;
                        check(u)?;
                        Ok(u.clone())
                    })
                    .await?;
                let now = self.now();
                let mut claims =
                    self.claims_for(domain_id, &u, TokenType::Access, cfg.reset_token_ttl_s, now);
                claims.permissions = vec!["identity:UserProfile".into()];
                claims.injected_params.insert(
                    "required_actions".into(),
                    Value::List(vec![Value::from(RequiredAction::UpdatePassword.as_str())]),
                );
                let token = self.inner.authn.tokens.sign(&claims);
                let secret = self.mailer().reset_secret(&token);
                self.mailer().send_for(
                    domain_id,
                    &u.email,
                    MailKind::ResetLink,
                    &u.language,
                    &u.user_id,
                    secret,
                    minutes(cfg.reset_token_ttl_s),
                    self.now(),
                )?;
            }
            ResetMode::Password => {
                let pw = temp_password();
                let replace = by != ResetBy::Anonymous;
                let hash = if replace {
                    // The temporary password becomes the password: argon2, after the checks.
                    let uid2 = uid.clone();
                    self.registry()
                        .exec(domain_id, move |ctx| {
                            rules::domain_enabled(ctx.state())?;
                            check(rules::user(ctx.state(), &uid2)?)
                        })
                        .await?;
                    Some(self.inner.hasher.hash(pw.clone()).await?)
                } else {
                    None
                };
                let key = self.inner.code_key.clone();
                let did = domain_id.to_owned();
                let pw2 = pw.clone();
                let u = self
                    .registry()
                    .exec(domain_id, move |ctx| {
                        rules::domain_enabled(ctx.state())?;
                        if let Some(g) = &grant {
                            g.check_in(ctx.state())?;
                        }
                        check(rules::user(ctx.state(), &uid)?)?;
                        let hash = match hash {
                            Some(h) => h,
                            None => temp_password_mac(&key, &did, &uid, pw2.expose()),
                        };
                        let evs = v::set_temp_password(ctx.state(), &uid, hash, replace, ctx.now)?;
                        ctx.emit(evs);
                        Ok(rules::user(ctx.state(), &uid)?.clone())
                    })
                    .await?;
                self.mailer().send_for(
                    domain_id,
                    &u.email,
                    MailKind::TempPassword,
                    &u.language,
                    &u.user_id,
                    pw,
                    minutes(v::TEMP_PASSWORD_TTL_MS / 1000),
                    self.now(),
                )?;
            }
        }
        Ok(())
    }

    pub async fn user_enable_mfa(
        &self,
        cred: Credential,
        req: EnableMfaRequest,
    ) -> ApiResult<UserInfo> {
        let grant = self.user_grant(&cred, "enable_mfa", &req.domain_id, Some(&req.user_id))?;
        validate::required("user_id", &req.user_id)?;
        let (u, uri) = self
            .enable_mfa_for(
                grant,
                &req.domain_id,
                req.user_id,
                &req.mfa_type,
                &req.options,
            )
            .await?;
        let mut info = u.info_v1(&req.domain_id);
        if let (Some(uri), Some(m)) = (uri, info.mfa.as_mut()) {
            m.options.insert("otp_qrcode_uri".into(), Value::from(uri));
        }
        Ok(info)
    }

    /// Shared by v1 and v2 `enable_mfa`. Returns the user and, for OTP, the `otpauth://` URI
    /// (the only time the secret leaves the server).
    pub(crate) async fn enable_mfa_for(
        &self,
        grant: Grant,
        domain_id: &str,
        user_id: String,
        mfa_type: &str,
        options: &Value,
    ) -> ApiResult<(User, Option<String>)> {
        validate::required("mfa_type", mfa_type)?;
        let t = MfaType::parse(mfa_type).ok_or_else(|| {
            ApiError::new(
                ErrorCode::NotSupportedMfaType,
                format!(
                    "MFA type is not supported. (mfa_type = {})",
                    validate::printable(mfa_type)
                ),
            )
        })?;
        let email = match t {
            MfaType::Email => {
                let e = options
                    .get("email")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                validate::required("options.email", e)?;
                validate::email(e)?;
                Some(e.to_owned())
            }
            MfaType::Otp => None,
        };
        let key = self.inner.code_key.clone();
        let ttl_s = self.inner.cfg.mfa_code_ttl_s;
        let code = generate_code();
        let code2 = code.clone();
        let secret = totp::generate_secret();
        let issuer = self.inner.cfg.otp_issuer.clone();
        let uri = totp::otpauth_uri(&issuer, &user_id, &secret);
        let mailer = self.mailer().clone();
        let self_service = !is_admin(&grant);
        let (u, mail_to) = self
            .exec_as(grant, domain_id, move |ctx| {
                let nc = NewCode {
                    key: &key,
                    code: &code2,
                    ttl_ms: ttl_s * 1000,
                };
                let setup = match email {
                    Some(email) => MfaSetup::Email { email, code: nc },
                    None => MfaSetup::Otp { secret },
                };
                let (evs, mail_to) = v::enable_mfa(ctx.state(), &user_id, setup, ctx.now)?;
                let slot = issue_mfa(
                    &mailer,
                    ctx.state().domain.domain_id.as_str(),
                    &user_id,
                    CodePurpose::MfaEnable,
                    mail_to.as_deref(),
                    self_service,
                    ctx.now,
                )?;
                ctx.emit(evs);
                let u = rules::user(ctx.state(), &user_id)?.clone();
                Ok((u, mail_to.zip(slot)))
            })
            .await?;
        match mail_to {
            Some((to, slot)) => {
                slot.send(
                    &to,
                    MailKind::MfaCode,
                    &u.language,
                    &u.user_id,
                    Secret::new(code),
                    minutes(ttl_s),
                )?;
                Ok((u, None))
            }
            None => Ok((u, Some(uri))),
        }
    }

    pub async fn user_disable_mfa(
        &self,
        cred: Credential,
        req: DisableMfaRequest,
    ) -> ApiResult<UserInfo> {
        let grant = self.user_grant(&cred, "disable_mfa", &req.domain_id, Some(&req.user_id))?;
        validate::required("user_id", &req.user_id)?;
        let force = req.force.unwrap_or(false);
        if force && !is_admin(&grant) {
            return Err(ApiError::permission_denied());
        }
        let u = self
            .disable_mfa_for(grant, &req.domain_id, req.user_id, force)
            .await?;
        Ok(u.info_v1(&req.domain_id))
    }

    pub(crate) async fn disable_mfa_for(
        &self,
        grant: Grant,
        domain_id: &str,
        user_id: String,
        force: bool,
    ) -> ApiResult<User> {
        let key = self.inner.code_key.clone();
        let ttl_s = self.inner.cfg.mfa_code_ttl_s;
        let code = generate_code();
        let code2 = code.clone();
        let mailer = self.mailer().clone();
        let self_service = !is_admin(&grant);
        let (u, mail_to) = self
            .exec_as(grant, domain_id, move |ctx| {
                let nc = NewCode {
                    key: &key,
                    code: &code2,
                    ttl_ms: ttl_s * 1000,
                };
                let (evs, mail_to) = v::disable_mfa(ctx.state(), &user_id, force, &nc, ctx.now)?;
                // A forced disable (admins) issues nothing; otherwise the pending disable is an
                // issue (a mailed code, or a TOTP to guess) counted against the target.
                let slot = if force {
                    None
                } else {
                    issue_mfa(
                        &mailer,
                        ctx.state().domain.domain_id.as_str(),
                        &user_id,
                        CodePurpose::MfaDisable,
                        mail_to.as_deref(),
                        self_service,
                        ctx.now,
                    )?
                };
                ctx.emit(evs);
                let u = rules::user(ctx.state(), &user_id)?.clone();
                Ok((u, mail_to.zip(slot)))
            })
            .await?;
        if let Some((to, slot)) = mail_to {
            slot.send(
                &to,
                MailKind::MfaCode,
                &u.language,
                &u.user_id,
                Secret::new(code),
                minutes(ttl_s),
            )?;
        }
        Ok(u)
    }

    pub async fn user_confirm_mfa(
        &self,
        cred: Credential,
        req: ConfirmMfaRequest,
    ) -> ApiResult<UserInfo> {
        let grant = self.user_grant(&cred, "confirm_mfa", &req.domain_id, Some(&req.user_id))?;
        validate::required("user_id", &req.user_id)?;
        validate::required("verify_code", req.verify_code.expose())?;
        let u = self
            .confirm_mfa_for(grant, &req.domain_id, req.user_id, req.verify_code)
            .await?;
        Ok(u.info_v1(&req.domain_id))
    }

    pub(crate) async fn confirm_mfa_for(
        &self,
        grant: Grant,
        domain_id: &str,
        user_id: String,
        code: Secret,
    ) -> ApiResult<User> {
        self.confirm_with(grant, domain_id, user_id, code, v::confirm_mfa, mfa_target)
            .await
    }
}
