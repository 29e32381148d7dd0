//! Errors raised while parsing or running a query, with Cloudforet's codes and messages.

use crate::api::value::Value;
use std::fmt;

/// The Cloudforet error code of a [`QueryError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum QueryErrorCode {
    /// `ERROR_DB_QUERY`: malformed condition, unknown operator/stage/group operator, invalid
    /// regex/datetime/timediff value.
    DbQuery,
    /// `ERROR_OPERATOR_VALUE_TYPE`: a list value given to a scalar operator.
    OperatorValueType,
    /// `ERROR_OPERATOR_LIST_VALUE_TYPE`: a non-list value given to a list operator.
    OperatorListValueType,
    /// `ERROR_OPERATOR_BOOLEAN_TYPE`: a non-bool value given to `exists`.
    OperatorBooleanType,
    /// `ERROR_REQUIRED_PARAMETER`: a required part is missing (e.g. `key = aggregate`).
    RequiredParameter,
    /// `ERROR_INVALID_PARAMETER`: the query object itself has a field of the wrong shape.
    InvalidParameter,
}

impl QueryErrorCode {
    /// The Cloudforet name of the code, e.g. `ERROR_DB_QUERY`.
    pub fn as_str(&self) -> &'static str {
        match self {
            QueryErrorCode::DbQuery => "ERROR_DB_QUERY",
            QueryErrorCode::OperatorValueType => "ERROR_OPERATOR_VALUE_TYPE",
            QueryErrorCode::OperatorListValueType => "ERROR_OPERATOR_LIST_VALUE_TYPE",
            QueryErrorCode::OperatorBooleanType => "ERROR_OPERATOR_BOOLEAN_TYPE",
            QueryErrorCode::RequiredParameter => "ERROR_REQUIRED_PARAMETER",
            QueryErrorCode::InvalidParameter => "ERROR_INVALID_PARAMETER",
        }
    }
}

impl fmt::Display for QueryErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A query error: a Cloudforet code plus a human message in Cloudforet's style.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct QueryError {
    /// The error code.
    pub code: QueryErrorCode,
    /// The human-readable message, e.g. `Query is invalid. (reason = unknown operator 'foo')`.
    pub message: String,
}

impl QueryError {
    /// `ERROR_DB_QUERY` with the given reason.
    pub fn db_query(reason: impl fmt::Display) -> Self {
        QueryError {
            code: QueryErrorCode::DbQuery,
            message: format!("Query is invalid. (reason = {reason})"),
        }
    }

    /// `ERROR_OPERATOR_VALUE_TYPE` for `operator` in `condition`.
    pub fn operator_value_type(operator: &str, condition: &Value) -> Self {
        QueryError {
            code: QueryErrorCode::OperatorValueType,
            message: format!(
                "The value of '{operator} operator' does not support list type. ({})",
                render(condition)
            ),
        }
    }

    /// `ERROR_OPERATOR_LIST_VALUE_TYPE` for `operator` in `condition`.
    pub fn operator_list_value_type(operator: &str, condition: &Value) -> Self {
        QueryError {
            code: QueryErrorCode::OperatorListValueType,
            message: format!(
                "The value of '{operator} operator' must be a list type. ({})",
                render(condition)
            ),
        }
    }

    /// `ERROR_OPERATOR_BOOLEAN_TYPE` for `operator` in `condition`.
    pub fn operator_boolean_type(operator: &str, condition: &Value) -> Self {
        QueryError {
            code: QueryErrorCode::OperatorBooleanType,
            message: format!(
                "The value of '{operator} operator' must be a boolean type. ({})",
                render(condition)
            ),
        }
    }

    /// `ERROR_REQUIRED_PARAMETER(key = ...)`.
    pub fn required_parameter(key: &str) -> Self {
        QueryError {
            code: QueryErrorCode::RequiredParameter,
            message: format!("Required parameter. (key = {key})"),
        }
    }

    /// `ERROR_INVALID_PARAMETER(key = ..., reason = ...)`.
    pub fn invalid_parameter(key: &str, reason: impl fmt::Display) -> Self {
        QueryError {
            code: QueryErrorCode::InvalidParameter,
            message: format!("Parameter is invalid. (key = {key}, reason = {reason})"),
        }
    }
}

/// Compact JSON text of a value, for messages.
pub(crate) fn render(v: &Value) -> String {
    v.to_json().to_string()
}
