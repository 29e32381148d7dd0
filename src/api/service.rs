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
