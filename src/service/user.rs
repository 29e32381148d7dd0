//! User v1 (admin API; a user may also get/update itself).

use super::Service;
use super::guard;
use crate::api::*;
use crate::auth::caller::Grant;
use crate::model::entities::project_v1;
use crate::model::rules::{self, NewUser, UserPatch};
use crate::model::validate;
use crate::query::users::{self, Planned};
use std::sync::Arc;

/// A new account's starting credential version: 64 random bits from the OS-seeded CSPRNG (the
/// rules stay pure: it is passed in like an id). An old token of a deleted account passes for a
/// re-created one only if its `cv` equals one of the versions the new account goes through:
/// with k password changes and disables, a chance of (k+1)/2^64 per token.
pub(crate) fn new_cred_version() -> u64 {
    rand::Rng::random(&mut rand::rng())
}

fn method(verb: &str) -> String {
    format!("identity:User.{verb}")
}

impl Service {
    /// A User v1 call's grant (`identity:User.<verb>`).
    pub(crate) fn user_grant(
        &self,
        cred: &Credential,
        verb: &str,
        domain_id: &str,
        self_user: Option<&str>,
    ) -> ApiResult<Grant> {
        self.grant(cred, &method(verb), domain_id, self_user)
    }

    pub async fn user_create(
        &self,
        cred: Credential,
        req: CreateUserRequest,
    ) -> ApiResult<UserInfo> {
        let grant = self.user_grant(&cred, "create", &req.domain_id, None)?;
        let backend = req.backend.unwrap_or(Backend::Local);
        let user_type = req.user_type.unwrap_or(UserType::User);
        validate::user_id(
            &req.user_id,
            backend == Backend::Local && user_type == UserType::User,
        )?;
        let name = validate::name(req.name.as_deref().unwrap_or(""))?;
        let email = req.email.unwrap_or_default();
        validate::email(&email)?;
        let language = req.language.unwrap_or_else(|| "en".into());
        validate::language(&language)?;
        let timezone = req.timezone.unwrap_or_else(|| "UTC".into());
        validate::timezone(&timezone)?;
        let tags = validate::tags(req.tags.as_ref().unwrap_or(&Value::Null))?;
        let password = req.password.filter(|p| !p.is_empty());
        let password_hash = match password {
            Some(_) if user_type == UserType::ApiUser => {
                return Err(ApiError::invalid("password", "API users have no password"));
            }
            Some(_) if backend == Backend::External => {
                return Err(ApiError::invalid(
                    "password",
                    "external users have no local password",
                ));
            }
            Some(pw) => {
                validate::password(pw.expose())?;
                Some(self.inner.hasher.hash(pw).await?)
            }
            None => None,
        };
        let nu = NewUser {
            user_id: req.user_id,
            name,
            email,
            user_type,
            backend,
            password_hash,
            language,
            timezone,
            tags,
            reset_password: req.reset_password.unwrap_or(false),
            cred_version: new_cred_version(),
        };
        let domain_id = req.domain_id;
        let reset = nu.reset_password;
        let uid = nu.user_id.clone();
        let info = self
            .exec_as(grant.clone(), &domain_id, move |ctx| {
                let uid = nu.user_id.clone();
                let events = rules::create_user(ctx.state(), nu, ctx.now)?;
                ctx.emit(events);
                Ok(rules::user(ctx.state(), &uid)?.info_v1(&ctx.state().domain.domain_id))
            })
            .await?;
        if !reset {
            return Ok(info);
        }
        // The admin supplied the address: the user gets a reset mail (SPEC 5.3).
        self.admin_reset(grant, &domain_id, &uid, true).await?;
        self.user_info_v1(&domain_id, &uid).await
    }

    async fn user_info_v1(&self, domain_id: &str, user_id: &str) -> ApiResult<UserInfo> {
        let uid = user_id.to_owned();
        self.registry()
            .exec(domain_id, move |ctx| {
                Ok(rules::user(ctx.state(), &uid)?.info_v1(&ctx.state().domain.domain_id))
            })
            .await
    }

