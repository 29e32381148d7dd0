//! `StatisticsQuery` (SPEC 7.3, 7.4): the aggregate pipeline and `distinct`.

use super::EngineConfig;
use super::budget::{Budget, Meter, ParseLimits, Patterns, approx_bytes};
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

fn parse_stage(v: &Value, pats: &mut Patterns) -> Result<Stage, QueryError> {
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
                f => Some(Filter::parse(f, None, None, "aggregate.unwind", pats)?),
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
                pats,
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
    /// `ERROR_REQUIRED_PARAMETER(key = aggregate)`. Patterns are limited as by
    /// [`ParseLimits::default`].
    pub fn parse(v: &Value) -> Result<StatQuery, QueryError> {
        StatQuery::parse_with(v, &ParseLimits::default())
    }

    /// [`StatQuery::parse`] within `limits`; too many or too long patterns are refused before
    /// any regex is compiled.
    pub fn parse_with(v: &Value, limits: &ParseLimits) -> Result<StatQuery, QueryError> {
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
        let mut pats = Patterns::prescan(v, limits)?;
        let filter = Filter::parse(
            m.get("filter"),
            m.get("filter_or"),
            m.get("keyword"),
            "query",
            &mut pats,
        )?;
        let page = parse_page(m.get("page"), "query.page")?;
        let kind = match (aggregate, distinct) {
            (Some(stages), _) => Kind::Aggregate(
                stages
                    .iter()
                    .map(|s| parse_stage(s, &mut pats))
                    .collect::<Result<_, _>>()?,
            ),
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

/// One output row per element of the list at `path`; every row is metered before it is
/// built, so a product of lists stops at the budget instead of exhausting memory.
fn unwind(rows: Vec<Value>, path: &str, meter: &Meter<'_>) -> Result<Vec<Value>, QueryError> {
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        meter.tick()?;
        match row.pointer(path) {
            Some(Value::List(l)) if !l.is_empty() => {
                let rest = approx_bytes(&row).saturating_sub(approx_bytes_list(l));
                for item in l {
                    meter.row(out.len() + 1, rest.saturating_add(approx_bytes(item)))?;
                    let mut r = row.clone();
                    set_path(&mut r, path, item.clone());
                    out.push(r);
                }
            }
            None | Some(Value::Null) | Some(Value::List(_)) => {}
            Some(_) => {
                meter.row(out.len() + 1, 0)?;
                out.push(row)
            }
        }
    }
    Ok(out)
}

fn approx_bytes_list(l: &[Value]) -> usize {
    l.iter()
        .map(approx_bytes)
        .fold(2usize, usize::saturating_add)
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

/// Keeps the rows `b` matches, ticking the meter per row.
fn retain_matching(
    rows: &mut Vec<Value>,
    f: &Filter,
    now_ms: i64,
    meter: &Meter<'_>,
) -> Result<(), QueryError> {
    let b = f.bind(now_ms, &[]);
    let mut err = None;
    rows.retain(|r| {
        if err.is_some() {
            return false;
        }
        if let Err(e) = meter.tick() {
            err = Some(e);
            return false;
        }
        b.matches(r)
    });
    err.map_or(Ok(()), Err)
}

fn apply(
    stage: &Stage,
    mut rows: Vec<Value>,
    now_ms: i64,
    group_keys: &mut Vec<String>,
    meter: &Meter<'_>,
) -> Result<Vec<Value>, QueryError> {
    meter.check_time()?;
    Ok(match stage {
        Stage::Group(g) => {
            *group_keys = g.key_names();
            g.run(rows.iter(), meter)?
        }
        Stage::Count(name) => {
            group_keys.clear();
            count_rows(rows.len(), name)
        }
        Stage::Sort(keys) => {
            // At most `--query-max-stage-rows` rows; the deadline is checked after.
            sort_rows(&mut rows, keys);
            rows
        }
        Stage::Project(p) => {
            let mut out = Vec::with_capacity(rows.len());
            for r in &rows {
                let row = project_row(r, p, group_keys);
                meter.row(out.len() + 1, approx_bytes(&row))?;
                out.push(row);
            }
            if p.exclude_keys {
                group_keys.clear();
            }
            out
        }
        Stage::Unwind { path, filter } => {
            let mut out = unwind(rows, path, meter)?;
            if let Some(f) = filter {
                retain_matching(&mut out, f, now_ms, meter)?;
            }
            out
        }
        Stage::Match(f) => {
            retain_matching(&mut rows, f, now_ms, meter)?;
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
    })
}

fn distinct<'a, D: Doc + ?Sized + 'a>(
    docs: impl Iterator<Item = &'a D>,
    field: &str,
    meter: &Meter<'_>,
) -> Result<Vec<Value>, QueryError> {
    let mut set = ValueSet::new();
    for d in docs {
        meter.tick()?;
        let before = set.len();
        let mut bytes = 0usize;
        match d.field(field) {
            None => {}
            Some(Cow::Borrowed(Value::List(l))) => l.iter().for_each(|x| {
                bytes = bytes.saturating_add(approx_bytes(x));
                set.insert(Cow::Borrowed(x))
            }),
            Some(Cow::Owned(Value::List(l))) => l.into_iter().for_each(|x| {
                bytes = bytes.saturating_add(approx_bytes(&x));
                set.insert(Cow::Owned(x))
            }),
            Some(v) => {
                bytes = approx_bytes(&v);
                set.insert(v)
            }
        }
        if set.len() > before {
            meter.row(set.len(), bytes)?;
        }
    }
    let mut values = set.into_vec();
    values.sort_by(total_cmp);
    Ok(values)
}

/// Runs a statistics query: filter (and keyword) first, then the aggregate pipeline or
/// `distinct`, then `page`. When the first stage is `group` (or `count`), documents are read
/// through [`Doc::field`] only; other pipelines start from [`Doc::to_value`]. No budget (see
/// [`run_stat_metered`]).
pub fn run_stat<'a, D: Doc + 'a>(
    q: &StatQuery,
    docs: impl IntoIterator<Item = &'a D>,
    now_ms: i64,
    cfg: &EngineConfig,
) -> Result<StatResult, QueryError> {
    let budget = Budget::unlimited();
    run_stat_metered(q, docs, now_ms, cfg, &Meter::new(&budget, None))
}

/// [`run_stat`] within the budget `meter` counts against: a stage that would produce too
/// many rows or bytes, or a run past its deadline, stops with `ERROR_DB_QUERY`.
pub fn run_stat_metered<'a, D: Doc + 'a>(
    q: &StatQuery,
    docs: impl IntoIterator<Item = &'a D>,
    now_ms: i64,
    cfg: &EngineConfig,
    meter: &Meter<'_>,
) -> Result<StatResult, QueryError> {
    let bound = q.filter.bind(now_ms, &cfg.keyword_fields);
    // Every document read ticks the meter; past the deadline the iteration ends early and
    // `meter.stopped()` turns that into the error.
    let docs = docs.into_iter().take_while(|_| meter.pass());
    let rows = match &q.kind {
        Kind::Distinct(field) => distinct(docs.filter(|d| bound.matches(*d)), field, meter)?,
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
            let matched =
                docs.filter(|d| bound.matches(*d) && leading.iter().all(|b| b.matches(*d)));
            let (mut rows, mut group_keys, rest) = match stages.split_first() {
                Some((Stage::Group(g), rest)) => (g.run(matched, meter)?, g.key_names(), rest),
                Some((Stage::Count(name), rest)) => {
                    (count_rows(matched.count(), name), Vec::new(), rest)
                }
                _ => {
                    let mut rows = Vec::new();
                    for d in matched {
                        let row = d.to_value();
                        meter.row(rows.len() + 1, approx_bytes(&row))?;
                        rows.push(row);
                    }
                    (rows, Vec::new(), stages)
                }
            };
            meter.stopped()?;
            for stage in rest {
                rows = apply(stage, rows, now_ms, &mut group_keys, meter)?;
            }
            rows
        }
    };
    meter.check_time()?;
    let r = paged(q.page, rows);
    meter.result_rows(&r.results)?;
    Ok(r)
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
    pub(crate) fn finish_counted(
        &self,
        first: Vec<Value>,
        now_ms: i64,
        meter: &Meter<'_>,
    ) -> Result<StatResult, QueryError> {
        let Kind::Aggregate(stages) = &self.kind else {
            return Ok(paged(self.page, first));
        };
        let mut group_keys = match stages.first() {
            Some(Stage::Group(g)) => g.key_names(),
            _ => Vec::new(),
        };
        let mut rows = first;
        for stage in stages.get(1..).unwrap_or_default() {
            rows = apply(stage, rows, now_ms, &mut group_keys, meter)?;
        }
        let r = paged(self.page, rows);
        meter.result_rows(&r.results)?;
        Ok(r)
    }

    /// Caps `page.limit` at `max` (`--max-list-results`; 0: no cap).
    pub fn clamp_page(&mut self, max: usize) {
        super::parse::clamp(&mut self.page, max);
    }

    /// Whether `page.limit > 0` (results are paged, and `total_count` is given).
    pub fn paged(&self) -> bool {
        self.page.is_some_and(|p| p.limit > 0)
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
