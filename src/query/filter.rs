//! Filter conditions (SPEC 7.2, 7.4): lenient decoding, full validation, allocation-free matching.

use super::budget::Patterns;
use super::cmp::{NULL, typed_cmp, values_equal};
use super::doc::Doc;
use super::error::{QueryError, render};
use super::text::Needle;
use super::time::{Timediff, doc_time_ms, parse_iso_ms};
use crate::api::value::Value;
use regex::{Regex, RegexBuilder};
use std::cmp::Ordering;

const OPERATORS: &[&str] = &[
    "eq",
    "not",
    "lt",
    "lte",
    "gt",
    "gte",
    "exists",
    "contain",
    "not_contain",
    "in",
    "not_in",
    "contain_in",
    "not_contain_in",
    "match",
    "regex",
    "regex_in",
    "datetime_lt",
    "datetime_lte",
    "datetime_gt",
    "datetime_gte",
    "timediff_lt",
    "timediff_lte",
    "timediff_gt",
    "timediff_gte",
];

/// An ordering test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CmpOp {
    Lt,
    Lte,
    Gt,
    Gte,
}

impl CmpOp {
    fn from_suffix(s: &str) -> Option<CmpOp> {
        Some(match s {
            "lt" => CmpOp::Lt,
            "lte" => CmpOp::Lte,
            "gt" => CmpOp::Gt,
            "gte" => CmpOp::Gte,
            _ => return None,
        })
    }

    fn test(self, o: Ordering) -> bool {
        match self {
            CmpOp::Lt => o == Ordering::Less,
            CmpOp::Lte => o != Ordering::Greater,
            CmpOp::Gt => o == Ordering::Greater,
            CmpOp::Gte => o != Ordering::Less,
        }
    }
}

/// The value set of `in`/`not_in`: strings sorted for binary search, other values scanned.
#[derive(Debug, Clone, Default)]
pub(crate) struct InSet {
    strings: Vec<String>,
    others: Vec<Value>,
    has_null: bool,
}

impl InSet {
    fn new(items: &[Value]) -> InSet {
        let mut set = InSet::default();
        for v in items {
            match v {
                Value::String(s) => set.strings.push(s.clone()),
                other => {
                    set.has_null |= other.is_null();
                    set.others.push(other.clone());
                }
            }
        }
        set.strings.sort_unstable();
        set.strings.dedup();
        set
    }

    fn contains(&self, v: &Value) -> bool {
        match v {
            Value::String(s) => self
                .strings
                .binary_search_by(|x| x.as_str().cmp(s.as_str()))
                .is_ok(),
            other => self.others.iter().any(|o| values_equal(o, other)),
        }
    }
}

/// What a condition tests on the field value.
#[derive(Debug, Clone)]
enum Test {
    Eq(Value),
    In(InSet),
    Cmp(CmpOp, Value),
    Exists(bool),
    Contain(Needle),
    ContainIn(Vec<Needle>),
    Match(Vec<(String, Value)>),
    Regex(Vec<Regex>),
    Datetime(CmpOp, i64),
    /// The instant is resolved once per run into slot `usize` of [`Bound::times`].
    Timediff(CmpOp, Timediff, usize),
}

/// `pred` on the value itself, or on any element when it is a list (Mongo array semantics).
fn any_elem(f: &Value, pred: impl Fn(&Value) -> bool) -> bool {
    match f {
        Value::List(l) => l.iter().any(pred),
        x => pred(x),
    }
}

/// `pred` on the value as a whole, or on any element when it is a list.
fn whole_or_elem(f: &Value, pred: impl Fn(&Value) -> bool) -> bool {
    pred(f) || matches!(f, Value::List(l) if l.iter().any(&pred))
}

/// `eq` semantics: a null value also matches a missing field.
fn eq_test(fv: Option<&Value>, v: &Value) -> bool {
    match fv {
        None => v.is_null(),
        Some(f) => whole_or_elem(f, |x| values_equal(x, v)),
    }
}

