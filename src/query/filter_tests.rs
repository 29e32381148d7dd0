//! Per-operator tests: matching, non-matching, wrong value shape, missing field.

use crate::api::value::Value;
use crate::query::{Query, QueryErrorCode};
use crate::value;
use chrono::{NaiveDate, NaiveDateTime};
use serde_json::json;

fn at(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32, ms: u32) -> i64 {
    let dt: NaiveDateTime = NaiveDate::from_ymd_opt(y, mo, d)
        .unwrap()
        .and_hms_milli_opt(h, mi, s, ms)
        .unwrap();
    dt.and_utc().timestamp_millis()
}

/// Wednesday 2026-11-25T13:14:15.678Z.
fn now() -> i64 {
    at(2026, 11, 25, 13, 14, 15, 678)
}

fn user() -> Value {
    value!({
        "user_id": "alice@example.com",
        "name": "Alice Ünal",
        "email": "Alice@Example.com",
        "state": "ENABLED",
        "age": 7,
        "score": 2.5,
        "flag": true,
        "nothing": null,
        "nums": [1, 10],
        "tags": {"team": "Core", "level": 3},
        "required_actions": ["UPDATE_PASSWORD", "ENFORCE_MFA"],
        "workspaces": [{"id": "w1", "role": "OWNER"}, {"id": "w2", "role": "MEMBER"}],
        "created_at": "2026-11-22T10:54:11.123Z",
        "last_accessed_at": now() - 2 * 3_600_000,
        "monday": at(2026, 11, 23, 0, 0, 0, 0),
        "month_start": "2026-11-01T00:00:00Z"
    })
}

fn parse(cond: serde_json::Value) -> Result<Query, crate::query::QueryError> {
    Query::parse(&Value::from(json!({ "filter": [cond] })))
}

/// Whether the single condition matches `doc`.
fn on(doc: &Value, k: &str, o: &str, v: serde_json::Value) -> bool {
    parse(json!({"k": k, "o": o, "v": v}))
        .unwrap_or_else(|e| panic!("{k} {o}: {e}"))
        .matches(doc, now())
}

fn m(k: &str, o: &str, v: serde_json::Value) -> bool {
    on(&user(), k, o, v)
}

fn code(k: &str, o: &str, v: serde_json::Value) -> QueryErrorCode {
    match parse(json!({"key": k, "operator": o, "value": v})) {
        Ok(_) => panic!("{k} {o} accepted"),
        Err(e) => e.code,
    }
}

#[test]
fn eq_strict_and_case_sensitive() {
    assert!(m("state", "eq", json!("ENABLED")));
    assert!(!m("state", "eq", json!("enabled")));
    assert!(m("age", "eq", json!(7)));
    assert!(m("age", "eq", json!(7.0)));
    assert!(!m("age", "eq", json!("7")));
    assert!(m("flag", "eq", json!(true)));
    assert!(!m("flag", "eq", json!(1)));
    assert!(m("tags.team", "eq", json!("Core")));
    assert!(m("tags", "eq", json!({"team": "Core", "level": 3})));
    assert!(!m("missing", "eq", json!("x")));
    // A null value matches null and missing fields (Mongo).
    assert!(m("missing", "eq", json!(null)));
    assert!(m("nothing", "eq", json!(null)));
    assert!(!m("state", "eq", json!(null)));
    // A list field matches when an element does.
    assert!(m("required_actions", "eq", json!("ENFORCE_MFA")));
    assert!(!m("required_actions", "eq", json!("enforce_mfa")));
    assert_eq!(
        code("state", "eq", json!(["ENABLED"])),
        QueryErrorCode::OperatorValueType
    );
}

#[test]
fn not_is_the_complement_of_eq() {
    assert!(m("state", "not", json!("DISABLED")));
    assert!(!m("state", "not", json!("ENABLED")));
    assert!(m("state", "not", json!("enabled")));
    assert!(m("age", "not", json!("7")));
    assert!(m("missing", "not", json!("x")));
    assert!(!m("missing", "not", json!(null)));
    assert!(m("state", "not", json!(null)));
    assert!(!m("required_actions", "not", json!("ENFORCE_MFA")));
    assert_eq!(
        code("state", "not", json!([])),
        QueryErrorCode::OperatorValueType
    );
}

