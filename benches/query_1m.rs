//! The query engine at 1M users in one domain (issue 5 "Speed"): each target query through
//! the planner (`list_users`, `stat_users`, `find_users`), as the domain actor runs it, plus
//! unplanned queries for reference. Prints memory per user and a percentile table (p50 / p99 /
//! max over repeated runs), then runs the same queries under criterion.
//!
//! `IDENTITYD_BENCH_USERS=10000 cargo bench --bench query_1m` for a smoke run;
//! `IDENTITYD_BENCH_ONLY=keyword` runs only the queries whose name contains `keyword`.

mod common;

use common::*;
use criterion::Criterion;
use identityd::api::{FindSearch, UserQuery, Value};
use identityd::model::state::DomainState;
use identityd::query::users::{find_users, list_users, parse_list, stat_users};
use identityd::query::{Query, StatQuery};
use serde_json::json;
use std::collections::HashMap;
use std::hint::black_box;
use std::time::{Duration, Instant};

enum Kind {
    List(Query),
    Stat(StatQuery),
    Find(FindSearch),
}

struct Case {
    name: String,
    target: &'static str,
    kind: Kind,
}

fn list(name: impl Into<String>, target: &'static str, q: serde_json::Value) -> Case {
    Case {
        name: name.into(),
        target,
        kind: Kind::List(Query::parse(&Value::from(q)).expect("a valid query")),
    }
}

fn stat(name: &str, target: &'static str, q: serde_json::Value) -> Case {
    Case {
        name: name.into(),
        target,
        kind: Kind::Stat(StatQuery::parse(&Value::from(q)).expect("a valid query")),
    }
}

fn run(s: &DomainState, k: &Kind) -> u64 {
    match k {
        Kind::List(q) => list_users(s, q, T0, 10_000).total_count,
        Kind::Stat(q) => stat_users(s, q, T0, 10_000)
            .map(|r| r.results.len() as u64)
            .unwrap_or(0),
        Kind::Find(f) => find_users(s, f, 10_000).map(|r| r.total_count).unwrap_or(0),
    }
}

fn cases(n: usize) -> Vec<Case> {
    let page = json!({"start": 1, "limit": 100});
    let probe = n / 3;
    let probe_user = user(probe);
    let eq = |k: &str, v: &str| json!({"filter": [{"k": k, "v": v, "o": "eq"}], "page": page});
    let top_level = parse_list(&UserQuery {
        domain_id: DOMAIN_ID.into(),
        state: Some(identityd::api::UserState::Enabled),
        user_type: Some(identityd::api::UserType::User),
        query: Some(Value::from(json!({"page": page}))),
        ..Default::default()
    })
    .expect("a valid request");
    let rare_kw = format!("{}", 12_345 % n.max(1));
    let mut v = vec![
        list(
            "eq state=ENABLED (90%), page 1×100",
            "< 1 ms",
            eq("state", "ENABLED"),
        ),
        list(
            "eq state=DISABLED (8%), page 1×100",
            "< 1 ms",
            eq("state", "DISABLED"),
        ),
        list(
            "eq state=PENDING (2%), page 1×100",
            "< 1 ms",
            eq("state", "PENDING"),
        ),
        list(
            "eq user_type=API_USER (5%), page 1×100",
            "< 1 ms",
            eq("user_type", "API_USER"),
        ),
        list(
            "eq backend=EXTERNAL (3%), page 1×100",
            "< 1 ms",
            eq("backend", "EXTERNAL"),
        ),
        list(
            "eq email (1 match), page 1×100",
            "< 1 ms",
            eq("email", &probe_user.email),
        ),
        list(
            "eq user_id (1 match), page 1×100",
            "< 1 ms",
            eq("user_id", &probe_user.user_id),
        ),
        Case {
            name: "v1 state=ENABLED + user_type=USER, page 1×100".into(),
            target: "< 1 ms",
            kind: Kind::List(top_level),
        },
        list(
            format!("keyword \"{rare_kw}\" (rare), page 1×100"),
            "p99 < 10 ms",
            json!({"keyword": rare_kw, "page": page}),
        ),
        list(
            "keyword \"grace.park\" (0.25%), page 1×100",
            "p99 < 10 ms",
            json!({"keyword": "grace.park", "page": page}),
        ),
        list(
            "keyword \"kim\" (~10%), page 1×100",
            "p99 < 10 ms",
            json!({"keyword": "kim", "page": page}),
        ),
        list(
            "keyword \"a\" (~all), page 1×100",
            "p99 < 10 ms",
            json!({"keyword": "a", "page": page}),
        ),
        list(
            "keyword \"kim\" + eq state=DISABLED, page 1×100",
            "p99 < 10 ms",
            json!({"keyword": "kim", "filter": [{"k": "state", "v": "DISABLED", "o": "eq"}], "page": page}),
        ),
        list(
            "count_only, no filter",
            "< 1 ms",
            json!({"count_only": true}),
        ),
        list(
            "count_only, eq state=DISABLED",
            "< 1 ms",
            json!({"count_only": true, "filter": [{"k": "state", "v": "DISABLED", "o": "eq"}]}),
        ),
        list(
            format!("deep page start={}, limit 100", n / 10 * 9),
            "< 5 ms",
            json!({"page": {"start": n / 10 * 9, "limit": 100}}),
        ),
        list(
            format!(
                "deep page start={}, limit 100, eq state=ENABLED",
                n / 10 * 8
            ),
            "-",
            json!({"page": {"start": n / 10 * 8, "limit": 100}, "filter": [{"k": "state", "v": "ENABLED", "o": "eq"}]}),
        ),
        stat(
            "stat group by state, count, sort count desc",
            "< 50 ms",
            json!({"aggregate": [
                {"group": {"keys": [{"key": "state", "name": "state"}], "fields": [{"name": "count", "operator": "count"}]}},
                {"sort": {"key": "count", "desc": true}}
            ]}),
        ),
        Case {
            name: format!("find keyword \"{rare_kw}\""),
            target: "-",
            kind: Kind::Find(FindSearch {
                keyword: Some(rare_kw.clone()),
                ..Default::default()
            }),
        },
        // Not planned: the engine reads every user (the heavy queries that block the actor).
        list(
            "unplanned: eq tags.team, page 1×100",
            "-",
            json!({"filter": [{"k": "tags.team", "v": "team-7", "o": "eq"}], "page": page}),
        ),
        list(
            "unplanned: regex on name, sort created_at desc, page 1×100",
            "-",
            json!({"filter": [{"k": "name", "v": "^grace .* park$", "o": "regex"}],
                   "sort": {"key": "created_at", "desc": true}, "page": page}),
        ),
        list(
            "unplanned: no filter, sort created_at desc, no page (10,000 rows)",
            "-",
            json!({"sort": {"key": "created_at", "desc": true}}),
        ),
        stat(
            "unplanned: stat group by tags.team, count",
            "-",
            json!({"aggregate": [
                {"group": {"keys": [{"key": "tags.team", "name": "team"}], "fields": [{"name": "count", "operator": "count"}]}}
            ]}),
        ),
    ];
    // `IDENTITYD_BENCH_ONLY=text`: only the queries whose name contains `text`.
    if let Ok(only) = std::env::var("IDENTITYD_BENCH_ONLY") {
        v.retain(|c| c.name.contains(&only));
    }
    v
}

