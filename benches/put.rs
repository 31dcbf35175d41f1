//! Puts, write-through: sync NEVER (the append buffer) for each value size,
//! and sync ALWAYS (every put fsynced, group commit) with 1, 2 and 8 writer
//! threads, reported as puts per second.

mod support;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use support::{key, value, Setup, Tc, VALUE_SIZES};

fn put_sync_never(c: &mut Criterion) {
    let mut g = c.benchmark_group("put_sync_never");
    g.throughput(Throughput::Elements(1));
    for &len in &VALUE_SIZES {
        let dir = tempfile::tempdir().unwrap();
        // L2 bounded so that long runs retire segments instead of filling the disk.
        let tc = Tc::open(Setup {
            dir: Some(dir.path()),
            l2_bytes: 512 << 20,
            sync: 0,
            ..Setup::default()
        });
        let v = value(len, 3);
        let keys: Vec<Vec<u8>> = (0..100_000).map(key).collect();
        g.bench_with_input(BenchmarkId::new("1_thread", len), &len, |b, _| {
            let mut i = 0;
            b.iter(|| {
                i = (i + 1) % keys.len();
                tc.put(&keys[i], &v)
            })
        });
    }
    g.finish();
}

/// `iters` puts spread over `threads` threads; the wall time of all of them.
fn parallel_puts(tc: &Tc, threads: u64, iters: u64, v: &[u8], next: &AtomicU64) -> Duration {
    let start = Instant::now();
    std::thread::scope(|s| {
        for t in 0..threads {
            let n = iters / threads + u64::from(t < iters % threads);
            s.spawn(move || {
                for _ in 0..n {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    tc.put(&key(i % 100_000), v);
                }
            });
        }
    });
    start.elapsed()
}

fn put_sync_always(c: &mut Criterion) {
    let mut g = c.benchmark_group("put_sync_always");
    g.throughput(Throughput::Elements(1));
    // fsync-bound: fewer, longer samples.
    if !support::quick() {
        g.sample_size(10).measurement_time(Duration::from_secs(5));
    }
    let len = 1024;
    let v = value(len, 4);
    for threads in [1u64, 2, 8] {
        let dir = tempfile::tempdir().unwrap();
        let tc = Tc::open(Setup {
            dir: Some(dir.path()),
            l2_bytes: 512 << 20,
            sync: 2,
            ..Setup::default()
        });
        let next = AtomicU64::new(0);
        g.bench_with_input(
            BenchmarkId::new(format!("{threads}_threads"), len),
            &threads,
            |b, &t| b.iter_custom(|iters| parallel_puts(&tc, t, iters, &v, &next)),
        );
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = support::config();
    targets = put_sync_never, put_sync_always
}
criterion_main!(benches);
