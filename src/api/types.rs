//! Enumerations shared by the wire contract and the domain model. On the wire they are their
//! SCREAMING_SNAKE_CASE names in JSON and variant indexes under bincode.

use serde::{Deserialize, Serialize};

macro_rules! wire_enum {
    ($(#[$m:meta])* $name:ident { $($variant:ident => $text:literal),* $(,)? }) => {
        $(#[$m])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
                 bincode::Encode, bincode::Decode, schemars::JsonSchema)]
        pub enum $name {
            $(#[serde(rename = $text)] $variant,)*
        }
        impl $name {
            /// The wire name.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text,)* }
            }
            /// Parses the wire name (exact, case-sensitive).
            pub fn parse(s: &str) -> Option<Self> {
                match s { $($text => Some($name::$variant),)* _ => None }
            }
        }
        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

wire_enum!(
    /// State of a user.
    UserState { Enabled => "ENABLED", Disabled => "DISABLED", Pending => "PENDING" }
);
wire_enum!(
    /// State of a domain.
    DomainState { Enabled => "ENABLED", Disabled => "DISABLED" }
);
wire_enum!(
    /// Kind of account.
    UserType { User => "USER", ApiUser => "API_USER" }
);
wire_enum!(
    /// Where the password lives (`auth_type` in v2).
    Backend { Local => "LOCAL", External => "EXTERNAL" }
);
wire_enum!(
    /// Actions a user must take at next login.
    RequiredAction { UpdatePassword => "UPDATE_PASSWORD", EnforceMfa => "ENFORCE_MFA" }
);
wire_enum!(
    /// MFA state.
    MfaState { Enabled => "ENABLED", Disabled => "DISABLED" }
);
wire_enum!(
    /// MFA method.
    MfaType { Email => "EMAIL", Otp => "OTP" }
);
wire_enum!(
    /// Role types (of roles, bindings, and a user's derived role).
    RoleType {
        SystemAdmin => "SYSTEM_ADMIN",
        DomainAdmin => "DOMAIN_ADMIN",
        WorkspaceOwner => "WORKSPACE_OWNER",
        WorkspaceMember => "WORKSPACE_MEMBER",
        User => "USER",
    }
);
wire_enum!(
    /// Scope of a role binding.
    ResourceGroup { Domain => "DOMAIN", Workspace => "WORKSPACE" }
);
wire_enum!(
    /// How Token.issue authenticates.
    AuthType { Local => "LOCAL", Mfa => "MFA" }
);
wire_enum!(
    /// State of a workspace (DELETED workspaces are hidden).
    WorkspaceState { Enabled => "ENABLED", Disabled => "DISABLED", Deleted => "DELETED" }
);
wire_enum!(
    /// Scope of a granted token.
    TokenScope { User => "USER", Domain => "DOMAIN", Workspace => "WORKSPACE" }
);
