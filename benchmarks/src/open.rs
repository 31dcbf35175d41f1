//! The `open` workload: what reopening a directory costs tiercache, LMDB and
//! redb. For each size, every store is filled with 100 B values and closed;
//! then each open is timed in a fresh process (this program run again as
//! `open-child`, page cache warm): the time from open to the first get's
//! value, the anonymous memory (RssAnon) the open added per entry, and —
//! once, for sizes up to 1M — the anonymous memory after every key was read.
//!
//! Sizes: 200k (the reopen row), 1M (the memory rows), 10M (the large
//! reopen; tiercache and LMDB only, redb fills too slowly), or
//! `TIERCACHE_BENCH_OPEN_SIZES=200000,1000000` to choose; `--quick` 20k and
//! 100k. Nothing here asserts on time or memory.

use std::path::Path;
use std::time::Instant;

use crate::peers::{Lmdb, Redb};
use crate::report::{table, Row};
use crate::shared::Dirs;
use crate::{key, median, quick, rounds, value};
#[allow(unused_imports)]
use redb::{ReadableDatabase, ReadableTable};

/// The sizes to measure, each with its role in the headline.
pub fn sizes() -> Vec<(u64, &'static str)> {
    if let Ok(s) = std::env::var("TIERCACHE_BENCH_OPEN_SIZES") {
        return s
            .split(',')
            .map(|n| {
                let n: u64 = n.trim().parse().expect("TIERCACHE_BENCH_OPEN_SIZES: entry counts");
                (n, role(n))
            })
            .collect();
    }
    if quick() {
        vec![(20_000, "reopen"), (100_000, "memory")]
    } else {
        vec![(200_000, "reopen"), (1_000_000, "memory"), (10_000_000, "large")]
    }
}

fn role(n: u64) -> &'static str {
    match n {
        ..=500_000 => "reopen",
        500_001..=2_000_000 => "memory",
        _ => "large",
    }
}

const SYSTEMS: [&str; 3] = ["tiercache", "LMDB (heed)", "redb"];

fn with_redb(n: u64) -> bool {
    n <= 2_000_000
}

fn tc_options(dir: &Path) -> tiercache::Options {
    let mut o = tiercache::Options::with_dir(dir);
    // Every get is an L2 hit, and L1 keeps nothing that would count as index.
    o.l1_max_entries = 1;
    o
}

/// Fills the three stores under `d` with `n` entries and closes them.
fn fill(d: &Dirs, n: u64) {
    let v = value(100);
    let c = tiercache::Cache::open(&tc_options(&d.get("tiercache"))).unwrap();
    for i in 0..n {
        c.put(&key(i), &v, 0).unwrap();
    }
    c.close().unwrap();
    // One open and close, so that every file an open wants exists.
    tiercache::Cache::open(&tc_options(&d.get("tiercache")))
        .unwrap()
        .close()
        .unwrap();
    // LMDB and redb in transactions of 10k puts: filling is not measured.
    let l = Lmdb::open(&d.get("lmdb"), false);
    for chunk in (0..n).collect::<Vec<_>>().chunks(10_000) {
        let mut w = l.env.write_txn().unwrap();
        for &i in chunk {
            l.db.put(&mut w, &key(i), &v).unwrap();
        }
        w.commit().unwrap();
    }
    l.env.force_sync().unwrap();
    drop(l);
    if with_redb(n) {
        let r = Redb::open(&d.get("redb"), false);
        for chunk in (0..n).collect::<Vec<_>>().chunks(10_000) {
            let mut w = r.db.begin_write().unwrap();
            w.set_durability(redb::Durability::None).unwrap();
            {
                let mut t = w.open_table(crate::peers::REDB_TABLE).unwrap();
                for &i in chunk {
                    t.insert(key(i).as_slice(), v.as_slice()).unwrap();
                }
            }
            w.commit().unwrap();
        }
        // A durable commit, so that the next open finds a clean database.
        let w = r.db.begin_write().unwrap();
        w.commit().unwrap();
    }
}

/// One child's figures.
struct Child {
    first_get_ms: f64,
    anon_open: f64,
    anon_read: Option<f64>,
}

