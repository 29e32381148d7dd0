//! Token.issue / refresh / public_key (no credential), with the lockout of SPEC 5.4.

use super::Service;
use super::noauth;
use super::profile::injected_update_password;
use super::verify;
use crate::api::*;
use crate::auth::caller::{fresh_user, restricted_permissions};
use crate::auth::codes::generate_code;
use crate::auth::token::{Claims, ISSUER, TokenType, new_jti};
use crate::mail::MailKind;
use crate::model::clock::Millis;
use crate::model::entities::{PasswordHash, User};
use crate::model::events::Event;
use crate::model::lockout::Begin;
use crate::model::rules;
use crate::model::validate;
use crate::model::verification::{self as v, NewCode};
use crate::model::workspace as ws;

/// How a login attempt starts.
enum Start {
    /// Verify against the password hash (None: unknown user or no password — verify the
    /// dummy), then against a valid temporary password if there is one.
    Verify(Option<PasswordHash>, Option<PasswordHash>),
    Blocked,
    /// The lockout table is full of entries that still count; nothing was reserved.
    Full,
    /// The domain is unknown or disabled: answered like a wrong password, at the same cost.
    NoDomain,
}

/// How a login attempt ends when the password matched.
enum Login {
    Done(Box<User>),
    /// MFA is enabled and no code was given; for EMAIL, where the login code goes.
    MfaRequired(Option<(String, String, super::mailer::MailSlot)>),
}

fn blocked() -> ApiError {
    ApiError::new(
        ErrorCode::LoginBlocked,
        "Login is blocked for a while after too many failures.",
    )
}

fn lockout_full() -> ApiError {
    ApiError::new(
        ErrorCode::TooManyRequests,
        "Too many requests. (reason = too many failed logins are being counted, retry later)",
    )
}

