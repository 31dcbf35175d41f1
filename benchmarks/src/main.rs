//! tiercache side by side with its peers, on the same workloads, in the same
//! run: prints one table per workload with the median of several rounds and
//! tiercache's ratio to each peer.
//!
//! ```text
//! cargo run --release -p tiercache-benchmarks -- <workload>... [--quick] [--out DIR]
//! workloads: l1-hit shared-lib l1-threads l2-hit put put-durable zipf
//!            hit-ratio open python go        (these are `all`, the default)
//!            hit-ratio-traces [--traces DIR]   (not in `all`: minutes)
//!            l1-harness-check   (not in `all`: what moved l1-hit's and
//!                                shared-lib's L1 ratios apart, one at a time)
//! cargo run --release -p tiercache-benchmarks -- plot DIR [--img IMGDIR]
//! ```
//!
//! Rounds interleave the systems (round 1 of each, then round 2 of each...),
//! so noise from other jobs on the machine lands on all of them alike; every
//! table prints the load average beside it. The run ends with the headline:
//! issue 12's rows, each as a ratio to its peer and floor, beside its goal.
//! `--out DIR` also writes every table as `DIR/<table>.csv` and the headline
//! as `DIR/summary.csv`; `plot DIR` draws the pictures from them.
//! `--quick` (or `TIERCACHE_BENCH_QUICK=1`) shrinks everything to seconds.
//! Nothing here asserts on time.

mod bindings;
mod goals;
mod open;
mod peers;
mod plot;
mod report;
mod shared;
mod traces;

use std::time::Instant;

use peers::{FoldMap, Foyer, Kv, Lmdb, Moka, MutexLru, QuickCache, Redb, Sqlite, Tc, TcRust, TcSetup};
use report::{table, Row};
use shared::{Read, So};

static mut QUICK: bool = false;

fn quick() -> bool {
    unsafe { QUICK }
}

fn rounds() -> usize {
    if quick() {
        3
    } else {
        7
    }
}

fn key(i: u64) -> Vec<u8> {
    format!("bench:key:{i:010}").into_bytes()
}

