//! Issue #11 item 6: one tenant admin must not stall or exhaust the process through the query
//! language. Every query has a cost budget (rows per stage and in total, patterns and compiled
//! regex size, result bytes, wall time), refused with `ERROR_DB_QUERY` naming the budget and
//! its flag; the engine runs off the actors (another tenant's `user_get` answers while a heavy
//! query runs); `page.limit` is capped like `--max-list-results`. Everything through the real
//! server (tarpc client; one HTTP check), with modest sizes.

mod common;
use common::*;
use identityd::actor::persist::FsyncPolicy;
use identityd::api::*;
use identityd::client::{IdentityClient, ctx};
use identityd::config::Config;
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

fn v(j: serde_json::Value) -> Value {
    Value::from(j)
}

/// A test server with no fsync (many users are created) and `tweak` applied.
fn server(tweak: impl FnOnce(&mut Config)) -> TestServer {
    TestServer::start_with(|c| {
        c.fsync = FsyncPolicy::None;
        tweak(c);
    })
}

/// Creates `n` users `u{i}@<name>.io` with `tags(i)`.
async fn users(c: &IdentityClient, d: &Domain, n: usize, tags: impl Fn(usize) -> Value) {
    let name = d.admin_id.split('@').nth(1).unwrap_or("x.io").to_owned();
    for i in 0..n {
        let mut r = new_user(&d.id, &format!("u{i:03}@{name}"));
        r.tags = Some(tags(i));
        call!(c.user_create(ctx(), d.admin.clone(), r)).unwrap();
    }
}

async fn stat(c: &IdentityClient, d: &Domain, q: serde_json::Value) -> ApiResult<StatInfo> {
    call!(c.user_stat(
        ctx(),
        d.admin.clone(),
        UserStatQuery {
            query: v(q),
            domain_id: d.id.clone()
        }
    ))
}

async fn list(c: &IdentityClient, d: &Domain, q: serde_json::Value) -> ApiResult<UsersInfo> {
    call!(c.user_list(
        ctx(),
        d.admin.clone(),
        UserQuery {
            domain_id: d.id.clone(),
            query: Some(v(q)),
            ..Default::default()
        }
    ))
}

/// The budget error: `ERROR_DB_QUERY` whose message names the flag.
fn assert_budget<T: std::fmt::Debug>(r: ApiResult<T>, flag: &str) {
    match r {
        Ok(v) => panic!("expected the {flag} budget error, got Ok({v:?})"),
        Err(e) => {
            assert_eq!(e.code, ErrorCode::DbQuery, "{}", e.message);
            assert!(
                e.message.contains("query budget exceeded") && e.message.contains(flag),
                "message names the budget: {}",
                e.message
            );
        }
    }
}

/// The server still answers, for this tenant and another one.
async fn alive(c: &IdentityClient, s: &TestServer, d: &Domain) {
    call!(c.user_get(
        ctx(),
        d.admin.clone(),
        GetUserRequest {
            user_id: d.admin_id.clone(),
            domain_id: d.id.clone(),
            only: None
        }
    ))
    .expect("the attacker's domain still answers");
    let other = domain(c, &s.key, "bystander").await;
    call!(c.user_get(
        ctx(),
        other.admin.clone(),
        GetUserRequest {
            user_id: other.admin_id.clone(),
            domain_id: other.id.clone(),
            only: None
        }
    ))
    .expect("another tenant still answers");
}

fn two_lists(i: usize) -> Value {
    let _ = i;
    v(json!({"a": (0..30).collect::<Vec<_>>(), "b": (0..30).collect::<Vec<_>>()}))
}

