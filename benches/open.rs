//! Opening a directory of 100k and 1M entries (100 B values, default 64 MiB
//! segments), with the hint files the library keeps and without them (every
//! `*.hint` deleted before each timed open; open scans the segments and
//! writes the hints again, which is part of what is timed).

mod support;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use std::path::Path;
use std::time::{Duration, Instant};
use support::{key, value, Setup, Tc};

fn setup(dir: &Path) -> Setup<'_> {
    Setup {
        dir: Some(dir),
        sync: 0,
        ..Setup::default()
    }
}

fn remove_hints(dir: &Path) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "hint") {
            std::fs::remove_file(p).unwrap();
        }
    }
}

fn open(c: &mut Criterion) {
    let sizes: &[u64] = if support::quick() {
        &[10_000, 50_000]
    } else {
        &[100_000, 1_000_000]
    };
    let mut g = c.benchmark_group("open");
    if !support::quick() {
        g.sample_size(10).measurement_time(Duration::from_secs(10));
    }
    let v = value(100, 6);
    for &n in sizes {
        let dir = tempfile::tempdir().unwrap();
        {
            let tc = Tc::open(setup(dir.path()));
            for i in 0..n {
                tc.put(&key(i), &v);
            }
        }
        // One untimed open so the hints of every sealed segment exist.
        drop(Tc::open(setup(dir.path())));
        g.bench_with_input(BenchmarkId::new("with_hints", n), &n, |b, &n| {
            b.iter_custom(|iters| {
                let mut t = Duration::ZERO;
                for _ in 0..iters {
                    let start = Instant::now();
                    let tc = Tc::open(setup(dir.path()));
                    t += start.elapsed();
                    assert_eq!(tc.stats().l2_entries, n);
                }
                t
            })
        });
        g.bench_with_input(BenchmarkId::new("without_hints", n), &n, |b, &n| {
            b.iter_custom(|iters| {
                let mut t = Duration::ZERO;
                for _ in 0..iters {
                    remove_hints(dir.path());
                    let start = Instant::now();
                    let tc = Tc::open(setup(dir.path()));
                    t += start.elapsed();
                    assert_eq!(tc.stats().l2_entries, n);
                }
                t
            })
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = support::config();
    targets = open
}
criterion_main!(benches);