#[test]
fn ordering_operators_compare_same_types_only() {
    assert!(m("age", "gt", json!(5)));
    assert!(m("age", "gte", json!(7)));
    assert!(!m("age", "gt", json!(7)));
    assert!(m("age", "lte", json!(7.0)));
    assert!(m("age", "lt", json!(7.5)));
    assert!(!m("age", "lt", json!(7)));
    assert!(m("score", "gt", json!(2)));
    assert!(
        !m("age", "gt", json!("5")),
        "number vs string never matches"
    );
    assert!(!m("age", "lt", json!("9")));
    assert!(m("name", "gt", json!("Alice")));
    assert!(m("name", "lt", json!("Bob")));
    assert!(
        m("name", "lt", json!("alice")),
        "code point order: 'A' < 'a'"
    );
    assert!(!m("name", "gt", json!("alice")));
    assert!(!m("flag", "gte", json!(0)));
    assert!(m("nums", "gt", json!(5)), "any list element");
    assert!(!m("nums", "gt", json!(10)));
    for o in ["lt", "lte", "gt", "gte"] {
        assert!(!m("missing", o, json!(1)), "{o} missing");
        assert!(!m("nothing", o, json!(1)), "{o} null");
        assert!(!m("nothing", o, json!("")), "{o} null");
        assert_eq!(
            code("age", o, json!([1])),
            QueryErrorCode::OperatorValueType
        );
        assert_eq!(code("age", o, json!(true)), QueryErrorCode::DbQuery);
        assert_eq!(code("age", o, json!(null)), QueryErrorCode::DbQuery);
        assert_eq!(code("age", o, json!({"a": 1})), QueryErrorCode::DbQuery);
    }
}

#[test]
fn exists_needs_a_bool() {
    assert!(m("state", "exists", json!(true)));
    assert!(!m("state", "exists", json!(false)));
    assert!(m("missing", "exists", json!(false)));
    assert!(!m("missing", "exists", json!(true)));
    assert!(m("nothing", "exists", json!(true)), "a null field exists");
    assert!(m("tags.team", "exists", json!(true)));
    assert!(m("tags.nope", "exists", json!(false)));
    assert_eq!(
        code("state", "exists", json!("true")),
        QueryErrorCode::OperatorBooleanType
    );
    assert_eq!(
        code("state", "exists", json!(1)),
        QueryErrorCode::OperatorBooleanType
    );
    assert_eq!(
        code("state", "exists", json!(null)),
        QueryErrorCode::OperatorBooleanType
    );
    assert_eq!(
        code("state", "exists", json!([true])),
        QueryErrorCode::OperatorValueType
    );
}

#[test]
fn contain_is_case_insensitive_unicode_on_strings() {
    assert!(m("name", "contain", json!("ünal")));
    assert!(m("name", "contain", json!("ÜNAL")));
    assert!(m("email", "contain", json!("EXAMPLE.c")));
    assert!(m("name", "contain", json!("")));
    assert!(!m("name", "contain", json!("bob")));
    assert!(!m("name", "contain", json!("unal")), "no accent folding");
    assert!(!m("age", "contain", json!("7")), "only strings");
    assert!(!m("missing", "contain", json!("")));
    assert!(m("required_actions", "contain", json!("mfa")));
    assert!(m("name", "not_contain", json!("bob")));
    assert!(!m("name", "not_contain", json!("ALI")));
    assert!(m("missing", "not_contain", json!("x")));
    assert!(m("age", "not_contain", json!("7")));
    assert!(!m("required_actions", "not_contain", json!("mfa")));
    for o in ["contain", "not_contain"] {
        assert_eq!(
            code("name", o, json!(["a"])),
            QueryErrorCode::OperatorValueType
        );
        assert_eq!(code("name", o, json!(7)), QueryErrorCode::DbQuery);
        assert_eq!(code("name", o, json!(null)), QueryErrorCode::DbQuery);
    }
}

