//! Crashes: a writer killed with SIGKILL at random moments, and compaction
//! killed at each of its file operations. After each crash the directory is
//! reopened and compared with what the writer had been told was durable.
//!
//! Both run the test binary itself as the child process (see `child_main`).
//! TIERCACHE_TORTURE=large makes the kill loop ten times longer.

mod common;

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::get;
use tiercache::log::fileio::{self, Op, Plan};
use tiercache::options::tc_sync_policy::TC_SYNC_ALWAYS;
use tiercache::{Cache, Options, Status};

const KEYS: u64 = 64;

fn writer_opts(dir: &Path) -> Options {
    let mut o = Options::with_dir(dir);
    o.set_sync_policy(TC_SYNC_ALWAYS, 0).unwrap();
    o.set_segment_bytes(32 * 1024).unwrap();
    o.l1_max_entries = 16;
    o
}

/// The writer's operation number `i` of generation `gen`: a put of a value
/// naming both, or (one time in eight) a remove.
fn op(gen: u64, i: u64) -> (String, Option<Vec<u8>>) {
    let mut x = gen.wrapping_mul(0x9e3779b97f4a7c15) ^ i.wrapping_mul(0xbf58476d1ce4e5b9);
    x ^= x >> 31;
    x = x.wrapping_mul(0x94d049bb133111eb);
    x ^= x >> 29;
    let key = format!("key{}", x % KEYS);
    if x % 8 == 0 {
        (key, None)
    } else {
        (
            key,
            Some(format!("g{gen}-i{i};").repeat(1 + (x % 40) as usize).into_bytes()),
        )
    }
}

/// Child mode, chosen by environment variables; a no-op as a normal test.
#[test]
fn child_main() {
    let Ok(dir) = std::env::var("TIERCACHE_CRASH_DIR") else {
        return;
    };
    let dir = Path::new(&dir);
    match std::env::var("TIERCACHE_CRASH_MODE").as_deref() {
        Ok("writer") => {
            let gen: u64 = std::env::var("TIERCACHE_CRASH_GEN").unwrap().parse().unwrap();
            let c = Cache::open(&writer_opts(dir)).unwrap();
            println!("OPEN");
            for i in 0.. {
                let (key, value) = op(gen, i);
                match value {
                    Some(v) => c.put(key.as_bytes(), &v, 0).unwrap(),
                    None => {
                        let _ = c.remove(key.as_bytes());
                    }
                }
                // Durable (TC_SYNC_ALWAYS) once put returns: acknowledge it.
                println!("ACK {i}");
                if i % 150 == 149 {
                    c.compact().unwrap();
                }
            }
        }
        Ok("compact") => {
            let nth: u64 = std::env::var("TIERCACHE_CRASH_AT").unwrap().parse().unwrap();
            let c = Cache::open(&Options::with_dir(dir)).unwrap();
            // errno 0: abort the process at the nth file operation.
            fileio::inject(
                dir,
                Plan {
                    op: Op::Any,
                    nth,
                    persistent: false,
                    errno: 0,
                },
            );
            c.compact().unwrap();
            c.close().unwrap();
            println!("DONE");
        }
        other => panic!("unknown crash mode {other:?}"),
    }
}

fn child(dir: &Path, mode: &str, vars: &[(&str, String)]) -> Command {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["--exact", "child_main", "--nocapture", "--test-threads=1"])
        .env("TIERCACHE_CRASH_DIR", dir)
        .env("TIERCACHE_CRASH_MODE", mode)
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    for (k, v) in vars {
        cmd.env(k, v);
    }
    cmd
}

/// Every key's value in the directory, read by a fresh cache.
fn snapshot(dir: &Path) -> HashMap<String, Option<Vec<u8>>> {
    let c = Cache::open(&Options::with_dir(dir)).unwrap();
    assert_eq!(
        c.stats().corrupt_records,
        0,
        "a crash must never leave a corrupt record behind the tail"
    );
    (0..KEYS)
        .map(|k| {
            let key = format!("key{k}");
            let v = match get(&c, key.as_bytes()) {
                Ok(v) => Some(v),
                Err(Status::TC_NOT_FOUND) => None,
                Err(e) => panic!("{key}: {e:?}"),
            };
            (key, v)
        })
        .collect()
}

