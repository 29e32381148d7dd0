//! The pure domain: entities, validation, events, state and `apply`, decision rules, lockout.
//! Nothing here does I/O or reads the clock; time comes in as an argument.

pub mod clock;
pub mod entities;
pub mod events;
pub mod index;
pub mod lockout;
pub mod ratelimit;
pub mod rules;
pub mod state;
pub mod user_map;
pub mod validate;
pub mod verification;
pub mod workspace;
