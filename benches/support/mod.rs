//! What the criterion benchmarks share: the criterion settings (and the
//! `TIERCACHE_BENCH_QUICK=1` smoke mode), a cache handle opened through the C
//! ABI, keys, values and a Zipf sampler. Benchmarks never assert on time.

#![allow(dead_code)]

use std::ffi::{c_void, CString};
use std::path::Path;
use std::time::Duration;

use criterion::Criterion;
use tiercache::error::tc_status;
use tiercache::ffi::boundary::{RawStatus, RawSyncPolicy};
use tiercache::ffi::cache::{tc_bytes, tc_bytes_free, tc_cache, tc_cache_close, tc_cache_open, tc_get, tc_put};
use tiercache::ffi::loader::{tc_cache_set_loader, tc_sink, tc_sink_put};
use tiercache::ffi::options::{
    tc_options_free, tc_options_new, tc_options_set_dir, tc_options_set_l1_capacity, tc_options_set_l2_capacity,
    tc_options_set_sync_policy,
};

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

/// How a benchmark cache is opened (all through the C ABI).
#[derive(Clone, Copy)]
pub struct Setup<'a> {
    pub dir: Option<&'a Path>,
    pub l1_entries: u64,
    pub l1_bytes: u64,
    /// 0 = no bound.
    pub l2_bytes: u64,
    /// TC_SYNC_*: 0 never, 1 on flush, 2 always.
    pub sync: u32,
}

impl Default for Setup<'_> {
    fn default() -> Self {
        Setup {
            dir: None,
            l1_entries: 0,
            l1_bytes: 64 << 20,
            l2_bytes: 0,
            sync: 0,
        }
    }
}

/// A cache handle opened with `tc_cache_open`, closed on drop.
pub struct Tc(pub *mut tc_cache);

// The C ABI makes every function but close safe from many threads at once.
unsafe impl Send for Tc {}
unsafe impl Sync for Tc {}

fn ok(st: tc_status, what: &str) {
    assert_eq!(st, tc_status::TC_OK, "{what}");
}

impl Tc {
    pub fn open(s: Setup<'_>) -> Tc {
        unsafe {
            let o = tc_options_new();
            if let Some(dir) = s.dir {
                let p = CString::new(dir.to_str().unwrap()).unwrap();
                ok(tc_options_set_dir(o, p.as_ptr()), "set_dir");
            }
            ok(tc_options_set_l1_capacity(o, s.l1_entries, s.l1_bytes), "l1");
            ok(tc_options_set_l2_capacity(o, s.l2_bytes), "l2");
            ok(tc_options_set_sync_policy(o, RawSyncPolicy(s.sync), 0), "sync");
            let mut c = std::ptr::null_mut();
            ok(tc_cache_open(o, &mut c), "open");
            tc_options_free(o);
            Tc(c)
        }
    }

    pub fn put(&self, k: &[u8], v: &[u8]) {
        ok(
            unsafe { tc_put(self.0, k.as_ptr(), k.len(), v.as_ptr(), v.len(), 0) },
            "put",
        );
    }

    /// tc_get + tc_bytes_free; returns the length.
    pub fn get(&self, k: &[u8]) -> usize {
        let mut out = tc_bytes {
            data: std::ptr::null_mut(),
            len: 0,
        };
        ok(unsafe { tc_get(self.0, k.as_ptr(), k.len(), &mut out) }, "get");
        let n = out.len;
        unsafe { tc_bytes_free(&mut out) };
        n
    }

    pub fn stats(&self) -> tiercache::stats::tc_stats {
        let mut s = tiercache::stats::tc_stats::default();
        ok(unsafe { tiercache::ffi::cache::tc_stats_get(self.0, &mut s) }, "stats");
        s
    }

    /// A trivial loader: answers every key with `len` bytes.
    pub fn set_constant_loader(&self, len: usize) {
        unsafe extern "C" fn load(user: *mut c_void, _k: *const u8, _kl: usize, sink: *mut tc_sink) -> RawStatus {
            let v = &*(user as *const Vec<u8>);
            RawStatus(tc_sink_put(sink, v.as_ptr(), v.len(), 0) as u32)
        }
        unsafe extern "C" fn free(user: *mut c_void) {
            drop(Box::from_raw(user as *mut Vec<u8>));
        }
        let user = Box::into_raw(Box::new(vec![7u8; len])) as *mut c_void;
        ok(
            unsafe { tc_cache_set_loader(self.0, Some(load), user, Some(free)) },
            "set_loader",
        );
    }
}

impl Drop for Tc {
    fn drop(&mut self) {
        unsafe { tc_cache_close(self.0) };
    }
}
