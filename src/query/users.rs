//! The engine applied to a domain's users: `list`, `stat` and `find` of User v1.

use super::budget::{Budget, Deadline, Meter, ParseLimits, approx_bytes, parses_inline};
use super::plan::{Gathered, ListPlan, StatPlan};
use super::stat::run_stat_metered;
use super::{
    Doc, EngineConfig, Query, QueryError, QueryErrorCode, StatQuery, StatResult, run_query_metered,
};
use crate::api::*;
use crate::model::clock::{Millis, iso};
use crate::model::entities::{User, project_v1};
use crate::model::index::UserSnapshot;
use crate::model::state::DomainState;
use std::borrow::Cow;
use std::sync::Arc;

/// Queries up to this size (estimated as JSON) without a regex are parsed where they arrive;
/// parsing one takes microseconds (measured: tests/security_query.rs).
pub const INLINE_PARSE_BYTES: usize = 4096;

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

/// A request's query, or `Null`.
fn raw(v: &Option<Value>) -> &Value {
    v.as_ref().unwrap_or(&Value::Null)
}

/// Whether a v1 `list` request's query is small enough to parse where it arrives (a
/// transport thread): at most [`INLINE_PARSE_BYTES`] and no regex. Others are parsed on the
/// scan pool.
pub fn list_parses_inline(req: &UserQuery) -> bool {
    parses_inline(raw(&req.query), INLINE_PARSE_BYTES)
}

/// [`list_parses_inline`] for `stat`.
pub fn stat_parses_inline(req: &UserStatQuery) -> bool {
    parses_inline(&req.query, INLINE_PARSE_BYTES)
}

/// Parses and validates a v1 `list` request (before it is sent to the domain actor).
pub fn parse_list(req: &UserQuery) -> ApiResult<Query> {
    parse_list_with(req, &ParseLimits::default())
}