    pub async fn user_update(
        &self,
        cred: Credential,
        req: UpdateUserRequest,
    ) -> ApiResult<UserInfo> {
        let grant = self.user_grant(&cred, "update", &req.domain_id, Some(&req.user_id))?;
        validate::required("user_id", &req.user_id)?;
        let mut patch = UserPatch::validated(
            &req.name,
            &req.email,
            &req.language,
            &req.timezone,
            &req.tags,
        )?;
        let password = req.password.filter(|p| !p.is_empty());
        // A token changing its own user's password (an admin's own account too) proves the
        // current one: a stolen access token must not become a permanent takeover.
        let own_change = password.is_some() && grant.acts_on_self(&req.user_id);
        let current_password = req.current_password.filter(|p| !p.is_empty());
        if own_change && current_password.is_none() {
            return Err(ApiError::required("current_password"));
        }
        if let Some(pw) = &password {
            validate::password(pw.expose())?;
        }
        if req.reset_password == Some(true) {
            if password.is_some() {
                return Err(ApiError::invalid(
                    "password",
                    "give a password or reset_password, not both",
                ));
            }
            if !matches!(grant, Grant::System | Grant::Admin(_)) {
                return Err(ApiError::permission_denied());
            }
            // Checked against the current (verified) address before anything changes; the
            // admin's token is re-checked in the actor before anything is written or mailed.
            self.admin_reset(grant.clone(), &req.domain_id, &req.user_id, false)
                .await?;
        }
        if let Some(pw) = password {
            let (uid, g) = (req.user_id.clone(), grant.clone());
            let (current, cv) = self
                .registry()
                .exec(&req.domain_id, move |ctx| {
                    guard(&g, ctx.state())?;
                    let u = rules::user(ctx.state(), &uid)?;
                    Ok((u.password_hash.clone(), u.cred_version))
                })
                .await?;
            if let Some(cur) = current_password.filter(|_| own_change)
                && !self.inner.hasher.verify(cur, current.as_ref()).await?
            {
                return Err(ApiError::new(
                    ErrorCode::PasswordNotMatched,
                    "The current password is not correct.",
                ));
            }
            // Same password again is refused (verified against the current hash first).
            patch.password_hash = Some(self.new_password_hash(pw, current.as_ref()).await?);
            return self
                .apply_patch(grant, req.domain_id, req.user_id, patch, Some(cv))
                .await;
        }
        self.apply_patch(grant, req.domain_id, req.user_id, patch, None)
            .await
    }

    /// Applies a validated patch. `expected_cv` guards a password change against a concurrent one.
    pub(crate) async fn apply_patch(
        &self,
        grant: Grant,
        domain_id: String,
        user_id: String,
        patch: UserPatch,
        expected_cv: Option<u64>,
    ) -> ApiResult<UserInfo> {
        self.exec_as(grant, &domain_id, move |ctx| {
            let u = rules::user(ctx.state(), &user_id)?;
            if expected_cv.is_some_and(|cv| cv != u.cred_version) {
                return Err(ApiError::invalid(
                    "password",
                    "the password changed meanwhile; try again",
                ));
            }
            let events = rules::update_user(ctx.state(), &user_id, patch, ctx.now)?;
            ctx.emit(events);
            Ok(rules::user(ctx.state(), &user_id)?.info_v1(&ctx.state().domain.domain_id))
        })
        .await
    }

    pub async fn user_set_required_actions(
        &self,
        cred: Credential,
        req: SetRequiredActionsRequest,
    ) -> ApiResult<UserInfo> {
        let grant = self.user_grant(&cred, "set_required_actions", &req.domain_id, None)?;
        validate::required("user_id", &req.user_id)?;
        let (uid, actions) = (req.user_id, req.actions);
        self.exec_as(grant, &req.domain_id, move |ctx| {
            let events = rules::set_required_actions(ctx.state(), &uid, &actions, ctx.now)?;
            ctx.emit(events);
            Ok(rules::user(ctx.state(), &uid)?.info_v1(&ctx.state().domain.domain_id))
        })
        .await
    }

    async fn user_set_state(
        &self,
        cred: Credential,
        req: UserRequest,
        verb: &str,
        state: UserState,
    ) -> ApiResult<UserInfo> {
        let grant = self.user_grant(&cred, verb, &req.domain_id, None)?;
        validate::required("user_id", &req.user_id)?;
        let uid = req.user_id;
        self.exec_as(grant, &req.domain_id, move |ctx| {
            let events = rules::set_user_state(ctx.state(), &uid, state, ctx.now)?;
            ctx.emit(events);
            Ok(rules::user(ctx.state(), &uid)?.info_v1(&ctx.state().domain.domain_id))
        })
        .await
    }

    pub async fn user_enable(&self, cred: Credential, req: UserRequest) -> ApiResult<UserInfo> {
        self.user_set_state(cred, req, "enable", UserState::Enabled)
            .await
    }

    pub async fn user_disable(&self, cred: Credential, req: UserRequest) -> ApiResult<UserInfo> {
        self.user_set_state(cred, req, "disable", UserState::Disabled)
            .await
    }

    pub async fn user_delete(&self, cred: Credential, req: UserRequest) -> ApiResult<Empty> {
        let grant = self.user_grant(&cred, "delete", &req.domain_id, None)?;
        validate::required("user_id", &req.user_id)?;
        let uid = req.user_id;
        self.exec_as(grant, &req.domain_id, move |ctx| {
            let events = rules::delete_user(ctx.state(), &uid)?;
            ctx.emit(events);
            Ok(Empty {})
        })
        .await
    }

