//! `run_query`: sorting, tie-break, paging, the result cap, projections, count_only.

use super::*;
use crate::api::value::Value;
use crate::value;
use serde_json::json;

fn q(v: serde_json::Value) -> Query {
    Query::parse(&Value::from(v)).unwrap()
}

fn ids<'a>(p: &Page<'a, Value>) -> Vec<&'a str> {
    p.results
        .iter()
        .map(|d| d.get("user_id").and_then(Value::as_str).unwrap_or("?"))
        .collect()
}

fn run<'a>(docs: &'a [Value], v: serde_json::Value) -> Page<'a, Value> {
    run_query(&q(v), docs, 0, &EngineConfig::default())
}

fn people() -> Vec<Value> {
    vec![
        value!({"user_id": "u5", "name": "bob", "age": 30, "tags": {"team": "b"}}),
        value!({"user_id": "u2", "name": "Bob", "age": 25}),
        value!({"user_id": "u3", "name": null, "age": 30, "tags": {"team": "a"}}),
        value!({"user_id": "u1", "name": "alice", "age": 41}),
        value!({"user_id": "u4", "age": 25, "tags": {"team": "a"}}),
        value!({"user_id": "u0", "name": "bob", "age": "30"}),
    ]
}

#[test]
fn default_order_is_name_then_user_id() {
    let d = people();
    // null/missing names first, then code point order ("B" < "a" < "b"), ties by user_id.
    assert_eq!(
        ids(&run(&d, json!({}))),
        ["u3", "u4", "u2", "u1", "u0", "u5"]
    );
    assert_eq!(
        ids(&run(&d, json!({"sort": {}}))),
        ["u3", "u4", "u2", "u1", "u0", "u5"]
    );
    assert_eq!(
        ids(&run(&d, json!({"sort": []}))),
        ["u3", "u4", "u2", "u1", "u0", "u5"]
    );
}

#[test]
fn three_sort_shapes_agree() {
    let d = people();
    let want = ["u0", "u5", "u1", "u2", "u3", "u4"];
    assert_eq!(
        ids(&run(&d, json!({"sort": {"key": "name", "desc": true}}))),
        want
    );
    assert_eq!(
        ids(&run(
            &d,
            json!({"sort": {"keys": [{"key": "name", "desc": true}]}})
        )),
        want
    );
    assert_eq!(
        ids(&run(&d, json!({"sort": [{"key": "name", "desc": true}]}))),
        want
    );
}

#[test]
fn nulls_first_ascending_last_descending_and_tie_break_always_ascending() {
    let d = people();
    // age: "30" (string) ranks after numbers; ties (25, 30) broken by user_id ascending.
    assert_eq!(
        ids(&run(&d, json!({"sort": {"key": "age"}}))),
        ["u2", "u4", "u3", "u5", "u1", "u0"]
    );
    assert_eq!(
        ids(&run(&d, json!({"sort": {"key": "age", "desc": true}}))),
        ["u0", "u1", "u3", "u5", "u2", "u4"]
    );
    assert_eq!(
        ids(&run(&d, json!({"sort": {"key": "tags.team"}}))),
        ["u0", "u1", "u2", "u3", "u4", "u5"]
    );
    assert_eq!(
        ids(&run(
            &d,
            json!({"sort": {"key": "tags.team", "desc": true}})
        )),
        ["u5", "u3", "u4", "u0", "u1", "u2"]
    );
    assert_eq!(
        ids(&run(
            &d,
            json!({"sort": [{"key": "tags.team", "desc": true}, {"key": "age", "desc": true}]})
        )),
        ["u5", "u3", "u4", "u0", "u1", "u2"]
    );
    assert_eq!(
        ids(&run(
            &d,
            json!({"sort": [{"key": "user_id", "desc": true}]})
        )),
        ["u5", "u4", "u3", "u2", "u1", "u0"]
    );
}

