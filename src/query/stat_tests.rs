//! Statistics queries: every stage, every group operator, distinct, paging, errors.

use crate::api::value::Value;
use crate::query::{Doc, EngineConfig, QueryErrorCode, StatQuery, StatResult, run_stat};
use crate::value;
use serde_json::json;
use std::borrow::Cow;
use std::cell::Cell;

fn users() -> Vec<Value> {
    vec![
        value!({"user_id": "u1", "name": "Ann", "state": "ENABLED", "age": 30, "score": 1.5,
                "roles": ["a", "b"], "tags": {"team": "core"}, "created_at": "2026-11-22T10:54:11.123Z"}),
        value!({"user_id": "u2", "name": "Bob", "state": "DISABLED", "age": 20,
                "roles": [], "tags": {"team": "core"}, "created_at": "2026-11-23T00:00:00Z"}),
        value!({"user_id": "u3", "name": "Cid", "state": "ENABLED", "age": "40",
                "roles": ["b"], "created_at": 1_763_000_000_000i64}),
        value!({"user_id": "u4", "name": "Dee", "state": "ENABLED", "age": 10, "score": 2,
                "tags": {"team": "web"}, "created_at": "2026-10-01T00:00:00Z"}),
        value!({"user_id": "u5", "name": "Eve", "state": "PENDING", "roles": ["c", "a", "c"]}),
        value!({"user_id": "u6", "name": "Fay", "age": 50}),
    ]
}

fn stat_on(docs: &[Value], v: serde_json::Value) -> StatResult {
    let q = StatQuery::parse(&Value::from(v)).unwrap_or_else(|e| panic!("{e}"));
    run_stat(&q, docs, 0, &EngineConfig::default()).unwrap()
}

fn stat(v: serde_json::Value) -> Vec<Value> {
    stat_on(&users(), v).results
}

fn err(v: serde_json::Value) -> crate::query::QueryError {
    StatQuery::parse(&Value::from(v)).map(|_| ()).unwrap_err()
}

fn group(keys: serde_json::Value, fields: serde_json::Value) -> Vec<Value> {
    stat(json!({"aggregate": [{"group": {"keys": keys, "fields": fields}}]}))
}

#[test]
fn spec_example_users_by_state_count_desc() {
    let r = stat(json!({"aggregate": [
        {"group": {"keys": [{"key": "state", "name": "state"}],
                   "fields": [{"name": "count", "operator": "count"}]}},
        {"sort": {"key": "count", "desc": true}}
    ]}));
    assert_eq!(
        r,
        vec![
            value!({"state": "ENABLED", "count": 3}),
            value!({"state": null, "count": 1}),
            value!({"state": "DISABLED", "count": 1}),
            value!({"state": "PENDING", "count": 1}),
        ]
    );
}

#[test]
fn missing_group_key_groups_as_null_and_rows_are_ordered_by_key() {
    let r = group(
        json!([{"key": "tags.team", "name": "team"}]),
        json!([{"name": "n", "operator": "count"}]),
    );
    assert_eq!(
        r,
        vec![
            value!({"team": null, "n": 3}),
            value!({"team": "core", "n": 2}),
            value!({"team": "web", "n": 1})
        ]
    );
    let r = group(
        json!([{"k": "state", "n": "s"}, {"k": "tags.team", "n": "t"}]),
        json!([{"n": "n", "o": "count"}]),
    );
    assert_eq!(r.len(), 6);
    assert_eq!(r[0], value!({"s": null, "t": null, "n": 1}));
    assert_eq!(r[2], value!({"s": "ENABLED", "t": null, "n": 1}));
}

#[test]
fn many_groups_use_the_hash_index_correctly() {
    let docs: Vec<Value> = (0..1_000).map(|i| value!({"k": i % 37, "f": if i % 2 == 0 { value!(i % 37) } else { value!(f64::from(i % 37)) }})).collect();
    let r = stat_on(&docs, json!({"aggregate": [{"group": {"keys": [{"key": "f", "name": "f"}], "fields": [{"name": "n", "operator": "count"}, {"key": "k", "name": "ks", "operator": "add_to_set"}]}}]})).results;
    // 7 and 7.0 are one group.
    assert_eq!(r.len(), 37);
    for (i, row) in r.iter().enumerate() {
        assert!(crate::query::values_equal(
            row.get("f").unwrap(),
            &Value::Int(i as i64)
        ));
        assert_eq!(row.get("ks"), Some(&value!([i])));
        assert_eq!(
            row.get("n").and_then(Value::as_i64),
            Some(if i < 1_000 % 37 { 28 } else { 27 })
        );
    }
}

