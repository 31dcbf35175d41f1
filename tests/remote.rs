//! The shared remote tier, against real `redis-server` processes
//! (tests/common/redis_server.rs): values shared between caches of one
//! namespace, promotion, TTLs, removals and clears reaching the server,
//! invalidation across caches, values in Redis treated as untrusted input,
//! and faults (server killed, frozen, restarted, one cache partitioned).
//!
//! Each cache here stands for a process: caches share nothing but the
//! server (the fleet test in `fleet_single_flight` uses real processes).

mod common;

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use common::redis_server::{between_halves, heard, wait_for, Proxy, RedisServer};
use redis::Commands;
use tiercache::{Cache, Loaded, Options, Status};

const NS: &[u8] = b"test-ns";

fn opts(url: &str) -> Options {
    let mut o = Options::new();
    o.set_remote(Some(url)).unwrap();
    o.set_remote_namespace(NS).unwrap();
    o.set_remote_timeout(200).unwrap();
    o
}

fn open(url: &str) -> Cache {
    Cache::open(&opts(url)).unwrap()
}

/// A cache of the test namespace on `url`, with the directory `dir` if
/// given, and what `with` adds to its options.
fn open_with(url: &str, dir: Option<&Path>, with: &dyn Fn(&mut Options)) -> Cache {
    let mut o = opts(url);
    o.dir = dir.map(Path::to_path_buf);
    with(&mut o);
    Cache::open(&o).unwrap()
}

/// Two caches of the test namespace on `url`, standing for two processes:
/// `a` in memory only, `b` with the directory `dir` if given; `with` adds
/// the options both share.
fn pair_with(url: &str, dir: Option<&Path>, with: &dyn Fn(&mut Options)) -> (Cache, Cache) {
    (open_with(url, None, with), open_with(url, dir, with))
}

/// A server, `a` on it, and `b` on it behind a proxy (which can cut `b` off
/// or hold what reaches it).
fn behind_a_proxy() -> (RedisServer, Proxy, Cache, Cache) {
    let server = RedisServer::start();
    let proxy = Proxy::to(server.port);
    let a = open(&server.url());
    let b = open(&proxy.url());
    (server, proxy, a, b)
}

/// `pair_with` with the default options, on `server`.
fn pair(server: &RedisServer, dir: Option<&Path>) -> (Cache, Cache) {
    pair_with(&server.url(), dir, &|_| {})
}

fn counter(c: &Cache, name: &str) -> u64 {
    c.counter(name).unwrap_or_else(|| panic!("no counter {name}"))
}

fn get(c: &Cache, k: &[u8]) -> Result<Vec<u8>, Status> {
    common::get(c, k)
}

/// A loader that answers `value(key)` (no TTL), and its count of calls.
fn counting_loader(
    value: impl Fn(&[u8]) -> Vec<u8> + Send + Sync + 'static,
) -> (Arc<AtomicU64>, Arc<dyn tiercache::Loader>) {
    let loads = Arc::new(AtomicU64::new(0));
    let l = loads.clone();
    let loader = Arc::new(move |k: &[u8]| {
        l.fetch_add(1, Ordering::SeqCst);
        Loaded::Value {
            value: value(k),
            ttl_ms: 0,
        }
    });
    (loads, loader)
}

/// The Redis key of a cache key in the test namespace.
fn data_key(key: &[u8]) -> Vec<u8> {
    let hex: String = NS.iter().map(|b| format!("{b:02x}")).collect();
    [format!("tc:{hex}:k:").as_bytes(), key].concat()
}

#[test]
fn unset_nothing_changes() {
    let c = Cache::open(&Options::new()).unwrap();
    assert_eq!(counter(&c, "remote_state"), 0);
    c.put(b"k", b"v", 0).unwrap();
    assert_eq!(get(&c, b"k").unwrap(), b"v");
    for n in [
        "remote_hits",
        "remote_misses",
        "remote_errors",
        "remote_invalidations_received",
    ] {
        assert_eq!(counter(&c, n), 0, "{n}");
    }
}