#[test]
fn paging_is_one_based_and_limit_zero_means_none() {
    let d = people();
    let all = ["u3", "u4", "u2", "u1", "u0", "u5"];
    let p = run(&d, json!({"page": {"start": 1, "limit": 2}}));
    assert_eq!((ids(&p), p.total_count), (vec!["u3", "u4"], 6));
    assert_eq!(
        ids(&run(&d, json!({"page": {"start": 0, "limit": 2}}))),
        ["u3", "u4"]
    );
    assert_eq!(
        ids(&run(&d, json!({"page": {"start": -5, "limit": 2}}))),
        ["u3", "u4"]
    );
    assert_eq!(ids(&run(&d, json!({"page": {"limit": 2}}))), ["u3", "u4"]);
    assert_eq!(
        ids(&run(&d, json!({"page": {"start": 2, "limit": 2}}))),
        ["u4", "u2"]
    );
    assert_eq!(
        ids(&run(&d, json!({"page": {"start": 5, "limit": 10}}))),
        ["u0", "u5"]
    );
    let p = run(&d, json!({"page": {"start": 7, "limit": 10}}));
    assert_eq!((p.results.len(), p.total_count), (0, 6));
    assert_eq!(
        ids(&run(&d, json!({"page": {"start": 3, "limit": 0}}))),
        all
    );
    assert_eq!(ids(&run(&d, json!({"page": {"limit": -1}}))), all);
    assert_eq!(ids(&run(&d, json!({"page": {}}))), all);
    let p = run(&d, json!({"page": {"start": 2.0, "limit": 1.0}}));
    assert_eq!(ids(&p), ["u4"]);
}

#[test]
fn max_list_results_caps_unpaged_lists_but_counts_truly() {
    let d: Vec<Value> = (0..25)
        .map(|i| value!({"user_id": format!("u{i:02}"), "name": "x"}))
        .collect();
    let cfg = EngineConfig {
        max_list_results: 10,
        ..EngineConfig::default()
    };
    let go = |v: serde_json::Value| run_query(&q(v), &d, 0, &cfg);
    let p = go(json!({}));
    assert_eq!((p.results.len(), p.total_count), (10, 25));
    assert_eq!(ids(&p)[9], "u09");
    let p = go(json!({"page": {"limit": 0}}));
    assert_eq!((p.results.len(), p.total_count), (10, 25));
    let p = go(json!({"page": {"start": 3, "limit": 20}}));
    assert_eq!(
        (p.results.len(), p.total_count),
        (20, 25),
        "an explicit page is not capped"
    );
    assert_eq!(ids(&p)[0], "u02");
    let uncapped = EngineConfig {
        max_list_results: 0,
        ..EngineConfig::default()
    };
    assert_eq!(run_query(&q(json!({})), &d, 0, &uncapped).results.len(), 25);
}

#[test]
fn count_only_returns_no_rows() {
    let d = people();
    let p = run(
        &d,
        json!({"count_only": true, "filter": [{"k": "age", "v": 30, "o": "eq"}]}),
    );
    assert!(p.results.is_empty());
    assert_eq!(p.total_count, 2);
    assert!(q(json!({"count_only": true})).count_only());
    assert!(!q(json!({})).count_only());
}

#[test]
fn projections_from_only_and_minimal() {
    let cfg = EngineConfig::default();
    assert_eq!(q(json!({})).projection(&cfg), None);
    assert_eq!(q(json!({"only": []})).projection(&cfg), None);
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    assert_eq!(
        q(json!({"only": ["name", "tags.team"]})).projection(&cfg),
        Some(s(&["user_id", "domain_id", "name", "tags.team"]))
    );
    assert_eq!(
        q(json!({"minimal": true})).projection(&cfg),
        Some(s(&["user_id", "domain_id", "name", "state", "user_type"]))
    );
    assert_eq!(
        q(json!({"minimal": true, "only": ["email", "name"]})).projection(&cfg),
        Some(s(&[
            "user_id",
            "domain_id",
            "name",
            "state",
            "user_type",
            "email"
        ]))
    );
    let doc = value!({"user_id": "u", "domain_id": "d", "name": "n", "state": "ENABLED", "email": "e",
        "user_type": "USER", "tags": {"team": "t", "x": 1}});
    let fields = q(json!({"only": ["tags.team"]})).projection(&cfg).unwrap();
    assert_eq!(
        project(&doc, &fields, &cfg),
        value!({"user_id": "u", "domain_id": "d", "tags": {"team": "t"}})
    );
    let fields = q(json!({"minimal": true})).projection(&cfg).unwrap();
    assert_eq!(
        project(&doc, &fields, &cfg),
        value!({"user_id": "u", "domain_id": "d", "name": "n", "state": "ENABLED", "user_type": "USER"})
    );
}

