//! The `group` stage (SPEC 7.3, 7.4): keys with optional `date_format`, and the accumulators
//! `count sum average max min first last push add_to_set`. Runs directly over [`Doc::field`],
//! so grouping whole documents never materializes them.

use super::budget::{Meter, approx_bytes};
use super::cmp::{NULL, total_cmp, values_equal};
use super::doc::Doc;
use super::error::{QueryError, render};
use super::set::{HashIndex, ValueSet, hash_tuple};
use super::time::{DateFormat, doc_time_ms};
use crate::api::value::{Map, Value};
use std::borrow::Cow;
use std::cmp::Ordering;
use std::collections::hash_map::RandomState;

/// Up to this many groups, lookups scan linearly (no hashing).
const LINEAR_GROUPS: usize = 8;

const OPERATORS: &[&str] = &[
    "count",
    "sum",
    "average",
    "max",
    "min",
    "first",
    "last",
    "push",
    "add_to_set",
];

#[derive(Debug, Clone)]
struct GroupKey {
    key: String,
    name: String,
    date_format: Option<DateFormat>,
}

impl GroupKey {
    fn extract<'a, D: Doc + ?Sized>(&self, doc: &'a D) -> Cow<'a, Value> {
        match (doc.field(&self.key), &self.date_format) {
            (None, _) => Cow::Borrowed(&NULL),
            (Some(v), None) => v,
            (Some(v), Some(fmt)) => {
                Cow::Owned(doc_time_ms(&v).map_or(Value::Null, |ms| fmt.apply(ms)))
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum GroupOp {
    Count,
    Sum,
    Average,
    Max,
    Min,
    First,
    Last,
    Push,
    AddToSet,
}

#[derive(Debug, Clone)]
struct GroupField {
    key: Option<String>,
    name: String,
    op: GroupOp,
    /// `push` with `fields: [{key, name}]` pushes one object per document.
    sub_fields: Vec<(String, String)>,
}

/// A validated `group` stage.
#[derive(Debug, Clone)]
pub(crate) struct GroupSpec {
    keys: Vec<GroupKey>,
    fields: Vec<GroupField>,
}

fn str_of<'v>(m: &'v Map, long: &str, short: &str) -> Option<&'v str> {
    match m.get(long).or_else(|| m.get(short)) {
        Some(Value::String(s)) if !s.is_empty() => Some(s),
        _ => None,
    }
}

fn items<'v>(m: &'v Map, field: &str) -> Result<&'v [Value], QueryError> {
    match m.get(field) {
        None | Some(Value::Null) => Ok(&[]),
        Some(Value::List(l)) => Ok(l),
        Some(other) => Err(QueryError::db_query(format!(
            "'aggregate.group.{field}' must be a list, got {}",
            other.type_name()
        ))),
    }
}

fn parse_key(c: &Value) -> Result<GroupKey, QueryError> {
    let err = |what: &str| {
        QueryError::db_query(format!(
            "'aggregate.group.keys' condition requires a {what}: {}",
            render(c)
        ))
    };
    let Value::Object(m) = c else {
        return Err(err("key"));
    };
    let key = str_of(m, "key", "k").ok_or_else(|| err("key"))?.to_owned();
    let name = str_of(m, "name", "n")
        .ok_or_else(|| err("name"))?
        .to_owned();
    let date_format = match m.get("date_format") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(DateFormat::parse(s).map_err(QueryError::db_query)?),
        Some(_) => return Err(err("string date_format")),
    };
    Ok(GroupKey {
        key,
        name,
        date_format,
    })
}

fn parse_field(c: &Value) -> Result<GroupField, QueryError> {
    let err = |what: &str| {
        QueryError::db_query(format!(
            "'aggregate.group.fields' condition requires a {what}: {}",
            render(c)
        ))
    };
    let Value::Object(m) = c else {
        return Err(err("name"));
    };
    let op_name = str_of(m, "operator", "o").ok_or_else(|| err("operator"))?;
    let op = match op_name {
        "count" => GroupOp::Count,
        "sum" => GroupOp::Sum,
        "average" => GroupOp::Average,
        "max" => GroupOp::Max,
        "min" => GroupOp::Min,
        "first" => GroupOp::First,
        "last" => GroupOp::Last,
        "push" => GroupOp::Push,
        "add_to_set" => GroupOp::AddToSet,
        other => {
            return Err(QueryError::db_query(format!(
                "'aggregate.group.fields' condition's {other} operator is not supported. (supported_operator = {OPERATORS:?})"
            )));
        }
    };
    let name = str_of(m, "name", "n")
        .ok_or_else(|| err("name"))?
        .to_owned();
    let key = str_of(m, "key", "k").map(str::to_owned);
    let mut sub_fields = Vec::new();
    if op == GroupOp::Push && key.is_none() {
        let subs = match m.get("fields") {
            Some(Value::List(l)) if !l.is_empty() => l,
            _ => return Err(err("key or fields")),
        };
        for s in subs {
            let Value::Object(sm) = s else {
                return Err(err("fields of {key, name}"));
            };
            let k = str_of(sm, "key", "k").ok_or_else(|| err("fields of {key, name}"))?;
            let n = str_of(sm, "name", "n").ok_or_else(|| err("fields of {key, name}"))?;
            sub_fields.push((k.to_owned(), n.to_owned()));
        }
    } else if op != GroupOp::Count && key.is_none() {
        return Err(err("key"));
    }
    Ok(GroupField {
        key,
        name,
        op,
        sub_fields,
    })
}