#[test]
fn in_and_not_in() {
    assert!(m("state", "in", json!(["DISABLED", "ENABLED"])));
    assert!(!m("state", "in", json!(["enabled"])));
    assert!(!m("state", "in", json!([])));
    assert!(m("age", "in", json!([1, 7])));
    assert!(m("age", "in", json!([7.0])));
    assert!(!m("age", "in", json!(["7"])));
    assert!(!m("flag", "in", json!([1])));
    assert!(!m("missing", "in", json!(["x"])));
    assert!(m("missing", "in", json!(["x", null])));
    assert!(m("required_actions", "in", json!(["ENFORCE_MFA"])));
    assert!(m("state", "not_in", json!(["DISABLED"])));
    assert!(!m("state", "not_in", json!(["ENABLED"])));
    assert!(m("state", "not_in", json!([])));
    assert!(m("missing", "not_in", json!(["x"])));
    assert!(!m("missing", "not_in", json!([null])));
    assert!(!m(
        "required_actions",
        "not_in",
        json!(["ENFORCE_MFA", "X"])
    ));
    let many: Vec<String> = (0..500).map(|i| format!("user{i}@x.io")).collect();
    assert!(!m("user_id", "in", json!(many)));
    let mut with = many.clone();
    with.insert(250, "alice@example.com".into());
    assert!(m("user_id", "in", json!(with)));
    for o in ["in", "not_in"] {
        assert_eq!(
            code("state", o, json!("ENABLED")),
            QueryErrorCode::OperatorListValueType
        );
        assert_eq!(
            code("state", o, json!(null)),
            QueryErrorCode::OperatorListValueType
        );
        assert_eq!(
            code("state", o, json!({"a": 1})),
            QueryErrorCode::OperatorListValueType
        );
    }
}

#[test]
fn contain_in_and_not_contain_in() {
    assert!(m("name", "contain_in", json!(["bob", "ALI"])));
    assert!(!m("name", "contain_in", json!(["bob", "carol"])));
    assert!(!m("name", "contain_in", json!([])));
    assert!(!m("missing", "contain_in", json!(["a"])));
    assert!(m("name", "not_contain_in", json!(["bob", "carol"])));
    assert!(
        !m("name", "not_contain_in", json!(["bob", "ali"])),
        "contains none (fix)"
    );
    assert!(m("name", "not_contain_in", json!([])));
    assert!(m("missing", "not_contain_in", json!(["a"])));
    for o in ["contain_in", "not_contain_in"] {
        assert_eq!(
            code("name", o, json!("ali")),
            QueryErrorCode::OperatorListValueType
        );
        assert_eq!(code("name", o, json!(["ali", 3])), QueryErrorCode::DbQuery);
    }
}

#[test]
fn match_needs_one_element_matching_all_pairs() {
    assert!(m(
        "workspaces",
        "match",
        json!({"id": "w2", "role": "MEMBER"})
    ));
    assert!(m("workspaces", "match", json!({"role": "OWNER"})));
    assert!(!m(
        "workspaces",
        "match",
        json!({"id": "w1", "role": "MEMBER"})
    ));
    assert!(!m("workspaces", "match", json!({"role": "owner"})));
    assert!(m("workspaces", "match", json!({})));
    assert!(!m("tags", "match", json!({"team": "Core"})), "not a list");
    assert!(!m("missing", "match", json!({"a": 1})));
    assert_eq!(
        code("workspaces", "match", json!([{"id": "w1"}])),
        QueryErrorCode::OperatorValueType
    );
    assert_eq!(
        code("workspaces", "match", json!("w1")),
        QueryErrorCode::DbQuery
    );
}

