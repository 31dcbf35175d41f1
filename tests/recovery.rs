//! L2 against damage: a tail torn at every byte offset, a flipped byte
//! anywhere (and, in an encrypted directory, one whose checksum was forged
//! to match), bit rot under a running cache, the directory lock (same
//! process, other process, killed owner) and owner-only permissions. The
//! torn-tail and flipped-byte tests run in every at-rest mode
//! (`common::AtRest`: plain, compressed, encrypted, both): plain at every
//! offset, the other modes by default taking turns over the offsets (each
//! offset still damaged in one of them, each of them over a spread of
//! offsets that reaches every record and every field of four bytes or
//! more, and at every record end); `TIERCACHE_TORTURE=large` runs every
//! mode at every offset.

mod common;

use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{get, open, open_at, segment_files, AtRest};
use tiercache::{Cache, Options, Status};

fn key(i: usize) -> Vec<u8> {
    format!("key-{i}").into_bytes()
}

/// A value of key `i`: in the compressed modes long enough to compress.
fn value(i: usize, at: AtRest) -> Vec<u8> {
    let times = if at.compressed() { 30 } else { i % 4 + 1 };
    format!("value-{i}-").repeat(times).into_bytes()
}

/// Writes `n` records in mode `at` and returns the segment's bytes and where
/// each record ends. Checks that the mode did what it says to the bytes.
fn written(dir: &Path, n: usize, at: AtRest) -> (Vec<u8>, Vec<usize>) {
    let mut ends = Vec::new();
    let c = open_at(dir, 0, at);
    for i in 0..n {
        c.put(&key(i), &value(i, at), 0).unwrap();
        c.flush().unwrap();
        ends.push(fs::metadata(&segment_files(dir)[0]).unwrap().len() as usize);
    }
    let saved = c.counter("compressed_bytes_saved").unwrap();
    assert_eq!(saved > 0, at.compressed(), "{at:?}: {saved} bytes saved");
    c.close().unwrap();
    let bytes = fs::read(&segment_files(dir)[0]).unwrap();
    // (LZ4 keeps the first copy of a repeated string as it is, so only
    // encryption promises no readable value.)
    let readable = |text: &[u8]| bytes.windows(text.len()).any(|w| w == text);
    assert_eq!(readable(b"key-1"), !at.encrypted(), "{at:?}: keys in the clear");
    if at.encrypted() {
        assert!(!readable(b"value-"), "{at:?}: values in the clear");
    }
    (bytes, ends)
}

/// A fresh directory holding `seg` as segment `seg_name`, with the key
/// check file of `src` if it has one (an encrypted directory).
fn damaged_copy(src: &Path, seg_name: &std::ffi::OsStr, seg: &[u8]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join(seg_name), seg).unwrap();
    let check = src.join(tiercache::log::KEYCHECK_FILE);
    if check.exists() {
        fs::copy(&check, dir.path().join(tiercache::log::KEYCHECK_FILE)).unwrap();
    }
    dir
}

#[test]
fn a_tail_torn_at_every_offset_keeps_exactly_the_complete_records() {
    for at in AtRest::ALL {
        torn_tail_at_every_offset(at);
    }
}

fn torn_tail_at_every_offset(at: AtRest) {
    let src = tempfile::tempdir().unwrap();
    let n = 6;
    let (bytes, ends) = written(src.path(), n, at);
    let seg_name = segment_files(src.path())[0].file_name().unwrap().to_owned();
    // Every offset inside the last three records: the plain mode at each,
    // the other three taking turns (each at every record end).
    for (j, cut) in (ends[n - 4]..=bytes.len()).enumerate() {
        if !(at == AtRest::Plain || ends.contains(&cut) || common::takes_turn(j, at.index() - 1, 3)) {
            continue;
        }
        let dir = damaged_copy(src.path(), &seg_name, &bytes[..cut]);
        let complete = ends.iter().filter(|e| **e <= cut).count();
        let c = open_at(dir.path(), 0, at);
        for i in 0..n {
            let want = if i < complete {
                Ok(value(i, at))
            } else {
                Err(Status::TC_NOT_FOUND)
            };
            assert_eq!(get(&c, &key(i)), want, "{at:?}: cut at {cut}, key {i}");
        }
        let s = c.stats();
        assert_eq!(s.l2_entries, complete as u64, "{at:?}: cut at {cut}");
        assert_eq!(
            s.corrupt_records, 0,
            "a torn tail is not corruption ({at:?}: cut at {cut})"
        );
        // The torn bytes are gone, and appending after them works.
        c.put(b"after", b"cut", 0).unwrap();
        c.close().unwrap();
        let c = open_at(dir.path(), 0, at);
        assert_eq!(get(&c, b"after"), Ok(b"cut".to_vec()), "cut at {cut}");
        assert_eq!(c.stats().l2_entries, complete as u64 + 1);
    }
}

