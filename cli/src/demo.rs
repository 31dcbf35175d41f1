//! `tiercache demo`: the README's main job. Opens a cache with the default
//! settings on a temporary directory, registers a slow loader, and walks
//! through a miss (L3), a memory hit (L1), a restart, a disk hit (L2) and
//! eight threads missing one key at once (one load), saying in plain words
//! what each tier did and how long it took.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use tiercache::{Cache, Loaded, Options, Result};

/// How long the pretend expensive computation takes.
const WORK: Duration = Duration::from_millis(40);

fn loader(calls: Arc<AtomicU64>) -> Arc<dyn tiercache::Loader> {
    Arc::new(move |key: &[u8]| {
        calls.fetch_add(1, Ordering::Relaxed);
        thread::sleep(WORK); // stands in for a render, a query, a model call
        Loaded::Value {
            value: format!("<html>rendered {}</html>", String::from_utf8_lossy(key)).into_bytes(),
            ttl_ms: 0,
        }
    })
}

fn timed_get(cache: &Cache, key: &str) -> Result<(String, Duration)> {
    let t = Instant::now();
    let v = cache.get(key.as_bytes())?;
    Ok((String::from_utf8_lossy(&v).into_owned(), t.elapsed()))
}

fn show(d: Duration) -> String {
    if d >= Duration::from_millis(1) {
        format!("{:.1} ms", d.as_secs_f64() * 1e3)
    } else {
        format!("{:.1} µs", d.as_secs_f64() * 1e6)
    }
}

pub fn run() -> Result<()> {
    let tmp = tempfile::tempdir().map_err(|e| tiercache::Error::io("create a temporary directory", e))?;
    let dir = tmp.path().join("cache");
    println!(
        "tiercache {} demo: a cache with default settings in {}",
        env!("CARGO_PKG_VERSION"),
        dir.display()
    );
    println!(
        "The loader (L3) pretends to render a page, which takes {} each time.\n",
        show(WORK)
    );

    let calls = Arc::new(AtomicU64::new(0));
    let cache = Cache::open(&Options::with_dir(&dir))?;
    cache.set_loader(Some(loader(calls.clone())));

    println!("1. First run of the program");
    let (v, t) = timed_get(&cache, "page:/home")?;
    println!(
        "   get page:/home  -> {v:?} in {}: nothing in memory or on disk, so the loader (L3) rendered it;",
        show(t)
    );
    println!("                      the answer was stored in memory (L1) and appended to disk (L2).");
    let (_, t) = timed_get(&cache, "page:/home")?;
    println!(
        "   get page:/home  -> the same, in {}: answered from memory (L1).",
        show(t)
    );
    for page in ["/about", "/pricing", "/docs"] {
        cache.put(
            format!("page:{page}").as_bytes(),
            format!("<html>{page}</html>").as_bytes(),
            0,
        )?;
    }
    println!("   put 3 more pages directly (written through to disk).");
    let s = cache.stats();
    println!(
        "   stats: L1 {} hit(s), L3 {} load(s); {} entries in memory, {} on disk ({} bytes of log).",
        s.l1_hits, s.l3_loads, s.l1_entries, s.l2_entries, s.l2_file_bytes
    );
    cache.close()?;
    println!("   closed: the log is flushed and fsynced, the directory lock released.\n");

    println!("2. The program restarts: memory is empty, the disk is not");
    let cache = Cache::open(&Options::with_dir(&dir))?;
    cache.set_loader(Some(loader(calls.clone())));
    let s = cache.stats();
    let how = if cache.counter("l2_index_rebuilds").unwrap_or(0) > 0 {
        "rebuilt from the log"
    } else {
        "opened from its file (index.tci), checked against the record at its watermark"
    };
    println!(
        "   reopened: the index of {} entries was {how}; {} in memory.",
        s.l2_entries, s.l1_entries
    );
    let (v, t) = timed_get(&cache, "page:/home")?;
    println!(
        "   get page:/home  -> {v:?} in {}: read from disk (L2), checksum and key verified,",
        show(t)
    );
    println!("                      and promoted into memory. The loader was not called.");
    let (_, t) = timed_get(&cache, "page:/home")?;
    println!("   get page:/home  -> again in {}: from memory (L1).", show(t));
    let (v, t) = timed_get(&cache, "page:/blog")?;
    println!(
        "   get page:/blog  -> {v:?} in {}: new key, so the loader ran.",
        show(t)
    );
    let before = calls.load(Ordering::Relaxed);
    let t = Instant::now();
    let answers: Vec<bool> = thread::scope(|s| {
        let gets: Vec<_> = (0..8).map(|_| s.spawn(|| cache.get(b"page:/search").is_ok())).collect();
        gets.into_iter().map(|g| g.join().unwrap_or(false)).collect()
    });
    println!(
        "   8 threads get page:/search at once -> {} answered in {}; the loader ran {} time(s):",
        answers.iter().filter(|ok| **ok).count(),
        show(t.elapsed()),
        calls.load(Ordering::Relaxed) - before
    );
    println!("                      one thread loads a missing key, the others wait for its value.");
    cache.remove(b"page:/about")?;
    println!("   remove page:/about: a tombstone on disk keeps it removed across restarts.");
    cache.set_loader(None);
    let missing = match cache.get(b"page:/missing") {
        Ok(_) => "a value (unexpected)".to_string(),
        Err(e) => format!("{:?}", e.status()),
    };
    println!("   without a loader, get page:/missing -> {missing}: no tier has it.\n");

    let s = cache.stats();
    println!("What each tier did after the restart:");
    println!(
        "   L1 memory : {} hit(s), {} entries, {} bytes",
        s.l1_hits, s.l1_entries, s.l1_bytes
    );
    println!(
        "   L2 disk   : {} hit(s), {} live entries, {} bytes in segment files",
        s.l2_hits, s.l2_entries, s.l2_file_bytes
    );
    println!(
        "   L3 loader : {} call(s) after the restart, {} in all",
        s.l3_loads,
        calls.load(Ordering::Relaxed)
    );
    println!(
        "   misses    : {}, corrupt records seen: {}, I/O errors: {}",
        s.misses, s.corrupt_records, s.io_errors
    );
    cache.close()?;
    Ok(())
}
