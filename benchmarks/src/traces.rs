//! Hit ratios of the L1 policies on real block traces (the ARC paper's OLTP
//! and P3, see `../shared/traces/README.md`) and on synthetic Zipf, beside
//! a global LRU, moka's W-TinyLFU and the paper's published columns.
//!
//! Every reference is a `get` of the real `tiercache::Cache` (memory only,
//! L1 bounded by entries, so with its real sharding); a miss is "loaded" with
//! a `put` of the block, as a read-through cache would. The global LRU is
//! one `lru::LruCache` of the same capacity, unsharded, so the two LRU
//! columns show what sharding costs. moka (`moka::sync::Cache`, W-TinyLFU)
//! gets the same capacity in entries and the same get-then-insert.
//!
//! The traces are read from the directory given (`--traces DIR`, default
//! `../shared/traces`), never copied into the project. Nothing here asserts.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use tiercache::memory::{PolicyKind, S3Params};
use tiercache::options::L1Policy;
use tiercache::{Cache, Options};

use crate::report::{keep, Record};
use crate::{Rng, Zipf};

/// The ARC paper's Table IV for OLTP: (c, LRU %, ARC %).
const OLTP_PUBLISHED: [(u64, f64, f64); 5] = [
    (1_000, 32.83, 38.93),
    (2_000, 42.47, 46.08),
    (5_000, 53.65, 55.25),
    (10_000, 60.70, 61.87),
    (15_000, 64.63, 65.40),
];

/// Reads a trace (`starting_block number_of_blocks ignored request_number`
/// per line, zstd-compressed): every block of every line, in order.
fn read_trace(path: &Path) -> Vec<u64> {
    let f = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let r = BufReader::new(zstd::stream::read::Decoder::new(f).expect("a zstd stream"));
    let mut refs = Vec::new();
    for line in r.lines() {
        let line = line.expect("a line of the trace");
        let mut w = line.split_ascii_whitespace();
        let (Some(start), Some(n)) = (w.next(), w.next()) else {
            continue;
        };
        let start: u64 = start.parse().expect("a block number");
        let n: u64 = n.parse().expect("a block count");
        refs.extend(start..start + n);
    }
    refs
}

/// Replays `refs`: `hit(block)` looks the block up, loading it on a miss,
/// and says whether it hit. Returns the hit %.
fn replay(refs: &[u64], mut hit: impl FnMut(u64) -> bool) -> f64 {
    let hits = refs.iter().filter(|&&b| hit(b)).count();
    100.0 * hits as f64 / refs.len() as f64
}

/// Hit % of tiercache's L1 under `kind` with `cap` entries.
fn tiercache_hits(refs: &[u64], cap: u64, kind: PolicyKind) -> f64 {
    let o = Options {
        l1_max_entries: cap,
        l1_max_bytes: 0,
        ..Options::new()
    };
    let c = Cache::open_with_l1(&o, kind).expect("a memory-only cache");
    replay(refs, |b| {
        let k = b.to_le_bytes();
        c.get(&k).is_ok() || {
            c.put(&k, b"", 0).expect("put");
            false
        }
    })
}

/// Hit % of one global `lru::LruCache` of `cap` entries.
fn global_lru_hits(refs: &[u64], cap: u64) -> f64 {
    let mut l = lru::LruCache::new((cap as usize).try_into().unwrap());
    replay(refs, |b| {
        l.get(&b).is_some() || {
            l.put(b, ());
            false
        }
    })
}

/// Hit % of moka's W-TinyLFU with `cap` entries.
fn moka_hits(refs: &[u64], cap: u64) -> f64 {
    let m: moka::sync::Cache<u64, ()> = moka::sync::Cache::new(cap);
    replay(refs, |b| {
        m.get(&b).is_some() || {
            m.insert(b, ());
            false
        }
    })
}

const LRU: PolicyKind = PolicyKind::Lru;

fn s3() -> PolicyKind {
    L1Policy::TC_L1_S3FIFO.into()
}

fn header(extra: &str) {
    println!(
        "| entries | tiercache LRU (sharded) | global LRU (one `lru`) | tiercache S3-FIFO | moka W-TinyLFU |{extra}"
    );
}

