//! `tiercache bench`: a short mixed workload on a temporary cache directory,
//! then a table of throughput and latency (p50, p99) per kind of operation.
//!
//! The cache gets a small L1 (bounded by entries) so that L2 is exercised.
//! Its keys are set up in two classes: a few hot keys, put last and read
//! often, which stay in memory (L1 hits); and many cold keys, which mostly
//! are only on disk when read (L2 hits). Each worker thread then loops until
//! the time is up, picking at random: 40% gets of hot keys, 30% gets of cold
//! keys, 10% gets of keys never seen, which the synthetic loader answers
//! (L3), and 20% puts over cold keys.
//!
//! Rows are by class of key, because the cache does not say which tier
//! answered a given get: a cold key read soon after it was last touched is
//! still in memory. The cache's own counts per tier are printed below the
//! table, to show how far the classes match the tiers.

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tiercache::options::L1Policy;
use tiercache::{Cache, Loaded, Options};

use crate::failure::Failure;
use crate::{progress, units};

/// What the user chose.
#[derive(Debug, Clone)]
pub struct Config {
    pub seconds: f64,
    pub threads: usize,
    pub value_size: usize,
    pub keys: u64,
    pub l1_policy: L1PolicyArg,
}

/// `--l1-policy`: `tc_l1_policy` by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum L1PolicyArg {
    /// Least recently used (the library's default)
    Lru,
    /// S3-FIFO: scan-resistant, hits take no exclusive lock
    S3fifo,
}

impl From<L1PolicyArg> for L1Policy {
    fn from(p: L1PolicyArg) -> L1Policy {
        match p {
            L1PolicyArg::Lru => L1Policy::TC_L1_LRU,
            L1PolicyArg::S3fifo => L1Policy::TC_L1_S3FIFO,
        }
    }
}

/// The kinds of operation, in the order of the table.
const KINDS: [&str; 4] = [
    "get, L1 (hot keys)",
    "get, L2 (cold keys)",
    "get, loader (new keys)",
    "put",
];
const HOT: usize = 0;
const COLD: usize = 1;
const NEW: usize = 2;
const PUT: usize = 3;

/// Latencies of one thread, per kind, in nanoseconds.
type Samples = [Vec<u32>; 4];

fn key(i: u64) -> Vec<u8> {
    format!("bench:{i:010}").into_bytes()
}

/// A value of `len` bytes that differs from key to key.
fn value(len: usize, seed: u64) -> Vec<u8> {
    let mut rng = Rng(seed);
    (0..len).map(|_| rng.next() as u8).collect()
}

/// SplitMix64: small, fast, and good enough to pick operations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn check(cfg: &Config) -> Result<(), Failure> {
    if !(cfg.seconds.is_finite() && cfg.seconds > 0.0 && cfg.seconds <= 3600.0) {
        return Err(Failure::error("--seconds: must be more than 0 and at most 3600"));
    }
    if !(1..=256).contains(&cfg.threads) {
        return Err(Failure::error("--threads: must be between 1 and 256"));
    }
    if cfg.keys < 2 {
        return Err(Failure::error("--keys: must be at least 2"));
    }
    if cfg.value_size > 16 << 20 {
        return Err(Failure::error("--value-size: must be at most 16 MiB (16777216)"));
    }
    Ok(())
}

pub fn run(cfg: &Config) -> Result<(), Failure> {
    check(cfg)?;
    let tmp = tempfile::tempdir().map_err(|e| Failure::io("create a temporary directory", e))?;
    let hot = (cfg.keys / 20).clamp(1, 256);
    let l1_entries = (hot * 4).max(cfg.keys / 10);
    let mut opts = Options::with_dir(tmp.path().join("cache"));
    opts.l1_max_entries = l1_entries;
    opts.l1_max_bytes = 0;
    opts.l1_policy = cfg.l1_policy.into();
    opts.l2_max_bytes = 0;
    let cache = Cache::open(&opts)?;
    let value_size = cfg.value_size;
    cache.set_loader(Some(Arc::new(move |k: &[u8]| Loaded::Value {
        value: value(value_size, k.len() as u64),
        ttl_ms: 0,
    })));

    // Cold keys first, so that the hot ones, put last, are the ones in memory.
    for i in (hot..cfg.keys).chain(0..hot) {
        cache.put(&key(i), &value(value_size, i), 0)?;
    }

    let duration = Duration::from_secs_f64(cfg.seconds);
    let bar = progress::timer("benchmarking", duration);
    let first_error: Mutex<Option<String>> = Mutex::new(None);
    let errors = AtomicU64::new(0);
    let start = Instant::now();
    let deadline = start + duration;
    let samples: Vec<Samples> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..cfg.threads)
            .map(|t| {
                let (cache, first_error, errors) = (&cache, &first_error, &errors);
                s.spawn(move || worker(cache, cfg, hot, t as u64, deadline, first_error, errors))
            })
            .collect();
        while Instant::now() < deadline {
            std::thread::sleep(
                deadline
                    .saturating_duration_since(Instant::now())
                    .min(Duration::from_millis(100)),
            );
            bar.set_position(start.elapsed().as_millis() as u64);
        }
        workers
            .into_iter()
            .map(|w| w.join().expect("a bench worker panicked"))
            .collect()
    });
    let elapsed = start.elapsed();
    bar.finish_and_clear();

    let stats = cache.stats();
    cache.close()?;
    if let Some(e) = first_error.into_inner().unwrap_or_else(|p| p.into_inner()) {
        return Err(Failure::error(format!(
            "{} operation(s) failed during the benchmark; the first: {e}",
            errors.load(Ordering::Relaxed)
        )));
    }
    let mut out = std::io::stdout().lock();
    report(&mut out, cfg, hot, l1_entries, elapsed, samples, &stats).map_err(Failure::output)
}