#[test]
fn regex_is_case_insensitive_unanchored_and_validated() {
    assert!(m("name", "regex", json!("^ali")));
    assert!(m("name", "regex", json!("ce ü")), "matches anywhere");
    assert!(m("name", "regex", json!("ÜNAL$")));
    assert!(!m("name", "regex", json!("^ünal")));
    assert!(!m("age", "regex", json!("7")), "only strings");
    assert!(!m("missing", "regex", json!("")));
    assert!(m("required_actions", "regex", json!("^enforce")));
    assert!(m("name", "regex_in", json!(["^bob", "^ALICE"])));
    assert!(!m("name", "regex_in", json!(["^bob"])));
    assert!(!m("name", "regex_in", json!([])));
    assert_eq!(code("name", "regex", json!("(")), QueryErrorCode::DbQuery);
    assert_eq!(code("name", "regex", json!(5)), QueryErrorCode::DbQuery);
    assert_eq!(
        code("name", "regex", json!(["a"])),
        QueryErrorCode::OperatorValueType
    );
    assert_eq!(
        code("name", "regex_in", json!("a")),
        QueryErrorCode::OperatorListValueType
    );
    assert_eq!(
        code("name", "regex_in", json!(["a", "["])),
        QueryErrorCode::DbQuery
    );
    // Too big to compile within the size limit.
    assert_eq!(
        code("name", "regex", json!("(\\w{100}){100}")),
        QueryErrorCode::DbQuery
    );
    // Catastrophic for backtracking engines; linear here.
    let doc = value!({"s": "a".repeat(5_000)});
    assert!(!on(&doc, "s", "regex", json!("(a*)*b")));
    assert!(!on(&doc, "s", "regex", json!("^(a|aa)+$b")));
}

#[test]
fn datetime_with_and_without_millis() {
    // created_at = 2026-11-22T10:54:11.123Z
    assert!(m(
        "created_at",
        "datetime_gt",
        json!("2026-11-22T10:54:11Z")
    ));
    assert!(m(
        "created_at",
        "datetime_gt",
        json!("2026-11-22T10:54:11.122Z")
    ));
    assert!(!m(
        "created_at",
        "datetime_gt",
        json!("2026-11-22T10:54:11.123Z")
    ));
    assert!(m(
        "created_at",
        "datetime_gte",
        json!("2026-11-22T10:54:11.123Z")
    ));
    assert!(m(
        "created_at",
        "datetime_lte",
        json!("2026-11-22T10:54:11.123Z")
    ));
    assert!(m(
        "created_at",
        "datetime_lt",
        json!("2026-11-22T10:54:11.124Z")
    ));
    assert!(!m(
        "created_at",
        "datetime_lt",
        json!("2026-11-22T10:54:11Z")
    ));
    assert!(m("created_at", "datetime_gt", json!("2026-11-22")));
    assert!(m(
        "created_at",
        "datetime_lt",
        json!("2026-11-22T12:00:00+01:00")
    ));
    // Int milliseconds in the document.
    assert!(m(
        "last_accessed_at",
        "datetime_gt",
        json!("2026-11-25T11:14:15Z")
    ));
    assert!(m(
        "last_accessed_at",
        "datetime_lte",
        json!("2026-11-25T11:14:15.678Z")
    ));
    assert!(!m(
        "last_accessed_at",
        "datetime_lt",
        json!("2026-11-25T11:14:15.678Z")
    ));
    assert!(!m("missing", "datetime_lt", json!("2030-01-01")));
    assert!(
        !m("state", "datetime_lt", json!("2030-01-01")),
        "not a date"
    );
    assert!(!m("flag", "datetime_gt", json!("1970-01-01")));
    for o in ["datetime_lt", "datetime_lte", "datetime_gt", "datetime_gte"] {
        assert_eq!(
            code("created_at", o, json!("yesterday")),
            QueryErrorCode::DbQuery
        );
        assert_eq!(code("created_at", o, json!(5)), QueryErrorCode::DbQuery);
        assert_eq!(
            code("created_at", o, json!(["2026-01-01"])),
            QueryErrorCode::OperatorValueType
        );
    }
}

