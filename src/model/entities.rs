//! The persisted entities of a domain. These are both the in-memory state and (inside events
//! and snapshots) the on-disk format, encoded with bincode 2's native derive.

use super::clock::{Millis, iso};
use crate::api::{self, Map};
use crate::api::{
    Backend, DomainState as DomainStatus, MfaState, MfaType, RequiredAction, ResourceGroup,
    RoleType, UserState, UserType, WorkspaceState,
};
use bincode::{Decode, Encode};
use std::fmt;

/// An argon2id PHC string. `Debug` never shows it.
#[derive(Clone, PartialEq, Eq, Encode, Decode)]
pub struct PasswordHash(pub String);

impl fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PasswordHash(***)")
    }
}

#[derive(Clone, Debug, PartialEq, Encode, Decode)]
pub struct Domain {
    pub domain_id: String,
    pub name: String,
    pub state: DomainStatus,
    pub tags: Map,
    pub created_at: Millis,
}

impl Domain {
    pub fn info(&self) -> api::DomainInfo {
        api::DomainInfo {
            domain_id: self.domain_id.clone(),
            name: self.name.clone(),
            state: self.state,
            tags: self.tags.clone(),
            created_at: iso(self.created_at),
        }
    }
}

/// A user's MFA settings. v1 semantics: `enable_mfa` stores the type and options with state
/// DISABLED and `pending = Enable`; `confirm_mfa` makes it ENABLED.
#[derive(Clone, Debug, PartialEq, Encode, Decode)]
pub struct Mfa {
    pub state: MfaState,
    pub mfa_type: Option<MfaType>,
    /// Public options (e.g. `email`); secrets are never stored here.
    pub options: Map,
    /// The TOTP secret (OTP only) and the last time step accepted (never accepted twice).
    pub totp: Option<TotpState>,
    /// An enable or disable waiting for `confirm_mfa`.
    pub pending: Option<MfaPending>,
    /// Wrong codes left for a pending OTP confirmation (e-mail codes count their own).
    pub otp_attempts_left: u8,
    /// MFA was enabled to satisfy an admin's ENFORCE_MFA: disabling it puts the action back.
    pub enforced: bool,
}

#[derive(Clone, Debug, PartialEq, Encode, Decode)]
pub struct TotpState {
    pub secret: crate::auth::totp::TotpSecret,
    pub last_step: Option<u64>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode)]
pub enum MfaPending {
    Enable,
    Disable,
}

/// A temporary password from a reset (PASSWORD mode) started without credentials: the old
/// password keeps working until this one is first used or expires.
#[derive(Clone, Debug, PartialEq, Encode, Decode)]
pub struct TempPassword {
    pub hash: PasswordHash,
    pub expires_at: Millis,
}

#[derive(Clone, Debug, PartialEq, Encode, Decode)]
pub struct User {
    pub user_id: String,
    pub name: String,
    pub state: UserState,
    pub email: String,
    pub email_verified: bool,
    pub user_type: UserType,
    pub backend: Backend,
    pub password_hash: Option<PasswordHash>,
    pub language: String,
    pub timezone: String,
    /// Kept sorted and free of duplicates.
    pub required_actions: Vec<RequiredAction>,
    pub tags: Map,
    pub mfa: Option<Mfa>,
    /// Derived from role bindings by `apply`; never set by a request.
    pub role_type: RoleType,
    pub role_id: Option<String>,
    pub last_accessed_at: Option<Millis>,
    pub created_at: Millis,
    pub updated_at: Millis,
    /// Bumped on every password change; tokens carry it, so older tokens stop working.
    pub cred_version: u64,
    /// Pending verification codes, at most one per purpose (keyed digests only).
    pub codes: Vec<crate::auth::codes::StoredCode>,
    pub temp_password: Option<TempPassword>,
}

impl User {
    pub fn has_action(&self, a: RequiredAction) -> bool {
        self.required_actions.contains(&a)
    }
    pub fn add_action(&mut self, a: RequiredAction) {
        if !self.has_action(a) {
            self.required_actions.push(a);
            self.required_actions.sort_unstable();
        }
    }
    pub fn remove_action(&mut self, a: RequiredAction) {
        self.required_actions.retain(|x| *x != a);
    }