impl Service {
    pub async fn token_issue(
        &self,
        cred: Credential,
        req: IssueTokenRequest,
    ) -> ApiResult<TokenInfo> {
        // Bounded before anything is looked up or kept (SPEC 11).
        noauth::check_ids(
            "domain_id",
            &req.domain_id,
            "credentials.user_id",
            &req.credentials.user_id,
        )?;
        validate::required("credentials.password", req.credentials.password.expose())?;
        if req.credentials.password.expose().len() > validate::PASSWORD_MAX_BYTES {
            // No stored password can be this long: nothing to verify.
            return Err(ApiError::invalid(
                "credentials.password",
                "at most 256 bytes",
            ));
        }
        let ttl = self.access_ttl(req.timeout)?;
        self.admit_noauth(&cred, None)?;
        let uid = req.credentials.user_id.clone();
        let uid_for_mail = uid.clone();
        let reg = self.registry();

        // 1. Reserve the attempt (counted before the hash runs) and fetch the hashes: the
        //    password, and a temporary one from an anonymous reset while it is valid.
        let u2 = uid.clone();
        let start = reg
            .exec(&req.domain_id, move |ctx| {
                if rules::domain_enabled(ctx.state()).is_err() {
                    return Ok(Start::NoDomain);
                }
                match ctx.lockout.begin(&u2, ctx.now) {
                    Begin::Proceed => {}
                    Begin::Blocked => return Ok(Start::Blocked),
                    Begin::Full => return Ok(Start::Full),
                }
                let u = ctx.state().users.get(&u2);
                let temp = u
                    .and_then(|u| u.temp_password.as_ref())
                    .filter(|t| t.expires_at > ctx.now)
                    .map(|t| t.hash.clone());
                Ok(Start::Verify(u.and_then(|u| u.password_hash.clone()), temp))
            })
            .await;
        let (hash, temp) = match start {
            Ok(Start::Verify(h, t)) => (h, t),
            Ok(Start::Blocked) => return Err(blocked()),
            Ok(Start::Full) => return Err(lockout_full()),
            Ok(Start::NoDomain) => return Err(self.no_such_login(req.credentials.password).await),
            Err(e) if e.code == ErrorCode::NotFound => {
                return Err(self.no_such_login(req.credentials.password).await);
            }
            Err(e) => return Err(e),
        };
        // Per target: only attempts that will hash use it up (a blocked one is cheap and must
        // keep answering LOGIN_BLOCKED); the lockout bounds failures, this bounds the rest.
        let target = noauth::Target::Login {
            domain_id: &req.domain_id,
            user_id: &uid,
        };
        if let Err(e) = self.admit_noauth(&Credential::none(), Some(target)) {
            self.release_attempt(&req.domain_id, &uid).await;
            return Err(e);
        }

        // 2. Verify on the hashing pool; the actor keeps serving meanwhile. Every failure costs
        //    one argon2 verification, pending temporary password or not: the temporary one is
        //    checked with a keyed hash (microseconds), so timing tells nothing about a reset.
        let pw = req.credentials.password;
        let mut verified = self.inner.hasher.verify(pw.clone(), hash.as_ref()).await;
        let mut used_temp = false;
        // The password hash the user gets when the temporary password matched.
        let mut promoted: Option<PasswordHash> = None;
        if matches!(verified, Ok(false))
            && let Some(t) = &temp
        {
            match verify::temp_password_matches(
                &self.inner.code_key,
                &req.domain_id,
                &uid,
                pw.expose(),
                t,
            ) {
                Some(true) => {
                    // Only a correct temporary password pays for a new hash.
                    verified = self.inner.hasher.hash(pw.clone()).await.map(|h| {
                        promoted = Some(h);
                        true
                    });
                    used_temp = verified.is_ok();
                }
                Some(false) => {}
                // Stored by an older version as an argon2 hash.
                None => {
                    verified = self.inner.hasher.verify(pw.clone(), Some(t)).await;
                    used_temp = matches!(verified, Ok(true));
                    if used_temp {
                        promoted = Some(t.clone());
                    }
                }
            }
        }
        let ok = match verified {
            Ok(ok) => ok,
            Err(e) => {
                self.release_attempt(&req.domain_id, &uid).await;
                return Err(e);
            }
        };

        // 3. Record the outcome and, on success, issue tokens for the user as it is now. Every
        //    event is built from the user as the state holds it at that point (re-read after each
        //    change), so no step writes back a stale copy (a consumed MFA code, a TOTP step).
        let cfg = self.inner.cfg.clone();
        let auth_type = req.auth_type.unwrap_or(AuthType::Local);
        let verify_code = req.verify_code.filter(|c| !c.is_empty());
        let key = self.inner.code_key.clone();
        let code = generate_code();
        let code2 = code.clone();
        let mfa_ttl_s = cfg.mfa_code_ttl_s;
        let mailer = self.mailer().clone();
        let outcome = reg
            .exec(&req.domain_id, move |ctx| {
                let now = ctx.now;
                let checked = if used_temp { &temp } else { &hash };
                // The user may have been deleted, or its password changed, while the hash ran.
                let matches = ctx.state().users.get(&uid).is_some_and(|u| {
                    ok && if used_temp {
                        u.temp_password.as_ref().map(|t| &t.hash) == checked.as_ref()
                    } else {
                        u.password_hash == *checked
                    }
                });
                if !matches {
                    ctx.lockout.finish(&uid, false, now);
                    return Err(ApiError::authentication());
                }
                let u = rules::user(ctx.state(), &uid)?.clone();
                if u.user_type == UserType::ApiUser {
                    ctx.lockout.finish(&uid, false, now);
                    return Err(ApiError::authentication());
                }
                if u.state == UserState::Disabled {
                    ctx.lockout.release(&uid, now);
                    return Err(ApiError::new(
                        ErrorCode::UserStateDisabled,
                        format!("User is disabled. (user_id = {uid})"),
                    ));
                }
                if u.mfa_enabled() {
                    match (&verify_code, auth_type) {
                        (Some(c), AuthType::Mfa) => {
                            let did = ctx.state().domain.domain_id.clone();
                            let checked = super::verify::login_code_check(
                                &mailer,
                                &did,
                                &u,
                                &key,
                                c.expose(),
                                now,
                            );
                            let (evs, verdict) = match checked {
                                Ok(r) => r,
                                Err(e) => {
                                    // Wrong tries used up for the window: nothing compared.
                                    ctx.lockout.release(&uid, now);
                                    return Err(e);
                                }
                            };
                            ctx.emit(evs);
                            if let Err(e) = verdict {
                                // A wrong code counts toward lockout like a wrong password.
                                ctx.lockout.finish(&uid, false, now);
                                return Err(e);
                            }
                        }
                        _ => {
                            // Neither a success nor a failure: the count stays as it is.
                            ctx.lockout.release(&uid, now);
                            let nc = NewCode {
                                key: &key,
                                code: &code2,
                                ttl_ms: mfa_ttl_s.saturating_mul(1000),
                            };
                            let did = ctx.state().domain.domain_id.clone();
                            let issued =
                                super::verify::login_code_issue(&mailer, &did, &u, &nc, now)?;
                            let mail = issued.map(|(evs, to, slot)| {
                                ctx.emit(evs);
                                (to, u.language.clone(), slot)
                            });
                            return Ok(Login::MfaRequired(mail));
                        }
                    }
                } else if auth_type == AuthType::Mfa {
                    ctx.lockout.release(&uid, now);
                    return Err(ApiError::new(
                        ErrorCode::MfaNotEnabled,
                        format!("MFA is not enabled. (user_id = {uid})"),
                    ));
                }
                ctx.lockout.finish(&uid, true, now);
                // Re-read: the MFA check above may just have changed the user.
                let u = rules::user(ctx.state(), &uid)?;
                if used_temp {
                    let ev = match (v::promote_temp_password(u, now), promoted) {
                        (Event::UserUpdated(mut p), Some(h)) => {
                            p.password_hash = Some(h);
                            Event::UserUpdated(p)
                        }
                        (ev, _) => ev,
                    };
                    ctx.emit(vec![ev]);
                } else if u.temp_password.is_some() {
                    // The owner proved the password: the pending reset is cancelled.
                    let mut c = u.clone();
                    c.temp_password = None;
                    ctx.emit(vec![Event::UserUpdated(c)]);
                }
                let ev = rules::record_access(rules::user(ctx.state(), &uid)?, now);
                ctx.emit(vec![ev]);
                Ok(Login::Done(Box::new(
                    rules::user(ctx.state(), &uid)?.clone(),
                )))
            })
            .await?;
        match outcome {
            Login::Done(user) => Ok(self.tokens_for(&req.domain_id, &user, ttl, cfg.refresh_ttl_s)),
            Login::MfaRequired(mail) => {
                if let Some((to, lang, slot)) = mail {
                    let minutes = u32::try_from((mfa_ttl_s / 60).max(1)).unwrap_or(u32::MAX);
                    slot.send(
                        &to,
                        MailKind::LoginCode,
                        &lang,
                        &uid_for_mail,
                        Secret::new(code),
                        minutes,
                    )?;
                }
                Err(ApiError::new(
                    ErrorCode::MfaRequired,
                    format!("MFA is required. (user_id = {uid_for_mail})"),
                ))
            }
        }
    }

