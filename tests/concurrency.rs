//! Many threads on one cache: every read returns a value that was written for
//! that key, each thread reads its own latest write, and what the cache says
//! at the end survives a reopen. A small L1 keeps promotions, evictions and
//! (under write-back) eviction writes racing with puts and removes.

mod common;

use std::sync::Arc;
use std::thread;

use common::{get, opts};
use tiercache::{Cache, Status, WritePolicy};

fn hammer(policy: WritePolicy) {
    let dir = tempfile::tempdir().unwrap();
    let mut o = opts(dir.path(), 16);
    o.write_policy = policy;
    let c = Arc::new(Cache::open(&o).unwrap());
    let threads = 6;
    let rounds = 3000;
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let c = c.clone();
            thread::spawn(move || {
                let mut rng = 0x9e3779b97f4a7c15u64 ^ t as u64;
                for r in 0..rounds {
                    rng ^= rng << 13;
                    rng ^= rng >> 7;
                    rng ^= rng << 17;
                    // Shared keys: any thread may write them.
                    let shared = format!("shared-{}", rng % 40);
                    match rng % 10 {
                        0..=3 => c
                            .put(shared.as_bytes(), format!("{shared}={t}:{r}").as_bytes(), 0)
                            .unwrap(),
                        4 => {
                            let _ = c.remove(shared.as_bytes());
                        }
                        _ => match get(&c, shared.as_bytes()) {
                            Ok(v) => assert!(
                                v.starts_with(format!("{shared}=").as_bytes()),
                                "foreign value {v:?} for {shared}"
                            ),
                            Err(s) => assert_eq!(s, Status::TC_NOT_FOUND),
                        },
                    }
                    // Own keys: read-your-writes.
                    let own = format!("own-{t}-{}", r % 50);
                    let val = format!("{t}:{r}");
                    c.put(own.as_bytes(), val.as_bytes(), 0).unwrap();
                    assert_eq!(get(&c, own.as_bytes()), Ok(val.into_bytes()));
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    // What the cache answers now is what it answers after a reopen.
    let keys: Vec<String> = (0..40)
        .map(|i| format!("shared-{i}"))
        .chain((0..threads).flat_map(|t| (0..50).map(move |i| format!("own-{t}-{i}"))))
        .collect();
    let before: Vec<_> = keys.iter().map(|k| get(&c, k.as_bytes())).collect();
    Arc::try_unwrap(c).ok().unwrap().close().unwrap();
    let c = Cache::open(&o).unwrap();
    for (k, want) in keys.iter().zip(before) {
        assert_eq!(get(&c, k.as_bytes()), want, "{k} changed across reopen");
    }
}

#[test]
fn write_through_under_contention() {
    hammer(WritePolicy::TC_WRITE_THROUGH);
}

#[test]
fn write_back_under_contention() {
    hammer(WritePolicy::TC_WRITE_BACK);
}
