//! The C boundary: NULL pointers, bad enum values, size limits, the
//! thread-local error message, status strings and panics.

use std::ffi::{CStr, CString};
use std::ptr::{null, null_mut};

use tiercache::error::tc_status::*;
use tiercache::ffi::boundary::{guard, RawCompression, RawL1Policy, RawStatus, RawSyncPolicy, RawWritePolicy};
use tiercache::ffi::cache::*;
use tiercache::ffi::loader::{tc_cache_set_loader, tc_sink_put};
use tiercache::ffi::options::*;
use tiercache::ffi::value::*;
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
        let mut v = null_mut();
        invalid(tc_get_value(null_mut(), k, 3, &mut v), "cache");
        invalid(tc_get_value(c, null(), 3, &mut v), "key");
        invalid(tc_get_value(c, k, 0, &mut v), "key");
        invalid(tc_get_value(c, k, 3, null_mut()), "out");
        assert!(v.is_null(), "out untouched on failure");
        assert_eq!(tc_get_value(c, k, 3, &mut v), TC_NOT_FOUND);
        assert!(v.is_null(), "out untouched on a miss");
        assert_eq!((tc_value_data(null()), tc_value_len(null())), (null(), 0));
        tc_value_free(null_mut());
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
        invalid(tc_options_set_l1_policy(null_mut(), RawL1Policy(0)), "opts");
        // Out-of-range enum values and settings.
        invalid(tc_options_set_write_policy(o, RawWritePolicy(7)), "policy");
        invalid(tc_options_set_sync_policy(o, RawSyncPolicy(4), 0), "policy");
        invalid(tc_options_set_l1_policy(o, RawL1Policy(2)), "tc_l1_policy");
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

