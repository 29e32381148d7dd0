//! Who is calling, and what they may do (SPEC section 2).
//!
//! Authorization happens in two steps: [`Authn::resolve`] checks the credential itself (no state),
//! and [`Grant::check_in`] re-checks a token against the domain's current state inside the domain
//! actor (user still exists, still enabled, password unchanged, still an admin), so a deleted or
//! disabled user's token stops working at once.

use super::syskey::SystemKey;
use super::token::{Claims, TokenKeys, TokenType};
use crate::api::{ApiError, ApiResult, Credential, RoleType, UserState};
use crate::model::clock::Millis;
use crate::model::state::DomainState;

#[derive(Debug, Clone)]
pub enum Caller {
    Anonymous,
    System,
    User(Box<Claims>),
}

/// What a call was granted after the stateless checks.
#[derive(Debug, Clone)]
pub enum Grant {
    System,
    /// A domain admin's token (re-checked against state).
    Admin(Box<Claims>),
    /// A user acting on itself (re-checked against state).
    SelfUser(Box<Claims>),
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
    /// token. `method` is checked against the token's `permissions` prefixes.
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
                if c.rol == RoleType::DomainAdmin {
                    Ok(Grant::Admin(c))
                } else if self_user.is_some_and(|u| u == c.aud) {
                    Ok(Grant::SelfUser(c))
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

impl Grant {
    /// Re-checks a token grant against current state (run inside the domain actor).
    pub fn check_in(&self, s: &DomainState) -> ApiResult<()> {
        let c = match self {
            Grant::System => return Ok(()),
            Grant::Admin(c) | Grant::SelfUser(c) => c,
        };
        let u = s.users.get(&c.aud).ok_or_else(ApiError::authenticate)?;
        if u.state != UserState::Enabled || u.cred_version != c.cv {
            return Err(ApiError::authenticate());
        }
        if matches!(self, Grant::Admin(_)) && u.role_type != RoleType::DomainAdmin {
            return Err(ApiError::permission_denied());
        }
        Ok(())
    }
}