    /// Takes the pending code of `purpose` out of the user (put it back with [`User::put_code`]).
    pub fn take_code(
        &mut self,
        purpose: crate::auth::codes::CodePurpose,
    ) -> Option<crate::auth::codes::StoredCode> {
        let i = self.codes.iter().position(|c| c.purpose == purpose)?;
        Some(self.codes.remove(i))
    }

    /// Stores a code, replacing any earlier one of the same purpose.
    pub fn put_code(&mut self, code: crate::auth::codes::StoredCode) {
        self.codes.retain(|c| c.purpose != code.purpose);
        self.codes.push(code);
    }

    pub fn mfa_enabled(&self) -> bool {
        self.mfa
            .as_ref()
            .is_some_and(|m| m.state == MfaState::Enabled)
    }

    pub fn mfa_info(&self) -> api::MfaInfo {
        match &self.mfa {
            Some(m) => api::MfaInfo {
                state: m.state,
                mfa_type: m.mfa_type,
                options: m.options.clone(),
            },
            None => api::MfaInfo {
                state: MfaState::Disabled,
                mfa_type: None,
                options: Map::new(),
            },
        }
    }

    /// The v2 (UserProfile) UserInfo.
    pub fn info_v2(&self, domain_id: &str) -> api::ProfileInfo {
        api::ProfileInfo {
            user_id: self.user_id.clone(),
            name: self.name.clone(),
            state: Some(self.state),
            email: self.email.clone(),
            email_verified: self.email_verified,
            auth_type: Some(self.backend),
            role_id: self.role_id.clone(),
            role_type: Some(self.role_type),
            mfa: Some(self.mfa_info()),
            language: self.language.clone(),
            timezone: self.timezone.clone(),
            required_actions: self.required_actions.clone(),
            tags: self.tags.clone(),
            domain_id: domain_id.to_owned(),
            created_at: iso(self.created_at),
            last_accessed_at: self.last_accessed_at.map(iso),
        }
    }

    /// The full v1 UserInfo.
    pub fn info_v1(&self, domain_id: &str) -> api::UserInfo {
        api::UserInfo {
            user_id: self.user_id.clone(),
            name: Some(self.name.clone()),
            state: Some(self.state),
            email: Some(self.email.clone()),
            email_verified: Some(self.email_verified),
            user_type: Some(self.user_type),
            backend: Some(self.backend),
            language: Some(self.language.clone()),
            timezone: Some(self.timezone.clone()),
            required_actions: Some(self.required_actions.clone()),
            tags: Some(self.tags.clone()),
            mfa: Some(self.mfa_info()),
            last_accessed_at: self.last_accessed_at.map(iso),
            created_at: Some(iso(self.created_at)),
            domain_id: domain_id.to_owned(),
            projected: false,
        }
    }
}

/// Limits a v1 UserInfo to the named fields (the key fields `user_id`, `domain_id` always stay).
/// A dotted name keeps its top-level field (`tags.team` keeps `tags`).
pub fn project_v1(mut info: api::UserInfo, fields: &[String]) -> api::UserInfo {
    let keep = |f: &str| fields.iter().any(|x| x.split('.').next() == Some(f));
    macro_rules! drop_unless {
        ($($f:ident),*) => { $( if !keep(stringify!($f)) { info.$f = None; } )* };
    }
    drop_unless!(
        name,
        state,
        email,
        email_verified,
        user_type,
        backend,
        language,
        timezone,
        required_actions,
        tags,
        mfa,
        last_accessed_at,
        created_at
    );
    info.projected = true;
    info
}

/// The fields of `minimal`.
pub const MINIMAL_FIELDS: &[&str] = &["user_id", "name", "state", "user_type"];

#[derive(Clone, Debug, PartialEq, Encode, Decode)]
pub struct RoleBinding {
    pub role_binding_id: String,
    pub user_id: String,
    pub role_id: String,
    pub role_type: RoleType,
    pub resource_group: ResourceGroup,
    pub workspace_id: Option<String>,
    pub workspace_group_id: Option<String>,
    pub created_at: Millis,
}

/// The managed role every domain has for its administrators.
pub const MANAGED_DOMAIN_ADMIN: &str = "managed-domain-admin";
pub const MANAGED_WORKSPACE_OWNER: &str = "managed-workspace-owner";
pub const MANAGED_WORKSPACE_MEMBER: &str = "managed-workspace-member";

