//! tiercache side by side with its peers, on the same workloads, in the same
//! run: prints one table per workload with the median of several rounds and
//! tiercache's ratio to each peer.
//!
//! ```text
//! cargo run --release -p tiercache-benchmarks -- <workload>... [--quick]
//! workloads: shared-lib l1-hit l2-hit put put-durable zipf hit-ratio memory all
//!            l1-threads
//!            hit-ratio-traces [--traces DIR]   (not in `all`: minutes)
//! ```
//!
//! Rounds interleave the systems (round 1 of each, then round 2 of each...),
//! so noise from other jobs on the machine lands on all of them alike.
//! `--quick` (or `TIERCACHE_BENCH_QUICK=1`) shrinks everything to seconds.
//! Nothing here asserts on time.

mod peers;
mod shared;
mod traces;

use std::path::Path;
use std::time::Instant;

use peers::{Foyer, Kv, Lmdb, Moka, MutexLru, QuickCache, Redb, Sqlite, Tc, TcRust, TcSetup};

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

/// One row of a result table: a system's median over the rounds.
struct Row {
    name: String,
    median: f64,
    note: String,
}

/// Prints a table: `unit` is "ns/op" (lower is better) or "ops/s" (higher
/// is better); the ratio column is tiercache's (first row) cost over the
/// row's, so below 1 means tiercache is faster, whatever the unit.
fn table(title: &str, unit: &str, rows: &[Row]) {
    println!("\n## {title}\n");
    println!("| system | median {unit} | tiercache cost / this (<1: tiercache faster) | note |");
    println!("| --- | ---: | ---: | --- |");
    let base = rows[0].median;
    for r in rows {
        let ratio = if unit == "ops/s" {
            r.median / base
        } else {
            base / r.median
        };
        let m = if r.median >= 100.0 {
            format!("{:.0}", r.median)
        } else {
            format!("{:.1}", r.median)
        };
        println!("| {} | {m} | {ratio:.2} | {} |", r.name, r.note);
    }
}

