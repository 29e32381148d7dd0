//! Differential test of the query planner: a domain built through `apply` from random create /
//! update / delete / access sequences (so the indexes see every kind of change), then random
//! queries through `list_users` / `stat_users` / `find_users` (planned) against the engine over
//! every user (`list_users_scan` / `stat_users_scan`) and a plain `find` scan. Results, order
//! and `total_count` must agree exactly.

use identityd::api::{
    Backend, DomainState as DomainStatus, FindSearch, Map, RoleType, UserState, UserType, Value,
};
use identityd::model::entities::{Domain, User};
use identityd::model::events::Event;
use identityd::model::state::DomainState;
use identityd::query::users::{
    find_users, list_users, list_users_scan, parse_list, stat_users, stat_users_scan,
};
use identityd::query::{Query, StatQuery};
use proptest::prelude::*;
use serde_json::{Value as J, json};

const DOMAIN: &str = "domain-1";
const NOW: i64 = 1_790_000_000_000;

const IDS: &[&str] = &[
    "a@x.io",
    "B@x.io",
    "kim@y.io",
    "lee@y.io",
    "park@z.io",
    "api-1",
    "api-2",
    "Ünal@x.io",
    "zed@x.io",
    "u10@x.io",
    "u11@x.io",
    "u12@y.io",
];
const NAMES: &[&str] = &[
    "Kim",
    "kim",
    "Lee",
    "",
    "Émile",
    "Zoë İnce",
    "Park Lee",
    "ΟΔΟΣ",
];
const TEAMS: &[&str] = &["core", "infra", "web"];

#[derive(Debug, Clone)]
enum Op {
    Put {
        id: usize,
        name: usize,
        email: u8,
        state: u8,
        backend: u8,
        user_type: u8,
        team: usize,
    },
    Delete(usize),
    Access(usize, u8),
}

fn state_of(i: u8) -> UserState {
    [UserState::Enabled, UserState::Disabled, UserState::Pending][i as usize % 3]
}

fn user(id: &str, name: &str, email: String, st: u8, be: u8, ut: u8, team: &str) -> User {
    let mut tags = Map::new();
    tags.insert("team".into(), Value::from(team));
    User {
        user_id: id.to_owned(),
        name: name.to_owned(),
        state: state_of(st),
        email,
        email_verified: false,
        user_type: if ut == 1 {
            UserType::ApiUser
        } else {
            UserType::User
        },
        backend: if be == 1 {
            Backend::External
        } else {
            Backend::Local
        },
        password_hash: None,
        language: "en".into(),
        timezone: "UTC".into(),
        required_actions: Vec::new(),
        tags,
        mfa: None,
        role_type: RoleType::User,
        role_id: None,
        last_accessed_at: None,
        created_at: NOW - 1000,
        updated_at: NOW - 1000,
        cred_version: 0,
        codes: Vec::new(),
        temp_password: None,
    }
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        5 => (0..IDS.len(), 0..NAMES.len(), 0u8..4, 0u8..3, 0u8..2, 0u8..2, 0..TEAMS.len())
            .prop_map(|(id, name, email, state, backend, user_type, team)| Op::Put {
                id, name, email, state, backend, user_type, team
            }),
        1 => (0..IDS.len()).prop_map(Op::Delete),
        1 => (0..IDS.len(), 0u8..3).prop_map(|(i, s)| Op::Access(i, s)),
    ]
}