#[test]
fn a_flipped_byte_anywhere_never_yields_a_wrong_value() {
    for mode in AtRest::ALL {
        flipped_byte_anywhere(mode, false);
    }
}

/// In an encrypted directory, damage is caught even when the checksum is
/// made to match (as someone changing the file on purpose would): the
/// record fails authentication.
#[test]
fn a_flipped_byte_with_a_forged_checksum_never_yields_a_wrong_value_when_encrypted() {
    flipped_byte_anywhere(AtRest::Encrypted, true);
    flipped_byte_anywhere(AtRest::ZstdEncrypted, true);
}

/// In a compressed directory without a key, a byte changed under a forged
/// checksum can leave a record whose packed value claims one length and
/// does not unpack to it (fuzz finding 17). Such a value is never served,
/// and every reader must say so alike: `contains` and `info`, which need
/// no value, and `remove`'s answer agree with `get` and `get_value` on
/// every key, wherever the byte is (each byte of every record, three
/// masks). What is served is not checked here: without a key, a forger can
/// make any value pass.
#[test]
fn every_reader_agrees_on_a_packed_value_damaged_under_a_forged_checksum() {
    let at = AtRest::Lz4;
    let src = tempfile::tempdir().unwrap();
    let n = 3;
    let (bytes, ends) = written(src.path(), n, at);
    let seg_name = segment_files(src.path())[0].file_name().unwrap().to_owned();
    let header = 16;
    let mut unservable = 0;
    for at_byte in header..bytes.len() {
        let hit = ends.iter().position(|e| at_byte < *e).unwrap();
        let start = if hit == 0 { header } else { ends[hit - 1] };
        if at_byte < start + 8 {
            continue; // the frame header itself: nothing to forge
        }
        for mask in [0x01u8, 0x10, 0x80] {
            let mut bad = bytes.clone();
            bad[at_byte] ^= mask;
            forge_checksum(&mut bad[start..ends[hit]]);
            let dir = damaged_copy(src.path(), &seg_name, &bad);
            let c = open_at(dir.path(), 0, at);
            let found_at_open = c.stats().corrupt_records;
            for i in 0..n {
                let k = key(i);
                // From L2, before the get promotes the value: the first info
                // unpacks it and leaves a fact that it unpacked, the second
                // takes the length from that fact.
                let first = c.info(&k).map_err(|e| e.status());
                let second = c.info(&k).map_err(|e| e.status());
                let got = get(&c, &k);
                let zc = c.get_value(&k).map(|v| v.to_vec()).map_err(|e| e.status());
                let has = c.contains(&k).unwrap();
                let info = c.info(&k).map_err(|e| e.status());
                let why = format!("flip {mask:#x} at {at_byte} in record {hit}, key {i}");
                assert_eq!(first, second, "{why}: info unpacking and info from the fact");
                let l2_len = first.map(|i| i.value_len);
                assert_eq!(
                    l2_len,
                    info.map(|i| i.value_len),
                    "{why}: info before and after the get"
                );
                assert_eq!(zc, got, "{why}: get_value and get differ");
                assert_eq!(has, got.is_ok(), "{why}: contains says {has}, get {got:?}");
                match (&got, &info) {
                    (Ok(v), Ok(info)) => assert_eq!(info.value_len, v.len() as u64, "{why}: length"),
                    (Err(_), Err(s)) => assert_eq!(*s, Status::TC_NOT_FOUND, "{why}"),
                    _ => panic!("{why}: info says {info:?}, get {got:?}"),
                }
                if i == hit && got.is_err() && c.stats().corrupt_records > found_at_open {
                    unservable += 1;
                }
                // Last, as it writes: the removal says the key had a value
                // exactly when the get found one.
                let removed = c.remove(&k).map_err(|e| e.status());
                assert_eq!(removed.is_ok(), got.is_ok(), "{why}: remove says {removed:?}");
            }
        }
    }
    // The case the test is for did happen: records that passed the forged
    // checksum and were refused on read.
    assert!(unservable > 0, "no damaged record was refused on read");
}

