//! Values at rest in L2: compression and encryption through the public API.
//! What an encrypted directory lets out (nothing readable, no unkeyed key
//! hash), the key check at open, reopening with other settings, records
//! this version must not serve (unknown codec, a decompression bomb), and
//! what compaction does to sealed records. The damage, crash and kill tests
//! run in these modes too (`tests/recovery.rs`, `tests/crash.rs`).

mod common;

use std::fs;
use std::path::Path;

use common::{get, AtRest, TEST_KEY};
use tiercache::meta::Meta;
use tiercache::record::{self, Kind, RecordRef};
use tiercache::{Cache, Compression, Options, Status};

fn opts(dir: &Path, c: Compression, key: Option<&[u8]>) -> Options {
    let mut o = Options::with_dir(dir);
    o.set_compression(c, 0);
    if let Some(k) = key {
        o.set_encryption_key(k).unwrap();
    }
    o
}

/// Every file of `dir`, by name.
fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn no_file_of_an_encrypted_directory_holds_a_key_value_tag_or_key_hash_in_the_clear() {
    for c in [Compression::TC_COMPRESSION_NONE, Compression::TC_COMPRESSION_ZSTD] {
        let dir = tempfile::tempdir().unwrap();
        let mut o = opts(dir.path(), c, Some(&TEST_KEY));
        // Small segments, so that sealed segments get hint files.
        o.set_segment_bytes(4096).unwrap();
        let cache = Cache::open(&o).unwrap();
        let mut plaintexts: Vec<Vec<u8>> = Vec::new();
        for i in 0..200 {
            let key = format!("secret-key-{i:03}").into_bytes();
            let value = format!("secret-value-{i:03}:").repeat(1 + i % 5).into_bytes();
            let mut meta = Meta::default();
            meta.add_tag(format!("secret-tag-{i:03}").as_bytes()).unwrap();
            cache.put_with(&key, &value, 0, meta).unwrap();
            if i % 7 == 0 {
                cache.remove(&key).unwrap();
            }
            plaintexts.push(key);
            plaintexts.push(format!("secret-value-{i:03}").into_bytes());
            plaintexts.push(format!("secret-tag-{i:03}").into_bytes());
        }
        cache.compact().unwrap();
        cache.close().unwrap();
        let all = common::dir_files(dir.path());
        assert!(
            all.iter().any(|(n, _)| n.ends_with(".hint")),
            "no hint file was written"
        );
        for (name, bytes) in &all {
            for p in &plaintexts {
                assert!(!contains(bytes, p), "{name} holds {:?}", String::from_utf8_lossy(p));
            }
            for p in [&b"secret"[..], b"TIERCACHE", &TEST_KEY[..8]] {
                assert!(!contains(bytes, p), "{name} holds {:?}", String::from_utf8_lossy(p));
            }
            // The unkeyed hash would let a guess be checked against a hint.
            for i in 0..200 {
                let h = tiercache::log::key_hash(format!("secret-key-{i:03}").as_bytes());
                assert!(!contains(bytes, &h.to_le_bytes()), "{name} holds the xxh3 of key {i}");
            }
        }
        // And everything reads back.
        let cache = Cache::open(&o).unwrap();
        for i in 0..200 {
            let key = format!("secret-key-{i:03}");
            let want = if i % 7 == 0 {
                Err(Status::TC_NOT_FOUND)
            } else {
                Ok(format!("secret-value-{i:03}:").repeat(1 + i % 5).into_bytes())
            };
            assert_eq!(get(&cache, key.as_bytes()), want, "{key}");
        }
        assert_eq!(cache.stats().corrupt_records, 0);
    }
}

