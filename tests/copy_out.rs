//! The copying getters (`tc_get`, `tc_get_into`, `tc_get_into_word`) take
//! an L1 hit's value under the shard's lock instead of cloning its `Arc`
//! (`ffi::copy`, `memory::Reader`). That must change nothing a caller can
//! see: a seeded differential run drives two caches with the same
//! operations on one manual clock, reads one through the Rust
//! `Cache::get_value` (which takes no reader: L1's `Arc` is cloned, the
//! path the copying getters took before) and the other through one of the
//! C getters (`tc_get_value` too), and compares every answer and, after
//! every operation, the statistics. The operations cover what decides
//! whether an L1 entry may be served: expiry, a file dependency that
//! changes, removal, dirty entries under write-back (and a flush that
//! cleans them), values on both sides of the size copied under the lock,
//! and buffers too small for the value.

mod common;

use std::ffi::CString;

use tiercache::clock::Clock;
use tiercache::ffi::cache::*;
use tiercache::ffi::entries::*;
use tiercache::ffi::fast::{tc_get_into_word, tc_get_target};
use tiercache::ffi::value::*;
use tiercache::options::L1Policy;
use tiercache::stats::tc_stats;
use tiercache::{Cache, Options, Status, WritePolicy};

use common::Rng;

const T0: u64 = 1_700_000_000_000;
/// Value lengths: empty, small, and around the 1 KiB copied under the lock.
const LENS: [usize; 9] = [0, 1, 100, 1023, 1024, 1025, 1500, 5000, 40];
/// `tc_get_into` buffer sizes: some smaller than some values.
const CAPS: [usize; 6] = [0, 1, 100, 1024, 2048, 8192];

struct Handle(*mut tc_cache);

impl Drop for Handle {
    fn drop(&mut self) {
        unsafe { tc_cache_close(self.0) };
    }
}

/// What a get answered.
#[derive(Debug, PartialEq, Eq)]
enum Got {
    Value(Vec<u8>),
    /// `TC_BUFFER_TOO_SMALL`, with the length needed.
    TooSmall(usize),
    Err(Status),
}

/// The reference: the Rust `Cache::get_value` (no reader), then what
/// `tc_get_into` with `cap` would make of it (`None`: `tc_get`, any size).
fn by_reference(h: &Handle, k: &[u8], cap: Option<usize>) -> Got {
    let got = unsafe { with_cache(h.0, |c| c.get_value(k).map(|v| v.to_vec())) }.expect("the handle is open");
    let bytes = match got {
        Ok(v) => v,
        Err(e) => return Got::Err(e.status()),
    };
    match cap {
        Some(cap) if bytes.len() > cap => Got::TooSmall(bytes.len()),
        _ => Got::Value(bytes),
    }
}

/// `tc_get_value`.
fn by_value(h: &Handle, k: &[u8]) -> Got {
    let mut v = std::ptr::null_mut();
    let s = unsafe { tc_get_value(h.0, k.as_ptr(), k.len(), &mut v) };
    if s != Status::TC_OK {
        return Got::Err(s);
    }
    let (data, len) = unsafe { (tc_value_data(v), tc_value_len(v)) };
    // An empty value's data may be NULL.
    let bytes = if len == 0 {
        Vec::new()
    } else {
        unsafe { std::slice::from_raw_parts(data, len) }.to_vec()
    };
    unsafe { tc_value_free(v) };
    Got::Value(bytes)
}

fn by_get(h: &Handle, k: &[u8]) -> Got {
    let mut out = tc_bytes {
        data: std::ptr::null_mut(),
        len: 0,
    };
    match unsafe { tc_get(h.0, k.as_ptr(), k.len(), &mut out) } {
        Status::TC_OK => {
            let v = if out.data.is_null() {
                assert_eq!(out.len, 0);
                Vec::new()
            } else {
                unsafe { std::slice::from_raw_parts(out.data, out.len) }.to_vec()
            };
            unsafe { tc_bytes_free(&mut out) };
            Got::Value(v)
        }
        s => Got::Err(s),
    }
}

/// A buffer one byte longer than `cap`, with a canary there: a copy
/// must never write past `cap`, nor at all when the value does not fit.
fn by_into(h: &Handle, k: &[u8], cap: usize) -> Got {
    let mut buf = vec![0xa5u8; cap + 1];
    let mut len = usize::MAX;
    let s = unsafe { tc_get_into(h.0, k.as_ptr(), k.len(), buf.as_mut_ptr(), cap, &mut len) };
    assert_eq!(buf[cap], 0xa5, "tc_get_into wrote past buf_cap");
    match s {
        Status::TC_OK => Got::Value(buf[..len].to_vec()),
        Status::TC_BUFFER_TOO_SMALL => {
            assert!(buf.iter().all(|&b| b == 0xa5), "a buffer too small was written");
            Got::TooSmall(len)
        }
        s => Got::Err(s),
    }
}

fn by_word(h: &Handle, k: &[u8], cap: usize) -> Got {
    let mut buf = vec![0xa5u8; cap + 1];
    let t = tc_get_target {
        cache: h.0,
        buf: buf.as_mut_ptr(),
        buf_cap: cap,
    };
    let w = unsafe { tc_get_into_word(&t, k.as_ptr(), k.len()) };
    assert_eq!(buf[cap], 0xa5, "tc_get_into_word wrote past buf_cap");
    if w >= 0 {
        return Got::Value(buf[..w as usize].to_vec());
    }
    let status = Status::from_u32(((-w) & 255) as u32).unwrap();
    if status == Status::TC_BUFFER_TOO_SMALL {
        Got::TooSmall(((-w) >> 8) as usize)
    } else {
        Got::Err(status)
    }
}

