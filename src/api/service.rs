//! The tarpc service, generated from the one method table [`with_methods!`]. The same table
//! generates the tarpc server's delegation and the HTTP gateway's routes, so a method cannot
//! exist on one transport without the other.

use super::ApiResult;
use super::messages::*;
use super::secret::Credential;

/// Calls `$cb!` with every API method as `name(Request) -> Response = "REST path";`.
/// Every method takes the caller's credential first (`Credential::none()` for +noauth calls).
#[macro_export]
macro_rules! with_methods {
    ($cb:ident) => {
        $cb! {
            domain_create(CreateDomainRequest) -> DomainInfo = "/identity/v2/domain/create";
            domain_get(DomainRequest) -> DomainInfo = "/identity/v2/domain/get";
            domain_list(ListDomainsRequest) -> DomainsInfo = "/identity/v2/domain/list";
            domain_enable(DomainRequest) -> DomainInfo = "/identity/v2/domain/enable";
            domain_disable(DomainRequest) -> DomainInfo = "/identity/v2/domain/disable";
            domain_delete(DomainRequest) -> Empty = "/identity/v2/domain/delete";

            user_create(CreateUserRequest) -> UserInfo = "/identity/v1/user/create";
            user_update(UpdateUserRequest) -> UserInfo = "/identity/v1/user/update";
            user_set_required_actions(SetRequiredActionsRequest) -> UserInfo = "/identity/v1/user/set-required-actions";
            user_enable(UserRequest) -> UserInfo = "/identity/v1/user/enable";
            user_disable(UserRequest) -> UserInfo = "/identity/v1/user/disable";
            user_delete(UserRequest) -> Empty = "/identity/v1/user/delete";
            user_get(GetUserRequest) -> UserInfo = "/identity/v1/user/get";
            user_list(UserQuery) -> UsersInfo = "/identity/v1/user/list";
            user_stat(UserStatQuery) -> StatInfo = "/identity/v1/user/stat";
            user_find(FindUserQuery) -> FindUsersInfo = "/identity/v1/user/find";
            user_sync(UserRequest) -> UserInfo = "/identity/v1/user/sync";
            user_verify_email(VerifyEmailRequest) -> Empty = "/identity/v1/user/verify-email";
            user_confirm_email(ConfirmEmailRequest) -> UserInfo = "/identity/v1/user/confirm-email";
            user_reset_password(UserRequest) -> Empty = "/identity/v1/user/reset-password";
            user_enable_mfa(EnableMfaRequest) -> UserInfo = "/identity/v1/user/enable-mfa";
            user_disable_mfa(DisableMfaRequest) -> UserInfo = "/identity/v1/user/disable-mfa";
            user_confirm_mfa(ConfirmMfaRequest) -> UserInfo = "/identity/v1/user/confirm-mfa";

            user_profile_update_password(UpdatePasswordRequest) -> ProfileInfo = "/identity/v2/user-profile/update-password";
            user_profile_reset_password(UserPasswordResetRequest) -> Empty = "/identity/v2/user-profile/reset-password";

            token_issue(IssueTokenRequest) -> TokenInfo = "/identity/v2/token/issue";
            token_refresh(RefreshTokenRequest) -> TokenInfo = "/identity/v2/token/refresh";
            token_public_key(Empty) -> PublicKeyInfo = "/identity/v2/token/public-key";

            token_grant(GrantTokenRequest) -> TokenInfo = "/identity/v2/token/grant";

            user_profile_update(UpdateUserProfileRequest) -> ProfileInfo = "/identity/v2/user-profile/update";
            user_profile_verify_email(ProfileVerifyEmailRequest) -> Empty = "/identity/v2/user-profile/verify-email";
            user_profile_confirm_email(ProfileConfirmRequest) -> ProfileInfo = "/identity/v2/user-profile/confirm-email";
            user_profile_enable_mfa(ProfileEnableMfaRequest) -> ProfileInfo = "/identity/v2/user-profile/enable-mfa";
            user_profile_disable_mfa(Empty) -> ProfileInfo = "/identity/v2/user-profile/disable-mfa";
            user_profile_confirm_mfa(ProfileConfirmRequest) -> ProfileInfo = "/identity/v2/user-profile/confirm-mfa";
            user_profile_get(UserProfileRequest) -> ProfileInfo = "/identity/v2/user-profile/get";
            user_profile_get_workspaces(UserProfileRequest) -> MyWorkspacesInfo = "/identity/v2/user-profile/get-workspaces";
            user_profile_get_workspace_groups(Empty) -> MyWorkspaceGroupsInfo = "/identity/v2/user-profile/get-workspace-groups";

            workspace_create(CreateWorkspaceRequest) -> WorkspaceInfo = "/identity/v2/workspace/create";
            workspace_update(UpdateWorkspaceRequest) -> WorkspaceInfo = "/identity/v2/workspace/update";
            workspace_enable(WorkspaceRequest) -> WorkspaceInfo = "/identity/v2/workspace/enable";
            workspace_disable(WorkspaceRequest) -> WorkspaceInfo = "/identity/v2/workspace/disable";
            workspace_delete(WorkspaceRequest) -> Empty = "/identity/v2/workspace/delete";
            workspace_get(WorkspaceRequest) -> WorkspaceInfo = "/identity/v2/workspace/get";
            workspace_list(ListWorkspacesRequest) -> WorkspacesInfo = "/identity/v2/workspace/list";

            workspace_group_create(CreateWorkspaceGroupRequest) -> WorkspaceGroupInfo = "/identity/v2/workspace-group/create";
            workspace_group_update(UpdateWorkspaceGroupRequest) -> WorkspaceGroupInfo = "/identity/v2/workspace-group/update";
            workspace_group_add_users(WorkspaceGroupUsersRequest) -> WorkspaceGroupInfo = "/identity/v2/workspace-group/add-users";
            workspace_group_remove_users(WorkspaceGroupUsersRequest) -> WorkspaceGroupInfo = "/identity/v2/workspace-group/remove-users";
            workspace_group_delete(WorkspaceGroupRequest) -> Empty = "/identity/v2/workspace-group/delete";
            workspace_group_get(WorkspaceGroupRequest) -> WorkspaceGroupInfo = "/identity/v2/workspace-group/get";
            workspace_group_list(ListWorkspaceGroupsRequest) -> WorkspaceGroupsInfo = "/identity/v2/workspace-group/list";

            role_create(CreateRoleRequest) -> RoleInfo = "/identity/v2/role/create";
            role_delete(RoleRequest) -> Empty = "/identity/v2/role/delete";
            role_list(ListRolesRequest) -> RolesInfo = "/identity/v2/role/list";

            role_binding_create(CreateRoleBindingRequest) -> RoleBindingInfo = "/identity/v2/role-binding/create";
            role_binding_delete(RoleBindingRequest) -> Empty = "/identity/v2/role-binding/delete";
            role_binding_list(ListRoleBindingsRequest) -> RoleBindingsInfo = "/identity/v2/role-binding/list";

            system_snapshot(Empty) -> SnapshotInfo = "/identity/v2/system/snapshot";
        }
    };
}

macro_rules! define_service {
    ($($name:ident($req:ty) -> $resp:ty = $path:literal;)*) => {
        /// All identityd calls. Method names are `<service>_<verb>`.
        #[tarpc::service]
        pub trait Identity {
            /// No-op round trip: the in-run physical baseline of the benchmarks.
            async fn ping() -> ();
            $(async fn $name(cred: Credential, req: $req) -> ApiResult<$resp>;)*
        }

        /// Every method's name and REST path, in table order.
        pub const METHODS: &[(&str, &str)] = &[$((stringify!($name), $path),)*];
    };
}

with_methods!(define_service);