#[test]
fn date_format_on_iso_and_millisecond_timestamps() {
    let r = group(
        json!([{"key": "created_at", "name": "day", "date_format": "%Y-%m-%d"}]),
        json!([{"name": "n", "operator": "count"}]),
    );
    assert_eq!(
        r,
        vec![
            value!({"day": null, "n": 2}),
            value!({"day": "2025-11-13", "n": 1}),
            value!({"day": "2026-10-01", "n": 1}),
            value!({"day": "2026-11-22", "n": 1}),
            value!({"day": "2026-11-23", "n": 1}),
        ]
    );
    let r = group(
        json!([{"key": "created_at", "name": "month", "date_format": "%Y-%m"}]),
        json!([{"name": "n", "operator": "count"}]),
    );
    assert_eq!(
        r[1..],
        [
            value!({"month": "2025-11", "n": 1}),
            value!({"month": "2026-10", "n": 1}),
            value!({"month": "2026-11", "n": 2})
        ]
    );
    let r = group(
        json!([{"key": "created_at", "name": "y", "date_format": "year"}]),
        json!([]),
    );
    assert_eq!(
        r,
        vec![
            value!({"y": null}),
            value!({"y": 2025}),
            value!({"y": 2026})
        ]
    );
    assert_eq!(
        err(json!({"aggregate": [{"group": {"keys": [{"key": "created_at", "name": "d", "date_format": "%Q"}]}}]})).code,
        QueryErrorCode::DbQuery
    );
}

#[test]
fn group_operators() {
    let all = json!([]);
    let f = |fields: serde_json::Value| group(all.clone(), fields).remove(0);
    assert_eq!(
        f(json!([{"name": "n", "operator": "count"}])),
        value!({"n": 6})
    );
    // sum: numbers only; ints stay ints; a float makes it a float.
    assert_eq!(
        f(json!([{"key": "age", "name": "s", "operator": "sum"}])),
        value!({"s": 110})
    );
    assert_eq!(
        f(json!([{"key": "score", "name": "s", "operator": "sum"}])),
        value!({"s": 3.5})
    );
    assert_eq!(
        f(json!([{"key": "missing", "name": "s", "operator": "sum"}])),
        value!({"s": 0})
    );
    // average: numbers only; nothing → null.
    assert_eq!(
        f(json!([{"key": "age", "name": "a", "operator": "average"}])),
        value!({"a": 27.5})
    );
    assert_eq!(
        f(json!([{"key": "missing", "name": "a", "operator": "average"}])),
        value!({"a": null})
    );
    assert_eq!(
        f(json!([{"key": "name", "name": "a", "operator": "average"}])),
        value!({"a": null})
    );
    // max/min order strings too (and strings rank above numbers); nothing → null.
    assert_eq!(
        f(json!([{"key": "name", "name": "m", "operator": "max"}])),
        value!({"m": "Fay"})
    );
    assert_eq!(
        f(json!([{"key": "name", "name": "m", "operator": "min"}])),
        value!({"m": "Ann"})
    );
    assert_eq!(
        f(json!([{"key": "age", "name": "m", "operator": "max"}])),
        value!({"m": "40"})
    );
    assert_eq!(
        f(json!([{"key": "age", "name": "m", "operator": "min"}])),
        value!({"m": 10})
    );
    assert_eq!(
        f(json!([{"key": "missing", "name": "m", "operator": "max"}])),
        value!({"m": null})
    );
    assert_eq!(
        f(json!([{"key": "missing", "name": "m", "operator": "min"}])),
        value!({"m": null})
    );
    // first/last in input order; a missing field is null.
    assert_eq!(
        f(
            json!([{"key": "name", "name": "x", "operator": "first"}, {"key": "name", "name": "y", "operator": "last"}])
        ),
        value!({"x": "Ann", "y": "Fay"})
    );
    assert_eq!(
        f(json!([{"key": "state", "name": "y", "operator": "last"}])),
        value!({"y": null})
    );
    // push keeps order and duplicates, skips missing; add_to_set dedups strictly.
    assert_eq!(
        f(json!([{"key": "tags.team", "name": "p", "operator": "push"}])),
        value!({"p": ["core", "core", "web"]})
    );
    assert_eq!(
        f(json!([{"key": "tags.team", "name": "p", "operator": "add_to_set"}])),
        value!({"p": ["core", "web"]})
    );
    assert_eq!(
        f(json!([{"key": "age", "name": "p", "operator": "add_to_set"}])),
        value!({"p": [30, 20, "40", 10, 50]})
    );
    assert_eq!(
        f(json!([{"name": "p", "operator": "push", "fields": [{"key": "user_id", "name": "id"}, {"key": "tags.team", "name": "team"}]}]))
            .get("p")
            .and_then(Value::as_list)
            .map(|l| l[..3].to_vec()),
        Some(vec![value!({"id": "u1", "team": "core"}), value!({"id": "u2", "team": "core"}), value!({"id": "u3"})])
    );
}