fn build(ops: &[Op]) -> DomainState {
    let d = Domain {
        domain_id: DOMAIN.into(),
        name: "d".into(),
        state: DomainStatus::Enabled,
        tags: Map::new(),
        created_at: 0,
    };
    let mut s = DomainState::new(d.clone());
    s.apply(&Event::DomainCreated(d));
    for (n, o) in ops.iter().enumerate() {
        let e = match o {
            Op::Put {
                id,
                name,
                email,
                state,
                backend,
                user_type,
                team,
            } => {
                let id = IDS[*id];
                let email = match email {
                    0 => id.to_owned(),
                    1 => String::new(),
                    2 => "Shared@X.io".to_owned(),
                    _ => format!("other.{}", id.to_lowercase()),
                };
                let mut u = user(
                    id,
                    NAMES[*name],
                    email,
                    *state,
                    *backend,
                    *user_type,
                    TEAMS[*team],
                );
                u.created_at += n as i64;
                Event::UserUpdated(u)
            }
            Op::Delete(i) => Event::UserDeleted {
                user_id: IDS[*i].to_owned(),
            },
            Op::Access(i, st) => Event::UserAccessed {
                user_id: IDS[*i].to_owned(),
                at: NOW,
                state: state_of(*st),
            },
        };
        s.apply(&e);
    }
    s
}

// ---------------------------------------------------------------------------------------------
// Queries.

fn string_value() -> impl Strategy<Value = J> {
    let mut pool: Vec<&'static str> = IDS.to_vec();
    pool.extend(NAMES);
    pool.extend([
        "ENABLED",
        "DISABLED",
        "PENDING",
        "enabled",
        "LOCAL",
        "EXTERNAL",
        "USER",
        "API_USER",
        "Shared@X.io",
        "other.kim@y.io",
        DOMAIN,
        "domain-2",
    ]);
    prop_oneof![
        8 => proptest::sample::select(pool).prop_map(J::from),
        1 => Just(J::Null),
        1 => Just(json!(3)),
    ]
}

fn cond() -> impl Strategy<Value = J> {
    let indexed = proptest::sample::select(vec![
        "user_id",
        "email",
        "name",
        "state",
        "backend",
        "auth_type",
        "user_type",
        "domain_id",
    ]);
    prop_oneof![
        6 => (indexed.clone(), string_value())
            .prop_map(|(k, v)| json!({"k": k, "v": v, "o": "eq"})),
        3 => (indexed.clone(), proptest::collection::vec(string_value(), 0..4))
            .prop_map(|(k, v)| json!({"k": k, "v": v, "o": "in"})),
        1 => (indexed, string_value()).prop_map(|(k, v)| json!({"k": k, "v": v, "o": "not"})),
        1 => proptest::sample::select(TEAMS)
            .prop_map(|t| json!({"k": "tags.team", "v": t, "o": "eq"})),
        1 => proptest::sample::select(vec!["k", "e", "İ", "@y"])
            .prop_map(|w| json!({"k": "name", "v": w, "o": "contain"})),
    ]
}

fn keyword() -> impl Strategy<Value = String> {
    let words = proptest::sample::select(vec![
        "kim", "KIM", "@x", "x.io", "lee", "api", "ü", "é", "i\u{307}", "σ", "ς", "1", "other",
        "zzz", "\u{212A}",
    ]);
    proptest::collection::vec(words, 1..3).prop_map(|w| w.join(" "))
}

fn sort() -> impl Strategy<Value = Option<J>> {
    proptest::option::weighted(
        0.4,
        proptest::sample::select(vec![
            json!({"key": "name"}),
            json!([{"key": "name"}, {"key": "user_id"}]),
            json!({"key": "name", "desc": true}),
            json!({"key": "user_id", "desc": true}),
            json!({"key": "created_at"}),
            json!({"key": "tags.team"}),
        ]),
    )
}

fn query() -> impl Strategy<Value = J> {
    (
        proptest::collection::vec(cond(), 0..3),
        proptest::option::weighted(0.1, proptest::collection::vec(cond(), 1..3)),
        proptest::option::weighted(0.4, keyword()),
        sort(),
        proptest::option::of((0i64..6, 0i64..5)),
        proptest::bool::weighted(0.15),
    )
        .prop_map(|(filter, or, kw, sort, page, count_only)| {
            let mut q = json!({"filter": filter});
            if let Some(or) = or {
                q["filter_or"] = json!(or);
            }
            if let Some(kw) = kw {
                q["keyword"] = json!(kw);
            }
            if let Some(sort) = sort {
                q["sort"] = sort;
            }
            if let Some((start, limit)) = page {
                q["page"] = json!({"start": start, "limit": limit});
            }
            if count_only {
                q["count_only"] = json!(true);
            }
            q
        })
}