#[test]
fn the_key_is_checked_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let c = Cache::open(&opts(dir.path(), Compression::TC_COMPRESSION_NONE, Some(&TEST_KEY))).unwrap();
    c.put(b"k", b"v", 0).unwrap();
    c.close().unwrap();
    let mut other = TEST_KEY;
    other[31] ^= 1;
    let e = Cache::open(&opts(dir.path(), Compression::TC_COMPRESSION_NONE, Some(&other)))
        .err()
        .unwrap();
    assert_eq!(e.status(), Status::TC_INVALID_ARGUMENT);
    assert!(e.message().contains("wrong encryption key"), "{}", e.message());
    let e = Cache::open(&Options::with_dir(dir.path())).err().unwrap();
    assert_eq!(e.status(), Status::TC_INVALID_ARGUMENT);
    assert!(e.message().contains("is encrypted"), "{}", e.message());
    // The right key still opens it, whatever the compression setting.
    let c = Cache::open(&opts(dir.path(), Compression::TC_COMPRESSION_LZ4, Some(&TEST_KEY))).unwrap();
    assert_eq!(get(&c, b"k"), Ok(b"v".to_vec()));
    c.close().unwrap();

    // A plain directory with records does not open with a key.
    let plain = tempfile::tempdir().unwrap();
    let c = Cache::open(&Options::with_dir(plain.path())).unwrap();
    c.put(b"k", b"v", 0).unwrap();
    c.close().unwrap();
    let e = Cache::open(&opts(plain.path(), Compression::TC_COMPRESSION_NONE, Some(&TEST_KEY)))
        .err()
        .unwrap();
    assert_eq!(e.status(), Status::TC_INVALID_ARGUMENT);
    assert!(
        e.message().contains("written without an encryption key"),
        "{}",
        e.message()
    );
    assert!(!plain.path().join(tiercache::log::KEYCHECK_FILE).exists());
    let c = Cache::open(&Options::with_dir(plain.path())).unwrap();
    assert_eq!(get(&c, b"k"), Ok(b"v".to_vec()));
    c.close().unwrap();

    // A key that is not 32 bytes is refused when set.
    let mut o = Options::new();
    for len in [0, 16, 31, 33] {
        let e = o.set_encryption_key(&vec![1; len]).unwrap_err();
        assert_eq!(e.status(), Status::TC_INVALID_ARGUMENT);
    }
}

#[test]
fn a_directory_reopens_with_any_compression_setting() {
    let dir = tempfile::tempdir().unwrap();
    let text = |i: usize| {
        format!("line {i} of a very repetitive document; ")
            .repeat(40)
            .into_bytes()
    };
    let settings = [
        Compression::TC_COMPRESSION_LZ4,
        Compression::TC_COMPRESSION_ZSTD,
        Compression::TC_COMPRESSION_NONE,
    ];
    for (round, c) in settings.into_iter().enumerate() {
        let cache = Cache::open(&opts(dir.path(), c, None)).unwrap();
        for i in 0..10 {
            cache.put(format!("r{round}-{i}").as_bytes(), &text(i), 0).unwrap();
        }
        let saved = cache.counter("compressed_bytes_saved").unwrap();
        assert_eq!(saved > 0, c != Compression::TC_COMPRESSION_NONE, "{c:?}: {saved}");
        // L1 keeps the value as it is.
        assert_eq!(cache.info(b"r0-3").unwrap().value_len, text(3).len() as u64);
        cache.close().unwrap();
        let cache = Cache::open(&Options::with_dir(dir.path())).unwrap();
        for r in 0..=round {
            for i in 0..10 {
                assert_eq!(
                    get(&cache, format!("r{r}-{i}").as_bytes()),
                    Ok(text(i)),
                    "{c:?} r{r}-{i}"
                );
                let info = cache.info(format!("r{r}-{i}").as_bytes()).unwrap();
                assert_eq!(info.value_len, text(i).len() as u64);
            }
        }
        assert_eq!(cache.stats().corrupt_records, 0);
        cache.close().unwrap();
    }
    // Compression on: the log is smaller than the values.
    let small = tempfile::tempdir().unwrap();
    let cache = Cache::open(&opts(small.path(), Compression::TC_COMPRESSION_ZSTD, None)).unwrap();
    for i in 0..50 {
        cache.put(format!("k{i}").as_bytes(), &text(i), 0).unwrap();
    }
    let s = cache.stats();
    assert!(
        s.l2_bytes * 5 < 50 * text(10).len() as u64,
        "{} bytes on disk",
        s.l2_bytes
    );
}

