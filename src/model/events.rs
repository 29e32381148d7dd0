//! Every change to a domain is a [`Record`] of events. Records are what the write-ahead log stores
//! and what recovery replays through the same [`super::state::DomainState::apply`] as live
//! writes, so replay cannot drift from what clients saw.
//!
//! User changes carry the user's complete after-image: applying one is an insert, deterministic
//! and independent of prior state, which keeps the log self-contained.

use super::clock::Millis;
use super::entities::{Domain, Role, RoleBinding, User, Workspace, WorkspaceGroup};
use crate::api::UserState;
use bincode::{Decode, Encode};

/// Format version of [`Record`]; bump it when an event's encoding changes.
pub const RECORD_VERSION: u16 = 1;

#[derive(Clone, Debug, PartialEq, Encode, Decode)]
pub enum Event {
    DomainCreated(Domain),
    /// After-image of the domain record (state, tags).
    DomainUpdated(Domain),
    DomainDeleted,
    UserCreated(User),
    /// After-image of the user.
    UserUpdated(User),
    UserDeleted {
        user_id: String,
    },
    /// A successful login: `last_accessed_at`, and PENDING becoming ENABLED.
    UserAccessed {
        user_id: String,
        at: Millis,
        state: UserState,
    },
    RoleBindingCreated(RoleBinding),
    RoleBindingDeleted {
        role_binding_id: String,
    },
    // New variants go at the end: the log encodes variants by position.
    RoleCreated(Role),
    RoleDeleted {
        role_id: String,
    },
    /// Creation or after-image of a workspace (DELETED is a state).
    WorkspacePut(Workspace),
    /// Creation or after-image of a workspace group.
    WorkspaceGroupPut(WorkspaceGroup),
    WorkspaceGroupDeleted {
        workspace_group_id: String,
    },
}

/// One command's events for one domain: applied, logged and recovered as a unit.
#[derive(Clone, Debug, PartialEq, Encode, Decode)]
pub struct Record {
    pub version: u16,
    pub domain_id: String,
    /// The domain's own sequence number: 1, 2, 3, … per domain.
    pub seq: u64,
    pub at: Millis,
    pub events: Vec<Event>,
}

impl Record {
    pub fn encode(&self) -> Result<Vec<u8>, bincode::error::EncodeError> {
        bincode::encode_to_vec(self, bincode::config::standard())
    }
    pub fn decode(bytes: &[u8]) -> Result<Record, bincode::error::DecodeError> {
        let cfg = bincode::config::standard().with_limit::<{ 64 * 1024 * 1024 }>();
        let (r, _) = bincode::decode_from_slice(bytes, cfg)?;
        Ok(r)
    }
}