fn stats(h: &Handle) -> tc_stats {
    let mut s = tc_stats::default();
    assert_eq!(unsafe { tc_stats_get(h.0, &mut s) }, Status::TC_OK);
    s
}

fn counter(h: &Handle, name: &str) -> u64 {
    let name = CString::new(name).unwrap();
    let mut v = 0;
    assert_eq!(
        unsafe { tc_stats_get_counter(h.0, name.as_ptr(), &mut v) },
        Status::TC_OK
    );
    v
}

/// One seeded run of `ops` operations on a pair of caches.
fn run(seed: u64, policy: L1Policy, disk: Option<WritePolicy>, ops: usize) {
    let clock = Clock::manual(T0);
    let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    let dep = dirs[0].path().join("dependency");
    std::fs::write(&dep, b"0").unwrap();
    let dep_c = CString::new(dep.to_str().unwrap()).unwrap();
    let open = |i: usize| {
        let mut o = match disk {
            Some(_) => Options::with_dir(dirs[i].path()),
            None => Options::new(),
        };
        o.clock = clock.clone();
        o.l1_policy = policy;
        o.write_policy = disk.unwrap_or(WritePolicy::TC_WRITE_THROUGH);
        // Small enough that some keys are evicted (and, written back, read
        // from L2 again), large enough for every value.
        o.l1_max_entries = 6;
        Handle(handle_of(Cache::open(&o).unwrap()))
    };
    let (reference, copying) = (open(0), open(1));
    let mut rng = Rng(seed);
    let mut dep_len = 1;
    for step in 0..ops {
        let key = format!("key{}", rng.below(10)).into_bytes();
        let what = rng.below(20);
        let ctx = || format!("seed {seed}, {policy:?}, {disk:?}, step {step}, op {what}");
        match what {
            0..=3 => {
                let len = rng.pick(&LENS);
                let fill = (step % 251) as u8;
                let value: Vec<u8> = (0..len).map(|i| fill.wrapping_add(i as u8)).collect();
                let ttl = rng.pick(&[0, 0, 5, 50]);
                for h in [&reference, &copying] {
                    let s = unsafe { tc_put(h.0, key.as_ptr(), key.len(), value.as_ptr(), value.len(), ttl) };
                    assert_eq!(s, Status::TC_OK, "{}", ctx());
                }
            }
            4 => {
                // An entry that depends on the file.
                let value = format!("dep{step}").into_bytes();
                for h in [&reference, &copying] {
                    let o = tc_entry_options_new();
                    unsafe {
                        assert_eq!(tc_entry_options_set_dependency(o, dep_c.as_ptr()), Status::TC_OK);
                        let s = tc_put_with(h.0, key.as_ptr(), key.len(), value.as_ptr(), value.len(), o);
                        assert_eq!(s, Status::TC_OK, "{}", ctx());
                        tc_entry_options_free(o);
                    }
                }
            }
            5 => {
                // Another length: the dependency no longer holds.
                dep_len += 1;
                std::fs::write(&dep, vec![b'x'; dep_len]).unwrap();
            }
            6 => clock.advance(rng.pick(&[1, 10, 60])),
            7 => {
                for h in [&reference, &copying] {
                    let _ = unsafe { tc_remove(h.0, key.as_ptr(), key.len()) };
                }
            }
            8 => {
                for h in [&reference, &copying] {
                    assert_eq!(unsafe { tc_flush(h.0) }, Status::TC_OK, "{}", ctx());
                }
            }
            _ => {
                let (want, got) = match rng.below(4) {
                    0 => (by_reference(&reference, &key, None), by_get(&copying, &key)),
                    1 => {
                        let cap = rng.pick(&CAPS);
                        (by_reference(&reference, &key, Some(cap)), by_into(&copying, &key, cap))
                    }
                    2 => {
                        let cap = rng.pick(&CAPS);
                        (by_reference(&reference, &key, Some(cap)), by_word(&copying, &key, cap))
                    }
                    _ => (by_reference(&reference, &key, None), by_value(&copying, &key)),
                };
                assert_eq!(got, want, "{}", ctx());
            }
        }
        assert_eq!(stats(&copying), stats(&reference), "{}", ctx());
        assert_eq!(
            counter(&copying, "dependency_misses"),
            counter(&reference, "dependency_misses"),
            "{}",
            ctx()
        );
    }
    // The run did reach the copy: L1 hits, most of them small values.
    assert!(
        stats(&copying).l1_hits > (ops / 20) as u64,
        "seed {seed}: too few L1 hits"
    );
}

#[test]
fn copying_getters_answer_as_get_value_memory_only() {
    for seed in 0..6 {
        for policy in [L1Policy::TC_L1_LRU, L1Policy::TC_L1_S3FIFO] {
            run(seed, policy, None, 1500);
        }
    }
}

#[test]
fn copying_getters_answer_as_get_value_write_through() {
    for seed in 10..13 {
        for policy in [L1Policy::TC_L1_LRU, L1Policy::TC_L1_S3FIFO] {
            run(seed, policy, Some(WritePolicy::TC_WRITE_THROUGH), 800);
        }
    }
}

#[test]
fn copying_getters_answer_as_get_value_write_back() {
    for seed in 20..23 {
        for policy in [L1Policy::TC_L1_LRU, L1Policy::TC_L1_S3FIFO] {
            run(seed, policy, Some(WritePolicy::TC_WRITE_BACK), 800);
        }
    }
}
