//! The C boundary: NULL pointers, bad enum values, size limits, the
//! thread-local error message, status strings and panics.

use std::ffi::{CStr, CString};
use std::ptr::{null, null_mut};

use tiercache::error::tc_status::*;
use tiercache::ffi::boundary::{guard, RawCompression, RawStatus, RawSyncPolicy, RawWritePolicy};
use tiercache::ffi::cache::*;
use tiercache::ffi::loader::{tc_cache_set_loader, tc_sink_put};
use tiercache::ffi::options::*;
use tiercache::ffi::{tc_last_error, tc_status_str, tc_version};
use tiercache::stats::tc_stats;
use tiercache::Status;

fn last_error() -> String {
    unsafe { CStr::from_ptr(tc_last_error()) }
        .to_string_lossy()
        .into_owned()
}

/// Asserts `st` is TC_INVALID_ARGUMENT and the message names `what`.
fn invalid(st: Status, what: &str) {
    assert_eq!(st, TC_INVALID_ARGUMENT, "{what}");
    let msg = last_error();
    assert!(msg.contains(what), "message {msg:?} does not name {what:?}");
}

fn open_memory() -> *mut tc_cache {
    let mut c = null_mut();
    assert_eq!(unsafe { tc_cache_open(null(), &mut c) }, TC_OK);
    c
}

#[test]
fn every_null_pointer_is_an_invalid_argument() {
    let c = open_memory();
    let k = b"key".as_ptr();
    let mut out = tc_bytes {
        data: null_mut(),
        len: 0,
    };
    let mut buf = [0u8; 8];
    let mut n = 0usize;
    let mut b = false;
    let mut count = 0u64;
    let mut stats = tc_stats::default();
    unsafe {
        invalid(tc_cache_open(null(), null_mut()), "out");
        invalid(tc_put(null_mut(), k, 3, k, 3, 0), "cache");
        invalid(tc_put(c, null(), 3, k, 3, 0), "key");
        invalid(tc_put(c, k, 3, null(), 0, 0), "value");
        invalid(tc_get(null_mut(), k, 3, &mut out), "cache");
        invalid(tc_get(c, null(), 3, &mut out), "key");
        invalid(tc_get(c, k, 3, null_mut()), "out");
        invalid(tc_get_into(null_mut(), k, 3, buf.as_mut_ptr(), 8, &mut n), "cache");
        invalid(tc_get_into(c, null(), 3, buf.as_mut_ptr(), 8, &mut n), "key");
        invalid(tc_get_into(c, k, 3, null_mut(), 8, &mut n), "buf");
        invalid(tc_get_into(c, k, 3, buf.as_mut_ptr(), 8, null_mut()), "value_len");
        invalid(tc_contains(null_mut(), k, 3, &mut b), "cache");
        invalid(tc_contains(c, null(), 3, &mut b), "key");
        invalid(tc_contains(c, k, 3, null_mut()), "present");
        invalid(tc_remove(null_mut(), k, 3), "cache");
        invalid(tc_remove(c, null(), 3), "key");
        invalid(tc_remove_prefix(null_mut(), k, 3, &mut count), "cache");
        invalid(tc_remove_prefix(c, null(), 3, &mut count), "prefix");
        invalid(tc_remove_prefix(c, k, 3, null_mut()), "removed");
        invalid(tc_clear(null_mut(), false), "cache");
        invalid(tc_flush(null_mut()), "cache");
        invalid(tc_purge_expired(null_mut(), &mut count), "cache");
        invalid(tc_purge_expired(c, null_mut()), "removed");
        invalid(tc_stats_get(null(), &mut stats), "cache");
        invalid(tc_stats_get(c, null_mut()), "out");
        invalid(tc_sink_put(null_mut(), k, 3, 0), "sink");
        invalid(tc_cache_set_loader(null_mut(), None, null_mut(), None), "cache");
        invalid(tc_options_set_dir(null_mut(), c"/tmp/x".as_ptr()), "opts");
        let o = tc_options_new();
        invalid(tc_options_set_dir(o, null()), "path");
        invalid(tc_options_set_dir(o, c"".as_ptr()), "path");
        invalid(tc_options_set_l1_capacity(null_mut(), 1, 1), "opts");
        invalid(tc_options_set_l2_capacity(null_mut(), 1), "opts");
        invalid(tc_options_set_write_policy(null_mut(), RawWritePolicy(0)), "opts");
        invalid(tc_options_set_sync_policy(null_mut(), RawSyncPolicy(0), 0), "opts");
        invalid(tc_options_set_default_ttl(null_mut(), 1), "opts");
        invalid(tc_options_set_max_value_size(null_mut(), 1), "opts");
        invalid(tc_options_set_segment_size(null_mut(), 1 << 20), "opts");
        invalid(tc_options_set_read_only(null_mut(), true), "opts");
        // Out-of-range enum values and settings.
        invalid(tc_options_set_write_policy(o, RawWritePolicy(7)), "policy");
        invalid(tc_options_set_sync_policy(o, RawSyncPolicy(4), 0), "policy");
        invalid(tc_options_set_sync_policy(o, RawSyncPolicy(3), 0), "interval_ms");
        invalid(tc_options_set_max_value_size(o, 0), "max_value_len");
        invalid(tc_options_set_max_value_size(o, (1 << 30) + 1), "max_value_len");
        invalid(tc_options_set_segment_size(o, 10), "segment_bytes");
        tc_options_free(o);
        // Frees and close accept NULL.
        tc_options_free(null_mut());
        tc_bytes_free(null_mut());
        tc_bytes_free(&mut out);
        tc_cache_close(null_mut());
        tc_cache_close(c);
    }
}

