//! The remote tier's overhead over its peer, measured interleaved (rounds of
//! each in turn, so that the load of a shared machine hits both alike):
//! a remote hit through `Cache::get` against a plain `GET` with the same
//! redis client, and `Cache::get_many` of 100 keys against one `MGET`.
//! `benches/remote.rs` measures the same with criterion, one after the
//! other. BENCHMARKS.md, "The remote tier", has the results.
//!
//!     redis-server --port 17777 --save '' &
//!     cargo run --release --example remote_ratio -- redis://127.0.0.1:17777

use std::time::Instant;

fn main() {
    let url = std::env::args().nth(1).expect("usage: remote_ratio redis://host:port");
    let mut o = tiercache::Options::new();
    o.set_remote(Some(&url)).unwrap();
    let writer = tiercache::Cache::open(&o).unwrap();
    o.l1_max_bytes = 16; // nothing fits: every get is a remote hit
    let cache = tiercache::Cache::open(&o).unwrap();
    let value = vec![7u8; 100];
    let keys: Vec<Vec<u8>> = (0..100).map(|i| format!("ratio-{i:03}").into_bytes()).collect();
    let plain: Vec<Vec<u8>> = keys.iter().map(|k| [b"plain:", &k[..]].concat()).collect();
    let mut redis = redis::Client::open(url.as_str()).unwrap().get_connection().unwrap();
    for (k, p) in keys.iter().zip(&plain) {
        writer.put(k, &value, 0).unwrap();
        let _: () = redis::cmd("SET").arg(p).arg(&value).query(&mut redis).unwrap();
    }
    let refs: Vec<&[u8]> = keys.iter().map(|k| &k[..]).collect();
    let time = |n: u32, f: &mut dyn FnMut(usize)| {
        let t = Instant::now();
        for i in 0..n as usize {
            f(i);
        }
        t.elapsed().as_nanos() as f64 / f64::from(n) / 1000.0
    };
    let (mut single, mut batch) = (Vec::new(), Vec::new());
    for round in 0..7 {
        let a = time(3000, &mut |i| drop(cache.get(&keys[i % 100]).unwrap()));
        let b = time(3000, &mut |i| {
            let _: Vec<u8> = redis::cmd("GET").arg(&plain[i % 100]).query(&mut redis).unwrap();
        });
        let c = time(200, &mut |_| assert!(cache.get_many(&refs).iter().all(|r| r.is_ok())));
        let d = time(200, &mut |_| {
            let _: Vec<Vec<u8>> = redis::cmd("MGET").arg(&plain).query(&mut redis).unwrap();
        });
        println!("round {round}: get {a:.1} µs vs GET {b:.1} µs ({:.2}×); get_many(100) {c:.0} µs vs MGET {d:.0} µs ({:.2}×)", a / b, c / d);
        single.push(a / b);
        batch.push(c / d);
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    println!(
        "median ratios: get/GET {:.2}×, get_many/MGET {:.2}×",
        median(&mut single),
        median(&mut batch)
    );
    assert_eq!(cache.counter("remote_errors"), Some(0));
}
