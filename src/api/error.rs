//! Typed errors carrying Cloudforet's code, status and message (SPEC section 8).

use serde::{Deserialize, Serialize};
use std::fmt;

/// gRPC-style status of an error; the HTTP gateway maps it to a status code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Status {
    InvalidArgument,
    NotFound,
    AlreadyExists,
    PermissionDenied,
    Unauthenticated,
    ResourceExhausted,
    Unavailable,
    Internal,
}

impl Status {
    /// HTTP status code of SPEC section 8.
    pub fn http_code(self) -> u16 {
        match self {
            Status::InvalidArgument => 400,
            Status::Unauthenticated => 401,
            Status::PermissionDenied => 403,
            Status::NotFound => 404,
            Status::AlreadyExists => 409,
            Status::ResourceExhausted => 429,
            Status::Internal => 500,
            Status::Unavailable => 503,
        }
    }
}

macro_rules! error_codes {
    ($($variant:ident => $name:literal, $status:ident;)*) => {
        /// Cloudforet error codes used by identityd.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
        pub enum ErrorCode { $($variant,)* }
        impl ErrorCode {
            /// The wire name, e.g. `ERROR_NOT_FOUND`.
            pub fn as_str(self) -> &'static str {
                match self { $(ErrorCode::$variant => $name,)* }
            }
            /// The status every occurrence of this code carries.
            pub fn status(self) -> Status {
                match self { $(ErrorCode::$variant => Status::$status,)* }
            }
            /// Every code, for documentation and tests.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant,)*];
        }
    };
}

