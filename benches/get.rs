//! Reads through the C ABI: L1 hits (`tc_get` + `tc_bytes_free`, and
//! `tc_get_into`), L2 hits (L1 far smaller than the working set, page cache
//! warm), and the loader path (a new key every time, a trivial loader).

mod support;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use std::hint::black_box;
use support::{key, value, Rng, Setup, Tc, VALUE_SIZES};
use tiercache::ffi::cache::tc_get_into;

/// Keys in the working set of the L1 and L2 groups.
fn working_set(len: usize) -> u64 {
    let n = if len >= 16 * 1024 { 4_000 } else { 20_000 };
    if support::quick() {
        n / 10
    } else {
        n
    }
}

/// A random order over `n` keys, so that lookups do not walk memory in order.
fn order(n: u64) -> Vec<Vec<u8>> {
    let mut r = Rng(42);
    (0..n.max(4096)).map(|_| key(r.below(n))).collect()
}

fn l1_hit(c: &mut Criterion) {
    let mut g = c.benchmark_group("l1_hit");
    g.throughput(Throughput::Elements(1));
    for &len in &VALUE_SIZES {
        let n = working_set(len);
        // Memory only, L1 big enough for everything: every get is an L1 hit.
        let tc = Tc::open(Setup {
            l1_bytes: 1 << 30,
            ..Setup::default()
        });
        let v = value(len, 1);
        for i in 0..n {
            tc.put(&key(i), &v);
        }
        let keys = order(n);
        g.bench_with_input(BenchmarkId::new("tc_get+free", len), &len, |b, _| {
            let mut i = 0;
            b.iter(|| {
                i = (i + 1) % keys.len();
                black_box(tc.get(&keys[i]))
            })
        });
        let mut buf = vec![0u8; len];
        g.bench_with_input(BenchmarkId::new("tc_get_into", len), &len, |b, _| {
            let mut i = 0;
            b.iter(|| {
                i = (i + 1) % keys.len();
                let k = &keys[i];
                let mut n = 0usize;
                let st = unsafe { tc_get_into(tc.0, k.as_ptr(), k.len(), buf.as_mut_ptr(), buf.len(), &mut n) };
                black_box((st, n))
            })
        });
        let s = tc.stats();
        assert_eq!(s.l2_hits, 0);
    }
    g.finish();
}

fn l2_hit(c: &mut Criterion) {
    let mut g = c.benchmark_group("l2_hit");
    g.throughput(Throughput::Elements(1));
    for &len in &VALUE_SIZES {
        let n = working_set(len);
        let dir = tempfile::tempdir().unwrap();
        // L1 holds 64 entries (one shard): nearly every get of the working
        // set misses it, reads L2 and promotes (evicting another entry).
        let tc = Tc::open(Setup {
            dir: Some(dir.path()),
            l1_entries: 64,
            l1_bytes: 0,
            ..Setup::default()
        });
        let v = value(len, 2);
        for i in 0..n {
            tc.put(&key(i), &v);
        }
        let keys = order(n);
        // Warm the page cache and the maps.
        for k in &keys {
            tc.get(k);
        }
        let before = tc.stats();
        g.bench_with_input(BenchmarkId::new("tc_get+free", len), &len, |b, _| {
            let mut i = 0;
            b.iter(|| {
                i = (i + 1) % keys.len();
                black_box(tc.get(&keys[i]))
            })
        });
        let after = tc.stats();
        let l2 = after.l2_hits - before.l2_hits;
        let l1 = after.l1_hits - before.l1_hits;
        eprintln!(
            "l2_hit/{len}: {:.1}% of gets were L2 hits ({l2} L2, {l1} L1)",
            100.0 * l2 as f64 / (l1 + l2).max(1) as f64
        );
    }
    g.finish();
}

fn loader(c: &mut Criterion) {
    let mut g = c.benchmark_group("loader");
    g.throughput(Throughput::Elements(1));
    for &len in &VALUE_SIZES {
        // With a directory (write-through, sync never): the loaded value is
        // stored in L1 and appended to L2, as a persistent cache does. L2 is
        // bounded so a long run does not fill the disk.
        let dir = tempfile::tempdir().unwrap();
        let tc = Tc::open(Setup {
            dir: Some(dir.path()),
            l2_bytes: 256 << 20,
            ..Setup::default()
        });
        tc.set_constant_loader(len);
        let mut next = 0u64;
        g.bench_with_input(BenchmarkId::new("miss+load+store", len), &len, |b, _| {
            b.iter(|| {
                next += 1;
                black_box(tc.get(&key(next)))
            })
        });
        assert_eq!(tc.stats().l3_loads, next);
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = support::config();
    targets = l1_hit, l2_hit, loader
}
criterion_main!(benches);