#[test]
fn keys_and_values_respect_their_limits() {
    let o = tc_options_new();
    unsafe { assert_eq!(tc_options_set_max_value_size(o, 100), TC_OK) };
    let mut c = null_mut();
    assert_eq!(unsafe { tc_cache_open(o, &mut c) }, TC_OK);
    unsafe { tc_options_free(o) };
    let key = vec![b'k'; 65537];
    let v = [0u8; 101];
    let mut out = tc_bytes {
        data: null_mut(),
        len: 0,
    };
    unsafe {
        invalid(tc_put(c, key.as_ptr(), 0, v.as_ptr(), 1, 0), "key");
        invalid(tc_get(c, key.as_ptr(), 0, &mut out), "key");
        assert_eq!(tc_put(c, key.as_ptr(), 65537, v.as_ptr(), 1, 0), TC_TOO_LARGE);
        assert!(last_error().contains("key: 65537 bytes"), "{}", last_error());
        assert_eq!(tc_get(c, key.as_ptr(), 65537, &mut out), TC_TOO_LARGE);
        assert_eq!(tc_put(c, key.as_ptr(), 65536, v.as_ptr(), 100, 0), TC_OK);
        assert_eq!(tc_put(c, key.as_ptr(), 1, v.as_ptr(), 101, 0), TC_TOO_LARGE);
        assert!(last_error().contains("value: 101 bytes"), "{}", last_error());
        // An empty value is stored as such: a non-NULL pointer with length 0.
        assert_eq!(tc_put(c, b"e".as_ptr(), 1, v.as_ptr(), 0, 0), TC_OK);
        assert_eq!(tc_get(c, b"e".as_ptr(), 1, &mut out), TC_OK);
        assert_eq!((out.data, out.len), (null_mut(), 0));
        tc_cache_close(c);
    }
}

#[test]
fn get_into_reports_the_size_it_needs() {
    let c = open_memory();
    let mut buf = [0u8; 4];
    let mut n = 0usize;
    unsafe {
        assert_eq!(tc_put(c, b"k".as_ptr(), 1, b"hello".as_ptr(), 5, 0), TC_OK);
        assert_eq!(
            tc_get_into(c, b"k".as_ptr(), 1, buf.as_mut_ptr(), 4, &mut n),
            TC_BUFFER_TOO_SMALL
        );
        assert_eq!(n, 5);
        let mut big = [0u8; 5];
        assert_eq!(tc_get_into(c, b"k".as_ptr(), 1, big.as_mut_ptr(), 5, &mut n), TC_OK);
        assert_eq!((&big, n), (b"hello", 5));
        n = 99;
        assert_eq!(
            tc_get_into(c, b"x".as_ptr(), 1, big.as_mut_ptr(), 5, &mut n),
            TC_NOT_FOUND
        );
        assert_eq!(n, 99, "outputs are written only on success");
        tc_cache_close(c);
    }
}

