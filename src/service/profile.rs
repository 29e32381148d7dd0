//! UserProfile v2: a user managing itself. The caller is always the token's user.

use super::Service;
use super::verify::ResetBy;
use crate::api::*;
use crate::auth::caller::Grant;
use crate::auth::token::Claims;
use crate::model::rules::{self, UserPatch};
use crate::model::validate;

/// Whether the token itself carries `UPDATE_PASSWORD` (a reset token's injected parameters).
fn injected_update_password(c: &Claims) -> bool {
    c.injected_params
        .get("required_actions")
        .and_then(Value::as_list)
        .is_some_and(|l| {
            l.iter()
                .any(|a| a.as_str() == Some(RequiredAction::UpdatePassword.as_str()))
        })
}

impl Service {
    /// The caller of a UserProfile method, as a grant re-checked against state in the actor.
    pub(crate) fn profile_caller(
        &self,
        cred: &Credential,
        verb: &str,
    ) -> ApiResult<(Box<Claims>, Grant)> {
        let c =
            self.inner
                .authn
                .profile(cred, self.now(), &format!("identity:UserProfile.{verb}"))?;
        Ok((c.clone(), Grant::SelfUser(c)))
    }

    /// `update_password`: `current_password` is required unless UPDATE_PASSWORD is pending (stored,
    /// or injected by a reset token). Clears UPDATE_PASSWORD; older tokens stop working.
    pub async fn user_profile_update_password(
        &self,
        cred: Credential,
        req: UpdatePasswordRequest,
    ) -> ApiResult<ProfileInfo> {
        let (claims, grant) = self.profile_caller(&cred, "update_password")?;
        validate::required("new_password", req.new_password.expose())?;
        validate::password(req.new_password.expose())?;
        let (did, uid) = (claims.did.clone(), claims.aud.clone());
        let injected = injected_update_password(&claims);
        let (g, u2) = (grant.clone(), uid.clone());
        let (hash, cv, stored_pending) = self
            .registry()
            .exec(&did, move |ctx| {
                rules::domain_enabled(ctx.state())?;
                g.check_in(ctx.state())?;
                let u = rules::user(ctx.state(), &u2)?;
                Ok((
                    u.password_hash.clone(),
                    u.cred_version,
                    u.has_action(RequiredAction::UpdatePassword),
                ))
            })
            .await?;
        if !(injected || stored_pending) {
            let current = req
                .current_password
                .filter(|p| !p.is_empty())
                .ok_or_else(|| ApiError::required("current_password"))?;
            if !self.inner.hasher.verify(current, hash.as_ref()).await? {
                return Err(ApiError::new(
                    ErrorCode::PasswordNotMatched,
                    "The current password is not correct.",
                ));
            }
        }
        if hash.is_some()
            && self
                .inner
                .hasher
                .verify(req.new_password.clone(), hash.as_ref())
                .await?
        {
            return Err(ApiError::new(
                ErrorCode::PasswordNotChanged,
                "The new password is the same as the current one.",
            ));
        }
        let patch = UserPatch {
            password_hash: Some(self.inner.hasher.hash(req.new_password).await?),
            ..Default::default()
        };
        self.apply_patch(grant, did.clone(), uid.clone(), patch, Some(cv))
            .await?;
        self.profile_info(&did, &uid).await
    }

    /// v2 `reset_password` (+noauth): the same as v1.
    pub async fn user_profile_reset_password(
        &self,
        cred: Credential,
        req: UserPasswordResetRequest,
    ) -> ApiResult<Empty> {
        self.user_reset_password(
            cred,
            UserRequest {
                user_id: req.user_id,
                domain_id: req.domain_id,
            },
        )
        .await
    }

    pub(crate) async fn profile_info(
        &self,
        domain_id: &str,
        user_id: &str,
    ) -> ApiResult<ProfileInfo> {
        let uid = user_id.to_owned();
        self.registry()
            .exec(domain_id, move |ctx| {
                Ok(rules::user(ctx.state(), &uid)?.info_v2(&ctx.state().domain.domain_id))
            })
            .await
    }

    /// Admin-initiated reset from `create`/`update` with `reset_password=true`.
    pub(crate) async fn admin_reset(
        &self,
        domain_id: &str,
        user_id: &str,
        at_create: bool,
    ) -> ApiResult<()> {
        let by = if at_create {
            ResetBy::AdminCreate
        } else {
            ResetBy::Admin
        };
        self.start_reset(domain_id, user_id, by).await
    }
}