#[test]
fn sum_overflow_turns_into_a_float() {
    let docs = vec![value!({"n": i64::MAX}), value!({"n": 1})];
    let r = stat_on(&docs, json!({"aggregate": [{"group": {"fields": [{"key": "n", "name": "s", "operator": "sum"}]}}]})).results;
    assert_eq!(r, vec![value!({"s": 9_223_372_036_854_775_808.0})]);
}

#[test]
fn group_of_nothing_has_no_rows() {
    let r = stat(json!({
        "filter": [{"k": "state", "v": "NOPE", "o": "eq"}],
        "aggregate": [{"group": {"fields": [{"name": "n", "operator": "count"}]}}]
    }));
    assert!(r.is_empty());
    let r = stat(
        json!({"filter": [{"k": "state", "v": "NOPE", "o": "eq"}], "aggregate": [{"count": {"name": "n"}}]}),
    );
    assert!(r.is_empty());
}

#[test]
fn count_stage() {
    assert_eq!(
        stat(json!({"aggregate": [{"count": {"name": "total"}}]})),
        vec![value!({"total": 6})]
    );
    assert_eq!(
        stat(json!({"aggregate": [
            {"group": {"keys": [{"key": "state", "name": "state"}]}},
            {"count": {"name": "states"}}
        ]})),
        vec![value!({"states": 4})]
    );
    assert_eq!(
        err(json!({"aggregate": [{"count": {}}]})).code,
        QueryErrorCode::RequiredParameter
    );
    assert_eq!(
        err(json!({"aggregate": [{"count": {}}]})).message,
        "Required parameter. (key = aggregate.count.name)"
    );
}

#[test]
fn sort_stage_shapes() {
    let base = json!({"group": {"keys": [{"key": "state", "name": "state"}], "fields": [{"name": "n", "operator": "count"}]}});
    let states = |sort: serde_json::Value| -> Vec<Value> {
        stat(json!({"aggregate": [base.clone(), {"sort": sort}]}))
            .iter()
            .map(|r| r.get("state").cloned().unwrap_or(Value::Null))
            .collect()
    };
    let desc = vec![
        value!("PENDING"),
        value!("ENABLED"),
        value!("DISABLED"),
        Value::Null,
    ];
    assert_eq!(states(json!({"key": "state", "desc": true})), desc);
    assert_eq!(
        states(json!({"keys": [{"key": "state", "desc": true}]})),
        desc
    );
    assert_eq!(states(json!([{"key": "state", "desc": true}])), desc);
    assert_eq!(states(json!({"name": "state", "desc": true})), desc);
    assert_eq!(
        states(json!([{"key": "n", "desc": true}, {"key": "state", "desc": true}])),
        vec![
            value!("ENABLED"),
            value!("PENDING"),
            value!("DISABLED"),
            Value::Null
        ]
    );
    assert_eq!(
        err(json!({"aggregate": [{"sort": []}]})).code,
        QueryErrorCode::DbQuery
    );
    assert_eq!(
        err(json!({"aggregate": [{"sort": "state"}]})).code,
        QueryErrorCode::DbQuery
    );
}

