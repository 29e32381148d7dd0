//! The engine applied to a domain's users: `list`, `stat` and `find` of User v1.

use super::{Doc, EngineConfig, Query, QueryError, QueryErrorCode, StatQuery, run_query, run_stat};
use crate::api::*;
use crate::model::clock::{Millis, iso};
use crate::model::entities::{User, project_v1};
use crate::model::state::DomainState;
use std::borrow::Cow;

/// A user as the engine sees it (with its domain, which the record does not repeat).
pub struct UserDoc<'a> {
    pub user: &'a User,
    pub domain_id: &'a str,
}

fn s(v: &str) -> Option<Cow<'static, Value>> {
    Some(Cow::Owned(Value::String(v.to_owned())))
}

fn time(ms: Option<Millis>) -> Option<Cow<'static, Value>> {
    ms.map(|t| Cow::Owned(Value::String(iso(t))))
}

impl UserDoc<'_> {
    fn mfa_value(&self) -> Value {
        let m = self.user.mfa_info();
        let mut o = Map::new();
        o.insert("state".into(), Value::from(m.state.as_str()));
        o.insert(
            "mfa_type".into(),
            m.mfa_type.map_or(Value::Null, |t| Value::from(t.as_str())),
        );
        o.insert("options".into(), Value::Object(m.options));
        Value::Object(o)
    }
}

impl Doc for UserDoc<'_> {
    fn field(&self, path: &str) -> Option<Cow<'_, Value>> {
        let u = self.user;
        let (head, rest) = match path.split_once('.') {
            Some((h, r)) => (h, Some(r)),
            None => (path, None),
        };
        if let Some(rest) = rest {
            return match head {
                "tags" => {
                    let mut parts = rest.split('.');
                    let first = u.tags.get(parts.next()?)?;
                    parts.try_fold(first, |v, k| v.get(k)).map(Cow::Borrowed)
                }
                "mfa" => self.mfa_value().pointer(rest).cloned().map(Cow::Owned),
                _ => None,
            };
        }
        match head {
            "user_id" => s(&u.user_id),
            "name" => s(&u.name),
            "state" => s(u.state.as_str()),
            "email" => s(&u.email),
            "email_verified" => Some(Cow::Owned(Value::Bool(u.email_verified))),
            "user_type" => s(u.user_type.as_str()),
            "backend" | "auth_type" => s(u.backend.as_str()),
            "language" => s(&u.language),
            "timezone" => s(&u.timezone),
            "required_actions" => Some(Cow::Owned(Value::List(
                u.required_actions
                    .iter()
                    .map(|a| Value::from(a.as_str()))
                    .collect(),
            ))),
            "tags" => Some(Cow::Owned(Value::Object(u.tags.clone()))),
            "mfa" => Some(Cow::Owned(self.mfa_value())),
            "role_type" => s(u.role_type.as_str()),
            "role_id" => u.role_id.as_deref().and_then(s),
            "last_accessed_at" => time(u.last_accessed_at),
            "created_at" => time(Some(u.created_at)),
            "updated_at" => time(Some(u.updated_at)),
            "domain_id" => s(self.domain_id),
            _ => None,
        }
    }

    fn to_value(&self) -> Value {
        const FIELDS: &[&str] = &[
            "user_id",
            "name",
            "state",
            "email",
            "email_verified",
            "user_type",
            "backend",
            "language",
            "timezone",
            "required_actions",
            "tags",
            "mfa",
            "role_type",
            "role_id",
            "last_accessed_at",
            "created_at",
            "updated_at",
            "domain_id",
        ];
        let mut o = Map::new();
        for f in FIELDS {
            let v = self.field(f).map_or(Value::Null, Cow::into_owned);
            o.insert((*f).to_owned(), v);
        }
        Value::Object(o)
    }
}

impl From<QueryError> for ApiError {
    fn from(e: QueryError) -> Self {
        let code = match e.code {
            QueryErrorCode::DbQuery => ErrorCode::DbQuery,
            QueryErrorCode::OperatorValueType => ErrorCode::OperatorValueType,
            QueryErrorCode::OperatorListValueType => ErrorCode::OperatorListValueType,
            QueryErrorCode::OperatorBooleanType => ErrorCode::OperatorBooleanType,
            QueryErrorCode::RequiredParameter => ErrorCode::RequiredParameter,
            QueryErrorCode::InvalidParameter => ErrorCode::InvalidParameter,
        };
        ApiError::new(code, e.message)
    }
}

fn engine(max_list_results: usize) -> EngineConfig {
    EngineConfig {
        max_list_results,
        ..EngineConfig::default()
    }
}

fn docs(s: &DomainState) -> Vec<UserDoc<'_>> {
    let domain_id = s.domain.domain_id.as_str();
    s.users
        .values()
        .map(|user| UserDoc { user, domain_id })
        .collect()
}