/// Without a forged checksum, the plain mode flips every byte and the other
/// three take turns over the bytes; with one, the two encrypted modes take
/// turns (every mode every byte under `TIERCACHE_TORTURE=large`).
fn flipped_byte_anywhere(mode: AtRest, forge_crc: bool) {
    let src = tempfile::tempdir().unwrap();
    let n = 5;
    let (bytes, ends) = written(src.path(), n, mode);
    let seg_name = segment_files(src.path())[0].file_name().unwrap().to_owned();
    let header = 16;
    let (turn, of) = match (mode, forge_crc) {
        (AtRest::Plain, _) => (0, 1),
        (_, false) => (mode.index() - 1, 3),
        (AtRest::Encrypted, true) => (0, 2),
        (_, true) => (1, 2),
    };
    for at in header..bytes.len() {
        if !common::takes_turn(at, turn, of) {
            continue;
        }
        let hit = ends.iter().position(|e| at < *e).unwrap();
        let start = if hit == 0 { header } else { ends[hit - 1] };
        if forge_crc && at < start + 8 {
            continue; // the frame header itself: nothing to forge
        }
        // Three masks in the plain mode, one in the others (whose records
        // are longer), to keep the run short.
        let masks: &[u8] = if mode == AtRest::Plain {
            &[0x01, 0x80, 0xff]
        } else {
            &[0x80]
        };
        for &mask in masks {
            let mut bad = bytes.clone();
            bad[at] ^= mask;
            if forge_crc {
                forge_checksum(&mut bad[start..ends[hit]]);
            }
            let dir = damaged_copy(src.path(), &seg_name, &bad);
            let c = open_at(dir.path(), 0, mode);
            // The damaged record's key cannot be known, and it may have been
            // the newest record of a key written before it: so the keys
            // before it are gone too (docs/CONSISTENCY.md, section 8), all
            // of them, the last record's length field included (damaged to
            // run past the end of the file, it is no write a crash cut
            // short: the record is whole).
            let before = (0..hit).filter(|i| get(&c, &key(*i)).is_ok()).count();
            assert!(
                before == 0,
                "{mode:?}: flip {mask:#x} at {at} in record {hit} left {before} of the {hit} keys before it"
            );
            for i in 0..n {
                // get_value first: it reads the record where it lies (the
                // map), so its check is the one that must catch the flip.
                let zc = c.get_value(&key(i)).map(|v| v.to_vec()).map_err(|e| e.status());
                assert_eq!(
                    zc,
                    get(&c, &key(i)),
                    "{mode:?}: flip {mask:#x} at {at}: get_value and get differ on key {i}"
                );
                match zc {
                    Ok(v) => assert_eq!(
                        v,
                        value(i, mode),
                        "{mode:?}: flip {mask:#x} at {at}: wrong value for key {i}"
                    ),
                    Err(s) => {
                        assert_eq!(s, Status::TC_NOT_FOUND);
                        assert!(
                            i <= hit,
                            "flip {mask:#x} at {at} in record {hit} lost key {i}, after it"
                        );
                    }
                }
            }
            let s = c.stats();
            assert!(
                s.corrupt_records >= 1,
                "flip {mask:#x} at {at} in record {hit} not counted"
            );
            assert_eq!(s.l2_entries, (n - 1 - hit) as u64, "flip at {at}");
        }
    }
}

/// Makes the CRC32 of the record `frame` (its length, its CRC, its
/// payload: docs/FORMAT.md, "Records") match its bytes again, as someone
/// changing the file on purpose would.
fn forge_checksum(frame: &mut [u8]) {
    let mut crc = crc32fast::Hasher::new();
    crc.update(&frame[..4]);
    crc.update(&frame[8..]);
    frame[4..8].copy_from_slice(&crc.finalize().to_le_bytes());
}

#[test]
fn bit_rot_under_a_running_cache_is_caught_on_read() {
    let dir = tempfile::tempdir().unwrap();
    let c = open(dir.path(), 1);
    c.put(b"victim", b"precious value", 0).unwrap();
    c.put(b"other", b"x", 0).unwrap(); // pushes victim out of L1
    c.flush().unwrap();
    let seg = &segment_files(dir.path())[0];
    let mut bytes = fs::read(seg).unwrap();
    let pos = bytes.windows(9).position(|w| w == b"precious ").unwrap();
    bytes[pos] ^= 0x20; // "Precious": same length, wrong content
    fs::write(seg, &bytes).unwrap();
    assert_eq!(c.get_value(b"victim").unwrap_err().status(), Status::TC_NOT_FOUND);
    assert_eq!(get(&c, b"victim"), Err(Status::TC_NOT_FOUND));
    assert!(c.stats().corrupt_records >= 2, "each read checks the record again");
}

