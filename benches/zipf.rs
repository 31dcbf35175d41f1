//! A mixed workload: 90 % gets, 10 % puts, keys drawn with Zipf popularity
//! (s = 0.9 and 1.0), 1 KiB values, L1 holding a tenth of the keys and L2 all
//! of them (write-through, sync never); 1 and 2 threads, in operations per
//! second. Per-tier hit ratios for several L1/L2 ratios are printed by
//! `cargo run --release -p tiercache-benchmarks -- hit-ratio`.

mod support;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;
use support::{key, value, Rng, Setup, Tc, Zipf};

const VALUE_LEN: usize = 1024;

fn zipf_mixed(c: &mut Criterion) {
    let n: u64 = if support::quick() { 10_000 } else { 100_000 };
    let mut g = c.benchmark_group("zipf_mixed_90r10w");
    g.throughput(Throughput::Elements(1));
    let v = value(VALUE_LEN, 5);
    for s in [0.9, 1.0] {
        let zipf = Zipf::new(n as usize, s);
        let dir = tempfile::tempdir().unwrap();
        let tc = Tc::open(Setup {
            dir: Some(dir.path()),
            // A tenth of the working set in memory.
            l1_bytes: n * (VALUE_LEN as u64 + 24) / 10,
            sync: 0,
            ..Setup::default()
        });
        for i in 0..n {
            tc.put(&key(i), &v);
        }
        let seed = AtomicU64::new(1);
        for threads in [1u64, 2] {
            let before = tc.stats();
            g.bench_with_input(
                BenchmarkId::new(format!("s={s}"), format!("{threads}_threads")),
                &threads,
                |b, &t| {
                    b.iter_custom(|iters| {
                        let start = Instant::now();
                        std::thread::scope(|sc| {
                            for th in 0..t {
                                let ops = iters / t + u64::from(th < iters % t);
                                let (tc, zipf, v) = (&tc, &zipf, &v);
                                let mut r = Rng(seed.fetch_add(0x9e37_79b9, Ordering::Relaxed) | 1);
                                sc.spawn(move || {
                                    for _ in 0..ops {
                                        let k = key(zipf.sample(&mut r));
                                        if r.below(10) == 0 {
                                            tc.put(&k, v);
                                        } else {
                                            std::hint::black_box(tc.get(&k));
                                        }
                                    }
                                });
                            }
                        });
                        start.elapsed()
                    })
                },
            );
            let a = tc.stats();
            let (l1, l2) = (a.l1_hits - before.l1_hits, a.l2_hits - before.l2_hits);
            eprintln!(
                "zipf s={s} {threads} threads: L1 hit {:.1}%, L2 hit {:.1}% of gets",
                100.0 * l1 as f64 / (l1 + l2).max(1) as f64,
                100.0 * l2 as f64 / (l1 + l2).max(1) as f64
            );
        }
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = support::config();
    targets = zipf_mixed
}
criterion_main!(benches);