fn child(system: &str, dir: &Path, n: u64, read_all: bool) -> Child {
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["open-child", system, dir.to_str().unwrap(), &n.to_string()])
        .arg(if read_all { "read-all" } else { "first" })
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix("RESULT "))
        .unwrap_or_else(|| {
            panic!(
                "open-child {system} printed no result: {}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
    let f: Vec<f64> = line.split_whitespace().map(|x| x.parse().unwrap()).collect();
    Child {
        first_get_ms: f[0],
        anon_open: f[1],
        anon_read: read_all.then(|| f[2]),
    }
}

pub fn run() {
    for (n, role) in sizes() {
        let d = Dirs::new();
        let t = Instant::now();
        fill(&d, n);
        eprintln!("(open: filled {n} entries in {:.1} s)", t.elapsed().as_secs_f64());
        let systems: Vec<(&str, std::path::PathBuf)> = SYSTEMS
            .iter()
            .zip(["tiercache", "lmdb", "redb"])
            .filter(|(s, _)| with_redb(n) || **s != "redb")
            .map(|(s, sub)| (*s, d.get(sub)))
            .collect();
        let mut first = vec![Vec::new(); systems.len()];
        let mut anon = vec![Vec::new(); systems.len()];
        let mut read = vec![None; systems.len()];
        let reps = rounds().min(5);
        for rep in 0..reps {
            for (i, (s, dir)) in systems.iter().enumerate() {
                // Reading every key costs seconds per million: once, last.
                let read_all = rep + 1 == reps && n <= 2_000_000;
                let c = child(s, dir, n, read_all);
                first[i].push(c.first_get_ms);
                anon[i].push(c.anon_open);
                if c.anon_read.is_some() {
                    read[i] = c.anon_read;
                }
            }
        }
        let row = |i: usize, v: f64| Row::new(systems[i].0, v);
        table(
            &format!("open-{role}"),
            &format!(
                "reopen {n} entries of 100 B in a fresh process → first get's value, page cache warm, median of {reps}"
            ),
            "ms",
            &(0..systems.len())
                .map(|i| row(i, median(first[i].clone())))
                .collect::<Vec<_>>(),
        );
        table(
            &format!("rss-open-{role}"),
            &format!("anonymous RSS added by the open (and the first get), {n} entries, per entry"),
            "B/entry",
            &(0..systems.len())
                .map(|i| row(i, median(anon[i].clone())))
                .collect::<Vec<_>>(),
        );
        if read.iter().all(Option::is_some) {
            table(
                &format!("rss-read-{role}"),
                &format!("anonymous RSS after reading every one of {n} keys once, per entry"),
                "B/entry",
                &(0..systems.len()).map(|i| row(i, read[i].unwrap())).collect::<Vec<_>>(),
            );
        }
    }
}

fn status_kib(field: &str) -> f64 {
    crate::status_kib(field) as f64
}

/// `open-child SYSTEM DIR N first|read-all`: in a fresh process, opens
/// DIR, gets the middle key, and prints `RESULT ms anon_B/entry
/// [anon_B/entry after reading every key]`.
pub fn child_main(args: &[String]) {
    let [system, dir, n, mode] = args else {
        panic!("open-child SYSTEM DIR N first|read-all");
    };
    let dir = Path::new(dir);
    let n: u64 = n.parse().unwrap();
    let read_all = mode == "read-all";
    let mid = key(n / 2);
    let anon0 = status_kib("RssAnon:");
    let per_entry = |kib: f64| (kib - anon0).max(0.0) * 1024.0 / n as f64;
    let t = Instant::now();
    let (ms, anon_open, anon_read) = match system.as_str() {
        "tiercache" => {
            let c = tiercache::Cache::open(&tc_options(dir)).unwrap();
            assert_eq!(c.get(&mid).unwrap().len(), 100);
            let ms = t.elapsed().as_secs_f64() * 1e3;
            let a = per_entry(status_kib("RssAnon:"));
            let r = read_all.then(|| {
                for i in 0..n {
                    assert!(c.get(&key(i)).is_ok());
                }
                per_entry(status_kib("RssAnon:"))
            });
            (ms, a, r)
        }
        "LMDB (heed)" => {
            let mut o = heed::EnvOpenOptions::new();
            o.map_size(8 << 30).max_dbs(1);
            let env = unsafe { o.open(dir) }.unwrap();
            let r = env.read_txn().unwrap();
            let db: heed::Database<heed::types::Bytes, heed::types::Bytes> =
                env.open_database(&r, None).unwrap().unwrap();
            assert_eq!(db.get(&r, &mid).unwrap().unwrap().len(), 100);
            let ms = t.elapsed().as_secs_f64() * 1e3;
            let a = per_entry(status_kib("RssAnon:"));
            let rd = read_all.then(|| {
                for i in 0..n {
                    assert!(db.get(&r, &key(i)).unwrap().is_some());
                }
                per_entry(status_kib("RssAnon:"))
            });
            (ms, a, rd)
        }
        "redb" => {
            let db = redb::Database::open(dir.join("kv.redb")).unwrap();
            let r = db.begin_read().unwrap();
            let tb = r.open_table(crate::peers::REDB_TABLE).unwrap();
            assert_eq!(tb.get(mid.as_slice()).unwrap().unwrap().value().len(), 100);
            let ms = t.elapsed().as_secs_f64() * 1e3;
            let a = per_entry(status_kib("RssAnon:"));
            let rd = read_all.then(|| {
                for i in 0..n {
                    assert!(tb.get(key(i).as_slice()).unwrap().is_some());
                }
                per_entry(status_kib("RssAnon:"))
            });
            (ms, a, rd)
        }
        other => panic!("open-child: unknown system {other}"),
    };
    println!("RESULT {ms} {anon_open} {}", anon_read.unwrap_or(0.0));
}