#[test]
fn project_keeps_group_keys_unless_excluded() {
    let g = json!({"group": {"keys": [{"key": "state", "name": "state"}], "fields": [{"name": "n", "operator": "count"}, {"key": "age", "name": "ages", "operator": "push"}]}});
    let r = stat(
        json!({"aggregate": [g.clone(), {"project": {"fields": [{"key": "n", "name": "total"}]}}]}),
    );
    assert_eq!(r[0], value!({"state": null, "total": 1}));
    assert_eq!(r[1], value!({"state": "DISABLED", "total": 1}));
    let r = stat(
        json!({"aggregate": [g.clone(), {"project": {"fields": [{"key": "n", "name": "total"}, {"key": "nope", "name": "x"}], "exclude_keys": true}}]}),
    );
    assert_eq!(r[0], value!({"total": 1}));
    // After exclude_keys the keys are gone for later projects too.
    let r = stat(json!({"aggregate": [g.clone(),
        {"project": {"fields": [{"key": "n", "name": "total"}], "exclude_keys": true}},
        {"project": {"fields": [{"key": "total", "name": "t"}]}}]}));
    assert_eq!(r[0], value!({"t": 1}));
    // Without a group, project reshapes documents (dotted keys allowed).
    let r = stat(
        json!({"aggregate": [{"project": {"fields": [{"key": "tags.team", "name": "team"}, {"key": "user_id", "name": "id"}]}}, {"limit": 2}]}),
    );
    assert_eq!(
        r,
        vec![
            value!({"id": "u1", "team": "core"}),
            value!({"id": "u2", "team": "core"})
        ]
    );
    assert_eq!(
        err(json!({"aggregate": [{"project": {"fields": []}}]})).code,
        QueryErrorCode::RequiredParameter
    );
    assert_eq!(
        err(json!({"aggregate": [{"project": {"fields": [{"key": "a"}]}}]})).code,
        QueryErrorCode::DbQuery
    );
    assert_eq!(err(json!({"aggregate": [{"project": {"fields": [{"key": "a", "name": "b", "operator": "size"}]}}]})).code, QueryErrorCode::DbQuery);
}

#[test]
fn unwind_drops_missing_and_empty_lists() {
    let r = stat(json!({"aggregate": [
        {"unwind": {"path": "roles"}},
        {"project": {"fields": [{"key": "user_id", "name": "u"}, {"key": "roles", "name": "r"}]}}
    ]}));
    assert_eq!(
        r,
        vec![
            value!({"u": "u1", "r": "a"}),
            value!({"u": "u1", "r": "b"}),
            value!({"u": "u3", "r": "b"}),
            value!({"u": "u5", "r": "c"}),
            value!({"u": "u5", "r": "a"}),
            value!({"u": "u5", "r": "c"}),
        ]
    );
    let r = stat(json!({"aggregate": [
        {"unwind": {"path": "$roles"}},
        {"group": {"keys": [{"key": "roles", "name": "role"}], "fields": [{"name": "n", "operator": "count"}]}}
    ]}));
    assert_eq!(
        r,
        vec![
            value!({"role": "a", "n": 2}),
            value!({"role": "b", "n": 2}),
            value!({"role": "c", "n": 2})
        ]
    );
    // A scalar is kept as is; nested paths work; unwind's own filter applies afterwards.
    let docs = vec![
        value!({"a": {"b": [1, 2]}}),
        value!({"a": {"b": 3}}),
        value!({"a": {"b": null}}),
        value!({"a": 1}),
    ];
    let r = stat_on(&docs, json!({"aggregate": [{"unwind": {"path": "a.b"}}]})).results;
    assert_eq!(
        r,
        vec![
            value!({"a": {"b": 1}}),
            value!({"a": {"b": 2}}),
            value!({"a": {"b": 3}})
        ]
    );
    let r = stat_on(&docs, json!({"aggregate": [{"unwind": {"path": "a.b", "filter": [{"k": "a.b", "v": 2, "o": "gte"}]}}]})).results;
    assert_eq!(r, vec![value!({"a": {"b": 2}}), value!({"a": {"b": 3}})]);
    assert_eq!(
        err(json!({"aggregate": [{"unwind": {}}]})).code,
        QueryErrorCode::RequiredParameter
    );
}

