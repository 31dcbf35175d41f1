//! What the criterion benchmarks share: the criterion settings (and the
//! `TIERCACHE_BENCH_QUICK=1` smoke mode), a cache handle opened through the C
//! ABI, keys, values and a Zipf sampler. Benchmarks never assert on time.

#![allow(dead_code)]

use std::time::Duration;

use criterion::Criterion;

// The cache handle is shared with the peer harness (benchmarks/), which
// includes the same file; it does not depend on criterion.
mod handle;

/// `TIERCACHE_BENCH_QUICK=1`: every group in seconds, for smoke tests.
pub fn quick() -> bool {
    std::env::var_os("TIERCACHE_BENCH_QUICK").is_some_and(|v| v != "0" && !v.is_empty())
}

/// Criterion settings: each group well under a few minutes at defaults.
pub fn config() -> Criterion {
    let c = Criterion::default().configure_from_args();
    if quick() {
        c.sample_size(10)
            .warm_up_time(Duration::from_millis(50))
            .measurement_time(Duration::from_millis(200))
    } else {
        c.sample_size(30)
            .warm_up_time(Duration::from_millis(500))
            .measurement_time(Duration::from_secs(2))
    }
}

/// The value sizes the page reports: 100 B, 1 KiB, 16 KiB.
pub const VALUE_SIZES: [usize; 3] = [100, 1024, 16 * 1024];

pub fn key(i: u64) -> Vec<u8> {
    format!("bench:key:{i:010}").into_bytes()
}

pub fn value(len: usize, seed: u64) -> Vec<u8> {
    let mut r = Rng(seed | 1);
    (0..len).map(|_| r.next() as u8).collect()
}

/// xorshift64*: cheap, deterministic, good enough to pick keys.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        ((self.next() >> 32) * n) >> 32
    }
    pub fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Zipf popularity over `n` ranks with exponent `s`: rank 0 is the hottest.
pub struct Zipf {
    cdf: Vec<f64>,
}

impl Zipf {
    pub fn new(n: usize, s: f64) -> Zipf {
        let mut cdf = Vec::with_capacity(n);
        let mut sum = 0.0;
        for i in 1..=n {
            sum += 1.0 / (i as f64).powf(s);
            cdf.push(sum);
        }
        for c in &mut cdf {
            *c /= sum;
        }
        Zipf { cdf }
    }
    pub fn sample(&self, r: &mut Rng) -> u64 {
        let u = r.unit();
        self.cdf.partition_point(|&c| c < u).min(self.cdf.len() - 1) as u64
    }
}

pub use handle::{Setup, Tc};