/// A get remembers that a record passed its checksum, for this open only
/// (docs/CONSISTENCY.md, section 8): a record damaged on disk after a get
/// verified it is checked again, and caught, by the first read of the next
/// open; and a touch, which writes the value again, checks it even in the
/// same open, so the damage never gets a checksum of its own.
#[test]
fn a_record_damaged_after_a_verified_read_is_caught_by_the_next_open() {
    use std::os::unix::fs::FileExt;
    let dir = tempfile::tempdir().unwrap();
    let c = open(dir.path(), 1);
    c.put(b"victim", b"precious value", 0).unwrap();
    c.put(b"other", b"x", 0).unwrap(); // pushes victim out of L1
    c.flush().unwrap();
    assert_eq!(
        get(&c, b"victim"),
        Ok(b"precious value".to_vec()),
        "verified, remembered"
    );
    // Out of L1 again.
    c.put(b"other", b"y", 0).unwrap();
    let seg = &segment_files(dir.path())[0];
    let pos = fs::read(seg)
        .unwrap()
        .windows(9)
        .position(|w| w == b"precious ")
        .unwrap();
    // In place, as bit rot would: the file is not rewritten.
    let f = fs::OpenOptions::new().write(true).open(seg).unwrap();
    f.write_all_at(b"P", pos as u64).unwrap();
    let before = c.stats().corrupt_records;
    assert_eq!(c.touch(b"victim", 0).unwrap_err().status(), Status::TC_NOT_FOUND);
    assert_eq!(c.stats().corrupt_records, before + 1, "the touch checked the record");
    // (A get in this open may serve the damaged bytes: that is what the
    // fact gives up. None is made here, so that L1 keeps nothing of them.)
    c.close().unwrap();
    let c = open(dir.path(), 1);
    assert_eq!(get(&c, b"victim"), Err(Status::TC_NOT_FOUND));
    assert!(c.stats().corrupt_records >= 1);
}

#[test]
fn a_second_open_in_this_process_is_locked_out() {
    let dir = tempfile::tempdir().unwrap();
    let c = open(dir.path(), 0);
    let err = Cache::open(&Options::with_dir(dir.path()))
        .err()
        .expect("second open must fail");
    assert_eq!(err.status(), Status::TC_LOCKED);
    assert!(
        err.message().contains(&dir.path().display().to_string()),
        "{}",
        err.message()
    );
    drop(c);
    open(dir.path(), 0); // free again after close
}

/// Child mode for the cross-process tests: opens the directory named in the
/// environment, reports the outcome on stdout, and holds it while asked to.
#[test]
fn child_process_helper() {
    let Ok(dir) = std::env::var("TIERCACHE_TEST_CHILD_DIR") else {
        return;
    };
    match Cache::open(&Options::with_dir(&dir)) {
        Ok(c) => {
            c.put(b"child", b"was here", 0).unwrap();
            c.flush().unwrap();
            println!("CHILD-OPENED");
            if std::env::var("TIERCACHE_TEST_CHILD_HOLD").is_ok() {
                std::thread::sleep(Duration::from_secs(60));
            }
        }
        Err(e) => println!("CHILD-{:?}", e.status()),
    }
}

fn child(dir: &Path, hold: bool) -> std::process::Child {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["--exact", "child_process_helper", "--nocapture", "--test-threads=1"])
        .env("TIERCACHE_TEST_CHILD_DIR", dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    if hold {
        cmd.env("TIERCACHE_TEST_CHILD_HOLD", "1");
    }
    cmd.spawn().unwrap()
}

#[test]
fn another_process_is_locked_out() {
    let dir = tempfile::tempdir().unwrap();
    let c = open(dir.path(), 0);
    let out = child(dir.path(), false).wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("CHILD-TC_LOCKED"), "child said: {text}");
    drop(c);
    let out = child(dir.path(), false).wait_with_output().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("CHILD-OPENED"));
}

#[test]
fn the_lock_is_free_after_its_owner_is_killed() {
    use std::io::Read;
    let dir = tempfile::tempdir().unwrap();
    let mut owner = child(dir.path(), true);
    // Wait until the child says it holds the directory.
    let mut stdout = owner.stdout.take().unwrap();
    let mut seen = String::new();
    let mut buf = [0u8; 256];
    while !seen.contains("CHILD-OPENED") {
        let n = stdout.read(&mut buf).unwrap();
        assert!(n > 0, "child exited early: {seen}");
        seen.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    assert_eq!(
        Cache::open(&Options::with_dir(dir.path())).err().unwrap().status(),
        Status::TC_LOCKED
    );
    owner.kill().unwrap(); // SIGKILL
    owner.wait().unwrap();
    let c = open(dir.path(), 0);
    assert_eq!(get(&c, b"child"), Ok(b"was here".to_vec()));
}

#[test]
fn directory_and_files_are_private_to_the_owner() {
    let parent = tempfile::tempdir().unwrap();
    let dir = parent.path().join("nested").join("cache");
    let c = open(&dir, 0);
    c.put(b"k", b"v", 0).unwrap();
    c.close().unwrap();
    let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&dir), 0o700);
    assert_eq!(mode(&parent.path().join("nested")), 0o700);
    let files: Vec<_> = fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    assert!(files.len() >= 2, "{files:?}");
    for f in files {
        assert_eq!(mode(&f), 0o600, "{}", f.display());
    }
}