impl GroupSpec {
    /// Decodes and validates a `group` stage body.
    pub(crate) fn parse(v: &Value) -> Result<GroupSpec, QueryError> {
        let Value::Object(m) = v else {
            return Err(QueryError::db_query(format!(
                "'aggregate.group' must be an object, got {}",
                v.type_name()
            )));
        };
        let keys = items(m, "keys")?
            .iter()
            .map(parse_key)
            .collect::<Result<Vec<_>, _>>()?;
        let fields = items(m, "fields")?
            .iter()
            .map(parse_field)
            .collect::<Result<Vec<_>, _>>()?;
        if keys.is_empty() && fields.is_empty() {
            return Err(QueryError::required_parameter(
                "aggregate.group.keys || aggregate.group.fields",
            ));
        }
        Ok(GroupSpec { keys, fields })
    }

    /// The output names of the group keys.
    pub(crate) fn key_names(&self) -> Vec<String> {
        self.keys.iter().map(|k| k.name.clone()).collect()
    }

    /// When every key is a plain path (no `date_format`) and every field a `count`: the
    /// keys' paths, the keys' names and the fields' names.
    pub(crate) fn count_shape(&self) -> Option<(Vec<&str>, Vec<&str>, Vec<&str>)> {
        if self.keys.iter().any(|k| k.date_format.is_some())
            || self.fields.iter().any(|f| f.op != GroupOp::Count)
        {
            return None;
        }
        Some((
            self.keys.iter().map(|k| k.key.as_str()).collect(),
            self.keys.iter().map(|k| k.name.as_str()).collect(),
            self.fields.iter().map(|f| f.name.as_str()).collect(),
        ))
    }

    /// Groups `docs`; one row per group, ordered by the key values. Every document ticks
    /// `meter`; every group is a row and every accumulated value a value of its budget.
    pub(crate) fn run<'a, D: Doc + ?Sized + 'a>(
        &self,
        docs: impl Iterator<Item = &'a D>,
        meter: &Meter<'_>,
    ) -> Result<Vec<Value>, QueryError> {
        let state = RandomState::new();
        let mut groups: Vec<Group<'a, D>> = Vec::new();
        let mut index: Option<HashIndex> = None;
        let mut scratch: Vec<Cow<'a, Value>> = Vec::with_capacity(self.keys.len());
        for doc in docs {
            meter.tick()?;
            scratch.clear();
            scratch.extend(self.keys.iter().map(|k| k.extract(doc)));
            let same =
                |g: &Group<'a, D>| g.key.iter().zip(&scratch).all(|(a, b)| values_equal(a, b));
            let found = match &mut index {
                None => groups.iter().position(same),
                Some(ix) => {
                    let h = hash_tuple(&state, scratch.iter().map(|c| c.as_ref()));
                    let slot = ix.entry(h).or_default();
                    let hit = slot
                        .iter()
                        .copied()
                        .find(|&i| groups.get(i).is_some_and(same));
                    if hit.is_none() {
                        slot.push(groups.len());
                    }
                    hit
                }
            };
            let gi = match found {
                Some(i) => i,
                None => {
                    let bytes = scratch.iter().map(|v| approx_bytes(v)).sum::<usize>();
                    meter.row(groups.len() + 1, bytes)?;
                    groups.push(Group {
                        key: scratch.drain(..).map(Cow::into_owned).collect(),
                        accs: self.fields.iter().map(Acc::new).collect(),
                    });
                    if index.is_none() && groups.len() > LINEAR_GROUPS {
                        let mut ix = HashIndex::default();
                        for (i, g) in groups.iter().enumerate() {
                            ix.entry(hash_tuple(&state, &g.key)).or_default().push(i);
                        }
                        index = Some(ix);
                    }
                    groups.len() - 1
                }
            };
            if let Some(g) = groups.get_mut(gi) {
                for (acc, f) in g.accs.iter_mut().zip(&self.fields) {
                    let added = acc.add(doc, f);
                    if added > 0 {
                        meter.value(added)?;
                    }
                }
            }
        }
        groups.sort_by(|a, b| {
            a.key
                .iter()
                .zip(&b.key)
                .map(|(x, y)| total_cmp(x, y))
                .find(|o| *o != Ordering::Equal)
                .unwrap_or(Ordering::Equal)
        });
        Ok(groups
            .into_iter()
            .map(|g| {
                let mut row = Map::new();
                for (k, v) in self.keys.iter().zip(g.key) {
                    row.insert(k.name.clone(), v);
                }
                for (f, acc) in self.fields.iter().zip(g.accs) {
                    row.insert(f.name.clone(), acc.finish(f));
                }
                Value::Object(row)
            })
            .collect())
    }
}

