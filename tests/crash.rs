//! Crashes: a writer killed with SIGKILL at random moments, and compaction
//! killed at each of its file operations. After each crash the directory is
//! reopened and compared with what the writer had been told.
//!
//! Both run the test binary itself as the child process (see `child_main`).
//!
//! The kill loop runs under each write policy and sync policy. The writer
//! prints `ACK i` once its operation `i` (a put or a remove, drawn from the
//! generation and `i`, with a value naming key, generation and `i`) has
//! returned, and `FLUSHED i` once a `flush` after operation `i` has returned.
//! The parent reads those lines, so it knows the order of every acknowledged
//! write, and after the kill checks what the reopened directory holds:
//!
//! - every key holds a value it was once given, or nothing;
//! - write-through: the directory is a prefix of the writer's history: there
//!   is one point `p` in its sequence of operations such that every key holds
//!   exactly what operations `0..p` left it, and `p` is at or after the last
//!   operation made durable: every acknowledged one, put or remove, under
//!   `TC_SYNC_ALWAYS` ("every write", DESIGN.md),
//!   the last flushed one under the other policies (a SIGKILL does not lose
//!   what reached the file, so what `flush` wrote counts as durable whether
//!   or not it was fsynced; `p` may go one past the last acknowledgement: the
//!   operation in flight at the kill may have landed);
//! - write-back: each key holds what the history left it at some point at or
//!   after the last flush (each key its own point: evictions write keys out of
//!   order).
//!
//! Each reopen also checks the L2 index file (docs/FORMAT.md "Index files"):
//! the counts it and the replayed tail give (live and dead bytes per
//! segment, entries) equal what the records say (`check_invariants`), and
//! a reopen that finds a meta file trusts the index rather than rebuild it
//! (a kill in the middle of a checkpoint leaves the meta file and the
//! journal that undoes the checkpoint's writes; a kill while the oldest
//! segment is retired leaves a meta file listing it, and the reopen drops
//! its entries; only a kill while a new table replaces the old leaves no
//! meta file, and that reopen rebuilds, counted in `l2_index_rebuilds`).
//! The loops "under a bound" run the writer at a small L2 bound, where
//! segments are retired as it goes and keys may be evicted: a key found
//! holding nothing passes, a key holding a value must hold the right one.
//!
//! The kill moment is random: the parent waits for a random number of
//! acknowledgements, then for a random few hundred microseconds more. Nothing
//! asserts on how long anything takes. TIERCACHE_TORTURE=large makes every
//! kill loop ten times longer.
//!
//! Some loops run with values compressed and records encrypted
//! (`common::AtRest`): the checks are the same.

mod common;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::RwLock;
use std::time::Duration;

use common::{get, AtRest};
use tiercache::log::fileio::{self, Op, Plan};
use tiercache::options::tc_sync_policy::{TC_SYNC_ALWAYS, TC_SYNC_INTERVAL, TC_SYNC_NEVER, TC_SYNC_ON_FLUSH};
use tiercache::options::tc_write_policy::{TC_WRITE_BACK, TC_WRITE_THROUGH};
use tiercache::options::{SyncPolicy, WritePolicy};
use tiercache::{Cache, Options, Status};

const KEYS: u64 = 64;

/// How the killed writer's cache is set up.
#[derive(Clone, Copy, Debug)]
struct Mode {
    write: WritePolicy,
    sync: SyncPolicy,
    at_rest: AtRest,
    /// Under a small L2 bound (`BOUND`): segments are retired as the writer
    /// goes, and a key may be evicted (found holding nothing) at any time.
    bounded: bool,
}

/// The L2 bound of a bounded mode, and its segments' size: about what the
/// writer's keys hold live, so that the oldest segment is retired every few
/// hundred operations.
const BOUND: u64 = 24 * 1024;
const BOUNDED_SEGMENT: u64 = 8 * 1024;

impl Mode {
    /// The policies' name, then `/` and the at-rest mode unless plain.
    fn name(self) -> String {
        let name = match self.at_rest {
            AtRest::Plain => self.policies().to_string(),
            a => format!("{}/{}", self.policies(), a.name()),
        };
        if self.bounded {
            name + "+bound"
        } else {
            name
        }
    }