/// Runs `op` on each system for `rounds()` rounds, interleaved; returns the
/// median ns per operation of each. `op(system, count)` does `count`
/// operations (at most `max`); each system gets a count that takes about
/// 0.25 s a round, so slow systems do not stretch the run.
fn per_op(systems: &[(&str, &dyn Kv)], max: usize, mut op: impl FnMut(usize, &dyn Kv, usize)) -> Vec<f64> {
    let target = if quick() { 0.03 } else { 0.25 };
    let counts: Vec<usize> = systems
        .iter()
        .enumerate()
        .map(|(i, (_, s))| {
            let probe = max.min(1000);
            let t = Instant::now();
            op(i, *s, probe);
            let per = t.elapsed().as_secs_f64() / probe as f64;
            ((target / per) as usize).clamp(probe, max)
        })
        .collect();
    let mut samples = vec![Vec::new(); systems.len()];
    for _ in 0..rounds() {
        for (i, (_, s)) in systems.iter().enumerate() {
            let t = Instant::now();
            op(i, *s, counts[i]);
            samples[i].push(t.elapsed().as_nanos() as f64 / counts[i] as f64);
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

fn l1_hit() {
    for len in SIZES {
        let n = working_set(len);
        let v = value(len);
        let tc = Tc::open(TcSetup {
            dir: None,
            l1_entries: 0,
            l1_bytes: 1 << 30,
            l2_bytes: 0,
            sync: 0,
        });
        let mut tc_into = Tc::open(TcSetup {
            dir: None,
            l1_entries: 0,
            l1_bytes: 1 << 30,
            l2_bytes: 0,
            sync: 0,
        });
        tc_into.into = true;
        let lru = MutexLru::new(n as usize * 2);
        let moka = Moka::new(1 << 30);
        let foyer = Foyer::open(None, 1 << 30, 0);
        let systems: Vec<(&str, &dyn Kv)> = vec![
            ("tiercache tc_get+free", &tc),
            ("tiercache tc_get_into", &tc_into),
            ("lru::LruCache + Mutex", &lru),
            ("moka::sync::Cache", &moka),
            ("foyer HybridCache (memory)", &foyer),
        ];
        for (_, s) in &systems {
            for i in 0..n {
                s.put(0, &key(i), &v);
            }
        }
        moka.0.run_pending_tasks();
        let keys = shuffled_keys(n, ops_per_round(), 7);
        let mut hits = vec![0u64; systems.len()];
        let mut tries = vec![0u64; systems.len()];
        let med = per_op(&systems, keys.len(), |i, s, n| {
            hits[i] += s.get_all(0, &keys[..n]);
            tries[i] += n as u64;
        });
        let rows: Vec<Row> = systems
            .iter()
            .zip(med)
            .zip(&hits)
            .map(|(((name, _), m), _h)| Row {
                name: name.to_string(),
                median: m,
                note: String::new(),
            })
            .collect();
        for i in 0..rows.len() {
            assert_eq!(hits[i], tries[i], "{}: every get should hit", rows[i].name);
        }
        table(&format!("L1 hit, {len} B values, {n} keys, 1 thread"), "ns/op", &rows);
    }
}

/// The machine's load average now (1, 5, 15 minutes), to print beside
/// results: the machine is shared, and a busy one slows every system alike.
fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

/// L1 hits with 1, 2 and 4 threads: 100k keys x 100 B (larger than the CPU
/// caches), tiercache through the C ABI (`tc_get` + `tc_bytes_free`) under
/// each L1 policy, beside `lru` under one mutex and quick_cache. Each thread
/// picks keys uniformly at random; a thread count's figure is the median of
/// the rounds, rounds interleaving the systems.
fn l1_threads() {
    let n: u64 = if quick() { 10_000 } else { 100_000 };
    let v = value(100);
    let keys: Vec<Vec<u8>> = (0..n).map(key).collect();
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
    for (_, s) in &systems {
        for k in &keys {
            s.put(0, k, &v);
        }
    }
    let ops: u64 = if quick() { 200_000 } else { 2_000_000 };
    let threads = [1usize, 2, 4];
    let before = loadavg();
    // [system][threads] -> samples of ops/s
    let mut samples = vec![vec![Vec::new(); threads.len()]; systems.len()];
    for round in 0..rounds() {
        for (ti, &t) in threads.iter().enumerate() {
            for (si, (_, s)) in systems.iter().enumerate() {
                let keys = &keys;
                let hits = std::sync::atomic::AtomicU64::new(0);
                samples[si][ti].push(parallel(t, ops, |th, i| {
                    let mut r = Rng((i + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ round as u64);
                    if s.get(th, &keys[r.below(n) as usize]).is_some() && i % 1024 == 0 {
                        hits.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                }));
                assert!(hits.into_inner() > 0, "the gets should hit");
            }
        }
    }
    println!(
        "\n## L1 hit throughput, {n} keys x 100 B, uniform keys, 1/2/4 threads on {} cores\n",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!("load average before: {before}; after: {}\n", loadavg());
    println!("| system | 1 thread Mops/s | 2 threads | 4 threads | 2 threads / 1 | 4 threads / 1 |");
    println!("| --- | ---: | ---: | ---: | ---: | ---: |");
    for (si, (name, _)) in systems.iter().enumerate() {
        let m: Vec<f64> = samples[si].iter().map(|s| median(s.clone())).collect();
        println!(
            "| {name} | {:.2} | {:.2} | {:.2} | {:.2}x | {:.2}x |",
            m[0] / 1e6,
            m[1] / 1e6,
            m[2] / 1e6,
            m[1] / m[0],
            m[2] / m[0]
        );
    }
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
        let med = per_op(&systems, keys.len(), |_, s, n| s.put_all(0, &keys[..n], &v));
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
    println!("\n## Hit ratio per tier, read-through Zipf, {n} keys x 1 KiB, L2 = 50% of the key space\n");
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
}

fn status_kib(field: &str) -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap();
    s.lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// RAM of the L2 index: RSS before and after opening a directory of N
/// entries (anonymous memory: the index; file-backed: mapped segments).
fn memory() {
    let n: u64 = if quick() { 100_000 } else { 1_000_000 };
    let dir = tempfile::tempdir().unwrap();
    let v = value(100);
    fn setup(d: &Path) -> TcSetup<'_> {
        TcSetup {
            dir: Some(d),
            l1_entries: 0,
            l1_bytes: 64 << 20,
            l2_bytes: 0,
            sync: 0,
        }
    }
    {
        let tc = Tc::open(setup(dir.path()));
        for i in 0..n {
            tc.put(0, &key(i), &v);
        }
    }
    // Hints exist after one open.
    drop(Tc::open(setup(dir.path())));
    let files: u64 = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .sum();
    println!(
        "\n## Memory, {n} entries of 100 B values ({:.0} MiB of files)\n",
        files as f64 / (1 << 20) as f64
    );
    println!("| measure | value |");
    println!("| --- | ---: |");
    println!(
        "| peak RSS of the filling process (VmHWM) | {:.1} MiB |",
        status_kib("VmHWM:") as f64 / 1024.0
    );
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .arg("memory-open")
        .env("TIERCACHE_BENCH_DIR", dir.path())
        .output()
        .unwrap();
    for l in String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.starts_with('|'))
    {
        println!("{l}");
    }
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

/// In a fresh process: RSS before and after opening `TIERCACHE_BENCH_DIR`.
fn memory_open() {
    let dir = std::env::var("TIERCACHE_BENCH_DIR").unwrap();
    let dir = Path::new(&dir);
    let (anon0, file0) = (status_kib("RssAnon:"), status_kib("RssFile:"));
    let t = Instant::now();
    let tc = Tc::open(TcSetup {
        dir: Some(dir),
        l1_entries: 0,
        l1_bytes: 64 << 20,
        l2_bytes: 0,
        sync: 0,
    });
    let open_s = t.elapsed().as_secs_f64();
    let (anon1, file1) = (status_kib("RssAnon:"), status_kib("RssFile:"));
    let n = tc.stats().l2_entries;
    println!("| open with hints (fresh process) | {open_s:.3} s |");
    println!("| l2_entries after open | {n} |");
    println!(
        "| anonymous RSS added by open (the index) | {:.1} MiB = {:.1} B/entry |",
        (anon1 as f64 - anon0 as f64) / 1024.0,
        (anon1 as f64 - anon0 as f64) * 1024.0 / n.max(1) as f64
    );
    println!(
        "| file-backed RSS added by open (maps, hints) | {:.1} MiB |",
        (file1 as f64 - file0 as f64) / 1024.0
    );
    println!(
        "| peak RSS of the opening process (VmHWM) | {:.1} MiB |",
        status_kib("VmHWM:") as f64 / 1024.0
    );
}

fn main() {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let env_quick = std::env::var("TIERCACHE_BENCH_QUICK").is_ok_and(|v| !v.is_empty() && v != "0");
    if env_quick || args.iter().any(|a| a == "--quick") {
        unsafe { QUICK = true };
    }
    args.retain(|a| a != "--quick");
    let traces_dir = traces::dir_from_args(&mut args);
    if args.is_empty() || args.iter().any(|a| a == "all") {
        args = [
            "shared-lib",
            "l1-hit",
            "l1-threads",
            "l2-hit",
            "put",
            "put-durable",
            "zipf",
            "hit-ratio",
            "memory",
        ]
        .map(String::from)
        .to_vec();
    }
    println!(
        "# tiercache-benchmarks: {} ({} mode, {} rounds; load average {})",
        args.join(" "),
        if quick() { "quick" } else { "full" },
        rounds(),
        shared::loadavg()
    );
    for a in &args {
        let t = Instant::now();
        match a.as_str() {
            "shared-lib" => shared::run(),
            "l1-hit" => l1_hit(),
            "l1-threads" => l1_threads(),
            "l2-hit" => l2_hit(),
            "put" => put(),
            "put-durable" => put_durable(),
            "zipf" => zipf(),
            "hit-ratio" => hit_ratio(),
            "hit-ratio-traces" => traces::run(&traces_dir, quick()),
            "memory" => memory(),
            "memory-open" => memory_open(),
            "profile-l2" => profile(false),
            "profile-put" => profile(true),
            other => {
                eprintln!(
                    "unknown workload {other}; known: shared-lib l1-hit l1-threads l2-hit put put-durable zipf \
                     hit-ratio memory hit-ratio-traces all"
                );
                std::process::exit(2);
            }
        }
        eprintln!(
            "({a}: {:.1} s; load average {})",
            t.elapsed().as_secs_f64(),
            shared::loadavg()
        );
    }
}
