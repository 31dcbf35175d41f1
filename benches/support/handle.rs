//! A tiercache handle for benchmarks, opened and used through the C ABI.
//! Shared by the criterion benchmarks (benches/support) and the peer harness
//! (benchmarks/, which includes this file by path), so both time the same
//! calls. Depends on nothing but tiercache.

#![allow(dead_code)]

use std::ffi::{c_void, CString};
use std::path::Path;

use tiercache::error::tc_status;
use tiercache::ffi::boundary::{RawL1Policy, RawStatus, RawSyncPolicy};
use tiercache::ffi::cache::{tc_bytes, tc_bytes_free, tc_cache, tc_cache_close, tc_cache_open, tc_get, tc_put};
use tiercache::ffi::loader::{tc_cache_set_loader, tc_sink, tc_sink_put};
use tiercache::ffi::options::{
    tc_options_free, tc_options_new, tc_options_set_dir, tc_options_set_l1_capacity, tc_options_set_l1_policy,
    tc_options_set_l2_capacity, tc_options_set_sync_policy,
};

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
        Tc::open_with_policy(s, 0)
    }

    /// `open` with L1 policy `l1_policy` (`TC_L1_LRU` 0, `TC_L1_S3FIFO` 1).
    pub fn open_with_policy(s: Setup<'_>, l1_policy: u32) -> Tc {
        unsafe {
            let o = tc_options_new();
            if let Some(dir) = s.dir {
                let p = CString::new(dir.to_str().unwrap()).unwrap();
                ok(tc_options_set_dir(o, p.as_ptr()), "set_dir");
            }
            ok(tc_options_set_l1_capacity(o, s.l1_entries, s.l1_bytes), "l1");
            ok(tc_options_set_l2_capacity(o, s.l2_bytes), "l2");
            ok(tc_options_set_sync_policy(o, RawSyncPolicy(s.sync), 0), "sync");
            ok(tc_options_set_l1_policy(o, RawL1Policy(l1_policy)), "l1 policy");
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
