//! The SPEC's own examples, through the public API.

use identityd::api::Value;
use identityd::query::{EngineConfig, Query, QueryErrorCode, StatQuery, run_query, run_stat};
use identityd::value;

fn users() -> Vec<Value> {
    (0..50)
        .map(|i| {
            let state = ["ENABLED", "ENABLED", "DISABLED", "PENDING", "ENABLED"][i % 5];
            value!({"user_id": format!("user{i:02}@example.com"), "name": format!("User {}", i % 9),
                    "state": state, "domain_id": "domain-0123456789ab"})
        })
        .collect()
}

#[test]
fn stat_users_by_state_with_count_sorted_descending() {
    let q = StatQuery::parse(&value!({
        "aggregate": [
            {"group": {"keys": [{"key": "state", "name": "state"}],
                       "fields": [{"name": "count", "operator": "count"}]}},
            {"sort": {"key": "count", "desc": true}}
        ]
    }))
    .unwrap();
    let r = run_stat(&q, &users(), 0, &EngineConfig::default()).unwrap();
    assert_eq!(
        r.results,
        vec![
            value!({"state": "ENABLED", "count": 30}),
            value!({"state": "DISABLED", "count": 10}),
            value!({"state": "PENDING", "count": 10}),
        ]
    );
    assert_eq!(r.total_count, None);
}

#[test]
fn in_list_of_user_ids_counts_the_list() {
    let ids: Vec<String> = (0..50)
        .step_by(7)
        .map(|i| format!("user{i:02}@example.com"))
        .collect();
    let q = Query::parse(
        &value!({"filter": [{"k": "user_id", "v": ids, "o": "in"}], "page": {"limit": 2}}),
    )
    .unwrap();
    let docs = users();
    let page = run_query(&q, &docs, 0, &EngineConfig::default());
    assert_eq!(page.total_count, ids.len() as u64);
    assert_eq!(page.results.len(), 2);
}

#[test]
fn unknown_operator_message() {
    let e = Query::parse(&value!({"filter": [{"k": "name", "v": 1, "o": "foo"}]})).unwrap_err();
    assert_eq!(e.code, QueryErrorCode::DbQuery);
    assert_eq!(e.code.as_str(), "ERROR_DB_QUERY");
    assert_eq!(
        e.to_string(),
        "Query is invalid. (reason = unknown operator 'foo')"
    );
}

#[test]
fn stat_without_aggregate_or_distinct() {
    let e = StatQuery::parse(&value!({"filter": []})).unwrap_err();
    assert_eq!(
        (e.code, e.message.as_str()),
        (
            QueryErrorCode::RequiredParameter,
            "Required parameter. (key = aggregate)"
        )
    );
}
