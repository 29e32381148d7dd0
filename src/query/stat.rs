//! `StatisticsQuery` (SPEC 7.3, 7.4): the aggregate pipeline and `distinct`.

use super::EngineConfig;
use super::cmp::total_cmp;
use super::doc::Doc;
use super::error::QueryError;
use super::filter::Filter;
use super::group::GroupSpec;
use super::parse::{PageSpec, parse_page};
use super::set::ValueSet;
use super::sort::{SortKey, parse_sort, sort_rows};
use crate::api::value::{Map, Value};
use std::borrow::Cow;

#[derive(Debug, Clone)]
struct ProjectSpec {
    /// `(key, name)`: the value at dotted `key` becomes field `name`.
    fields: Vec<(String, String)>,
    exclude_keys: bool,
}

#[derive(Debug, Clone)]
enum Stage {
    Group(GroupSpec),
    Count(String),
    Sort(Vec<SortKey>),
    Project(ProjectSpec),
    Unwind {
        path: String,
        filter: Option<Filter>,
    },
    Match(Filter),
    Limit(usize),
    Skip(usize),
}

#[derive(Debug, Clone)]
enum Kind {
    Aggregate(Vec<Stage>),
    Distinct(String),
}

/// A parsed, validated `StatisticsQuery`.
#[derive(Debug, Clone)]
pub struct StatQuery {
    filter: Filter,
    kind: Kind,
    page: Option<PageSpec>,
}

/// The result of [`run_stat`]: rows (or distinct values), and `total_count` only when
/// `page.limit > 0`.
#[derive(Debug, Clone, PartialEq)]
pub struct StatResult {
    /// Result rows (aggregate) or sorted distinct values (distinct).
    pub results: Vec<Value>,
    /// Number of results before paging; present only when `page.limit > 0`.
    pub total_count: Option<u64>,
}

fn str_field<'v>(m: &'v Map, long: &str, short: &str) -> Option<&'v str> {
    match m.get(long).or_else(|| m.get(short)) {
        Some(Value::String(s)) if !s.is_empty() => Some(s),
        _ => None,
    }
}

fn count_arg(v: &Value, stage: &str, min: i64) -> Result<usize, QueryError> {
    v.as_i64()
        .filter(|n| *n >= min)
        .and_then(|n| usize::try_from(n).ok())
        .ok_or_else(|| {
            QueryError::db_query(format!(
                "'aggregate.{stage}' must be an integer >= {min}, got {}",
                super::error::render(v)
            ))
        })
}

