//! The `tiercache` binary, run as a user runs it: every subcommand, its exit
//! status, what it prints on stdout, and that failures are one line on stderr.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use tiercache::{Cache, Options};

const BIN: &str = env!("CARGO_BIN_EXE_tiercache");

/// Runs the tool with stdin empty and stdout and stderr piped.
fn tc(args: &[&str]) -> Output {
    tc_with_stdin(args, b"")
}

fn tc_with_stdin(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(BIN)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run the tiercache binary");
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    child.wait_with_output().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8(o.stderr.clone()).unwrap()
}

/// Asserts success and returns stdout.
fn ok(args: &[&str]) -> String {
    let o = tc(args);
    assert!(o.status.success(), "{args:?} failed: {}", stderr(&o));
    assert_eq!(stderr(&o), "", "{args:?} wrote to stderr");
    stdout(&o)
}

/// Asserts the exit code and that stderr is one `tiercache: ` line; returns it.
fn fails(args: &[&str], code: i32) -> String {
    let o = tc(args);
    assert_eq!(o.status.code(), Some(code), "{args:?}: {}", stderr(&o));
    one_error_line(&o)
}

fn one_error_line(o: &Output) -> String {
    let err = stderr(o);
    assert!(err.starts_with("tiercache: "), "{err:?}");
    assert!(err.ends_with('\n') && err.lines().count() == 1, "{err:?}");
    assert!(!err.contains("panicked") && !err.contains("RUST_BACKTRACE"), "{err:?}");
    err
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A cache directory with a few keys written through the tool.
fn filled() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("cache");
    for (k, v) in [("b-key", "two"), ("a-key", "one"), ("c-key", "three")] {
        ok(&["put", s(&dir), k, v]);
    }
    (tmp, dir)
}

fn segment_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "tcl"))
        .collect();
    v.sort();
    v
}

fn stats_json(dir: &Path) -> serde_json::Value {
    serde_json::from_str(&ok(&["stats", s(dir), "--json"])).unwrap()
}

#[test]
fn demo_shows_all_three_tiers() {
    let out = ok(&["demo"]);
    for tier in ["L1", "L2", "L3"] {
        assert!(out.contains(tier), "{tier} missing from:\n{out}");
    }
    // After a clean close the next open trusts the index file.
    assert!(out.contains("was opened from its file"), "{out}");
    // Eight threads missing one key: one load (single flight).
    assert!(
        out.contains("8 answered in") && out.contains("the loader ran 1 time(s)"),
        "{out}"
    );
}

#[test]
fn put_get_rm_round_trip() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("new/cache");
    ok(&["put", s(&dir), "greeting", "hello, disk"]);
    assert!(dir.is_dir(), "put creates the directory");
    // Raw bytes on stdout, no newline added.
    assert_eq!(ok(&["get", s(&dir), "greeting"]), "hello, disk");

    // Binary through --hex, and a value from stdin.
    ok(&["put", s(&dir), "--hex", "00ff", "0x0102fe"]);
    let o = tc(&["get", s(&dir), "--hex", "0x00FF"]);
    assert!(o.status.success());
    assert_eq!(o.stdout, vec![1, 2, 0xfe]);
    let o = tc_with_stdin(&["put", s(&dir), "file", "-"], b"\x00line\nbytes");
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(tc(&["get", s(&dir), "file"]).stdout, b"\x00line\nbytes");
    // A key that starts with a dash goes after --.
    ok(&["put", s(&dir), "--", "-dash", "-5"]);
    assert_eq!(ok(&["get", s(&dir), "--", "-dash"]), "-5");

    ok(&["rm", s(&dir), "greeting"]);
    let err = fails(&["get", s(&dir), "greeting"], 1);
    assert!(err.contains("greeting") && err.contains("not found"), "{err}");
    let err = fails(&["rm", s(&dir), "greeting"], 1);
    assert!(err.contains("not found"), "{err}");
    fails(&["get", s(&dir), "--hex", "zz"], 2);
}

