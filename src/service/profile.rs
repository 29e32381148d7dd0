//! UserProfile v2: a user managing itself. The caller is always the token's user.

use super::Service;
use super::verify::ResetBy;
use crate::api::*;
use crate::auth::caller::Grant;
use crate::auth::token::Claims;
use crate::model::rules::{self, UserPatch};
use crate::model::validate;
use crate::model::workspace as ws;

/// Whether the token itself carries `UPDATE_PASSWORD` in its injected parameters: a reset
/// token, or a token minted by a login while the action was pending (the bearer has just proved
/// the password, or the temporary one). Only such a token may set a password without the current
/// one. A token issued *before* an admin set the action is limited to the self-service API by
/// the freshness check, but does not carry it: it must still prove the current password
/// (a stolen token does not become a takeover when an admin asks for a new password).
pub(crate) fn injected_update_password(c: &Claims) -> bool {
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
        let method = format!("identity:UserProfile.{verb}");
        let c = self.inner.authn.profile(cred, self.now(), &method)?;
        Ok((c.clone(), Grant::profile(*c, method)))
    }

    /// The caller's password hash and credential version, read after the token's re-check.
    async fn own_password(
        &self,
        grant: &Grant,
        did: &str,
        uid: &str,
    ) -> ApiResult<(Option<crate::model::entities::PasswordHash>, u64)> {
        let (g, u2) = (grant.clone(), uid.to_owned());
        self.registry()
            .exec(did, move |ctx| {
                rules::domain_enabled(ctx.state())?;
                g.check_in(ctx.state())?;
                let u = rules::user(ctx.state(), &u2)?;
                Ok((u.password_hash.clone(), u.cred_version))
            })
            .await
    }

    /// Refuses a new password equal to the current one, then hashes it (on the hashing pool;
    /// nothing is written until the caller's checked write).
    pub(crate) async fn new_password_hash(
        &self,
        new_password: Secret,
        current: Option<&crate::model::entities::PasswordHash>,
    ) -> ApiResult<crate::model::entities::PasswordHash> {
        if current.is_some()
            && self
                .inner
                .hasher
                .verify(new_password.clone(), current)
                .await?
        {
            return Err(ApiError::new(
                ErrorCode::PasswordNotChanged,
                "The new password is the same as the current one.",
            ));
        }
        self.inner.hasher.hash(new_password).await
    }

    /// `update_password`: `current_password` is required unless the token carries
    /// UPDATE_PASSWORD ([`injected_update_password`]). Clears UPDATE_PASSWORD; older tokens
    /// stop working.
    pub async fn user_profile_update_password(
        &self,
        cred: Credential,
        req: UpdatePasswordRequest,
    ) -> ApiResult<ProfileInfo> {
        let (claims, grant) = self.profile_caller(&cred, "update_password")?;
        validate::required("new_password", req.new_password.expose())?;
        validate::password(req.new_password.expose())?;
        let (did, uid) = (claims.did.clone(), claims.aud.clone());
        let waived = injected_update_password(&claims);
        let current = req.current_password.filter(|p| !p.is_empty());
        if !waived && current.is_none() {
            return Err(ApiError::required("current_password"));
        }
        let (hash, cv) = self.own_password(&grant, &did, &uid).await?;
        if let Some(current) = current.filter(|_| !waived)
            && !self.inner.hasher.verify(current, hash.as_ref()).await?
        {
            return Err(ApiError::new(
                ErrorCode::PasswordNotMatched,
                "The current password is not correct.",
            ));
        }
        let patch = UserPatch {
            password_hash: Some(
                self.new_password_hash(req.new_password, hash.as_ref())
                    .await?,
            ),
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
        grant: Grant,
        domain_id: &str,
        user_id: &str,
        at_create: bool,
    ) -> ApiResult<()> {
        let by = if at_create {
            ResetBy::AdminCreate
        } else {
            ResetBy::Admin
        };
        self.start_reset(Some(grant), domain_id, user_id, by).await
    }
}