fn stat_query() -> impl Strategy<Value = J> {
    let keys = proptest::collection::vec(
        proptest::sample::select(vec![
            "state",
            "backend",
            "auth_type",
            "user_type",
            "tags.team",
        ]),
        0..3,
    );
    let first = prop_oneof![
        4 => keys.prop_map(|ks| {
            let keys: Vec<J> = ks
                .iter()
                .map(|k| json!({"key": k, "name": k.replace('.', "_")}))
                .collect();
            json!({"group": {"keys": keys, "fields": [{"name": "n", "operator": "count"}]}})
        }),
        1 => Just(json!({"count": {"name": "total"}})),
        // Not `first`/`last`/`push`/`add_to_set`: they depend on the order documents are read
        // in, which is unspecified (a hash map's) with or without the planner.
        1 => Just(json!({"group": {"keys": [{"key": "state", "name": "s"}],
                                   "fields": [{"name": "top", "key": "user_id", "operator": "max"},
                                              {"name": "n", "operator": "count"}]}})),
    ];
    (
        proptest::collection::vec(cond(), 0..3),
        proptest::option::weighted(0.3, keyword()),
        first,
        proptest::bool::ANY,
        proptest::option::weighted(0.2, (1i64..3, 1i64..3)),
    )
        .prop_map(|(filter, kw, first, sorted, page)| {
            let mut stages = vec![first];
            if sorted {
                stages.push(json!({"sort": {"key": "n", "desc": true}}));
            }
            let mut q = json!({"filter": filter, "aggregate": stages});
            if let Some(kw) = kw {
                q["keyword"] = json!(kw);
            }
            if let Some((start, limit)) = page {
                q["page"] = json!({"start": start, "limit": limit});
            }
            q
        })
}

/// `find` by keyword, as the engine-less reference: any word in the lower-cased fields.
fn find_reference(s: &DomainState, keyword: &str, max: usize) -> (Vec<String>, u64) {
    let words: Vec<String> = keyword.split_whitespace().map(str::to_lowercase).collect();
    let hit = |f: &str| {
        let f = f.to_lowercase();
        words.iter().any(|w| f.contains(w.as_str()))
    };
    let mut ids: Vec<String> = s
        .users
        .values()
        .filter(|u| hit(&u.user_id) || hit(&u.name) || hit(&u.email))
        .map(|u| u.user_id.clone())
        .collect();
    ids.sort();
    let total = ids.len() as u64;
    ids.truncate(max);
    (ids, total)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 600, ..ProptestConfig::default() })]

    #[test]
    fn planned_list_equals_the_engine_over_all_users(
        ops in proptest::collection::vec(op(), 0..60),
        queries in proptest::collection::vec(query(), 1..6),
        max in proptest::sample::select(vec![0usize, 2, 10_000]),
    ) {
        let s = build(&ops);
        s.index.check(&s.users).map_err(TestCaseError::fail)?;
        for q in &queries {
            let parsed = Query::parse(&Value::from(q.clone())).map_err(|e| TestCaseError::fail(format!("{e:?}")))?;
            let planned = list_users(&s, &parsed, NOW, max);
            let scanned = list_users_scan(&s, &parsed, NOW, max);
            let ids = |r: &identityd::api::UsersInfo| -> Vec<String> {
                r.results.iter().map(|u| u.user_id.clone()).collect()
            };
            prop_assert_eq!(ids(&planned), ids(&scanned), "query {}", q);
            prop_assert_eq!(planned.total_count, scanned.total_count, "query {}", q);
            prop_assert_eq!(&planned, &scanned, "query {}", q);
        }
    }

    #[test]
    fn planned_stat_and_find_equal_the_scans(
        ops in proptest::collection::vec(op(), 0..60),
        queries in proptest::collection::vec(stat_query(), 1..4),
        kw in keyword(),
        max in proptest::sample::select(vec![1usize, 3, 100]),
    ) {
        let s = build(&ops);
        for q in &queries {
            let parsed = StatQuery::parse(&Value::from(q.clone())).map_err(|e| TestCaseError::fail(format!("{e:?}")))?;
            let planned = stat_users(&s, &parsed, NOW, 10_000).map_err(|e| TestCaseError::fail(format!("{e:?}")))?;
            let scanned = stat_users_scan(&s, &parsed, NOW, 10_000).map_err(|e| TestCaseError::fail(format!("{e:?}")))?;
            prop_assert_eq!(planned, scanned, "query {}", q);
        }
        let search = FindSearch { keyword: Some(kw.clone()), ..Default::default() };
        let found = find_users(&s, &search, max).map_err(|e| TestCaseError::fail(format!("{e:?}")))?;
        let got: Vec<String> = found.results.iter().map(|r| r.user_id.clone()).collect();
        prop_assert_eq!((got, found.total_count), find_reference(&s, &kw, max), "keyword {}", kw);
    }
}