#[test]
fn a_segment_from_a_newer_format_is_refused_not_rewritten() {
    let dir = tempfile::tempdir().unwrap();
    open(dir.path(), 0).put(b"k", b"v", 0).unwrap();
    let seg = &segment_files(dir.path())[0];
    let mut bytes = fs::read(seg).unwrap();
    bytes[4] = 9; // format version 9
    fs::write(seg, &bytes).unwrap();
    let err = Cache::open(&Options::with_dir(dir.path())).err().unwrap();
    assert_eq!(err.status(), Status::TC_CORRUPT);
    assert_eq!(fs::read(seg).unwrap(), bytes, "the file is left as it was");
}

#[test]
fn a_file_where_the_directory_should_be_is_an_error() {
    let parent = tempfile::tempdir().unwrap();
    let file = parent.path().join("f");
    fs::write(&file, b"x").unwrap();
    let err = Cache::open(&Options::with_dir(&file)).err().unwrap();
    assert_eq!(err.status(), Status::TC_INVALID_ARGUMENT);
}

/// Every file of `dir` with its bytes, to tell whether anything changed.
fn contents(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut v: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| (e.path(), fs::read(e.path()).unwrap()))
        .collect();
    v.sort();
    v
}

#[test]
fn a_read_only_open_changes_nothing_and_refuses_writes() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut o = Options::with_dir(dir.path());
        o.set_segment_bytes(4096).unwrap();
        let c = Cache::open(&o).unwrap();
        for i in 0..200usize {
            c.put(&key(i), &value(i, AtRest::Plain), 0).unwrap();
        }
        c.close().unwrap();
    }
    // A torn tail and a missing hint: an ordinary open would repair both.
    let segs = segment_files(dir.path());
    fs::OpenOptions::new()
        .append(true)
        .open(segs.last().unwrap())
        .unwrap()
        .write_all(&[9, 0, 0])
        .unwrap();
    let hint = segs[0].with_extension("hint");
    fs::remove_file(&hint).unwrap();
    let before = contents(dir.path());

    let mut o = Options::with_dir(dir.path());
    o.read_only = true;
    let c = Cache::open(&o).unwrap();
    assert_eq!(get(&c, &key(7)), Ok(value(7, AtRest::Plain)));
    assert_eq!(c.stats().l2_entries, 200);
    for e in [
        c.put(b"k", b"v", 0).unwrap_err(),
        c.remove(&key(1)).unwrap_err(),
        c.remove_prefix(b"key").unwrap_err(),
        c.clear(false).unwrap_err(),
        c.purge_expired().unwrap_err(),
        c.compact().unwrap_err(),
    ] {
        assert_eq!(e.status(), Status::TC_INVALID_ARGUMENT);
        assert!(e.message().contains("read-only"), "{}", e.message());
    }
    c.set_loader(Some(std::sync::Arc::new(|_: &[u8]| tiercache::Loaded::Value {
        value: b"L".to_vec(),
        ttl_ms: 0,
    })));
    assert_eq!(
        get(&c, b"new"),
        Ok(b"L".to_vec()),
        "loaded values are served from memory"
    );
    c.flush().unwrap();
    c.close().unwrap();
    assert_eq!(contents(dir.path()), before, "a read-only open changed the directory");

    let missing = dir.path().join("nowhere");
    let mut o = Options::with_dir(&missing);
    o.read_only = true;
    assert_eq!(Cache::open(&o).err().unwrap().status(), Status::TC_INVALID_ARGUMENT);
    assert!(!missing.exists(), "a read-only open created a directory");
}

// --- Found by fuzzing (fuzz/README.md has the inputs). ---

#[test]
fn segment_files_with_ids_past_the_location_range_are_not_read() {
    let dir = tempfile::tempdir().unwrap();
    open(dir.path(), 0).put(b"k", b"live", 0).unwrap();
    // A file named like a segment with id 2^24 + 1 would alias segment 1 in
    // the index and could serve its records in place of the live ones.
    let mut alias = fs::read(&segment_files(dir.path())[0]).unwrap();
    alias[8..16].copy_from_slice(&((1u64 << 24) + 1).to_le_bytes());
    let stale = alias.windows(4).position(|w| w == b"live").unwrap();
    alias[stale..stale + 4].copy_from_slice(b"old!");
    fs::write(dir.path().join("0016777217.tcl"), &alias).unwrap();
    let c = open(dir.path(), 0);
    assert_eq!(get(&c, b"k"), Ok(b"live".to_vec()));
}