impl Service {
    /// `update`: the caller's own fields. A password can be set here only with a token that
    /// carries UPDATE_PASSWORD ([`injected_update_password`]); otherwise use `update_password`.
    /// Atomic: every field, the password included, is written in one event after the token's
    /// re-check, or nothing is.
    pub async fn user_profile_update(
        &self,
        cred: Credential,
        req: UpdateUserProfileRequest,
    ) -> ApiResult<ProfileInfo> {
        let (claims, grant) = self.profile_caller(&cred, "update")?;
        let mut patch = UserPatch::validated(
            &req.name,
            &req.email,
            &req.language,
            &req.timezone,
            &req.tags,
        )?;
        let (did, uid) = (claims.did.clone(), claims.aud.clone());
        let mut expected_cv = None;
        if let Some(pw) = req.password.filter(|p| !p.is_empty()) {
            if !injected_update_password(&claims) {
                return Err(ApiError::invalid(
                    "password",
                    "a password can be set here only while UPDATE_PASSWORD is pending; use update_password",
                ));
            }
            validate::password(pw.expose())?;
            let (hash, cv) = self.own_password(&grant, &did, &uid).await?;
            patch.password_hash = Some(self.new_password_hash(pw, hash.as_ref()).await?);
            expected_cv = Some(cv);
        }
        self.apply_patch(grant, did.clone(), uid.clone(), patch, expected_cv)
            .await?;
        self.profile_info(&did, &uid).await
    }

    pub async fn user_profile_verify_email(
        &self,
        cred: Credential,
        req: ProfileVerifyEmailRequest,
    ) -> ApiResult<Empty> {
        let (c, grant) = self.profile_caller(&cred, "verify_email")?;
        if let Some(e) = &req.email {
            validate::email(e)?;
        }
        self.verify_email_for(grant, c.did.clone(), c.aud.clone(), req.email, false)
            .await
    }

    pub async fn user_profile_confirm_email(
        &self,
        cred: Credential,
        req: ProfileConfirmRequest,
    ) -> ApiResult<ProfileInfo> {
        let (c, grant) = self.profile_caller(&cred, "confirm_email")?;
        validate::required("verify_code", req.verify_code.expose())?;
        let u = self
            .confirm_email_for(grant, &c.did, c.aud.clone(), req.verify_code)
            .await?;
        Ok(u.info_v2(&c.did))
    }

    pub async fn user_profile_enable_mfa(
        &self,
        cred: Credential,
        req: ProfileEnableMfaRequest,
    ) -> ApiResult<ProfileInfo> {
        let (c, grant) = self.profile_caller(&cred, "enable_mfa")?;
        let (u, uri) = self
            .enable_mfa_for(grant, &c.did, c.aud.clone(), &req.mfa_type, &req.options)
            .await?;
        let mut info = u.info_v2(&c.did);
        if let (Some(uri), Some(m)) = (uri, info.mfa.as_mut()) {
            m.options.insert("otp_qrcode_uri".into(), Value::from(uri));
        }
        Ok(info)
    }

    pub async fn user_profile_disable_mfa(
        &self,
        cred: Credential,
        _req: Empty,
    ) -> ApiResult<ProfileInfo> {
        let (c, grant) = self.profile_caller(&cred, "disable_mfa")?;
        let u = self
            .disable_mfa_for(grant, &c.did, c.aud.clone(), false)
            .await?;
        Ok(u.info_v2(&c.did))
    }

    pub async fn user_profile_confirm_mfa(
        &self,
        cred: Credential,
        req: ProfileConfirmRequest,
    ) -> ApiResult<ProfileInfo> {
        let (c, grant) = self.profile_caller(&cred, "confirm_mfa")?;
        validate::required("verify_code", req.verify_code.expose())?;
        let u = self
            .confirm_mfa_for(grant, &c.did, c.aud.clone(), req.verify_code)
            .await?;
        Ok(u.info_v2(&c.did))
    }

    pub async fn user_profile_get(
        &self,
        cred: Credential,
        _req: UserProfileRequest,
    ) -> ApiResult<ProfileInfo> {
        let (c, grant) = self.profile_caller(&cred, "get")?;
        let uid = c.aud.clone();
        self.registry()
            .exec(&c.did, move |ctx| {
                rules::domain_enabled(ctx.state())?;
                grant.check_in(ctx.state())?;
                Ok(rules::user(ctx.state(), &uid)?.info_v2(&ctx.state().domain.domain_id))
            })
            .await
    }

