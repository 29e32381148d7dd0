//! `DomainState::apply`: the one state transition, for live writes and recovery alike.

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use identityd::fixtures;
use identityd::model::events::Event;
use std::hint::black_box;
use std::time::{Duration, Instant};

const BASE: usize = 100_000;

fn apply(c: &mut Criterion) {
    let mut g = c.benchmark_group("apply");

    // A new user into a domain of 100k: the timed part inserts `iters` fresh users; the state is
    // rebuilt (untimed) for every sample so it does not grow without bound.
    let base = fixtures::domain_state("domain-bench", BASE);
    g.bench_function("UserCreated into 100k users", |b| {
        b.iter_custom(|iters| {
            let mut s = base.clone();
            let events: Vec<Event> = (0..iters as usize)
                .map(|i| Event::UserCreated(fixtures::user(BASE + i)))
                .collect();
            let t = Instant::now();
            for e in &events {
                s.apply(e);
            }
            let d = t.elapsed();
            drop(black_box(s));
            d
        })
    });

    // An after-image of an existing user (a rename: the name index moves).
    let mut s = base.clone();
    let updates: Vec<Event> = (0..4096)
        .map(|j| {
            let i = (fixtures::mix(j) % BASE as u64) as usize;
            let mut u = fixtures::user(i);
            u.name = format!("Renamed User {i} v{j}");
            Event::UserUpdated(u)
        })
        .collect();
    let mut k = 0usize;
    g.bench_function("UserUpdated (rename) in 100k users", |b| {
        b.iter(|| {
            s.apply(black_box(&updates[k % updates.len()]));
            k += 1;
        })
    });

    // The whole record decode + apply path of recovery, per user.
    g.bench_function("from_image 10k users (per batch)", |b| {
        let img = fixtures::domain_state("domain-bench", 10_000).image();
        b.iter_batched(
            || img.clone(),
            |img| identityd::model::state::DomainState::from_image(black_box(img)),
            BatchSize::LargeInput,
        )
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    targets = apply
}
criterion_main!(benches);
