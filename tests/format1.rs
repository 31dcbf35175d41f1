//! A directory written by format 1 (before records had sequence numbers)
//! still opens, reads right, takes new writes and compacts. The fixture in
//! `tests/fixtures/format1` was written by tiercache at commit e4328e9 with
//! 4 KiB segments: 60 keys, a third overwritten, every fifth removed, one
//! overwritten by a value that expired in 2023, one that lives until 2100,
//! and an empty value.

mod common;

use std::path::Path;

use tiercache::{Cache, Options, Status};

use common::get;

fn copy_fixture(to: &Path) {
    let from = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/format1");
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

/// What the fixture holds, by key.
fn expected(i: u32) -> Option<Vec<u8>> {
    if i % 5 == 1 || i == 2 {
        None
    } else if i.is_multiple_of(3) {
        Some(format!("value{i}-second").into_bytes())
    } else {
        Some(format!("value{i}-first").repeat(4).into_bytes())
    }
}

fn check(c: &Cache, changed: bool) {
    for i in 0..60u32 {
        let key = format!("key{i:02}");
        let want = if changed && i % 10 == 4 {
            Some(b"new".to_vec())
        } else if changed && i % 10 == 7 {
            None
        } else {
            expected(i)
        };
        assert_eq!(get(c, key.as_bytes()).ok(), want, "{key}");
    }
    assert_eq!(get(c, b"ttl-far"), Ok(b"lives until 2100".to_vec()));
    assert_eq!(get(c, b"empty"), Ok(Vec::new()));
    assert_eq!(c.stats().corrupt_records, 0);
    c.check_invariants().unwrap();
}

#[test]
fn a_format1_directory_opens_reads_and_takes_writes() {
    let dir = tempfile::tempdir().unwrap();
    copy_fixture(dir.path());
    let mut ro = Options::with_dir(dir.path());
    ro.read_only = true;
    check(&Cache::open(&ro).unwrap(), false);

    let mut o = Options::with_dir(dir.path());
    o.set_segment_bytes(4096).unwrap();
    let c = Cache::open(&o).unwrap();
    check(&c, false);
    for i in 0..60u32 {
        let key = format!("key{i:02}");
        if i % 10 == 4 {
            c.put(key.as_bytes(), b"new", 0).unwrap();
        } else if i % 10 == 7 && expected(i).is_some() {
            c.remove(key.as_bytes()).unwrap();
        }
    }
    check(&c, true);
    c.close().unwrap();
    let c = Cache::open(&o).unwrap();
    check(&c, true);
    // Compaction moves the format 1 records into format 2 segments.
    c.compact().unwrap();
    check(&c, true);
    c.close().unwrap();
    let c = Cache::open(&o).unwrap();
    check(&c, true);
    assert_eq!(get(&c, b"key02"), Err(Status::TC_NOT_FOUND));
}