struct Group<'a, D: ?Sized> {
    key: Vec<Value>,
    accs: Vec<Acc<'a, D>>,
}

/// `$sum`: integers stay integers until a float appears or the sum overflows.
#[derive(Default)]
struct Sum {
    int: i64,
    float: f64,
    is_float: bool,
}

impl Sum {
    fn add(&mut self, v: &Value) {
        match v {
            Value::Int(i) if !self.is_float => match self.int.checked_add(*i) {
                Some(s) => self.int = s,
                None => {
                    self.is_float = true;
                    self.float = self.int as f64 + *i as f64;
                }
            },
            Value::Int(i) => self.float += *i as f64,
            Value::Float(x) => {
                if !self.is_float {
                    self.is_float = true;
                    self.float = self.int as f64;
                }
                self.float += x;
            }
            _ => {}
        }
    }

    fn value(&self) -> Value {
        if self.is_float {
            Value::Float(self.float)
        } else {
            Value::Int(self.int)
        }
    }
}

enum Acc<'a, D: ?Sized> {
    Count(i64),
    Sum(Sum),
    Average { sum: f64, n: u64 },
    Max(Option<Value>),
    Min(Option<Value>),
    First(Option<&'a D>),
    Last(Option<&'a D>),
    Push(Vec<Value>),
    AddToSet(ValueSet),
}

impl<'a, D: Doc + ?Sized> Acc<'a, D> {
    fn new(f: &GroupField) -> Self {
        match f.op {
            GroupOp::Count => Acc::Count(0),
            GroupOp::Sum => Acc::Sum(Sum::default()),
            GroupOp::Average => Acc::Average { sum: 0.0, n: 0 },
            GroupOp::Max => Acc::Max(None),
            GroupOp::Min => Acc::Min(None),
            GroupOp::First => Acc::First(None),
            GroupOp::Last => Acc::Last(None),
            GroupOp::Push => Acc::Push(Vec::new()),
            GroupOp::AddToSet => Acc::AddToSet(ValueSet::new()),
        }
    }

    /// Adds `doc`; the bytes of a value `push` or `add_to_set` kept (0 for the others).
    fn add(&mut self, doc: &'a D, f: &GroupField) -> usize {
        let field = || f.key.as_deref().and_then(|k| doc.field(k));
        match self {
            Acc::Count(n) => *n += 1,
            Acc::Sum(s) => {
                if let Some(v) = field() {
                    s.add(&v);
                }
            }
            Acc::Average { sum, n } => {
                if let Some(x) = field().and_then(|v| v.as_f64()) {
                    *sum += x;
                    *n += 1;
                }
            }
            Acc::Max(cur) | Acc::Min(cur) => {
                let want = if matches!(f.op, GroupOp::Max) {
                    Ordering::Greater
                } else {
                    Ordering::Less
                };
                if let Some(v) = field().filter(|v| !v.is_null())
                    && cur.as_ref().is_none_or(|c| total_cmp(&v, c) == want)
                {
                    *cur = Some(v.into_owned());
                }
            }
            Acc::First(d) => {
                if d.is_none() {
                    *d = Some(doc);
                }
            }
            Acc::Last(d) => *d = Some(doc),
            Acc::Push(items) => {
                if f.key.is_some() {
                    if let Some(v) = field() {
                        let bytes = approx_bytes(&v);
                        items.push(v.into_owned());
                        return bytes;
                    }
                } else {
                    let mut obj = Map::new();
                    for (k, n) in &f.sub_fields {
                        if let Some(v) = doc.field(k) {
                            obj.insert(n.clone(), v.into_owned());
                        }
                    }
                    let v = Value::Object(obj);
                    let bytes = approx_bytes(&v);
                    items.push(v);
                    return bytes;
                }
            }
            Acc::AddToSet(set) => {
                if let Some(v) = field() {
                    let (before, bytes) = (set.len(), approx_bytes(&v));
                    set.insert(v);
                    if set.len() > before {
                        return bytes;
                    }
                }
            }
        }
        0
    }

    fn finish(self, f: &GroupField) -> Value {
        let at = |d: Option<&D>| {
            d.zip(f.key.as_deref())
                .and_then(|(d, k)| d.field(k))
                .map_or(Value::Null, Cow::into_owned)
        };
        match self {
            Acc::Count(n) => Value::Int(n),
            Acc::Sum(s) => s.value(),
            Acc::Average { sum, n } => {
                if n == 0 {
                    Value::Null
                } else {
                    Value::Float(sum / n as f64)
                }
            }
            Acc::Max(v) | Acc::Min(v) => v.unwrap_or(Value::Null),
            Acc::First(d) | Acc::Last(d) => at(d),
            Acc::Push(items) => Value::List(items),
            Acc::AddToSet(set) => Value::List(set.into_vec()),
        }
    }
}