#[tokio::test]
async fn two_unwinds_over_exploding_lists_are_refused_by_the_row_budget() {
    let s = server(|c| c.service.query.max_stage_rows = 5_000);
    let c = s.client().await;
    let d = domain(&c, &s.key, "acme").await;
    // 12 users × 30 × 30 = 10,800 rows after the second unwind (the admin has no lists).
    users(&c, &d, 12, two_lists).await;
    let pipeline = json!([
        {"unwind": {"path": "tags.a"}},
        {"unwind": {"path": "tags.b"}},
        {"count": {"name": "n"}}
    ]);
    // Over every user (a snapshot scan) and through an indexed filter (the candidates path,
    // which used to run the pipeline inside the domain actor).
    let t = std::time::Instant::now();
    assert_budget(
        stat(&c, &d, json!({"aggregate": pipeline})).await,
        "--query-max-stage-rows",
    );
    assert_budget(
        stat(
            &c,
            &d,
            json!({"filter": [{"k": "state", "v": "ENABLED", "o": "eq"}], "aggregate": pipeline}),
        )
        .await,
        "--query-max-stage-rows",
    );
    eprintln!("both refusals took {:?}", t.elapsed());
    // Within the budget the same pipeline runs: 5 users × 900 = 4,500 rows.
    let ids: Vec<String> = (0..5).map(|i| format!("u{i:03}@acme.io")).collect();
    let r = stat(
        &c,
        &d,
        json!({"filter": [{"k": "user_id", "v": ids, "o": "in"}], "aggregate": pipeline}),
    )
    .await
    .unwrap();
    assert_eq!(r.results, vec![v(json!({"n": 4500}))]);
    alive(&c, &s, &d).await;
}

#[tokio::test]
async fn rows_of_all_stages_and_pushed_values_have_a_total_budget() {
    let s = server(|c| {
        c.service.query.max_stage_rows = 0;
        c.service.query.max_total_rows = 1_500;
    });
    let c = s.client().await;
    let d = domain(&c, &s.key, "acme").await;
    users(&c, &d, 12, two_lists).await;
    // Each stage stays small; together they are over: 13 + 360 + 360 + 360 rows, 30 groups
    // and 360 pushed values (1,483), then 360 more rows.
    let q = json!({"aggregate": [
        {"unwind": {"path": "tags.a"}},
        {"project": {"fields": [{"key": "tags.a", "name": "a"}, {"key": "tags.b", "name": "b"}]}},
        {"project": {"fields": [{"key": "a", "name": "a"}, {"key": "b", "name": "b"}]}},
        {"group": {"keys": [{"key": "a", "name": "a"}],
                   "fields": [{"key": "b", "name": "bs", "operator": "push"}]}},
        {"unwind": {"path": "bs"}}
    ]});
    assert_budget(stat(&c, &d, q).await, "--query-max-total-rows");
    alive(&c, &s, &d).await;
}

#[tokio::test]
async fn many_or_huge_regexes_are_refused_before_compiling() {
    let s = server(|_| {});
    let c = s.client().await;
    let d = domain(&c, &s.key, "acme").await;
    users(&c, &d, 3, |i| v(json!({"n": i}))).await;
    let t = std::time::Instant::now();
    // 1,000 patterns, each of which alone would blow the compiled-size limit: the count is
    // refused first, so nothing was compiled (a compiled one would answer "invalid regex").
    let huge = r"(\w{50}){50}";
    let many: Vec<&str> = vec![huge; 1000];
    for q in [
        json!({"filter": [{"k": "name", "v": many, "o": "regex_in"}]}),
        json!({"filter": [{"k": "name", "v": vec!["a"; 65], "o": "contain_in"}]}),
    ] {
        assert_budget(list(&c, &d, q).await, "--query-max-patterns");
    }
    assert_budget(
        stat(
            &c,
            &d,
            json!({"aggregate": [{"match": {"filter": [{"k": "name", "v": many, "o": "regex_in"}]}},
                                  {"count": {"name": "n"}}]}),
        )
        .await,
        "--query-max-patterns",
    );
    // One over-long pattern.
    let long = "a".repeat(2_000);
    assert_budget(
        list(
            &c,
            &d,
            json!({"filter": [{"k": "name", "v": long, "o": "regex"}]}),
        )
        .await,
        "--query-max-pattern-bytes",
    );
    // `\w{10}` compiles to ~500 KB case-insensitively: one fits the 1 MiB of a single
    // regex, but twenty share the 8 MiB regex budget (~420 KB each) and are refused.
    let one = r"\w{10}";
    list(
        &c,
        &d,
        json!({"filter": [{"k": "name", "v": [one], "o": "regex_in"}]}),
    )
    .await
    .expect("one such regex compiles");
    assert_budget(
        list(
            &c,
            &d,
            json!({"filter": [{"k": "name", "v": vec![one; 20], "o": "regex_in"}]}),
        )
        .await,
        "--query-regex-bytes",
    );
    // A single huge regex is refused by the per-regex 1 MiB limit.
    let r = list(
        &c,
        &d,
        json!({"filter": [{"k": "name", "v": huge, "o": "regex"}]}),
    )
    .await;
    let e = r.expect_err("a huge regex is refused");
    assert_eq!(e.code, ErrorCode::DbQuery);
    assert!(e.message.contains("size limit"), "{}", e.message);
    eprintln!("all refusals took {:?}", t.elapsed());
    // Patterns within the budget still work.
    let r = list(
        &c,
        &d,
        json!({"filter": [{"k": "user_id", "v": ["^u00[01]@", "^nobody"], "o": "regex_in"}]}),
    )
    .await
    .unwrap();
    assert_eq!(r.total_count, 2);
    alive(&c, &s, &d).await;
}