#[test]
fn match_limit_skip_stages() {
    let g = json!({"group": {"keys": [{"key": "state", "name": "state"}], "fields": [{"name": "n", "operator": "count"}]}});
    let r = stat(
        json!({"aggregate": [g.clone(), {"match": {"filter": [{"k": "n", "v": 1, "o": "gt"}]}}]}),
    );
    assert_eq!(r, vec![value!({"state": "ENABLED", "n": 3})]);
    let r = stat(
        json!({"aggregate": [g.clone(), {"match": {"filter_or": [{"k": "state", "v": "EN", "o": "contain"}, {"k": "state", "v": null, "o": "eq"}]}}]}),
    );
    assert_eq!(r.len(), 3, "ENABLED, PENDING and null");
    let r = stat(json!({"aggregate": [g.clone(), {"skip": 1}, {"limit": 2}]}));
    assert_eq!(
        r,
        vec![
            value!({"state": "DISABLED", "n": 1}),
            value!({"state": "ENABLED", "n": 3})
        ]
    );
    assert_eq!(
        stat(json!({"aggregate": [g.clone(), {"skip": 10}]})),
        Vec::<Value>::new()
    );
    assert_eq!(
        stat(json!({"aggregate": [g.clone(), {"limit": 100}]})).len(),
        4
    );
    // match before group reads documents.
    let r = stat(
        json!({"aggregate": [{"match": {"filter": [{"k": "age", "v": 25, "o": "gt"}]}}, {"count": {"name": "n"}}]}),
    );
    assert_eq!(r, vec![value!({"n": 2})]);
    for bad in [
        json!({"limit": 0}),
        json!({"limit": -1}),
        json!({"limit": "3"}),
        json!({"skip": -1}),
        json!({"skip": 1.5}),
    ] {
        assert_eq!(
            err(json!({"aggregate": [bad]})).code,
            QueryErrorCode::DbQuery,
            "{bad}"
        );
    }
    assert_eq!(
        err(json!({"aggregate": [{"match": {"filter": [{"k": "a", "v": 1, "o": "nope"}]}}]})).code,
        QueryErrorCode::DbQuery
    );
    assert_eq!(
        err(json!({"aggregate": [{"match": {"filter": [{"k": "a", "v": 1, "o": "in"}]}}]})).code,
        QueryErrorCode::OperatorListValueType
    );
}

#[test]
fn multi_stage_pipeline_groups_twice() {
    let r = stat(json!({"aggregate": [
        {"unwind": {"path": "roles"}},
        {"group": {"keys": [{"key": "user_id", "name": "user"}], "fields": [{"name": "roles", "operator": "count"}]}},
        {"group": {"keys": [{"key": "roles", "name": "role_count"}], "fields": [{"key": "user", "name": "users", "operator": "push"}]}},
        {"sort": {"key": "role_count", "desc": true}}
    ]}));
    assert_eq!(
        r,
        vec![
            value!({"role_count": 3, "users": ["u5"]}),
            value!({"role_count": 2, "users": ["u1"]}),
            value!({"role_count": 1, "users": ["u3"]})
        ]
    );
}

#[test]
fn distinct_skips_missing_unwinds_lists_and_sorts() {
    assert_eq!(
        stat(json!({"distinct": "state"})),
        vec![value!("DISABLED"), value!("ENABLED"), value!("PENDING")]
    );
    assert_eq!(
        stat(json!({"distinct": "roles"})),
        vec![value!("a"), value!("b"), value!("c")]
    );
    assert_eq!(
        stat(json!({"distinct": "age"})),
        vec![value!(10), value!(20), value!(30), value!(50), value!("40")]
    );
    assert_eq!(
        stat(json!({"distinct": "tags.team", "keyword": "bob"})),
        vec![value!("core")]
    );
    let docs = vec![
        value!({"x": null}),
        value!({"x": 1}),
        value!({}),
        value!({"x": 1.0}),
    ];
    assert_eq!(
        stat_on(&docs, json!({"distinct": "x"})).results,
        vec![Value::Null, value!(1)]
    );
    let r = stat_on(
        &users(),
        json!({"distinct": "user_id", "page": {"start": 2, "limit": 2}}),
    );
    assert_eq!(
        r,
        StatResult {
            results: vec![value!("u2"), value!("u3")],
            total_count: Some(6)
        }
    );
}

