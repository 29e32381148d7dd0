//! Snapshot payloads: a `SnapshotImage` of N users encoded and decoded with bincode 2, as
//! `store::recovery` writes and reads it.

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use identityd::fixtures;
use identityd::model::state::{DomainImage, DomainState};
use identityd::store::recovery::{SNAPSHOT_IMAGE_VERSION, SnapshotImage, bincode_config};
use std::hint::black_box;
use std::time::Duration;

const USERS: usize = 100_000;

fn image() -> SnapshotImage {
    let users = (0..USERS).map(fixtures::user).collect();
    SnapshotImage {
        version: SNAPSHOT_IMAGE_VERSION,
        covered_lsn: USERS as u64,
        domains: vec![DomainImage {
            domain: fixtures::domain("domain-bench"),
            seq: USERS as u64,
            users,
            bindings: Vec::new(),
            roles: Vec::new(),
            workspaces: Vec::new(),
            groups: Vec::new(),
        }],
        tombstones: Vec::new(),
    }
}

fn bench(c: &mut Criterion) {
    let img = image();
    let bytes = bincode::encode_to_vec(&img, bincode_config()).expect("encodes");
    let mut g = c.benchmark_group("snapshot 100k users");
    g.sample_size(10);
    g.throughput(Throughput::Elements(USERS as u64));
    g.bench_function("encode", |b| {
        b.iter(|| {
            let mut buf = Vec::with_capacity(bytes.len());
            bincode::encode_into_std_write(black_box(&img), &mut buf, bincode_config())
                .expect("encodes");
            buf
        })
    });
    g.bench_function("decode", |b| {
        b.iter(|| {
            let (i, _): (SnapshotImage, usize) =
                bincode::decode_from_slice(black_box(&bytes), bincode_config()).expect("decodes");
            i
        })
    });
    g.bench_function("decode + from_image (recovery)", |b| {
        b.iter_batched(
            || (),
            |()| {
                let (i, _): (SnapshotImage, usize) =
                    bincode::decode_from_slice(black_box(&bytes), bincode_config())
                        .expect("decodes");
                i.domains
                    .into_iter()
                    .map(DomainState::from_image)
                    .collect::<Vec<_>>()
            },
            BatchSize::PerIteration,
        )
    });
    let state = fixtures::domain_state("domain-bench", USERS);
    g.bench_function("DomainState::image (the actor's pause)", |b| {
        b.iter(|| black_box(&state).image())
    });
    g.finish();
    eprintln!(
        "snapshot payload: {} bytes for {USERS} users ({} B/user)",
        bytes.len(),
        bytes.len() / USERS
    );
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(5)).warm_up_time(Duration::from_secs(1));
    targets = bench
}
criterion_main!(benches);