#[test]
fn outputs_are_untouched_on_failure() {
    let c = open_memory();
    let mut out = tc_bytes {
        data: 7 as *mut u8,
        len: 7,
    };
    unsafe {
        assert_eq!(tc_get(c, b"nope".as_ptr(), 4, &mut out), TC_NOT_FOUND);
        assert_eq!((out.data as usize, out.len), (7, 7));
        tc_cache_close(c);
    }
}

#[test]
fn open_reports_path_and_lock() {
    let dir = tempfile::tempdir().unwrap();
    let path = CString::new(dir.path().to_str().unwrap()).unwrap();
    let o = tc_options_new();
    let (mut a, mut b) = (null_mut(), null_mut());
    unsafe {
        assert_eq!(tc_options_set_dir(o, path.as_ptr()), TC_OK);
        assert_eq!(tc_cache_open(o, &mut a), TC_OK);
        assert_eq!(tc_cache_open(o, &mut b), TC_LOCKED);
        assert!(b.is_null());
        assert!(last_error().contains(dir.path().to_str().unwrap()), "{}", last_error());
        tc_cache_close(a);
        assert_eq!(tc_cache_open(o, &mut b), TC_OK);
        tc_cache_close(b);
        let file = dir.path().join("plainfile");
        std::fs::write(&file, b"x").unwrap();
        let fpath = CString::new(file.join("sub").to_str().unwrap()).unwrap();
        assert_eq!(tc_options_set_dir(o, fpath.as_ptr()), TC_OK);
        assert_eq!(tc_cache_open(o, &mut b), TC_IO_ERROR);
        assert!(last_error().contains("plainfile"), "{}", last_error());
        tc_options_free(o);
    }
}

#[test]
fn the_last_error_is_per_thread() {
    let c = open_memory() as usize;
    unsafe {
        assert_eq!(
            tc_get(
                c as *mut tc_cache,
                b"k".as_ptr(),
                0,
                &mut tc_bytes {
                    data: null_mut(),
                    len: 0
                }
            ),
            TC_INVALID_ARGUMENT
        );
    }
    let mine = last_error();
    std::thread::spawn(|| assert_eq!(last_error(), "")).join().unwrap();
    assert_eq!(last_error(), mine);
    unsafe { tc_cache_close(c as *mut tc_cache) };
}

#[test]
fn status_strings_and_version() {
    for s in Status::ALL {
        let text = unsafe { CStr::from_ptr(tc_status_str(RawStatus(s as u32))) }
            .to_str()
            .unwrap();
        assert_eq!(text, format!("{s:?}"));
    }
    let unknown = unsafe { CStr::from_ptr(tc_status_str(RawStatus(77))) };
    assert_eq!(unknown.to_str().unwrap(), "unknown status");
    let v = unsafe { CStr::from_ptr(tc_version()) }.to_str().unwrap();
    assert_eq!(v, env!("CARGO_PKG_VERSION"));
}

#[test]
fn a_panic_becomes_tc_panic_with_its_message() {
    let st = guard("tc_demo", || panic!("something broke"));
    assert_eq!(st, TC_PANIC);
    assert!(
        last_error().contains("tc_demo: internal panic: something broke"),
        "{}",
        last_error()
    );
}

#[test]
fn at_rest_options_check_their_arguments() {
    let o = tc_options_new();
    unsafe {
        invalid(tc_options_set_compression(null_mut(), RawCompression(1), 0), "opts");
        invalid(tc_options_set_compression(o, RawCompression(3), 0), "tc_compression");
        invalid(
            tc_options_set_compression(o, RawCompression(u32::MAX), 0),
            "tc_compression",
        );
        for c in 0..3 {
            assert_eq!(tc_options_set_compression(o, RawCompression(c), 64), TC_OK);
        }
        let key = [7u8; 33];
        invalid(tc_options_set_encryption_key(null_mut(), key.as_ptr(), 32), "opts");
        invalid(tc_options_set_encryption_key(o, null(), 32), "key");
        for len in [0, 1, 31, 33] {
            invalid(tc_options_set_encryption_key(o, key.as_ptr(), len), "32 bytes");
        }
        assert_eq!(tc_options_set_encryption_key(o, key.as_ptr(), 32), TC_OK);
        // A memory-only cache with a key and a codec opens (nothing is at rest).
        let mut c = null_mut();
        assert_eq!(tc_cache_open(o, &mut c), TC_OK);
        tc_cache_close(c);
        tc_options_free(o);
    }
}