impl Test {
    fn eval(&self, fv: Option<&Value>, times: &[i64]) -> bool {
        let str_test = |pred: &dyn Fn(&str) -> bool| {
            fv.is_some_and(|f| any_elem(f, |x| x.as_str().is_some_and(pred)))
        };
        let time_test = |op: CmpOp, t: i64| {
            fv.is_some_and(|f| {
                any_elem(f, |x| doc_time_ms(x).is_some_and(|ms| op.test(ms.cmp(&t))))
            })
        };
        match self {
            Test::Eq(v) => eq_test(fv, v),
            Test::In(set) => match fv {
                None => set.has_null,
                Some(f) => whole_or_elem(f, |x| set.contains(x)),
            },
            Test::Cmp(op, v) => {
                fv.is_some_and(|f| any_elem(f, |x| typed_cmp(x, v).is_some_and(|o| op.test(o))))
            }
            Test::Exists(b) => fv.is_some() == *b,
            Test::Contain(n) => str_test(&|s| n.is_in(s)),
            Test::ContainIn(ns) => str_test(&|s| ns.iter().any(|n| n.is_in(s))),
            Test::Regex(rs) => str_test(&|s| rs.iter().any(|r| r.is_match(s))),
            Test::Match(pairs) => fv.and_then(Value::as_list).is_some_and(|l| {
                l.iter().any(|e| {
                    matches!(e, Value::Object(_))
                        && pairs.iter().all(|(k, v)| eq_test(e.pointer(k), v))
                })
            }),
            Test::Datetime(op, t) => time_test(*op, *t),
            Test::Timediff(op, _, slot) => times.get(*slot).is_some_and(|t| time_test(*op, *t)),
        }
    }
}

/// One validated condition.
#[derive(Debug, Clone)]
pub(crate) struct Cond {
    key: String,
    test: Test,
    /// `not`, `not_in`, `not_contain`, `not_contain_in`: the exact complement of the test.
    negated: bool,
}

/// What the planner sees of a condition: `eq` or `in` (not negated), or anything else.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Shape<'a> {
    Eq(&'a Value),
    /// The string values of the list (other values never equal a string field).
    In(&'a [String]),
    Other,
}

impl Cond {
    pub(crate) fn key(&self) -> &str {
        &self.key
    }

    pub(crate) fn shape(&self) -> Shape<'_> {
        match (&self.test, self.negated) {
            (Test::Eq(v), false) => Shape::Eq(v),
            (Test::In(set), false) => Shape::In(&set.strings),
            _ => Shape::Other,
        }
    }

    fn eval<D: Doc + ?Sized>(&self, doc: &D, times: &[i64]) -> bool {
        let fv = doc.field(&self.key);
        self.test.eval(fv.as_deref(), times) != self.negated
    }
}

fn malformed(raw: &Value) -> QueryError {
    QueryError::db_query(format!(
        "Filter condition should have key, value and operator. ({})",
        render(raw)
    ))
}

/// Compiles one regex within its share of the query's regex budget (program size, and twice
/// that for the lazy-DFA cache; the engine is linear-time regardless).
fn compile_regex(
    op: &str,
    v: &Value,
    raw: &Value,
    pats: &mut Patterns,
) -> Result<Regex, QueryError> {
    let Some(p) = v.as_str() else {
        return Err(QueryError::db_query(format!(
            "The value of '{op} operator' must be a string. ({})",
            render(raw)
        )));
    };
    pats.take(p)?;
    let share = pats.regex_share();
    RegexBuilder::new(p)
        .case_insensitive(true)
        .size_limit(share)
        .dfa_size_limit(share.saturating_mul(2))
        .build()
        .map_err(|e| {
            if matches!(e, regex::Error::CompiledTooBig(_))
                && share < super::budget::REGEX_MAX_SHARE
            {
                return pats.regex_too_big();
            }
            let msg = e
                .to_string()
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ");
            QueryError::db_query(format!("invalid regex {}: {msg}", render(v)))
        })
}

fn string_needle(
    op: &str,
    v: &Value,
    raw: &Value,
    pats: &mut Patterns,
) -> Result<Needle, QueryError> {
    let s = v.as_str().ok_or_else(|| {
        QueryError::db_query(format!(
            "The value of '{op} operator' must be a string. ({})",
            render(raw)
        ))
    })?;
    pats.take(s)?;
    Ok(Needle::new(s))
}