    /// The answer to a login in a domain that does not exist or is disabled: the same as a
    /// wrong password, after the same (dummy) verification.
    async fn no_such_login(&self, password: Secret) -> ApiError {
        let _ = self.inner.hasher.verify(password, None).await;
        ApiError::authentication()
    }

    /// Gives back a reserved attempt that reached no verdict.
    async fn release_attempt(&self, domain_id: &str, user_id: &str) {
        let uid = user_id.to_owned();
        let _ = self
            .registry()
            .exec(domain_id, move |ctx| {
                ctx.lockout.release(&uid, ctx.now);
                Ok(())
            })
            .await;
    }

    /// New tokens from a refresh token, for the user as it is now (current role, current
    /// required actions). Bounded by the login session: the new refresh token keeps the
    /// presented one's `exp` (a refresh token never extends itself; the session ends
    /// `--refresh-ttl` after the login, as Keycloak's SSO Session Max), and no access token
    /// outlives it. A token issued before UPDATE_PASSWORD was set never gains the right to set a
    /// password without the current one.
    pub async fn token_refresh(
        &self,
        cred: Credential,
        req: RefreshTokenRequest,
    ) -> ApiResult<TokenInfo> {
        self.admit_noauth(&cred, None)?;
        let now = self.now();
        let claims =
            self.inner
                .authn
                .tokens
                .verify(req.refresh_token.expose(), TokenType::Refresh, now)?;
        let ttl = self.access_ttl(req.timeout)?;
        let did = claims.did.clone();
        let c2 = claims.clone();
        let user = self
            .registry()
            .exec(&did, move |ctx| {
                rules::domain_enabled(ctx.state())?;
                let u = fresh_user(ctx.state(), &c2, None)?;
                let ev = rules::record_access(u, ctx.now);
                ctx.emit(vec![ev]);
                Ok(rules::user(ctx.state(), &c2.aud)?.clone())
            })
            .await
            .map_err(|e| match e.code {
                ErrorCode::NotFound => ApiError::authenticate(),
                _ => e,
            })?;
        let keys = &self.inner.authn.tokens;
        let access = self.session_claims(&claims, &user, TokenType::Access, ttl, now);
        let refresh_ttl = self.inner.cfg.refresh_ttl_s;
        let refresh = self.session_claims(&claims, &user, TokenType::Refresh, refresh_ttl, now);
        Ok(TokenInfo {
            access_token: keys.sign(&access),
            refresh_token: keys.sign(&refresh),
        })
    }