#[test]
fn timediff_bases_units_and_errors() {
    // last_accessed_at = now - 2h (Int ms); created_at = 2026-11-22T10:54:11.123Z (ISO).
    assert!(m("last_accessed_at", "timediff_gt", json!("now-3h")));
    assert!(m("last_accessed_at", "timediff_lt", json!("now-1h")));
    assert!(m("last_accessed_at", "timediff_gte", json!("now-120m")));
    assert!(m("last_accessed_at", "timediff_lte", json!("now-7200s")));
    assert!(!m("last_accessed_at", "timediff_lt", json!("now-7200s")));
    assert!(m("last_accessed_at", "timediff_gt", json!("now/d")));
    assert!(m("created_at", "timediff_lt", json!("now/d")));
    assert!(m("created_at", "timediff_gt", json!("now-1w")));
    assert!(m("created_at", "timediff_lt", json!("now-3d")));
    assert!(m("created_at", "timediff_gt", json!("now-4d")));
    assert!(
        m("created_at", "timediff_lt", json!("now/w")),
        "Sunday 22nd is before Monday 23rd"
    );
    assert!(m("monday", "timediff_gte", json!("now/w")));
    assert!(!m("monday", "timediff_gt", json!("now/w")));
    assert!(m("monday", "timediff_lt", json!("now/w+1s")));
    assert!(m("month_start", "timediff_gte", json!("now/m")));
    assert!(m("month_start", "timediff_lte", json!("now/m")));
    assert!(m("month_start", "timediff_gt", json!("now/m-1d")));
    assert!(m("created_at", "timediff_lt", json!("now")));
    assert!(m("created_at", "timediff_lt", json!("now+1m")));
    assert!(!m("missing", "timediff_lt", json!("now")));
    for o in ["timediff_lt", "timediff_lte", "timediff_gt", "timediff_gte"] {
        assert_eq!(
            code("created_at", o, json!("now-5y")),
            QueryErrorCode::DbQuery
        );
        assert_eq!(
            code("created_at", o, json!("yesterday")),
            QueryErrorCode::DbQuery
        );
        assert_eq!(code("created_at", o, json!(5)), QueryErrorCode::DbQuery);
        assert_eq!(
            code("created_at", o, json!(["now"])),
            QueryErrorCode::OperatorValueType
        );
    }
}

#[test]
fn timediff_is_resolved_at_each_runs_now() {
    let q = parse(json!({"k": "t", "o": "timediff_gt", "v": "now-1h"})).unwrap();
    let doc = value!({"t": 1_000_000_000});
    assert!(q.matches(&doc, 1_000_000_000 + 3_000_000));
    assert!(!q.matches(&doc, 1_000_000_000 + 4_000_000));
}

#[test]
fn malformed_conditions_are_db_query_errors() {
    let err = |c: serde_json::Value| parse(c).unwrap_err();
    let e = err(json!({"k": "a", "v": 1, "o": "foo"}));
    assert_eq!(e.code, QueryErrorCode::DbQuery);
    assert_eq!(e.code.as_str(), "ERROR_DB_QUERY");
    assert_eq!(
        e.message,
        "Query is invalid. (reason = unknown operator 'foo')"
    );
    assert_eq!(
        err(json!({"v": 1, "o": "eq"})).code,
        QueryErrorCode::DbQuery
    );
    assert_eq!(
        err(json!({"k": "", "v": 1, "o": "eq"})).code,
        QueryErrorCode::DbQuery
    );
    assert_eq!(
        err(json!({"k": 5, "v": 1, "o": "eq"})).code,
        QueryErrorCode::DbQuery
    );
    assert_eq!(err(json!({"k": "a", "v": 1})).code, QueryErrorCode::DbQuery);
    assert_eq!(
        err(json!({"k": "a", "v": 1, "o": 3})).code,
        QueryErrorCode::DbQuery
    );
    assert_eq!(err(json!("state = ENABLED")).code, QueryErrorCode::DbQuery);
    assert_eq!(
        err(json!(["state", "ENABLED", "eq"])).code,
        QueryErrorCode::DbQuery
    );
    // Long and short names both work; a missing value is null.
    assert!(parse(json!({"key": "a", "value": 1, "operator": "eq"})).is_ok());
    assert!(
        parse(json!({"k": "a", "o": "eq"}))
            .unwrap()
            .matches(&value!({}), 0)
    );
}