    fn policies(self) -> &'static str {
        match (self.write, self.sync) {
            (TC_WRITE_THROUGH, TC_SYNC_ALWAYS) => "through-always",
            (TC_WRITE_THROUGH, TC_SYNC_INTERVAL) => "through-interval",
            (TC_WRITE_THROUGH, TC_SYNC_ON_FLUSH) => "through-on-flush",
            (TC_WRITE_THROUGH, TC_SYNC_NEVER) => "through-never",
            (TC_WRITE_BACK, TC_SYNC_ALWAYS) => "back-always",
            (TC_WRITE_BACK, TC_SYNC_INTERVAL) => "back-interval",
            (TC_WRITE_BACK, TC_SYNC_ON_FLUSH) => "back-on-flush",
            (TC_WRITE_BACK, TC_SYNC_NEVER) => "back-never",
        }
    }

    fn from_name(name: &str) -> Mode {
        let (name, bounded) = match name.strip_suffix("+bound") {
            Some(n) => (n, true),
            None => (name, false),
        };
        let (policies, at_rest) = match name.split_once('/') {
            Some((p, a)) => (p, AtRest::from_name(a)),
            None => (name, AtRest::Plain),
        };
        [TC_WRITE_THROUGH, TC_WRITE_BACK]
            .into_iter()
            .flat_map(|write| {
                [TC_SYNC_ALWAYS, TC_SYNC_INTERVAL, TC_SYNC_ON_FLUSH, TC_SYNC_NEVER]
                    .into_iter()
                    .map(move |sync| Mode {
                        write,
                        sync,
                        at_rest,
                        bounded,
                    })
            })
            .find(|m| m.policies() == policies)
            .unwrap_or_else(|| panic!("unknown crash mode {name:?}"))
    }

    /// Whether an acknowledged operation is durable by itself, without a flush.
    fn acks_are_durable(self) -> bool {
        self.write == TC_WRITE_THROUGH && self.sync == TC_SYNC_ALWAYS
    }
}

fn writer_opts(dir: &Path, mode: Mode) -> Options {
    let mut o = mode.at_rest.with_dir(dir);
    o.write_policy = mode.write;
    // A short interval, so that the background flush races the writer.
    o.set_sync_policy(mode.sync, 2).unwrap();
    o.set_segment_bytes(32 * 1024).unwrap();
    o.l1_max_entries = 16;
    if mode.bounded {
        o.l2_max_bytes = BOUND;
        o.set_segment_bytes(BOUNDED_SEGMENT).unwrap();
    }
    o
}

/// The writer's operation number `i` of generation `gen`: a put of a value
/// naming the key, the generation and `i`, or (one time in eight) a remove.
fn op(gen: u64, i: u64) -> (String, Option<Vec<u8>>) {
    let mut x = gen.wrapping_mul(0x9e3779b97f4a7c15) ^ i.wrapping_mul(0xbf58476d1ce4e5b9);
    x ^= x >> 31;
    x = x.wrapping_mul(0x94d049bb133111eb);
    x ^= x >> 29;
    // The key and the kind from different bits (from the same ones, every
    // remove would hit a key that is never put).
    let key = format!("key{}", (x >> 16) % KEYS);
    if x.is_multiple_of(8) {
        (key, None)
    } else {
        let v = format!("{key}-g{gen}-i{i};").repeat(1 + (x % 40) as usize).into_bytes();
        (key, Some(v))
    }
}