    /// Claims for `u` as it is now, minted from the refresh token `from`: at most until the
    /// session's end (`from.exp`), and with the injected UPDATE_PASSWORD only if `from` had it.
    fn session_claims(
        &self,
        from: &Claims,
        u: &User,
        typ: TokenType,
        ttl_s: i64,
        now: Millis,
    ) -> Claims {
        let mut c = self.claims_for(&from.did, u, typ, ttl_s, now);
        c.exp = c.exp.min(from.exp);
        if !injected_update_password(from) {
            c.injected_params.remove("required_actions");
        }
        c
    }

    /// Exchanges a refresh token for an access token scoped to the user, the domain (domain
    /// admins) or a workspace (the role of the caller's binding there; domain admins everywhere).
    /// Bounded by the session like [`Service::token_refresh`]; the refresh token is handed back
    /// unchanged.
    pub async fn token_grant(
        &self,
        cred: Credential,
        req: GrantTokenRequest,
    ) -> ApiResult<TokenInfo> {
        self.admit_noauth(&cred, None)?;
        if req
            .grant_type
            .as_deref()
            .is_some_and(|g| g != "REFRESH_TOKEN")
        {
            return Err(ApiError::invalid(
                "grant_type",
                "only REFRESH_TOKEN is supported",
            ));
        }
        let now = self.now();
        let claims = self
            .inner
            .authn
            .tokens
            .verify(req.token.expose(), TokenType::Refresh, now)?;
        let ttl = self.access_ttl(req.timeout)?;
        let scope = req.scope.unwrap_or(TokenScope::User);
        let wid = req.workspace_id.filter(|w| !w.is_empty());
        if scope == TokenScope::Workspace && wid.is_none() {
            return Err(ApiError::required("workspace_id"));
        }
        let did = claims.did.clone();
        let (c2, wid2) = (claims.clone(), wid.clone());
        let (user, rol) = self
            .registry()
            .exec(&did, move |ctx| {
                rules::domain_enabled(ctx.state())?;
                let s = ctx.state();
                let u = fresh_user(s, &c2, None)?;
                let aud = &c2.aud;
                let admin = u.role_type == RoleType::DomainAdmin;
                let rol = match scope {
                    TokenScope::User => RoleType::User,
                    TokenScope::Domain if admin => RoleType::DomainAdmin,
                    TokenScope::Domain => return Err(ApiError::permission_denied()),
                    TokenScope::Workspace => {
                        let w = wid2.as_deref().unwrap_or_default();
                        let found = ws::my_workspaces(s, aud, None)?
                            .into_iter()
                            .find(|m| m.workspace.workspace_id == w)
                            .ok_or_else(ApiError::permission_denied)?;
                        match found.role {
                            _ if admin => RoleType::DomainAdmin,
                            Some(r) => r.role_type,
                            None => return Err(ApiError::permission_denied()),
                        }
                    }
                };
                Ok((u.clone(), rol))
            })
            .await
            .map_err(|e| match e.code {
                ErrorCode::NotFound if e.message.contains("domain_id") => ApiError::authenticate(),
                _ => e,
            })?;
        let mut access = self.session_claims(&claims, &user, TokenType::Access, ttl, now);
        access.rol = rol;
        access.wid = wid;
        Ok(TokenInfo {
            access_token: self.inner.authn.tokens.sign(&access),
            refresh_token: req.token,
        })
    }