#[derive(Clone, Debug, PartialEq, Encode, Decode)]
pub struct Role {
    pub role_id: String,
    pub name: String,
    pub role_type: RoleType,
    pub is_managed: bool,
    pub created_at: Millis,
}

impl Role {
    /// The managed roles every domain has (not stored; they cannot change).
    pub fn managed() -> [Role; 3] {
        let r = |id: &str, name: &str, t| Role {
            role_id: id.into(),
            name: name.into(),
            role_type: t,
            is_managed: true,
            created_at: 0,
        };
        [
            r(MANAGED_DOMAIN_ADMIN, "Domain Admin", RoleType::DomainAdmin),
            r(
                MANAGED_WORKSPACE_OWNER,
                "Workspace Owner",
                RoleType::WorkspaceOwner,
            ),
            r(
                MANAGED_WORKSPACE_MEMBER,
                "Workspace Member",
                RoleType::WorkspaceMember,
            ),
        ]
    }
}

#[derive(Clone, Debug, PartialEq, Encode, Decode)]
pub struct Workspace {
    pub workspace_id: String,
    pub name: String,
    pub state: WorkspaceState,
    pub tags: Map,
    pub created_by: String,
    pub reference_id: Option<String>,
    pub is_managed: bool,
    pub is_dormant: bool,
    pub dormant_updated_at: Option<Millis>,
    pub last_synced_at: Option<Millis>,
    pub created_at: Millis,
    pub workspace_group_id: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Encode, Decode)]
pub struct GroupMember {
    pub user_id: String,
    pub role_id: String,
    pub role_type: RoleType,
}

#[derive(Clone, Debug, PartialEq, Encode, Decode)]
pub struct WorkspaceGroup {
    pub workspace_group_id: String,
    pub name: String,
    pub users: Vec<GroupMember>,
    pub tags: Map,
    pub created_by: String,
    pub updated_by: String,
    pub created_at: Millis,
    pub updated_at: Millis,
}

impl Workspace {
    pub fn info(&self, domain_id: &str) -> api::WorkspaceInfo {
        api::WorkspaceInfo {
            workspace_id: self.workspace_id.clone(),
            name: self.name.clone(),
            state: Some(self.state),
            tags: self.tags.clone(),
            created_by: self.created_by.clone(),
            reference_id: self.reference_id.clone(),
            is_managed: self.is_managed,
            is_dormant: self.is_dormant,
            dormant_updated_at: self.dormant_updated_at.map(iso),
            last_synced_at: self.last_synced_at.map(iso),
            created_at: iso(self.created_at),
            domain_id: domain_id.to_owned(),
            workspace_group_id: self.workspace_group_id.clone(),
        }
    }
}

impl WorkspaceGroup {
    pub fn info(&self, domain_id: &str) -> api::WorkspaceGroupInfo {
        api::WorkspaceGroupInfo {
            workspace_group_id: self.workspace_group_id.clone(),
            name: self.name.clone(),
            users: self
                .users
                .iter()
                .map(|m| api::GroupUserInfo {
                    user_id: m.user_id.clone(),
                    role_id: m.role_id.clone(),
                    role_type: Some(m.role_type),
                })
                .collect(),
            tags: self.tags.clone(),
            created_by: self.created_by.clone(),
            updated_by: self.updated_by.clone(),
            created_at: iso(self.created_at),
            updated_at: iso(self.updated_at),
            domain_id: domain_id.to_owned(),
        }
    }
}

impl Role {
    pub fn info(&self, domain_id: &str) -> api::RoleInfo {
        api::RoleInfo {
            role_id: self.role_id.clone(),
            name: self.name.clone(),
            role_type: Some(self.role_type),
            is_managed: self.is_managed,
            domain_id: domain_id.to_owned(),
            created_at: (!self.is_managed).then(|| iso(self.created_at)),
        }
    }
}

impl RoleBinding {
    pub fn info(&self, domain_id: &str) -> api::RoleBindingInfo {
        api::RoleBindingInfo {
            role_binding_id: Some(self.role_binding_id.clone()),
            user_id: self.user_id.clone(),
            role_id: self.role_id.clone(),
            role_type: Some(self.role_type),
            resource_group: Some(self.resource_group),
            workspace_id: self.workspace_id.clone(),
            workspace_group_id: self.workspace_group_id.clone(),
            domain_id: domain_id.to_owned(),
            created_at: Some(iso(self.created_at)),
        }
    }
}
