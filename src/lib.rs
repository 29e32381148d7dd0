//! identityd: an in-memory, durable identity service implementing Cloudforet's identity User v1
//! and UserProfile v2 APIs. See ARCHITECTURE.md for the map.

pub mod actor;
pub mod api;
pub mod auth;
pub mod client;
pub mod config;
pub mod fixtures;
pub mod mail;
pub mod metrics;
pub mod model;
pub mod query;
pub mod server;
pub mod service;
pub mod store;
pub mod transport;