    pub async fn user_profile_get_workspaces(
        &self,
        cred: Credential,
        req: UserProfileRequest,
    ) -> ApiResult<MyWorkspacesInfo> {
        let (c, grant) = self.profile_caller(&cred, "get_workspaces")?;
        let uid = c.aud.clone();
        let group = req.workspace_group_id.filter(|g| !g.is_empty());
        self.registry()
            .exec(&c.did, move |ctx| {
                rules::domain_enabled(ctx.state())?;
                grant.check_in(ctx.state())?;
                let s = ctx.state();
                let results: Vec<MyWorkspaceInfo> = ws::my_workspaces(s, &uid, group.as_deref())?
                    .into_iter()
                    .map(|m| {
                        let w = m.workspace.info(&s.domain.domain_id);
                        MyWorkspaceInfo {
                            workspace_id: w.workspace_id,
                            name: w.name,
                            state: w.state,
                            tags: w.tags,
                            created_by: w.created_by,
                            reference_id: w.reference_id,
                            is_managed: w.is_managed,
                            is_dormant: w.is_dormant,
                            dormant_updated_at: w.dormant_updated_at,
                            last_synced_at: w.last_synced_at,
                            created_at: w.created_at,
                            domain_id: w.domain_id,
                            workspace_group_id: w.workspace_group_id,
                            role_id: m.role.as_ref().map(|r| r.role_id.clone()),
                            role_type: m.role.as_ref().map(|r| r.role_type),
                            role_name: m.role.as_ref().map(|r| r.name.clone()),
                        }
                    })
                    .collect();
                let total_count = results.len() as u64;
                Ok(MyWorkspacesInfo {
                    results,
                    total_count,
                })
            })
            .await
    }

    pub async fn user_profile_get_workspace_groups(
        &self,
        cred: Credential,
        _req: Empty,
    ) -> ApiResult<MyWorkspaceGroupsInfo> {
        let (c, grant) = self.profile_caller(&cred, "get_workspace_groups")?;
        let uid = c.aud.clone();
        self.registry()
            .exec(&c.did, move |ctx| {
                rules::domain_enabled(ctx.state())?;
                grant.check_in(ctx.state())?;
                let s = ctx.state();
                let did = s.domain.domain_id.clone();
                let results: Vec<MyWorkspaceGroupInfo> = ws::my_groups(s, &uid)?
                    .into_iter()
                    .map(|g| {
                        let users = g
                            .users
                            .iter()
                            .map(|m| {
                                let u = s.users.get(&m.user_id);
                                MyGroupUserInfo {
                                    user_id: m.user_id.clone(),
                                    role_id: m.role_id.clone(),
                                    role_type: Some(m.role_type),
                                    user_name: u.map(|u| u.name.clone()).unwrap_or_default(),
                                    state: u.map(|u| u.state),
                                }
                            })
                            .collect();
                        let role_binding_info =
                            g.users
                                .iter()
                                .find(|m| m.user_id == uid)
                                .map(|m| RoleBindingInfo {
                                    role_binding_id: None,
                                    user_id: m.user_id.clone(),
                                    role_id: m.role_id.clone(),
                                    role_type: Some(m.role_type),
                                    resource_group: Some(ResourceGroup::Workspace),
                                    workspace_id: None,
                                    workspace_group_id: Some(g.workspace_group_id.clone()),
                                    domain_id: did.clone(),
                                    created_at: None,
                                });
                        let info = g.info(&did);
                        MyWorkspaceGroupInfo {
                            workspace_group_id: info.workspace_group_id,
                            name: info.name,
                            users,
                            tags: info.tags,
                            created_by: info.created_by,
                            updated_by: info.updated_by,
                            created_at: info.created_at,
                            updated_at: info.updated_at,
                            domain_id: info.domain_id,
                            role_binding_info,
                        }
                    })
                    .collect();
                let total_count = results.len() as u64;
                Ok(MyWorkspaceGroupsInfo {
                    results,
                    total_count,
                })
            })
            .await
    }
}
