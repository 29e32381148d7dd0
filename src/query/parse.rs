//! `Query` (SPEC 7.1): decoding and validation.

use super::EngineConfig;
use super::budget::{ParseLimits, Patterns};
use super::doc::Doc;
use super::error::QueryError;
use super::filter::Filter;
use super::sort::{SortKey, parse_sort};
use crate::api::value::{Map, Value};
use std::sync::LazyLock;

/// `page`: `start` is 1-based (values < 1 mean 1); paging applies only when `limit > 0`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PageSpec {
    pub(crate) start: usize,
    pub(crate) limit: usize,
}

fn int_or_default(m: &Map, field: &str, ctx: &str, default: i64) -> Result<i64, QueryError> {
    match m.get(field) {
        None | Some(Value::Null) => Ok(default),
        Some(v) => v.as_i64().ok_or_else(|| {
            QueryError::invalid_parameter(
                &format!("{ctx}.{field}"),
                format!("must be an integer, got {}", super::error::render(v)),
            )
        }),
    }
}

/// Decodes `page` (`None` when absent).
pub(crate) fn parse_page(v: Option<&Value>, ctx: &str) -> Result<Option<PageSpec>, QueryError> {
    let m = match v {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Object(m)) => m,
        Some(other) => {
            return Err(QueryError::invalid_parameter(
                ctx,
                format!("must be an object, got {}", other.type_name()),
            ));
        }
    };
    let start = int_or_default(m, "start", ctx, 1)?.max(1);
    let limit = int_or_default(m, "limit", ctx, 0)?.max(0);
    Ok(Some(PageSpec {
        start: usize::try_from(start).unwrap_or(usize::MAX),
        limit: usize::try_from(limit).unwrap_or(usize::MAX),
    }))
}

fn opt_bool(m: &Map, field: &str) -> Result<bool, QueryError> {
    match m.get(field) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(other) => Err(QueryError::invalid_parameter(
            &format!("query.{field}"),
            format!("must be a bool, got {}", other.type_name()),
        )),
    }
}

/// A parsed, validated `Query`.
#[derive(Debug, Clone, Default)]
pub struct Query {
    pub(crate) filter: Filter,
    /// Empty: the configured default order.
    pub(crate) sort: Vec<SortKey>,
    pub(crate) page: Option<PageSpec>,
    only: Vec<String>,
    minimal: bool,
    count_only: bool,
}

impl Query {
    /// Decodes a `Query` object leniently, then validates all of it before anything runs: a
    /// malformed condition anywhere is an error even if an earlier condition matches nothing.
    /// `null` is the empty query (everything, default order). Patterns are limited as by
    /// [`ParseLimits::default`].
    pub fn parse(v: &Value) -> Result<Query, QueryError> {
        Query::parse_with(v, &ParseLimits::default())
    }

    /// [`Query::parse`] within `limits`; too many or too long patterns are refused before
    /// any regex is compiled.
    pub fn parse_with(v: &Value, limits: &ParseLimits) -> Result<Query, QueryError> {
        let empty = Map::new();
        let m = match v {
            Value::Object(m) => m,
            Value::Null => &empty,
            other => {
                return Err(QueryError::invalid_parameter(
                    "query",
                    format!("must be an object, got {}", other.type_name()),
                ));
            }
        };
        let mut pats = Patterns::prescan(v, limits)?;
        let filter = Filter::parse(
            m.get("filter"),
            m.get("filter_or"),
            m.get("keyword"),
            "query",
            &mut pats,
        )?;
        let sort = parse_sort(m.get("sort").unwrap_or(&Value::Null), false)
            .map_err(|r| QueryError::invalid_parameter("query.sort", r))?;
        let page = parse_page(m.get("page"), "query.page")?;
        let only = match m.get("only") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::List(items)) => items
                .iter()
                .map(|i| match i {
                    Value::String(s) if !s.is_empty() => Ok(s.clone()),
                    other => Err(QueryError::invalid_parameter(
                        "query.only",
                        format!(
                            "must be a list of field names, got {}",
                            super::error::render(other)
                        ),
                    )),
                })
                .collect::<Result<_, _>>()?,
            Some(other) => {
                return Err(QueryError::invalid_parameter(
                    "query.only",
                    format!("must be a list, got {}", other.type_name()),
                ));
            }
        };
        Ok(Query {
            filter,
            sort,
            page,
            only,
            minimal: opt_bool(m, "minimal")?,
            count_only: opt_bool(m, "count_only")?,
        })
    }

    /// Adds an `eq` condition ANDed with the filter (v1 `list`'s top-level fields).
    pub fn and_eq(&mut self, key: &str, value: Value) {
        self.filter.push_eq(key, value);
    }

    /// Whether `doc` matches the filter, `filter_or` and keyword at `now_ms`. The keyword is
    /// looked up in [`EngineConfig::default`]'s keyword fields; use [`Query::matches_with`]
    /// for others.
    pub fn matches<D: Doc>(&self, doc: &D, now_ms: i64) -> bool {
        static DEFAULT: LazyLock<EngineConfig> = LazyLock::new(EngineConfig::default);
        self.matches_with(doc, now_ms, &DEFAULT)
    }

    /// [`Query::matches`] with the keyword fields of `cfg`.
    pub fn matches_with<D: Doc>(&self, doc: &D, now_ms: i64, cfg: &EngineConfig) -> bool {
        self.filter.bind(now_ms, &cfg.keyword_fields).matches(doc)
    }

    /// The fields to return: `only` and/or `minimal` (union), plus the key fields; `None`
    /// means all fields.
    pub fn projection(&self, cfg: &EngineConfig) -> Option<Vec<String>> {
        if self.only.is_empty() && !self.minimal {
            return None;
        }
        let mut out: Vec<String> = Vec::new();
        let minimal = if self.minimal {
            cfg.minimal_fields.as_slice()
        } else {
            &[]
        };
        for f in cfg.key_fields.iter().chain(minimal).chain(&self.only) {
            if !out.contains(f) {
                out.push(f.clone());
            }
        }
        Some(out)
    }

    /// The rows `skip..end` of the ordered matches to return: the page (1-based `start`,
    /// `limit > 0`), else the first `max_list_results` (0: all).
    pub(crate) fn window(&self, cfg: &EngineConfig) -> (usize, usize) {
        match self.page {
            Some(p) if p.limit > 0 => (p.start - 1, (p.start - 1).saturating_add(p.limit)),
            _ if cfg.max_list_results > 0 => (0, cfg.max_list_results),
            _ => (0, usize::MAX),
        }
    }

    /// Caps `page.limit` at `max` (`--max-list-results`; 0: no cap): a page never returns
    /// more rows than a list without `page`, and `total_count` still counts every match.
    pub fn clamp_page(&mut self, max: usize) {
        clamp(&mut self.page, max);
    }

    /// `count_only`: results are empty, only `total_count` is returned.
    pub fn count_only(&self) -> bool {
        self.count_only
    }
}

/// Caps a page's `limit` at `max` (0: no cap).
pub(crate) fn clamp(page: &mut Option<PageSpec>, max: usize) {
    if let Some(p) = page
        && max > 0
        && p.limit > max
    {
        p.limit = max;
    }
}
