//! The service layer: one async function per API method, shared by the tarpc server and the HTTP
//! gateway. Each authorizes the caller, validates what needs no state, does slow stateless work
//! (argon2 on the hashing pool), then sends one closure to the domain actor, where the pure rules
//! of `model::rules` decide and the events they produce are applied and persisted.

mod domain;
mod system;
mod token;
mod user;

use crate::actor::registry::Registry;
use crate::actor::snapshot::Snapshotter;
use crate::auth::caller::Authn;
use crate::auth::hasher::HashPool;
use crate::model::clock::{Clock, Millis};
use std::sync::Arc;

/// Tunables of the service layer (all configurable from the command line).
#[derive(Debug, Clone)]
pub struct ServiceConfig {
    pub access_ttl_s: i64,
    pub max_access_ttl_s: i64,
    pub refresh_ttl_s: i64,
    /// Rows a list without `page` returns at most.
    pub max_list_results: usize,
}

impl Default for ServiceConfig {
    fn default() -> Self {
        ServiceConfig {
            access_ttl_s: 1800,
            max_access_ttl_s: 7 * 24 * 3600,
            refresh_ttl_s: 10800,
            max_list_results: 10_000,
        }
    }
}

/// The service; cheap to clone.
#[derive(Clone)]
pub struct Service {
    inner: Arc<Inner>,
}

struct Inner {
    registry: Registry,
    authn: Authn,
    hasher: HashPool,
    clock: Arc<dyn Clock>,
    cfg: ServiceConfig,
    /// Present when the server persists (absent in memory-only mode).
    snapshotter: Option<Arc<Snapshotter>>,
}

impl Service {
    pub fn new(
        registry: Registry,
        authn: Authn,
        hasher: HashPool,
        clock: Arc<dyn Clock>,
        cfg: ServiceConfig,
        snapshotter: Option<Arc<Snapshotter>>,
    ) -> Self {
        Service {
            inner: Arc::new(Inner {
                registry,
                authn,
                hasher,
                clock,
                cfg,
                snapshotter,
            }),
        }
    }

    pub fn registry(&self) -> &Registry {
        &self.inner.registry
    }

    fn now(&self) -> Millis {
        self.inner.clock.now_ms()
    }
}

/// A fresh resource id: `prefix-` + 12 lowercase hex characters from the OS-seeded CSPRNG.
pub fn new_id(prefix: &str) -> String {
    let mut b = [0u8; 6];
    rand::Rng::fill(&mut rand::rng(), &mut b);
    format!("{prefix}-{}", hex::encode(b))
}