    pub async fn token_public_key(
        &self,
        _cred: Credential,
        _req: Empty,
    ) -> ApiResult<PublicKeyInfo> {
        Ok(PublicKeyInfo {
            public_key: self.inner.authn.tokens.public_jwk(),
        })
    }

    fn access_ttl(&self, timeout: Option<u64>) -> ApiResult<i64> {
        let cfg = &self.inner.cfg;
        match timeout {
            None | Some(0) => Ok(cfg.access_ttl_s),
            // Checked conversion: a value above i64::MAX must not wrap into the past.
            Some(t) => match i64::try_from(t) {
                Ok(t) if t <= cfg.max_access_ttl_s => Ok(t),
                _ => Err(ApiError::invalid(
                    "timeout",
                    "at most 7 days (604800 seconds)",
                )),
            },
        }
    }

    /// Claims for `u` as it is now: its current role, and `identity:UserProfile` only while a
    /// required action is pending.
    pub(crate) fn claims_for(
        &self,
        domain_id: &str,
        u: &User,
        typ: TokenType,
        ttl_s: i64,
        now: Millis,
    ) -> Claims {
        let iat = now.div_euclid(1000);
        // A pending required action limits the token to the self-service API until it is done
        // (and the same limit is applied against current state whenever a token is used).
        let permissions = restricted_permissions(u);
        // Minted while UPDATE_PASSWORD is pending (a login that just proved the password or the
        // temporary one): the token may set a new password without the current one.
        let mut injected_params = Map::new();
        if u.has_action(RequiredAction::UpdatePassword) {
            injected_params.insert(
                "required_actions".into(),
                Value::List(vec![Value::from(RequiredAction::UpdatePassword.as_str())]),
            );
        }
        Claims {
            iss: ISSUER.into(),
            typ,
            own: "USER".into(),
            did: domain_id.to_owned(),
            aud: u.user_id.clone(),
            jti: new_jti(),
            iat,
            exp: iat.saturating_add(ttl_s),
            ver: "2.0".into(),
            rol: u.role_type,
            wid: None,
            permissions,
            injected_params,
            cv: u.cred_version,
        }
    }

    fn tokens_for(&self, domain_id: &str, u: &User, ttl: i64, refresh_ttl: i64) -> TokenInfo {
        let now = self.now();
        let keys = &self.inner.authn.tokens;
        TokenInfo {
            access_token: keys.sign(&self.claims_for(domain_id, u, TokenType::Access, ttl, now)),
            refresh_token: keys.sign(&self.claims_for(
                domain_id,
                u,
                TokenType::Refresh,
                refresh_ttl,
                now,
            )),
        }
    }
}