#[test]
fn whole_query_is_validated_before_running() {
    let q = |v: serde_json::Value| {
        Query::parse(&Value::from(v))
            .map(|_| ())
            .map_err(|e| e.code)
    };
    // An earlier condition that matches nothing does not hide a later bad one.
    assert_eq!(
        q(
            json!({"filter": [{"k": "state", "v": "NOPE", "o": "eq"}, {"k": "x", "v": "(", "o": "regex"}]})
        ),
        Err(QueryErrorCode::DbQuery)
    );
    assert_eq!(
        q(
            json!({"filter": [{"k": "a", "v": 1, "o": "eq"}], "filter_or": [{"k": "x", "v": 1, "o": "in"}]})
        ),
        Err(QueryErrorCode::OperatorListValueType)
    );
    assert_eq!(
        q(json!({"filter": {"k": "a", "v": 1, "o": "eq"}})),
        Err(QueryErrorCode::InvalidParameter)
    );
    assert_eq!(
        q(json!({"filter_or": "x"})),
        Err(QueryErrorCode::InvalidParameter)
    );
    assert_eq!(
        q(json!({"keyword": 5})),
        Err(QueryErrorCode::InvalidParameter)
    );
    assert_eq!(
        q(json!({"sort": "name"})),
        Err(QueryErrorCode::InvalidParameter)
    );
    assert_eq!(
        q(json!({"page": {"limit": "10"}})),
        Err(QueryErrorCode::InvalidParameter)
    );
    assert_eq!(q(json!({"page": 3})), Err(QueryErrorCode::InvalidParameter));
    assert_eq!(
        q(json!({"only": "name"})),
        Err(QueryErrorCode::InvalidParameter)
    );
    assert_eq!(
        q(json!({"only": [1]})),
        Err(QueryErrorCode::InvalidParameter)
    );
    assert_eq!(
        q(json!({"minimal": "yes"})),
        Err(QueryErrorCode::InvalidParameter)
    );
    assert_eq!(
        q(json!({"count_only": 1})),
        Err(QueryErrorCode::InvalidParameter)
    );
    assert_eq!(q(json!("filter")), Err(QueryErrorCode::InvalidParameter));
    assert_eq!(q(json!(null)), Ok(()));
    assert_eq!(q(json!({})), Ok(()));
    assert_eq!(
        q(json!({"unknown_field": 1, "page": {"start": 0, "limit": 0}})),
        Ok(())
    );
}