/// The policy set through the C ABI is the one L1 evicts by: ten keys hit
/// twice, then a scan of a hundred new keys through an L1 of twenty
/// entries. S3-FIFO keeps the hot keys (the scan passes through its small
/// queue); LRU loses them.
#[test]
fn the_l1_policy_option_chooses_what_a_scan_evicts() {
    for (policy, hot_kept) in [(0, false), (1, true)] {
        let o = tc_options_new();
        let mut c = null_mut();
        unsafe {
            assert_eq!(tc_options_set_l1_capacity(o, 20, 0), TC_OK);
            assert_eq!(tc_options_set_l1_policy(o, RawL1Policy(policy)), TC_OK);
            assert_eq!(tc_cache_open(o, &mut c), TC_OK);
            tc_options_free(o);
            let put = |k: &str| assert_eq!(tc_put(c, k.as_ptr(), k.len(), b"v".as_ptr(), 1, 0), TC_OK);
            let present = |k: &str| {
                let mut p = false;
                assert_eq!(tc_contains(c, k.as_ptr(), k.len(), &mut p), TC_OK);
                p
            };
            for i in 0..10 {
                put(&format!("hot{i}"));
            }
            for _ in 0..2 {
                for i in 0..10 {
                    let k = format!("hot{i}");
                    let mut out = tc_bytes {
                        data: null_mut(),
                        len: 0,
                    };
                    assert_eq!(tc_get(c, k.as_ptr(), k.len(), &mut out), TC_OK);
                    tc_bytes_free(&mut out);
                }
            }
            for i in 0..100 {
                put(&format!("scan{i}"));
            }
            let kept = (0..10).filter(|i| present(&format!("hot{i}"))).count();
            assert_eq!(kept == 10, hot_kept, "policy {policy}: {kept} hot keys kept");
            tc_cache_close(c);
        }
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

/// The bytes of a live `tc_value`.
unsafe fn value_bytes(v: *const tc_value) -> Vec<u8> {
    let (d, n) = (tc_value_data(v), tc_value_len(v));
    if n == 0 {
        assert!(d.is_null());
        return Vec::new();
    }
    std::slice::from_raw_parts(d, n).to_vec()
}

#[test]
fn a_value_outlives_its_key_its_segment_and_its_cache() {
    let dir = tempfile::tempdir().unwrap();
    let path = CString::new(dir.path().to_str().unwrap()).unwrap();
    let o = tc_options_new();
    let mut c = null_mut();
    // L1 far smaller than the value: an L2 hit is served from the map.
    let big: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    unsafe {
        assert_eq!(tc_options_set_dir(o, path.as_ptr()), TC_OK);
        assert_eq!(tc_options_set_l1_capacity(o, 16, 64 << 10), TC_OK);
        assert_eq!(tc_cache_open(o, &mut c), TC_OK);
        tc_options_free(o);
        assert_eq!(tc_put(c, b"big".as_ptr(), 3, big.as_ptr(), big.len(), 0), TC_OK);
        assert_eq!(tc_put(c, b"small".as_ptr(), 5, b"s1".as_ptr(), 2, 0), TC_OK);
        assert_eq!(tc_put(c, b"empty".as_ptr(), 5, b"".as_ptr(), 0, 0), TC_OK);
        assert_eq!(tc_flush(c), TC_OK);
        let (mut vb, mut vs, mut ve) = (null_mut(), null_mut(), null_mut());
        assert_eq!(tc_get_value(c, b"big".as_ptr(), 3, &mut vb), TC_OK);
        assert_eq!(tc_get_value(c, b"small".as_ptr(), 5, &mut vs), TC_OK);
        assert_eq!(tc_get_value(c, b"empty".as_ptr(), 5, &mut ve), TC_OK);
        assert_eq!(value_bytes(vb), big);
        assert_eq!(value_bytes(vs), b"s1");
        assert_eq!(value_bytes(ve), b"");
        let data = tc_value_data(vb);
        // Overwritten, removed, the whole log cleared (every segment file the
        // value could be mapped from deleted), the directory emptied, the
        // cache closed: the value is the same bytes at the same address.
        assert_eq!(tc_put(c, b"big".as_ptr(), 3, b"new".as_ptr(), 3, 0), TC_OK);
        assert_eq!(tc_put(c, b"small".as_ptr(), 5, b"s2".as_ptr(), 2, 0), TC_OK);
        assert_eq!(tc_remove(c, b"big".as_ptr(), 3), TC_OK);
        assert_eq!(tc_clear(c, false), TC_OK);
        tc_cache_close(c);
        for e in std::fs::read_dir(dir.path()).unwrap() {
            std::fs::remove_file(e.unwrap().path()).unwrap();
        }
        assert_eq!(tc_value_data(vb), data);
        assert_eq!(value_bytes(vb), big);
        assert_eq!(value_bytes(vs), b"s1");
        tc_value_free(vb);
        tc_value_free(vs);
        tc_value_free(ve);
    }
}

/// A value served from a segment's map outlives a recovery of its directory
/// that cuts that segment under it. The record's length and checksum are
/// damaged on disk after it was read, so that it reads as a torn write,
/// and the directory is opened again, with its index files gone so that
/// the log is read whole, while the value is held: recovery cuts the last
/// segment at the damaged record. Cut in place, the pages past the cut
/// vanished under the value's map, and reading it was SIGBUS (this test
/// then dies with the signal); the cut is made on a copy renamed over the
/// file (`Segment::cut_aside`), and the old file stays whole for the value.
#[test]
fn a_value_outlives_a_recovery_that_cuts_its_segment_under_it() {
    use tiercache::{Cache, Options, Status};
    let dir = tempfile::tempdir().unwrap();
    let mut opts = Options::with_dir(dir.path());
    opts.l1_max_entries = 16;
    opts.l1_max_bytes = 64 << 10;
    let big: Vec<u8> = (0..300_000u32).map(|i| (i % 239) as u8).collect();
    let c = Cache::open(&opts).unwrap();
    c.put(b"small", b"kept", 0).unwrap();
    c.put(b"big", &big, 0).unwrap();
    c.flush().unwrap();
    let v = c.get_value(b"big").unwrap();
    assert!(v.is_mapped(), "{v:?}");
    c.close().unwrap();
    let mut segments = Vec::new();
    for e in std::fs::read_dir(dir.path()).unwrap() {
        let p = e.unwrap().path();
        match p.extension().and_then(|x| x.to_str()) {
            Some("tcl") => segments.push(p),
            Some("tci" | "tcm" | "hint") => std::fs::remove_file(&p).unwrap(),
            _ => {}
        }
    }
    segments.sort();
    let last = segments.last().unwrap();
    let len = std::fs::metadata(last).unwrap().len();
    // The big record's length, made to run past the end of the file, and
    // its checksum, so that it matches neither length: a write a crash cut
    // short, which recovery cuts off (other damage, a whole record's
    // length alone among it, is a gap, which is kept: docs/CONSISTENCY.md,
    // section 8). Written in place, same length, so that the map stays.
    let mut bytes = std::fs::read(last).unwrap();
    let start = (16..bytes.len())
        .find(|&i| u32::from_le_bytes(bytes[i..i + 4].try_into().unwrap()) as usize + 8 + i == bytes.len())
        .unwrap();
    bytes[start + 2] ^= 0x40;
    bytes[start + 4] ^= 0x01;
    std::fs::write(last, &bytes).unwrap();
    let c = Cache::open(&opts).unwrap();
    assert!(
        std::fs::metadata(last).unwrap().len() < len - big.len() as u64,
        "the segment was cut"
    );
    assert_eq!(c.get(b"big").unwrap_err().status(), Status::TC_NOT_FOUND);
    assert_eq!(&*c.get(b"small").unwrap(), b"kept");
    // Every byte of the value, read after the cut.
    let differ = v.iter().zip(&big).filter(|(a, b)| a != b).count();
    assert_eq!((v.len(), differ), (big.len(), 0), "the value is the bytes it maps");
    drop(v);
    c.close().unwrap();
}

#[test]
fn an_l2_hit_too_big_for_l1_is_served_from_the_map_and_survives_compaction() {
    use tiercache::{Cache, Options};
    let dir = tempfile::tempdir().unwrap();
    let mut opts = Options::with_dir(dir.path());
    opts.l1_max_entries = 16;
    opts.l1_max_bytes = 64 << 10;
    opts.segment_bytes = 1 << 20;
    let c = Cache::open(&opts).unwrap();
    let big: Vec<u8> = (0..300_000u32).map(|i| (i % 241) as u8).collect();
    c.put(b"big", &big, 0).unwrap();
    c.flush().unwrap();
    let v = c.get_value(b"big").unwrap();
    assert!(v.is_mapped(), "{v:?}");
    assert_eq!(&*v, &big[..]);
    // Fill and overwrite until the segment holding the value is compacted
    // away (deleted).
    let filler = vec![7u8; 100_000];
    c.remove(b"big").unwrap();
    for i in 0..60u32 {
        c.put(format!("f{}", i % 3).as_bytes(), &filler, 0).unwrap();
    }
    c.compact().unwrap();
    let first = dir.path().join("0000000001.tcl");
    assert!(!first.exists(), "the first segment was compacted away");
    assert_eq!(&*v, &big[..]);
    // A small value is L1's copy, not the map.
    c.put(b"small", b"xyz", 0).unwrap();
    assert!(!c.get_value(b"small").unwrap().is_mapped());
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

/// What `tc_get` and `tc_get_many` hand out comes back as it was put, for
/// every length around the block size short values are handed out in
/// (256 bytes, `ffi::handout`) and the largest value copied under the
/// shard's lock (1 KiB), from L1 and from L2, and goes back through
/// `tc_bytes_free` on the thread that got it or on another, any number at
/// once. (A short value handed out in an allocation of its own length and
/// later reused as a block, or a block freed as something else, is heap
/// damage: a deliberate one made this test hang, the model test crash and
/// the C suites' `test_threads` abort. Here each value is checked after
/// many were freed and reused.)
#[test]
fn handed_out_bytes_round_trip_at_every_length_and_free_on_any_thread() {
    use tiercache::ffi::entries::{tc_get_many, tc_slice};
    let lens = [1usize, 2, 100, 255, 256, 257, 1023, 1024, 1025, 5000];
    let value = |len: usize, round: usize| -> Vec<u8> { (0..len).map(|i| (i * 7 + len + round) as u8).collect() };
    let dir = tempfile::tempdir().unwrap();
    let path = CString::new(dir.path().to_str().unwrap()).unwrap();
    let empty = || tc_bytes {
        data: null_mut(),
        len: 0,
    };
    // L1 of one entry: nearly every get below comes from L2.
    for l1_entries in [0u64, 1] {
        let o = tc_options_new();
        let mut c = null_mut();
        unsafe {
            assert_eq!(tc_options_set_dir(o, path.as_ptr()), TC_OK);
            assert_eq!(tc_options_set_l1_capacity(o, l1_entries, 1 << 24), TC_OK);
            assert_eq!(tc_cache_open(o, &mut c), TC_OK);
            tc_options_free(o);
        }
        let keys: Vec<Vec<u8>> = lens.iter().map(|l| format!("len{l}").into_bytes()).collect();
        for round in 0..3 {
            for (k, &len) in keys.iter().zip(&lens) {
                let v = value(len, round);
                assert_eq!(unsafe { tc_put(c, k.as_ptr(), k.len(), v.as_ptr(), v.len(), 0) }, TC_OK);
            }
            // Many at once, freed on another thread.
            let mut held = Vec::new();
            for _ in 0..3 {
                let slices: Vec<tc_slice> = keys
                    .iter()
                    .map(|k| tc_slice {
                        data: k.as_ptr(),
                        len: k.len(),
                    })
                    .collect();
                let mut outs: Vec<tc_bytes> = keys.iter().map(|_| empty()).collect();
                let mut st = vec![TC_PANIC; keys.len()];
                let r = unsafe { tc_get_many(c, slices.as_ptr(), keys.len(), outs.as_mut_ptr(), st.as_mut_ptr()) };
                assert_eq!(r, TC_OK);
                assert!(st.iter().all(|&s| s == TC_OK), "{st:?}");
                held.extend(outs.into_iter().zip(lens).map(|(o, len)| (o.data as usize, o.len, len)));
            }
            std::thread::spawn(move || {
                for (data, len, want) in held {
                    assert_eq!(len, want);
                    let mut b = tc_bytes {
                        data: data as *mut u8,
                        len,
                    };
                    let got = unsafe { std::slice::from_raw_parts(b.data, b.len) };
                    assert_eq!(got, &value(want, round)[..], "{want} bytes, round {round}");
                    unsafe { tc_bytes_free(&mut b) };
                }
            })
            .join()
            .unwrap();
            // One at a time, freed here: blocks come back and are reused.
            for _ in 0..3 {
                for (k, &len) in keys.iter().zip(&lens) {
                    let mut out = empty();
                    assert_eq!(unsafe { tc_get(c, k.as_ptr(), k.len(), &mut out) }, TC_OK);
                    assert_eq!(
                        unsafe { std::slice::from_raw_parts(out.data, out.len) },
                        &value(len, round)[..]
                    );
                    unsafe { tc_bytes_free(&mut out) };
                    assert_eq!((out.data, out.len), (null_mut(), 0));
                }
            }
        }
        unsafe { tc_cache_close(c) };
    }
}