#[test]
fn an_unreadable_last_segment_does_not_lock_the_directory_forever() {
    let dir = tempfile::tempdir().unwrap();
    open(dir.path(), 0).put(b"k", b"v", 0).unwrap();
    // A last segment whose header is not ours: skipped, and the next segment
    // must not try to take its name.
    fs::write(dir.path().join("0000000002.tcl"), b"XXXXXXXXXXXXXXXXXXXXXXXX").unwrap();
    for round in 0..3 {
        let c = open(dir.path(), 0);
        assert_eq!(get(&c, b"k"), Ok(b"v".to_vec()), "round {round}");
        c.put(format!("r{round}").as_bytes(), b"x", 0).unwrap();
        c.close().unwrap();
    }
    let c = open(dir.path(), 0);
    assert_eq!(get(&c, b"r2"), Ok(b"x".to_vec()));
    // The only segment being unreadable is no different.
    let only = tempfile::tempdir().unwrap();
    fs::write(
        only.path().join("0000000001.tcl"),
        b"TCL2\x01\x00\x00\x00\x07\x00\x00\x00\x00\x00\x00\x00",
    )
    .unwrap();
    for _ in 0..2 {
        let c = open(only.path(), 0);
        c.put(b"a", b"b", 0).unwrap();
        c.close().unwrap();
    }
    assert_eq!(get(&open(only.path(), 0), b"a"), Ok(b"b".to_vec()));
}

#[test]
fn bytes_that_look_like_frames_everywhere_cannot_stall_recovery() {
    // After one bad byte, a value made of a frame-like pattern every 11 bytes,
    // each claiming to run to the end: checking every candidate's checksum
    // made opening quadratic (hours for a 64 MiB segment).
    let dir = tempfile::tempdir().unwrap();
    {
        let c = open(dir.path(), 0);
        c.put(b"before", b"ok", 0).unwrap();
        c.close().unwrap();
    }
    let seg = segment_files(dir.path())[0].clone();
    let mut bytes = fs::read(&seg).unwrap();
    bytes.push(0xff); // the bad byte
    let start = bytes.len();
    let reps = (4 << 20) / 11;
    let end = start + 11 * reps;
    for j in 0..reps {
        // Each candidate's frame runs exactly to the end of the file.
        let len = (end - (start + 11 * j) - 8) as u32;
        bytes.extend_from_slice(&len.to_le_bytes());
        bytes.extend_from_slice(&[0, 0, 0, 0, 0xa2, 0x00, 0x01]);
    }
    fs::write(&seg, &bytes).unwrap();
    for h in fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "hint"))
    {
        fs::remove_file(h).unwrap();
    }
    let c = open(dir.path(), 0);
    // The bytes the scan gave up on may hold a newer record of "before":
    // they hide it (docs/CONSISTENCY.md, section 8).
    assert_eq!(get(&c, b"before"), Err(Status::TC_NOT_FOUND));
    assert!(c.stats().corrupt_records >= 1);
    // New records are not hidden behind the bytes the scan gave up on.
    c.put(b"after", b"new", 0).unwrap();
    c.close().unwrap();
    let c = open(dir.path(), 0);
    assert_eq!(get(&c, b"before"), Err(Status::TC_NOT_FOUND));
    assert_eq!(get(&c, b"after"), Ok(b"new".to_vec()));
}

/// Where the older record of the key whose newest record is damaged lies,
/// and how the damaged record's segment is read at open.
#[derive(Clone, Copy, Debug)]
enum Layout {
    /// Both in the one segment, which has no hint (the active one at a crash).
    OneSegment,
    /// The older one in a sealed segment, the damaged one in the last.
    OlderSegment,
    /// The damaged one in a sealed segment whose hint is lost, a later
    /// segment after it.
    SealedWithoutHint,
}

