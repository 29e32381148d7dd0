//! The registry: domain id → domain actor address, in a dashmap, plus the global index of domain
//! names (names are unique across domains).

use super::domain::{DomainActor, Exec};
use super::persist::PersistHandle;
use crate::api::{ApiError, ApiResult};
use crate::model::clock::Clock;
use crate::model::lockout::LockoutPolicy;
use crate::model::state::DomainState;
use actix::prelude::*;
use dashmap::DashMap;
use dashmap::mapref::entry::Entry;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

pub struct Registry {
    domains: DashMap<String, Addr<DomainActor>>,
    /// name → domain_id
    names: DashMap<String, String>,
    /// Ids of deleted domains, kept in snapshots so recovery can skip their log records.
    tombstones: DashMap<String, ()>,
    persist: PersistHandle,
    clock: Arc<dyn Clock>,
    policy: LockoutPolicy,
    mailbox: usize,
    /// Arbiters that domain actors are spread over, round-robin (never empty).
    arbiters: Vec<ArbiterHandle>,
    next: AtomicUsize,
}

impl Registry {
    pub fn new(
        persist: PersistHandle,
        clock: Arc<dyn Clock>,
        policy: LockoutPolicy,
        mailbox: usize,
        arbiters: Vec<ArbiterHandle>,
    ) -> Self {
        let arbiters = if arbiters.is_empty() {
            vec![Arbiter::current()]
        } else {
            arbiters
        };
        Registry {
            domains: DashMap::new(),
            names: DashMap::new(),
            tombstones: DashMap::new(),
            persist,
            clock,
            policy,
            mailbox,
            arbiters,
            next: AtomicUsize::new(0),
        }
    }

    pub fn persist(&self) -> &PersistHandle {
        &self.persist
    }

    /// Reserves a domain name; false when another domain has it.
    pub fn reserve_name(&self, name: &str, domain_id: &str) -> bool {
        match self.names.entry(name.to_owned()) {
            Entry::Occupied(_) => false,
            Entry::Vacant(v) => {
                v.insert(domain_id.to_owned());
                true
            }
        }
    }

    pub fn release_name(&self, name: &str) {
        self.names.remove(name);
    }

    /// Starts an actor for `state` and registers it.
    pub fn spawn(&self, state: DomainState) -> Addr<DomainActor> {
        let id = state.domain.domain_id.clone();
        self.names.insert(state.domain.name.clone(), id.clone());
        let actor = DomainActor::new(
            state,
            self.persist.clone(),
            self.clock.clone(),
            self.policy,
            self.mailbox,
        );
        // Started through an arbiter handle: callers may run outside actix's LocalSet
        // (tarpc request tasks do), where `Actor::start` would panic.
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.arbiters.len();
        let addr = DomainActor::start_in_arbiter(&self.arbiters[i], move |_| actor);
        self.domains.insert(id, addr.clone());
        addr
    }

    pub fn get(&self, domain_id: &str) -> Option<Addr<DomainActor>> {
        self.domains.get(domain_id).map(|a| a.clone())
    }

    /// Unregisters a deleted domain and remembers its id.
    pub fn remove(&self, domain_id: &str) -> Option<Addr<DomainActor>> {
        self.tombstones.insert(domain_id.to_owned(), ());
        self.domains.remove(domain_id).map(|(_, a)| a)
    }

    pub fn add_tombstones(&self, ids: impl IntoIterator<Item = String>) {
        for id in ids {
            self.tombstones.insert(id, ());
        }
    }

    pub fn tombstones(&self) -> Vec<String> {
        let mut v: Vec<String> = self.tombstones.iter().map(|e| e.key().clone()).collect();
        v.sort();
        v
    }

    pub fn domain_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = self.domains.iter().map(|e| e.key().clone()).collect();
        ids.sort();
        ids
    }

    pub fn len(&self) -> usize {
        self.domains.len()
    }
    pub fn is_empty(&self) -> bool {
        self.domains.is_empty()
    }

    /// Runs `f` in the actor of `domain_id`. An unknown domain is NOT_FOUND.
    pub async fn exec<R, F>(&self, domain_id: &str, f: F) -> ApiResult<R>
    where
        R: Send + 'static,
        F: FnOnce(&mut super::domain::Ctx<'_>) -> ApiResult<R> + Send + 'static,
    {
        let addr = self
            .get(domain_id)
            .ok_or_else(|| ApiError::not_found("domain_id", domain_id))?;
        match addr.send(Exec(Box::new(f))).await {
            Ok(r) => r,
            // The actor stopped (its domain was deleted meanwhile).
            Err(_) => Err(ApiError::not_found("domain_id", domain_id)),
        }
    }
}
