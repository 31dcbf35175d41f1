//! How long after one process's write returns another process's copy of
//! the key is gone: the remote tier's invalidation latency (issue 11: "within
//! 100 ms on a local network"), between two real processes on one machine.
//!
//! The writer (this process) and an observer (this program again, started
//! as a child with `observer`) open caches of one namespace on one server.
//! Round by round, on the writer's word the observer reads a key (a remote
//! hit: now in its L1) and then watches it with `contains` (L1 only: no
//! remote read, no load); the writer puts a new value or removes the key
//! (alternately) and notes the time its call returned; the observer notes
//! the time the key left its L1 and sends it back. Both clocks are the
//! machine's realtime clock, so the difference is the latency from the
//! write's return to the drop; it can be below zero, as the invalidation is
//! published in the write's own round trip and may arrive before the
//! writer has read the reply. BENCHMARKS.md, "The remote tier", has the
//! results.
//!
//!     redis-server --port 17777 --save '' &
//!     cargo run --release --example invalidation_latency -- redis://127.0.0.1:17777 [rounds]

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{SystemTime, UNIX_EPOCH};

use tiercache::{Cache, Options};

const NS: &[u8] = b"invalidation-latency";

fn now_ns() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos() as i64
}

fn open(url: &str) -> Cache {
    let mut o = Options::new();
    o.set_remote(Some(url)).unwrap();
    o.set_remote_namespace(NS).unwrap();
    let c = Cache::open(&o).unwrap();
    assert_eq!(c.counter("remote_state"), Some(1), "{:?}", c.remote_reason());
    c
}

fn key(i: usize) -> Vec<u8> {
    format!("lat-{i}").into_bytes()
}

/// The child: answers `get I N` with `have` once key I is in its L1 (after
/// the N-th invalidation: the one of the value it reads must not drop it),
/// then `drop NS` when it has left.
fn observer(url: &str) {
    let cache = open(url);
    let mut out = std::io::stdout().lock();
    writeln!(out, "ready").unwrap();
    out.flush().unwrap();
    for line in std::io::stdin().lock().lines() {
        let line = line.unwrap();
        let Some((i, n)) = line.strip_prefix("get ").and_then(|r| r.split_once(' ')) else {
            break;
        };
        let (k, n): (Vec<u8>, u64) = (key(i.parse().unwrap()), n.parse().unwrap());
        while cache.counter("remote_invalidations_received").unwrap() < n {
            std::hint::spin_loop();
        }
        // A remote hit is kept in L1 unless a write of the key raced it.
        let mut tries = 0;
        while !cache.contains(&k).unwrap() {
            cache.get(&k).unwrap();
            tries += 1;
            assert!(tries < 10_000, "the key never stayed in L1");
        }
        writeln!(out, "have").unwrap();
        out.flush().unwrap();
        while cache.contains(&k).unwrap() {
            std::hint::spin_loop();
        }
        writeln!(out, "drop {}", now_ns()).unwrap();
        out.flush().unwrap();
    }
    eprintln!(
        "observer: {} invalidations received",
        cache.counter("remote_invalidations_received").unwrap()
    );
}

fn main() {
    let mut args = std::env::args().skip(1);
    let url = args
        .next()
        .expect("usage: invalidation_latency redis://host:port [rounds]");
    if url == "observer" {
        return observer(&args.next().unwrap());
    }
    let rounds: usize = args.next().map_or(3000, |n| n.parse().unwrap());
    let writer = open(&url);
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["observer", &url])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut to = child.stdin.take().unwrap();
    let mut from = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut expect = |what: &str| {
        let line = from.next().unwrap().unwrap();
        assert!(line.starts_with(what), "{line:?}, wanted {what}");
        line
    };
    expect("ready");
    let mut lat_us: Vec<f64> = Vec::with_capacity(rounds);
    for r in 0..rounds {
        let k = key(r % 100);
        writer.put(&k, format!("v{r}").as_bytes(), 0).unwrap();
        // Two writes a round so far, and this one.
        writeln!(to, "get {} {}", r % 100, 2 * r + 1).unwrap();
        expect("have");
        // Put a new value on even rounds, remove the key on odd ones.
        if r % 2 == 0 {
            writer.put(&k, format!("w{r}").as_bytes(), 0).unwrap();
        } else {
            writer.remove(&k).unwrap();
        }
        let returned = now_ns();
        let dropped: i64 = expect("drop ")[5..].parse().unwrap();
        lat_us.push((dropped - returned) as f64 / 1000.0);
    }
    drop(to);
    child.wait().unwrap();
    lat_us.sort_by(f64::total_cmp);
    let at = |q: f64| lat_us[((lat_us.len() - 1) as f64 * q).round() as usize];
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "{rounds} writes (puts and removes alternately): from the write's return to the drop in the other process: \
         min {:.0} µs, p50 {:.0} µs, p99 {:.0} µs, max {:.0} µs; over 100 ms: {}; load average {}",
        at(0.0),
        at(0.5),
        at(0.99),
        at(1.0),
        lat_us.iter().filter(|&&l| l > 100_000.0).count(),
        load.split(' ').take(3).collect::<Vec<_>>().join(" ")
    );
}