/// A directory where key "k" was "old value", then "new value" (record
/// `newest`), with other keys around them; the files, the segment holding
/// `newest`, and where that record starts and ends in it. With `last`,
/// the new value's record is the last one of the log.
fn overwritten(dir: &Path, layout: Layout, last: bool) -> (PathBuf, usize, usize) {
    let mut o = common::opts(dir, 1);
    o.set_segment_bytes(4096).unwrap();
    let c = Cache::open(&o).unwrap();
    // A put of more than a segment's bytes seals the segment after it.
    let roll = |c: &Cache, name: &[u8]| c.put(name, &[b'r'; 5000], 0).unwrap();
    c.put(b"k", b"old value", 0).unwrap();
    c.put(b"before", b"b", 0).unwrap();
    if !matches!(layout, Layout::OneSegment) {
        roll(&c, b"roll-1");
    }
    c.flush().unwrap();
    let seg = segment_files(dir).last().unwrap().clone();
    let start = fs::metadata(&seg).unwrap().len() as usize;
    c.put(b"k", b"new value", 0).unwrap();
    c.flush().unwrap();
    let end = fs::metadata(&seg).unwrap().len() as usize;
    if matches!(layout, Layout::SealedWithoutHint) {
        roll(&c, b"roll-2");
    }
    if !last {
        c.put(b"later", b"l", 0).unwrap();
    }
    c.close().unwrap();
    assert_eq!(
        segment_files(dir).last() == Some(&seg),
        !matches!(layout, Layout::SealedWithoutHint)
    );
    (seg, start, end)
}

/// docs/CONSISTENCY.md, section 8: a damaged record read without a hint
/// (its key unknown) hides every record before it, so the older value of
/// its key cannot come back; records after it are kept. That holds for the
/// last record's length field too: damaged to run past the end of the
/// file, it read as a write a crash cut short, and "old value" came back
/// (each of those flips failed here before the scan told a whole record
/// from a torn one, `record::whole_but_for_its_length`). Before gaps, the
/// scan skipped the damaged record and "old value" was read back after
/// every flip here.
#[test]
fn a_damaged_newest_record_read_without_a_hint_brings_back_no_older_value() {
    for layout in [Layout::OneSegment, Layout::OlderSegment, Layout::SealedWithoutHint] {
        for last in [false, true] {
            if last && matches!(layout, Layout::SealedWithoutHint) {
                continue; // a later segment follows it
            }
            let src = tempfile::tempdir().unwrap();
            let (seg, start, end) = overwritten(src.path(), layout, last);
            let bytes = fs::read(&seg).unwrap();
            for at in start..end {
                let mut bad = bytes.clone();
                bad[at] ^= 0x01;
                let dir = tempfile::tempdir().unwrap();
                for f in fs::read_dir(src.path()).unwrap().flatten() {
                    let name = f.file_name();
                    let n = name.to_string_lossy();
                    let hint_of_seg = f.path().with_extension("hint") == seg.with_extension("hint");
                    if n.starts_with("index.") || (n.ends_with(".hint") && hint_of_seg) || n.ends_with(".lock") {
                        continue;
                    }
                    let to = dir.path().join(&name);
                    if f.path() == seg {
                        fs::write(to, &bad).unwrap();
                    } else {
                        fs::copy(f.path(), to).unwrap();
                    }
                }
                let c = open(dir.path(), 0);
                let k = get(&c, b"k");
                assert_eq!(k, Err(Status::TC_NOT_FOUND), "{layout:?}, last {last}: flip at {at}");
                assert_eq!(
                    get(&c, b"before"),
                    Err(Status::TC_NOT_FOUND),
                    "{layout:?}, last {last}: flip at {at}"
                );
                if !last {
                    assert_eq!(get(&c, b"later"), Ok(b"l".to_vec()), "{layout:?}: flip at {at}");
                }
                assert!(c.stats().corrupt_records >= 1, "{layout:?}, last {last}: flip at {at}");
                // What the open decided holds after a clean close and another open.
                c.close().unwrap();
                let c = open(dir.path(), 0);
                assert_eq!(get(&c, b"k"), k, "{layout:?}, last {last}: flip at {at}, reopened");
                c.close().unwrap();
                // `tiercache verify` reads the gap as the open did: the index
                // written after it has no slot from before it.
                let report = tiercache::log::verify::verify(dir.path(), None, |_, _| {}).unwrap();
                assert!(report.index.sound(), "{layout:?}: flip at {at}: {:?}", report.index);
            }
        }
    }
}