/// The needles of [`heavy_query`].
fn needles() -> Vec<String> {
    (0..32).map(|i| format!("item-{i}")).collect()
}

fn items() -> Vec<String> {
    (0..100).map(|i| format!("item-{i}")).collect()
}

/// A memory-light but CPU-heavy stat through an indexed filter: 200 users × 100 list items
/// (20,000 rows), sorted, each row tested against 32 substrings. No regex, so it is parsed
/// where it arrives and goes straight to the actor.
fn heavy_query() -> serde_json::Value {
    json!({
        "filter": [{"k": "state", "v": "ENABLED", "o": "eq"}],
        "aggregate": [
            {"project": {"fields": [{"key": "tags.l", "name": "l"}]}},
            {"unwind": {"path": "l"}},
            {"sort": {"key": "l", "desc": true}},
            {"match": {"filter": [{"k": "l", "v": needles(), "o": "contain_in"}]}},
            {"count": {"name": "n"}}
        ]
    })
}

/// What [`heavy_query`] answers.
fn heavy_answer() -> Vec<Value> {
    let hits = items()
        .iter()
        .filter(|it| needles().iter().any(|n| it.contains(n.as_str())))
        .count();
    vec![v(json!({"n": 200 * hits}))]
}

async fn heavy_domain(c: &IdentityClient, s: &TestServer) -> Domain {
    let d = domain(c, &s.key, "heavy").await;
    let items = items();
    users(c, &d, 200, |_| v(json!({"l": items}))).await;
    d
}

#[tokio::test]
async fn a_heavy_query_through_an_index_does_not_block_another_tenant() {
    let s = server(|c| c.service.query.timeout_ms = 0);
    let c = s.client().await;
    let d = heavy_domain(&c, &s).await;
    let other = domain(&c, &s.key, "other").await;
    let get = GetUserRequest {
        user_id: other.admin_id.clone(),
        domain_id: other.id.clone(),
        only: None,
    };
    // Start the heavy query on its own connection, then call `user_get` on the other domain,
    // one after the other, until the heavy query answers. Before the fix its pipeline ran in
    // the domain actor, on the one thread every actor shares: the gets waited behind it.
    let heavy_client = s.client().await;
    let q = heavy_query();
    let admin = d.admin.clone();
    let domain_id = d.id.clone();
    let done = Arc::new(AtomicBool::new(false));
    let flag = done.clone();
    let heavy = tokio::spawn(async move {
        let t = std::time::Instant::now();
        let r = heavy_client
            .user_stat(
                ctx(),
                admin,
                UserStatQuery {
                    query: v(q),
                    domain_id,
                },
            )
            .await;
        flag.store(true, Ordering::SeqCst);
        (r, t.elapsed())
    });
    let other_client = s.client().await;
    let mut answered_meanwhile = 0u32;
    while !done.load(Ordering::SeqCst) {
        call!(other_client.user_get(ctx(), other.admin.clone(), get.clone())).unwrap();
        if !done.load(Ordering::SeqCst) {
            answered_meanwhile += 1;
        }
    }
    let (r, took) = heavy.await.unwrap();
    let r = r.expect("rpc transport").expect("the heavy query succeeds");
    eprintln!(
        "heavy query: {took:?}; other tenant's gets answered meanwhile: {answered_meanwhile}"
    );
    assert_eq!(r.results, heavy_answer());
    assert!(
        answered_meanwhile >= 5,
        "another tenant's user_get must answer while the heavy query runs \
         (answered {answered_meanwhile} during {took:?})"
    );
}

