//! Who is calling, and what they may do (SPEC section 2).
//!
//! Authorization happens in two steps: [`Authn::resolve`] checks the credential itself (no state),
//! and [`Grant::check_in`] re-checks a token against the domain's current state inside the domain
//! actor (user still exists, still enabled, same credential version, still an admin, current
//! required actions), so a deleted, disabled, re-created or restricted user's token stops working
//! at once. [`fresh_user`] is the one freshness check of a token against state: `check_in`,
//! `Token.refresh` and `Token.grant` all use it.

use super::syskey::SystemKey;
use super::token::{Claims, TokenKeys, TokenType};
use crate::api::{ApiError, ApiResult, Credential, RequiredAction, RoleType, UserState};
use crate::model::clock::Millis;
use crate::model::entities::User;
use crate::model::state::DomainState;

#[derive(Debug, Clone)]
pub enum Caller {
    Anonymous,
    System,
    User(Box<Claims>),
}

/// A token's claims together with the method it was granted for (`identity:User.update`, …):
/// the re-check in the actor applies the user's *current* required actions to that method.
#[derive(Debug, Clone)]
pub struct TokenGrant {
    pub claims: Claims,
    pub method: String,
}

impl std::ops::Deref for TokenGrant {
    type Target = Claims;
    fn deref(&self) -> &Claims {
        &self.claims
    }
}

/// What a call was granted after the stateless checks.
#[derive(Debug, Clone)]
pub enum Grant {
    System,
    /// A domain admin's token (re-checked against state).
    Admin(Box<TokenGrant>),
    /// A user acting on itself (re-checked against state).
    SelfUser(Box<TokenGrant>),
}

impl Grant {
    /// A self-service grant of a UserProfile (v2) call.
    pub fn profile(claims: Claims, method: String) -> Grant {
        Grant::SelfUser(Box::new(TokenGrant { claims, method }))
    }

    /// Whether the grant is a token acting on `user_id` itself (an admin's token on its own
    /// account included): self-service, as opposed to SYSTEM or an admin acting on someone else.
    pub fn acts_on_self(&self, user_id: &str) -> bool {
        match self {
            Grant::System => false,
            Grant::Admin(t) | Grant::SelfUser(t) => t.aud == user_id,
        }
    }
}

pub struct Authn {
    pub system_key: SystemKey,
    pub tokens: TokenKeys,
}

impl Authn {
    pub fn resolve(&self, cred: &Credential, now: Millis) -> ApiResult<Caller> {
        let Some(secret) = &cred.0 else {
            return Ok(Caller::Anonymous);
        };
        let text = secret.expose();
        if self.system_key.matches(text) {
            return Ok(Caller::System);
        }
        let claims = self.tokens.verify(text, TokenType::Access, now)?;
        Ok(Caller::User(Box::new(claims)))
    }

    /// Domain.*: SYSTEM only.
    pub fn system(&self, cred: &Credential, now: Millis) -> ApiResult<()> {
        match self.resolve(cred, now)? {
            Caller::System => Ok(()),
            Caller::User(_) => Err(ApiError::permission_denied()),
            Caller::Anonymous => Err(ApiError::authenticate()),
        }
    }

    /// SYSTEM, or a DOMAIN_ADMIN token of `domain_id`; with `self_user`, also that user's own
    /// token. `method` is checked against the token's `permissions` prefixes (and, in the actor,
    /// against the user's current required actions).
    pub fn admin_or_self(
        &self,
        cred: &Credential,
        now: Millis,
        method: &str,
        domain_id: &str,
        self_user: Option<&str>,
    ) -> ApiResult<Grant> {
        match self.resolve(cred, now)? {
            Caller::System => Ok(Grant::System),
            Caller::Anonymous => Err(ApiError::authenticate()),
            Caller::User(c) => {
                if !c.allows(method) || c.did != domain_id {
                    return Err(ApiError::permission_denied());
                }
                let admin = c.rol == RoleType::DomainAdmin;
                let own = self_user.is_some_and(|u| u == c.aud);
                let t = Box::new(TokenGrant {
                    claims: *c,
                    method: method.to_owned(),
                });
                if admin {
                    Ok(Grant::Admin(t))
                } else if own {
                    Ok(Grant::SelfUser(t))
                } else {
                    Err(ApiError::permission_denied())
                }
            }
        }
    }
}

impl Authn {
    /// UserProfile (v2): any user's access token; the caller is the token's user (`aud`, `did`),
    /// whatever the request says. `method` is checked against the `permissions` prefixes.
    pub fn profile(&self, cred: &Credential, now: Millis, method: &str) -> ApiResult<Box<Claims>> {
        match self.resolve(cred, now)? {
            Caller::User(c) if c.allows(method) => Ok(c),
            Caller::User(_) | Caller::System => Err(ApiError::permission_denied()),
            Caller::Anonymous => Err(ApiError::authenticate()),
        }
    }
}

/// The permission prefixes a user's pending required actions limit its tokens to: while
/// `UPDATE_PASSWORD` is pending, or `ENFORCE_MFA` without MFA enabled, only the self-service
/// API (`identity:UserProfile`). Empty: no limit. Used when tokens are minted and, against the
/// current state, whenever a token is used, so an action set after issue restricts older tokens.
pub fn restricted_permissions(u: &User) -> Vec<String> {
    if u.has_action(RequiredAction::UpdatePassword)
        || (u.has_action(RequiredAction::EnforceMfa) && !u.mfa_enabled())
    {
        vec![PROFILE_PREFIX.to_owned()]
    } else {
        Vec::new()
    }
}

const PROFILE_PREFIX: &str = "identity:UserProfile";

/// THE freshness check of a token against the domain's current state (every token use that
/// reaches state goes through it: [`Grant::check_in`], `Token.refresh`, `Token.grant`):
/// - the token's domain is this domain, and its user exists and is ENABLED;
/// - the user's credential version equals the token's `cv`. It changes on every password
///   change and on disable, and a (re-)created account starts at a random 64-bit value, so a
///   token never outlives a password change or a disable, and never passes for another account
///   that later got the same user_id;
/// - with `method`, the user's *current* required actions allow it ([`restricted_permissions`]).
///
/// Any failure is `ERROR_AUTHENTICATE_FAILURE`, except a method the current required actions
/// forbid (`ERROR_PERMISSION_DENIED`: the token is valid, but limited for now).
pub fn fresh_user<'a>(s: &'a DomainState, c: &Claims, method: Option<&str>) -> ApiResult<&'a User> {
    if c.did != s.domain.domain_id {
        return Err(ApiError::authenticate());
    }
    let u = s.users.get(&c.aud).ok_or_else(ApiError::authenticate)?;
    if u.state != UserState::Enabled || u.cred_version != c.cv {
        return Err(ApiError::authenticate());
    }
    if let Some(m) = method {
        let limit = restricted_permissions(u);
        if !limit.is_empty() && !limit.iter().any(|p| m.starts_with(p.as_str())) {
            return Err(ApiError::permission_denied());
        }
    }
    Ok(u)
}

impl Grant {
    /// Re-checks a token grant against current state (run inside the domain actor).
    pub fn check_in(&self, s: &DomainState) -> ApiResult<()> {
        let t = match self {
            Grant::System => return Ok(()),
            Grant::Admin(t) | Grant::SelfUser(t) => t,
        };
        let u = fresh_user(s, &t.claims, Some(&t.method))?;
        if matches!(self, Grant::Admin(_)) && u.role_type != RoleType::DomainAdmin {
            return Err(ApiError::permission_denied());
        }
        Ok(())
    }
}
