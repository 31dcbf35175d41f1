//! peerhit: `benchmarks/c/hit.c l1`'s loop over the Rust peers of the
//! `l1-hit` table (as `peers.rs` calls them: the value copied out into a
//! fresh `Vec`), for `valgrind --tool=callgrind --cache-sim=yes`: the
//! instructions and data cache misses per hit of quick_cache, `lru` under
//! a mutex and the floor, measured as tiercache's are (the difference of
//! two runs with different `ops`). Nothing here asserts on time.
//!
//!   cargo build --release -p tiercache-benchmarks --example peerhit
//!   valgrind --tool=callgrind --cache-sim=yes target/release/examples/peerhit qc 100 100000 200000
//!
//! Arguments: system (qc | lru | floor), value bytes, keys, gets. Keys are
//! hit.c's (`bench:key:%010u`), drawn by its generator, formatted per get.

use std::hint::black_box;
use std::io::Write;
use std::num::NonZeroUsize;
use std::sync::Arc;

type Fold = foldhash::fast::FixedState;

/// hit.c's `next()` (xorshift64*), so both programs draw the same keys.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545f4914f6cdd1d)
    }
}

fn key(buf: &mut [u8; 32], i: u64) -> usize {
    let mut w = &mut buf[..];
    write!(w, "bench:key:{i:010}").unwrap();
    32 - w.len()
}

fn main() {
    let a: Vec<String> = std::env::args().skip(1).collect();
    let (sys, len, keys, ops) = (
        a[0].as_str(),
        a[1].parse::<usize>().unwrap(),
        a[2].parse::<u64>().unwrap(),
        a[3].parse::<u64>().unwrap(),
    );
    let mut r = Rng(0x9e3779b97f4a7c15);
    let v: Vec<u8> = (0..len).map(|_| r.next() as u8).collect();
    let qc = quick_cache::sync::Cache::<Vec<u8>, Arc<[u8]>>::new(keys as usize * 2);
    let lru = parking_lot::Mutex::new(lru::LruCache::<Vec<u8>, Vec<u8>>::new(
        NonZeroUsize::new(keys as usize * 2).unwrap(),
    ));
    let floor = parking_lot::RwLock::new(std::collections::HashMap::<Vec<u8>, Vec<u8>, Fold>::with_hasher(
        Fold::default(),
    ));
    let get = |k: &[u8]| -> Option<Vec<u8>> {
        match sys {
            "qc" => qc.get(k).map(|v| v.to_vec()),
            "lru" => lru.lock().get(k).map(|v| v.to_vec()),
            _ => floor.read().get(k).map(|v| v.to_vec()),
        }
    };
    let mut b = [0u8; 32];
    for i in 0..keys {
        let n = key(&mut b, i);
        let k = b[..n].to_vec();
        match sys {
            "qc" => qc.insert(k, Arc::from(&v[..])),
            "lru" => {
                lru.lock().put(k, v.clone());
            }
            _ => {
                floor.write().insert(k, v.clone());
            }
        }
    }
    let order: Vec<u64> = (0..ops).map(|_| r.next() % keys).collect();
    let mut sink = 0u64;
    for pass in 0..2 {
        let n_ops = if pass == 0 { ops.min(keys) } else { ops };
        for &i in &order[..n_ops as usize] {
            let n = key(&mut b, i);
            let got = black_box(get(&b[..n])).expect("every get hits");
            sink += u64::from(got[got.len() - 1]);
        }
    }
    println!("{sys} {len} B, {keys} keys, {ops} gets (sink {sink})");
}