fn parse_stage(v: &Value) -> Result<Stage, QueryError> {
    let (name, body) = match v {
        Value::Object(m) if m.len() == 1 => match m.iter().next() {
            Some(e) => e,
            None => return Err(QueryError::db_query("empty aggregate stage")),
        },
        other => {
            return Err(QueryError::db_query(format!(
                "each aggregate stage must be an object with exactly one key, got {}",
                super::error::render(other)
            )));
        }
    };
    let obj = |what: &str| -> Result<&Map, QueryError> {
        body.as_object().ok_or_else(|| {
            QueryError::db_query(format!(
                "'aggregate.{what}' must be an object, got {}",
                body.type_name()
            ))
        })
    };
    Ok(match name.as_str() {
        "group" => Stage::Group(GroupSpec::parse(body)?),
        "count" => {
            let m = obj("count")?;
            let n = str_field(m, "name", "n")
                .ok_or_else(|| QueryError::required_parameter("aggregate.count.name"))?;
            Stage::Count(n.to_owned())
        }
        "sort" => {
            let keys = parse_sort(body, true)
                .map_err(|r| QueryError::db_query(format!("invalid 'aggregate.sort': {r}")))?;
            if keys.is_empty() {
                return Err(QueryError::db_query(
                    "'aggregate.sort' requires at least one key",
                ));
            }
            Stage::Sort(keys)
        }
        "project" => {
            let m = obj("project")?;
            let items = match m.get("fields") {
                Some(Value::List(l)) if !l.is_empty() => l,
                _ => return Err(QueryError::required_parameter("aggregate.project.fields")),
            };
            let mut fields = Vec::with_capacity(items.len());
            for c in items {
                let err = || {
                    QueryError::db_query(format!(
                        "'aggregate.project.fields' condition requires a key and a name: {}",
                        super::error::render(c)
                    ))
                };
                let cm = c.as_object().ok_or_else(err)?;
                if let Some(op) = cm
                    .get("operator")
                    .or_else(|| cm.get("o"))
                    .filter(|o| !o.is_null())
                {
                    return Err(QueryError::db_query(format!(
                        "'aggregate.project.fields' operator {} is not supported",
                        super::error::render(op)
                    )));
                }
                let key = str_field(cm, "key", "k").ok_or_else(err)?;
                let name = str_field(cm, "name", "n").ok_or_else(err)?;
                fields.push((key.to_owned(), name.to_owned()));
            }
            let exclude_keys = match m.get("exclude_keys") {
                None | Some(Value::Null) => false,
                Some(Value::Bool(b)) => *b,
                Some(_) => {
                    return Err(QueryError::db_query(
                        "'aggregate.project.exclude_keys' must be a bool",
                    ));
                }
            };
            Stage::Project(ProjectSpec {
                fields,
                exclude_keys,
            })
        }
        "unwind" => {
            let m = obj("unwind")?;
            let path = str_field(m, "path", "path")
                .map(|p| p.strip_prefix('$').unwrap_or(p))
                .filter(|p| !p.is_empty())
                .ok_or_else(|| QueryError::required_parameter("aggregate.unwind.path"))?;
            let filter = match m.get("filter") {
                None | Some(Value::Null) => None,
                f => Some(Filter::parse(f, None, None, "aggregate.unwind")?),
            };
            Stage::Unwind {
                path: path.to_owned(),
                filter,
            }
        }
        "match" => {
            let m = obj("match")?;
            Stage::Match(Filter::parse(
                m.get("filter"),
                m.get("filter_or"),
                None,
                "aggregate.match",
            )?)
        }
        "limit" => Stage::Limit(count_arg(body, "limit", 1)?),
        "skip" => Stage::Skip(count_arg(body, "skip", 0)?),
        other => {
            return Err(QueryError::db_query(format!(
                "unknown aggregate stage '{other}'"
            )));
        }
    })
}

impl StatQuery {
    /// Decodes and validates a `StatisticsQuery` object. Neither `aggregate` nor `distinct` →
    /// `ERROR_REQUIRED_PARAMETER(key = aggregate)`.
    pub fn parse(v: &Value) -> Result<StatQuery, QueryError> {
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
        let aggregate = match m.get("aggregate") {
            None | Some(Value::Null) => None,
            Some(Value::List(l)) if l.is_empty() => None,
            Some(Value::List(l)) => Some(l),
            Some(other) => {
                return Err(QueryError::invalid_parameter(
                    "query.aggregate",
                    format!("must be a list of stages, got {}", other.type_name()),
                ));
            }
        };
        let distinct = match m.get("distinct") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if s.is_empty() => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(other) => {
                return Err(QueryError::invalid_parameter(
                    "query.distinct",
                    format!("must be a string, got {}", other.type_name()),
                ));
            }
        };
        if aggregate.is_none() && distinct.is_none() {
            return Err(QueryError::required_parameter("aggregate"));
        }
        let filter = Filter::parse(
            m.get("filter"),
            m.get("filter_or"),
            m.get("keyword"),
            "query",
        )?;
        let page = parse_page(m.get("page"), "query.page")?;
        let kind = match (aggregate, distinct) {
            (Some(stages), _) => {
                Kind::Aggregate(stages.iter().map(parse_stage).collect::<Result<_, _>>()?)
            }
            (None, Some(d)) => Kind::Distinct(d),
            (None, None) => return Err(QueryError::required_parameter("aggregate")),
        };
        Ok(StatQuery { filter, kind, page })
    }
}

fn count_rows(n: usize, name: &str) -> Vec<Value> {
    // Like Mongo's $count, no input produces no row.
    if n == 0 {
        return Vec::new();
    }
    let mut row = Map::new();
    row.insert(
        name.to_owned(),
        Value::Int(i64::try_from(n).unwrap_or(i64::MAX)),
    );
    vec![Value::Object(row)]
}

fn set_path(v: &mut Value, path: &str, new: Value) {
    let mut cur = v;
    let mut segs = path.split('.').peekable();
    while let Some(seg) = segs.next() {
        let Value::Object(m) = cur else { return };
        if segs.peek().is_none() {
            m.insert(seg.to_owned(), new);
            return;
        }
        match m.get_mut(seg) {
            Some(next) => cur = next,
            None => return,
        }
    }
}