fn worker(
    cache: &Cache,
    cfg: &Config,
    hot: u64,
    thread: u64,
    deadline: Instant,
    first_error: &Mutex<Option<String>>,
    errors: &AtomicU64,
) -> Samples {
    let mut rng = Rng(thread.wrapping_mul(0x2545_f491_4f6c_dd1d) ^ 0x1234_5678);
    let mut samples: Samples = Default::default();
    let mut fresh = 0u64;
    let put_value = value(cfg.value_size, thread);
    loop {
        let kind = match rng.below(100) {
            0..40 => HOT,
            40..70 => COLD,
            70..80 => NEW,
            _ => PUT,
        };
        let k = match kind {
            HOT => key(rng.below(hot)),
            NEW => {
                fresh += 1;
                format!("bench:new:{thread}:{fresh}").into_bytes()
            }
            _ => key(hot + rng.below(cfg.keys - hot)),
        };
        let t = Instant::now();
        let r = if kind == PUT {
            cache.put(&k, &put_value, 0)
        } else {
            cache.get(&k).map(drop)
        };
        let now = Instant::now();
        samples[kind].push((now - t).as_nanos().min(u128::from(u32::MAX)) as u32);
        if let Err(e) = r {
            errors.fetch_add(1, Ordering::Relaxed);
            first_error
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .get_or_insert_with(|| e.to_string());
        }
        if now >= deadline {
            return samples;
        }
    }
}

/// The `q` quantile of sorted samples.
fn quantile(sorted: &[u32], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() - 1) as f64 * q).round() as usize;
    Duration::from_nanos(u64::from(sorted[i]))
}

fn report(
    out: &mut impl Write,
    cfg: &Config,
    hot: u64,
    l1_entries: u64,
    elapsed: Duration,
    samples: Vec<Samples>,
    stats: &tiercache::Stats,
) -> std::io::Result<()> {
    let secs = elapsed.as_secs_f64();
    writeln!(
        out,
        "tiercache bench: {} thread(s) for {secs:.2} s; {} keys ({hot} hot), {}-byte values, L1 bound {l1_entries} entries ({})",
        cfg.threads,
        cfg.keys,
        cfg.value_size,
        match cfg.l1_policy {
            L1PolicyArg::Lru => "LRU",
            L1PolicyArg::S3fifo => "S3-FIFO",
        }
    )?;
    writeln!(out)?;
    writeln!(
        out,
        "{:<24} {:>10} {:>12} {:>10} {:>10}",
        "operation", "count", "ops/s", "p50", "p99"
    )?;
    let mut all = Vec::new();
    let mut by_kind: [Vec<u32>; 4] = Default::default();
    for s in samples {
        for (kind, v) in s.into_iter().enumerate() {
            by_kind[kind].extend(v);
        }
    }
    let row = |out: &mut dyn Write, name: &str, v: &mut Vec<u32>| {
        v.sort_unstable();
        writeln!(
            out,
            "{name:<24} {:>10} {:>12.0} {:>10} {:>10}",
            v.len(),
            v.len() as f64 / secs,
            units::latency(quantile(v, 0.5)),
            units::latency(quantile(v, 0.99)),
        )
    };
    for (name, v) in KINDS.iter().zip(by_kind.iter_mut()) {
        row(out, name, v)?;
        all.extend_from_slice(v);
    }
    row(out, "all", &mut all)?;
    writeln!(out)?;
    writeln!(
        out,
        "the cache counted {} L1 hit(s), {} L2 hit(s), {} loader call(s), {} L1 eviction(s); L2 holds {} entries in {}",
        stats.l1_hits,
        stats.l2_hits,
        stats.l3_loads,
        stats.l1_evictions,
        stats.l2_entries,
        units::bytes(stats.l2_file_bytes),
    )
}
