//! list / stat / find over the real tarpc client with SPEC section 7's examples.

mod common;
use common::*;
use identityd::api::*;
use identityd::client::{IdentityClient, ctx};
use identityd::value;

async fn seeded() -> (TestServer, IdentityClient, Domain) {
    let s = TestServer::start();
    let c = s.client().await;
    let d = domain(&c, &s.key, "acme").await;
    for i in 0..30 {
        let mut r = new_user(&d.id, &format!("user{i:02}@acme.io"));
        r.name = Some(format!("{} {i:02}", ["Kim", "Lee", "Park"][i % 3]));
        r.email = Some(format!(
            "user{i:02}@{}",
            if i % 2 == 0 { "even.io" } else { "odd.io" }
        ));
        let team = ["core", "infra", "web"][i % 3];
        r.tags = Some(value!({"team": team, "level": i % 5}));
        call!(c.user_create(ctx(), d.admin.clone(), r)).unwrap();
    }
    for i in [1, 2, 3] {
        call!(c.user_disable(
            ctx(),
            d.admin.clone(),
            user_req(&d.id, &format!("user{i:02}@acme.io"))
        ))
        .unwrap();
    }
    (s, c, d)
}

fn list(d: &Domain, query: Value) -> UserQuery {
    UserQuery {
        domain_id: d.id.clone(),
        query: Some(query),
        ..Default::default()
    }
}

#[tokio::test]
async fn stat_groups_users_by_state_with_a_count_sorted_descending() {
    let (_s, c, d) = seeded().await;
    let q = value!({"aggregate": [
        {"group": {"keys": [{"key": "state", "name": "state"}], "fields": [{"name": "count", "operator": "count"}]}},
        {"sort": {"key": "count", "desc": true}}
    ]});
    let r = call!(c.user_stat(
        ctx(),
        d.admin.clone(),
        UserStatQuery {
            query: q,
            domain_id: d.id.clone()
        }
    ))
    .unwrap();
    assert_eq!(
        r.results,
        vec![
            value!({"state": "ENABLED", "count": 28}),
            value!({"state": "DISABLED", "count": 3})
        ]
    );
    assert_eq!(r.total_count, None, "total_count only with page.limit > 0");
    let distinct = value!({"distinct": "tags.team"});
    let r = call!(c.user_stat(
        ctx(),
        d.admin.clone(),
        UserStatQuery {
            query: distinct,
            domain_id: d.id.clone()
        }
    ))
    .unwrap();
    assert_eq!(
        r.results,
        vec![value!("core"), value!("infra"), value!("web")]
    );
    let none = call!(c.user_stat(
        ctx(),
        d.admin.clone(),
        UserStatQuery {
            query: value!({}),
            domain_id: d.id.clone()
        }
    ));
    let e = none.unwrap_err();
    assert_eq!(e.code, ErrorCode::RequiredParameter);
    assert!(e.message.contains("aggregate"), "{}", e.message);
}

#[tokio::test]
async fn list_with_in_returns_total_count_equal_to_the_list_length() {
    let (_s, c, d) = seeded().await;
    let ids: Vec<Value> = (0..7)
        .map(|i| Value::from(format!("user{:02}@acme.io", i * 4)))
        .collect();
    let r = call!(c.user_list(
        ctx(),
        d.admin.clone(),
        list(
            &d,
            value!({"filter": [{"k": "user_id", "v": ids, "o": "in"}]})
        )
    ))
    .unwrap();
    assert_eq!(r.total_count, 7);
    assert_eq!(r.results.len(), 7);
}

