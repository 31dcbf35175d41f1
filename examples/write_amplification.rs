//! How many bytes background compaction copies per byte put, and how large
//! the segment files grow against the live bytes, under sustained
//! overwrites: the figures behind the compaction policy (`src/log/compact.rs`,
//! `plan`; BENCHMARKS.md, "put, 16 KiB").
//!
//! It drives the log alone (no L1, no maintenance thread), so the run is
//! the same every time: `puts` puts of `value_len` bytes over `keys` keys,
//! drawn uniformly or by Zipf (s = 0.99) from a fixed seed, and one
//! background pass (`wants_compaction`, then `compact(false)`, as the
//! maintenance tick does) after every `tick` puts. The defaults are the
//! `put`-style 16 KiB workload of `benchmarks/c/hit.c put 16384 20000 …`:
//! 20000 keys, default 64 MiB segments, no L2 bound, a tick every 1000 puts
//! (under callgrind a 250 ms tick comes about that often; at full speed,
//! every ~15000: try both).
//!
//!     cargo run --release --example write_amplification -- [uniform|zipf] [keys] [value_len] [puts] [tick] [segment_bytes]
//!
//! Prints bytes copied per byte put, and the largest and the final ratio of
//! segment bytes (buffer included) to live bytes seen after a pass.

use std::sync::Arc;

use tiercache::clock::Clock;
use tiercache::log::{Log, LogConfig};
use tiercache::stats::Counters;
use tiercache::{Compression, SyncPolicy};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize, default: u64| args.get(i).map_or(default, |a| a.parse().expect("a number"));
    let zipf = args.first().is_some_and(|a| a == "zipf");
    let (keys, value_len, puts, tick) = (arg(1, 20_000), arg(2, 16_384), arg(3, 100_000), arg(4, 1000));
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        sync: SyncPolicy::TC_SYNC_NEVER,
        segment_bytes: arg(5, tiercache::options::DEFAULT_SEGMENT_BYTES),
        max_bytes: 0,
        read_only: false,
        clock: Clock::system(),
        compression: Compression::TC_COMPRESSION_NONE,
        min_compress_len: 0,
        max_value_len: 1 << 30,
        encryption_key: None,
    };
    let log = Log::open(dir.path(), config, Arc::new(Counters::default())).unwrap();
    let hasher = log.hasher();
    // Zipf by its cumulative weights, the key of rank r a shuffled one so
    // that hot keys do not sit together; splitmix64 for the draws.
    let cumulative: Vec<f64> = (1..=keys)
        .scan(0.0, |c, i| {
            *c += 1.0 / (i as f64).powf(0.99);
            Some(*c)
        })
        .collect();
    let mut seed = 12u64;
    let mut next = || {
        seed = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = seed;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    let value = vec![0x5au8; value_len as usize];
    let (mut record, mut worst, mut last) = (0u64, 0f64, 0f64);
    for n in 1..=puts {
        let r = next();
        let k = if zipf {
            let x = (r >> 11) as f64 / (1u64 << 53) as f64 * cumulative[keys as usize - 1];
            (cumulative.partition_point(|&c| c < x) as u64).wrapping_mul(0x9e37_79b9) % keys
        } else {
            r % keys
        };
        let key = format!("bench:key:{k:010}");
        let before = if n == 1 { log.sizes().file_bytes } else { 0 };
        log.put(key.as_bytes(), hasher.hash(key.as_bytes()), &value, 0, 0, None);
        if n == 1 {
            // Every put's record is this long, give or take the few bytes
            // of its sequence number.
            record = log.sizes().file_bytes - before;
        }
        if n % tick == 0 {
            if log.wants_compaction() {
                log.compact(false).unwrap();
            }
            let s = log.sizes();
            last = s.file_bytes as f64 / s.live_bytes as f64;
            if n > puts / 4 {
                worst = worst.max(last);
            }
        }
    }
    println!(
        "{} keys={keys} value={value_len} puts={puts} tick={tick} segment={}: copied per byte put {:.3}, \
         files/live after a pass: max {worst:.2} (past the first quarter), last {last:.2}",
        if zipf { "zipf" } else { "uniform" },
        arg(5, tiercache::options::DEFAULT_SEGMENT_BYTES),
        log.compacted_bytes() as f64 / (record * puts) as f64,
    );
}