fn percentiles(s: &DomainState, cases: &[Case]) {
    println!("\n| query | target | p50 | p99 | max | runs | matches |");
    println!("|---|---|---|---|---|---|---|");
    for c in cases {
        let mut times = Vec::new();
        let started = Instant::now();
        let mut out = 0;
        while times.len() < 200 && (times.len() < 5 || started.elapsed() < Duration::from_secs(2)) {
            let t = Instant::now();
            out = black_box(run(s, &c.kind));
            times.push(t.elapsed());
        }
        times.sort();
        let at = |q: f64| times[((times.len() - 1) as f64 * q).round() as usize];
        println!(
            "| {} | {} | {:.3} ms | {:.3} ms | {:.3} ms | {} | {} |",
            c.name,
            c.target,
            at(0.5).as_secs_f64() * 1e3,
            at(0.99).as_secs_f64() * 1e3,
            times[times.len() - 1].as_secs_f64() * 1e3,
            times.len(),
            out
        );
    }
}

fn main() {
    let n = users_from_env();
    let rss0 = rss_bytes();
    let t = Instant::now();
    let s = domain_state(n);
    let built = t.elapsed();
    let rss1 = rss_bytes();
    let plain: HashMap<String, identityd::model::entities::User> =
        (0..n).map(|i| (user_id(i), user(i))).collect();
    let rss2 = rss_bytes();
    drop(plain);
    let per = |b: usize| b as f64 / n.max(1) as f64;
    println!(
        "users: {n}; built through apply in {:.2} s",
        built.as_secs_f64()
    );
    println!(
        "RSS per user: domain state with indexes {:.0} B; the same users in a plain HashMap {:.0} B; \
         difference (indexes + allocator slack) {:.0} B; index heap estimate {:.0} B",
        per(rss1 - rss0),
        per(rss2 - rss1),
        per(rss1 - rss0) - per(rss2 - rss1),
        per(s.index.heap_bytes())
    );
    let cases = cases(n);
    percentiles(&s, &cases);

    let mut c = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1))
        .configure_from_args();
    let mut g = c.benchmark_group(format!("query {n} users"));
    for case in &cases {
        g.bench_function(&case.name, |b| b.iter(|| run(black_box(&s), &case.kind)));
    }
    g.finish();
    c.final_summary();
}