/// Appends a put of `key` packed by `codec` (raw bytes `packed`) with the
/// next sequence number to the directory's only segment.
fn append_record(dir: &Path, key: &[u8], packed: &[u8], codec: u64, seq: u64) {
    let seg = dir.join("0000000001.tcl");
    let mut bytes = fs::read(&seg).unwrap();
    record::encode(
        &mut bytes,
        &RecordRef {
            kind: Kind::Put,
            key,
            value: packed,
            expires_at: 0,
            written_at: 1,
            seq,
            meta: &[],
            codec,
            sealed: &[],
        },
    );
    fs::write(&seg, &bytes).unwrap();
}

#[test]
fn a_record_of_an_unknown_codec_or_a_bomb_is_counted_never_served_and_still_hides_older_values() {
    let dir = tempfile::tempdir().unwrap();
    let c = Cache::open(&Options::with_dir(dir.path())).unwrap();
    c.put(b"newer codec", b"old value", 0).unwrap();
    c.put(b"bomb", b"old value", 0).unwrap();
    c.close().unwrap();
    append_record(dir.path(), b"newer codec", b"\x05\0\0\0hello", 77, 100);
    // A zstd frame of 64 MiB of zeros: claims more than the default 16 MiB.
    let big = vec![0u8; 64 << 20];
    let bomb = tiercache::seal::pack(Compression::TC_COMPRESSION_ZSTD, &big).unwrap();
    drop(big);
    assert!(bomb.len() < 64 * 1024);
    append_record(dir.path(), b"bomb", &bomb, 2, 101);
    let c = Cache::open(&Options::with_dir(dir.path())).unwrap();
    for key in [&b"newer codec"[..], b"bomb"] {
        assert_eq!(get(&c, key), Err(Status::TC_NOT_FOUND), "{key:?}");
        assert_eq!(c.info(key).unwrap_err().status(), Status::TC_NOT_FOUND);
    }
    assert!(c.stats().corrupt_records >= 2, "{}", c.stats().corrupt_records);
    // Writing the key again replaces the unreadable record.
    c.put(b"bomb", b"new", 0).unwrap();
    c.close().unwrap();
    let c = Cache::open(&Options::with_dir(dir.path())).unwrap();
    assert_eq!(get(&c, b"bomb"), Ok(b"new".to_vec()));
    assert_eq!(get(&c, b"newer codec"), Err(Status::TC_NOT_FOUND));
}

#[test]
fn compaction_and_retirement_reseal_records_at_their_new_place() {
    for at in [AtRest::ZstdEncrypted, AtRest::Encrypted, AtRest::Lz4] {
        let dir = tempfile::tempdir().unwrap();
        let mut o = at.with_dir(dir.path());
        o.set_segment_bytes(4096).unwrap();
        o.l2_max_bytes = 64 * 1024;
        let value = |r: usize, i: usize| format!("round {r} value {i}; ").repeat(8).into_bytes();
        let c = Cache::open(&o).unwrap();
        for r in 0..30 {
            for i in 0..20 {
                c.put(format!("k{i}").as_bytes(), &value(r, i), 0).unwrap();
                // Read marks make retirement readmit some entries.
                if i % 3 == 0 {
                    let _ = c.get(format!("k{}", (i + 7) % 20).as_bytes());
                }
            }
        }
        c.compact().unwrap();
        assert!(c.stats().compactions > 0);
        c.close().unwrap();
        let c = Cache::open(&o).unwrap();
        for i in 0..20 {
            assert_eq!(get(&c, format!("k{i}").as_bytes()), Ok(value(29, i)), "{at:?} k{i}");
        }
        assert_eq!(c.stats().corrupt_records, 0, "{at:?}");
        c.check_invariants().unwrap();
        // A clear record is sealed like any other, and hides what it should.
        c.clear(false).unwrap();
        c.put(b"after", b"clear", 0).unwrap();
        c.close().unwrap();
        let c = Cache::open(&o).unwrap();
        assert_eq!(get(&c, b"k3"), Err(Status::TC_NOT_FOUND), "{at:?}");
        assert_eq!(get(&c, b"after"), Ok(b"clear".to_vec()), "{at:?}");
        assert_eq!(c.stats().corrupt_records, 0, "{at:?}");
    }
}