#[test]
fn killed_writers_lose_nothing_they_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let kills = if std::env::var("TIERCACHE_TORTURE").is_ok_and(|v| v == "large") {
        1000
    } else {
        100
    };
    let mut state: HashMap<String, Option<Vec<u8>>> = (0..KEYS).map(|k| (format!("key{k}"), None)).collect();
    let mut rng = 0x853c49e6748fea9bu64;
    let mut total_acked = 0;
    for gen in 0..kills {
        let mut proc = child(dir.path(), "writer", &[("TIERCACHE_CRASH_GEN", gen.to_string())])
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(proc.stdout.take().unwrap()).lines();
        // libtest prints its own banner first, and "test child_main ... " before OPEN.
        assert!(
            lines.by_ref().map_while(Result::ok).any(|l| l.ends_with("OPEN")),
            "generation {gen}: the writer did not open"
        );
        // Let it write for a random while, then SIGKILL it mid-flight.
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        std::thread::sleep(Duration::from_micros(500 + rng % 25_000));
        proc.kill().unwrap();
        proc.wait().unwrap();
        // Everything it printed before dying is acknowledged.
        let acked = lines
            .map_while(Result::ok)
            .filter_map(|l| l.strip_prefix("ACK ")?.parse::<u64>().ok())
            .last();
        total_acked += acked.map_or(0, |l| l + 1);
        let mut expect = state.clone();
        if let Some(last) = acked {
            for i in 0..=last {
                let (k, v) = op(gen, i);
                expect.insert(k, v);
            }
        }
        // The one operation in flight when it died may or may not have landed.
        let next = acked.map_or(0, |l| l + 1);
        let (in_flight_key, in_flight_value) = op(gen, next);
        let found = snapshot(dir.path());
        for (k, v) in &found {
            let ok = v == &expect[k] || (k == &in_flight_key && v == &in_flight_value);
            assert!(
                ok,
                "generation {gen}, {k}: found {:?}, acknowledged {:?}",
                v.as_ref().map(|v| v.len()),
                expect[k].as_ref().map(|v| v.len())
            );
        }
        state = found;
    }
    // The kills landed mid-work, not before the first write.
    assert!(
        total_acked > kills,
        "only {total_acked} writes acknowledged in {kills} runs"
    );
}

#[test]
fn compaction_killed_at_any_step_leaves_one_valid_state() {
    let base = tempfile::tempdir().unwrap();
    let src = base.path().join("src");
    let mut o = Options::with_dir(&src);
    o.set_segment_bytes(8 * 1024).unwrap();
    let mut expect = HashMap::new();
    {
        let c = Cache::open(&o).unwrap();
        for round in 0..12 {
            for k in 0..KEYS {
                let key = format!("key{k}");
                if (k + round) % 11 == 0 {
                    let _ = c.remove(key.as_bytes());
                    expect.insert(key, None);
                } else {
                    let v = format!("r{round}k{k}").repeat(6).into_bytes();
                    c.put(key.as_bytes(), &v, 0).unwrap();
                    expect.insert(key, Some(v));
                }
            }
        }
        c.close().unwrap();
    }
    let mut completed = false;
    for nth in 1..=2000u64 {
        let dir = base.path().join(format!("crash-{nth}"));
        copy_dir(&src, &dir);
        let out = child(&dir, "compact", &[("TIERCACHE_CRASH_AT", nth.to_string())])
            .output()
            .unwrap();
        let done = String::from_utf8_lossy(&out.stdout).contains("DONE");
        assert_eq!(snapshot(&dir), expect, "compaction killed at file operation {nth}");
        std::fs::remove_dir_all(&dir).unwrap();
        if done {
            // The kill point is past the last operation: every step was covered.
            assert!(nth > 5, "compaction did almost nothing");
            completed = true;
            break;
        }
    }
    assert!(completed, "compaction never finished within 2000 file operations");
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}