/// [`parse_list`] within `limits`.
pub fn parse_list_with(req: &UserQuery, limits: &ParseLimits) -> ApiResult<Query> {
    let mut q = match &req.query {
        Some(v) if !v.is_null() => Query::parse_with(v, limits)?,
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

/// The keyword words of a v1 `find`, lower-cased, within `limits` (`None`: by user_id).
pub fn find_words(search: &FindSearch, limits: &ParseLimits) -> ApiResult<Option<Vec<String>>> {
    if search.user_id.as_ref().is_some_and(|id| !id.is_empty()) {
        return Ok(None);
    }
    let Some(k) = search.keyword.as_ref().filter(|k| !k.trim().is_empty()) else {
        return Err(ApiError::required("search.keyword | search.user_id"));
    };
    let exceeded = |what: &str, limit: usize, flag: &str| -> ApiError {
        super::budget::exceeded(what, limit, flag).into()
    };
    let mut words = Vec::new();
    for w in k.split_whitespace() {
        if limits.max_patterns > 0 && words.len() >= limits.max_patterns {
            return Err(exceeded(
                "patterns (keyword words)",
                limits.max_patterns,
                "query-max-patterns",
            ));
        }
        if limits.max_pattern_bytes > 0 && w.len() > limits.max_pattern_bytes {
            return Err(exceeded(
                "bytes of one pattern",
                limits.max_pattern_bytes,
                "query-max-pattern-bytes",
            ));
        }
        words.push(w.to_lowercase());
    }
    Ok(Some(words))
}

/// What the engine reads.
enum Work {
    /// Every user (a point-in-time snapshot).
    All(UserSnapshot),
    /// A superset of the matches, in slot order.
    Some(Vec<Arc<User>>),
    /// `list`: the page itself (ordered), and the number of matches.
    Page(Vec<Arc<User>>, u64),
}

/// A query the domain actor planned but did not run: the engine's work over a point-in-time
/// copy of the users it needs (every user as a snapshot, taking one copies a pointer per 1024
/// users; or the candidates' shared records), to run outside the actor while writes go on.
pub struct UserScan {
    work: Work,
    domain_id: String,
    now: Millis,
}

impl UserScan {
    fn new(s: &DomainState, now: Millis, g: Gathered) -> Self {
        UserScan {
            work: match g {
                Gathered::All => Work::All(s.index.snapshot()),
                Gathered::Some(users) => Work::Some(users),
            },
            domain_id: s.domain.domain_id.clone(),
            now,
        }
    }

    fn page(s: &DomainState, now: Millis, users: Vec<Arc<User>>, total: u64) -> Self {
        UserScan {
            work: Work::Page(users, total),
            domain_id: s.domain.domain_id.clone(),
            now,
        }
    }

    fn docs(&self) -> Vec<UserDoc<'_>> {
        let domain_id = self.domain_id.as_str();
        match &self.work {
            Work::All(snap) => snap
                .users()
                .map(|user| UserDoc { user, domain_id })
                .collect(),
            Work::Some(users) | Work::Page(users, _) => users
                .iter()
                .map(|u| UserDoc {
                    user: u.as_ref(),
                    domain_id,
                })
                .collect(),
        }
    }

    /// v1 `list` over the snapshot, without a budget.
    pub fn list(&self, q: &Query, max: usize) -> UsersInfo {
        self.list_with(q, max, &Budget::unlimited(), None)
            .unwrap_or_default()
    }

    /// v1 `list` within `budget` (and `deadline`).
    pub fn list_with(
        &self,
        q: &Query,
        max: usize,
        budget: &Budget,
        deadline: Option<Deadline>,
    ) -> ApiResult<UsersInfo> {
        let cfg = engine(max);
        let meter = Meter::new(budget, deadline);
        if let Work::Page(users, total) = &self.work {
            let users = users.iter().map(Arc::as_ref).collect();
            return users_info(&self.domain_id, q, &cfg, users, *total, &meter);
        }
        let all = self.docs();
        let page = run_query_metered(q, &all, self.now, &cfg, &meter)?;
        let users = page.results.into_iter().map(|d| d.user).collect();
        users_info(&self.domain_id, q, &cfg, users, page.total_count, &meter)
    }

    /// v1 `stat` over the snapshot, without a budget.
    pub fn stat(&self, q: &StatQuery, max: usize) -> ApiResult<StatInfo> {
        self.stat_with(q, max, &Budget::unlimited(), None)
    }

    /// v1 `stat` within `budget` (and `deadline`); unpaged results beyond `max` rows are
    /// refused (page them).
    pub fn stat_with(
        &self,
        q: &StatQuery,
        max: usize,
        budget: &Budget,
        deadline: Option<Deadline>,
    ) -> ApiResult<StatInfo> {
        let meter = Meter::new(budget, deadline);
        let r = run_stat_metered(q, &self.docs(), self.now, &engine(max), &meter)?;
        stat_info(q, r, max)
    }

    /// v1 `find` by keyword over the snapshot (or the keyword index's hits).
    fn find_with(
        &self,
        words: &[String],
        max: usize,
        budget: &Budget,
        deadline: Option<Deadline>,
    ) -> ApiResult<FindUsersInfo> {
        let meter = Meter::new(budget, deadline);
        let hit = |field: &str| {
            let f = field.to_lowercase();
            words.iter().any(|w| f.contains(w.as_str()))
        };
        let mut found: Vec<&User> = match &self.work {
            // The index's hits are exactly the matches.
            Work::Some(users) | Work::Page(users, _) => users.iter().map(Arc::as_ref).collect(),
            Work::All(snap) => snap
                .users()
                .take_while(|_| meter.pass())
                .filter(|u| hit(&u.user_id) || hit(&u.name) || hit(&u.email))
                .collect(),
        };
        meter.stopped()?;
        found.sort_by(|a, b| a.user_id.cmp(&b.user_id));
        find_info(found, max, &meter)
    }
}

/// The stat answer: unpaged results are at most `max` rows.
fn stat_info(q: &StatQuery, r: StatResult, max: usize) -> ApiResult<StatInfo> {
    if max > 0 && !q.paged() && r.results.len() > max {
        return Err(super::budget::exceeded(
            "result rows of a stat without page (give page.limit)",
            max,
            "max-list-results",
        )
        .into());
    }
    Ok(StatInfo {
        results: r.results,
        total_count: r.total_count,
    })
}

fn find_info(found: Vec<&User>, max: usize, meter: &Meter<'_>) -> ApiResult<FindUsersInfo> {
    let total_count = u64::try_from(found.len()).unwrap_or(u64::MAX);
    let mut results = Vec::new();
    let mut bytes = 0usize;
    for u in found.into_iter().take(max) {
        bytes = bytes.saturating_add(
            64 + u.user_id.len() + u.name.len() + u.email.len() + map_bytes(&u.tags),
        );
        meter.result_bytes(bytes)?;
        results.push(FindUserInfo {
            user_id: u.user_id.clone(),
            name: u.name.clone(),
            email: u.email.clone(),
            tags: u.tags.clone(),
        });
    }
    Ok(FindUsersInfo {
        results,
        total_count,
    })
}

fn map_bytes(m: &Map) -> usize {
    m.iter()
        .map(|(k, v)| k.len().saturating_add(4).saturating_add(approx_bytes(v)))
        .fold(2usize, usize::saturating_add)
}

/// About the JSON size of a v1 user (field names and fixed fields: ~400 bytes).
fn info_bytes(u: &UserInfo) -> usize {
    let len = |s: &Option<String>| s.as_ref().map_or(0, String::len);
    [
        400,
        u.user_id.len(),
        u.domain_id.len(),
        len(&u.name),
        len(&u.email),
        len(&u.language),
        len(&u.timezone),
        u.required_actions.as_ref().map_or(0, |a| a.len() * 24),
        u.tags.as_ref().map_or(0, map_bytes),
        u.mfa.as_ref().map_or(0, |m| map_bytes(&m.options)),
    ]
    .into_iter()
    .fold(0usize, usize::saturating_add)
}

/// An answer from the indexes, or the scan still to run (outside the actor).
pub enum Planned<T> {
    Done(T),
    Scan(UserScan),
}

/// v1 `list` as the domain actor runs it: the planner (`query::plan`) answers a `count_only`
/// from the indexes; otherwise it picks the page, or the candidates, and hands out a
/// [`UserScan`] to run elsewhere.
pub fn list_users_planned(
    s: &DomainState,
    q: &Query,
    now: Millis,
    max: usize,
) -> Planned<UsersInfo> {
    plan_list(s, q, now, max, &Budget::default())
}

/// [`list_users_planned`] within `budget` (it bounds the candidates the actor gathers).
pub fn plan_list(
    s: &DomainState,
    q: &Query,
    now: Millis,
    max: usize,
    budget: &Budget,
) -> Planned<UsersInfo> {
    let cfg = engine(max);
    match super::plan::list(s, q, &cfg, budget.plan_candidates) {
        ListPlan::Count(total_count) => Planned::Done(UsersInfo {
            results: Vec::new(),
            total_count,
        }),
        ListPlan::Page(users, total) => Planned::Scan(UserScan::page(s, now, users, total)),
        ListPlan::Engine(g) => Planned::Scan(UserScan::new(s, now, g)),
    }
}

/// v1 `list`: filter, sort, page and project the domain's users (planned, or scanned in
/// place), without a budget.
pub fn list_users(s: &DomainState, q: &Query, now: Millis, max: usize) -> UsersInfo {
    match list_users_planned(s, q, now, max) {
        Planned::Done(info) => info,
        Planned::Scan(scan) => scan.list(q, max),
    }
}

/// v1 `list` by the engine over every user, without the planner (the reference the planner
/// is tested against).
pub fn list_users_scan(s: &DomainState, q: &Query, now: Millis, max: usize) -> UsersInfo {
    UserScan::new(s, now, Gathered::All).list(q, max)
}

fn users_info(
    domain_id: &str,
    q: &Query,
    cfg: &EngineConfig,
    users: Vec<&User>,
    total_count: u64,
    meter: &Meter<'_>,
) -> ApiResult<UsersInfo> {
    let fields = q.projection(cfg);
    let mut results = Vec::with_capacity(users.len());
    let mut bytes = 0usize;
    for u in users {
        let info = u.info_v1(domain_id);
        let info = match &fields {
            Some(f) => project_v1(info, f),
            None => info,
        };
        bytes = bytes.saturating_add(info_bytes(&info));
        meter.result_bytes(bytes)?;
        results.push(info);
    }
    Ok(UsersInfo {
        results,
        total_count,
    })
}

/// v1 `stat` as the domain actor runs it (see [`list_users_planned`]).
pub fn stat_users_planned(
    s: &DomainState,
    q: &StatQuery,
    now: Millis,
    max: usize,
) -> ApiResult<Planned<StatInfo>> {
    plan_stat(s, q, now, max, &Budget::unlimited())
}

/// [`stat_users_planned`] within `budget`.
pub fn plan_stat(
    s: &DomainState,
    q: &StatQuery,
    now: Millis,
    max: usize,
    budget: &Budget,
) -> ApiResult<Planned<StatInfo>> {
    match super::plan::stat(s, q, now, &engine(max), budget) {
        StatPlan::Done(r) => Ok(Planned::Done(stat_info(q, r?, max)?)),
        StatPlan::Engine(g) => Ok(Planned::Scan(UserScan::new(s, now, g))),
    }
}

/// v1 `stat` (planned, or scanned in place), without a budget.
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
    UserScan::new(s, now, Gathered::All).stat(q, max)
}

