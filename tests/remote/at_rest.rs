//! The remote tier with compression and encryption on (issue 14): caches of
//! one namespace holding the same key share sealed values; nothing in Redis
//! (names, values, sets, dumps, pub/sub messages) holds a key, value or tag
//! in the clear; a cache with another key, or a frame moved to another name
//! or namespace, is refused and counted, never returned; a compressed value
//! is read by a cache without compression; removals and clears still reach
//! the other cache.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use redis::Commands;
use tiercache::meta::Meta;
use tiercache::{Cache, Compression, Loaded, Options, Status};

use super::{counter, data_key, get, open_with, opts, wait_for, RedisServer, NS};

const KEY: [u8; 32] = *b"remote at-rest test key 32 bytes";
const OTHER_KEY: [u8; 32] = *b"another remote key of 32 bytes!!";
/// Values shorter than this are not compressed: the short markers below
/// would be in the clear in Redis were they not encrypted.
const MIN_COMPRESS: u64 = 64;

/// Zstandard for values of `MIN_COMPRESS` bytes or more, and encryption.
pub(super) fn sealed(o: &mut Options) {
    o.set_compression(Compression::TC_COMPRESSION_ZSTD, MIN_COMPRESS);
    o.set_encryption_key(&KEY).unwrap();
}

fn text(n: usize) -> Vec<u8> {
    b"a cache of rendered pages costs several times the disk it needs; "
        .iter()
        .cycle()
        .take(n)
        .copied()
        .collect()
}