    pub async fn user_get(&self, cred: Credential, req: GetUserRequest) -> ApiResult<UserInfo> {
        let grant = self.user_grant(&cred, "get", &req.domain_id, Some(&req.user_id))?;
        validate::required("user_id", &req.user_id)?;
        let (uid, only) = (req.user_id, req.only.filter(|o| !o.is_empty()));
        self.exec_as(grant, &req.domain_id, move |ctx| {
            let info = rules::user(ctx.state(), &uid)?.info_v1(&ctx.state().domain.domain_id);
            Ok(match &only {
                Some(fields) => project_v1(info, fields),
                None => info,
            })
        })
        .await
    }

    pub async fn user_list(&self, cred: Credential, req: UserQuery) -> ApiResult<UsersInfo> {
        let grant = self.user_grant(&cred, "list", &req.domain_id, None)?;
        let max = self.inner.cfg.max_list_results;
        let budget = Arc::new(self.inner.cfg.query.clone());
        let domain_id = req.domain_id.clone();
        // The whole query is parsed and validated before it reaches the actor: here when it is
        // small, else on the scan pool (regexes compile there, not on a transport thread).
        let mut q = if users::list_parses_inline(&req) {
            users::parse_list_with(&req, &budget.parse)?
        } else {
            let b = budget.clone();
            self.scan(move || users::parse_list_with(&req, &b.parse))
                .await?
        };
        q.clamp_page(max);
        let q = Arc::new(q);
        let (pq, pb) = (q.clone(), budget.clone());
        let planned = self
            .exec_as(grant, &domain_id, move |ctx| {
                Ok(users::plan_list(ctx.state(), &pq, ctx.now, max, &pb))
            })
            .await?;
        match planned {
            Planned::Done(info) => Ok(info),
            // The actor did index work only; the engine runs off it, over the candidates or a
            // snapshot, so the domain's (and every other domain's) requests need not wait.
            Planned::Scan(scan) => {
                self.query_scan(move |deadline| scan.list_with(&q, max, &budget, deadline))
                    .await
            }
        }
    }

    pub async fn user_stat(&self, cred: Credential, req: UserStatQuery) -> ApiResult<StatInfo> {
        let grant = self.user_grant(&cred, "stat", &req.domain_id, None)?;
        let max = self.inner.cfg.max_list_results;
        let budget = Arc::new(self.inner.cfg.query.clone());
        let domain_id = req.domain_id.clone();
        let mut q = if users::stat_parses_inline(&req) {
            crate::query::StatQuery::parse_with(&req.query, &budget.parse)?
        } else {
            let b = budget.clone();
            self.scan(move || Ok(crate::query::StatQuery::parse_with(&req.query, &b.parse)?))
                .await?
        };
        q.clamp_page(max);
        let q = Arc::new(q);
        let (pq, pb) = (q.clone(), budget.clone());
        let planned = self
            .exec_as(grant, &domain_id, move |ctx| {
                users::plan_stat(ctx.state(), &pq, ctx.now, max, &pb)
            })
            .await?;
        match planned {
            Planned::Done(info) => Ok(info),
            Planned::Scan(scan) => {
                self.query_scan(move |deadline| scan.stat_with(&q, max, &budget, deadline))
                    .await
            }
        }
    }

    pub async fn user_find(
        &self,
        cred: Credential,
        req: FindUserQuery,
    ) -> ApiResult<FindUsersInfo> {
        let grant = self.user_grant(&cred, "find", &req.domain_id, None)?;
        let max = self.inner.cfg.max_list_results;
        let budget = Arc::new(self.inner.cfg.query.clone());
        let words = users::find_words(&req.search, &budget.parse)?;
        let (search, pb) = (req.search, budget.clone());
        let planned = self
            .exec_as(grant, &req.domain_id, move |ctx| {
                users::plan_find(ctx.state(), &search, words, max, &pb)
            })
            .await?;
        match planned {
            Ok(info) => Ok(info),
            Err(scan) => {
                self.query_scan(move |deadline| scan.run(max, &budget, deadline))
                    .await
            }
        }
    }

    /// For an EXTERNAL user, refreshes it from the external directory; a LOCAL user is returned
    /// as is. No external directory can be configured yet, so EXTERNAL users cannot exist.
    pub async fn user_sync(&self, cred: Credential, req: UserRequest) -> ApiResult<UserInfo> {
        let grant = self.user_grant(&cred, "sync", &req.domain_id, None)?;
        validate::required("user_id", &req.user_id)?;
        let uid = req.user_id;
        self.exec_as(grant, &req.domain_id, move |ctx| {
                let u = rules::user(ctx.state(), &uid)?;
                if u.backend == Backend::External {
                    return Err(ApiError::new(
                        ErrorCode::NotAllowedExternalAuthentication,
                        "External authentication is not allowed. (reason = no external directory is configured for the domain)",
                    ));
                }
                Ok(u.info_v1(&ctx.state().domain.domain_id))
            })
            .await
    }
}