/// Validates and compiles one raw condition. `slots` counts timediff conditions.
fn compile(raw: &Value, slots: &mut usize, pats: &mut Patterns) -> Result<Cond, QueryError> {
    let Some(obj) = raw.as_object() else {
        return Err(malformed(raw));
    };
    let pick = |long: &str, short: &str| obj.get(long).or_else(|| obj.get(short));
    let Some(Value::String(op)) = pick("operator", "o") else {
        return Err(malformed(raw));
    };
    let op = op.as_str();
    let key = match pick("key", "k") {
        Some(Value::String(k)) if !k.is_empty() => k.clone(),
        _ => return Err(malformed(raw)),
    };
    if !OPERATORS.contains(&op) {
        return Err(QueryError::db_query(format!("unknown operator '{op}'")));
    }
    let value = pick("value", "v").unwrap_or(&NULL);
    let multiple = matches!(
        op,
        "in" | "not_in" | "contain_in" | "not_contain_in" | "regex_in"
    );
    let list = match value {
        Value::List(l) if multiple => l.as_slice(),
        Value::List(_) => return Err(QueryError::operator_value_type(op, raw)),
        _ if multiple => return Err(QueryError::operator_list_value_type(op, raw)),
        _ => &[],
    };
    let (test, negated) = match op {
        "eq" | "not" => (Test::Eq(value.clone()), op == "not"),
        "lt" | "lte" | "gt" | "gte" => {
            if !matches!(value, Value::Int(_) | Value::Float(_) | Value::String(_)) {
                return Err(QueryError::db_query(format!(
                    "The value of '{op} operator' must be a number or a string. ({})",
                    render(raw)
                )));
            }
            let cmp = CmpOp::from_suffix(op).ok_or_else(|| malformed(raw))?;
            (Test::Cmp(cmp, value.clone()), false)
        }
        "exists" => match value {
            Value::Bool(b) => (Test::Exists(*b), false),
            _ => return Err(QueryError::operator_boolean_type(op, raw)),
        },
        "contain" | "not_contain" => (
            Test::Contain(string_needle(op, value, raw, pats)?),
            op == "not_contain",
        ),
        "in" | "not_in" => (Test::In(InSet::new(list)), op == "not_in"),
        "contain_in" | "not_contain_in" => {
            let needles = list
                .iter()
                .map(|v| string_needle(op, v, raw, pats))
                .collect::<Result<Vec<_>, _>>()?;
            (Test::ContainIn(needles), op == "not_contain_in")
        }
        "match" => {
            let Value::Object(m) = value else {
                return Err(QueryError::db_query(format!(
                    "The value of 'match operator' must be a dictionary type. ({})",
                    render(raw)
                )));
            };
            let pairs = m.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
            (Test::Match(pairs), false)
        }
        "regex" => (
            Test::Regex(vec![compile_regex(op, value, raw, pats)?]),
            false,
        ),
        "regex_in" => {
            let rs = list
                .iter()
                .map(|v| compile_regex(op, v, raw, pats))
                .collect::<Result<Vec<_>, _>>()?;
            (Test::Regex(rs), false)
        }
        _ => {
            let (kind, suffix) = op.split_once('_').ok_or_else(|| malformed(raw))?;
            let cmp = CmpOp::from_suffix(suffix).ok_or_else(|| malformed(raw))?;
            let text = value.as_str();
            if kind == "datetime" {
                let ms = text.and_then(parse_iso_ms).ok_or_else(|| {
                    QueryError::db_query(format!(
                        "The value of {op} operator is required ISO 8601 format. (value = {})",
                        render(value)
                    ))
                })?;
                (Test::Datetime(cmp, ms), false)
            } else {
                let td = text.and_then(Timediff::parse).ok_or_else(|| {
                    QueryError::db_query(format!(
                        "The value of {op} operator is invalid. (value = {})",
                        render(value)
                    ))
                })?;
                *slots += 1;
                (Test::Timediff(cmp, td, *slots - 1), false)
            }
        }
    };
    Ok(Cond { key, test, negated })
}

