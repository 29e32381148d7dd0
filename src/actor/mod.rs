//! Actors: one per domain, the registry that finds them, and the persistence actor.

pub mod domain;
pub mod persist;
pub mod registry;
pub mod snapshot;