/// Parses and validates a v1 `list` request (before it is sent to the domain actor).
pub fn parse_list(req: &UserQuery) -> ApiResult<Query> {
    let mut q = match &req.query {
        Some(v) if !v.is_null() => Query::parse(v)?,
        _ => Query::default(),
    };
    let top: [(&str, Option<Value>); 6] = [
        ("user_id", req.user_id.clone().map(Value::from)),
        ("name", req.name.clone().map(Value::from)),
        ("state", req.state.map(|v| Value::from(v.as_str()))),
        ("email", req.email.clone().map(Value::from)),
        ("user_type", req.user_type.map(|v| Value::from(v.as_str()))),
        ("backend", req.backend.map(|v| Value::from(v.as_str()))),
    ];
    for (k, v) in top {
        if let Some(v) = v {
            q.and_eq(k, v);
        }
    }
    Ok(q)
}

/// v1 `list`: filter, sort, page and project the domain's users. The planner
/// (`query::plan`) answers from the indexes when it can; otherwise the engine reads every user
/// ([`list_users_scan`]).
pub fn list_users(s: &DomainState, q: &Query, now: Millis, max: usize) -> UsersInfo {
    let cfg = engine(max);
    match super::plan::list(s, q, now, &cfg) {
        Some(page) => users_info(s, q, &cfg, page.users, page.total_count),
        None => list_users_scan(s, q, now, max),
    }
}

/// v1 `list` by the engine over every user, without the planner (the reference the planner
/// is tested against).
pub fn list_users_scan(s: &DomainState, q: &Query, now: Millis, max: usize) -> UsersInfo {
    let cfg = engine(max);
    let all = docs(s);
    let page = run_query(q, &all, now, &cfg);
    let users = page.results.into_iter().map(|d| d.user).collect();
    users_info(s, q, &cfg, users, page.total_count)
}

fn users_info(
    s: &DomainState,
    q: &Query,
    cfg: &EngineConfig,
    users: Vec<&User>,
    total_count: u64,
) -> UsersInfo {
    let domain_id = s.domain.domain_id.as_str();
    let fields = q.projection(cfg);
    let results = users
        .into_iter()
        .map(|u| {
            let info = u.info_v1(domain_id);
            match &fields {
                Some(f) => project_v1(info, f),
                None => info,
            }
        })
        .collect();
    UsersInfo {
        results,
        total_count,
    }
}

/// v1 `stat` (planned like [`list_users`]).
pub fn stat_users(s: &DomainState, q: &StatQuery, now: Millis, max: usize) -> ApiResult<StatInfo> {
    let cfg = engine(max);
    let r = match super::plan::stat(s, q, now, &cfg) {
        Some(r) => r?,
        None => run_stat(q, &docs(s), now, &cfg)?,
    };
    Ok(StatInfo {
        results: r.results,
        total_count: r.total_count,
    })
}

/// v1 `stat` by the engine over every user, without the planner.
pub fn stat_users_scan(
    s: &DomainState,
    q: &StatQuery,
    now: Millis,
    max: usize,
) -> ApiResult<StatInfo> {
    let r = run_stat(q, &docs(s), now, &engine(max))?;
    Ok(StatInfo {
        results: r.results,
        total_count: r.total_count,
    })
}

/// v1 `find`: an exact `user_id`, or any keyword word as a case-insensitive substring of
/// `user_id`, `name` or `email`; at most `max` results, ordered by user_id.
pub fn find_users(s: &DomainState, search: &FindSearch, max: usize) -> ApiResult<FindUsersInfo> {
    let row = |u: &User| FindUserInfo {
        user_id: u.user_id.clone(),
        name: u.name.clone(),
        email: u.email.clone(),
        tags: u.tags.clone(),
    };
    let mut found: Vec<&User> = match (&search.user_id, &search.keyword) {
        (Some(id), _) if !id.is_empty() => s.users.get(id).into_iter().collect(),
        (_, Some(k)) if !k.trim().is_empty() => {
            let words: Vec<String> = k.split_whitespace().map(str::to_lowercase).collect();
            if let Some(found) = super::plan::find_keyword(s, &words) {
                let total_count = found.len() as u64;
                return Ok(FindUsersInfo {
                    results: found.into_iter().take(max).map(row).collect(),
                    total_count,
                });
            }
            let hit = |field: &str| {
                let f = field.to_lowercase();
                words.iter().any(|w| f.contains(w.as_str()))
            };
            s.users
                .values()
                .filter(|u| hit(&u.user_id) || hit(&u.name) || hit(&u.email))
                .collect()
        }
        _ => return Err(ApiError::required("search.keyword | search.user_id")),
    };
    found.sort_by(|a, b| a.user_id.cmp(&b.user_id));
    let total_count = found.len() as u64;
    Ok(FindUsersInfo {
        results: found.into_iter().take(max).map(row).collect(),
        total_count,
    })
}