/// A record numbered below one earlier in the log (damage that passed its
/// checksum: here an old put copied, whole, into a later segment) is never
/// applied, by the first open, which sees the higher number, nor by any
/// open after it, once the segment that held that number is gone (hidden
/// by a gap, then deleted): the first writable open turns it into
/// unreadable bytes (fuzz finding 10).
#[test]
fn a_record_numbered_out_of_order_stays_dead_after_the_segment_that_outnumbered_it_goes() {
    let dir = tempfile::tempdir().unwrap();
    {
        let c = open(dir.path(), 0);
        c.put(b"k", b"old", 0).unwrap();
        c.remove(b"k").unwrap();
        c.close().unwrap();
    }
    log_alone(dir.path());
    let segs = segment_files(dir.path());
    assert_eq!(segs.len(), 1);
    let seg1 = fs::read(&segs[0]).unwrap();
    // The put is the first record, numbered 1; the removal is numbered 2.
    let put_len = 8 + u32::from_le_bytes(seg1[16..20].try_into().unwrap()) as usize;
    let put = &seg1[16..16 + put_len];
    // Segment 2: unreadable bytes (a gap, which hides segment 1), then the
    // copy of the put, numbered 1 again.
    let mut seg2 = seg1[..16].to_vec();
    seg2[8..16].copy_from_slice(&2u64.to_le_bytes());
    seg2.extend_from_slice(&[0xffu8; 24]);
    seg2.extend_from_slice(put);
    fs::write(dir.path().join("0000000002.tcl"), &seg2).unwrap();

    for open_no in 1..=3 {
        let c = open(dir.path(), 0);
        assert_eq!(
            get(&c, b"k"),
            Err(Status::TC_NOT_FOUND),
            "open {open_no}: the removed value is back"
        );
        c.close().unwrap();
    }
}

/// Leaves `dir` to be read from its log alone: no index file, no hint.
fn log_alone(dir: &Path) {
    for f in fs::read_dir(dir).unwrap().flatten() {
        let name = f.file_name().to_string_lossy().into_owned();
        if name.starts_with("index.") || name.ends_with(".hint") {
            fs::remove_file(f.path()).unwrap();
        }
    }
}

/// Fuzz finding 11, by hand. Segment 2 holds a copy of segment 1's first
/// record (numbered out of order: the first writable open blanks it), then
/// a frame whose checksum matches but which holds no record: inside it,
/// from its second byte, a whole record numbered 3, right after segment
/// 1's last. Every read steps over both frames whole: a gap to the end,
/// which hides everything. Read again after the blanking, the search for
/// the next record began in the zeros, looked at every offset, found the
/// record inside the frame, and took the gap before it for nothing lost
/// (its number follows the log's last): `k` had a value no read of the
/// directory had found before, and a read-only open (which blanks nothing)
/// disagreed with the writable one. The blanking now reaches over the
/// frame too.
#[test]
fn a_record_inside_a_frame_after_a_blanked_one_is_never_read() {
    let dir = tempfile::tempdir().unwrap();
    {
        let c = open(dir.path(), 0);
        c.put(b"k", b"old", 0).unwrap();
        c.remove(b"k").unwrap();
        c.put(b"k", b"inside", 0).unwrap();
        c.close().unwrap();
    }
    log_alone(dir.path());
    let segs = segment_files(dir.path());
    assert_eq!(segs.len(), 1);
    let seg1 = fs::read(&segs[0]).unwrap();
    // Records 1 (the put), 2 (the removal) and 3 (the put of "inside").
    let mut records = Vec::new();
    let mut at = 16;
    while at < seg1.len() {
        let len = 8 + u32::from_le_bytes(seg1[at..at + 4].try_into().unwrap()) as usize;
        records.push(&seg1[at..at + len]);
        at += len;
    }
    assert_eq!(records.len(), 3);
    fs::write(&segs[0], [&seg1[..16], records[0], records[1]].concat()).unwrap();
    // A frame around a zero byte (no record begins so) and record 3.
    let payload = [&[0u8][..], records[2]].concat();
    let len = (payload.len() as u32).to_le_bytes();
    let mut crc = crc32fast::Hasher::new();
    crc.update(&len);
    crc.update(&payload);
    let mut seg2 = seg1[..16].to_vec();
    seg2[8..16].copy_from_slice(&2u64.to_le_bytes());
    seg2.extend_from_slice(records[0]);
    seg2.extend_from_slice(&len);
    seg2.extend_from_slice(&crc.finalize().to_le_bytes());
    seg2.extend_from_slice(&payload);
    fs::write(dir.path().join("0000000002.tcl"), &seg2).unwrap();

    let mut read_only = common::opts(dir.path(), 0);
    read_only.read_only = true;
    let c = Cache::open(&read_only).unwrap();
    assert_eq!(get(&c, b"k"), Err(Status::TC_NOT_FOUND), "read-only open");
    drop(c);
    for open_no in 1..=3 {
        let c = open(dir.path(), 0);
        assert_eq!(get(&c, b"k"), Err(Status::TC_NOT_FOUND), "writable open {open_no}");
        c.close().unwrap();
    }
}
