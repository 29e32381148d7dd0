//! Request and response types of the Domain, User v1 and Token calls.
//!
//! Every request struct is `#[serde(default)]`: a missing JSON field becomes its default, and the
//! service layer turns an empty required field into `ERROR_REQUIRED_PARAMETER(key=…)`. Over bincode
//! every field is always present, so both transports reach the same validation.

use super::secret::Secret;
use super::types::*;
use super::value::{Map, Value};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The empty response (`{}` in JSON).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Empty {}

// ---------------------------------------------------------------------------------------------
// Domain

/// First admin created together with a domain.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct DomainAdmin {
    pub user_id: String,
    pub password: Secret,
    pub name: Option<String>,
    pub email: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct CreateDomainRequest {
    pub name: String,
    pub tags: Option<Value>,
    pub admin: Option<DomainAdmin>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct DomainRequest {
    pub domain_id: String,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct ListDomainsRequest {
    pub name: Option<String>,
    pub state: Option<DomainState>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DomainInfo {
    pub domain_id: String,
    pub name: String,
    pub state: DomainState,
    pub tags: Map,
    pub created_at: String,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DomainsInfo {
    pub results: Vec<DomainInfo>,
    pub total_count: u64,
}

// ---------------------------------------------------------------------------------------------
// User v1

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct CreateUserRequest {
    pub user_id: String,
    pub backend: Option<Backend>,
    pub domain_id: String,
    pub password: Option<Secret>,
    pub name: Option<String>,
    pub email: Option<String>,
    pub user_type: Option<UserType>,
    pub language: Option<String>,
    pub timezone: Option<String>,
    /// An object, or a list of `{key, value}` pairs.
    pub tags: Option<Value>,
    pub reset_password: Option<bool>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct UpdateUserRequest {
    pub user_id: String,
    pub domain_id: String,
    pub password: Option<Secret>,
    /// Required when a token changes its own user's password (an admin's own account
    /// included); not needed by SYSTEM or an admin setting another user's password.
    pub current_password: Option<Secret>,
    pub name: Option<String>,
    pub email: Option<String>,
    pub language: Option<String>,
    pub timezone: Option<String>,
    pub tags: Option<Value>,
    pub reset_password: Option<bool>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct UserRequest {
    pub user_id: String,
    pub domain_id: String,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct GetUserRequest {
    pub user_id: String,
    pub domain_id: String,
    pub only: Option<Vec<String>>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct SetRequiredActionsRequest {
    pub user_id: String,
    pub actions: Vec<RequiredAction>,
    pub domain_id: String,
}

/// v1 `list`: each given top-level field is an `eq` filter, then `query` applies.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct UserQuery {
    pub query: Option<Value>,
    pub user_id: Option<String>,
    pub name: Option<String>,
    pub state: Option<UserState>,
    pub email: Option<String>,
    pub user_type: Option<UserType>,
    pub backend: Option<Backend>,
    pub domain_id: String,
}

/// MFA settings of a user as returned.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct MfaInfo {
    pub state: MfaState,
    pub mfa_type: Option<MfaType>,
    pub options: Map,
}

/// v1 UserInfo. Fields other than the keys are `Option` so that `only`/`minimal` can leave them
/// out; in JSON an unset field is `null`, and a field left out by a projection is absent
/// (`projected` is set and [`UserInfo::to_json`] drops the `None`s).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(
    description = "v1 UserInfo: every field present (null where unset), except those `only` or `minimal` left out."
)]
pub struct UserInfo {
    pub user_id: String,
    pub name: Option<String>,
    pub state: Option<UserState>,
    pub email: Option<String>,
    pub email_verified: Option<bool>,
    pub user_type: Option<UserType>,
    pub backend: Option<Backend>,
    pub language: Option<String>,
    pub timezone: Option<String>,
    pub required_actions: Option<Vec<RequiredAction>>,
    pub tags: Option<Map>,
    pub mfa: Option<MfaInfo>,
    pub last_accessed_at: Option<String>,
    pub created_at: Option<String>,
    pub domain_id: String,
    /// True when the fields were limited by `only`/`minimal`.
    #[schemars(skip)]
    pub projected: bool,
}

impl UserInfo {
    /// The JSON object the HTTP gateway returns: every field present (null where unset), except
    /// that a projected answer omits the fields that were not asked for.
    pub fn to_json(&self) -> serde_json::Value {
        let mut v = serde_json::to_value(self).unwrap_or(serde_json::Value::Null);
        if let serde_json::Value::Object(m) = &mut v {
            m.remove("projected");
            if self.projected {
                m.retain(|_, v| !v.is_null());
            }
        }
        v
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct UsersInfo {
    pub results: Vec<UserInfo>,
    pub total_count: u64,
}

// ---------------------------------------------------------------------------------------------
// Token

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct Credentials {
    pub user_id: String,
    pub password: Secret,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct IssueTokenRequest {
    pub domain_id: String,
    pub credentials: Credentials,
    pub auth_type: Option<AuthType>,
    pub verify_code: Option<Secret>,
    /// Requested access-token lifetime in seconds (at most 7 days).
    pub timeout: Option<u64>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct RefreshTokenRequest {
    pub refresh_token: Secret,
    pub timeout: Option<u64>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TokenInfo {
    pub access_token: Secret,
    pub refresh_token: Secret,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PublicKeyInfo {
    /// The Ed25519 verification key as a JWK (JSON text).
    pub public_key: String,
}

// ---------------------------------------------------------------------------------------------
// System

/// A snapshot taken by `system_snapshot`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SnapshotInfo {
    pub path: String,
    /// The write-ahead log position it covers.
    pub lsn: u64,
    pub domains: u64,
    pub users: u64,
    pub max_copy_ms: u64,
    pub total_ms: u64,
}

/// v1 `stat`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct UserStatQuery {
    /// A StatisticsQuery (SPEC 7.3).
    pub query: Value,
    pub domain_id: String,
}

/// `stat` result: `{results}`, plus `total_count` only when `page.limit > 0`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct StatInfo {
    pub results: Vec<Value>,
    pub total_count: Option<u64>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct FindSearch {
    pub user_id: Option<String>,
    pub keyword: Option<String>,
}

/// v1 `find`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct FindUserQuery {
    pub search: FindSearch,
    pub domain_id: String,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct FindUserInfo {
    pub user_id: String,
    pub name: String,
    pub email: String,
    pub tags: Map,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct FindUsersInfo {
    pub results: Vec<FindUserInfo>,
    pub total_count: u64,
}

// ---------------------------------------------------------------------------------------------
// E-mail verification, MFA (User v1)

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct VerifyEmailRequest {
    pub user_id: String,
    pub domain_id: String,
    pub email: Option<String>,
    /// Admins only: mark the address verified without a code.
    pub force: Option<bool>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct ConfirmEmailRequest {
    pub user_id: String,
    pub verify_code: Secret,
    pub domain_id: String,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct EnableMfaRequest {
    pub user_id: String,
    /// `EMAIL` or `OTP`; anything else is ERROR_NOT_SUPPORTED_MFA_TYPE.
    pub mfa_type: String,
    /// EMAIL: `{"email": "..."}`.
    pub options: Value,
    pub domain_id: String,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct DisableMfaRequest {
    pub user_id: String,
    /// Admins only: disable at once, without a code.
    pub force: Option<bool>,
    pub domain_id: String,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct ConfirmMfaRequest {
    pub user_id: String,
    pub verify_code: Secret,
    pub domain_id: String,
}

// ---------------------------------------------------------------------------------------------
// UserProfile v2

/// `reset_password` (v2, +noauth).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct UserPasswordResetRequest {
    pub user_id: String,
    pub domain_id: String,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct UpdatePasswordRequest {
    pub new_password: Secret,
    pub current_password: Option<Secret>,
}

/// v2 UserInfo (UserProfile).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ProfileInfo {
    pub user_id: String,
    pub name: String,
    pub state: Option<UserState>,
    pub email: String,
    pub email_verified: bool,
    pub auth_type: Option<Backend>,
    pub role_id: Option<String>,
    pub role_type: Option<RoleType>,
    pub mfa: Option<MfaInfo>,
    pub language: String,
    pub timezone: String,
    pub required_actions: Vec<RequiredAction>,
    pub tags: Map,
    pub domain_id: String,
    pub created_at: String,
    pub last_accessed_at: Option<String>,
}

// ---------------------------------------------------------------------------------------------
// Workspaces

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct CreateWorkspaceRequest {
    pub name: String,
    pub tags: Option<Value>,
    pub workspace_group_id: Option<String>,
    pub domain_id: String,
}

/// Only given fields change; `workspace_group_id: ""` takes the workspace out of its group.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct UpdateWorkspaceRequest {
    pub workspace_id: String,
    pub name: Option<String>,
    pub tags: Option<Value>,
    pub workspace_group_id: Option<String>,
    pub domain_id: String,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct WorkspaceRequest {
    pub workspace_id: String,
    pub domain_id: String,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct ListWorkspacesRequest {
    pub domain_id: String,
    pub name: Option<String>,
    pub state: Option<WorkspaceState>,
    pub workspace_group_id: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct WorkspaceInfo {
    pub workspace_id: String,
    pub name: String,
    pub state: Option<WorkspaceState>,
    pub tags: Map,
    pub created_by: String,
    pub reference_id: Option<String>,
    pub is_managed: bool,
    pub is_dormant: bool,
    pub dormant_updated_at: Option<String>,
    pub last_synced_at: Option<String>,
    pub created_at: String,
    pub domain_id: String,
    pub workspace_group_id: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct WorkspacesInfo {
    pub results: Vec<WorkspaceInfo>,
    pub total_count: u64,
}

// ---------------------------------------------------------------------------------------------
// Workspace groups

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct CreateWorkspaceGroupRequest {
    pub name: String,
    pub tags: Option<Value>,
    pub domain_id: String,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct UpdateWorkspaceGroupRequest {
    pub workspace_group_id: String,
    pub name: Option<String>,
    pub tags: Option<Value>,
    pub domain_id: String,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct GroupUserRef {
    pub user_id: String,
    /// Required by add_users (a workspace role); ignored by remove_users.
    pub role_id: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct WorkspaceGroupUsersRequest {
    pub workspace_group_id: String,
    pub users: Vec<GroupUserRef>,
    pub domain_id: String,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct WorkspaceGroupRequest {
    pub workspace_group_id: String,
    pub domain_id: String,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct ListWorkspaceGroupsRequest {
    pub domain_id: String,
    pub name: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct GroupUserInfo {
    pub user_id: String,
    pub role_id: String,
    pub role_type: Option<RoleType>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct WorkspaceGroupInfo {
    pub workspace_group_id: String,
    pub name: String,
    pub users: Vec<GroupUserInfo>,
    pub tags: Map,
    pub created_by: String,
    pub updated_by: String,
    pub created_at: String,
    pub updated_at: String,
    pub domain_id: String,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct WorkspaceGroupsInfo {
    pub results: Vec<WorkspaceGroupInfo>,
    pub total_count: u64,
}

// ---------------------------------------------------------------------------------------------
// Roles and role bindings

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct CreateRoleRequest {
    pub name: String,
    pub role_type: Option<RoleType>,
    pub domain_id: String,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct RoleRequest {
    pub role_id: String,
    pub domain_id: String,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct ListRolesRequest {
    pub domain_id: String,
    pub role_type: Option<RoleType>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RoleInfo {
    pub role_id: String,
    pub name: String,
    pub role_type: Option<RoleType>,
    pub is_managed: bool,
    pub domain_id: String,
    pub created_at: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RolesInfo {
    pub results: Vec<RoleInfo>,
    pub total_count: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct CreateRoleBindingRequest {
    pub user_id: String,
    pub role_id: String,
    pub resource_group: Option<ResourceGroup>,
    pub workspace_id: Option<String>,
    pub domain_id: String,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct RoleBindingRequest {
    pub role_binding_id: String,
    pub domain_id: String,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct ListRoleBindingsRequest {
    pub domain_id: String,
    pub user_id: Option<String>,
    pub workspace_id: Option<String>,
    pub role_type: Option<RoleType>,
    pub resource_group: Option<ResourceGroup>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RoleBindingInfo {
    /// Absent for a role held through workspace-group membership.
    pub role_binding_id: Option<String>,
    pub user_id: String,
    pub role_id: String,
    pub role_type: Option<RoleType>,
    pub resource_group: Option<ResourceGroup>,
    pub workspace_id: Option<String>,
    pub workspace_group_id: Option<String>,
    pub domain_id: String,
    pub created_at: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RoleBindingsInfo {
    pub results: Vec<RoleBindingInfo>,
    pub total_count: u64,
}

// ---------------------------------------------------------------------------------------------
// UserProfile v2 (the caller is the token's user; request fields never name another user)

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct UpdateUserProfileRequest {
    pub password: Option<Secret>,
    pub name: Option<String>,
    pub email: Option<String>,
    pub language: Option<String>,
    pub timezone: Option<String>,
    pub tags: Option<Value>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct ProfileVerifyEmailRequest {
    pub email: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct ProfileConfirmRequest {
    pub verify_code: Secret,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct ProfileEnableMfaRequest {
    pub mfa_type: String,
    pub options: Value,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct UserProfileRequest {
    pub workspace_group_id: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct MyWorkspaceInfo {
    pub workspace_id: String,
    pub name: String,
    pub state: Option<WorkspaceState>,
    pub tags: Map,
    pub created_by: String,
    pub reference_id: Option<String>,
    pub is_managed: bool,
    pub is_dormant: bool,
    pub dormant_updated_at: Option<String>,
    pub last_synced_at: Option<String>,
    pub created_at: String,
    pub domain_id: String,
    pub workspace_group_id: Option<String>,
    pub role_id: Option<String>,
    pub role_type: Option<RoleType>,
    pub role_name: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct MyWorkspacesInfo {
    pub results: Vec<MyWorkspaceInfo>,
    pub total_count: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct MyGroupUserInfo {
    pub user_id: String,
    pub role_id: String,
    pub role_type: Option<RoleType>,
    pub user_name: String,
    pub state: Option<UserState>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct MyWorkspaceGroupInfo {
    pub workspace_group_id: String,
    pub name: String,
    pub users: Vec<MyGroupUserInfo>,
    pub tags: Map,
    pub created_by: String,
    pub updated_by: String,
    pub created_at: String,
    pub updated_at: String,
    pub domain_id: String,
    /// The caller's role in the group, if it is a member.
    pub role_binding_info: Option<RoleBindingInfo>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct MyWorkspaceGroupsInfo {
    pub results: Vec<MyWorkspaceGroupInfo>,
    pub total_count: u64,
}

// ---------------------------------------------------------------------------------------------
// Token grant

/// Exchanges a refresh token for an access token scoped to the user, the domain, or a workspace,
/// with the role of the matching binding.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct GrantTokenRequest {
    /// `REFRESH_TOKEN` (the only grant type).
    pub grant_type: Option<String>,
    pub token: Secret,
    pub scope: Option<TokenScope>,
    pub workspace_id: Option<String>,
    pub timeout: Option<u64>,
}