fn tagged(tag: &[u8]) -> Meta {
    let mut m = Meta::default();
    m.add_tag(tag).unwrap();
    m
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// Every key name on the server.
fn names(server: &RedisServer) -> Vec<Vec<u8>> {
    let mut r = server.client();
    let mut out = Vec::new();
    let mut cursor = 0u64;
    loop {
        let (next, batch): (u64, Vec<Vec<u8>>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("COUNT")
            .arg(1000)
            .query(&mut r)
            .unwrap();
        out.extend(batch);
        cursor = next;
        if cursor == 0 {
            return out;
        }
    }
}

/// The names of the test namespace's frames.
fn frame_names(server: &RedisServer, ns: &[u8]) -> Vec<Vec<u8>> {
    let hex: String = ns.iter().map(|b| format!("{b:02x}")).collect();
    let start = format!("tc:{hex}:k:").into_bytes();
    names(server).into_iter().filter(|n| n.starts_with(&start)).collect()
}

/// Everything the server holds, as byte strings: each name, its string
/// value or set members, and its `DUMP`.
fn contents(server: &RedisServer) -> Vec<Vec<u8>> {
    let mut r = server.client();
    let mut out = Vec::new();
    for n in names(server) {
        let kind: String = redis::cmd("TYPE").arg(&n).query(&mut r).unwrap();
        match kind.as_str() {
            "string" => out.push(r.get::<_, Vec<u8>>(&n).unwrap()),
            "set" => out.extend(r.smembers::<_, Vec<Vec<u8>>>(&n).unwrap()),
            other => panic!("unexpected type {other} of {}", String::from_utf8_lossy(&n)),
        }
        let dump: Vec<u8> = redis::cmd("DUMP").arg(&n).query(&mut r).unwrap();
        out.push(dump);
        out.push(n);
    }
    out
}

/// A raw subscriber to every channel of the server, as any client could be.
struct Spy {
    stop: Arc<AtomicBool>,
    seen: Arc<Mutex<Vec<Vec<u8>>>>,
    thread: Option<JoinHandle<()>>,
}

impl Spy {
    fn start(server: &RedisServer) -> Spy {
        let stop = Arc::new(AtomicBool::new(false));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (ready, subscribed) = mpsc::channel();
        let url = server.url();
        let thread = {
            let (stop, seen) = (stop.clone(), seen.clone());
            std::thread::spawn(move || {
                let mut con = redis::Client::open(url).unwrap().get_connection().unwrap();
                let mut ps = con.as_pubsub();
                ps.psubscribe("*").unwrap();
                ps.set_read_timeout(Some(Duration::from_millis(20))).unwrap();
                ready.send(()).unwrap();
                while !stop.load(Ordering::Acquire) {
                    match ps.get_message() {
                        Ok(m) => {
                            let mut s = seen.lock().unwrap();
                            s.push(m.get_channel_name().as_bytes().to_vec());
                            s.push(m.get_payload_bytes().to_vec());
                        }
                        Err(e) if e.is_timeout() => {}
                        Err(e) => panic!("spy: {e}"),
                    }
                }
            })
        };
        subscribed.recv().unwrap();
        Spy {
            stop,
            seen,
            thread: Some(thread),
        }
    }

    /// Channel names and payloads seen so far.
    fn seen(&self) -> Vec<Vec<u8>> {
        self.seen.lock().unwrap().clone()
    }
}

impl Drop for Spy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[test]
fn two_processes_share_sealed_values_and_redis_holds_no_plaintext() {
    let server = RedisServer::start();
    let url = server.url();
    let spy = Spy::start(&server);
    let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = open_with(&url, Some(da.path()), &sealed);
    let b = open_with(&url, Some(db.path()), &sealed);
    let seen = |n: u64| wait_for("an invalidation", || counter(&b, "remote_invalidations_received") >= n);
    // A control: a plain namespace's key and value are in the clear, so the
    // search below would find ours if they were.
    let mut o = opts(&url);
    o.set_remote_namespace(b"control-ns").unwrap();
    let control = Cache::open(&o).unwrap();
    control
        .put(b"control-visible-key", b"control-visible-value", 0)
        .unwrap();

    let long = text(20_000);
    a.put(b"alpha-secret-key-1", b"plain-value-marker-1", 0).unwrap();
    a.put_with(
        b"alpha-secret-key-2",
        b"plain-value-marker-2",
        0,
        tagged(b"crimson-tag"),
    )
    .unwrap();
    a.put(b"beta-secret-long", &long, 0).unwrap();
    a.set_loader(Some(Arc::new(|_: &[u8]| Loaded::Value {
        value: b"plain-value-marker-loaded".to_vec(),
        ttl_ms: 0,
    })));
    assert_eq!(get(&a, b"beta-secret-loaded").unwrap(), b"plain-value-marker-loaded");
    seen(4);
    assert_eq!(get(&b, b"alpha-secret-key-1").unwrap(), b"plain-value-marker-1");
    assert_eq!(get(&b, b"alpha-secret-key-2").unwrap(), b"plain-value-marker-2");
    assert_eq!(get(&b, b"beta-secret-long").unwrap(), long);
    assert_eq!(get(&b, b"beta-secret-loaded").unwrap(), b"plain-value-marker-loaded");
    assert_eq!(counter(&b, "remote_hits"), 4);
    assert_eq!(counter(&b, "remote_errors"), 0);

    // Names are keyed hashes; the long value went compressed.
    let frames = frame_names(&server, NS);
    assert_eq!(frames.len(), 4);
    let mut r = server.client();
    let mut largest = 0;
    for n in &frames {
        let tail = &n[n.len() - 32..];
        assert!(tail.iter().all(u8::is_ascii_hexdigit), "{}", String::from_utf8_lossy(n));
        largest = largest.max(r.get::<_, Vec<u8>>(n).unwrap().len());
    }
    assert!(largest < long.len() / 4, "the long value's frame is {largest} bytes");

    let secrets: [&[u8]; 7] = [
        b"alpha-secret",
        b"beta-secret",
        b"plain-value-marker",
        b"crimson-tag",
        b"a cache of rendered",
        b"secret-key",
        b"secret-long",
    ];
    let all = contents(&server);
    for s in [&b"control-visible-key"[..], b"control-visible-value"] {
        assert!(all.iter().any(|c| contains(c, s)), "the control {s:?} was not found");
    }
    for s in secrets {
        for c in &all {
            assert!(!contains(c, s), "{:?} in Redis: {:?}", String::from_utf8_lossy(s), c);
        }
    }

    // Removals and clears reach b, and Redis.
    a.remove_prefix(b"alpha-secret-key-").unwrap();
    seen(5);
    assert_eq!(get(&b, b"alpha-secret-key-1"), Err(Status::TC_NOT_FOUND));
    assert_eq!(get(&b, b"alpha-secret-key-2"), Err(Status::TC_NOT_FOUND));
    assert_eq!(get(&b, b"beta-secret-long").unwrap(), long);
    assert_eq!(frame_names(&server, NS).len(), 2, "the prefix's frames are deleted");
    a.put_with(
        b"gamma-secret-tagged",
        b"plain-value-marker-3",
        0,
        tagged(b"crimson-tag"),
    )
    .unwrap();
    seen(6);
    assert_eq!(get(&b, b"gamma-secret-tagged").unwrap(), b"plain-value-marker-3");
    a.remove_tag(b"crimson-tag").unwrap();
    seen(7);
    assert_eq!(get(&b, b"gamma-secret-tagged"), Err(Status::TC_NOT_FOUND));
    assert_eq!(frame_names(&server, NS).len(), 2, "the tag's frame is deleted");
    a.clear(false).unwrap();
    seen(8);
    assert_eq!(get(&b, b"beta-secret-long"), Err(Status::TC_NOT_FOUND));
    let fresh = open_with(&url, None, &sealed);
    assert_eq!(get(&fresh, b"beta-secret-long"), Err(Status::TC_NOT_FOUND));

    // Every message on the wire was sealed.
    control.remove(b"control-visible-key").unwrap();
    wait_for("the spy to see the control's message", || {
        spy.seen().iter().any(|m| contains(m, b"control-visible-key"))
    });
    let messages = spy.seen();
    assert!(messages.len() >= 2 * 8, "{} messages", messages.len() / 2);
    for s in secrets.iter().chain([&&b"alpha-secret-key-"[..]]) {
        for m in &messages {
            assert!(
                !contains(m, s),
                "{:?} in a message: {:?}",
                String::from_utf8_lossy(s),
                m
            );
        }
    }
}

#[test]
fn another_key_or_no_key_is_refused_and_counted_never_returned() {
    let server = RedisServer::start();
    let url = server.url();
    let mut r = server.client();
    let a = open_with(&url, None, &sealed);
    let other = open_with(&url, None, &|o: &mut Options| o.set_encryption_key(&OTHER_KEY).unwrap());
    let plain = open_with(&url, None, &|_| {});
    a.put(b"k", b"v", 0).unwrap();
    let a_name = frame_names(&server, NS).pop().unwrap();
    let a_frame: Vec<u8> = r.get(&a_name).unwrap();
    // Another key names the key otherwise: it finds nothing there.
    assert_eq!(get(&other, b"k"), Err(Status::TC_NOT_FOUND));
    assert_eq!(get(&plain, b"k"), Err(Status::TC_NOT_FOUND));
    // (Their only errors are a's messages, which they cannot read.)
    for c in [&other, &plain] {
        assert_eq!(counter(c, "remote_misses"), 1);
    }
    // The other key's write: a cannot read its message, so it drops
    // everything, counted.
    other.put(b"k", b"other's", 0).unwrap();
    wait_for("a to refuse the other key's message", || {
        counter(&a, "remote_errors") >= 1
    });
    assert_eq!(counter(&a, "remote_invalidations_received"), 0);
    // Its frame, put where a looks for the key: refused, not returned.
    let other_name = frame_names(&server, NS).into_iter().find(|n| *n != a_name).unwrap();
    let other_frame: Vec<u8> = r.get(&other_name).unwrap();
    let _: () = r.set(&a_name, &other_frame).unwrap();
    assert_eq!(get(&a, b"k"), Err(Status::TC_NOT_FOUND), "neither garbage nor stale");
    assert_eq!(counter(&a, "remote_errors"), 2, "the message, then the frame");
    // A sealed frame where a cache without a key looks: refused too.
    let _: () = r.set(data_key(b"k"), &a_frame).unwrap();
    let before = counter(&plain, "remote_errors");
    assert_eq!(get(&plain, b"k"), Err(Status::TC_NOT_FOUND));
    assert_eq!(counter(&plain, "remote_errors"), before + 1);
    for c in [&a, &other, &plain] {
        assert_eq!(counter(c, "remote_state"), 1, "refusing does not degrade the tier");
    }
}

#[test]
fn a_frame_moved_to_another_name_or_namespace_is_refused() {
    let server = RedisServer::start();
    let url = server.url();
    let mut r = server.client();
    let a = open_with(&url, None, &sealed);
    a.put(b"k1", b"one", 0).unwrap();
    let n1 = frame_names(&server, NS).pop().unwrap();
    a.put(b"k2", b"two", 0).unwrap();
    let n2 = frame_names(&server, NS).into_iter().find(|n| *n != n1).unwrap();
    let raw1: Vec<u8> = r.get(&n1).unwrap();
    let _: () = r.set(&n2, &raw1).unwrap();
    let b = open_with(&url, None, &sealed);
    assert_eq!(get(&b, b"k2"), Err(Status::TC_NOT_FOUND));
    assert_eq!(get(&b, b"k1").unwrap(), b"one");
    assert_eq!(counter(&b, "remote_errors"), 1);

    // The same key's frame copied into another namespace, under the name
    // that namespace gives the key.
    let in_ns2 = |o: &mut Options| {
        sealed(o);
        o.set_remote_namespace(b"ns2").unwrap();
    };
    let a2 = open_with(&url, None, &in_ns2);
    a2.put(b"k1", b"ns2's", 0).unwrap();
    let m1 = frame_names(&server, b"ns2").pop().unwrap();
    assert_ne!(m1[m1.len() - 32..], n1[n1.len() - 32..], "names differ by namespace");
    let _: () = r.set(&m1, &raw1).unwrap();
    let b2 = open_with(&url, None, &in_ns2);
    assert_eq!(get(&b2, b"k1"), Err(Status::TC_NOT_FOUND));
    assert_eq!(counter(&b2, "remote_errors"), 1);
}

#[test]
fn a_compressed_value_is_read_by_a_cache_without_compression() {
    let server = RedisServer::start();
    let url = server.url();
    let long = text(10_000);
    let zstd = |o: &mut Options| o.set_compression(Compression::TC_COMPRESSION_ZSTD, 0);
    let a = open_with(&url, None, &zstd);
    let b = open_with(&url, None, &|_| {});
    a.put(b"long", &long, 0).unwrap();
    let raw: Vec<u8> = server.client().get(data_key(b"long")).unwrap();
    assert!(raw.len() < long.len() / 4, "{} bytes in Redis", raw.len());
    assert_eq!(get(&b, b"long").unwrap(), long);
    // And the other way, encrypted: b compresses, a does not.
    let key_only = |o: &mut Options| o.set_encryption_key(&KEY).unwrap();
    let mut o = opts(&url);
    sealed(&mut o);
    o.set_remote_namespace(b"sealed-ns").unwrap();
    let c = Cache::open(&o).unwrap();
    c.put(b"long", &long, 0).unwrap();
    let mut o = opts(&url);
    key_only(&mut o);
    o.set_remote_namespace(b"sealed-ns").unwrap();
    let d = Cache::open(&o).unwrap();
    assert_eq!(get(&d, b"long").unwrap(), long);
    assert_eq!(counter(&d, "remote_hits"), 1);
}