/// The table of one trace at `sizes`, with the published columns if given.
/// Prints the table and keeps it as `traces-<id>` (param: entries; unit
/// "hit %"; the paper's columns as systems "paper LRU", "paper ARC").
fn trace_table(id: &str, name: &str, refs: &[u64], sizes: &[u64], published: Option<&[(u64, f64, f64)]>) {
    let mut records = Vec::new();
    let unique = {
        let mut v = refs.to_vec();
        v.sort_unstable();
        v.dedup();
        v.len()
    };
    println!(
        "\n## {name}: {} references, {unique} unique blocks (hit %)\n",
        refs.len()
    );
    match published {
        Some(_) => {
            header(" paper LRU | paper ARC | sharded LRU − paper LRU | S3-FIFO − paper ARC |");
            println!("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
        }
        None => {
            header("");
            println!("| ---: | ---: | ---: | ---: | ---: |");
        }
    }
    for &c in sizes {
        let lru = tiercache_hits(refs, c, LRU);
        let global = global_lru_hits(refs, c);
        let s3 = tiercache_hits(refs, c, s3());
        let moka = moka_hits(refs, c);
        print!("| {c} | {lru:.2} | {global:.2} | {s3:.2} | {moka:.2} |");
        let mut row = vec![
            ("tiercache LRU (sharded)", lru),
            ("global LRU (one lru)", global),
            ("tiercache S3-FIFO", s3),
            ("moka W-TinyLFU", moka),
        ];
        if let Some(p) = published.and_then(|p| p.iter().find(|r| r.0 == c)) {
            print!(" {:.2} | {:.2} | {:+.2} | {:+.2} |", p.1, p.2, lru - p.1, s3 - p.2);
            row.extend([("paper LRU", p.1), ("paper ARC", p.2)]);
        }
        println!();
        for (system, v) in row {
            records.push(Record::with_param(
                &format!("traces-{id}"),
                system,
                &c.to_string(),
                v,
                "hit %",
                ("tiercache LRU (sharded)", lru),
            ));
        }
    }
    keep(&format!("traces-{id}"), records);
}

/// S3-FIFO's knobs on one trace: the small queue's share, the ghost's
/// length, and the hits that move an entry from the small queue to main.
fn tuning(name: &str, refs: &[u64], sizes: &[u64]) {
    let variants = [
        (10, 100, 2),
        (10, 100, 1),
        (5, 100, 2),
        (20, 100, 2),
        (10, 50, 2),
        (10, 200, 2),
        (20, 200, 2),
    ];
    println!("\n## S3-FIFO knobs on {name} (hit %; the first row is the default)\n");
    print!("| small % | ghost % of main | promote at |");
    for c in sizes {
        print!(" {c} |");
    }
    println!();
    println!("|{}", " ---: |".repeat(3 + sizes.len()));
    for (small_percent, ghost_percent, promote_at) in variants {
        let p = S3Params {
            small_percent,
            ghost_percent,
            promote_at,
        };
        print!("| {small_percent} | {ghost_percent} | {promote_at} |");
        for &c in sizes {
            print!(" {:.2} |", tiercache_hits(refs, c, PolicyKind::S3Fifo(p)));
        }
        println!();
    }
}

/// `hit-ratio-traces`: OLTP and P3 from `dir`, then Zipf 0.9 and 1.0.
pub fn run(dir: &Path, quick: bool) {
    let oltp = read_trace(&dir.join("OLTP.lis.zst"));
    let sizes: Vec<u64> = OLTP_PUBLISHED.iter().map(|r| r.0).collect();
    trace_table("oltp", "OLTP", &oltp, &sizes, Some(&OLTP_PUBLISHED));
    tuning("OLTP", &oltp, &sizes);
    drop(oltp);

    let mut p3 = read_trace(&dir.join("P3.lis.zst"));
    if quick {
        p3.truncate(500_000);
    }
    let p3_sizes = [10_000, 32_768, 131_072];
    trace_table("p3", "P3", &p3, &p3_sizes, None);
    drop(p3);

    let (n, gets) = if quick {
        (10_000usize, 200_000usize)
    } else {
        (100_000, 2_000_000)
    };
    for s in [0.9, 1.0] {
        let z = Zipf::new(n, s);
        let mut r = Rng(42);
        let refs: Vec<u64> = (0..gets).map(|_| z.sample(&mut r)).collect();
        let sizes: Vec<u64> = [0.001, 0.01, 0.05, 0.1].iter().map(|f| (n as f64 * f) as u64).collect();
        trace_table(
            &format!("zipf-{s}"),
            &format!("Zipf s={s} over {n} keys"),
            &refs,
            &sizes,
            None,
        );
    }
}

/// The traces' directory: `--traces DIR`, or `../shared/traces`.
pub fn dir_from_args(args: &mut Vec<String>) -> PathBuf {
    match args.iter().position(|a| a == "--traces") {
        Some(i) if i + 1 < args.len() => {
            let d = args.remove(i + 1);
            args.remove(i);
            PathBuf::from(d)
        }
        _ => PathBuf::from("../shared/traces"),
    }
}