#[test]
fn total_count_only_when_page_limit_is_positive() {
    let q = json!({"group": {"keys": [{"key": "state", "name": "state"}]}});
    let r = stat_on(&users(), json!({"aggregate": [q.clone()]}));
    assert_eq!((r.results.len(), r.total_count), (4, None));
    let r = stat_on(
        &users(),
        json!({"aggregate": [q.clone()], "page": {"start": 1, "limit": 0}}),
    );
    assert_eq!((r.results.len(), r.total_count), (4, None));
    let r = stat_on(
        &users(),
        json!({"aggregate": [q.clone()], "page": {"start": 0, "limit": 3}}),
    );
    assert_eq!((r.results.len(), r.total_count), (3, Some(4)));
    let r = stat_on(
        &users(),
        json!({"aggregate": [q.clone()], "page": {"start": 4, "limit": 3}}),
    );
    assert_eq!(r.results, vec![value!({"state": "PENDING"})]);
    assert_eq!(r.total_count, Some(4));
    let r = stat_on(&users(), json!({"distinct": "state"}));
    assert_eq!(r.total_count, None);
}

#[test]
fn filter_and_keyword_run_first() {
    let r = stat(json!({
        "filter": [{"k": "state", "v": "ENABLED", "o": "eq"}],
        "keyword": "ann dee",
        "aggregate": [{"group": {"fields": [{"key": "age", "name": "s", "operator": "sum"}]}}]
    }));
    assert_eq!(r, vec![value!({"s": 40})]);
}

#[test]
fn neither_aggregate_nor_distinct_is_required_parameter() {
    for q in [
        json!({}),
        json!({"aggregate": []}),
        json!({"distinct": ""}),
        json!({"filter": [{"k": "a", "v": 1, "o": "bad"}]}),
        json!(null),
    ] {
        let e = err(q.clone());
        assert_eq!(e.code, QueryErrorCode::RequiredParameter, "{q}");
        assert_eq!(e.code.as_str(), "ERROR_REQUIRED_PARAMETER");
        assert_eq!(e.message, "Required parameter. (key = aggregate)");
    }
}

#[test]
fn malformed_stat_queries() {
    let code = |q: serde_json::Value| err(q).code;
    assert_eq!(
        code(json!({"aggregate": {"group": {}}})),
        QueryErrorCode::InvalidParameter
    );
    assert_eq!(
        code(json!({"distinct": 5})),
        QueryErrorCode::InvalidParameter
    );
    assert_eq!(code(json!("x")), QueryErrorCode::InvalidParameter);
    assert_eq!(
        code(json!({"aggregate": [{"lookup": {}}]})),
        QueryErrorCode::DbQuery
    );
    assert_eq!(
        code(json!({"aggregate": [{"group": {}, "count": {"name": "n"}}]})),
        QueryErrorCode::DbQuery
    );
    assert_eq!(code(json!({"aggregate": [{}]})), QueryErrorCode::DbQuery);
    assert_eq!(
        code(json!({"aggregate": ["group"]})),
        QueryErrorCode::DbQuery
    );
    assert_eq!(
        code(json!({"aggregate": [{"group": "state"}]})),
        QueryErrorCode::DbQuery
    );
    assert_eq!(
        code(json!({"aggregate": [{"group": {}}]})),
        QueryErrorCode::RequiredParameter
    );
    assert_eq!(
        code(json!({"aggregate": [{"group": {"keys": [{"key": "a"}]}}]})),
        QueryErrorCode::DbQuery
    );
    assert_eq!(
        code(json!({"aggregate": [{"group": {"keys": [{"name": "a"}]}}]})),
        QueryErrorCode::DbQuery
    );
    assert_eq!(
        code(json!({"aggregate": [{"group": {"keys": "state"}}]})),
        QueryErrorCode::DbQuery
    );
    let e = err(
        json!({"aggregate": [{"group": {"fields": [{"key": "a", "name": "b", "operator": "median"}]}}]}),
    );
    assert_eq!(e.code, QueryErrorCode::DbQuery);
    assert!(
        e.message.contains("median operator is not supported"),
        "{}",
        e.message
    );
    assert_eq!(
        code(json!({"aggregate": [{"group": {"fields": [{"key": "a", "operator": "sum"}]}}]})),
        QueryErrorCode::DbQuery
    );
    assert_eq!(
        code(json!({"aggregate": [{"group": {"fields": [{"name": "b", "operator": "sum"}]}}]})),
        QueryErrorCode::DbQuery
    );
    assert_eq!(
        code(json!({"aggregate": [{"group": {"fields": [{"name": "b", "operator": "push"}]}}]})),
        QueryErrorCode::DbQuery
    );
    assert_eq!(
        code(json!({"aggregate": [{"group": {"fields": [{"name": "b"}]}}]})),
        QueryErrorCode::DbQuery
    );
    // Conditions are validated even though the pipeline would be fine.
    assert_eq!(
        code(
            json!({"aggregate": [{"count": {"name": "n"}}], "filter": [{"k": "a", "v": "(", "o": "regex"}]})
        ),
        QueryErrorCode::DbQuery
    );
    assert_eq!(
        code(json!({"distinct": "a", "filter_or": [{"k": "a", "v": [1], "o": "eq"}]})),
        QueryErrorCode::OperatorValueType
    );
    assert_eq!(
        code(json!({"distinct": "a", "page": {"limit": true}})),
        QueryErrorCode::InvalidParameter
    );
}