#[test]
fn filter_and_filter_or_and_keyword_combine() {
    let docs = [
        value!({"user_id": "a@x.io", "name": "Ann", "email": "ann@x.io", "state": "ENABLED", "n": 1}),
        value!({"user_id": "b@x.io", "name": "Bob", "email": "bob@y.io", "state": "DISABLED", "n": 2}),
        value!({"user_id": "c@x.io", "name": "Cid", "state": "ENABLED", "n": 3}),
    ];
    let ids = |v: serde_json::Value| -> Vec<&str> {
        let q = Query::parse(&Value::from(v)).unwrap();
        docs.iter()
            .filter(|d| q.matches(*d, 0))
            .map(|d| d.get("user_id").and_then(Value::as_str).unwrap())
            .collect()
    };
    assert_eq!(ids(json!({})), ["a@x.io", "b@x.io", "c@x.io"]);
    assert_eq!(
        ids(json!({"filter_or": [{"k": "n", "v": 1, "o": "eq"}, {"k": "n", "v": 3, "o": "eq"}]})),
        ["a@x.io", "c@x.io"]
    );
    assert_eq!(
        ids(
            json!({"filter": [{"k": "state", "v": "ENABLED", "o": "eq"}],
                   "filter_or": [{"k": "n", "v": 2, "o": "eq"}, {"k": "n", "v": 3, "o": "eq"}]})
        ),
        ["c@x.io"]
    );
    // keyword: any word, case-insensitive, in user_id, name or email; ANDed, not ORed.
    assert_eq!(ids(json!({"keyword": "BOB"})), ["b@x.io"]);
    assert_eq!(ids(json!({"keyword": "  zzz   ann "})), ["a@x.io"]);
    assert_eq!(ids(json!({"keyword": "y.io cid"})), ["b@x.io", "c@x.io"]);
    assert_eq!(
        ids(json!({"keyword": "x.io"})),
        ["a@x.io", "b@x.io", "c@x.io"]
    );
    assert_eq!(
        ids(json!({"keyword": "   "})),
        ["a@x.io", "b@x.io", "c@x.io"]
    );
    assert_eq!(
        ids(json!({"keyword": "x.io", "filter_or": [{"k": "n", "v": 2, "o": "eq"}]})),
        ["b@x.io"]
    );
    assert_eq!(
        ids(json!({"keyword": "ENABLED"})),
        Vec::<&str>::new(),
        "state is not a keyword field"
    );
}

#[test]
fn negated_operators_are_exact_complements() {
    let docs = [
        user(),
        value!({}),
        value!({"state": null, "name": null}),
        value!({"state": 5, "name": ["x", "Alice"]}),
        value!({"state": "DISABLED", "name": "bob"}),
    ];
    let pairs = [
        ("eq", "not", json!("ENABLED")),
        ("eq", "not", json!(null)),
        ("in", "not_in", json!(["ENABLED", 5])),
        ("in", "not_in", json!([null])),
        ("contain", "not_contain", json!("ali")),
        ("contain_in", "not_contain_in", json!(["ali", "ob"])),
    ];
    for d in &docs {
        for key in ["state", "name", "missing"] {
            for (pos, neg, v) in &pairs {
                assert_ne!(
                    on(d, key, pos, v.clone()),
                    on(d, key, neg, v.clone()),
                    "{d:?} {key} {pos}"
                );
            }
        }
    }
}

#[test]
fn and_eq_adds_a_condition() {
    let mut q = Query::parse(&value!({"filter": [{"k": "n", "v": 0, "o": "gt"}]})).unwrap();
    q.and_eq("state", Value::from("ENABLED"));
    assert!(q.matches(&value!({"n": 1, "state": "ENABLED"}), 0));
    assert!(!q.matches(&value!({"n": 1, "state": "DISABLED"}), 0));
    assert!(!q.matches(&value!({"n": 0, "state": "ENABLED"}), 0));
}

#[test]
fn error_messages_follow_cloudforet() {
    let e = parse(json!({"k": "a", "v": [1], "o": "eq"})).unwrap_err();
    assert_eq!(e.code.as_str(), "ERROR_OPERATOR_VALUE_TYPE");
    assert!(
        e.message
            .starts_with("The value of 'eq operator' does not support list type. ("),
        "{}",
        e.message
    );
    let e = parse(json!({"k": "a", "v": 1, "o": "in"})).unwrap_err();
    assert_eq!(e.code.as_str(), "ERROR_OPERATOR_LIST_VALUE_TYPE");
    assert!(
        e.message
            .starts_with("The value of 'in operator' must be a list type."),
        "{}",
        e.message
    );
    let e = parse(json!({"k": "a", "v": 1, "o": "exists"})).unwrap_err();
    assert_eq!(e.code.as_str(), "ERROR_OPERATOR_BOOLEAN_TYPE");
    assert_eq!(e.to_string(), e.message);
    let e = Query::parse(&value!({"page": {"start": "x"}})).unwrap_err();
    assert_eq!(e.code.as_str(), "ERROR_INVALID_PARAMETER");
    assert!(
        e.message
            .starts_with("Parameter is invalid. (key = query.page.start"),
        "{}",
        e.message
    );
}