#[test]
fn spec_example_in_list_counts_every_listed_user() {
    let d: Vec<Value> = (0..300)
        .map(|i| value!({"user_id": format!("user{i}@x.io"), "name": format!("n{}", i % 7)}))
        .collect();
    let wanted: Vec<String> = (0..300)
        .step_by(3)
        .map(|i| format!("user{i}@x.io"))
        .collect();
    let p = run(
        &d,
        json!({"filter": [{"k": "user_id", "v": wanted, "o": "in"}]}),
    );
    assert_eq!(p.total_count, wanted.len() as u64);
    let mut got: Vec<&str> = ids(&p);
    got.sort_unstable();
    let mut want: Vec<&str> = wanted.iter().map(String::as_str).collect();
    want.sort_unstable();
    assert_eq!(got, want);
}

#[test]
fn partial_selection_equals_full_sort_on_every_page() {
    let d: Vec<Value> = (0..2_000)
        .map(|i| {
            let name = if i % 11 == 0 { Value::Null } else { Value::from(format!("n{}", (i * 7919) % 97)) };
            value!({"user_id": format!("u{:05}", (i * 31) % 2_000), "name": name, "k": (i * 13) % 50})
        })
        .collect();
    for sort in [
        json!(null),
        json!({"key": "k", "desc": true}),
        json!([{"key": "k"}, {"key": "name", "desc": true}]),
    ] {
        let full = ids(&run(&d, json!({"sort": sort, "page": {"limit": 5000}})));
        assert_eq!(full.len(), 2_000);
        for (start, limit) in [(1, 1), (1, 10), (37, 20), (1990, 50), (500, 1000)] {
            let p = run(
                &d,
                json!({"sort": sort, "page": {"start": start, "limit": limit}}),
            );
            let want: Vec<&str> = full.iter().skip(start - 1).take(limit).copied().collect();
            assert_eq!(ids(&p), want, "sort {sort} start {start} limit {limit}");
            assert_eq!(p.total_count, 2_000);
        }
    }
}

#[test]
fn filters_apply_before_sorting_and_paging() {
    let d = people();
    let p = run(
        &d,
        json!({
            "filter": [{"k": "age", "v": 25, "o": "gte"}],
            "filter_or": [{"k": "name", "v": "b", "o": "contain"}, {"k": "tags.team", "v": "a", "o": "eq"}],
            "sort": {"key": "age", "desc": true},
            "page": {"start": 2, "limit": 2}
        }),
    );
    // matches: u5 (bob,30), u2 (Bob,25), u3 (team a,30), u4 (team a,25); u0's age is a string.
    assert_eq!(p.total_count, 4);
    assert_eq!(ids(&p), ["u5", "u2"]);
}

#[test]
fn keyword_fields_come_from_the_config() {
    let d = vec![
        value!({"user_id": "a", "name": "x", "nick": "zed"}),
        value!({"user_id": "b", "name": "zed"}),
    ];
    let query = q(json!({"keyword": "ZED"}));
    assert_eq!(
        ids(&run_query(&query, &d, 0, &EngineConfig::default())),
        ["b"]
    );
    let cfg = EngineConfig {
        keyword_fields: vec!["nick".into()],
        ..EngineConfig::default()
    };
    assert_eq!(ids(&run_query(&query, &d, 0, &cfg)), ["a"]);
    assert!(query.matches_with(&d[0], 0, &cfg));
    assert!(!query.matches(&d[0], 0));
}
