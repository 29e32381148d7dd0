//! Token.issue / refresh / public_key (no credential), with the lockout of SPEC 5.4.

use super::Service;
use crate::api::*;
use crate::auth::token::{Claims, ISSUER, TokenType, new_jti};
use crate::model::clock::Millis;
use crate::model::entities::User;
use crate::model::lockout::Begin;
use crate::model::rules;
use crate::model::validate;

/// Why a login attempt did not get to verify a password.
enum Start {
    /// Verify against this hash (None: unknown user or no password — verify the dummy).
    Verify(Option<crate::model::entities::PasswordHash>),
    Blocked,
}

fn blocked() -> ApiError {
    ApiError::new(
        ErrorCode::LoginBlocked,
        "Login is blocked for a while after too many failures.",
    )
}

impl Service {
    pub async fn token_issue(
        &self,
        _cred: Credential,
        req: IssueTokenRequest,
    ) -> ApiResult<TokenInfo> {
        validate::required("domain_id", &req.domain_id)?;
        validate::required("credentials.user_id", &req.credentials.user_id)?;
        validate::required("credentials.password", req.credentials.password.expose())?;
        let ttl = self.access_ttl(req.timeout)?;
        let uid = req.credentials.user_id.clone();
        let reg = self.registry();

        // 1. Reserve the attempt (counted before the hash runs) and fetch the hash.
        let u2 = uid.clone();
        let start = reg
            .exec(&req.domain_id, move |ctx| {
                rules::domain_enabled(ctx.state())?;
                if ctx.lockout.begin(&u2, ctx.now) == Begin::Blocked {
                    return Ok(Start::Blocked);
                }
                Ok(Start::Verify(
                    ctx.state()
                        .users
                        .get(&u2)
                        .and_then(|u| u.password_hash.clone()),
                ))
            })
            .await;
        let hash = match start {
            Ok(Start::Verify(h)) => h,
            Ok(Start::Blocked) => return Err(blocked()),
            Err(e) if e.code == ErrorCode::NotFound => {
                // Unknown domain: same answer and cost as a wrong password.
                let _ = self
                    .inner
                    .hasher
                    .verify(req.credentials.password, None)
                    .await;
                return Err(ApiError::authentication());
            }
            Err(e) => return Err(e),
        };

        // 2. Verify on the hashing pool; the actor keeps serving meanwhile.
        let verified = self
            .inner
            .hasher
            .verify(req.credentials.password, hash.as_ref())
            .await;
        let ok = match verified {
            Ok(ok) => ok,
            Err(e) => {
                let u3 = uid.clone();
                let _ = reg
                    .exec(&req.domain_id, move |ctx| {
                        ctx.lockout.release(&u3);
                        Ok(())
                    })
                    .await;
                return Err(e);
            }
        };

        // 3. Record the outcome and, on success, issue tokens for the user as it is now.
        let cfg = self.inner.cfg.clone();
        let keys_ttl = (ttl, cfg.refresh_ttl_s);
        let auth_type = req.auth_type.unwrap_or(AuthType::Local);
        let user = reg
            .exec(&req.domain_id, move |ctx| {
                let now = ctx.now;
                ctx.lockout.finish(&uid, ok, now);
                if !ok {
                    return Err(ApiError::authentication());
                }
                let u = ctx.state().users.get(&uid);
                // The user may have been deleted, or its password changed, while the hash ran.
                let Some(u) = u.filter(|u| u.password_hash == hash) else {
                    return Err(ApiError::authentication());
                };
                if u.user_type == UserType::ApiUser {
                    return Err(ApiError::authentication());
                }
                if u.state == UserState::Disabled {
                    return Err(ApiError::new(
                        ErrorCode::UserStateDisabled,
                        format!("User is disabled. (user_id = {uid})"),
                    ));
                }
                if u.mfa.as_ref().is_some_and(|m| m.state == MfaState::Enabled)
                    && auth_type != AuthType::Mfa
                {
                    return Err(ApiError::new(
                        ErrorCode::MfaRequired,
                        format!("MFA is required. (user_id = {uid})"),
                    ));
                }
                if auth_type == AuthType::Mfa {
                    return Err(ApiError::new(
                        ErrorCode::MfaNotEnabled,
                        format!("MFA is not enabled. (user_id = {uid})"),
                    ));
                }
                let ev = rules::record_access(u, now);
                ctx.emit(vec![ev]);
                Ok(rules::user(ctx.state(), &uid)?.clone())
            })
            .await?;
        Ok(self.tokens_for(&req.domain_id, &user, keys_ttl.0, keys_ttl.1))
    }

    pub async fn token_refresh(
        &self,
        _cred: Credential,
        req: RefreshTokenRequest,
    ) -> ApiResult<TokenInfo> {
        let now = self.now();
        let claims =
            self.inner
                .authn
                .tokens
                .verify(req.refresh_token.expose(), TokenType::Refresh, now)?;
        let ttl = self.access_ttl(req.timeout)?;
        let refresh_ttl = self.inner.cfg.refresh_ttl_s;
        let (did, aud, cv) = (claims.did.clone(), claims.aud.clone(), claims.cv);
        let user = self
            .registry()
            .exec(&did, move |ctx| {
                rules::domain_enabled(ctx.state())?;
                let u = ctx
                    .state()
                    .users
                    .get(&aud)
                    .ok_or_else(ApiError::authenticate)?;
                if u.state != UserState::Enabled || u.cred_version != cv {
                    return Err(ApiError::authenticate());
                }
                let ev = rules::record_access(u, ctx.now);
                ctx.emit(vec![ev]);
                Ok(rules::user(ctx.state(), &aud)?.clone())
            })
            .await
            .map_err(|e| match e.code {
                ErrorCode::NotFound => ApiError::authenticate(),
                _ => e,
            })?;
        Ok(self.tokens_for(&did, &user, ttl, refresh_ttl))
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
            Some(t) if t as i64 <= cfg.max_access_ttl_s => Ok(t as i64),
            Some(_) => Err(ApiError::invalid(
                "timeout",
                "at most 7 days (604800 seconds)",
            )),
        }
    }

    /// Claims for `u` as it is now: its current role, and `identity:UserProfile` only while
    /// `UPDATE_PASSWORD` is pending.
    pub(crate) fn claims_for(
        &self,
        domain_id: &str,
        u: &User,
        typ: TokenType,
        ttl_s: i64,
        now: Millis,
    ) -> Claims {
        let iat = now.div_euclid(1000);
        let permissions = if u.has_action(RequiredAction::UpdatePassword) {
            vec!["identity:UserProfile".to_owned()]
        } else {
            Vec::new()
        };
        Claims {
            iss: ISSUER.into(),
            typ,
            own: "USER".into(),
            did: domain_id.to_owned(),
            aud: u.user_id.clone(),
            jti: new_jti(),
            iat,
            exp: iat + ttl_s,
            ver: "2.0".into(),
            rol: u.role_type,
            wid: None,
            permissions,
            injected_params: Map::new(),
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