#[test]
fn tags_info_and_dependencies() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("cache");
    let file = tmp.path().join("source.txt");
    std::fs::write(&file, "one").unwrap();
    ok(&["put", s(&dir), "--tag", "user:1", "--tag", "page", "a", "A"]);
    ok(&["put", s(&dir), "--tag", "page", "b", "B"]);
    ok(&["put", s(&dir), "--depends-on", s(&file), "c", "C"]);
    let dump = ok(&["dump", s(&dir), "--tags"]);
    assert!(dump.contains("a\t1\tnever\tuser:1 page"), "{dump}");
    let info = ok(&["info", s(&dir), "a"]);
    assert!(
        info.contains("value_len: 1") && info.contains("tags: user:1 page") && info.contains("tier: disk"),
        "{info}"
    );
    assert!(ok(&["info", s(&dir), "c"]).contains("depends_on:"));
    assert_eq!(ok(&["rm-tag", s(&dir), "page"]).trim(), "2");
    fails(&["get", s(&dir), "a"], 1);
    fails(&["rm-tag", s(&dir), "page"], 1);
    std::fs::write(&file, "two, longer").unwrap();
    fails(&["get", s(&dir), "c"], 1);
    fails(&["info", s(&dir), "c"], 1);
    let err = fails(&["put", s(&dir), "--tag", "", "k", "v"], 2);
    assert!(err.contains("tag"), "{err}");
    let err = fails(&["put", s(&dir), "--depends-on", "/no/such/file", "k", "v"], 2);
    assert!(err.contains("/no/such/file"), "{err}");
}

#[test]
fn ttl_expires_and_bad_durations_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("cache");
    ok(&["put", s(&dir), "brief", "v", "--ttl", "50ms"]);
    ok(&["put", s(&dir), "daily", "v", "--ttl", "1d"]);
    std::thread::sleep(std::time::Duration::from_millis(120));
    fails(&["get", s(&dir), "brief"], 1);
    let dump = ok(&["dump", s(&dir)]);
    let line = dump.lines().find(|l| l.starts_with("daily\t")).unwrap();
    let expiry = line.split('\t').nth(2).unwrap();
    assert!(expiry.ends_with('Z') && expiry.len() == 24, "{expiry}");
    for bad in ["10", "5x", "0s"] {
        let err = fails(&["put", s(&dir), "k", "v", "--ttl", bad], 2);
        assert!(err.contains("duration") || err.contains("TTL"), "{err}");
    }
}

#[test]
fn dump_is_sorted_and_shows_values_and_binary_keys() {
    let (_tmp, dir) = filled();
    ok(&["put", s(&dir), "--hex", "0x00ff", "0x0a"]);
    let out = ok(&["dump", s(&dir)]);
    assert_eq!(
        out,
        "0x00ff\t1\tnever\na-key\t3\tnever\nb-key\t3\tnever\nc-key\t5\tnever\n"
    );
    let out = ok(&["dump", s(&dir), "--values"]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "0x00ff\t1\tnever\t0x0a");
    assert_eq!(lines[1], "a-key\t3\tnever\tone");
    assert_eq!(lines[3], "c-key\t5\tnever\tthree");
    let out = ok(&["dump", s(&dir), "--values", "--hex"]);
    assert!(out.contains("0x612d6b6579\t3\tnever\t0x6f6e65\n"), "{out}");
}

#[test]
fn stats_table_and_json() {
    let (_tmp, dir) = filled();
    let table = ok(&["stats", s(&dir)]);
    for row in [
        "L2 state",
        "L2 entries",
        "L2 file bytes",
        "L2 segments",
        "L2 readmissions",
        "corrupt records",
    ] {
        assert!(
            table.lines().any(|l| l.starts_with(row)),
            "{row} missing from:\n{table}"
        );
    }
    assert!(table.contains("ok"), "{table}");
    let j = stats_json(&dir);
    assert_eq!(j["l2_entries"], 3);
    assert_eq!(j["l2_state"], 1);
    assert_eq!(j["l2_state_name"], "ok");
    assert!(j["l2_segments"].as_u64().unwrap() >= 1);
    for field in [
        "l1_hits",
        "l2_hits",
        "l3_loads",
        "misses",
        "l1_entries",
        "l1_bytes",
        "l2_bytes",
        "l2_file_bytes",
        "l1_evictions",
        "l2_evictions",
        "l2_readmissions",
        "compactions",
        "corrupt_records",
        "io_errors",
    ] {
        assert!(j[field].is_u64(), "{field} missing from {j}");
    }
}