/// v1 `list`'s top-level fields become `eq` conditions, which the planner answers.
#[test]
fn top_level_fields_are_planned_like_filters() {
    let ops: Vec<Op> = (0..IDS.len())
        .map(|i| Op::Put {
            id: i,
            name: i % NAMES.len(),
            email: (i % 4) as u8,
            state: (i % 3) as u8,
            backend: (i % 2) as u8,
            user_type: ((i / 2) % 2) as u8,
            team: i % TEAMS.len(),
        })
        .collect();
    let s = build(&ops);
    let req = identityd::api::UserQuery {
        domain_id: DOMAIN.into(),
        state: Some(UserState::Enabled),
        user_type: Some(UserType::User),
        ..Default::default()
    };
    let q = parse_list(&req).unwrap();
    let planned = list_users(&s, &q, NOW, 10_000);
    assert_eq!(planned, list_users_scan(&s, &q, NOW, 10_000));
    assert!(planned.total_count > 0);
}

/// A scan the planner hands out (to run outside the actor) sees the users as they were when
/// it was planned, whatever is applied afterwards.
#[test]
fn a_scan_sees_the_state_it_was_planned_on() {
    use identityd::query::users::{Planned, list_users_planned};
    let ops: Vec<Op> = (0..IDS.len())
        .map(|i| Op::Put {
            id: i,
            name: i % NAMES.len(),
            email: 0,
            state: 0,
            backend: 0,
            user_type: 0,
            team: i % TEAMS.len(),
        })
        .collect();
    let mut s = build(&ops);
    let q = Query::parse(&Value::from(json!({
        "filter": [{"k": "tags.team", "v": "core", "o": "eq"}],
        "sort": {"key": "user_id"}
    })))
    .unwrap();
    let before = list_users_scan(&s, &q, NOW, 100);
    let Planned::Scan(scan) = list_users_planned(&s, &q, NOW, 100) else {
        panic!("a tags filter is not answered from the indexes");
    };
    for (i, id) in IDS.iter().enumerate() {
        let e = if i % 2 == 0 {
            Event::UserDeleted {
                user_id: (*id).to_owned(),
            }
        } else {
            Event::UserUpdated(user(id, "Renamed", String::new(), 1, 0, 0, "core"))
        };
        s.apply(&e);
    }
    s.index.check(&s.users).unwrap();
    assert_eq!(scan.list(&q, 100), before);
    assert_ne!(list_users(&s, &q, NOW, 100), before);
}
