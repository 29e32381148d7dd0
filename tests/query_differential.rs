//! Differential test: `run_query` against a deliberately simple reference implementation
//! (scan, filter, stable sort, slice) written independently here.

use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Utc};
use identityd::api::Value;
use identityd::query::{EngineConfig, Query, run_query};
use proptest::prelude::*;
use serde_json::{Value as J, json};
use std::cmp::Ordering;

// ---------------------------------------------------------------------------------------------
// Reference implementation.

fn r_get<'a>(doc: &'a J, path: &str) -> Option<&'a J> {
    let mut cur = doc;
    for part in path.split('.') {
        cur = cur.as_object()?.get(part)?;
    }
    Some(cur)
}

fn r_rank(v: &J) -> u8 {
    match v {
        J::Null => 0,
        J::Number(_) => 1,
        J::String(_) => 2,
        J::Object(_) => 3,
        J::Array(_) => 4,
        J::Bool(_) => 5,
    }
}

fn r_cmp(a: &J, b: &J) -> Ordering {
    if r_rank(a) != r_rank(b) {
        return r_rank(a).cmp(&r_rank(b));
    }
    match (a, b) {
        (J::Number(x), J::Number(y)) => x
            .as_f64()
            .unwrap()
            .partial_cmp(&y.as_f64().unwrap())
            .unwrap(),
        (J::String(x), J::String(y)) => x.cmp(y),
        (J::Bool(x), J::Bool(y)) => x.cmp(y),
        (J::Array(x), J::Array(y)) => {
            for (p, q) in x.iter().zip(y) {
                let o = r_cmp(p, q);
                if o != Ordering::Equal {
                    return o;
                }
            }
            x.len().cmp(&y.len())
        }
        (J::Object(x), J::Object(y)) => {
            let mut xs: Vec<_> = x.iter().collect();
            let mut ys: Vec<_> = y.iter().collect();
            xs.sort_by(|p, q| p.0.cmp(q.0));
            ys.sort_by(|p, q| p.0.cmp(q.0));
            for ((ka, va), (kb, vb)) in xs.iter().zip(&ys) {
                let o = ka.cmp(kb).then_with(|| r_cmp(va, vb));
                if o != Ordering::Equal {
                    return o;
                }
            }
            xs.len().cmp(&ys.len())
        }
        _ => Ordering::Equal,
    }
}

fn r_eq(a: &J, b: &J) -> bool {
    r_cmp(a, b) == Ordering::Equal
}

fn r_lower(s: &str) -> String {
    s.chars().flat_map(char::to_lowercase).collect()
}

/// The field's candidate values: the value itself and, for a list, its elements.
fn r_candidates(v: &J) -> Vec<&J> {
    let mut out = vec![v];
    if let J::Array(items) = v {
        out.extend(items.iter());
    }
    out
}

/// Scalars the ordering/string/date operators look at: the elements of a list, else the value.
fn r_scalars(v: &J) -> Vec<&J> {
    match v {
        J::Array(items) => items.iter().collect(),
        other => vec![other],
    }
}

fn r_time(v: &J) -> Option<i64> {
    match v {
        J::Number(n) => n.as_i64(),
        J::String(s) => r_parse_time(s),
        _ => None,
    }
}

fn r_parse_time(s: &str) -> Option<i64> {
    if let Ok(d) = DateTime::parse_from_rfc3339(s) {
        return Some(d.timestamp_millis());
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d").ok().map(|d| {
        Utc.from_utc_datetime(&d.and_hms_opt(0, 0, 0).unwrap())
            .timestamp_millis()
    })
}

fn r_timediff(s: &str, now: i64) -> i64 {
    let now_dt = Utc.timestamp_millis_opt(now).unwrap();
    let midnight = |d: NaiveDate| Utc.from_utc_datetime(&d.and_hms_opt(0, 0, 0).unwrap());
    let (base, rest) = if let Some(r) = s.strip_prefix("now/d") {
        (midnight(now_dt.date_naive()), r)
    } else if let Some(r) = s.strip_prefix("now/w") {
        let d = now_dt.date_naive();
        (
            midnight(d - Duration::days(i64::from(d.weekday().num_days_from_monday()))),
            r,
        )
    } else if let Some(r) = s.strip_prefix("now/m") {
        (midnight(now_dt.date_naive().with_day(1).unwrap()), r)
    } else {
        (now_dt, s.strip_prefix("now").unwrap())
    };
    if rest.is_empty() {
        return base.timestamp_millis();
    }
    let sign = if rest.starts_with('-') { -1 } else { 1 };
    let n: i64 = rest[1..rest.len() - 1].parse().unwrap();
    let d = match rest.chars().last().unwrap() {
        's' => Duration::seconds(n),
        'm' => Duration::minutes(n),
        'h' => Duration::hours(n),
        'd' => Duration::days(n),
        'w' => Duration::weeks(n),
        _ => unreachable!(),
    };
    (base + d * sign).timestamp_millis()
}

