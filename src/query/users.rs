//! The engine applied to a domain's users: `list`, `stat` and `find` of User v1.

use super::{Doc, EngineConfig, Query, QueryError, QueryErrorCode, StatQuery, run_query, run_stat};
use crate::api::*;
use crate::model::clock::{Millis, iso};
use crate::model::entities::{User, project_v1};
use crate::model::index::UserSnapshot;
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

/// A query the planner could not answer from the indexes: the engine must read every user.
/// It holds a point-in-time snapshot of the users (taking one copies a pointer per 1024
/// users), so it can run outside the domain actor while writes go on.
pub struct UserScan {
    users: UserSnapshot,
    domain_id: String,
    now: Millis,
}

impl UserScan {
    fn new(s: &DomainState, now: Millis) -> Self {
        UserScan {
            users: s.index.snapshot(),
            domain_id: s.domain.domain_id.clone(),
            now,
        }
    }

    fn docs(&self) -> Vec<UserDoc<'_>> {
        let domain_id = self.domain_id.as_str();
        self.users
            .users()
            .map(|user| UserDoc { user, domain_id })
            .collect()
    }

    /// v1 `list` over the snapshot.
    pub fn list(&self, q: &Query, max: usize) -> UsersInfo {
        let cfg = engine(max);
        let all = self.docs();
        let page = run_query(q, &all, self.now, &cfg);
        let users = page.results.into_iter().map(|d| d.user).collect();
        users_info(&self.domain_id, q, &cfg, users, page.total_count)
    }

    /// v1 `stat` over the snapshot.
    pub fn stat(&self, q: &StatQuery, max: usize) -> ApiResult<StatInfo> {
        let r = run_stat(q, &self.docs(), self.now, &engine(max))?;
        Ok(StatInfo {
            results: r.results,
            total_count: r.total_count,
        })
    }
}

/// An answer from the indexes, or the scan still to run (outside the actor).
pub enum Planned<T> {
    Done(T),
    Scan(UserScan),
}

/// v1 `list` as the domain actor runs it: the planner (`query::plan`) answers from the
/// indexes when it can; otherwise a [`UserScan`] is returned, to be run elsewhere.
pub fn list_users_planned(
    s: &DomainState,
    q: &Query,
    now: Millis,
    max: usize,
) -> Planned<UsersInfo> {
    let cfg = engine(max);
    match super::plan::list(s, q, now, &cfg) {
        Some(page) => Planned::Done(users_info(
            &s.domain.domain_id,
            q,
            &cfg,
            page.users,
            page.total_count,
        )),
        None => Planned::Scan(UserScan::new(s, now)),
    }
}

/// v1 `list`: filter, sort, page and project the domain's users (planned, or scanned in
/// place).
pub fn list_users(s: &DomainState, q: &Query, now: Millis, max: usize) -> UsersInfo {
    match list_users_planned(s, q, now, max) {
        Planned::Done(info) => info,
        Planned::Scan(scan) => scan.list(q, max),
    }
}

/// v1 `list` by the engine over every user, without the planner (the reference the planner
/// is tested against).
pub fn list_users_scan(s: &DomainState, q: &Query, now: Millis, max: usize) -> UsersInfo {
    UserScan::new(s, now).list(q, max)
}

fn users_info(
    domain_id: &str,
    q: &Query,
    cfg: &EngineConfig,
    users: Vec<&User>,
    total_count: u64,
) -> UsersInfo {
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

/// v1 `stat` as the domain actor runs it (see [`list_users_planned`]).
pub fn stat_users_planned(
    s: &DomainState,
    q: &StatQuery,
    now: Millis,
    max: usize,
) -> ApiResult<Planned<StatInfo>> {
    match super::plan::stat(s, q, now, &engine(max)) {
        Some(r) => {
            let r = r?;
            Ok(Planned::Done(StatInfo {
                results: r.results,
                total_count: r.total_count,
            }))
        }
        None => Ok(Planned::Scan(UserScan::new(s, now))),
    }
}

/// v1 `stat` (planned, or scanned in place).
pub fn stat_users(s: &DomainState, q: &StatQuery, now: Millis, max: usize) -> ApiResult<StatInfo> {
    match stat_users_planned(s, q, now, max)? {
        Planned::Done(info) => Ok(info),
        Planned::Scan(scan) => scan.stat(q, max),
    }
}

/// v1 `stat` by the engine over every user, without the planner.
pub fn stat_users_scan(
    s: &DomainState,
    q: &StatQuery,
    now: Millis,
    max: usize,
) -> ApiResult<StatInfo> {
    UserScan::new(s, now).stat(q, max)
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
