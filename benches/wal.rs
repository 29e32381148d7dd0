//! The write-ahead log: framing (length, CRC32C, LSN) and buffered append on a temp dir, without
//! fsync (the fsync cost is the disk's; see BENCHMARKS.md for durable-write figures).

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use identityd::fixtures;
use identityd::store::{Wal, WalOptions};
use std::hint::black_box;
use std::time::{Duration, Instant};

/// Appends timed between two untimed prunings of old segments.
const CHUNK: u64 = 20_000;

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("wal");
    let rec = fixtures::rename_record("domain-bench", 2, 7, 1);
    let payload = rec.encode().expect("encodes");
    g.bench_function("encode a rename record (bincode)", |b| {
        b.iter(|| black_box(&rec).encode().expect("encodes"))
    });
    for size in [payload.len(), 4096] {
        let data = if size == payload.len() {
            payload.clone()
        } else {
            vec![0xA5u8; size]
        };
        // tmpfs when there is one: criterion runs millions of appends, and only the CPU cost of
        // framing, CRC and buffered writes is measured here, not the disk.
        let dir = if std::path::Path::new("/dev/shm").is_dir() {
            tempfile::tempdir_in("/dev/shm")
        } else {
            tempfile::tempdir()
        }
        .expect("temp dir");
        let opts = WalOptions {
            segment_bytes: 16 << 20,
            preallocate: false,
        };
        let (mut wal, _) = Wal::open(dir.path(), opts, 0, false).expect("opens");
        g.throughput(Throughput::Bytes(size as u64));
        g.bench_function(format!("append {size} B (buffered, no sync)"), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                let mut left = iters;
                while left > 0 {
                    let n = left.min(CHUNK);
                    let t = Instant::now();
                    for _ in 0..n {
                        wal.append(black_box(&data)).expect("appends");
                    }
                    total += t.elapsed();
                    left -= n;
                    // Untimed: keep the directory small.
                    wal.flush().expect("flushes");
                    wal.remove_segments_upto(wal.last_lsn()).expect("prunes");
                }
                total
            })
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    targets = bench
}
criterion_main!(benches);