/// A validated filter: `filter AND (filter_or) AND keyword`.
#[derive(Debug, Clone, Default)]
pub(crate) struct Filter {
    and: Vec<Cond>,
    or: Vec<Cond>,
    keyword: Vec<Needle>,
    slots: usize,
}

fn cond_list(
    v: Option<&Value>,
    key: &str,
    slots: &mut usize,
    pats: &mut Patterns,
) -> Result<Vec<Cond>, QueryError> {
    match v {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::List(items)) => items.iter().map(|c| compile(c, slots, pats)).collect(),
        Some(other) => Err(QueryError::invalid_parameter(
            key,
            format!("must be a list of conditions, got {}", other.type_name()),
        )),
    }
}

impl Filter {
    /// Decodes and validates `filter`, `filter_or` and `keyword` (`ctx` prefixes error keys);
    /// patterns are taken from the query's `pats`.
    pub(crate) fn parse(
        filter: Option<&Value>,
        filter_or: Option<&Value>,
        keyword: Option<&Value>,
        ctx: &str,
        pats: &mut Patterns,
    ) -> Result<Filter, QueryError> {
        let mut slots = 0;
        let and = cond_list(filter, &format!("{ctx}.filter"), &mut slots, pats)?;
        let or = cond_list(filter_or, &format!("{ctx}.filter_or"), &mut slots, pats)?;
        let keyword = match keyword {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::String(s)) => s
                .split_whitespace()
                .map(|w| pats.take(w).map(|()| Needle::new(w)))
                .collect::<Result<_, _>>()?,
            Some(other) => {
                return Err(QueryError::invalid_parameter(
                    &format!("{ctx}.keyword"),
                    format!("must be a string, got {}", other.type_name()),
                ));
            }
        };
        Ok(Filter {
            and,
            or,
            keyword,
            slots,
        })
    }

    /// The `filter` conditions (ANDed).
    pub(crate) fn and_conds(&self) -> &[Cond] {
        &self.and
    }

    /// Whether there are `filter_or` conditions.
    pub(crate) fn has_or(&self) -> bool {
        !self.or.is_empty()
    }

    /// The keyword words (lower-cased).
    pub(crate) fn keyword(&self) -> &[Needle] {
        &self.keyword
    }

    /// Adds an `eq` condition to the AND list.
    pub(crate) fn push_eq(&mut self, key: &str, value: Value) {
        self.and.push(Cond {
            key: key.to_owned(),
            test: Test::Eq(value),
            negated: false,
        });
    }

    /// Resolves time-relative values at `now_ms`, once, for a run.
    pub(crate) fn bind<'q>(&'q self, now_ms: i64, keyword_fields: &'q [String]) -> Bound<'q> {
        let mut times = vec![0; self.slots];
        for c in self.and.iter().chain(&self.or) {
            if let Test::Timediff(_, td, slot) = &c.test
                && let Some(t) = times.get_mut(*slot)
            {
                *t = td.resolve(now_ms);
            }
        }
        Bound {
            filter: self,
            times,
            keyword_fields,
        }
    }
}

/// A filter bound to one instant and one set of keyword fields.
pub(crate) struct Bound<'q> {
    filter: &'q Filter,
    times: Vec<i64>,
    keyword_fields: &'q [String],
}

impl Bound<'_> {
    /// Whether `doc` matches.
    pub(crate) fn matches<D: Doc + ?Sized>(&self, doc: &D) -> bool {
        let f = self.filter;
        let t = &self.times;
        f.and.iter().all(|c| c.eval(doc, t))
            && (f.or.is_empty() || f.or.iter().any(|c| c.eval(doc, t)))
            && (f.keyword.is_empty() || self.keyword_match(doc))
    }

    fn keyword_match<D: Doc + ?Sized>(&self, doc: &D) -> bool {
        self.keyword_fields.iter().any(|k| {
            doc.field(k)
                .as_deref()
                .and_then(Value::as_str)
                .is_some_and(|s| self.filter.keyword.iter().any(|n| n.is_in(s)))
        })
    }
}

#[cfg(test)]
#[path = "filter_tests.rs"]
mod tests;