#[test]
fn verify_finds_a_flipped_byte() {
    let (_tmp, dir) = filled();
    let out = ok(&["verify", s(&dir)]);
    assert!(out.contains("no corruption"), "{out}");

    let seg = &segment_files(&dir)[0];
    let mut bytes = fs::read(seg).unwrap();
    let at = bytes.windows(5).position(|w| w == b"three").unwrap();
    bytes[at] ^= 0x20;
    fs::write(seg, &bytes).unwrap();
    let o = tc(&["verify", s(&dir)]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    one_error_line(&o);
    let out = stdout(&o);
    let line = out
        .lines()
        .find(|l| l.starts_with(s(seg)))
        .unwrap_or_else(|| panic!("{out}"));
    let offset: usize = line.split(' ').nth(1).unwrap().parse().unwrap();
    assert!(offset < at, "{line}");
    assert!(out.lines().last().unwrap().contains("1 CORRUPT"), "{out}");
}

#[test]
fn verify_reports_a_flipped_index_slot_and_a_missing_meta_file() {
    let (_tmp, dir) = filled();
    let slots = dir.join("index.tci");
    let mut bytes = fs::read(&slots).unwrap();
    // The first full slot after the 4096-byte header: flip a byte of its hash.
    let at = (4096..bytes.len())
        .step_by(32)
        .find(|&i| bytes[i..i + 32].iter().any(|b| *b != 0))
        .unwrap();
    bytes[at] ^= 1;
    fs::write(&slots, &bytes).unwrap();
    let o = tc(&["verify", s(&dir)]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let out = stdout(&o);
    let slot = (at - 4096) / 32;
    assert!(
        out.contains(&format!("index.tci {slot} index slot fails its checksum")),
        "{out}"
    );
    fs::remove_file(dir.join("index.tcm")).unwrap();
    let out = ok(&["verify", s(&dir)]);
    assert!(out.contains("note: index files not trusted"), "{out}");
}

#[test]
fn compact_gives_back_the_space_of_overwrites() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("cache");
    {
        // Small segments so that the overwritten records end up in sealed
        // ones; few overwrites, so that no segment is dead enough for the
        // background compaction (half of it: `DEAD_RATIO`) to reach it
        // first, however long the puts take. With every key overwritten
        // 20 times, a busy machine's maintenance tick (250 ms) had
        // compacted everything before the command ran ("3592 -> 3592").
        let mut opts = Options::with_dir(&dir);
        opts.set_segment_bytes(4096).unwrap();
        let c = Cache::open(&opts).unwrap();
        let value = |round: u32| format!("value {round} {}", "x".repeat(100));
        for k in 0..60 {
            c.put(format!("k{k}").as_bytes(), value(0).as_bytes(), 0).unwrap();
        }
        for k in 0..2 {
            c.put(format!("k{k}").as_bytes(), value(1).as_bytes(), 0).unwrap();
        }
        c.close().unwrap();
    }
    let before = stats_json(&dir)["l2_file_bytes"].as_u64().unwrap();
    let out = ok(&["compact", s(&dir)]);
    assert!(
        out.contains("segment(s) removed") && out.contains("bytes freed"),
        "{out}"
    );
    let after = stats_json(&dir)["l2_file_bytes"].as_u64().unwrap();
    assert!(after < before, "{before} -> {after}");
    assert!(ok(&["get", s(&dir), "k0"]).starts_with("value 1 "));
    assert!(ok(&["get", s(&dir), "k3"]).starts_with("value 0 "));
    assert!(ok(&["verify", s(&dir)]).contains("no corruption"));
}

#[test]
fn bench_runs_and_prints_the_table() {
    let o = tc(&[
        "bench",
        "--seconds",
        "0.2",
        "--keys",
        "200",
        "--threads",
        "2",
        "--value-size",
        "64",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stderr(&o), "", "no progress bar when stderr is not a terminal");
    let out = stdout(&o);
    for row in ["get, L1", "get, L2", "get, loader", "put", "all", "p50", "p99", "ops/s"] {
        assert!(out.contains(row), "{row} missing from:\n{out}");
    }
    fails(&["bench", "--threads", "0"], 2);
    let o = tc(&["bench", "--seconds", "0.1", "--keys", "100", "--l1-policy", "s3fifo"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("(S3-FIFO)"), "{}", stdout(&o));
    fails(&["bench", "--l1-policy", "arc"], 2);
}

#[test]
fn a_directory_in_use_is_refused_in_one_line() {
    let (_tmp, dir) = filled();
    let _held = Cache::open(&Options::with_dir(&dir)).unwrap();
    let d = s(&dir);
    for args in [
        vec!["stats", d],
        vec!["verify", d],
        vec!["compact", d],
        vec!["dump", d],
        vec!["get", d, "a-key"],
        vec!["put", d, "k", "v"],
        vec!["rm", d, "a-key"],
    ] {
        let err = fails(&args, 2);
        assert!(err.contains("in use") && err.contains(d), "{args:?}: {err}");
    }
}

#[test]
fn a_missing_directory_is_reported_and_not_created() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("nope");
    let d = s(&dir);
    for args in [
        vec!["stats", d],
        vec!["verify", d],
        vec!["compact", d],
        vec!["dump", d],
        vec!["get", d, "k"],
        vec!["rm", d, "k"],
    ] {
        let err = fails(&args, 2);
        assert!(err.contains("no such directory"), "{args:?}: {err}");
        assert!(!dir.exists(), "{args:?} created the directory");
    }
    // An existing directory that is not a cache is left alone too.
    let err = fails(&["dump", s(tmp.path())], 2);
    assert!(err.contains("not a tiercache directory"), "{err}");
    assert_eq!(fs::read_dir(tmp.path()).unwrap().count(), 0);
}

#[test]
fn every_help_works() {
    let top = ok(&["--help"]);
    assert!(top.contains("Exit status"), "{top}");
    for cmd in [
        "demo", "stats", "verify", "compact", "dump", "get", "put", "rm", "bench",
    ] {
        let out = ok(&[cmd, "--help"]);
        assert!(out.contains("Usage: tiercache"), "{cmd}: {out}");
        assert!(top.contains(cmd), "{cmd} missing from the top-level help");
    }
    assert!(ok(&["verify", "--help"]).contains("1 corruption found"));
    assert!(ok(&["put", "--help"]).contains("--hex"));
    assert!(ok(&["--version"]).starts_with("tiercache "));
}

#[test]
fn usage_errors_are_one_line() {
    fails(&[], 2);
    fails(&["stats"], 2);
    fails(&["frobnicate"], 2);
    fails(&["dump", "/tmp", "--bogus"], 2);
}

#[test]
fn piped_output_has_no_escape_codes() {
    let (_tmp, dir) = filled();
    for args in [
        vec!["verify", s(&dir)],
        vec!["compact", s(&dir)],
        vec!["stats", s(&dir)],
    ] {
        let o = tc(&args);
        assert!(o.status.success());
        assert!(!o.stdout.contains(&0x1b) && !o.stderr.contains(&0x1b), "{args:?}");
        assert!(o.stderr.is_empty(), "{args:?}: {}", stderr(&o));
    }
    let o = tc(&["bench", "--seconds", "0.1", "--keys", "100"]);
    assert!(!o.stdout.contains(&0x1b) && !o.stderr.contains(&0x1b));
}

/// Runs the tool with `TIERCACHE_KEY` set to `hex_key` (and nothing else
/// changed in its environment).
fn tc_env(args: &[&str], hex_key: &str) -> Output {
    Command::new(BIN)
        .args(args)
        .env("TIERCACHE_KEY", hex_key)
        .stdin(Stdio::null())
        .output()
        .expect("run the tiercache binary")
}

#[test]
fn an_encrypted_directory_takes_its_key_from_a_file_or_the_environment() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("c");
    let key_file = tmp.path().join("key");
    let hex: String = (0..32).map(|i| format!("{:02x}", i * 7)).collect();
    fs::write(&key_file, format!("{hex}\n")).unwrap();
    let kf = s(&key_file);
    let value = "a value worth compressing, ".repeat(30);
    ok(&["put", s(&dir), "k1", &value, "--compression", "zstd", "--key-file", kf]);
    // The same key from the environment.
    let o = tc_env(&["get", s(&dir), "k1"], &hex);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o), value);
    let o = tc_env(&["put", s(&dir), "k2", "v2"], &hex);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(ok(&["get", s(&dir), "k2", "--key-file", kf]), "v2");
    let dump = ok(&["dump", s(&dir), "--key-file", kf]);
    assert!(dump.contains(&format!("k1\t{}\tnever", value.len())), "{dump}");
    let verified = ok(&["verify", s(&dir), "--key-file", kf]);
    assert!(
        verified.contains("2 record(s) read, 2 index slot(s): no corruption"),
        "{verified}"
    );
    // Nothing readable on disk.
    for f in fs::read_dir(&dir).unwrap() {
        let bytes = fs::read(f.unwrap().path()).unwrap();
        assert!(!bytes.windows(5).any(|w| w == b"worth" || w == b"k1\0\0\0"));
    }
    // No key, another key, both sources, a bad key: one clear line each.
    let e = fails(&["get", s(&dir), "k1"], 2);
    assert!(e.contains("is encrypted"), "{e}");
    let other: String = "ab".repeat(32);
    let o = tc_env(&["get", s(&dir), "k1"], &other);
    assert_eq!(o.status.code(), Some(2));
    assert!(one_error_line(&o).contains("wrong encryption key"));
    let o = tc_env(&["get", s(&dir), "k1", "--key-file", kf], &hex);
    assert!(one_error_line(&o).contains("give one"));
    let o = tc_env(&["get", s(&dir), "k1"], "abcd");
    assert!(one_error_line(&o).contains("32 bytes"));
    let e = fails(
        &["put", s(&dir), "k", "v", "--compression", "gzip", "--key-file", kf],
        2,
    );
    assert!(e.contains("gzip"), "{e}");
}

