//! The query engine over a domain's in-memory users: `Query` for `list` and `StatisticsQuery` for `stat` (SPEC section 7).
//!
//! Everything is validated when parsed ([`Query::parse`], [`StatQuery::parse`]); running never
//! fails for a parsed `Query` except by exceeding its cost budget ([`budget`]: the `_metered`
//! runs; [`run_query`] and [`run_stat`] have none). Matching allocates nothing per document: regexes are compiled,
//! keyword words and `contain` needles lower-cased, datetimes parsed once per query, and
//! `timediff` values resolved once per run.

pub mod budget;
mod cmp;
mod doc;
mod error;
mod filter;
mod group;
mod parse;
pub(crate) mod plan;
mod project;
mod set;
mod sort;
mod stat;
mod text;
mod time;
pub mod users;

pub use budget::{Budget, Deadline, Meter, ParseLimits};
pub use cmp::{total_cmp, values_equal};
pub use doc::Doc;
pub use error::{QueryError, QueryErrorCode};
pub use parse::Query;
pub use project::project;
pub use stat::{StatQuery, StatResult, run_stat, run_stat_metered};

use sort::{SortKey, TopK};

/// Engine settings that identityd fixes for users (see [`EngineConfig::default`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineConfig {
    /// Sort keys (ascending) when the query gives none: `["name"]`.
    pub default_sort: Vec<String>,
    /// Always the last sort key, always ascending: `"user_id"`.
    pub tie_break: String,
    /// Fields searched by `keyword`: `["user_id", "name", "email"]`.
    pub keyword_fields: Vec<String>,
    /// Fields returned with `minimal`: `["user_id", "name", "state", "user_type"]`.
    pub minimal_fields: Vec<String>,
    /// Fields always kept by `only`/`minimal`: `["user_id", "domain_id"]`.
    pub key_fields: Vec<String>,
    /// Row cap when no `page.limit > 0` is given (10,000); `0` means no cap.
    pub max_list_results: usize,
}

impl Default for EngineConfig {
    fn default() -> Self {
        let s = |v: &[&str]| v.iter().map(|x| (*x).to_owned()).collect();
        EngineConfig {
            default_sort: s(&["name"]),
            tie_break: "user_id".to_owned(),
            keyword_fields: s(&["user_id", "name", "email"]),
            minimal_fields: s(&["user_id", "name", "state", "user_type"]),
            key_fields: s(&["user_id", "domain_id"]),
            max_list_results: 10_000,
        }
    }
}

/// One page of [`run_query`] results.
#[derive(Debug)]
pub struct Page<'a, D> {
    /// The documents of the page, in order (empty for `count_only`).
    pub results: Vec<&'a D>,
    /// All matches, before paging and before the `max_list_results` cap.
    pub total_count: u64,
}

/// Filters (filter, `filter_or`, keyword), sorts (the query's keys or the default sort, then
/// the tie-break ascending) and pages (1-based `start`, `limit` 0 = no paging; without paging
/// at most `max_list_results` rows). Only the matching documents are ordered, and only the
/// first `start - 1 + limit` of them are kept while scanning. No budget.
pub fn run_query<'a, D: Doc>(
    q: &Query,
    docs: impl IntoIterator<Item = &'a D>,
    now_ms: i64,
    cfg: &EngineConfig,
) -> Page<'a, D> {
    let budget = Budget::unlimited();
    let meter = Meter::new(&budget, None);
    // Without a budget nothing can be exceeded.
    run_query_metered(q, docs, now_ms, cfg, &meter).unwrap_or(Page {
        results: Vec::new(),
        total_count: 0,
    })
}

/// [`run_query`] within the deadline of `meter` (checked every few documents; the rows kept
/// are bounded by the page or `max_list_results`).
pub fn run_query_metered<'a, D: Doc>(
    q: &Query,
    docs: impl IntoIterator<Item = &'a D>,
    now_ms: i64,
    cfg: &EngineConfig,
    meter: &Meter<'_>,
) -> Result<Page<'a, D>, QueryError> {
    let bound = q.filter.bind(now_ms, &cfg.keyword_fields);
    let matched = docs
        .into_iter()
        .take_while(|_| meter.pass())
        .filter(|d| bound.matches(*d));
    if q.count_only() {
        let n = matched.count();
        meter.stopped()?;
        return Ok(Page {
            results: Vec::new(),
            total_count: u64::try_from(n).unwrap_or(u64::MAX),
        });
    }
    let (skip, end) = q.window(cfg);
    let mut keys: Vec<SortKey> = if q.sort.is_empty() {
        cfg.default_sort
            .iter()
            .map(|k| SortKey {
                key: k.clone(),
                desc: false,
            })
            .collect()
    } else {
        q.sort.clone()
    };
    keys.push(SortKey {
        key: cfg.tie_break.clone(),
        desc: false,
    });
    let mut top = TopK::new(&keys, end);
    let mut total: u64 = 0;
    for d in matched {
        total += 1;
        top.push(d);
    }
    meter.stopped()?;
    let mut results = top.into_sorted();
    meter.check_time()?;
    results.drain(..skip.min(results.len()));
    Ok(Page {
        results,
        total_count: total,
    })
}

#[cfg(test)]
#[path = "run_tests.rs"]
mod tests;