/// A document that counts whole-document materializations.
struct Counting {
    v: Value,
    materialized: Cell<usize>,
}

impl Doc for Counting {
    fn field(&self, path: &str) -> Option<Cow<'_, Value>> {
        self.v.field(path)
    }
    fn to_value(&self) -> Value {
        self.materialized.set(self.materialized.get() + 1);
        self.v.clone()
    }
}

#[test]
fn group_first_reads_fields_without_materializing() {
    let docs: Vec<Counting> = users()
        .into_iter()
        .map(|v| Counting {
            v,
            materialized: Cell::new(0),
        })
        .collect();
    let q = StatQuery::parse(&value!({"aggregate": [
        {"group": {"keys": [{"key": "state", "name": "state"}], "fields": [{"name": "n", "operator": "count"}, {"key": "age", "name": "a", "operator": "last"}]}},
        {"sort": {"key": "n", "desc": true}},
        {"limit": 1}
    ]}))
    .unwrap();
    let r = run_stat(&q, &docs, 0, &EngineConfig::default()).unwrap();
    assert_eq!(
        r.results,
        vec![value!({"state": "ENABLED", "n": 3, "a": 10})]
    );
    assert_eq!(docs.iter().map(|d| d.materialized.get()).sum::<usize>(), 0);
    let q = StatQuery::parse(&value!({"aggregate": [{"count": {"name": "n"}}]})).unwrap();
    run_stat(&q, &docs, 0, &EngineConfig::default()).unwrap();
    assert_eq!(docs.iter().map(|d| d.materialized.get()).sum::<usize>(), 0);
    let q = StatQuery::parse(&value!({"aggregate": [
        {"match": {"filter": [{"k": "age", "v": 15, "o": "gt"}]}},
        {"match": {"filter": [{"k": "state", "v": "ENABLED", "o": "eq"}]}},
        {"group": {"fields": [{"key": "age", "name": "ages", "operator": "push"}]}}
    ]}))
    .unwrap();
    let r = run_stat(&q, &docs, 0, &EngineConfig::default()).unwrap();
    assert_eq!(
        r.results,
        vec![value!({"ages": [30]})],
        "string '40' is not > 15"
    );
    assert_eq!(docs.iter().map(|d| d.materialized.get()).sum::<usize>(), 0);
    let q = StatQuery::parse(&value!({"aggregate": [{"unwind": {"path": "roles"}}]})).unwrap();
    run_stat(&q, &docs, 0, &EngineConfig::default()).unwrap();
    assert_eq!(docs.iter().map(|d| d.materialized.get()).sum::<usize>(), 6);
}
