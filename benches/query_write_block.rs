//! How long a write to a domain waits while a query runs on it. Queries run inside the domain
//! actor, so a write sent during a query waits for the query to finish. This runs the real
//! `DomainActor` (in-memory log: no fsync) on its own actix system thread with
//! `IDENTITYD_BENCH_USERS` users (default 1,000,000); one client thread sends a query, another
//! sends a one-user update 2 ms later and measures its latency until the reply. Queries run
//! as the service runs them: planned inside the actor; a full scan the planner hands back runs
//! on the client's thread over a snapshot, outside the actor.

mod common;

use common::*;
use identityd::actor::domain::{DomainActor, Exec};
use identityd::actor::persist::PersistHandle;
use identityd::api::Value;
use identityd::model::clock::SystemClock;
use identityd::model::events::Event;
use identityd::model::lockout::LockoutPolicy;
use identityd::query::users::{Planned, list_users_planned, stat_users_planned};
use identityd::query::{Query, StatQuery};
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};

type Addr = actix::Addr<DomainActor>;

fn write(addr: &Addr, i: usize, version: usize) -> Duration {
    let mut u = user(i);
    u.name = format!("Renamed {i} v{version}");
    let t = Instant::now();
    let r = futures::executor::block_on(addr.send(Exec(Box::new(move |ctx| {
        ctx.emit(vec![Event::UserUpdated(u)]);
        Ok(())
    }))));
    assert!(matches!(r, Ok(Ok(()))), "the write failed");
    t.elapsed()
}

enum Q {
    List(Query),
    Stat(StatQuery),
}

/// A query as the service runs it: planned in the actor; a scan the planner hands back runs
/// on the calling thread, over the snapshot, outside the actor.
fn query(addr: &Addr, q: Arc<Q>) -> Duration {
    let t = Instant::now();
    let q2 = q.clone();
    let r = futures::executor::block_on(addr.send(Exec(Box::new(move |ctx| {
        Ok(match &*q2 {
            Q::List(q) => match list_users_planned(ctx.state(), q, ctx.now, 10_000) {
                Planned::Done(i) => Ok(i.total_count),
                Planned::Scan(scan) => Err(scan),
            },
            Q::Stat(q) => match stat_users_planned(ctx.state(), q, ctx.now, 10_000)? {
                Planned::Done(i) => Ok(i.results.len() as u64),
                Planned::Scan(scan) => Err(scan),
            },
        })
    }))));
    match r {
        Ok(Ok(Ok(_))) => {}
        Ok(Ok(Err(scan))) => {
            let n = match &*q {
                Q::List(q) => scan.list(q, 10_000).total_count,
                Q::Stat(q) => scan.stat(q, 10_000).map_or(0, |r| r.results.len() as u64),
            };
            std::hint::black_box(n);
        }
        _ => panic!("the query failed"),
    }
    t.elapsed()
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

fn main() {
    let n = users_from_env();
    let state = domain_state(n);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let sys = actix::System::new();
        sys.block_on(async move {
            let addr = actix::Actor::start(DomainActor::new(
                state,
                PersistHandle::memory(),
                Arc::new(SystemClock),
                LockoutPolicy::default(),
                1024,
            ));
            let _ = tx.send(addr);
        });
        let _ = sys.run();
    });
    let addr = rx.recv().expect("the actor started");

    let mut idle: Vec<Duration> = (0..200).map(|k| write(&addr, k % n, k)).collect();
    idle.sort();
    println!(
        "users: {n}; write latency with no query running: p50 {} p99 {} max {}",
        ms(idle[idle.len() / 2]),
        ms(idle[idle.len() * 99 / 100]),
        ms(idle[idle.len() - 1])
    );
    let list =
        |v: serde_json::Value| Arc::new(Q::List(Query::parse(&Value::from(v)).expect("valid")));
    let page = json!({"start": 1, "limit": 100});
    let cases = [
        ("planned: keyword \"a\" (~all users), page 1×100", list(json!({"keyword": "a", "page": page}))),
        ("planned: eq state=DISABLED, page 1×100", list(json!({"filter": [{"k": "state", "v": "DISABLED", "o": "eq"}], "page": page}))),
        ("unplanned: eq tags.team, page 1×100", list(json!({"filter": [{"k": "tags.team", "v": "team-7", "o": "eq"}], "page": page}))),
        ("unplanned: no filter, sort created_at desc, no page", list(json!({"sort": {"key": "created_at", "desc": true}}))),
        (
            "unplanned: stat group by tags.team",
            Arc::new(Q::Stat(
                StatQuery::parse(&Value::from(json!({"aggregate": [
                    {"group": {"keys": [{"key": "tags.team", "name": "team"}], "fields": [{"name": "n", "operator": "count"}]}}
                ]})))
                .expect("valid"),
            )),
        ),
    ];
    println!("\n| query running | query time | write latency (sent 2 ms after the query) |");
    println!("|---|---|---|");
    for (k, (name, q)) in cases.into_iter().enumerate() {
        let mut worst = (Duration::ZERO, Duration::ZERO);
        for round in 0..3 {
            let a = addr.clone();
            let q = q.clone();
            let h = std::thread::spawn(move || query(&a, q));
            std::thread::sleep(Duration::from_millis(2));
            let w = write(&addr, 1000 + k, round);
            let qt = h.join().expect("query thread");
            if w > worst.1 {
                worst = (qt, w);
            }
        }
        println!("| {name} | {} | {} |", ms(worst.0), ms(worst.1));
    }
}
