//! What opening a directory costs: the time from `Cache::open` to the first
//! L2 hit, and the anonymous memory (RssAnon) an open adds per disk entry,
//! right after the open and after every key was read once. A measurement,
//! not a check (nothing here asserts on time or memory):
//!
//! ```text
//! TIERCACHE_OPEN_ENTRIES=200000 cargo test --release --test open_cost -- --ignored --nocapture
//! ```
//!
//! `TIERCACHE_OPEN_NO_INDEX=1` deletes the index's meta file before each
//! open (a rebuild from the hint files); `TIERCACHE_OPEN_UNBOUNDED=1` opens
//! without an L2 bound (no read marks).
//!
//! Each measurement runs in a fresh process (this test binary run again), so
//! that memory freed by filling the directory cannot hide what the open adds.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use tiercache::{Cache, Options};

fn opts(dir: &Path) -> Options {
    let mut o = Options::with_dir(dir);
    // Every get is an L2 hit and L1 keeps nothing that would count as index.
    o.l1_max_entries = 1;
    // TIERCACHE_OPEN_UNBOUNDED=1: no L2 bound, so the log keeps no read
    // marks (the set of keys read, which retiring a segment consults).
    if std::env::var("TIERCACHE_OPEN_UNBOUNDED").is_ok_and(|v| v == "1") {
        o.l2_max_bytes = 0;
    }
    o
}

fn key(i: u64) -> Vec<u8> {
    format!("key{i:012}").into_bytes()
}

fn status_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// The child: open, first get, then read every key; prints one line.
#[test]
fn open_cost_child() {
    let Ok(dir) = std::env::var("TIERCACHE_OPEN_DIR") else {
        return;
    };
    let n: u64 = std::env::var("TIERCACHE_OPEN_ENTRIES").unwrap().parse().unwrap();
    if std::env::var("TIERCACHE_OPEN_NO_INDEX").is_ok_and(|v| v == "1") {
        // The open rebuilds the index from the hints and writes the table:
        // what the first open after an upgrade, or after a damaged index, costs.
        let _ = std::fs::remove_file(Path::new(&dir).join("index.tcm"));
    }
    let anon0 = status_kib("RssAnon:");
    let t = Instant::now();
    let c = Cache::open(&opts(Path::new(&dir))).unwrap();
    let opened = t.elapsed();
    let v = c.get(&key(n / 2)).unwrap();
    let first = t.elapsed();
    assert_eq!(v.len(), 100);
    drop(v);
    let anon1 = status_kib("RssAnon:");
    for i in 0..n {
        assert!(c.get(&key(i)).is_ok());
    }
    let anon2 = status_kib("RssAnon:");
    println!(
        "RESULT open {:.3} ms, open + first get {:.3} ms, anon RSS per entry after open {:.2} B, after reading every key {:.2} B, entries {}",
        opened.as_secs_f64() * 1e3,
        first.as_secs_f64() * 1e3,
        (anon1.saturating_sub(anon0) * 1024) as f64 / n as f64,
        (anon2.saturating_sub(anon0) * 1024) as f64 / n as f64,
        c.stats().l2_entries
    );
}

#[test]
#[ignore]
fn open_cost() {
    let n: u64 = std::env::var("TIERCACHE_OPEN_ENTRIES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200_000);
    let dir = tempfile::tempdir().unwrap();
    {
        let c = Cache::open(&opts(dir.path())).unwrap();
        let v = [7u8; 100];
        for i in 0..n {
            c.put(&key(i), &v, 0).unwrap();
        }
        c.close().unwrap();
    }
    // One open and close, so that every file an open wants exists.
    Cache::open(&opts(dir.path())).unwrap().close().unwrap();
    for _ in 0..5 {
        let out = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "open_cost_child", "--nocapture", "--test-threads=1"])
            .env("TIERCACHE_OPEN_DIR", dir.path())
            .env("TIERCACHE_OPEN_ENTRIES", n.to_string())
            .output()
            .unwrap();
        let out = String::from_utf8_lossy(&out.stdout);
        let line = out
            .lines()
            .find(|l| l.contains("RESULT"))
            .unwrap_or("the child printed nothing");
        println!("{n} entries: {}", line.trim_start_matches("RESULT "));
    }
}
