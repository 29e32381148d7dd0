//! The query engine over 100k users: an eq filter (v1 `list`) and keyword searches (`list` with
//! `keyword`, and `find`).

use criterion::{Criterion, criterion_group, criterion_main};
use identityd::api::{FindSearch, Value};
use identityd::fixtures::{self, FIXTURE_T0};
use identityd::query::Query;
use identityd::query::users::{find_users, list_users};
use std::hint::black_box;
use std::time::Duration;

const USERS: usize = 100_000;

fn query(v: serde_json::Value) -> Query {
    Query::parse(&Value::from(v)).expect("a valid query")
}

fn bench(c: &mut Criterion) {
    let s = fixtures::domain_state("domain-bench", USERS);
    let mut g = c.benchmark_group("query 100k users");
    g.sample_size(20);

    let eq = query(serde_json::json!({
        "filter": [{"k": "tags.team", "v": "team-7", "o": "eq"}],
        "page": {"start": 1, "limit": 10}
    }));
    g.bench_function("list eq tags.team (1% match), page 10", |b| {
        b.iter(|| list_users(black_box(&s), &eq, FIXTURE_T0, 10_000))
    });

    let eq_state = query(serde_json::json!({
        "filter": [{"k": "user_id", "v": fixtures::user_id(4242), "o": "eq"}]
    }));
    g.bench_function("list eq user_id (1 match)", |b| {
        b.iter(|| list_users(black_box(&s), &eq_state, FIXTURE_T0, 10_000))
    });

    let kw = query(serde_json::json!({
        "keyword": "user00042",
        "page": {"start": 1, "limit": 10}
    }));
    g.bench_function("list keyword (100 matches), page 10", |b| {
        b.iter(|| list_users(black_box(&s), &kw, FIXTURE_T0, 10_000))
    });

    let count = query(serde_json::json!({"count_only": true}));
    g.bench_function("list count_only (all)", |b| {
        b.iter(|| list_users(black_box(&s), &count, FIXTURE_T0, 10_000))
    });

    let search = FindSearch {
        keyword: Some("user00042".into()),
        ..Default::default()
    };
    g.bench_function("find keyword (100 matches)", |b| {
        b.iter(|| find_users(black_box(&s), &search, 10))
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(4)).warm_up_time(Duration::from_secs(1));
    targets = bench
}
criterion_main!(benches);