/// A redis-server on a free loopback port, killed when dropped (its
/// directory with it).
struct Redis(std::process::Child, u16, #[allow(dead_code)] tempfile::TempDir);

impl Redis {
    fn start() -> Redis {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let dir = tempfile::tempdir().unwrap();
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", ""])
            .arg("--dir")
            .arg(dir.path())
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server (scripts/deps.sh installs it)");
        for _ in 0..4000 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        Redis(child, port, dir)
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn stats_shows_the_remote_tier() {
    let (_tmp, dir) = filled();
    let redis = Redis::start();
    let url = format!("redis://127.0.0.1:{}", redis.1);
    let table = ok(&["stats", s(&dir), "--remote", &url, "--namespace", "cli"]);
    assert!(
        table.contains("remote state") && table.contains("ok (connected"),
        "{table}"
    );
    for row in ["remote_hits", "remote_errors", "remote_invalidations_received"] {
        assert!(
            table.lines().any(|l| l.starts_with(row)),
            "{row} missing from:\n{table}"
        );
    }
    let j: serde_json::Value = serde_json::from_str(&ok(&["stats", s(&dir), "--json", "--remote", &url])).unwrap();
    assert_eq!(j["remote_state"], 1);
    assert_eq!(j["remote_reason"], "");
    // An unreachable server: the directory's stats all the same, degraded, with why.
    drop(redis);
    let j: serde_json::Value = serde_json::from_str(&ok(&["stats", s(&dir), "--json", "--remote", &url])).unwrap();
    assert_eq!(j["remote_state"], 2);
    assert_eq!(j["l2_entries"], 3);
    assert!(!j["remote_reason"].as_str().unwrap().is_empty(), "{j}");
    // A URL that cannot be parsed is an error, with the reason.
    let err = fails(&["stats", s(&dir), "--remote", "http://x"], 2);
    assert!(err.contains("unknown scheme"), "{err}");
}
