//! Sorting (SPEC 7.1, 7.4): the three sort shapes, null/missing first ascending and last
//! descending, and a bounded top-k selection so a paged query does not sort every match.

use super::cmp::cmp_opt;
use super::doc::Doc;
use crate::api::value::Value;
use std::borrow::Cow;
use std::cmp::Ordering;

/// One sort key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SortKey {
    pub(crate) key: String,
    pub(crate) desc: bool,
}

fn sort_item(v: &Value, allow_name: bool) -> Result<SortKey, String> {
    let Value::Object(m) = v else {
        return Err(format!(
            "a sort key must be an object, got {}",
            v.type_name()
        ));
    };
    let key = m
        .get("key")
        .or_else(|| m.get("k"))
        .or_else(|| if allow_name { m.get("name") } else { None });
    let key = match key {
        Some(Value::String(k)) if !k.is_empty() => k.clone(),
        _ => return Err("a sort key needs a non-empty string 'key'".to_owned()),
    };
    let desc = match m.get("desc") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(other) => return Err(format!("'desc' must be a bool, got {}", other.type_name())),
    };
    Ok(SortKey { key, desc })
}

/// Decodes `{key, desc}`, `{keys: [{key, desc}]}` or `[{key, desc}]`. `{}` and `[]` give no
/// keys. `allow_name` also accepts `name` for the key (the stat sort stage's legacy form).
pub(crate) fn parse_sort(v: &Value, allow_name: bool) -> Result<Vec<SortKey>, String> {
    match v {
        Value::Null => Ok(Vec::new()),
        Value::List(items) => items.iter().map(|i| sort_item(i, allow_name)).collect(),
        Value::Object(m) => match m.get("keys") {
            Some(Value::List(items)) => items.iter().map(|i| sort_item(i, allow_name)).collect(),
            Some(other) => Err(format!("'keys' must be a list, got {}", other.type_name())),
            None if m.is_empty() => Ok(Vec::new()),
            None => Ok(vec![sort_item(v, allow_name)?]),
        },
        other => Err(format!(
            "sort must be an object or a list, got {}",
            other.type_name()
        )),
    }
}