#[tokio::test]
async fn filters_sorts_keyword_and_dotted_keys() {
    let (_s, c, d) = seeded().await;
    let run = |q: Value| c.user_list(ctx(), d.admin.clone(), list(&d, q));
    // filter AND (filter_or); dotted key into tags.
    let r = run(value!({
        "filter": [{"key": "tags.team", "value": "core", "operator": "eq"}],
        "filter_or": [{"k": "tags.level", "v": 0, "o": "eq"}, {"k": "tags.level", "v": 3, "o": "eq"}]
    })).await.unwrap().unwrap();
    assert!(r.results.iter().all(|u| {
        let t = u.tags.as_ref().unwrap();
        t["team"] == Value::from("core") && [Value::from(0), Value::from(3)].contains(&t["level"])
    }));
    assert_eq!(r.total_count, 4);
    // Sorted descending by user_id, paged.
    let r =
        run(value!({"sort": [{"key": "user_id", "desc": true}], "page": {"start": 1, "limit": 3}}))
            .await
            .unwrap()
            .unwrap();
    let ids: Vec<&str> = r.results.iter().map(|u| u.user_id.as_str()).collect();
    assert_eq!(
        ids,
        vec!["user29@acme.io", "user28@acme.io", "user27@acme.io"]
    );
    // keyword: any word, case-insensitive, in user_id / name / email.
    let r = run(value!({"keyword": "PARK odd.io"}))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(r.total_count, 20, "10 Parks + 15 odd, 5 both");
    // contain / regex / not_contain_in.
    let r = run(value!({"filter": [{"k": "name", "v": "^kim 0", "o": "regex"}]}))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(r.total_count, 4);
    let r =
        run(value!({"filter": [{"k": "email", "v": ["even", "admin"], "o": "not_contain_in"}]}))
            .await
            .unwrap()
            .unwrap();
    assert_eq!(
        r.total_count, 16,
        "15 odd + the admin, whose e-mail is empty"
    );
    // datetime and timediff against the injected clock.
    let r = run(value!({"filter": [{"k": "created_at", "v": "now-1d", "o": "timediff_gt"}]}))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(r.total_count, 31);
    let r = run(
        value!({"filter": [{"k": "created_at", "v": "2030-01-01T00:00:00Z", "o": "datetime_gt"}]}),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(r.total_count, 0);
    // only
    let r = run(value!({"only": ["email"], "page": {"limit": 1}}))
        .await
        .unwrap()
        .unwrap();
    assert!(r.results[0].email.is_some() && r.results[0].name.is_none());
}

#[tokio::test]
async fn malformed_queries_are_refused_with_their_codes() {
    let (_s, c, d) = seeded().await;
    let cases = [
        (
            value!({"filter": [{"k": "name", "v": "x", "o": "like"}]}),
            ErrorCode::DbQuery,
        ),
        (
            value!({"filter": [{"v": "x", "o": "eq"}]}),
            ErrorCode::DbQuery,
        ),
        (value!({"filter": ["not an object"]}), ErrorCode::DbQuery),
        (
            value!({"filter": [{"k": "name", "v": ["a"], "o": "eq"}]}),
            ErrorCode::OperatorValueType,
        ),
        (
            value!({"filter": [{"k": "name", "v": "a", "o": "in"}]}),
            ErrorCode::OperatorListValueType,
        ),
        (
            value!({"filter": [{"k": "name", "v": "yes", "o": "exists"}]}),
            ErrorCode::OperatorBooleanType,
        ),
        (
            value!({"filter": [{"k": "name", "v": "(", "o": "regex"}]}),
            ErrorCode::DbQuery,
        ),
        (
            value!({"filter": [{"k": "created_at", "v": "yesterday", "o": "datetime_lt"}]}),
            ErrorCode::DbQuery,
        ),
        // The bad condition comes after one that matches nothing: still refused.
        (
            value!({"filter": [{"k": "name", "v": "nobody", "o": "eq"}, {"k": "x", "v": 1, "o": "bogus"}]}),
            ErrorCode::DbQuery,
        ),
    ];
    for (q, code) in cases {
        let e = call!(c.user_list(ctx(), d.admin.clone(), list(&d, q.clone()))).unwrap_err();
        assert_eq!(e.code, code, "{q:?}: {}", e.message);
    }
    // A huge regex is refused by the engine's size limit instead of hanging the server.
    let huge = "(a|b|c|d)".repeat(100_000);
    let e = call!(c.user_list(
        ctx(),
        d.admin.clone(),
        list(
            &d,
            value!({"filter": [{"k": "name", "v": huge, "o": "regex"}]})
        )
    ))
    .unwrap_err();
    assert_eq!(e.code, ErrorCode::DbQuery);
}

#[tokio::test]
async fn find_by_id_or_keyword() {
    let (_s, c, d) = seeded().await;
    let f = |user_id: Option<&str>, keyword: Option<&str>| FindUserQuery {
        search: FindSearch {
            user_id: user_id.map(Into::into),
            keyword: keyword.map(Into::into),
        },
        domain_id: d.id.clone(),
    };
    let r = call!(c.user_find(ctx(), d.admin.clone(), f(Some("user05@acme.io"), None))).unwrap();
    assert_eq!(r.total_count, 1);
    assert_eq!(r.results[0].email, "user05@odd.io");
    assert_eq!(r.results[0].tags["team"], Value::from("web"));
    let r = call!(c.user_find(ctx(), d.admin.clone(), f(None, Some("lee")))).unwrap();
    assert_eq!(r.total_count, 10);
    let e = call!(c.user_find(ctx(), d.admin.clone(), f(None, None))).unwrap_err();
    assert_eq!(e.code, ErrorCode::RequiredParameter);
    assert!(e.message.contains("search.keyword | search.user_id"));
}