/// A planned v1 `find` by keyword, to run outside the actor.
pub struct FindScan {
    scan: UserScan,
    words: Vec<String>,
}

impl FindScan {
    /// Runs it within `budget` (and `deadline`): at most `max` results, by user_id.
    pub fn run(
        &self,
        max: usize,
        budget: &Budget,
        deadline: Option<Deadline>,
    ) -> ApiResult<FindUsersInfo> {
        self.scan.find_with(&self.words, max, budget, deadline)
    }
}

/// v1 `find` as the domain actor runs it: an exact `user_id` is answered at once; a keyword
/// is looked up in the keyword index (few ASCII words, few hits) or left to a scan of a
/// snapshot. `words` come from [`find_words`].
pub fn plan_find(
    s: &DomainState,
    search: &FindSearch,
    words: Option<Vec<String>>,
    max: usize,
    budget: &Budget,
) -> ApiResult<Result<FindUsersInfo, FindScan>> {
    let Some(words) = words else {
        let id = search.user_id.as_deref().unwrap_or_default();
        let found: Vec<&User> = s.users.get(id).into_iter().collect();
        return find_info(found, max, &Meter::new(budget, None)).map(Ok);
    };
    let g = super::plan::find_keyword(s, &words, budget.plan_candidates);
    Ok(Err(FindScan {
        scan: UserScan::new(s, 0, g),
        words,
    }))
}

/// v1 `find`: an exact `user_id`, or any keyword word as a case-insensitive substring of
/// `user_id`, `name` or `email`; at most `max` results, ordered by user_id. No budget.
pub fn find_users(s: &DomainState, search: &FindSearch, max: usize) -> ApiResult<FindUsersInfo> {
    let budget = Budget::unlimited();
    let words = find_words(search, &budget.parse)?;
    match plan_find(s, search, words, max, &budget)? {
        Ok(info) => Ok(info),
        Err(scan) => scan.run(max, &budget, None),
    }
}