error_codes! {
    NotFound => "ERROR_NOT_FOUND", NotFound;
    RequiredParameter => "ERROR_REQUIRED_PARAMETER", InvalidArgument;
    InvalidParameter => "ERROR_INVALID_PARAMETER", InvalidArgument;
    SaveUniqueValues => "ERROR_SAVE_UNIQUE_VALUES", AlreadyExists;
    IncorrectPasswordFormat => "ERROR_INCORRECT_PASSWORD_FORMAT", InvalidArgument;
    IncorrectUserIdFormat => "ERROR_INCORRECT_USER_ID_FORMAT", InvalidArgument;
    IncorrectEmailFormat => "ERROR_INCORRECT_EMAIL_FORMAT", InvalidArgument;
    PasswordNotChanged => "ERROR_PASSWORD_NOT_CHANGED", InvalidArgument;
    PasswordNotMatched => "ERROR_PASSWORD_NOT_MATCHED", InvalidArgument;
    InvalidVerifyCode => "ERROR_INVALID_VERIFY_CODE", InvalidArgument;
    VerificationUnavailable => "ERROR_VERIFICATION_UNAVAILABLE", InvalidArgument;
    NotAllowedActions => "ERROR_NOT_ALLOWED_ACTIONS", InvalidArgument;
    MfaAlreadyEnabled => "ERROR_MFA_ALREADY_ENABLED", InvalidArgument;
    MfaAlreadyDisabled => "ERROR_MFA_ALREADY_DISABLED", InvalidArgument;
    MfaNotEnabled => "ERROR_MFA_NOT_ENABLED", InvalidArgument;
    NotSupportedMfaType => "ERROR_NOT_SUPPORTED_MFA_TYPE", InvalidArgument;
    MfaRequired => "ERROR_MFA_REQUIRED", Unauthenticated;
    AuthenticateFailure => "ERROR_AUTHENTICATE_FAILURE", Unauthenticated;
    AuthenticationFailure => "ERROR_AUTHENTICATION_FAILURE", Unauthenticated;
    PermissionDenied => "ERROR_PERMISSION_DENIED", PermissionDenied;
    LoginBlocked => "ERROR_LOGIN_BLOCKED", Unauthenticated;
    UserStateDisabled => "ERROR_USER_STATE_DISABLED", InvalidArgument;
    DomainState => "ERROR_DOMAIN_STATE", InvalidArgument;
    LastAdminCannotDisabledDeleted => "ERROR_LAST_ADMIN_CANNOT_DISABLED_DELETED", InvalidArgument;
    NotAllowedExternalAuthentication => "ERROR_NOT_ALLOWED_EXTERNAL_AUTHENTICATION", InvalidArgument;
    ExternalUserNotAllowedApiUser => "ERROR_EXTERNAL_USER_NOT_ALLOWED_API_USER", InvalidArgument;
    UnableToResetPasswordWithoutEmail => "ERROR_UNABLE_TO_RESET_PASSWORD_WITHOUT_EMAIL", InvalidArgument;
    UnableToResetPasswordInExternalAuth => "ERROR_UNABLE_TO_RESET_PASSWORD_IN_EXTERNAL_AUTH", InvalidArgument;
    DbQuery => "ERROR_DB_QUERY", InvalidArgument;
    OperatorValueType => "ERROR_OPERATOR_VALUE_TYPE", InvalidArgument;
    OperatorListValueType => "ERROR_OPERATOR_LIST_VALUE_TYPE", InvalidArgument;
    OperatorBooleanType => "ERROR_OPERATOR_BOOLEAN_TYPE", InvalidArgument;
    RequestTooLarge => "ERROR_REQUEST_TOO_LARGE", InvalidArgument;
    ResourceExhausted => "ERROR_RESOURCE_EXHAUSTED", ResourceExhausted;
    TooManyRequests => "ERROR_TOO_MANY_REQUESTS", ResourceExhausted;
    Unavailable => "ERROR_UNAVAILABLE", Unavailable;
    Unknown => "ERROR_UNKNOWN", Internal;
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error as every transport reports it: code, status (derived from the code) and message.
/// Messages never contain secrets; constructors take only non-secret parameters.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError {
            code,
            message: message.into(),
        }
    }
    pub fn status(&self) -> Status {
        self.code.status()
    }

    pub fn not_found(key: &str, value: &str) -> Self {
        Self::new(
            ErrorCode::NotFound,
            format!("Resource cannot be found or access is denied. ({key} = {value})"),
        )
    }
    pub fn required(key: &str) -> Self {
        Self::new(
            ErrorCode::RequiredParameter,
            format!("Required parameter. (key = {key})"),
        )
    }
    pub fn invalid(key: &str, reason: &str) -> Self {
        Self::new(
            ErrorCode::InvalidParameter,
            format!("Parameter is invalid. (key = {key}, reason = {reason})"),
        )
    }
    pub fn unique(key: &str, value: &str) -> Self {
        Self::new(
            ErrorCode::SaveUniqueValues,
            format!("Duplicate value, please check the input value. ({key} = {value})"),
        )
    }
    pub fn authenticate() -> Self {
        Self::new(
            ErrorCode::AuthenticateFailure,
            "Authenticate failure. (message = missing or invalid credential)",
        )
    }
    pub fn authentication() -> Self {
        Self::new(
            ErrorCode::AuthenticationFailure,
            "Authentication failure. (message = wrong user_id or password)",
        )
    }
    pub fn permission_denied() -> Self {
        Self::new(ErrorCode::PermissionDenied, "Permission denied.")
    }
    pub fn domain_state(domain_id: &str) -> Self {
        Self::new(
            ErrorCode::DomainState,
            format!("Domain is disabled. (domain_id = {domain_id})"),
        )
    }
    pub fn not_allowed_action(action: &str) -> Self {
        Self::new(
            ErrorCode::NotAllowedActions,
            format!("Not allowed actions. (action = {action})"),
        )
    }
    /// An internal fault: the detail is logged by the caller, never sent.
    pub fn internal() -> Self {
        Self::new(ErrorCode::Unknown, "Internal error.")
    }
    pub fn unavailable(reason: &str) -> Self {
        Self::new(
            ErrorCode::Unavailable,
            format!("Service unavailable. ({reason})"),
        )
    }
    pub fn exhausted(what: &str) -> Self {
        Self::new(
            ErrorCode::ResourceExhausted,
            format!("Too many requests. (resource = {what})"),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_follow_spec_section_8() {
        use ErrorCode::*;
        assert_eq!(NotFound.status(), Status::NotFound);
        assert_eq!(SaveUniqueValues.status(), Status::AlreadyExists);
        for c in [
            AuthenticateFailure,
            AuthenticationFailure,
            LoginBlocked,
            MfaRequired,
        ] {
            assert_eq!(c.status(), Status::Unauthenticated, "{c}");
        }
        assert_eq!(PermissionDenied.status(), Status::PermissionDenied);
        assert_eq!(Unknown.status(), Status::Internal);
        for c in [
            UserStateDisabled,
            DomainState,
            IncorrectPasswordFormat,
            InvalidVerifyCode,
        ] {
            assert_eq!(c.status(), Status::InvalidArgument, "{c}");
        }
        assert_eq!(Status::PermissionDenied.http_code(), 403);
        assert_eq!(Status::AlreadyExists.http_code(), 409);
    }

    #[test]
    fn codes_have_unique_names() {
        let mut names: Vec<_> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
        names.sort_unstable();
        let n = names.len();
        names.dedup();
        assert_eq!(n, names.len());
        assert!(names.iter().all(|n| n.starts_with("ERROR_")));
    }
}
