//! User v1 e-mail verification, MFA and password reset (SPEC 3, 5.1–5.3).

use super::{ResetMode, Service};
use crate::api::*;
use crate::auth::caller::Grant;
use crate::auth::codes::generate_code;
use crate::auth::token::TokenType;
use crate::auth::totp;
use crate::mail::MailKind;
use crate::model::entities::User;
use crate::model::rules;
use crate::model::validate;
use crate::model::verification::{self as v, MfaSetup, NewCode};

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

    /// Shared by v1 and v2 `verify_email`.
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
                ctx.emit(evs);
                let u = rules::user(ctx.state(), &user_id)?;
                Ok(Some((to, u.language.clone(), u.user_id.clone())))
            })
            .await?;
        if let Some((to, lang, uid)) = sent {
            self.mailer().send(
                &to,
                MailKind::VerifyCode,
                &lang,
                &uid,
                Secret::new(code),
                minutes(ttl_s),
            );
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
        self.confirm_with(grant, domain_id, user_id, code, v::confirm_email)
            .await
    }

    /// Runs a code-confirming rule: its events are persisted whatever the verdict (a wrong try
    /// uses up an attempt), then the verdict decides the answer.
    async fn confirm_with(
        &self,
        grant: Grant,
        domain_id: &str,
        user_id: String,
        code: Secret,
        rule: ConfirmRule,
    ) -> ApiResult<User> {
        let key = self.inner.code_key.clone();
        self.exec_as(grant, domain_id, move |ctx| {
            let (evs, verdict) = rule(ctx.state(), &user_id, &key, code.expose(), ctx.now)?;
            ctx.emit(evs);
            verdict?;
            Ok(rules::user(ctx.state(), &user_id)?.clone())
        })
        .await
    }

    /// +noauth: always Empty, whatever the outcome; the reason is only logged, and the work runs
    /// after the reply so the response time tells nothing either.
    pub async fn user_reset_password(
        &self,
        _cred: Credential,
        req: UserRequest,
    ) -> ApiResult<Empty> {
        validate::required("domain_id", &req.domain_id)?;
        validate::required("user_id", &req.user_id)?;
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

    /// Starts a password reset per the configured mode (SPEC 5.3). An admin-initiated reset
    /// carries the admin's `grant`, re-checked in the actor before anything is written, and
    /// mail goes out only after that checked step (a deleted or demoted admin's token changes
    /// nothing and sends nothing).
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
                self.mailer().send(
                    &u.email,
                    MailKind::ResetLink,
                    &u.language,
                    &u.user_id,
                    secret,
                    minutes(cfg.reset_token_ttl_s),
                );
            }
            ResetMode::Password => {
                let pw = temp_password();
                let hash = self.inner.hasher.hash(pw.clone()).await?;
                let replace = by != ResetBy::Anonymous;
                let u = self
                    .registry()
                    .exec(domain_id, move |ctx| {
                        rules::domain_enabled(ctx.state())?;
                        if let Some(g) = &grant {
                            g.check_in(ctx.state())?;
                        }
                        check(rules::user(ctx.state(), &uid)?)?;
                        let evs = v::set_temp_password(ctx.state(), &uid, hash, replace, ctx.now)?;
                        ctx.emit(evs);
                        Ok(rules::user(ctx.state(), &uid)?.clone())
                    })
                    .await?;
                self.mailer().send(
                    &u.email,
                    MailKind::TempPassword,
                    &u.language,
                    &u.user_id,
                    pw,
                    minutes(v::TEMP_PASSWORD_TTL_MS / 1000),
                );
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
                ctx.emit(evs);
                Ok((rules::user(ctx.state(), &user_id)?.clone(), mail_to))
            })
            .await?;
        match mail_to {
            Some(to) => {
                self.mailer().send(
                    &to,
                    MailKind::MfaCode,
                    &u.language,
                    &u.user_id,
                    Secret::new(code),
                    minutes(ttl_s),
                );
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
        let (u, mail_to) = self
            .exec_as(grant, domain_id, move |ctx| {
                let nc = NewCode {
                    key: &key,
                    code: &code2,
                    ttl_ms: ttl_s * 1000,
                };
                let (evs, mail_to) = v::disable_mfa(ctx.state(), &user_id, force, &nc, ctx.now)?;
                ctx.emit(evs);
                Ok((rules::user(ctx.state(), &user_id)?.clone(), mail_to))
            })
            .await?;
        if let Some(to) = mail_to {
            self.mailer().send(
                &to,
                MailKind::MfaCode,
                &u.language,
                &u.user_id,
                Secret::new(code),
                minutes(ttl_s),
            );
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
        self.confirm_with(grant, domain_id, user_id, code, v::confirm_mfa)
            .await
    }
}