fn unwind(rows: Vec<Value>, path: &str) -> Vec<Value> {
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        match row.pointer(path) {
            Some(Value::List(l)) if !l.is_empty() => {
                let items = l.clone();
                for item in items {
                    let mut r = row.clone();
                    set_path(&mut r, path, item);
                    out.push(r);
                }
            }
            None | Some(Value::Null) | Some(Value::List(_)) => {}
            Some(_) => out.push(row),
        }
    }
    out
}

fn project_row(row: &Value, p: &ProjectSpec, group_keys: &[String]) -> Value {
    let mut out = Map::new();
    if !p.exclude_keys {
        for k in group_keys {
            if let Some(v) = row.get(k) {
                out.insert(k.clone(), v.clone());
            }
        }
    }
    for (key, name) in &p.fields {
        if let Some(v) = row.pointer(key) {
            out.insert(name.clone(), v.clone());
        }
    }
    Value::Object(out)
}

fn apply(
    stage: &Stage,
    mut rows: Vec<Value>,
    now_ms: i64,
    group_keys: &mut Vec<String>,
) -> Vec<Value> {
    match stage {
        Stage::Group(g) => {
            *group_keys = g.key_names();
            g.run(rows.iter())
        }
        Stage::Count(name) => {
            group_keys.clear();
            count_rows(rows.len(), name)
        }
        Stage::Sort(keys) => {
            sort_rows(&mut rows, keys);
            rows
        }
        Stage::Project(p) => {
            let out = rows.iter().map(|r| project_row(r, p, group_keys)).collect();
            if p.exclude_keys {
                group_keys.clear();
            }
            out
        }
        Stage::Unwind { path, filter } => {
            let mut out = unwind(rows, path);
            if let Some(f) = filter {
                let b = f.bind(now_ms, &[]);
                out.retain(|r| b.matches(r));
            }
            out
        }
        Stage::Match(f) => {
            let b = f.bind(now_ms, &[]);
            rows.retain(|r| b.matches(r));
            rows
        }
        Stage::Limit(n) => {
            rows.truncate(*n);
            rows
        }
        Stage::Skip(n) => {
            rows.drain(..(*n).min(rows.len()));
            rows
        }
    }
}

fn distinct<'a, D: Doc + ?Sized + 'a>(
    docs: impl Iterator<Item = &'a D>,
    field: &str,
) -> Vec<Value> {
    let mut set = ValueSet::new();
    for d in docs {
        match d.field(field) {
            None => {}
            Some(Cow::Borrowed(Value::List(l))) => {
                l.iter().for_each(|x| set.insert(Cow::Borrowed(x)))
            }
            Some(Cow::Owned(Value::List(l))) => {
                l.into_iter().for_each(|x| set.insert(Cow::Owned(x)))
            }
            Some(v) => set.insert(v),
        }
    }
    let mut values = set.into_vec();
    values.sort_by(total_cmp);
    values
}

/// Runs a statistics query: filter (and keyword) first, then the aggregate pipeline or
/// `distinct`, then `page`. When the first stage is `group` (or `count`), documents are read
/// through [`Doc::field`] only; other pipelines start from [`Doc::to_value`].
pub fn run_stat<'a, D: Doc + 'a>(
    q: &StatQuery,
    docs: impl IntoIterator<Item = &'a D>,
    now_ms: i64,
    cfg: &EngineConfig,
) -> Result<StatResult, QueryError> {
    let bound = q.filter.bind(now_ms, &cfg.keyword_fields);
    let rows = match &q.kind {
        Kind::Distinct(field) => distinct(docs.into_iter().filter(|d| bound.matches(*d)), field),
        Kind::Aggregate(stages) => {
            // Leading `match` stages filter the documents themselves, before anything is built.
            let leading: Vec<_> = stages
                .iter()
                .map_while(|s| match s {
                    Stage::Match(f) => Some(f.bind(now_ms, &[])),
                    _ => None,
                })
                .collect();
            let stages = stages.get(leading.len()..).unwrap_or_default();
            let matched = docs
                .into_iter()
                .filter(|d| bound.matches(*d) && leading.iter().all(|b| b.matches(*d)));
            let (mut rows, mut group_keys, rest) = match stages.split_first() {
                Some((Stage::Group(g), rest)) => (g.run(matched), g.key_names(), rest),
                Some((Stage::Count(name), rest)) => {
                    (count_rows(matched.count(), name), Vec::new(), rest)
                }
                _ => (matched.map(Doc::to_value).collect(), Vec::new(), stages),
            };
            for stage in rest {
                rows = apply(stage, rows, now_ms, &mut group_keys);
            }
            rows
        }
    };
    Ok(paged(q.page, rows))
}