/// Waits for `c`'s remote tier to be up. An open waits for the
/// subscription's first try only, which may time out (the tests' 200 ms) on
/// a loaded machine; a test that means a tier that is up waits for the
/// later tries (as `remote_cluster.rs` does), and says why if it never is.
fn up(c: &Cache) {
    let end = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while counter(c, "remote_state") != 1 {
        assert!(
            std::time::Instant::now() < end,
            "the tier never came up: {:?}",
            c.remote_reason()
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

#[test]
fn bad_options_are_refused_with_a_reason() {
    let mut o = Options::new();
    for url in ["nonsense", "http://h:1", "redis://", "redis+cluster://a:1,,b:2"] {
        let e = o.set_remote(Some(url)).unwrap_err();
        assert_eq!(e.status(), Status::TC_INVALID_ARGUMENT, "{url}");
        assert!(e.message().starts_with("url:"), "{url}: {}", e.message());
    }
    assert_eq!(
        o.set_remote_namespace(&[b'n'; 256]).unwrap_err().status(),
        Status::TC_INVALID_ARGUMENT
    );
    assert_eq!(
        o.set_remote_namespace(b"").unwrap_err().status(),
        Status::TC_INVALID_ARGUMENT
    );
    o.set_remote_namespace(&[b'n'; 255]).unwrap();
    assert_eq!(
        o.set_remote_secret(&[1; 15]).unwrap_err().status(),
        Status::TC_INVALID_ARGUMENT
    );
    o.set_remote_secret(&[1; 16]).unwrap();
    assert_eq!(
        o.set_remote_timeout(0).unwrap_err().status(),
        Status::TC_INVALID_ARGUMENT
    );
}

#[test]
fn a_put_in_one_cache_is_a_remote_hit_in_another_and_is_promoted() {
    let server = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = pair(&server, Some(dir.path()));
    up(&a);
    up(&b);

    a.put(b"k", b"v1", 0).unwrap();
    // (A value read before its own invalidation arrives is dropped again.)
    wait_for("the invalidation", || counter(&b, "remote_invalidations_received") >= 1);
    assert_eq!(get(&b, b"k").unwrap(), b"v1");
    assert_eq!(counter(&b, "remote_hits"), 1);
    // Promoted: memory, and disk (it is found there after memory is cleared).
    assert_eq!(get(&b, b"k").unwrap(), b"v1");
    assert_eq!(counter(&b, "l1_hits"), 1);
    b.clear(true).unwrap();
    assert_eq!(get(&b, b"k").unwrap(), b"v1");
    assert_eq!(counter(&b, "l2_hits"), 1);
    assert_eq!(counter(&b, "remote_hits"), 1);

    assert_eq!(get(&b, b"absent"), Err(Status::TC_NOT_FOUND));
    assert_eq!(counter(&b, "remote_misses"), 1);
    assert_eq!(b.info(b"k").unwrap().tier, 1);
    a.put(b"only-remote", b"xyz", 0).unwrap();
    wait_for("the invalidation", || counter(&b, "remote_invalidations_received") >= 2);
    let i = b.info(b"only-remote").unwrap();
    assert_eq!((i.tier, i.value_len), (3, 3));
}

#[test]
fn puts_and_loads_carry_their_ttl_to_redis() {
    let server = RedisServer::start();
    let a = open(&server.url());
    a.put(b"ttl", b"v", 60_000).unwrap();
    a.put(b"forever", b"v", 0).unwrap();
    a.set_loader(Some(Arc::new(|_: &[u8]| Loaded::Value {
        value: b"loaded".to_vec(),
        ttl_ms: 30_000,
    })));
    assert_eq!(get(&a, b"lk").unwrap(), b"loaded");
    let mut r = server.client();
    let pttl: i64 = r.pttl(data_key(b"ttl")).unwrap();
    assert!(pttl > 50_000 && pttl <= 60_000, "{pttl}");
    let pttl: i64 = r.pttl(data_key(b"lk")).unwrap();
    assert!(pttl > 20_000 && pttl <= 30_000, "{pttl}");
    let pttl: i64 = r.pttl(data_key(b"forever")).unwrap();
    assert_eq!(pttl, -1);

    // The loader's answer is shared: another cache does not load it again.
    let b = open(&server.url());
    let (loads, loader) = counting_loader(move |_: &[u8]| b"other".to_vec());
    b.set_loader(Some(loader));
    assert_eq!(get(&b, b"lk").unwrap(), b"loaded");
    assert_eq!(loads.load(Ordering::SeqCst), 0);
}

#[test]
fn writes_removals_and_clears_invalidate_the_other_caches() {
    let server = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = pair(&server, Some(dir.path()));
    let seen = |n: u64| wait_for("an invalidation", || counter(&b, "remote_invalidations_received") >= n);

    a.put(b"k", b"v1", 0).unwrap();
    seen(1);
    assert_eq!(get(&b, b"k").unwrap(), b"v1");
    a.put(b"k", b"v2", 0).unwrap();
    seen(2);
    assert_eq!(get(&b, b"k").unwrap(), b"v2");
    a.remove(b"k").unwrap();
    seen(3);
    assert_eq!(get(&b, b"k"), Err(Status::TC_NOT_FOUND));

    // Its own writes are not invalidations.
    b.put(b"mine", b"m", 0).unwrap();
    assert_eq!(get(&b, b"mine").unwrap(), b"m");

    for k in [&b"p/1"[..], b"p/2", b"q/1"] {
        a.put(k, b"x", 0).unwrap();
    }
    seen(6);
    for k in [&b"p/1"[..], b"p/2", b"q/1"] {
        assert_eq!(get(&b, k).unwrap(), b"x");
    }
    a.remove_prefix(b"p/").unwrap();
    seen(7);
    assert_eq!(get(&b, b"p/1"), Err(Status::TC_NOT_FOUND));
    assert_eq!(get(&b, b"p/2"), Err(Status::TC_NOT_FOUND));
    assert_eq!(get(&b, b"q/1").unwrap(), b"x");
    let mut r = server.client();
    assert!(!r.exists::<_, bool>(data_key(b"p/1")).unwrap());
    assert!(r.exists::<_, bool>(data_key(b"q/1")).unwrap());

    let mut m = tiercache::meta::Meta::default();
    m.add_tag(b"red").unwrap();
    a.put_with(b"tagged", b"t", 0, m).unwrap();
    seen(8);
    assert_eq!(get(&b, b"tagged").unwrap(), b"t");
    a.remove_tag(b"red").unwrap();
    seen(9);
    assert_eq!(get(&b, b"tagged"), Err(Status::TC_NOT_FOUND));
    assert!(!r.exists::<_, bool>(data_key(b"tagged")).unwrap());

    // A clear is one new generation; older values are refused after it.
    let hex: String = NS.iter().map(|b| format!("{b:02x}")).collect();
    let gen: u64 = r.get(format!("tc:{hex}:gen")).unwrap_or(0);
    a.clear(false).unwrap();
    seen(10);
    assert!(r.get::<_, u64>(format!("tc:{hex}:gen")).unwrap() > gen);
    assert_eq!(get(&b, b"q/1"), Err(Status::TC_NOT_FOUND));
    assert!(
        r.exists::<_, bool>(data_key(b"q/1")).unwrap(),
        "left to expire, refused by generation"
    );
    let c = open(&server.url());
    assert_eq!(get(&c, b"q/1"), Err(Status::TC_NOT_FOUND));
    a.put(b"after", b"new", 0).unwrap();
    assert_eq!(get(&c, b"after").unwrap(), b"new");
}

#[test]
fn batches_go_to_the_server_together() {
    let server = RedisServer::start();
    let (a, b) = pair(&server, None);
    let keys: Vec<Vec<u8>> = (0..100).map(|i| format!("key{i}").into_bytes()).collect();
    let pairs: Vec<(&[u8], &[u8])> = keys.iter().map(|k| (&k[..], &b"v"[..])).collect();
    a.put_many(&pairs, 0).unwrap();
    // (A value read before its own invalidation arrives is dropped again.)
    wait_for("the invalidations", || {
        counter(&b, "remote_invalidations_received") >= 100
    });
    let refs: Vec<&[u8]> = keys.iter().map(|k| &k[..]).collect();
    let got = b.get_many(&refs);
    assert!(got.iter().all(|r| r.as_deref().ok() == Some(&b"v"[..])));
    assert_eq!(counter(&b, "remote_hits"), 100);
    // Now all in L1: no more remote reads.
    let got = b.get_many(&refs);
    assert!(got.iter().all(|r| r.is_ok()));
    assert_eq!(counter(&b, "l1_hits"), 100);
    assert_eq!(counter(&b, "remote_hits") + counter(&b, "remote_misses"), 100);
}

/// Writes a value straight into Redis, as any client of the server could.
fn plant(server: &RedisServer, key: &[u8], raw: &[u8]) {
    let mut r = server.client();
    let _: () = r.set(data_key(key), raw).unwrap();
}

#[test]
fn forged_truncated_and_foreign_values_are_refused_and_counted() {
    let server = RedisServer::start();
    let secret = b"0123456789abcdef-secret";
    let open_signed = |ns: &[u8], secret: &[u8]| {
        let mut o = opts(&server.url());
        o.set_remote_namespace(ns).unwrap();
        o.set_remote_secret(secret).unwrap();
        Cache::open(&o).unwrap()
    };
    let a = open_signed(NS, secret);
    a.put(b"genuine", b"value", 0).unwrap();
    let mut r = server.client();
    let genuine: Vec<u8> = r.get(data_key(b"genuine")).unwrap();

    let b = open_signed(NS, secret);
    assert_eq!(get(&b, b"genuine").unwrap(), b"value");

    // The same frame under another key; cut short; a bit flipped; garbage.
    plant(&server, b"moved", &genuine);
    plant(&server, b"short", &genuine[..genuine.len() - 1]);
    let mut flipped = genuine.clone();
    flipped[50] ^= 0x40;
    plant(&server, b"flipped", &flipped);
    plant(&server, b"garbage", b"not a frame at all");
    // Signed with another secret; unsigned (a client without the secret).
    let other = open_signed(b"other-ns", b"another secret, 16+ bytes");
    let mut o = opts(&server.url());
    o.set_remote_namespace(b"unsigned-ns").unwrap();
    let unsigned = Cache::open(&o).unwrap();
    other.put(b"x", b"forged", 0).unwrap();
    unsigned.put(b"x", b"forged", 0).unwrap();
    let hex = |ns: &[u8]| ns.iter().map(|b| format!("{b:02x}")).collect::<String>();
    let forged: Vec<u8> = r.get(format!("tc:{}:k:x", hex(b"other-ns"))).unwrap();
    let plain: Vec<u8> = r.get(format!("tc:{}:k:x", hex(b"unsigned-ns"))).unwrap();
    plant(&server, b"x", &forged);
    plant(&server, b"y", &plain);
    // A frame of this very namespace and secret, but of another namespace's
    // signature: a value copied across namespaces.
    let foreign = open_signed(b"foreign-ns", secret);
    foreign.put(b"z", b"foreign", 0).unwrap();
    let f: Vec<u8> = r.get(format!("tc:{}:k:z", hex(b"foreign-ns"))).unwrap();
    plant(&server, b"z", &f);

    let before = counter(&b, "remote_errors");
    let bad = [&b"moved"[..], b"short", b"flipped", b"garbage", b"x", b"y", b"z"];
    for k in bad {
        assert_eq!(get(&b, k), Err(Status::TC_NOT_FOUND), "{}", String::from_utf8_lossy(k));
    }
    assert_eq!(counter(&b, "remote_errors") - before, bad.len() as u64);
    assert_eq!(
        counter(&b, "remote_state"),
        1,
        "refusing a value does not degrade the tier"
    );
}

#[test]
fn a_dead_server_degrades_the_tier_and_it_recovers_by_itself() {
    let mut server = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let mut o = opts(&server.url());
    o.dir = Some(dir.path().to_path_buf());
    let a = Cache::open(&o).unwrap();
    let (loads, loader) = counting_loader(move |k: &[u8]| [b"loaded:", k].concat());
    a.set_loader(Some(loader));
    a.put(b"k", b"v", 0).unwrap();
    server.kill();
    // Every call answers from L1, L2 and the loader; none fails.
    wait_for("the tier to degrade", || {
        let _ = a.put(b"probe", b"p", 0);
        counter(&a, "remote_state") == 2
    });
    assert!(!a.remote_reason().unwrap().is_empty());
    a.put(b"while-down", b"w", 0).unwrap();
    assert_eq!(get(&a, b"k").unwrap(), b"v");
    assert_eq!(get(&a, b"while-down").unwrap(), b"w");
    assert_eq!(get(&a, b"new").unwrap(), b"loaded:new");
    assert_eq!(loads.load(Ordering::SeqCst), 1);
    a.remove(b"k").unwrap();
    assert!(!a.contains(b"k").unwrap());
    server.restart();
    wait_for("the tier to recover", || counter(&a, "remote_state") == 1);
    // What a wrote while the tier was down is dropped when it recovers
    // (another process may have written the key since, and a cannot tell
    // which came later): the loader answers.
    assert_eq!(get(&a, b"while-down").unwrap(), b"loaded:while-down");
    // It works again: another cache sees new writes.
    a.put(b"after", b"x", 0).unwrap();
    let b = open(&server.url());
    assert_eq!(get(&b, b"after").unwrap(), b"x");
}

#[test]
fn a_server_down_at_open_leaves_the_cache_open_and_degraded() {
    let port = common::redis_server::free_port();
    let a = open(&format!("redis://127.0.0.1:{port}"));
    assert_eq!(counter(&a, "remote_state"), 2);
    assert!(!a.remote_reason().unwrap().is_empty());
    a.put(b"k", b"v", 0).unwrap();
    assert_eq!(get(&a, b"k").unwrap(), b"v");
    assert_eq!(get(&a, b"nope"), Err(Status::TC_NOT_FOUND));
}

#[test]
fn a_wrong_password_leaves_the_cache_open_and_degraded_with_the_reason() {
    let server = RedisServer::start_with(&["--requirepass", "right-password"]);
    let a = open(&format!("redis://:wrong-password@127.0.0.1:{}", server.port));
    assert_eq!(counter(&a, "remote_state"), 2);
    let why = a.remote_reason().unwrap();
    assert!(
        why.to_lowercase().contains("auth") || why.contains("WRONGPASS"),
        "{why}"
    );
    let ok = open(&format!("redis://:right-password@127.0.0.1:{}", server.port));
    up(&ok);
    ok.put(b"k", b"v", 0).unwrap();
    assert_eq!(
        get(
            &open(&format!("redis://:right-password@127.0.0.1:{}", server.port)),
            b"k"
        )
        .unwrap(),
        b"v"
    );
}

#[test]
fn a_frozen_server_costs_a_timeout_then_nothing() {
    let server = RedisServer::start();
    let a = open(&server.url());
    a.put(b"k", b"v", 0).unwrap();
    a.clear(true).unwrap(); // only remote has it now
    server.freeze();
    // The first call waits for the timeout and misses; the tier is degraded,
    // and later calls do not wait for it.
    assert_eq!(get(&a, b"k"), Err(Status::TC_NOT_FOUND));
    assert_eq!(counter(&a, "remote_state"), 2);
    a.put(b"k2", b"v2", 0).unwrap();
    assert_eq!(get(&a, b"k2").unwrap(), b"v2");
    server.thaw();
    wait_for("the tier to recover", || counter(&a, "remote_state") == 1);
    assert_eq!(get(&a, b"k").unwrap(), b"v");
}

/// Cuts the proxy `c` reaches the server through, and waits until `c` has
/// noticed (its tier degraded).
fn cut_off(proxy: &Proxy, c: &Cache) {
    proxy.cut();
    wait_for("the cache to see the partition", || {
        let _ = c.get(b"probe");
        counter(c, "remote_state") == 2
    });
}

/// Heals the proxy and waits until `c`'s tier is ok again.
fn back(proxy: &Proxy, c: &Cache) {
    proxy.heal();
    wait_for("the cache to reconnect", || counter(c, "remote_state") == 1);
}

/// The system clock, ms since the epoch (to start a manual clock at).
fn wall_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

#[test]
fn a_partitioned_cache_drops_what_it_cannot_vouch_for() {
    let server = RedisServer::start();
    let proxy = Proxy::to(server.port);
    let a = open(&server.url());
    let dir = tempfile::tempdir().unwrap();
    let mut ob = opts(&proxy.url());
    ob.dir = Some(dir.path().to_path_buf());
    let b = Cache::open(&ob).unwrap();
    up(&b);

    a.put(b"k", b"old", 0).unwrap();
    a.put(b"mine", b"a's", 0).unwrap();
    // (A value read before its own invalidation arrives is dropped again.)
    wait_for("the invalidations", || {
        counter(&b, "remote_invalidations_received") >= 2
    });
    assert_eq!(get(&b, b"k").unwrap(), b"old");
    assert_eq!(get(&b, b"mine").unwrap(), b"a's");
    cut_off(&proxy, &b);
    // While b is cut off: a replaces k (b misses the invalidation), and b
    // writes `mine` locally (its remote write fails).
    a.put(b"k", b"new", 0).unwrap();
    b.put(b"mine", b"b's", 0).unwrap();
    assert_eq!(
        get(&b, b"k").unwrap(),
        b"old",
        "cut off, b still answers from its tiers"
    );
    back(&proxy, &b);
    // b dropped what it could not vouch for, and reads the new value.
    assert_eq!(get(&b, b"k").unwrap(), b"new");
    // b's own write made while cut off is dropped too (a may have written
    // `mine` after it, and b cannot tell), and a no longer holds the value
    // that write replaced: both miss.
    assert_eq!(get(&b, b"mine"), Err(Status::TC_NOT_FOUND));
    wait_for("a to drop `mine`", || get(&a, b"mine") == Err(Status::TC_NOT_FOUND));
}

/// b, cut off, puts `k`; a, later, puts it too (b never hears of it). When
/// b is back, the fleet must not serve b's put, the earlier one: b drops
/// it (it cannot tell which came later), and a's stays in a. (b's remote
/// write, reconciled on reconnect, removes a's value from the server: the
/// others then miss, never read b's.)
#[test]
fn a_put_made_while_cut_off_does_not_outlive_a_later_put() {
    let (server, proxy, a, b) = behind_a_proxy();
    cut_off(&proxy, &b);
    b.put(b"k", b"b's, earlier", 0).unwrap();
    a.put(b"k", b"a's, later", 0).unwrap();
    back(&proxy, &b);
    assert_ne!(
        get(&b, b"k").as_deref(),
        Ok(&b"b's, earlier"[..]),
        "b kept its earlier put"
    );
    let c = open(&server.url());
    assert_ne!(get(&c, b"k").as_deref(), Ok(&b"b's, earlier"[..]));
}

#[test]
fn a_server_restart_loses_no_local_write_and_brings_back_nothing_stale() {
    let mut server = RedisServer::start();
    let (a, b) = pair(&server, None);
    a.put(b"k", b"v1", 0).unwrap();
    assert_eq!(get(&b, b"k").unwrap(), b"v1");
    server.restart();
    wait_for("both to reconnect", || {
        let _ = a.get(b"probe");
        let _ = b.get(b"probe");
        counter(&a, "remote_state") == 1 && counter(&b, "remote_state") == 1
    });
    // b never serves the value from before the restart again. (A put in
    // the moment a process has not yet heard of the clears the restart
    // caused is written in the older generation, so others miss it: put
    // until b sees the new value.)
    wait_for("b to see the new value", || {
        a.put(b"k", b"v2", 0).unwrap();
        let got = get(&b, b"k");
        assert_ne!(got, Ok(b"v1".to_vec()), "a stale value after the restart");
        got == Ok(b"v2".to_vec())
    });
}

/// A server that comes back from an old snapshot while no process of the
/// fleet runs: nobody remembers its run id, so the first process to open
/// must learn of the restart from the server itself (the fleet's record of
/// the identity it last cleared for), clear the namespace, and never serve
/// the snapshot's value.
#[test]
fn a_process_that_opens_after_a_restart_from_an_old_snapshot_serves_nothing_stale() {
    let mut server = RedisServer::start();
    let raw = |server: &RedisServer| -> Vec<u8> {
        let got: Option<Vec<u8>> = server.client().get(data_key(b"k")).unwrap();
        got.expect("the key's frame")
    };
    let holds = |frame: &[u8], v: &[u8]| frame.windows(v.len()).any(|w| w == v);
    {
        let a = open(&server.url());
        a.put(b"k", b"value-1", 0).unwrap();
        redis::cmd("SAVE").exec(&mut server.client()).unwrap();
        a.put(b"k", b"value-2", 0).unwrap();
        assert!(holds(&raw(&server), b"value-2"));
    }
    // Killed and started again: it loads the snapshot, with value-1.
    server.restart();
    assert!(holds(&raw(&server), b"value-1"), "the server came back with value-1");
    let c = open(&server.url());
    up(&c);
    assert_eq!(
        get(&c, b"k"),
        Err(Status::TC_NOT_FOUND),
        "the snapshot's value was served"
    );
    // The clear is recorded: the next process to open clears nothing.
    let hex: String = NS.iter().map(|b| format!("{b:02x}")).collect();
    let gen: u64 = server.client().get(format!("tc:{hex}:gen")).unwrap();
    let d = open(&server.url());
    up(&d);
    c.put(b"k", b"value-3", 0).unwrap();
    assert_eq!(get(&d, b"k").unwrap(), b"value-3");
    assert_eq!(server.client().get::<_, u64>(format!("tc:{hex}:gen")).unwrap(), gen);
}

/// The generation evicted (`maxmemory`), or lost by a restart, while the
/// values it refused stay: a process that opens then must not take them
/// for current (generation 0 would accept every value of a later one).
#[test]
fn a_lost_generation_brings_back_no_cleared_value() {
    let server = RedisServer::start();
    let hex: String = NS.iter().map(|b| format!("{b:02x}")).collect();
    {
        let a = open(&server.url());
        a.put(b"k", b"cleared", 0).unwrap();
        a.clear(false).unwrap();
        assert_eq!(get(&a, b"k"), Err(Status::TC_NOT_FOUND));
    }
    let _: () = server.client().del(format!("tc:{hex}:gen")).unwrap();
    assert!(server.client().exists::<_, bool>(data_key(b"k")).unwrap());
    let c = open(&server.url());
    up(&c);
    assert_eq!(get(&c, b"k"), Err(Status::TC_NOT_FOUND), "a cleared value came back");
}

/// How big the fleet test is: `TIERCACHE_REMOTE=large` for a long run.
fn fleet_size() -> (usize, usize, usize) {
    match std::env::var("TIERCACHE_REMOTE").as_deref() {
        Ok("large") => (8, 8, 2000),
        _ => (4, 8, 100),
    }
}

#[test]
fn fleet_single_flight() {
    let server = RedisServer::start();
    let (procs, threads, keys) = fleet_size();
    let dir = tempfile::tempdir().unwrap();
    let go = dir.path().join("go");
    let children: Vec<_> = (0..procs)
        .map(|i| {
            std::process::Command::new(std::env::current_exe().unwrap())
                .args(["--exact", "fleet_child", "--ignored", "--nocapture", "--test-threads=1"])
                .env("TC_FLEET_URL", server.url())
                .env("TC_FLEET_GO", &go)
                .env("TC_FLEET", format!("{i} {threads} {keys}"))
                .stdout(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    // All of them start missing at once.
    std::fs::write(&go, b"").unwrap();
    let mut total = 0;
    for c in children {
        let out = c.wait_with_output().unwrap();
        assert!(out.status.success(), "a child failed");
        let text = String::from_utf8_lossy(&out.stdout);
        let loads: u64 = text
            .lines()
            .find_map(|l| l.split("fleet-loads=").nth(1))
            .unwrap_or_else(|| panic!("no count in {text}"))
            .parse()
            .unwrap();
        total += loads;
    }
    assert_eq!(
        total, keys as u64,
        "{procs} processes × {threads} threads missing {keys} keys"
    );
}

/// One process of `fleet_single_flight`: `threads` threads each get every
/// key (in a different order), through a loader that counts its calls.
#[test]
#[ignore = "a child process of fleet_single_flight"]
fn fleet_child() {
    let url = std::env::var("TC_FLEET_URL").unwrap();
    let go = std::env::var("TC_FLEET_GO").unwrap();
    let spec = std::env::var("TC_FLEET").unwrap();
    let n: Vec<usize> = spec.split(' ').map(|s| s.parse().unwrap()).collect();
    let (me, threads, keys) = (n[0], n[1], n[2]);
    // A long timeout: this test is of single flight across processes, and
    // a reply slower than the tests' 200 ms on a loaded machine (4
    // processes of 8 threads and the server, on 2 cores) made its getter
    // load alone, one load too many.
    let mut o = opts(&url);
    o.set_remote_timeout(5_000).unwrap();
    let c = Arc::new(Cache::open(&o).unwrap());
    up(&c);
    let (loads, loader) = counting_loader(move |k: &[u8]| {
        // Long enough for the others to miss the key meanwhile.
        std::thread::sleep(std::time::Duration::from_millis(5));
        [b"v:", k].concat()
    });
    c.set_loader(Some(loader));
    wait_for("the go file", || std::path::Path::new(&go).exists());
    let workers: Vec<_> = (0..threads)
        .map(|t| {
            let c = c.clone();
            std::thread::spawn(move || {
                for i in 0..keys {
                    let k = format!("fleet-{}", (i + t * 7 + me * 13) % keys);
                    assert_eq!(c.get(k.as_bytes()).unwrap().to_vec(), [b"v:", k.as_bytes()].concat());
                }
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
    println!("fleet-loads={}", loads.load(Ordering::SeqCst));
}

#[test]
fn a_crashed_loaders_lock_expires() {
    let server = RedisServer::start();
    let hex: String = NS.iter().map(|b| format!("{b:02x}")).collect();
    // A process took the lock of `k` and died: its lock outlives it a while.
    let mut r = server.client();
    let _: () = redis::cmd("SET")
        .arg(format!("tc:{hex}:l:k"))
        .arg("dead-process")
        .arg("PX")
        .arg(300)
        .query(&mut r)
        .unwrap();
    let a = open(&server.url());
    let (loads, loader) = counting_loader(move |_: &[u8]| b"v".to_vec());
    a.set_loader(Some(loader));
    assert_eq!(get(&a, b"k").unwrap(), b"v");
    assert_eq!(loads.load(Ordering::SeqCst), 1);
    assert_eq!(counter(&a, "remote_lock_waits"), 1);
    // And the lock it took itself is gone.
    assert!(!r.exists::<_, bool>(format!("tc:{hex}:l:k")).unwrap());
}

#[test]
fn an_acl_user_with_a_password() {
    // (redis-server reads the words after --user as that one option.)
    let server = RedisServer::start_with(&[
        "--user",
        "app",
        "on",
        ">app-password",
        "~*",
        "&*",
        "+@all",
        "--user",
        "default",
        "off",
    ]);
    let url = format!("redis://app:app-password@127.0.0.1:{}", server.port);
    let (a, b) = pair_with(&url, None, &|_| {});
    up(&a);
    a.put(b"k", b"v", 0).unwrap();
    wait_for("the invalidation", || counter(&b, "remote_invalidations_received") >= 1);
    assert_eq!(get(&b, b"k").unwrap(), b"v");
    let wrong = open(&format!("redis://app:nope@127.0.0.1:{}", server.port));
    assert_eq!(counter(&wrong, "remote_state"), 2);
}

#[test]
fn a_cluster_of_three_masters() {
    let cluster = common::redis_server::RedisCluster::start();
    let (a, b) = pair_with(&cluster.url(), None, &|_| {});
    up(&a);
    up(&b);
    // Keys spread over the three masters' slots.
    let keys: Vec<Vec<u8>> = (0..60).map(|i| format!("p/{i}").into_bytes()).collect();
    let pairs: Vec<(&[u8], &[u8])> = keys.iter().map(|k| (&k[..], &b"v"[..])).collect();
    a.put_many(&pairs, 0).unwrap();
    let on_each: Vec<u64> = cluster
        .nodes
        .iter()
        .map(|n| redis::cmd("DBSIZE").query(&mut n.client()).unwrap())
        .collect();
    assert!(on_each.iter().all(|&n| n > 0), "keys on every master: {on_each:?}");
    wait_for("the invalidations", || {
        counter(&b, "remote_invalidations_received") >= 60
    });
    let refs: Vec<&[u8]> = keys.iter().map(|k| &k[..]).collect();
    assert!(b.get_many(&refs).iter().all(|r| r.as_deref().ok() == Some(&b"v"[..])));
    assert_eq!(counter(&b, "remote_hits"), 60);
    // remove_prefix finds the keys on every master.
    a.remove_prefix(b"p/").unwrap();
    wait_for("the prefix invalidation", || {
        counter(&b, "remote_invalidations_received") >= 61
    });
    let c = open(&cluster.url());
    assert!(c.get_many(&refs).iter().all(|r| r.is_err()));
    // The fleet-wide lock and a clear work across slots too.
    let (loads, loader) = counting_loader(move |_: &[u8]| b"loaded".to_vec());
    a.set_loader(Some(loader));
    assert_eq!(get(&a, b"lk").unwrap(), b"loaded");
    assert_eq!(get(&c, b"lk").unwrap(), b"loaded");
    assert_eq!(loads.load(Ordering::SeqCst), 1);
    a.clear(false).unwrap();
    wait_for("the clear", || get(&c, b"lk").is_err());
    assert_eq!(counter(&a, "remote_errors"), 0);
}

#[test]
fn tls_with_a_certificate_made_by_the_test() {
    let (server, ca) = RedisServer::start_tls();
    // The client trusts the test's CA through SSL_CERT_FILE, which is read
    // when a connection is made: set in a child process of its own, not in
    // this one's environment shared with the other tests.
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "tls_child", "--ignored", "--nocapture", "--test-threads=1"])
        .env("SSL_CERT_FILE", &ca)
        .env("TC_TLS_PORT", server.port.to_string())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains("tls-ok"),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The child of `tls_with_a_certificate_made_by_the_test`.
#[test]
#[ignore = "a child process of tls_with_a_certificate_made_by_the_test"]
fn tls_child() {
    let port = std::env::var("TC_TLS_PORT").unwrap();
    let url = format!("rediss://127.0.0.1:{port}");
    // A handshake in a debug build on a busy machine takes more than the
    // tests' usual 200 ms.
    let slow = |o: &mut Options| o.set_remote_timeout(10_000).unwrap();
    let (a, b) = pair_with(&url, None, &slow);
    up(&a);
    a.put(b"k", b"over tls", 0).unwrap();
    wait_for("the invalidation", || counter(&b, "remote_invalidations_received") >= 1);
    assert_eq!(get(&b, b"k").unwrap(), b"over tls");
    // Plain text to a TLS port: the cache opens, degraded, with the reason.
    let plain = open_with(&format!("redis://127.0.0.1:{port}"), None, &slow);
    assert_eq!(counter(&plain, "remote_state"), 2);
    println!("tls-ok");
}

#[test]
fn a_value_larger_than_the_server_accepts_stays_local_and_is_counted() {
    let server = RedisServer::start_with(&["--proto-max-bulk-len", "1mb"]);
    let (a, b) = pair(&server, None);
    a.put(b"big", b"small first", 0).unwrap();
    wait_for("the invalidation", || counter(&b, "remote_invalidations_received") >= 1);
    assert_eq!(get(&b, b"big").unwrap(), b"small first");
    let big = vec![1u8; 2 << 20];
    a.put(b"big", &big, 0).unwrap();
    assert_eq!(get(&a, b"big").unwrap(), big, "kept locally");
    assert_eq!(counter(&a, "remote_too_large"), 1);
    assert_eq!(counter(&a, "remote_state"), 1, "{:?}", a.remote_reason());
    // Not the old value elsewhere: the key is removed remotely.
    wait_for("the invalidation", || counter(&b, "remote_invalidations_received") >= 2);
    assert_eq!(get(&b, b"big"), Err(Status::TC_NOT_FOUND));
}

/// The remote tier with compression and encryption on (a file of its own,
/// sharing this one's helpers and test binary).
#[path = "remote/at_rest.rs"]
mod at_rest;
/// b misses `k` and its loader reads the truth (v1), then stalls; a puts v2
/// and returns; b's load then ends. b answers v1 (the truth it read), but
/// must not write it over a's v2 in Redis: the version it would carry is
/// taken after a's (a newest-wins write kept it, and b's invalidation then
/// made a drop its own v2 and read v1 back: `remote_cluster`'s failover
/// test caught that once in a loaded CI run, as "a lost its own write").
/// b's subscription is held (behind a proxy) until its load has landed, as
/// when a's invalidation is slow to reach it: had it come first, b would
/// have stored and written nothing, and the race would not be tested.
#[test]
fn a_load_that_started_before_a_put_does_not_overwrite_it_remotely() {
    use std::sync::{Barrier, Mutex};
    let (server, proxy, a, b) = behind_a_proxy();
    let truth = Arc::new(Mutex::new(b"v1".to_vec()));
    let (read, go) = (Arc::new(Barrier::new(2)), Arc::new(Barrier::new(2)));
    {
        let (truth, read, go) = (truth.clone(), read.clone(), go.clone());
        b.set_loader(Some(Arc::new(move |_k: &[u8]| {
            let v = truth.lock().unwrap().clone();
            read.wait(); // the truth is read
            go.wait(); // a's put is done
            Loaded::Value { value: v, ttl_ms: 0 }
        })));
    }
    let b = Arc::new(b);
    let loading = {
        let b = b.clone();
        std::thread::spawn(move || get(&b, b"k"))
    };
    read.wait();
    proxy.hold_subscriptions();
    *truth.lock().unwrap() = b"v2".to_vec();
    a.put(b"k", b"v2", 0).unwrap();
    go.wait();
    assert_eq!(
        loading.join().unwrap().unwrap(),
        b"v1",
        "b's answer is the truth it read"
    );
    let c = open(&server.url());
    assert_eq!(
        get(&c, b"k").unwrap(),
        b"v2",
        "the server keeps the older, loaded value"
    );
    proxy.release_subscriptions();
    heard(&b, &a, b"marker");
    assert_eq!(get(&a, b"k").unwrap(), b"v2", "a lost its own write");
    wait_for("a's invalidation to reach b", || get(&b, b"k").as_deref() == Ok(b"v2"));
}

/// b holds v1 of `k`; a puts v2; b touches `k` before a's invalidation
/// reaches it (b's subscription is held). The touch gives the key's value a
/// new expiry; it must not write b's v1 back over a's v2 in Redis (a touch
/// used to send b's copy with a new version, which won the newest-wins
/// write, and its invalidation then made a drop its own v2 and read v1).
/// b's clock runs an hour ahead so that its touch's version is the later
/// one whatever the millisecond: the case where the old rule lost a write.
#[test]
fn a_touch_does_not_bring_back_a_value_another_process_replaced() {
    touch_after_another_process_wrote(&|_| {});
}

/// The same with encrypted frames (each write of a frame is a new
/// ciphertext: the server's frame is compared whole).
#[test]
fn a_touch_of_a_sealed_value_does_not_bring_back_a_value_another_process_replaced() {
    touch_after_another_process_wrote(&at_rest::sealed);
}

fn touch_after_another_process_wrote(with: &dyn Fn(&mut Options)) {
    use tiercache::clock::Clock;
    let server = RedisServer::start();
    let proxy = Proxy::to(server.port);
    let open = |url: &str| open_with(url, None, with);
    let a = open(&server.url());
    let now = wall_ms();
    let b = open_with(&proxy.url(), None, &|o| {
        with(o);
        o.clock = Clock::manual(now + 3_600_000);
    });
    a.put(b"k", b"v1", 0).unwrap();
    // (A value read before its own invalidation arrives is dropped again:
    // b would then hold nothing to touch.)
    heard(&a, &b, b"marker-v1");
    assert_eq!(get(&b, b"k").unwrap(), b"v1");
    proxy.hold_subscriptions();
    a.put(b"k", b"v2", 0).unwrap();
    b.touch(b"k", 0).unwrap();
    let c = open(&server.url());
    assert_eq!(get(&c, b"k").unwrap(), b"v2", "b's touch wrote its older copy back");
    proxy.release_subscriptions();
    heard(&b, &a, b"marker");
    assert_eq!(get(&a, b"k").unwrap(), b"v2", "a lost its own write");
    wait_for("a's invalidation to reach b", || get(&b, b"k").as_deref() == Ok(b"v2"));

    // A touch that finds the server's copy the same as its own gives it the
    // new expiry there: another process reads it with that expiry.
    let info = |c: &Cache| c.info(b"k").unwrap();
    b.touch(b"k", 3_600_000 * 2).unwrap();
    let d = open(&server.url());
    let seen = info(&d);
    assert_eq!(seen.tier, 3, "d reads the touched value from the server");
    assert_eq!(seen.expires_at, info(&b).expires_at, "with the touch's expiry");
}

/// b puts `k`, then a puts it, in the same millisecond, b having made more
/// writes in it: a's version is the lower one (a version is the writer's
/// clock in ms and a count of its writes, so versions order one writer's
/// writes, not two processes'). a's put came after b's returned, so it must
/// be the one the fleet keeps: it was refused, and the others read b's
/// value for good while a kept its own (or a dropped it on b's
/// invalidation and read b's back). One clock shared by both caches makes
/// it the same millisecond every run.
#[test]
fn a_put_made_after_another_process_put_wins_whatever_the_versions() {
    use tiercache::clock::Clock;
    let server = RedisServer::start();
    let now = wall_ms();
    let clock = Clock::manual(now);
    let (a, b) = pair_with(&server.url(), None, &|o| o.clock = clock.clone());
    for i in 0..10 {
        b.put(format!("other{i}").as_bytes(), b"x", 0).unwrap();
    }
    b.put(b"k", b"b's", 0).unwrap();
    a.put(b"k", b"a's, later", 0).unwrap();
    let c = open(&server.url());
    assert_eq!(get(&c, b"k").unwrap(), b"a's, later", "the server kept the earlier put");
    heard(&b, &a, b"marker-a");
    heard(&a, &b, b"marker-b");
    assert_eq!(get(&a, b"k").unwrap(), b"a's, later", "a lost its own write");
    assert_eq!(get(&b, b"k").unwrap(), b"a's, later", "b kept the older value");
}

/// Versions still order the writes of one writer: a frame in the server
/// with a later version from the same writer (its id, bytes 40..48) stands
/// for a write it made after this one, arriving first; this one is refused.
/// The same frame from another writer is replaced (it arrived earlier).
#[test]
fn a_writers_own_later_version_is_kept_and_another_writers_is_not() {
    use tiercache::remote::frame::{Frame, Sealer};
    let server = RedisServer::start();
    let a = open(&server.url());
    a.put(b"k", b"first", 0).unwrap();
    let mut r = server.client();
    let raw: Vec<u8> = r.get(data_key(b"k")).unwrap();
    let sealer = Sealer::new(NS, None);
    let mine = sealer.decode(&data_key(b"k"), b"k", &raw).unwrap();
    assert_ne!(mine.writer, 0, "a's frames say who wrote them");
    let later = |writer: u64| Frame {
        // An hour ahead of a's clock: a version a gives only in an hour.
        version: mine.version + (3_600_000 << 16),
        writer,
        value: Some(b"planted".to_vec()),
        ..mine.clone()
    };
    plant(
        &server,
        b"k",
        &sealer.encode(&data_key(b"k"), b"k", &later(mine.writer)),
    );
    a.put(b"k", b"second", 0).unwrap();
    let planted: Vec<u8> = r.get(data_key(b"k")).unwrap();
    assert_eq!(
        sealer.decode(&data_key(b"k"), b"k", &planted).unwrap().value.as_deref(),
        Some(&b"planted"[..]),
        "a's own later write is kept"
    );
    plant(
        &server,
        b"k",
        &sealer.encode(&data_key(b"k"), b"k", &later(mine.writer ^ 1)),
    );
    a.put(b"k", b"third", 0).unwrap();
    let now: Vec<u8> = r.get(data_key(b"k")).unwrap();
    assert_eq!(
        sealer.decode(&data_key(b"k"), b"k", &now).unwrap().value.as_deref(),
        Some(&b"third"[..]),
        "another writer's version does not order a's put"
    );
}

/// b is cut off from the server, misses `k` and loads it (the truth then);
/// a then puts a newer value, whose invalidation b never hears. When b is
/// back, it must not serve its loaded value: it was stored after the last
/// instant b's subscription was known alive, and was kept for that, though
/// what invalidates it came later still.
#[test]
fn a_value_loaded_while_cut_off_is_dropped_when_the_subscription_is_back() {
    use std::sync::Mutex;
    let (_server, proxy, a, b) = behind_a_proxy();
    let truth = Arc::new(Mutex::new(b"old".to_vec()));
    {
        let truth = truth.clone();
        b.set_loader(Some(Arc::new(move |_k: &[u8]| Loaded::Value {
            value: truth.lock().unwrap().clone(),
            ttl_ms: 0,
        })));
    }
    cut_off(&proxy, &b);
    assert_eq!(get(&b, b"k").unwrap(), b"old", "cut off, b loads");
    *truth.lock().unwrap() = b"new".to_vec();
    a.put(b"k", b"new", 0).unwrap();
    back(&proxy, &b);
    assert_eq!(get(&b, b"k").unwrap(), b"new", "b serves what it loaded while cut off");
    assert_eq!(get(&a, b"k").unwrap(), b"new", "a's put stays");
}

/// b has not heard of a's clear yet (its subscription is held) when it puts
/// `k`, after a put `k` in the new generation: b's frame carries the older
/// generation, and the write script refused it over a's, so the fleet kept
/// a's earlier value for good (b dropped its own when the clear arrived,
/// and read a's back). The server ran the clear before b's put: b's put is
/// the later write, and it must stay.
#[test]
fn a_put_made_before_hearing_of_a_clear_is_not_lost() {
    let (server, proxy, a, b) = behind_a_proxy();
    proxy.hold_subscriptions();
    a.clear(false).unwrap();
    a.put(b"k", b"a's", 0).unwrap();
    b.put(b"k", b"b's, later", 0).unwrap();
    let c = open(&server.url());
    assert_eq!(get(&c, b"k").unwrap(), b"b's, later", "b's put was refused");
    proxy.release_subscriptions();
    heard(&b, &a, b"marker-a");
    heard(&a, &b, b"marker-b");
    assert_eq!(get(&a, b"k").unwrap(), b"b's, later");
    assert_eq!(get(&b, b"k").unwrap(), b"b's, later", "b lost its own write");
}

/// b opens while its subscription cannot begin (held), so its tier is not
/// ok and its put of `k` is only remembered, to be reconciled when the
/// subscription begins; b closes first. The list used to end with it, and
/// the value its put replaced stayed in the server for the whole fleet.
#[test]
fn writes_a_process_could_not_send_are_reconciled_when_it_closes() {
    let server = RedisServer::start();
    let proxy = Proxy::to(server.port);
    let a = open(&server.url());
    a.put(b"k", b"old", 0).unwrap();
    proxy.hold_subscriptions();
    let b = open(&proxy.url());
    assert_ne!(counter(&b, "remote_state"), 1, "b's tier is not ok yet");
    b.put(b"k", b"new", 0).unwrap();
    b.close().unwrap();
    let c = open(&server.url());
    assert_ne!(
        get(&c, b"k").as_deref(),
        Ok(&b"old"[..]),
        "the value b's put replaced stayed"
    );
    wait_for("a to drop the replaced value", || get(&a, b"k") != Ok(b"old".to_vec()));
}

/// b, with a directory, is cut off when it puts `k`, and is killed before
/// it can reach the server again: the list of writes to reconcile ends
/// with it, and the value its put replaced would stay in the server for
/// every process. The mark it left in its directory makes the next open of
/// that directory clear the namespace before its tier is ok.
#[test]
fn a_directory_left_with_writes_to_reconcile_clears_the_namespace_when_reopened() {
    let server = RedisServer::start();
    let proxy = Proxy::to(server.port);
    let dir = tempfile::tempdir().unwrap();
    let a = open(&server.url());
    let b = open_with(&proxy.url(), Some(dir.path()), &|_| {});
    a.put(b"k", b"old", 0).unwrap();
    cut_off(&proxy, &b);
    b.put(b"k", b"new", 0).unwrap();
    b.simulate_crash();
    assert_eq!(get(&a, b"k").unwrap(), b"old", "nobody reconciled b's put yet");
    proxy.heal();
    let b = open_with(&proxy.url(), Some(dir.path()), &|_| {});
    up(&b);
    let c = open(&server.url());
    assert_ne!(
        get(&c, b"k").as_deref(),
        Ok(&b"old"[..]),
        "the server kept the value b's put replaced"
    );
    wait_for("a to drop the value b's put replaced", || {
        get(&a, b"k") != Ok(b"old".to_vec())
    });
    let marks = std::fs::read_dir(dir.path())
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with("remote-pending-")
        })
        .count();
    assert_eq!(marks, 0, "the mark is gone once reconciled");
}

/// How many scripts the server has run (`INFO commandstats`).
fn scripts_run(server: &RedisServer) -> u64 {
    let info: String = redis::cmd("INFO")
        .arg("commandstats")
        .query(&mut server.client())
        .unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix("cmdstat_eval:calls="))
        .and_then(|rest| rest.split(',').next())
        .map_or(0, |n| n.parse().unwrap())
}

/// The race of `a_put_made_before_hearing_of_a_clear_is_not_lost` the
/// other way round: b's put is sent in the generation before a's clear and
/// refused, and the clear's message reaches b while the refusal is on its
/// way back (b's answers are held; the server has run the script when its
/// count of scripts run goes up). b must still write again: whether to is
/// judged against the generation its frame carried, not the one b knows when
/// the answer comes (a model-test seed lost the put that way, once in a
/// few hundred).
#[test]
fn a_put_refused_for_a_clear_heard_while_the_answer_was_on_its_way_is_made_again() {
    let server = RedisServer::start();
    let proxy = Proxy::to(server.port);
    let a = open(&server.url());
    let b = Arc::new(open_with(&proxy.url(), None, &|o| {
        o.set_remote_timeout(10_000).unwrap()
    }));
    b.put(b"marker", b"b's", 0).unwrap();
    proxy.hold_subscriptions();
    a.clear(false).unwrap();
    a.put(b"k", b"a's", 0).unwrap();
    let scripts_before = scripts_run(&server);
    proxy.hold_answers();
    let putting = {
        let b = b.clone();
        std::thread::spawn(move || b.put(b"k", b"b's, later", 0))
    };
    wait_for("b's put to reach the server", || scripts_run(&server) > scripts_before);
    proxy.release_subscriptions();
    // b drops everything on the clear, after learning its generation.
    wait_for("a's clear to reach b", || b.contains(b"marker") == Ok(false));
    proxy.release_answers();
    putting.join().unwrap().unwrap();
    let c = open(&server.url());
    assert_eq!(get(&c, b"k").unwrap(), b"b's, later", "b's put was lost");
}

/// b has not heard of a's clear when it puts `k`, which holds nothing: its
/// frame, of the generation before the clear, used to be written, refused
/// by every reader; then a, whose loader read the source before b wrote it
/// (a race: here a loader that answers the older value), missed, loaded,
/// and wrote its answer in the current generation over b's put, and the
/// fleet kept the older value. The server ran the clear before b's put: on
/// one server the write script compares the frame with the namespace's
/// generation, and b writes again in it. (In a cluster the generation's key
/// lies in another slot: CONSISTENCY.md §9 says what is left there.)
#[test]
fn a_put_in_a_generation_a_clear_ended_is_made_in_the_new_one() {
    let (server, proxy, a, b) = behind_a_proxy();
    proxy.hold_subscriptions();
    a.clear(false).unwrap();
    b.put(b"k", b"b's put", 0).unwrap();
    a.set_loader(Some(Arc::new(|_k: &[u8]| Loaded::Value {
        value: b"older".to_vec(),
        ttl_ms: 0,
    })));
    assert_eq!(get(&a, b"k").unwrap(), b"b's put", "a did not read b's put");
    let c = open(&server.url());
    assert_eq!(get(&c, b"k").unwrap(), b"b's put", "the fleet lost b's put");
    proxy.release_subscriptions();
    heard(&a, &b, b"marker");
    assert_eq!(get(&b, b"k").unwrap(), b"b's put", "b lost its own write");
}

/// A loader's answer is framed in the generation its process knew when the
/// loader was called, not in one it learned while the loader ran. Here `b`
/// learns of `a`'s clear from its own put's refusal (the clear's message is
/// held), with a load of `k` in flight that read the source before the
/// program changed it and cleared the cache: framed in the new generation,
/// that answer went to the server as a value of it and every process read
/// the old source value for good. (Locally, `b` keeps it until the clear's
/// message arrives: the message is what cancels its loads.)
#[test]
fn a_load_that_spans_a_clear_learned_from_a_refused_put_is_not_shared() {
    let (server, proxy, a, b) = behind_a_proxy();
    let (called, on_called) = std::sync::mpsc::channel::<()>();
    let (answer, on_answer) = std::sync::mpsc::channel::<Vec<u8>>();
    let on_answer = std::sync::Mutex::new(on_answer);
    b.set_loader(Some(Arc::new(move |_k: &[u8]| {
        let _ = called.send(());
        Loaded::Value {
            value: on_answer.lock().unwrap().recv().unwrap(),
            ttl_ms: 0,
        }
    })));
    let b = Arc::new(b);
    let load = {
        let b = b.clone();
        std::thread::spawn(move || get(&b, b"k"))
    };
    // The loader has read the source ("before"); the program changes it
    // and clears, and `b` does not hear of the clear.
    on_called.recv().unwrap();
    proxy.hold_subscriptions();
    a.clear(false).unwrap();
    b.put(b"j", b"b's put", 0).unwrap();
    let c = open(&server.url());
    assert_eq!(
        get(&c, b"j").unwrap(),
        b"b's put",
        "b's put was made in the new generation"
    );
    answer.send(b"before".to_vec()).unwrap();
    assert_eq!(load.join().unwrap().unwrap(), b"before");
    c.set_loader(Some(Arc::new(|_k: &[u8]| Loaded::Value {
        value: b"after".to_vec(),
        ttl_ms: 0,
    })));
    assert_eq!(
        get(&c, b"k").unwrap(),
        b"after",
        "a load read before the clear was shared"
    );
    proxy.release_subscriptions();
    heard(&a, &b, b"marker");
    assert_eq!(get(&a, b"k").unwrap(), b"after");
}

/// A key this process removed while it could not tell the server, in the
/// moment between a resync (which reconciled what it had remembered until
/// then) and the tier being ok again, is not read back from the server
/// until the next resync has reconciled it: the server's copy predates the
/// removal, and stored here it stayed for good, since a process never
/// hears its own reconciling tombstone (`Pending::covers`, found by reading
/// the subscriber in session 11; until now proven by a unit test only).
#[test]
fn a_key_removed_between_a_resync_and_the_tier_being_ok_is_not_read_back_from_the_server() {
    let (_server, proxy, a, b) = behind_a_proxy();
    a.put(b"k", b"old", 0).unwrap();
    wait_for("b to read a's put", || get(&b, b"k") == Ok(b"old".to_vec()));
    cut_off(&proxy, &b);
    let (paused, at_pause) = std::sync::mpsc::channel();
    let (go, on_go) = std::sync::mpsc::channel::<()>();
    let on_go = std::sync::Mutex::new(on_go);
    b.around_remote_ok(Some(Arc::new(move |ok| {
        let _ = paused.send(ok);
        let _ = on_go.lock().unwrap().recv();
    })));
    proxy.heal();
    assert!(!at_pause.recv().unwrap(), "stopped before the tier is ok");
    // The resync dropped b's tiers: the removal finds nothing locally, and
    // is remembered, not sent (the tier is not ok).
    assert_eq!(b.remove(b"k").map_err(|e| e.status()), Err(Status::TC_NOT_FOUND));
    go.send(()).unwrap();
    // The tier is ok; the next resync, which reconciles the removal, waits
    // for the hook to return.
    assert!(at_pause.recv().unwrap(), "stopped after the tier is ok");
    assert_eq!(counter(&b, "remote_state"), 1);
    let read = get(&b, b"k");
    b.around_remote_ok(None);
    go.send(()).unwrap();
    assert_eq!(
        read,
        Err(Status::TC_NOT_FOUND),
        "b read back the value its own removal replaced"
    );
    wait_for("the next resync to reconcile b's removal", || {
        get(&a, b"k") == Err(Status::TC_NOT_FOUND)
    });
    assert_eq!(get(&b, b"k"), Err(Status::TC_NOT_FOUND));
}

/// A loader that answers `value` (no TTL) with the tag `tag`, if given.
fn answering(value: &'static [u8], tag: Option<&'static [u8]>) -> Arc<dyn tiercache::Loader> {
    Arc::new(move |_k: &[u8]| {
        let mut meta = tiercache::meta::Meta::default();
        if let Some(t) = tag {
            meta.add_tag(t).unwrap();
        }
        Loaded::Entry {
            value: value.to_vec(),
            ttl_ms: 0,
            meta,
        }
    })
}

/// `b` answers a get of `k` from its loader ("before": the source as it
/// was), and is stopped between storing the answer and writing it to the
/// server; meanwhile `a` makes `removal` (standing for "change the source,
/// then remove the keys from the cache"), which deletes the keys it finds
/// and leaves no tombstone. Then a new process must read the source as it
/// is now, and a process opened after it the new process's answer.
fn a_load_across_a_removal_of_many_keys(tag: Option<&'static [u8]>, removal: impl FnOnce(&Cache, &RedisServer)) {
    let server = RedisServer::start();
    let (a, b) = pair(&server, None);
    b.set_loader(Some(answering(b"before", tag)));
    let b = Arc::new(b);
    let got = between_halves(&b, |b| get(b, b"p:k"), || removal(&a, &server));
    assert_eq!(got.unwrap(), b"before", "the get took effect before the removal");
    let c = open(&server.url());
    c.set_loader(Some(answering(b"after", tag)));
    assert_eq!(
        get(&c, b"p:k").unwrap(),
        b"after",
        "an answer read before the removal outlived it in the server"
    );
    let d = open(&server.url());
    assert_eq!(get(&d, b"p:k").unwrap(), b"after", "c's answer was shared");
    assert_eq!(counter(&d, "remote_hits"), 1);
}

/// A loader's answer read before a `remove_prefix`, and written to the
/// server after the prefix's keys were deleted, is refused there (the
/// removal raised the namespace's removal mark first): written, it was
/// the whole fleet's value for good, since an answer is written wherever
/// its key holds nothing (docs/CONSISTENCY.md §9, `Known`).
#[test]
fn a_load_answered_before_a_prefix_removal_does_not_outlive_it_remotely() {
    a_load_across_a_removal_of_many_keys(None, |a, _| {
        a.remove_prefix(b"p:").unwrap();
    });
}

/// The same for `remove_tag`.
#[test]
fn a_load_answered_before_a_tag_removal_does_not_outlive_it_remotely() {
    a_load_across_a_removal_of_many_keys(Some(b"t"), |a, _| {
        a.remove_tag(b"t").unwrap();
    });
}

/// The same with the removal mark gone from the server after the removal
/// (as `maxmemory` with an `allkeys-*` policy may evict it): the script
/// sets a mark it finds gone again, past every earlier one, and refuses
/// the answer. Checked against no mark, the answer was written.
#[test]
fn a_load_answered_before_a_removal_whose_mark_was_evicted_does_not_outlive_it() {
    a_load_across_a_removal_of_many_keys(None, |a, server| {
        a.remove_prefix(b"p:").unwrap();
        let hex: String = NS.iter().map(|b| format!("{b:02x}")).collect();
        let gone: u64 = server.client().del(format!("{{tc:{hex}:gen}}rm")).unwrap();
        assert_eq!(gone, 1, "the removal raised the mark");
    });
}

/// The Redis key of a tag's set in the test namespace (`tc:<ns>:t:<tag>`,
/// without encryption).
fn tag_set_key(tag: &[u8]) -> Vec<u8> {
    let hex: String = NS.iter().map(|b| format!("{b:02x}")).collect();
    [format!("tc:{hex}:t:").as_bytes(), tag].concat()
}

/// The Redis key of a tag's epoch in the test namespace
/// (`{tc:<ns>:gen}e:<tag>`, without encryption).
fn tag_epoch_key(tag: &[u8]) -> Vec<u8> {
    let hex: String = NS.iter().map(|b| format!("{b:02x}")).collect();
    [format!("{{tc:{hex}:gen}}e:").as_bytes(), tag].concat()
}

fn tagged(tag: &[u8]) -> tiercache::meta::Meta {
    let mut m = tiercache::meta::Meta::default();
    m.add_tag(tag).unwrap();
    m
}

/// A tag's set evicted by the server (`maxmemory` with an `allkeys-*`
/// policy evicts any key): `remove_tag` then finds none of the tag's keys
/// in the server and deletes nothing there. Its values must not come back
/// all the same: the removal gives the tag a new epoch, and a reader
/// vouches for a tagged value only while its tags keep the epochs its
/// frame carries. Before epochs, `b`, which had dropped its copy on the
/// removal's message, read the value in the server again, and so did every
/// process after it, until its TTL. With and without encryption (where
/// the set's name is a keyed hash of the tag).
#[test]
fn a_tag_removal_whose_set_was_evicted_brings_back_none_of_its_values() {
    for sealed in [false, true] {
        let server = RedisServer::start();
        let with = |o: &mut Options| {
            if sealed {
                at_rest::sealed(o);
            }
        };
        let (a, b) = pair_with(&server.url(), None, &with);
        a.put_with(b"k", b"v", 0, tagged(b"red")).unwrap();
        a.put(b"plain", b"p", 0).unwrap();
        wait_for("the puts' invalidations", || {
            counter(&b, "remote_invalidations_received") >= 2
        });
        assert_eq!(get(&b, b"k").unwrap(), b"v", "read in the server");
        let mut r = server.client();
        let sets: Vec<Vec<u8>> = r.keys(tag_set_key(b"*")).unwrap();
        assert_eq!(sets.len(), 1, "the put added its key to the tag's set");
        let gone: u64 = r.del(&sets[0]).unwrap();
        assert_eq!(gone, 1);
        a.remove_tag(b"red").unwrap();
        wait_for("the removal's invalidation", || {
            counter(&b, "remote_invalidations_received") >= 3
        });
        assert!(
            r.exists::<_, bool>(data_key(b"k")).unwrap() || sealed,
            "the removal did not find it"
        );
        assert_eq!(get(&b, b"k"), Err(Status::TC_NOT_FOUND), "read back after its removal");
        let c = open_with(&server.url(), None, &with);
        assert_eq!(get(&c, b"k"), Err(Status::TC_NOT_FOUND), "read back by a new process");
        assert_eq!(get(&c, b"plain").unwrap(), b"p", "an untagged value is still shared");
        assert_eq!(
            counter(&c, "remote_errors"),
            0,
            "a removed value is a miss, not an error"
        );
        // A put after the removal is shared as before.
        a.put_with(b"k", b"w", 0, tagged(b"red")).unwrap();
        let d = open_with(&server.url(), None, &with);
        assert_eq!(get(&d, b"k").unwrap(), b"w");
        assert_eq!(counter(&d, "remote_hits"), 1);
    }
}

/// A tag's epoch evicted: no reader can tell whether the tag was removed
/// since its values were written, so none vouches for them (a miss, never
/// an error), until a put gives the tag an epoch again. A tagged frame
/// without epochs (as a writer before frame format 4 wrote it) is a miss
/// too.
#[test]
fn a_tagged_value_whose_epoch_was_evicted_is_a_miss() {
    use tiercache::remote::frame::Sealer;
    let server = RedisServer::start();
    let (a, b) = pair(&server, None);
    a.put_with(b"k", b"v", 0, tagged(b"red")).unwrap();
    assert_eq!(get(&b, b"k").unwrap(), b"v");
    let mut r = server.client();
    let gone: u64 = r.del(tag_epoch_key(b"red")).unwrap();
    assert_eq!(gone, 1, "the put gave the tag an epoch");
    let c = open(&server.url());
    assert_eq!(get(&c, b"k"), Err(Status::TC_NOT_FOUND));
    assert_eq!(counter(&c, "remote_misses"), 1);
    assert_eq!(counter(&c, "remote_errors"), 0);
    a.put_with(b"k", b"w", 0, tagged(b"red")).unwrap();
    let d = open(&server.url());
    assert_eq!(get(&d, b"k").unwrap(), b"w");

    let raw: Vec<u8> = r.get(data_key(b"k")).unwrap();
    let sealer = Sealer::new(NS, None);
    let f = sealer.decode(&data_key(b"k"), b"k", &raw).unwrap();
    assert_eq!(f.epochs.len(), 1);
    let old = tiercache::remote::frame::Frame {
        epochs: Vec::new(),
        ..f
    };
    plant(&server, b"k", &sealer.encode(&data_key(b"k"), b"k", &old));
    let e = open(&server.url());
    assert_eq!(
        get(&e, b"k"),
        Err(Status::TC_NOT_FOUND),
        "a tagged frame without epochs"
    );
    assert_eq!(counter(&e, "remote_errors"), 0);
}

/// Caches opening at once on a new namespace each find no removal mark,
/// and one sets it: the others must read that one, not raise it past the
/// one they learned, or their first loader's answer is refused (a second
/// load somewhere: `fleet_single_flight` saw it on a busy machine). Each
/// opens and loads a key of its own, and every answer must reach the
/// server. A race, but a wide one: with the mark read, then set apart when
/// gone, this failed in 3 runs of 3.
#[test]
fn caches_opening_at_once_on_a_new_namespace_agree_on_its_removal_mark() {
    for _round in 0..5 {
        let server = RedisServer::start();
        let url = server.url();
        let go = Arc::new(std::sync::Barrier::new(8));
        let caches: Vec<_> = (0..8)
            .map(|i| {
                let (url, go) = (url.clone(), go.clone());
                std::thread::spawn(move || {
                    go.wait();
                    let c = open(&url);
                    let key = format!("first-{i}").into_bytes();
                    c.set_loader(Some(answering(b"v", None)));
                    wait_for("the tier", || counter(&c, "remote_state") == 1);
                    assert_eq!(get(&c, &key).unwrap(), b"v");
                    (c, key)
                })
            })
            .collect();
        let caches: Vec<_> = caches.into_iter().map(|t| t.join().unwrap()).collect();
        let mut r = server.client();
        for (_c, key) in &caches {
            assert!(
                r.exists::<_, bool>(data_key(key)).unwrap(),
                "the first answer of a cache opened at once with others was refused"
            );
        }
    }
}

/// A get on another thread of the process that removes a key can miss
/// locally after the removal's local half and read the server's copy
/// before the removal's tombstone reaches the server. It may answer that
/// value (the removal has not returned) but must not keep it: a process
/// never hears its own removal's invalidation, so it served the removed
/// value for good (found by tests/remote_model.rs, seed 4029 of the sweep
/// from 4000, once the fix of §2's removals was in).
#[test]
fn a_value_read_while_this_process_removal_is_on_its_way_is_not_kept() {
    let server = RedisServer::start();
    let (a, b) = pair(&server, None);
    b.put(b"k", b"old", 0).unwrap();
    wait_for("a to read b's put", || get(&a, b"k") == Ok(b"old".to_vec()));
    let a = Arc::new(a);
    let removed = between_halves(
        &a,
        |a| a.remove(b"k"),
        || {
            assert_eq!(
                get(&a, b"k").as_deref(),
                Ok(&b"old"[..]),
                "the server's copy, read in between"
            )
        },
    );
    // Found in L1 or not: b's invalidation of its own put may have dropped
    // what a's first get kept.
    assert!(matches!(
        removed.map_err(|e| e.status()),
        Ok(()) | Err(Status::TC_NOT_FOUND)
    ));
    assert_eq!(
        get(&a, b"k"),
        Err(Status::TC_NOT_FOUND),
        "a kept the value its own removal removed"
    );
    wait_for("b to hear of a's removal", || {
        get(&b, b"k") == Err(Status::TC_NOT_FOUND)
    });
}

/// The same for a removal of many keys: what a get read from the server
/// before the removal reached it is not kept.
#[test]
fn a_value_read_while_this_process_prefix_removal_is_on_its_way_is_not_kept() {
    let server = RedisServer::start();
    let (a, b) = pair(&server, None);
    b.put(b"p/k", b"old", 0).unwrap();
    wait_for("a to read b's put", || get(&a, b"p/k") == Ok(b"old".to_vec()));
    let a = Arc::new(a);
    let removed = between_halves(
        &a,
        |a| a.remove_prefix(b"p/"),
        || {
            assert_eq!(
                get(&a, b"p/k").as_deref(),
                Ok(&b"old"[..]),
                "the server's copy, read in between"
            )
        },
    );
    assert!(removed.unwrap() <= 1);
    assert_eq!(
        get(&a, b"p/k"),
        Err(Status::TC_NOT_FOUND),
        "a kept a value its own removal removed"
    );
}

/// b's tier is down (its subscription held) when the server restarts, and
/// b puts `k` before it has noticed: the write is remembered. At close b
/// reconciles it, although every connection in its pool died with the old
/// server: one failing only drops that one, and the last try at close has
/// no later one. The value b's put replaced must not stay for the fleet
/// (found by tests/remote_model.rs, seed 9018 of the sweep from 9000).
#[test]
fn writes_remembered_across_a_server_restart_are_reconciled_at_close() {
    let (mut server, proxy, _a, b) = behind_a_proxy();
    // b's pool now holds a connection to the server as it is.
    assert_eq!(get(&b, b"k"), Err(Status::TC_NOT_FOUND));
    proxy.hold_subscriptions();
    wait_for("b's tier to go down", || counter(&b, "remote_state") != 1);
    server.restart();
    let c = open(&server.url());
    c.put(b"k", b"old", 0).unwrap();
    b.put(b"k", b"new", 0).unwrap();
    b.close().unwrap();
    let d = open(&server.url());
    assert_ne!(
        get(&d, b"k").as_deref(),
        Ok(&b"old"[..]),
        "the value b's put replaced stayed"
    );
}