/// Compares two key tuples under `keys`' directions.
fn cmp_keys(
    a: &[Option<Cow<'_, Value>>],
    b: &[Option<Cow<'_, Value>>],
    keys: &[SortKey],
) -> Ordering {
    for ((x, y), k) in a.iter().zip(b).zip(keys) {
        let o = cmp_opt(x.as_deref(), y.as_deref());
        let o = if k.desc { o.reverse() } else { o };
        if o != Ordering::Equal {
            return o;
        }
    }
    Ordering::Equal
}

/// Sorts rows in place (stable) by dotted keys.
pub(crate) fn sort_rows(rows: &mut [Value], keys: &[SortKey]) {
    rows.sort_by(|a, b| {
        for k in keys {
            let o = cmp_opt(a.pointer(&k.key), b.pointer(&k.key));
            let o = if k.desc { o.reverse() } else { o };
            if o != Ordering::Equal {
                return o;
            }
        }
        Ordering::Equal
    });
}

struct Entry<'a, D: ?Sized> {
    keys: Vec<Option<Cow<'a, Value>>>,
    /// Arrival order: the final tie-break, so the order is total and deterministic.
    pos: usize,
    doc: &'a D,
}

/// Keeps the `cap` smallest documents under `keys` (then arrival order) with memory
/// proportional to `cap`: candidates collect in a buffer of `2 * cap`, which is cut back to
/// the best `cap` by `select_nth_unstable_by` when full; afterwards anything not better than
/// the current worst kept entry is rejected after one comparison.
pub(crate) struct TopK<'a, 'k, D: ?Sized> {
    keys: &'k [SortKey],
    cap: usize,
    buf: Vec<Entry<'a, D>>,
    /// Index in `buf` of the worst kept entry, once the buffer has been cut.
    worst: Option<usize>,
    scratch: Vec<Option<Cow<'a, Value>>>,
    seen: usize,
}

impl<'a, 'k, D: Doc + ?Sized> TopK<'a, 'k, D> {
    /// A selector keeping `cap` documents.
    pub(crate) fn new(keys: &'k [SortKey], cap: usize) -> Self {
        TopK {
            keys,
            cap,
            buf: Vec::new(),
            worst: None,
            scratch: Vec::with_capacity(keys.len()),
            seen: 0,
        }
    }

    fn cmp(keys: &[SortKey], a: &Entry<'a, D>, b: &Entry<'a, D>) -> Ordering {
        cmp_keys(&a.keys, &b.keys, keys).then(a.pos.cmp(&b.pos))
    }

    /// Offers one document.
    pub(crate) fn push(&mut self, doc: &'a D) {
        let pos = self.seen;
        self.seen += 1;
        if self.cap == 0 {
            return;
        }
        self.scratch.clear();
        for k in self.keys {
            self.scratch.push(doc.field(&k.key));
        }
        if let Some(w) = self.worst.and_then(|w| self.buf.get(w)) {
            // A later arrival loses ties, so it must be strictly better to enter.
            if cmp_keys(&self.scratch, &w.keys, self.keys) != Ordering::Less {
                return;
            }
        }
        let keys = std::mem::replace(&mut self.scratch, Vec::with_capacity(self.keys.len()));
        self.buf.push(Entry { keys, pos, doc });
        if self.buf.len() >= self.cap.saturating_mul(2) {
            self.cut();
        }
    }

    /// Cuts the buffer back to the best `cap` entries and remembers the worst of them.
    fn cut(&mut self) {
        let keys = self.keys;
        if self.buf.len() > self.cap {
            self.buf
                .select_nth_unstable_by(self.cap, |a, b| Self::cmp(keys, a, b));
            self.buf.truncate(self.cap);
        }
        self.worst = self
            .buf
            .iter()
            .enumerate()
            .max_by(|(_, a), (_, b)| Self::cmp(keys, a, b))
            .map(|(i, _)| i);
    }

    /// The kept documents in order.
    pub(crate) fn into_sorted(mut self) -> Vec<&'a D> {
        let keys = self.keys;
        if self.buf.len() > self.cap {
            self.buf
                .select_nth_unstable_by(self.cap, |a, b| Self::cmp(keys, a, b));
            self.buf.truncate(self.cap);
        }
        self.buf.sort_unstable_by(|a, b| Self::cmp(keys, a, b));
        self.buf.into_iter().map(|e| e.doc).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value;

    fn keys(v: Value) -> Vec<SortKey> {
        parse_sort(&v, false).unwrap()
    }

    #[test]
    fn three_shapes() {
        let one = vec![SortKey {
            key: "name".into(),
            desc: true,
        }];
        assert_eq!(keys(value!({"key": "name", "desc": true})), one);
        assert_eq!(keys(value!({"keys": [{"key": "name", "desc": true}]})), one);
        assert_eq!(keys(value!([{"key": "name", "desc": true}])), one);
        assert_eq!(
            keys(value!([{"k": "a"}, {"key": "b", "desc": false}])).len(),
            2
        );
        assert_eq!(keys(value!({})), vec![]);
        assert_eq!(keys(value!([])), vec![]);
        assert_eq!(keys(Value::Null), vec![]);
        assert_eq!(
            parse_sort(&value!({"name": "x"}), true).unwrap()[0].key,
            "x"
        );
        assert!(parse_sort(&value!({"name": "x"}), false).is_err());
        assert!(parse_sort(&value!({"key": "x", "desc": "yes"}), false).is_err());
        assert!(parse_sort(&value!({"keys": "x"}), false).is_err());
        assert!(parse_sort(&value!("name"), false).is_err());
        assert!(parse_sort(&value!([{"key": ""}]), false).is_err());
        assert!(parse_sort(&value!([1]), false).is_err());
    }

    #[test]
    fn topk_matches_full_sort() {
        let docs: Vec<Value> = (0..200)
            .map(|i| value!({"n": (i * 37) % 23, "id": i}))
            .collect();
        let ks = vec![SortKey {
            key: "n".into(),
            desc: true,
        }];
        for cap in [0, 1, 5, 23, 199, 200, 500] {
            let mut t = TopK::new(&ks, cap);
            for d in &docs {
                t.push(d);
            }
            let got: Vec<i64> = t
                .into_sorted()
                .iter()
                .map(|d| d.get("id").and_then(Value::as_i64).unwrap())
                .collect();
            let mut all: Vec<(i64, i64)> = docs
                .iter()
                .map(|d| {
                    (
                        d.get("n").and_then(Value::as_i64).unwrap(),
                        d.get("id").and_then(Value::as_i64).unwrap(),
                    )
                })
                .collect();
            all.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
            let want: Vec<i64> = all.iter().take(cap).map(|p| p.1).collect();
            assert_eq!(got, want, "cap {cap}");
        }
    }

    #[test]
    fn rows_sort_nulls_first_ascending_last_descending() {
        let mut rows = vec![
            value!({"a": "b"}),
            value!({}),
            value!({"a": null}),
            value!({"a": "a"}),
        ];
        sort_rows(&mut rows, &keys(value!({"key": "a"})));
        assert_eq!(
            rows,
            vec![
                value!({}),
                value!({"a": null}),
                value!({"a": "a"}),
                value!({"a": "b"})
            ]
        );
        sort_rows(&mut rows, &keys(value!({"key": "a", "desc": true})));
        assert_eq!(
            rows,
            vec![
                value!({"a": "b"}),
                value!({"a": "a"}),
                value!({}),
                value!({"a": null})
            ]
        );
    }
}