fn paged(page: Option<PageSpec>, rows: Vec<Value>) -> StatResult {
    match page {
        Some(p) if p.limit > 0 => {
            let total = u64::try_from(rows.len()).unwrap_or(u64::MAX);
            let results = rows.into_iter().skip(p.start - 1).take(p.limit).collect();
            StatResult {
                results,
                total_count: Some(total),
            }
        }
        _ => StatResult {
            results: rows,
            total_count: None,
        },
    }
}

/// A pipeline whose first stage only counts documents: `count`, or `group` by plain keys
/// (no `date_format`) with only `count` fields. Whoever can count by those keys faster than
/// reading documents computes the first stage's rows with [`count_rows_of`] and hands them to
/// [`StatQuery::finish_counted`].
#[derive(Debug)]
pub(crate) enum CountShape<'q> {
    /// `count {name}`.
    Count(&'q str),
    /// `group`: the keys' dotted paths (in order), the keys' output names, the count fields' names.
    Group {
        keys: Vec<&'q str>,
        names: Vec<&'q str>,
        counts: Vec<&'q str>,
    },
}

impl StatQuery {
    /// The filter (and keyword) of the query.
    pub(crate) fn filter(&self) -> &Filter {
        &self.filter
    }

    /// The [`CountShape`] of the pipeline, when it has one (no leading `match` stages).
    pub(crate) fn count_shape(&self) -> Option<CountShape<'_>> {
        let Kind::Aggregate(stages) = &self.kind else {
            return None;
        };
        match stages.first()? {
            Stage::Count(name) => Some(CountShape::Count(name)),
            Stage::Group(g) => {
                let (keys, names, counts) = g.count_shape()?;
                Some(CountShape::Group {
                    keys,
                    names,
                    counts,
                })
            }
            _ => None,
        }
    }

    /// Runs the rest of the pipeline and the paging after the first stage, whose rows a
    /// caller computed for the query's [`CountShape`] with [`count_rows_of`].
    pub(crate) fn finish_counted(&self, first: Vec<Value>, now_ms: i64) -> StatResult {
        let Kind::Aggregate(stages) = &self.kind else {
            return paged(self.page, first);
        };
        let mut group_keys = match stages.first() {
            Some(Stage::Group(g)) => g.key_names(),
            _ => Vec::new(),
        };
        let mut rows = first;
        for stage in stages.get(1..).unwrap_or_default() {
            rows = apply(stage, rows, now_ms, &mut group_keys);
        }
        paged(self.page, rows)
    }
}

/// The first-stage rows of a [`CountShape`] from counts per group: `groups` holds each group's
/// key values (in key order) and number of documents. Groups with no documents are skipped;
/// rows are ordered by key values, as the `group` stage orders them.
pub(crate) fn count_rows_of(
    shape: &CountShape<'_>,
    mut groups: Vec<(Vec<Value>, u64)>,
) -> Vec<Value> {
    groups.retain(|g| g.1 > 0);
    match shape {
        CountShape::Count(name) => {
            let n: u64 = groups.iter().map(|g| g.1).sum();
            count_rows(usize::try_from(n).unwrap_or(usize::MAX), name)
        }
        CountShape::Group { names, counts, .. } => {
            groups.sort_by(|a, b| {
                a.0.iter()
                    .zip(&b.0)
                    .map(|(x, y)| total_cmp(x, y))
                    .find(|o| o.is_ne())
                    .unwrap_or(std::cmp::Ordering::Equal)
            });
            groups
                .into_iter()
                .map(|(key, n)| {
                    let mut row = Map::new();
                    for (name, v) in names.iter().zip(key) {
                        row.insert((*name).to_owned(), v);
                    }
                    for name in counts {
                        row.insert(
                            (*name).to_owned(),
                            Value::Int(i64::try_from(n).unwrap_or(i64::MAX)),
                        );
                    }
                    Value::Object(row)
                })
                .collect()
        }
    }
}

#[cfg(test)]
#[path = "stat_tests.rs"]
mod tests;
