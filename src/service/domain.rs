//! Domain.* (SYSTEM only).

use super::{Service, new_id};
use crate::api::*;
use crate::model::entities::Domain;
use crate::model::events::Event;
use crate::model::rules::{self, NewUser};
use crate::model::state::DomainState as State;
use crate::model::validate;

impl Service {
    pub async fn domain_create(
        &self,
        cred: Credential,
        req: CreateDomainRequest,
    ) -> ApiResult<DomainInfo> {
        let now = self.now();
        self.inner.authn.system(&cred, now)?;
        let name = validate::domain_name(&req.name)?;
        let tags = validate::tags(req.tags.as_ref().unwrap_or(&Value::Null))?;
        let admin = match req.admin {
            None => None,
            Some(a) => {
                validate::user_id(&a.user_id, true)?;
                let uname = validate::name(a.name.as_deref().unwrap_or(""))?;
                let email = a.email.unwrap_or_default();
                validate::email(&email)?;
                validate::password(a.password.expose())?;
                let hash = self.inner.hasher.hash(a.password).await?;
                Some((
                    NewUser {
                        user_id: a.user_id,
                        name: uname,
                        email,
                        user_type: UserType::User,
                        backend: Backend::Local,
                        password_hash: Some(hash),
                        language: "en".into(),
                        timezone: "UTC".into(),
                        tags: Map::new(),
                        reset_password: false,
                        cred_version: super::user::new_cred_version(),
                    },
                    new_id("rb"),
                ))
            }
        };
        let domain = Domain {
            domain_id: new_id("domain"),
            name: name.clone(),
            state: DomainState::Enabled,
            tags,
            created_at: now,
        };
        // Dry run: every rule is checked before anything becomes visible.
        let (_, events) = rules::create_domain(domain.clone(), admin, now)?;
        let reg = self.registry();
        if !reg.reserve_name(&name, &domain.domain_id) {
            return Err(ApiError::unique("name", &name));
        }
        let id = domain.domain_id.clone();
        reg.spawn(State::new(domain));
        reg.exec(&id, move |ctx| {
            ctx.emit(events);
            Ok(ctx.state().domain.info())
        })
        .await
    }

    pub async fn domain_get(&self, cred: Credential, req: DomainRequest) -> ApiResult<DomainInfo> {
        self.inner.authn.system(&cred, self.now())?;
        validate::required("domain_id", &req.domain_id)?;
        self.registry()
            .exec(&req.domain_id, |ctx| Ok(ctx.state().domain.info()))
            .await
    }

    pub async fn domain_list(
        &self,
        cred: Credential,
        req: ListDomainsRequest,
    ) -> ApiResult<DomainsInfo> {
        self.inner.authn.system(&cred, self.now())?;
        let mut results = Vec::new();
        for id in self.registry().domain_ids() {
            // A domain deleted meanwhile is simply skipped.
            if let Ok(d) = self
                .registry()
                .exec(&id, |ctx| Ok(ctx.state().domain.info()))
                .await
            {
                let keep = req.name.as_ref().is_none_or(|n| *n == d.name)
                    && req.state.is_none_or(|s| s == d.state);
                if keep {
                    results.push(d);
                }
            }
        }
        results.sort_by(|a, b| a.name.cmp(&b.name));
        let total_count = results.len() as u64;
        Ok(DomainsInfo {
            results,
            total_count,
        })
    }

    async fn domain_set_state(
        &self,
        cred: Credential,
        req: DomainRequest,
        state: DomainState,
    ) -> ApiResult<DomainInfo> {
        self.inner.authn.system(&cred, self.now())?;
        validate::required("domain_id", &req.domain_id)?;
        self.registry()
            .exec(&req.domain_id, move |ctx| {
                let events = rules::set_domain_state(ctx.state(), state);
                ctx.emit(events);
                Ok(ctx.state().domain.info())
            })
            .await
    }

    pub async fn domain_enable(
        &self,
        cred: Credential,
        req: DomainRequest,
    ) -> ApiResult<DomainInfo> {
        self.domain_set_state(cred, req, DomainState::Enabled).await
    }

    pub async fn domain_disable(
        &self,
        cred: Credential,
        req: DomainRequest,
    ) -> ApiResult<DomainInfo> {
        self.domain_set_state(cred, req, DomainState::Disabled)
            .await
    }

    /// Deletes a domain with everything in it.
    pub async fn domain_delete(&self, cred: Credential, req: DomainRequest) -> ApiResult<Empty> {
        self.inner.authn.system(&cred, self.now())?;
        validate::required("domain_id", &req.domain_id)?;
        let name = self
            .registry()
            .exec(&req.domain_id, |ctx| {
                if ctx.state().deleted {
                    return Err(ApiError::not_found(
                        "domain_id",
                        &ctx.state().domain.domain_id,
                    ));
                }
                ctx.emit(vec![Event::DomainDeleted]);
                Ok(ctx.state().domain.name.clone())
            })
            .await?;
        self.registry().remove(&req.domain_id);
        self.registry().release_name(&name);
        Ok(Empty {})
    }
}
