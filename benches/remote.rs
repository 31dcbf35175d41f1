//! The remote tier against its peer, the same redis client on the same
//! server: a remote hit through tiercache (`Cache::get` of a key held only
//! in Redis: the cache's L1 is too small to keep it and it has no L2, so
//! every get reads, checks and returns the frame) against a plain `GET`, and
//! `Cache::get_many` of 100 such keys (one pipeline) against one `MGET`.
//! Starts its own `redis-server` on a free loopback port (skipped without
//! one); results in BENCHMARKS.md ("The remote tier").

use std::hint::black_box;
use std::process::{Command, Stdio};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use tiercache::{Cache, Options};

const VALUE_LEN: usize = 100;

/// The server and its directory (removed with it).
struct Server(std::process::Child, #[allow(dead_code)] tempfile::TempDir);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn server() -> Option<(Server, String)> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .ok()?
        .local_addr()
        .ok()?
        .port();
    let dir = tempfile::tempdir().ok()?;
    let child = Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", ""])
        .arg("--dir")
        .arg(dir.path())
        .stdout(Stdio::null())
        .spawn()
        .ok()?;
    let s = Server(child, dir);
    let url = format!("redis://127.0.0.1:{port}");
    for _ in 0..4000 {
        if let Ok(mut c) = redis::Client::open(url.as_str()).and_then(|c| c.get_connection()) {
            if redis::cmd("PING").query::<String>(&mut c).is_ok() {
                return Some((s, url));
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    None
}

fn remote(c: &mut Criterion) {
    let Some((_server, url)) = server() else {
        eprintln!("remote: no redis-server, skipped");
        return;
    };
    let mut o = Options::new();
    o.set_remote(Some(&url)).unwrap();
    let writer = Cache::open(&o).unwrap();
    o.l1_max_bytes = 16; // nothing fits: every get is a remote hit
    let cache = Cache::open(&o).unwrap();
    let keys: Vec<Vec<u8>> = (0..100).map(|i| format!("bench-key-{i:04}").into_bytes()).collect();
    let value = vec![7u8; VALUE_LEN];
    let mut plain = redis::Client::open(url.as_str()).unwrap().get_connection().unwrap();
    for k in &keys {
        writer.put(k, &value, 0).unwrap(); // the reader's L1 is too small: only Redis has it for it
        let _: () = redis::cmd("SET")
            .arg([b"plain:", &k[..]].concat())
            .arg(&value)
            .query(&mut plain)
            .unwrap();
    }
    assert_eq!(&cache.get(&keys[0]).unwrap()[..], &value[..]);
    let plain_keys: Vec<Vec<u8>> = keys.iter().map(|k| [b"plain:", &k[..]].concat()).collect();

    let mut g = c.benchmark_group("remote_hit");
    g.throughput(Throughput::Elements(1));
    g.bench_function("tiercache get", |b| {
        let mut i = 0;
        b.iter(|| {
            i = (i + 1) % keys.len();
            black_box(cache.get(&keys[i]).unwrap())
        })
    });
    g.bench_function("redis GET", |b| {
        let mut i = 0;
        b.iter(|| {
            i = (i + 1) % keys.len();
            black_box(
                redis::cmd("GET")
                    .arg(&plain_keys[i])
                    .query::<Vec<u8>>(&mut plain)
                    .unwrap(),
            )
        })
    });
    g.finish();

    let mut g = c.benchmark_group("remote_batch_100");
    g.throughput(Throughput::Elements(100));
    let refs: Vec<&[u8]> = keys.iter().map(|k| &k[..]).collect();
    g.bench_function("tiercache get_many", |b| {
        b.iter(|| {
            let r = cache.get_many(&refs);
            assert!(r[99].is_ok());
            black_box(r)
        })
    });
    g.bench_function("redis MGET", |b| {
        b.iter(|| {
            black_box(
                redis::cmd("MGET")
                    .arg(&plain_keys)
                    .query::<Vec<Vec<u8>>>(&mut plain)
                    .unwrap(),
            )
        })
    });
    g.finish();
    let hits = cache.counter("remote_hits").unwrap();
    assert!(hits > 0 && cache.counter("remote_errors").unwrap() == 0);
}

criterion_group!(benches, remote);
criterion_main!(benches);