/// Which operation wrote `value` under `key`: `(gen, i)` if it is exactly
/// what `op(gen, i)` put there, else `None`.
fn writer_of(key: &str, value: &[u8]) -> Option<(u64, u64)> {
    let s = std::str::from_utf8(value).ok()?;
    let first = s.split(';').next()?;
    let mut parts = first.rsplitn(3, '-');
    let i = parts.next()?.strip_prefix('i')?.parse().ok()?;
    let gen = parts.next()?.strip_prefix('g')?.parse().ok()?;
    (parts.next()? == key && op(gen, i) == (key.to_string(), Some(value.to_vec()))).then_some((gen, i))
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
            let mode = Mode::from_name(&std::env::var("TIERCACHE_CRASH_POLICY").unwrap());
            let flush_every: u64 = std::env::var("TIERCACHE_CRASH_FLUSH_EVERY").unwrap().parse().unwrap();
            let c = Cache::open(&writer_opts(dir, mode)).unwrap();
            println!("OPEN");
            for i in 0.. {
                let (key, value) = op(gen, i);
                match value {
                    Some(v) => c.put(key.as_bytes(), &v, 0).unwrap(),
                    None => {
                        let _ = c.remove(key.as_bytes());
                    }
                }
                // Returned (and durable, under write-through and TC_SYNC_ALWAYS).
                println!("ACK {i}");
                if flush_every > 0 && i % flush_every == flush_every - 1 {
                    c.flush().unwrap();
                    println!("FLUSHED {i}");
                }
                if i % 150 == 149 {
                    c.compact().unwrap();
                }
            }
        }
        Ok("remove-then-die") => {
            // A put, a remove, both returned: then SIGKILL, with nothing
            // else in flight.
            let c = Cache::open(&writer_opts(dir, Mode::from_name("through-always"))).unwrap();
            c.put(b"gone", b"value", 0).unwrap();
            c.remove(b"gone").unwrap();
            println!("REMOVED");
            // SAFETY: kill(2) on this very process.
            unsafe { libc::kill(libc::getpid(), libc::SIGKILL) };
            unreachable!("SIGKILL returned");
        }
        Ok("compact") => {
            let nth: u64 = std::env::var("TIERCACHE_CRASH_AT").unwrap().parse().unwrap();
            let at_rest = AtRest::from_name(&std::env::var("TIERCACHE_CRASH_AT_REST").unwrap());
            let c = Cache::open(&at_rest.with_dir(dir)).unwrap();
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

/// Taken shared while this process has a cache directory open, and
/// exclusively to start a child. The tests run in parallel threads, and a
/// child forked while another thread holds a directory's lock file open
/// inherits that descriptor, and with it the `flock`, until it execs: the
/// next opener of that directory would get `TC_LOCKED`. `Command::spawn`
/// returns once the child has exec'd, so holding this across it is enough.
static FORKING: RwLock<()> = RwLock::new(());

fn spawn(cmd: &mut Command) -> Child {
    let _g = FORKING.write().unwrap_or_else(|e| e.into_inner());
    cmd.spawn().unwrap()
}

type State = HashMap<String, Option<Vec<u8>>>;

/// Every key's value in the directory, read by a fresh cache; and whether
/// the open rebuilt the index rather than trust its file, and whether the
/// kill had left a meta file (`index.tcm`) that names a record (one
/// written for an empty log, watermark 0 at bytes 24..32, names none to
/// check the log against: docs/FORMAT.md; an open never trusts it).
fn snapshot(dir: &Path, at_rest: AtRest) -> (State, Reopen) {
    let had_meta = std::fs::read(dir.join("index.tcm"))
        .ok()
        .and_then(|m| m.get(24..32).map(|w| w != [0; 8]))
        .unwrap_or(false);
    let _g = FORKING.read().unwrap_or_else(|e| e.into_inner());
    // Before the open touches it: an index file a kill left behind may be
    // incomplete (then the open does not trust it), but never wrong in a
    // slot that the open would trust.
    let report = tiercache::log::verify::verify(dir, at_rest.verify_key().as_ref(), |_, _| {}).unwrap();
    assert!(
        report.index.bad_slots.is_empty(),
        "after a kill, the index file has wrong slots: {:?}",
        report.index
    );
    let c = Cache::open(&at_rest.with_dir(dir)).unwrap();
    assert_eq!(
        c.stats().corrupt_records,
        0,
        "a crash must never leave a corrupt record behind the tail"
    );
    let rebuilt = c.counter("l2_index_rebuilds").unwrap() > 0;
    if let Err(e) = c.check_invariants() {
        panic!("after a kill, the index and its counts disagree with the log: {e}");
    }
    let state = (0..KEYS)
        .map(|k| {
            let key = format!("key{k}");
            let v = match get(&c, key.as_bytes()) {
                Ok(v) => Some(v),
                Err(Status::TC_NOT_FOUND) => None,
                Err(e) => panic!("{key}: {e:?}"),
            };
            (key, v)
        })
        .collect();
    assert_eq!(
        c.counter("l2_index_repairs").unwrap(),
        0,
        "no read found a wrong index entry"
    );
    let reopen = Reopen {
        rebuilt,
        had_meta,
        retired: c.counter("l2_evictions").unwrap() > 0,
    };
    (state, reopen)
}

/// How a reopen after a kill went.
struct Reopen {
    /// It rebuilt the index rather than trust its file.
    rebuilt: bool,
    /// The kill left a meta file (`index.tcm`) that names a record.
    had_meta: bool,
    /// It finished a retirement the kill cut short (dropped the entries of
    /// segments that were gone: counted as evictions).
    retired: bool,
}

/// A value, for messages: which operation wrote it.
fn show(key: &str, v: &Option<Vec<u8>>) -> String {
    match v {
        None => "nothing".into(),
        Some(v) => match writer_of(key, v) {
            Some((g, i)) => format!("the value of generation {g} operation {i}"),
            None => format!(
                "{} bytes written by no operation: {:?}",
                v.len(),
                String::from_utf8_lossy(v)
            ),
        },
    }
}

/// Checks what the directory holds after generation `gen` was killed. The
/// generation started from `start`; it acknowledged operations `0..acked`
/// (operation `acked` may have been in flight), and operations `0..durable`
/// were made durable (acknowledged under write-through and
/// TC_SYNC_ALWAYS, else flushed).
///
/// Returns, under write-through, the longest prefix that matches.
///
/// In a bounded mode a key found holding nothing matches any state (it may
/// have been evicted); a key found holding a value must hold the one the
/// state gives it, as in every mode: an eviction never brings back an older
/// value.
fn check(mode: Mode, gen: u64, start: &State, found: &State, acked: u64, durable: u64) -> Result<Option<u64>, String> {
    // At most operations 0..last can have landed.
    let last = acked + 1;
    let fits = |state: &Option<Vec<u8>>, found: &Option<Vec<u8>>| state == found || (mode.bounded && found.is_none());
    // Every key holds a value it was once given, or nothing.
    for (k, v) in found {
        if let Some(v) = v {
            match writer_of(k, v) {
                Some((g, i)) if g < gen || (g == gen && i < last) => {}
                _ => return Err(format!("{k} holds {}, never given to it", show(k, &Some(v.clone())))),
            }
        }
    }
    // The history's states S_0 = start, S_1, …, S_last; `diff` counts the
    // keys on which S_p and `found` differ, and `seen[k]` says whether key k
    // held its found value at some p in durable..=last.
    let mut state = start.clone();
    let mut diff = found.iter().filter(|(k, v)| !fits(&state[*k], v)).count();
    let mut seen: HashMap<&String, bool> = found.keys().map(|k| (k, false)).collect();
    let mut prefixes = Vec::new(); // every p in durable..=last whose S_p is the found state
    let mut closest = (usize::MAX, 0u64); // (diff, p) over durable..=last
    for p in 0..=last {
        if p >= durable {
            if diff == 0 {
                prefixes.push(p);
            }
            closest = closest.min((diff, p));
            if p == durable {
                for (k, s) in seen.iter_mut() {
                    *s = fits(&state[*k], &found[*k]);
                }
            }
        }
        if p == last {
            break;
        }
        let (k, v) = op(gen, p);
        let was_equal = fits(&state[&k], &found[&k]);
        if v.is_some() || state[&k].is_some() {
            state.insert(k.clone(), v);
        }
        let now_equal = fits(&state[&k], &found[&k]);
        match (was_equal, now_equal) {
            (true, false) => diff += 1,
            (false, true) => diff -= 1,
            _ => {}
        }
        if p + 1 >= durable && now_equal {
            *seen.get_mut(&k).unwrap() = true;
        }
    }
    if mode.write == TC_WRITE_THROUGH {
        if let Some(p) = prefixes.last() {
            return Ok(Some(*p));
        }
        // Explain with the closest prefix at or after the durable point.
        let p = closest.1;
        let s = prefix(gen, start, p);
        let mut wrong: Vec<String> = found
            .iter()
            .filter(|(k, v)| !fits(&s[*k], v))
            .map(|(k, v)| {
                format!(
                    "{k} holds {} where operations 0..{p} left {}",
                    show(k, v),
                    show(k, &s[k])
                )
            })
            .collect();
        wrong.sort();
        return Err(format!(
            "no prefix of the history from operation {durable} (durable) to {last} matches the directory; \
             the closest, 0..{p}, differs on {} keys:\n  {}",
            wrong.len(),
            wrong.join("\n  ")
        ));
    }
    let mut wrong: Vec<String> = seen
        .iter()
        .filter(|(_, s)| !**s)
        .map(|(k, _)| {
            format!(
                "{k} holds {}, which it did not hold at or after operation {durable}",
                show(k, &found[*k])
            )
        })
        .collect();
    wrong.sort();
    if wrong.is_empty() {
        Ok(None)
    } else {
        Err(wrong.join("\n  "))
    }
}

fn torture_kills(default: u64) -> u64 {
    if std::env::var("TIERCACHE_TORTURE").is_ok_and(|v| v == "large") {
        default * 10
    } else {
        default
    }
}

/// Kills a writer of `mode` `kills` times, checking the directory after each.
fn kill_loop(mode: Mode, kills: u64) {
    let dir = tempfile::tempdir().unwrap();
    let mut state: State = (0..KEYS).map(|k| (format!("key{k}"), None)).collect();
    // Seeded per mode: the same kill points (in acknowledgements) every run.
    let mut rng = 0x853c49e6748fea9bu64 ^ ((mode.write as u64) << 8) ^ (mode.sync as u64);
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let mut total_acked = 0;
    let mut rebuilds = 0;
    let mut retired_at_open = 0;
    let mut lost = 0;
    let mut failures = Vec::new();
    for gen in 0..kills {
        // How often the writer flushes (0: never): under TC_SYNC_ALWAYS and
        // write-through every acknowledgement is a durable point already.
        let flush_every = [0, 5, 40, 200][(next() % 4) as usize];
        let stderr = tempfile::tempfile().unwrap();
        let mut proc = spawn(
            child(
                dir.path(),
                "writer",
                &[
                    ("TIERCACHE_CRASH_GEN", gen.to_string()),
                    ("TIERCACHE_CRASH_POLICY", mode.name().to_string()),
                    ("TIERCACHE_CRASH_FLUSH_EVERY", flush_every.to_string()),
                ],
            )
            .stderr(stderr.try_clone().unwrap()),
        );
        // What the writer said on stderr, for when it dies by itself.
        let said = |mut f: &std::fs::File| {
            let mut s = String::new();
            f.seek(SeekFrom::Start(0)).unwrap();
            f.read_to_string(&mut s).unwrap();
            s
        };
        let mut lines = BufReader::new(proc.stdout.take().unwrap())
            .lines()
            .map_while(Result::ok);
        // libtest prints its own banner first, and "test child_main ... " before OPEN.
        if !lines.by_ref().any(|l| l.ends_with("OPEN")) {
            let _ = proc.wait();
            panic!(
                "{} generation {gen}: the writer did not open:\n{}",
                mode.name(),
                said(&stderr)
            );
        }
        // Let it acknowledge a random number of operations (fsyncs are
        // slow: fewer under TC_SYNC_ALWAYS), then a random moment more,
        // then SIGKILL it mid-flight.
        let most = if mode.sync == TC_SYNC_ALWAYS { 40 } else { 600 };
        let wait_for = next() % most;
        let mut acked = 0; // operations 0..acked acknowledged
        let mut flushed = 0; // operations 0..flushed flushed
        let note = |l: &str, acked: &mut u64, flushed: &mut u64| {
            if let Some(i) = l.strip_prefix("ACK ").and_then(|i| i.parse::<u64>().ok()) {
                *acked = i + 1;
            } else if let Some(i) = l.strip_prefix("FLUSHED ").and_then(|i| i.parse::<u64>().ok()) {
                *flushed = i + 1;
            }
        };
        if wait_for > 0 {
            for l in lines.by_ref() {
                note(&l, &mut acked, &mut flushed);
                if acked >= wait_for {
                    break;
                }
            }
        }
        std::thread::sleep(Duration::from_micros(next() % 500));
        proc.kill().unwrap();
        let status = proc.wait().unwrap();
        assert_eq!(
            status.signal(),
            Some(libc::SIGKILL),
            "{} generation {gen}: the writer ended by itself ({status}):\n{}",
            mode.name(),
            said(&stderr)
        );
        // Everything it printed before dying is acknowledged.
        for l in lines {
            note(&l, &mut acked, &mut flushed);
        }
        total_acked += acked;
        let durable = if mode.acks_are_durable() { acked } else { flushed };
        let (found, reopen) = snapshot(dir.path(), mode.at_rest);
        rebuilds += u64::from(reopen.rebuilt);
        retired_at_open += u64::from(reopen.retired);
        if reopen.rebuilt && reopen.had_meta {
            failures.push(format!(
                "{} generation {gen}: the reopen rebuilt the index though the kill left its meta file \
                 (a checkpoint cut short is undone by its journal, a retirement cut short is finished, never rebuilt)",
                mode.name()
            ));
        }
        match check(mode, gen, &state, &found, acked, durable) {
            Ok(Some(p)) => lost += acked.saturating_sub(p),
            Ok(None) => {}
            Err(e) => {
                failures.push(format!(
                    "{} generation {gen} (flush every {flush_every}; {acked} acknowledged, {flushed} flushed): {e}",
                    mode.name()
                ));
                if failures.len() >= 5 {
                    break;
                }
            }
        }
        state = found;
    }
    println!(
        "{}: {kills} kills, {total_acked} operations acknowledged{}",
        mode.name(),
        if mode.write == TC_WRITE_THROUGH {
            format!(", {lost} of them not in the directory after the kill (not yet flushed)")
        } else {
            String::new()
        }
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // Every rebuild is explained: the kill landed while a new table
    // replaced the old (growth), when there is no meta file (checked above).
    println!(
        "{}: {rebuilds} of {kills} reopens rebuilt the index, each after a kill that left no meta file naming a record",
        mode.name()
    );
    if mode.bounded {
        println!(
            "{}: {retired_at_open} of {kills} reopens finished a retirement the kill cut short",
            mode.name()
        );
    }
    // The kills landed mid-work, not before the first write.
    assert!(
        total_acked > kills,
        "only {total_acked} writes acknowledged in {kills} runs"
    );
}

/// The smallest case of the kill loop's prefix rule for removes: under
/// TC_SYNC_ALWAYS a remove that returned is durable, as a put is.
#[test]
fn an_acknowledged_remove_survives_a_kill_under_sync_always() {
    let dir = tempfile::tempdir().unwrap();
    let out = spawn(&mut child(dir.path(), "remove-then-die", &[]))
        .wait_with_output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("REMOVED"));
    assert_eq!(out.status.signal(), Some(libc::SIGKILL));
    let found = {
        let _g = FORKING.read().unwrap_or_else(|e| e.into_inner());
        let c = Cache::open(&Options::with_dir(dir.path())).unwrap();
        get(&c, b"gone")
    };
    assert_eq!(
        found,
        Err(Status::TC_NOT_FOUND),
        "a key removed (and acknowledged) under TC_SYNC_ALWAYS came back after a kill"
    );
}

#[test]
fn killed_writers_lose_nothing_they_acknowledged() {
    kill_loop(Mode::from_name("through-always"), torture_kills(100));
}

#[test]
fn killed_write_through_writers_leave_a_prefix_sync_interval() {
    kill_loop(Mode::from_name("through-interval"), torture_kills(60));
}

#[test]
fn killed_write_through_writers_leave_a_prefix_sync_on_flush() {
    kill_loop(Mode::from_name("through-on-flush"), torture_kills(40));
}

#[test]
fn killed_write_through_writers_leave_a_prefix_sync_never() {
    kill_loop(Mode::from_name("through-never"), torture_kills(40));
}

#[test]
fn killed_writers_lose_nothing_they_acknowledged_compressed_and_encrypted() {
    kill_loop(Mode::from_name("through-always/zstd+key"), torture_kills(40));
}

#[test]
fn killed_write_through_writers_leave_a_prefix_compressed() {
    kill_loop(Mode::from_name("through-on-flush/lz4"), torture_kills(30));
}

#[test]
fn killed_write_through_writers_leave_a_prefix_encrypted() {
    kill_loop(Mode::from_name("through-interval/key"), torture_kills(30));
}

#[test]
fn killed_write_back_writers_keep_values_given_compressed_and_encrypted() {
    kill_loop(Mode::from_name("back-on-flush/zstd+key"), torture_kills(30));
}

#[test]
fn killed_write_back_writers_keep_values_given_sync_always() {
    kill_loop(Mode::from_name("back-always"), torture_kills(40));
}

#[test]
fn killed_write_back_writers_keep_values_given_sync_interval() {
    kill_loop(Mode::from_name("back-interval"), torture_kills(60));
}

#[test]
fn killed_write_back_writers_keep_values_given_sync_on_flush() {
    kill_loop(Mode::from_name("back-on-flush"), torture_kills(40));
}

#[test]
fn killed_write_back_writers_keep_values_given_sync_never() {
    kill_loop(Mode::from_name("back-never"), torture_kills(40));
}

/// Under a small L2 bound the writer's segments are retired as it goes, so
/// kills land in retirements: the next open finishes one from the index
/// file (`Meta::retired_segments`), never rebuilds while a meta file is
/// there, and no value older than the key's own comes back.
#[test]
fn killed_write_through_writers_under_a_bound_leave_a_prefix_sync_never() {
    kill_loop(Mode::from_name("through-never+bound"), torture_kills(40));
}

#[test]
fn killed_write_back_writers_under_a_bound_keep_values_given() {
    kill_loop(Mode::from_name("back-on-flush+bound"), torture_kills(30));
}

#[test]
fn killed_write_through_writers_under_a_bound_leave_a_prefix_compressed_and_encrypted() {
    kill_loop(Mode::from_name("through-interval/zstd+key+bound"), torture_kills(30));
}

/// The state operations `0..p` of generation `gen` leave, from `start`.
fn prefix(gen: u64, start: &State, p: u64) -> State {
    let mut s = start.clone();
    for i in 0..p {
        let (k, v) = op(gen, i);
        s.insert(k, v);
    }
    s
}

/// The check itself: it accepts every prefix it must, and catches each kind
/// of bad directory (a later write kept while an earlier one is lost, a
/// durable write lost, a value never given, a value from the future).
#[test]
fn the_crash_check_catches_bad_directories() {
    let gen = 7;
    let through = Mode::from_name("through-never");
    let always = Mode::from_name("through-always");
    let back = Mode::from_name("back-never");
    // What generation 6 left behind.
    let empty: State = (0..KEYS).map(|k| (format!("key{k}"), None)).collect();
    let start = prefix(6, &empty, 100);
    let (acked, durable) = (40, 20);
    // Every prefix from the durable point to one past the acknowledgements.
    for p in durable..=acked + 1 {
        let found = prefix(gen, &start, p);
        assert!(matches!(check(through, gen, &start, &found, acked, durable), Ok(Some(q)) if q >= p));
        assert_eq!(check(back, gen, &start, &found, acked, durable), Ok(None));
    }
    assert!(check(always, gen, &start, &prefix(gen, &start, acked), acked, acked).is_ok());
    // A durable write lost: the prefix before the durable point (if the
    // operations in between changed anything).
    let before = (0..durable)
        .rev()
        .find(|&p| prefix(gen, &start, p) != prefix(gen, &start, durable))
        .unwrap();
    let found = prefix(gen, &start, before);
    assert!(check(through, gen, &start, &found, acked, durable).is_err());
    assert!(check(back, gen, &start, &found, acked, durable).is_err());
    // An acknowledged write lost under TC_SYNC_ALWAYS.
    let before = (0..acked)
        .rev()
        .find(|&p| prefix(gen, &start, p) != prefix(gen, &start, acked))
        .unwrap();
    let found = prefix(gen, &start, before);
    assert!(check(always, gen, &start, &found, acked, acked).is_err());
    // Not a prefix: the state at 25, plus a later put of a key the
    // operations in between did not touch, while they changed another key.
    let base = prefix(gen, &start, 25);
    let (later, key, value) = (26..acked)
        .find_map(|i| {
            let (k, v) = op(gen, i);
            let untouched = (25..i).all(|j| op(gen, j).0 != k);
            let changed = prefix(gen, &start, i) != base;
            (v.is_some() && untouched && changed).then_some((i, k, v))
        })
        .unwrap();
    let mut found = base.clone();
    found.insert(key.clone(), value);
    let err = check(through, gen, &start, &found, acked, durable).unwrap_err();
    assert!(err.contains("no prefix"), "{err}");
    // Write-back: each key on its own timeline, so that is fine there.
    assert_eq!(
        check(back, gen, &start, &found, acked, durable),
        Ok(None),
        "operation {later}"
    );
    // A value no operation wrote, and one from an operation not yet started.
    let future = (acked + 2..).map(|i| op(gen, i)).find(|(_, v)| v.is_some()).unwrap();
    for (key, bad) in [
        ("key3".to_string(), b"key3-g7-i1;".to_vec()),
        (future.0, future.1.unwrap()),
    ] {
        let mut found = prefix(gen, &start, acked);
        found.insert(key, Some(bad));
        let err = check(through, gen, &start, &found, acked, durable).unwrap_err();
        assert!(err.contains("never given"), "{err}");
        let err = check(back, gen, &start, &found, acked, durable).unwrap_err();
        assert!(err.contains("never given"), "{err}");
    }
}

#[test]
fn compaction_killed_at_any_step_leaves_one_valid_state() {
    compaction_killed_at_any_step(AtRest::Plain);
}

#[test]
fn compaction_killed_at_any_step_leaves_one_valid_state_compressed_and_encrypted() {
    compaction_killed_at_any_step(AtRest::ZstdEncrypted);
}

fn compaction_killed_at_any_step(at_rest: AtRest) {
    let base = tempfile::tempdir().unwrap();
    let src = base.path().join("src");
    let mut o = at_rest.with_dir(&src);
    o.set_segment_bytes(8 * 1024).unwrap();
    let mut expect = HashMap::new();
    let write_round = |c: &Cache, round: u64, expect: &mut HashMap<String, Option<Vec<u8>>>| {
        for k in 0..KEYS {
            let key = format!("key{k}");
            if (k + round).is_multiple_of(11) {
                let _ = c.remove(key.as_bytes());
                expect.insert(key, None);
            } else {
                let v = format!("r{round}k{k}").repeat(6).into_bytes();
                c.put(key.as_bytes(), &v, 0).unwrap();
                expect.insert(key, Some(v));
            }
        }
    };
    // Under FORKING: a child forked while a handle is open would hold the
    // directory's lock until it execs, and the next open here would fail.
    let forking = FORKING.read().unwrap_or_else(|e| e.into_inner());
    {
        let c = Cache::open(&o).unwrap();
        for round in 0..12 {
            write_round(&c, round, &mut expect);
        }
        c.close().unwrap();
    }
    // The cache's own maintenance compacts in the background after its first
    // tick: on a slow machine it may have done the work this test kills.
    // Write more rounds until there is work left.
    for round in 12.. {
        let c = Cache::open(&o).unwrap();
        if c.log().unwrap().wants_compaction() {
            break;
        }
        write_round(&c, round, &mut expect);
        c.close().unwrap();
    }
    drop(forking);
    let mut completed = false;
    for nth in 1..=2000u64 {
        let dir = base.path().join(format!("crash-{nth}"));
        copy_dir(&src, &dir);
        let vars = [
            ("TIERCACHE_CRASH_AT", nth.to_string()),
            ("TIERCACHE_CRASH_AT_REST", at_rest.name().to_string()),
        ];
        let out = spawn(&mut child(&dir, "compact", &vars)).wait_with_output().unwrap();
        let done = String::from_utf8_lossy(&out.stdout).contains("DONE");
        assert_eq!(
            snapshot(&dir, at_rest).0,
            expect,
            "compaction killed at file operation {nth} ({})",
            at_rest.name()
        );
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