fn r_ord(op: &str, o: Ordering) -> bool {
    match op {
        "lt" => o == Ordering::Less,
        "lte" => o != Ordering::Greater,
        "gt" => o == Ordering::Greater,
        _ => o != Ordering::Less,
    }
}

fn r_cond(doc: &J, c: &J, now: i64) -> bool {
    let key = c["k"].as_str().unwrap();
    let op = c["o"].as_str().unwrap();
    let v = &c["v"];
    let f = r_get(doc, key);
    let eq = |f: Option<&J>, v: &J| match f {
        None => v.is_null(),
        Some(f) => r_candidates(f).into_iter().any(|x| r_eq(x, v)),
    };
    let strings = |f: Option<&J>| -> Vec<String> {
        f.map(|f| {
            r_scalars(f)
                .into_iter()
                .filter_map(|x| x.as_str())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
    };
    match op {
        "eq" => eq(f, v),
        "not" => !eq(f, v),
        "in" => v.as_array().unwrap().iter().any(|x| eq(f, x)),
        "not_in" => !v.as_array().unwrap().iter().any(|x| eq(f, x)),
        "lt" | "lte" | "gt" | "gte" => f.is_some_and(|f| {
            r_scalars(f).into_iter().any(|x| match (x, v) {
                (J::Number(_), J::Number(_)) | (J::String(_), J::String(_)) => {
                    r_ord(op, r_cmp(x, v))
                }
                _ => false,
            })
        }),
        "exists" => f.is_some() == v.as_bool().unwrap(),
        "contain" => strings(f)
            .iter()
            .any(|s| r_lower(s).contains(&r_lower(v.as_str().unwrap()))),
        "not_contain" => !strings(f)
            .iter()
            .any(|s| r_lower(s).contains(&r_lower(v.as_str().unwrap()))),
        "contain_in" | "not_contain_in" => {
            let any = v.as_array().unwrap().iter().any(|n| {
                strings(f)
                    .iter()
                    .any(|s| r_lower(s).contains(&r_lower(n.as_str().unwrap())))
            });
            any == (op == "contain_in")
        }
        "regex" | "regex_in" => {
            let pats: Vec<&str> = match v {
                J::Array(a) => a.iter().map(|p| p.as_str().unwrap()).collect(),
                p => vec![p.as_str().unwrap()],
            };
            pats.iter().any(|p| {
                let re = regex::RegexBuilder::new(p)
                    .case_insensitive(true)
                    .build()
                    .unwrap();
                strings(f).iter().any(|s| re.is_match(s))
            })
        }
        "match" => f.and_then(J::as_array).is_some_and(|items| {
            items.iter().any(|e| {
                e.is_object()
                    && v.as_object()
                        .unwrap()
                        .iter()
                        .all(|(k, want)| eq(r_get(e, k), want))
            })
        }),
        _ => {
            let (kind, ord) = op.split_once('_').unwrap();
            let t = if kind == "datetime" {
                r_parse_time(v.as_str().unwrap()).unwrap()
            } else {
                r_timediff(v.as_str().unwrap(), now)
            };
            f.is_some_and(|f| {
                r_scalars(f)
                    .into_iter()
                    .any(|x| r_time(x).is_some_and(|ms| r_ord(ord, ms.cmp(&t))))
            })
        }
    }
}

fn r_run(docs: &[J], q: &J, now: i64, max: usize) -> (Vec<String>, u64) {
    let empty = vec![];
    let filter = q.get("filter").and_then(J::as_array).unwrap_or(&empty);
    let filter_or = q.get("filter_or").and_then(J::as_array).unwrap_or(&empty);
    let words: Vec<String> = q
        .get("keyword")
        .and_then(J::as_str)
        .map(|k| k.split_whitespace().map(r_lower).collect())
        .unwrap_or_default();
    let mut hits: Vec<&J> = docs
        .iter()
        .filter(|d| filter.iter().all(|c| r_cond(d, c, now)))
        .filter(|d| filter_or.is_empty() || filter_or.iter().any(|c| r_cond(d, c, now)))
        .filter(|d| {
            words.is_empty()
                || ["user_id", "name", "email"].iter().any(|k| {
                    r_get(d, k)
                        .and_then(J::as_str)
                        .is_some_and(|s| words.iter().any(|w| r_lower(s).contains(w)))
                })
        })
        .collect();
    let total = hits.len() as u64;
    if q.get("count_only") == Some(&json!(true)) {
        return (vec![], total);
    }
    let mut keys: Vec<(String, bool)> = match q.get("sort").and_then(J::as_array) {
        Some(s) if !s.is_empty() => s
            .iter()
            .map(|k| {
                (
                    k["key"].as_str().unwrap().to_owned(),
                    k["desc"].as_bool().unwrap_or(false),
                )
            })
            .collect(),
        _ => vec![("name".to_owned(), false)],
    };
    keys.push(("user_id".to_owned(), false));
    hits.sort_by(|a, b| {
        for (k, desc) in &keys {
            let o = r_cmp(
                r_get(a, k).unwrap_or(&J::Null),
                r_get(b, k).unwrap_or(&J::Null),
            );
            let o = if *desc { o.reverse() } else { o };
            if o != Ordering::Equal {
                return o;
            }
        }
        Ordering::Equal
    });
    let limit = q.pointer("/page/limit").and_then(J::as_i64).unwrap_or(0);
    let (skip, take) = if limit > 0 {
        let start = q
            .pointer("/page/start")
            .and_then(J::as_i64)
            .unwrap_or(1)
            .max(1);
        ((start - 1) as usize, limit as usize)
    } else if max > 0 {
        (0, max)
    } else {
        (0, usize::MAX)
    };
    let ids = hits
        .iter()
        .skip(skip)
        .take(take)
        .map(|d| d["user_id"].as_str().unwrap().to_owned())
        .collect();
    (ids, total)
}

// ---------------------------------------------------------------------------------------------
// Generators.

const NOW: i64 = 1_795_000_000_000; // 2026-11-18 (a Wednesday) 08:26:40 UTC
const WORDS: &[&str] = &[
    "alice", "Alice", "ALI", "bob", "Ünal", "ünal", "zoë", "", "li", "x.io", "B",
];

fn word() -> impl Strategy<Value = String> {
    proptest::sample::select(WORDS).prop_map(str::to_owned)
}

fn scalar() -> impl Strategy<Value = J> {
    prop_oneof![
        word().prop_map(J::from),
        proptest::sample::select(&["ENABLED", "DISABLED", "PENDING", "enabled", "3"][..])
            .prop_map(J::from),
        (0i64..5).prop_map(J::from),
        (0i64..10).prop_map(|h| json!(h as f64 / 2.0)),
        any::<bool>().prop_map(J::from),
        Just(J::Null),
    ]
}

fn time_value() -> impl Strategy<Value = J> {
    const DAY: i64 = 86_400_000;
    // Offsets from NOW, including instants that land on the timediff bases.
    let offsets: &[i64] = &[
        -30 * DAY - 123,
        -14 * DAY,
        -3 * DAY + 999,
        -DAY,
        -DAY + 1,
        -500,
        0,
        7_200_000,
        30 * DAY + 7,
        -(NOW % DAY),
        -(NOW % DAY) - 2 * DAY,
        -(NOW % DAY) - 17 * DAY,
    ];
    (
        proptest::sample::select(offsets),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(d, as_int, millis)| {
            let ms = NOW + d;
            if as_int {
                json!(ms)
            } else {
                let dt = Utc
                    .timestamp_millis_opt(if millis { ms } else { ms - ms.rem_euclid(1000) })
                    .unwrap();
                json!(dt.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
            }
        })
}

fn doc(i: usize) -> impl Strategy<Value = J> {
    (
        (
            proptest::sample::select(&["a", "B", "ü", ""][..]),
            proptest::option::of(prop_oneof![
                word().prop_map(J::from),
                Just(J::Null),
                Just(json!(7))
            ]),
        ),
        proptest::option::of(proptest::sample::select(
            &["alice@x.io", "BOB@y.io", "li@ünal.de", ""][..],
        )),
        proptest::option::of(prop_oneof![
            proptest::sample::select(&["ENABLED", "DISABLED", "PENDING", "enabled"][..])
                .prop_map(J::from),
            Just(json!(1))
        ]),
        proptest::option::of((proptest::option::of(word()), proptest::option::of(0i64..4))),
        proptest::option::of(scalar()),
        proptest::option::of(proptest::collection::vec(word(), 0..3)),
        proptest::option::of(time_value()),
        proptest::option::of(proptest::collection::vec(
            (0i64..3, proptest::sample::select(&["OWNER", "MEMBER"][..])),
            0..3,
        )),
    )
        .prop_map(
            move |((prefix, name), email, state, tags, age, roles, created, ws)| {
                let mut d = serde_json::Map::new();
                d.insert("user_id".into(), json!(format!("{prefix}{i}")));
                let mut put = |k: &str, v: Option<J>| {
                    if let Some(v) = v {
                        d.insert(k.into(), v);
                    }
                };
                put("name", name);
                put("email", email.map(J::from));
                put("state", state);
                put(
                    "tags",
                    tags.map(|(team, level)| {
                        let mut t = serde_json::Map::new();
                        if let Some(team) = team {
                            t.insert("team".into(), json!(team));
                        }
                        if let Some(level) = level {
                            t.insert("level".into(), json!(level));
                        }
                        J::Object(t)
                    }),
                );
                put("age", age);
                put("roles", roles.map(|r| json!(r)));
                put("created_at", created);
                put(
                    "ws",
                    ws.map(|w| {
                        json!(
                            w.iter()
                                .map(|(id, role)| json!({"id": id, "role": role}))
                                .collect::<Vec<_>>()
                        )
                    }),
                );
                J::Object(d)
            },
        )
}

fn docs() -> impl Strategy<Value = Vec<J>> {
    (0usize..25).prop_flat_map(|n| (0..n).map(doc).collect::<Vec<_>>())
}

const KEYS: &[&str] = &[
    "name",
    "email",
    "state",
    "tags.team",
    "tags.level",
    "tags",
    "age",
    "roles",
    "missing",
    "created_at",
    "ws",
    "user_id",
];

fn keyed(
    keys: &'static [&'static str],
    op: impl Strategy<Value = (&'static str, J)>,
) -> impl Strategy<Value = J> {
    (proptest::sample::select(keys), op).prop_map(|(k, (o, v))| json!({"k": k, "o": o, "v": v}))
}

const ORDERED: &[&str] = &[
    "age",
    "tags.level",
    "name",
    "email",
    "user_id",
    "roles",
    "missing",
];
const TEXT: &[&str] = &[
    "name", "email", "roles", "user_id", "state", "age", "missing",
];
const TIMES: &[&str] = &["created_at", "age", "name", "missing"];

fn cond() -> impl Strategy<Value = J> {
    prop_oneof![
        keyed(
            KEYS,
            (proptest::sample::select(&["eq", "not"][..]), scalar())
        ),
        keyed(
            ORDERED,
            (
                proptest::sample::select(&["lt", "lte", "gt", "gte"][..]),
                prop_oneof![
                    word().prop_map(J::from),
                    (0i64..5).prop_map(J::from),
                    Just(json!(2.5)),
                    Just(json!(3.0))
                ]
            )
        ),
        keyed(KEYS, any::<bool>().prop_map(|b| ("exists", json!(b)))),
        keyed(
            TEXT,
            (
                proptest::sample::select(&["contain", "not_contain"][..]),
                word().prop_map(J::from)
            )
        ),
        keyed(
            KEYS,
            (
                proptest::sample::select(&["in", "not_in"][..]),
                proptest::collection::vec(scalar(), 0..4).prop_map(J::from)
            )
        ),
        keyed(
            TEXT,
            (
                proptest::sample::select(&["contain_in", "not_contain_in"][..]),
                proptest::collection::vec(word(), 0..3).prop_map(|w| json!(w))
            )
        ),
        keyed(
            TEXT,
            proptest::sample::select(&["^a", "b$", "LI", "ü", ".", "^$", "[0-9]"][..])
                .prop_map(|p| ("regex", json!(p)))
        ),
        keyed(
            TEXT,
            proptest::collection::vec(proptest::sample::select(&["^a", "O", "z"][..]), 0..3)
                .prop_map(|p| ("regex_in", json!(p)))
        ),
        keyed(
            &["ws", "roles", "tags"],
            (
                (0i64..3),
                proptest::sample::select(&["OWNER", "MEMBER"][..]),
                any::<bool>()
            )
                .prop_map(|(id, role, both)| (
                    "match",
                    if both {
                        json!({"id": id, "role": role})
                    } else {
                        json!({"role": role})
                    }
                ))
        ),
        keyed(
            TIMES,
            (
                proptest::sample::select(
                    &["datetime_lt", "datetime_lte", "datetime_gt", "datetime_gte"][..]
                ),
                time_value()
            )
                .prop_map(|(o, v)| match v {
                    J::Number(n) => {
                        let ms = n.as_i64().unwrap();
                        (
                            o,
                            json!(
                                Utc.timestamp_millis_opt(ms)
                                    .unwrap()
                                    .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
                            ),
                        )
                    }
                    other => (o, other),
                })
        ),
        keyed(
            TIMES,
            (
                proptest::sample::select(
                    &["timediff_lt", "timediff_lte", "timediff_gt", "timediff_gte"][..]
                ),
                proptest::sample::select(
                    &[
                        "now",
                        "now/d",
                        "now/w",
                        "now/m",
                        "now-1d",
                        "now-2w",
                        "now/d-3d",
                        "now+1h",
                        "now/m-30m",
                        "now-100s"
                    ][..]
                )
                .prop_map(J::from)
            )
        ),
    ]
}

fn query() -> impl Strategy<Value = J> {
    (
        proptest::collection::vec(cond(), 0..3),
        proptest::collection::vec(cond(), 0..3),
        proptest::option::of(proptest::collection::vec(word(), 1..3)),
        proptest::option::of(proptest::collection::vec(
            (proptest::sample::select(KEYS), any::<bool>()),
            0..3,
        )),
        proptest::option::of((-1i64..8, 0i64..7)),
        proptest::bool::weighted(0.1),
    )
        .prop_map(|(filter, filter_or, keyword, sort, page, count_only)| {
            let mut q = json!({"filter": filter, "filter_or": filter_or, "count_only": count_only});
            if let Some(words) = keyword {
                q["keyword"] = json!(words.join(" "));
            }
            if let Some(sort) = sort {
                q["sort"] = json!(
                    sort.iter()
                        .map(|(k, d)| json!({"key": k, "desc": d}))
                        .collect::<Vec<_>>()
                );
            }
            if let Some((start, limit)) = page {
                q["page"] = json!({"start": start, "limit": limit});
            }
            q
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    #[test]
    fn run_query_matches_the_reference(docs in docs(), q in query(), max in proptest::sample::select(&[0usize, 3, 10_000][..])) {
        let values: Vec<Value> = docs.iter().cloned().map(Value::from).collect();
        let parsed = Query::parse(&Value::from(q.clone()));
        prop_assert!(parsed.is_ok(), "{q} rejected: {:?}", parsed.err());
        let parsed = parsed.unwrap();
        let cfg = EngineConfig { max_list_results: max, ..EngineConfig::default() };
        let page = run_query(&parsed, &values, NOW, &cfg);
        let got: Vec<String> = page
            .results
            .iter()
            .map(|d| d.get("user_id").and_then(Value::as_str).unwrap_or("?").to_owned())
            .collect();
        let (want, total) = r_run(&docs, &q, NOW, max);
        prop_assert_eq!(page.total_count, total, "total_count for {}", q);
        prop_assert_eq!(got, want, "ids for {}", q);
    }
}

#[test]
fn reference_timediff_agrees_on_a_known_week() {
    // Sanity check of the reference itself: NOW is a Wednesday.
    let monday = Utc
        .with_ymd_and_hms(2026, 11, 16, 0, 0, 0)
        .unwrap()
        .timestamp_millis();
    assert_eq!(r_timediff("now/w", NOW), monday);
    assert_eq!(
        Utc.timestamp_millis_opt(NOW).unwrap().weekday(),
        chrono::Weekday::Wed
    );
}