#[tokio::test]
async fn a_query_past_its_deadline_stops_with_the_time_budget_error() {
    let s = server(|c| c.service.query.timeout_ms = 1_000);
    let c = s.client().await;
    let d = heavy_domain(&c, &s).await;
    // The deadline is on the injectable clock: move it on while the query runs.
    let stop = Arc::new(AtomicBool::new(false));
    let (clock, flag) = (s.clock.clone(), stop.clone());
    let mover = std::thread::spawn(move || {
        while !flag.load(Ordering::SeqCst) {
            clock.advance_ms(50);
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
    });
    let r = stat(&c, &d, heavy_query()).await;
    stop.store(true, Ordering::SeqCst);
    mover.join().unwrap();
    assert_budget(r, "--query-timeout-ms");
    // With time standing still the same query completes.
    assert_eq!(
        stat(&c, &d, heavy_query()).await.unwrap().results,
        heavy_answer()
    );
}

#[tokio::test]
async fn page_limit_above_the_cap_is_clamped_and_an_unpaged_stat_beyond_it_refused() {
    let s = server(|c| c.service.max_list_results = 3);
    let c = s.client().await;
    let d = domain(&c, &s.key, "acme").await;
    users(&c, &d, 5, |i| v(json!({"n": i}))).await;
    // 6 users (with the admin); a page asks for 100 and gets 3, total_count tells the truth.
    let r = list(
        &c,
        &d,
        json!({"page": {"start": 1, "limit": 100}, "sort": {"key": "user_id"}}),
    )
    .await
    .unwrap();
    assert_eq!(r.results.len(), 3);
    assert_eq!(r.total_count, 6);
    let r = list(
        &c,
        &d,
        json!({"page": {"start": 4, "limit": 100}, "sort": {"key": "user_id"}}),
    )
    .await
    .unwrap();
    let ids: Vec<&str> = r.results.iter().map(|u| u.user_id.as_str()).collect();
    assert_eq!(ids, ["u002@acme.io", "u003@acme.io", "u004@acme.io"]);
    // stat: a page is clamped the same way; without a page, more rows than the cap are refused.
    let r = stat(
        &c,
        &d,
        json!({"distinct": "user_id", "page": {"limit": 100}}),
    )
    .await
    .unwrap();
    assert_eq!((r.results.len(), r.total_count), (3, Some(6)));
    assert_budget(
        stat(&c, &d, json!({"distinct": "user_id"})).await,
        "--max-list-results",
    );
    let r = stat(
        &c,
        &d,
        json!({"distinct": "tags.n", "filter": [{"k": "tags.n", "v": 2, "o": "lt"}]}),
    )
    .await
    .unwrap();
    assert_eq!(r.results, vec![v(json!(0)), v(json!(1))]);
}

#[tokio::test]
async fn results_beyond_the_result_bytes_budget_are_refused_on_every_transport() {
    let s = server(|c| c.service.query.max_result_bytes = 8 << 10);
    let c = s.client().await;
    let d = domain(&c, &s.key, "acme").await;
    let blob = "x".repeat(500);
    // 20 users of ~1 KB each: ~20 KB in all.
    users(&c, &d, 20, |_| v(json!({"blob": blob}))).await;
    let flag = "--query-max-result-bytes";
    assert_budget(list(&c, &d, json!({})).await, flag);
    assert_budget(
        list(
            &c,
            &d,
            json!({"filter": [{"k": "state", "v": "ENABLED", "o": "eq"}]}),
        )
        .await,
        flag,
    );
    assert_budget(
        stat(
            &c,
            &d,
            json!({"aggregate": [{"group": {"keys": [{"key": "state", "name": "s"}],
            "fields": [{"key": "tags.blob", "name": "b", "operator": "push"}]}}]}),
        )
        .await,
        flag,
    );
    assert_budget(
        call!(c.user_find(
            ctx(),
            d.admin.clone(),
            FindUserQuery {
                search: FindSearch {
                    user_id: None,
                    keyword: Some("acme".into())
                },
                domain_id: d.id.clone()
            }
        )),
        flag,
    );
    // A page that fits is answered.
    let r = list(&c, &d, json!({"page": {"limit": 3}})).await.unwrap();
    assert_eq!((r.results.len(), r.total_count), (3, 21));
    // HTTP answers the same error: 400 with the code and the budget named.
    let token = login(&c, &d.id, &d.admin_id, PW).await.unwrap();
    let resp = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .new_agent()
        .post(format!("{}/identity/v1/user/list", s.http()))
        .header("content-type", "application/json")
        .header(
            "authorization",
            format!("Bearer {}", token.access_token.expose()),
        )
        .send(
            json!({"domain_id": d.id, "query": {}})
                .to_string()
                .as_bytes(),
        );
    let mut resp = resp.expect("HTTP exchange");
    assert_eq!(resp.status().as_u16(), 400);
    let body: serde_json::Value =
        serde_json::from_str(&resp.body_mut().read_to_string().unwrap()).unwrap();
    assert_eq!(body["detail"]["code"], "ERROR_DB_QUERY");
    assert!(
        body["detail"]["message"]
            .as_str()
            .unwrap_or("")
            .contains(flag),
        "{body}"
    );
    alive(&c, &s, &d).await;
}

#[tokio::test]
async fn find_keywords_are_bounded_like_patterns() {
    let s = server(|_| {});
    let c = s.client().await;
    let d = domain(&c, &s.key, "acme").await;
    users(&c, &d, 3, |i| v(json!({"n": i}))).await;
    let find = |k: String| FindUserQuery {
        search: FindSearch {
            user_id: None,
            keyword: Some(k),
        },
        domain_id: d.id.clone(),
    };
    let many = vec!["w"; 65].join(" ");
    assert_budget(
        call!(c.user_find(ctx(), d.admin.clone(), find(many))),
        "--query-max-patterns",
    );
    // Beyond the words the index searches inside the actor, the scan answers the same.
    let words = (0..10)
        .map(|i| format!("nomatch{i}"))
        .chain(["u001@".to_owned()])
        .collect::<Vec<_>>()
        .join(" ");
    let r = call!(c.user_find(ctx(), d.admin.clone(), find(words))).unwrap();
    assert_eq!(r.total_count, 1);
    assert_eq!(r.results[0].user_id, "u001@acme.io");
}

#[tokio::test]
async fn the_budgets_are_flags_of_the_real_binary() {
    let dir = tempfile::tempdir().unwrap();
    let p = spawn_binary(
        dir.path(),
        &["--query-max-patterns", "2", "--fsync", "none"],
    )
    .expect("identityd starts");
    let c = identityd::client::connect(p.rpc.as_str()).await.unwrap();
    let d = domain(&c, &system_key(dir.path()), "acme").await;
    let q = |n: usize| json!({"filter": [{"k": "name", "v": vec!["adm"; n], "o": "contain_in"}]});
    assert_eq!(list(&c, &d, q(2)).await.unwrap().total_count, 1);
    assert_budget(list(&c, &d, q(3)).await, "--query-max-patterns");
    p.kill9();
}
