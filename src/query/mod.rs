//! The query engine over a domain's in-memory users (SPEC section 7).

use crate::api::*;
use crate::model::clock::Millis;
use crate::model::entities::{User, project_v1};
use crate::model::state::DomainState;

/// v1 `list`: top-level fields become `eq` filters, then the query applies; default order is
/// name, then user_id.
pub fn list_users(
    s: &DomainState,
    req: &UserQuery,
    _now: Millis,
    max: usize,
) -> ApiResult<UsersInfo> {
    let q = req.query.clone().unwrap_or(Value::Null);
    for unsupported in ["filter", "filter_or", "keyword", "sort"] {
        if q.get(unsupported).is_some() {
            return Err(ApiError::new(
                ErrorCode::DbQuery,
                format!("Query is invalid. (reason = {unsupported} is not supported yet)"),
            ));
        }
    }
    let keep = |u: &User| {
        req.user_id.as_ref().is_none_or(|v| *v == u.user_id)
            && req.name.as_ref().is_none_or(|v| *v == u.name)
            && req.state.is_none_or(|v| v == u.state)
            && req.email.as_ref().is_none_or(|v| *v == u.email)
            && req.user_type.is_none_or(|v| v == u.user_type)
            && req.backend.is_none_or(|v| v == u.backend)
    };
    let matching: Vec<&User> = s
        .by_name
        .iter()
        .filter_map(|(_, id)| s.users.get(id))
        .filter(|u| keep(u))
        .collect();
    let total_count = matching.len() as u64;
    let page = q.get("page");
    let start = page
        .and_then(|p| p.get("start"))
        .and_then(Value::as_i64)
        .unwrap_or(1)
        .max(1) as usize;
    let limit = page
        .and_then(|p| p.get("limit"))
        .and_then(Value::as_i64)
        .unwrap_or(0)
        .max(0) as usize;
    let (skip, take) = if limit > 0 {
        (start - 1, limit)
    } else {
        (0, max)
    };
    if q.get("count_only").and_then(Value::as_bool) == Some(true) {
        return Ok(UsersInfo {
            results: vec![],
            total_count,
        });
    }
    let fields: Option<Vec<String>> = if q.get("minimal").and_then(Value::as_bool) == Some(true) {
        Some(
            crate::model::entities::MINIMAL_FIELDS
                .iter()
                .map(|s| s.to_string())
                .collect(),
        )
    } else {
        q.get("only").and_then(Value::as_list).map(|l| {
            l.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
    };
    let results = matching
        .into_iter()
        .skip(skip)
        .take(take)
        .map(|u| {
            let info = u.info_v1(&s.domain.domain_id);
            match &fields {
                Some(f) => project_v1(info, f),
                None => info,
            }
        })
        .collect();
    Ok(UsersInfo {
        results,
        total_count,
    })
}