fn value(len: usize) -> Vec<u8> {
    let mut r = Rng(len as u64 | 1);
    (0..len).map(|_| r.next() as u8).collect()
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        ((self.next() >> 32) * n) >> 32
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

struct Zipf(Vec<f64>);

impl Zipf {
    fn new(n: usize, s: f64) -> Zipf {
        let mut cdf = Vec::with_capacity(n);
        let mut sum = 0.0;
        for i in 1..=n {
            sum += 1.0 / (i as f64).powf(s);
            cdf.push(sum);
        }
        cdf.iter_mut().for_each(|c| *c /= sum);
        Zipf(cdf)
    }
    fn sample(&self, r: &mut Rng) -> u64 {
        let u = r.unit();
        self.0.partition_point(|&c| c < u).min(self.0.len() - 1) as u64
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

/// Runs `op` on each system for `rounds()` rounds, interleaved; returns the
/// median ns per operation of each. `op(system, count)` does `count`
/// operations (at most `max`); each system gets a count that takes about
/// 0.25 s a round, so slow systems do not stretch the run.
fn per_op(systems: &[(&str, &dyn Kv)], max: usize, op: impl FnMut(usize, &dyn Kv, usize)) -> Vec<f64> {
    per_round(systems, max, |_| {}, op)
}

/// `per_op` for writes that do not wait for the disk: every round (and the
/// probe) starts with the page cache's dirty pages written back, untimed.
///
/// Why: such writes leave dirty pages behind, and a system that never
/// deletes what it wrote (the append floor: ~4.5 GB over a 16 KiB table)
/// leaves more than the kernel lets wait (`vm.dirty_background_ratio`,
/// `vm.dirty_ratio`). The writeback of them, and the throttling of every
/// writer past the second bound, then fell on whichever system wrote next:
/// measured with `benchmarks/c/rounds.c`, tiercache's 16 KiB put rounds went
/// from 7.5 µs to 12–17 µs once another writer's leftovers passed ~2 GB.
/// Each system still pays for the writeback its own round brings about.
/// The store's own `Kv::between_rounds` comes first (the append floor
/// empties its file there).
fn per_write(systems: &[(&str, &dyn Kv)], max: usize, op: impl FnMut(usize, &dyn Kv, usize)) -> Vec<f64> {
    let settle = |s: &dyn Kv| {
        s.between_rounds();
        // SAFETY: `sync` takes no arguments and cannot fail.
        unsafe { libc::sync() }
    };
    per_round(systems, max, settle, op)
}

/// `per_op`, calling `settle` with the system (untimed) before each timed
/// call of `op`.
fn per_round(
    systems: &[(&str, &dyn Kv)],
    max: usize,
    settle: impl Fn(&dyn Kv),
    mut op: impl FnMut(usize, &dyn Kv, usize),
) -> Vec<f64> {
    let target = if quick() { 0.03 } else { 0.25 };
    let counts: Vec<usize> = systems
        .iter()
        .enumerate()
        .map(|(i, (_, s))| {
            let probe = max.min(1000);
            settle(*s);
            let t = Instant::now();
            op(i, *s, probe);
            let per = t.elapsed().as_secs_f64() / probe as f64;
            ((target / per) as usize).clamp(probe, max)
        })
        .collect();
    let mut samples = vec![Vec::new(); systems.len()];
    for _ in 0..rounds() {
        for (i, (_, s)) in systems.iter().enumerate() {
            settle(*s);
            let t = Instant::now();
            op(i, *s, counts[i]);
            samples[i].push(t.elapsed().as_nanos() as f64 / counts[i] as f64);
        }
    }
    if std::env::var_os("TIERCACHE_BENCH_ROUNDS").is_some() {
        // Every round's figure, not only the median: to tell a table whose
        // rounds all moved from one with a few outliers.
        for (((name, _), count), s) in systems.iter().zip(&counts).zip(&samples) {
            let s: Vec<String> = s.iter().map(|ns| format!("{ns:.0}")).collect();
            eprintln!("rounds: {name}: {count} ops a round: {} ns/op", s.join(" "));
        }
    }
    samples.into_iter().map(median).collect()
}

fn shuffled_keys(n: u64, count: usize, seed: u64) -> Vec<Vec<u8>> {
    let mut r = Rng(seed);
    (0..count).map(|_| key(r.below(n))).collect()
}

const SIZES: [usize; 3] = [100, 1024, 16 * 1024];

fn working_set(len: usize) -> u64 {
    let n = if len >= 16 * 1024 { 4_000 } else { 20_000 };
    if quick() {
        n / 10
    } else {
        n
    }
}

fn ops_per_round() -> usize {
    if quick() {
        20_000
    } else {
        200_000
    }
}

/// L1 hits, 1 thread: tiercache through the shared library (as a C program
/// calls it) and linked (the same C functions called from Rust), beside the
/// in-memory peers and the floor (a foldhash map). 100 B values over 20k
/// keys (the maps fit the CPU caches) and over 100k (they do not: the issue's
/// row), 1 KiB over 20k, 16 KiB over 4k.
fn l1_hit() {
    let api = shared::api();
    if let Err(e) = &api {
        println!("\n(l1-hit: the rows through the shared library are skipped: {e})");
    }
    for (id, len, n) in [
        ("l1-100", 100, 20_000u64),
        ("l1-100-wide", 100, 100_000),
        ("l1-1024", 1024, 20_000),
        ("l1-16384", 16 * 1024, 4_000),
    ] {
        let n = if quick() { n / 10 } else { n };
        let v = value(len);
        let so = api.as_ref().ok().map(|a| So::open(a, None, 0, 1 << 30, Read::Get));
        // Each `.so` row its own cache: rows reading one handle one after
        // the other in a round found its memory warmed by the row before
        // (the host's L3 is 480 MiB): `tc_get_into` looked 1.9x faster
        // than `tc_get+free` measured after it, 1.1x measured before it.
        let so_views = api.as_ref().ok().map(|a| {
            (
                So::open(a, None, 0, 1 << 30, Read::Into),
                So::open(a, None, 0, 1 << 30, Read::Value),
            )
        });
        let setup = TcSetup {
            dir: None,
            l1_entries: 0,
            l1_bytes: 1 << 30,
            l2_bytes: 0,
            sync: 0,
        };
        let tc = Tc::open(setup);
        let mut tc_into = Tc::open(setup);
        tc_into.into = true;
        let lru = MutexLru::new(n as usize * 2);
        let qc = QuickCache::new(n as usize * 2);
        let moka = Moka::new(1 << 30);
        let foyer = Foyer::open(None, 1 << 30, 0);
        let floor = FoldMap::new();
        let mut stores: Vec<(&str, &dyn Kv)> = Vec::new();
        let mut systems: Vec<(&str, &dyn Kv)> = Vec::new();
        if let (Some(so), Some((into, zc))) = (&so, &so_views) {
            stores.extend([
                ("tiercache tc_get+free (.so)", so as &dyn Kv),
                ("tc_get_into (.so)", into),
                ("tc_get_value (.so)", zc),
            ]);
            systems.extend([
                ("tiercache tc_get+free (.so)", so as &dyn Kv),
                ("tc_get_into (.so)", into),
                ("tc_get_value (.so)", zc),
            ]);
        }
        let linked: [(&str, &dyn Kv); 7] = [
            ("tc_get+free (linked)", &tc),
            ("tc_get_into (linked)", &tc_into),
            ("lru::LruCache + Mutex", &lru),
            ("quick_cache::sync::Cache", &qc),
            ("moka::sync::Cache", &moka),
            ("foyer HybridCache (memory)", &foyer),
            ("floor: foldhash map, copy out", &floor),
        ];
        stores.extend_from_slice(&linked);
        systems.extend_from_slice(&linked);
        let systems = match &api {
            Ok(a) => shared::present(a, systems),
            Err(_) => systems,
        };
        shared::fill(&stores, n, &v);
        moka.0.run_pending_tasks();
        let keys = shuffled_keys(n, ops_per_round(), 7);
        shared::compare_gets(
            id,
            &format!("L1 hit, {len} B values, {n} keys, 1 thread"),
            &systems,
            &keys,
        );
    }
}

/// L1 hits with 1, 2 and 4 threads: 100k keys x 100 B (larger than the CPU
/// caches), tiercache through the C ABI (`tc_get` + `tc_bytes_free`) under
/// each L1 policy, beside `lru` under one mutex and quick_cache. Timed as
/// `shared-lib`'s thread table is (`shared::gets_per_s`: threads started
/// once, pre-drawn key sequences, a warm-up round, rounds interleaving the
/// systems, the median of the rounds), each store filled alone.
fn l1_threads() {
    let n: u64 = if quick() { 10_000 } else { 100_000 };
    let v = value(100);
    let setup = TcSetup {
        dir: None,
        l1_entries: 0,
        l1_bytes: 1 << 30,
        l2_bytes: 0,
        sync: 0,
    };
    let lru_tc = Tc::open_with_policy(setup, 0);
    let s3_tc = Tc::open_with_policy(setup, 1);
    let rust = |p| {
        let o = tiercache::Options {
            l1_max_bytes: 1 << 30,
            l1_policy: p,
            ..tiercache::Options::new()
        };
        TcRust(tiercache::Cache::open(&o).unwrap())
    };
    let s3_rust = rust(tiercache::options::L1Policy::TC_L1_S3FIFO);
    let lru_rust = rust(tiercache::options::L1Policy::TC_L1_LRU);
    let lru = MutexLru::new(n as usize * 2);
    let qc = QuickCache::new(n as usize * 2);
    let systems: Vec<(&str, &dyn Kv)> = vec![
        ("tiercache TC_L1_S3FIFO (tc_get+free)", &s3_tc),
        ("tiercache TC_L1_LRU (tc_get+free)", &lru_tc),
        ("(Rust Cache::get, S3-FIFO: no C gate)", &s3_rust),
        ("(Rust Cache::get, LRU: no C gate)", &lru_rust),
        ("lru::LruCache + Mutex", &lru),
        ("quick_cache::sync::Cache", &qc),
    ];
    shared::fill(&systems, n, &v);
    let per_thread: u64 = if quick() { 100_000 } else { 500_000 };
    let threads = [1usize, 2, 4];
    let before = report::loadavg();
    // [system] -> ops/s with 1, 2, 4 threads
    let all = shared::gets_per_s(&systems, n, per_thread);
    println!(
        "\n## L1 hit throughput, {n} keys x 100 B, uniform keys, 1/2/4 threads on {} cores\n",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!("load average before: {before}; after: {}\n", report::loadavg());
    println!("| system | 1 thread Mops/s | 2 threads | 4 threads | 2 threads / 1 | 4 threads / 1 |");
    println!("| --- | ---: | ---: | ---: | ---: | ---: |");
    let mut records = Vec::new();
    for (si, (name, _)) in systems.iter().enumerate() {
        let m = all[si];
        for (t, v) in threads.iter().zip(&m) {
            // The ratio is against the system's own figure with 1 thread.
            let base = (format!("{name}, 1 thread"), m[0]);
            records.push(report::Record::with_param(
                "l1-threads",
                name,
                &t.to_string(),
                *v,
                "gets/s",
                (&base.0, base.1),
            ));
        }
        println!(
            "| {name} | {:.2} | {:.2} | {:.2} | {:.2}x | {:.2}x |",
            m[0] / 1e6,
            m[1] / 1e6,
            m[2] / 1e6,
            m[1] / m[0],
            m[2] / m[0]
        );
    }
    report::keep("l1-threads", records);
}

fn l2_hit() {
    for len in SIZES {
        let n = working_set(len);
        let v = value(len);
        let root = tempfile::tempdir().unwrap();
        let d = |name: &str| {
            let p = root.path().join(name);
            std::fs::create_dir_all(&p).unwrap();
            p
        };
        let tc = Tc::open(TcSetup {
            dir: Some(&d("tiercache")),
            l1_entries: 64,
            l1_bytes: 0,
            l2_bytes: 0,
            sync: 0,
        });
        let foyer = Foyer::open(
            Some(&d("foyer")),
            64 << 10,
            ((n as usize * (len + 64)) * 4).max(64 << 20),
        );
        let lmdb = Lmdb::open(&d("lmdb"), false);
        let redb = Redb::open(&d("redb"), false);
        let sqlite = Sqlite::open(&d("sqlite"), 1, false);
        let systems: Vec<(&str, &dyn Kv)> = vec![
            ("tiercache (L1 64 entries)", &tc),
            ("foyer HybridCache (64 KiB memory)", &foyer),
            ("LMDB (heed)", &lmdb),
            ("redb", &redb),
            ("SQLite (rusqlite, WAL)", &sqlite),
        ];
        for (name, s) in &systems {
            if name.starts_with("foyer") {
                // foyer writes to disk in the background and may drop
                // entries it cannot keep up with: insert at a pace it takes.
                for i in 0..n {
                    s.put(0, &key(i), &v);
                    if i % 256 == 255 {
                        std::thread::sleep(std::time::Duration::from_millis(2));
                    }
                }
                std::thread::sleep(std::time::Duration::from_millis(500));
            } else {
                for i in 0..n {
                    s.put(0, &key(i), &v);
                }
            }
        }
        let keys = shuffled_keys(n, ops_per_round() / if len >= 16 * 1024 { 4 } else { 1 }, 11);
        // Warm the page cache.
        for (_, s) in &systems {
            s.get_all(0, &keys);
        }
        let before = tc.stats();
        let mut hits = vec![0u64; systems.len()];
        let mut tries = vec![0u64; systems.len()];
        let med = per_op(&systems, keys.len(), |i, s, n| {
            hits[i] += s.get_all(0, &keys[..n]);
            tries[i] += n as u64;
        });
        let after = tc.stats();
        let (l1, l2) = (after.l1_hits - before.l1_hits, after.l2_hits - before.l2_hits);
        let rows: Vec<Row> = systems
            .iter()
            .zip(med)
            .zip(hits.iter().zip(&tries))
            .enumerate()
            .map(|(i, (((name, _), m), (h, tr)))| Row {
                name: name.to_string(),
                median: m,
                note: if i == 0 {
                    format!("{:.1}% of gets from L2", 100.0 * l2 as f64 / (l1 + l2).max(1) as f64)
                } else {
                    format!("hit {:.1}%", 100.0 * *h as f64 / *tr as f64)
                },
            })
            .collect();
        table(
            &format!("l2-{len}"),
            &format!("L2 / on-disk hit, {len} B values, {n} keys, page cache warm, 1 thread"),
            "ns/op",
            &rows,
        );
    }
}

fn put() {
    for len in SIZES {
        let v = value(len);
        let nkeys = if quick() { 5_000 } else { 50_000 };
        let count = if quick() { 5_000 } else { 200_000 } / if len >= 16 * 1024 { 4 } else { 1 };
        let root = tempfile::tempdir().unwrap();
        let d = |name: &str| {
            let p = root.path().join(name);
            std::fs::create_dir_all(&p).unwrap();
            p
        };
        let tc = Tc::open(TcSetup {
            dir: Some(&d("tiercache")),
            l1_entries: 0,
            l1_bytes: 64 << 20,
            l2_bytes: 0,
            sync: 0,
        });
        let lmdb = Lmdb::open(&d("lmdb"), false);
        let redb = Redb::open(&d("redb"), false);
        let sqlite = Sqlite::open(&d("sqlite"), 1, false);
        let foyer = Foyer::open(Some(&d("foyer")), 64 << 20, 1 << 30);
        let lru = MutexLru::new(nkeys * 2);
        let moka = Moka::new(1 << 30);
        let systems: Vec<(&str, &dyn Kv)> = vec![
            ("tiercache (write-through, sync never)", &tc),
            ("LMDB (heed, NO_SYNC, txn per put)", &lmdb),
            ("redb (Durability::None, txn per put)", &redb),
            ("SQLite (WAL, synchronous=OFF)", &sqlite),
            ("foyer HybridCache (async disk write)", &foyer),
            ("lru::LruCache + Mutex (memory only)", &lru),
            ("moka::sync::Cache (memory only)", &moka),
        ];
        let keys = shuffled_keys(nkeys as u64, count, 13);
        let med = per_write(&systems, keys.len(), |_, s, n| s.put_all(0, &keys[..n], &v));
        let rows: Vec<Row> = systems
            .iter()
            .zip(med)
            .map(|((name, _), m)| Row {
                name: name.to_string(),
                median: m,
                note: String::new(),
            })
            .collect();
        table(
            &format!("put-{len}"),
            &format!("put, no fsync, {len} B values, over {nkeys} keys, 1 thread"),
            "ns/op",
            &rows,
        );
    }
}

/// `ops` operations spread over `threads` threads; returns operations per second.
fn parallel(threads: usize, ops: u64, f: impl Fn(usize, u64) + Sync) -> f64 {
    let t = Instant::now();
    std::thread::scope(|s| {
        for th in 0..threads {
            let f = &f;
            let n = ops / threads as u64;
            s.spawn(move || {
                for i in 0..n {
                    f(th, i * threads as u64 + th as u64);
                }
            });
        }
    });
    ops as f64 / t.elapsed().as_secs_f64()
}

fn put_durable() {
    let len = 1024;
    let v = value(len);
    for threads in [1usize, 2, 8] {
        let root = tempfile::tempdir().unwrap();
        let d = |name: &str| {
            let p = root.path().join(name);
            std::fs::create_dir_all(&p).unwrap();
            p
        };
        let tc = Tc::open(TcSetup {
            dir: Some(&d("tiercache")),
            l1_entries: 0,
            l1_bytes: 64 << 20,
            l2_bytes: 0,
            sync: 2,
        });
        let lmdb = Lmdb::open(&d("lmdb"), true);
        let redb = Redb::open(&d("redb"), true);
        let sqlite = Sqlite::open(&d("sqlite"), threads, true);
        let systems: Vec<(&str, &dyn Kv)> = vec![
            ("tiercache (sync ALWAYS, group commit)", &tc),
            ("LMDB (heed, synced commit per put)", &lmdb),
            ("redb (Durability::Immediate)", &redb),
            ("SQLite (WAL, synchronous=FULL)", &sqlite),
        ];
        let ops: u64 = if quick() { 80 } else { 800 };
        let mut samples = vec![Vec::new(); systems.len()];
        for _ in 0..rounds().min(5) {
            for (i, (_, s)) in systems.iter().enumerate() {
                samples[i].push(parallel(threads, ops, |t, j| s.put(t, &key(j % 10_000), &v)));
            }
        }
        let rows: Vec<Row> = systems
            .iter()
            .zip(samples)
            .map(|((name, _), s)| Row {
                name: name.to_string(),
                median: median(s),
                note: String::new(),
            })
            .collect();
        table(
            &format!("put-durable-{threads}"),
            &format!("durable put (fsync before return), 1 KiB values, {threads} writer threads"),
            "ops/s",
            &rows,
        );
    }
}

fn zipf() {
    let n: u64 = if quick() { 10_000 } else { 100_000 };
    let len = 1024;
    let v = value(len);
    for s in [0.9, 1.0] {
        let z = Zipf::new(n as usize, s);
        for threads in [1usize, 2] {
            let root = tempfile::tempdir().unwrap();
            let d = |name: &str| {
                let p = root.path().join(name);
                std::fs::create_dir_all(&p).unwrap();
                p
            };
            let l1 = n * (len as u64 + 24) / 10;
            let tc = Tc::open(TcSetup {
                dir: Some(&d("tiercache")),
                l1_entries: 0,
                l1_bytes: l1,
                l2_bytes: 0,
                sync: 0,
            });
            let foyer = Foyer::open(
                Some(&d("foyer")),
                l1 as usize,
                (n as usize * (len + 64) * 4).max(64 << 20),
            );
            let lmdb = Lmdb::open(&d("lmdb"), false);
            let redb = Redb::open(&d("redb"), false);
            let sqlite = Sqlite::open(&d("sqlite"), threads, false);
            let systems: Vec<(&str, &dyn Kv)> = vec![
                ("tiercache (L1 = 10% of keys)", &tc),
                ("foyer HybridCache (memory = 10%)", &foyer),
                ("LMDB (heed, NO_SYNC)", &lmdb),
                ("redb (Durability::None)", &redb),
                ("SQLite (WAL, synchronous=OFF)", &sqlite),
            ];
            for (name, sys) in &systems {
                for i in 0..n {
                    sys.put(0, &key(i), &v);
                    if name.starts_with("foyer") && i % 256 == 255 {
                        std::thread::sleep(std::time::Duration::from_millis(2));
                    }
                }
            }
            let ops = ops_per_round() as u64 / 4;
            let mut samples = vec![Vec::new(); systems.len()];
            for round in 0..rounds() {
                for (i, (_, sys)) in systems.iter().enumerate() {
                    let z = &z;
                    let v = &v;
                    samples[i].push(parallel(threads, ops, |t, j| {
                        let mut r = Rng((j + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ round as u64);
                        let k = key(z.sample(&mut r));
                        if r.below(10) == 0 {
                            sys.put(t, &k, v);
                        } else {
                            std::hint::black_box(sys.get(t, &k));
                        }
                    }));
                }
            }
            let st = tc.stats();
            let rows: Vec<Row> = systems
                .iter()
                .zip(samples)
                .enumerate()
                .map(|(i, ((name, _), smp))| Row {
                    name: name.to_string(),
                    median: median(smp),
                    note: if i == 0 {
                        format!(
                            "L1 {:.1}% / L2 {:.1}% of hits",
                            100.0 * st.l1_hits as f64 / (st.l1_hits + st.l2_hits).max(1) as f64,
                            100.0 * st.l2_hits as f64 / (st.l1_hits + st.l2_hits).max(1) as f64
                        )
                    } else {
                        String::new()
                    },
                })
                .collect();
            table(
                &format!("zipf-{s}-{threads}"),
                &format!("Zipf s={s}, 90% get / 10% put, {n} keys x 1 KiB, {threads} threads"),
                "ops/s",
                &rows,
            );
        }
    }
}

/// Hit ratio per tier on a read-through Zipf workload (a trivial loader is L3)
/// for several L1/L2 size ratios, L2 holding half of the key space.
fn hit_ratio() {
    let n: u64 = if quick() { 20_000 } else { 200_000 };
    let len = 1024u64;
    let gets: u64 = if quick() { 100_000 } else { 1_000_000 };
    println!(
        "\n## Hit ratio per tier, read-through Zipf, {n} keys x 1 KiB, L2 = 50% of the key space (load {})\n",
        report::loadavg()
    );
    let mut records = Vec::new();
    println!("| Zipf s | L1 / L2 bytes | L1 hit | L2 hit | L3 load (loader) | gets/s |");
    println!("| --- | ---: | ---: | ---: | ---: | ---: |");
    for s in [0.9, 1.0] {
        let z = Zipf::new(n as usize, s);
        for ratio in [0.01, 0.05, 0.2] {
            let dir = tempfile::tempdir().unwrap();
            let l2 = n * (len + 64) / 2;
            let tc = Tc::open(TcSetup {
                dir: Some(dir.path()),
                l1_entries: 0,
                l1_bytes: (l2 as f64 * ratio) as u64,
                l2_bytes: l2,
                sync: 0,
            });
            tc.h.set_constant_loader(len as usize);
            let mut r = Rng(99);
            // Warm up, then measure.
            for _ in 0..gets {
                tc.get(0, &key(z.sample(&mut r)));
            }
            let b = tc.stats();
            let t = Instant::now();
            for _ in 0..gets {
                tc.get(0, &key(z.sample(&mut r)));
            }
            let rate = gets as f64 / t.elapsed().as_secs_f64();
            let a = tc.stats();
            let pct = |x: u64| 100.0 * x as f64 / gets as f64;
            let param = format!("s={s}, L1 = {:.0}% of L2", ratio * 100.0);
            for (tier, v) in [
                ("L1 hit", pct(a.l1_hits - b.l1_hits)),
                ("L2 hit", pct(a.l2_hits - b.l2_hits)),
                ("L3 load", pct(a.l3_loads - b.l3_loads)),
            ] {
                records.push(report::Record::with_param("hit-ratio", tier, &param, v, "%", (tier, v)));
            }
            println!(
                "| {s} | {:.0}% | {:.1}% | {:.1}% | {:.1}% | {:.0} |",
                ratio * 100.0,
                pct(a.l1_hits - b.l1_hits),
                pct(a.l2_hits - b.l2_hits),
                pct(a.l3_loads - b.l3_loads),
                rate
            );
        }
    }
    report::keep("hit-ratio", records);
}

fn status_kib(field: &str) -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap();
    s.lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// A fixed loop of tiercache alone, to run under
/// `valgrind --tool=callgrind`: 1 KiB L2 hits, or 16 KiB puts (sync never).
fn profile(puts: bool) {
    let len = if puts { 16 * 1024 } else { 1024 };
    let dir = tempfile::tempdir().unwrap();
    let tc = Tc::open(TcSetup {
        dir: Some(dir.path()),
        l1_entries: if puts { 0 } else { 64 },
        l1_bytes: if puts { 64 << 20 } else { 0 },
        l2_bytes: 0,
        sync: 0,
    });
    let v = value(len);
    let n = 2_000;
    for i in 0..n {
        tc.put(0, &key(i), &v);
    }
    let keys = shuffled_keys(n, 20_000, 3);
    let t = Instant::now();
    if puts {
        tc.put_all(0, &keys, &v);
    } else {
        tc.get_all(0, &keys);
    }
    println!("{} ns/op", t.elapsed().as_nanos() / keys.len() as u128);
}

/// The workloads of `all`, in order.
const ALL: [&str; 11] = [
    "l1-hit",
    "shared-lib",
    "l1-threads",
    "l2-hit",
    "put",
    "put-durable",
    "zipf",
    "hit-ratio",
    "open",
    "python",
    "go",
];

fn main() {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("open-child") => return open::child_main(&args[1..]),
        Some("plot") => return plot::main(&args[1..]),
        _ => {}
    }
    let env_quick = std::env::var("TIERCACHE_BENCH_QUICK").is_ok_and(|v| !v.is_empty() && v != "0");
    if env_quick || args.iter().any(|a| a == "--quick") {
        unsafe { QUICK = true };
    }
    args.retain(|a| a != "--quick");
    let traces_dir = traces::dir_from_args(&mut args);
    if let Some(out) = report::out_from_args(&mut args) {
        report::set_out(&out);
    }
    if args.is_empty() || args.iter().any(|a| a == "all") {
        args = ALL.map(String::from).to_vec();
    }
    println!(
        "# tiercache-benchmarks: {} ({} mode, {} rounds; load average {}; cpu {})",
        args.join(" "),
        if quick() { "quick" } else { "full" },
        rounds(),
        report::loadavg(),
        report::cpu()
    );
    let start = Instant::now();
    for a in &args {
        let t = Instant::now();
        match a.as_str() {
            "shared-lib" => shared::run(),
            "l1-hit" => l1_hit(),
            "l1-harness-check" => shared::harness_check(),
            "l1-threads" => l1_threads(),
            "l2-hit" => l2_hit(),
            "put" => put(),
            "put-durable" => put_durable(),
            "zipf" => zipf(),
            "hit-ratio" => hit_ratio(),
            "hit-ratio-traces" => traces::run(&traces_dir, quick()),
            "open" | "memory" => open::run(),
            "python" => bindings::python(),
            "go" => bindings::go(),
            "profile-l2" => profile(false),
            "profile-put" => profile(true),
            other => {
                eprintln!(
                    "unknown workload {other}; known: {} hit-ratio-traces l1-harness-check profile-l2 profile-put all, and plot",
                    ALL.join(" ")
                );
                std::process::exit(2);
            }
        }
        let took = format!(
            "({a}: {:.1} s; load average {})",
            t.elapsed().as_secs_f64(),
            report::loadavg()
        );
        println!("\n{took}");
    }
    report::headline(&goals::rows());
    println!(
        "\n(all workloads: {:.1} s; load average at the end {})",
        start.elapsed().as_secs_f64(),
        report::loadavg()
    );
}
