//! The `python` and `go` workloads: the wrappers' own benchmarks, run as
//! subprocesses so that `all` covers their rows too — Python's
//! `bench/bench_vs_diskcache.py` (against diskcache) and Go's `go test
//! -bench` (against ristretto). Each keeps its figures as tables of this
//! run; a missing interpreter, toolchain or peer skips the workload with the
//! reason printed, never fails the run.
//!
//! Beside each, the floors measured in the same run: the call mechanism with
//! nothing behind it (a ctypes call of `benchmarks/c/noop.c`, a cgo call of
//! `bindings/go/internal/cgofloor`) and the library's own cost of the same
//! L1 hits called from C (`benchmarks/c/bindhit.c`), so that the report shows
//! how much of a binding's get is the mechanism, the library and the wrapper.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::report::{table, Row};
use crate::{median, quick};

/// The repository's root (this crate is its `benchmarks/`).
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

fn skip(what: &str, why: &str) {
    println!("\n## {what}: skipped: {why}");
}

/// Compiles `benchmarks/c/<src>` with `cc -O2` into `out` (extra arguments
/// after the source), or says why not.
fn cc(src: &str, out: &Path, extra: &[&str]) -> Result<(), String> {
    let r = root();
    let status = Command::new("cc")
        .args(["-O2", "-std=c11", "-I"])
        .arg(r.join("include"))
        .arg(r.join("benchmarks/c").join(src))
        .args(extra)
        .arg("-o")
        .arg(out)
        .status()
        .map_err(|e| format!("cc: {e}"))?;
    status.success().then_some(()).ok_or_else(|| format!("cc {src} failed"))
}

/// `bindhit <workload>`: the library's own ns per get from C, as
/// `(tc_get_into, tc_get_into_word)`, linked with the checkout's static library.
fn library_floor(workload: &str, dir: &Path) -> Result<(f64, f64), String> {
    let lib = root().join("target/release/libtiercache.a");
    let exe = dir.join("bindhit");
    let lib = lib.to_string_lossy().into_owned();
    cc("bindhit.c", &exe, &[&lib, "-lpthread", "-ldl", "-lm"])?;
    let rounds = if quick() { "1" } else { "5" };
    let out = Command::new(&exe)
        .args([workload, rounds])
        .output()
        .map_err(|e| format!("bindhit: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let get = |shape: &str| -> Option<f64> { text.lines().find_map(|l| l.strip_prefix(shape)?.trim().parse().ok()) };
    match (get("into "), get("word ")) {
        (Some(i), Some(w)) => Ok((i, w)),
        _ => Err(format!(
            "bindhit printed no figure: {}",
            String::from_utf8_lossy(&out.stderr)
        )),
    }
}

/// `bench_vs_diskcache.py --csv`, with the venv's Python if there is one.
pub fn python() {
    let dir = root().join("bindings/python");
    let venv = dir.join(".venv/bin/python");
    let py = if venv.exists() { venv } else { PathBuf::from("python3") };
    let lib = crate::shared::library_path();
    if !lib.exists() {
        return skip("python", &format!("no {} (cargo build --release)", lib.display()));
    }
    let csv = tempfile::NamedTempFile::new().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let noop = tmp.path().join("libnoop.so");
    let floors = cc("noop.c", &noop, &["-shared", "-fPIC"]);
    if let Err(e) = &floors {
        println!("\n(python floors: skipped: {e})");
    }
    let mut cmd = Command::new(&py);
    cmd.current_dir(&dir)
        .env("TIERCACHE_LIBRARY", &lib)
        .env("PYTHONPATH", &dir)
        .arg("bench/bench_vs_diskcache.py")
        .arg("--csv")
        .arg(csv.path());
    if quick() {
        cmd.arg("--quick");
    }
    if floors.is_ok() {
        cmd.arg("--floor-lib").arg(&noop);
    }
    let out = match cmd.output() {
        Ok(o) => o,
        Err(e) => return skip("python", &format!("{}: {e}", py.display())),
    };
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        return skip("python", err.lines().last().unwrap_or("bench_vs_diskcache.py failed"));
    }
    print!("\n{}", String::from_utf8_lossy(&out.stdout));
    // operation,tiercache_us,diskcache_us (empty where diskcache has none)
    let text = std::fs::read_to_string(csv.path()).unwrap();
    let mut floor_rows = Vec::new();
    for line in text.lines().skip(1) {
        // The operation's name may hold commas ("floor: ctypes no-op, 6
        // args"): the two numbers are the last two fields.
        let f: Vec<&str> = line.rsplitn(3, ',').collect();
        let (Some(dc), Some(tc), Some(op)) = (f.first(), f.get(1), f.get(2)) else {
            continue;
        };
        if *op == "get hit" || op.starts_with("floor:") {
            let name: &str = if *op == "get hit" { "tiercache get hit" } else { op };
            floor_rows.push(Row::new(name, tc.parse().unwrap()));
        }
        let Ok(dc) = dc.parse::<f64>() else { continue };
        let id = format!("python-{}", op.replace(' ', "-"));
        table(
            &id,
            &format!("Python {op}, 100 B values, µs per key (bench_vs_diskcache.py; x100: in batches of 100)"),
            "µs",
            &[Row::new("tiercache", tc.parse().unwrap()), Row::new("diskcache", dc)],
        );
    }
    match library_floor("python", tmp.path()) {
        Ok((into, word)) => {
            floor_rows.push(Row::new(
                "floor: the library alone, tc_get_into_word from C",
                word / 1000.0,
            ));
            floor_rows.push(Row::new("floor: the library alone, tc_get_into from C", into / 1000.0));
        }
        Err(e) => println!("\n(python library floor: skipped: {e})"),
    }
    if floor_rows.len() > 1 {
        table(
            "python-floors",
            "Python get hit, 100 B, 20000 keys: the wrapper against its floors, µs per get",
            "µs",
            &floor_rows,
        );
    }
}

/// `go test -bench` of the Go binding (linked with the checkout's static
/// library, `-tags tiercache_source`); medians of the counts.
pub fn go() {
    let dir = root().join("bindings/go");
    let lib = root().join("target/release/libtiercache.a");
    if !lib.exists() {
        return skip("go", &format!("no {} (cargo build --release)", lib.display()));
    }
    let (benchtime, count) = if quick() { ("2000x", "1") } else { ("1s", "3") };
    let out = Command::new("go")
        .current_dir(&dir)
        .args(["test", "-tags", "tiercache_source", "-run", "^$"])
        .args([
            "-bench",
            "^Benchmark(Get|GetInto|GetParallel|GetIntoParallel|Put|GetMany|PutMany|CgoFloor|CgoFloorParallel)$",
        ])
        .args(["-benchtime", benchtime, "-count", count])
        .args([".", "./internal/cgofloor"])
        .output();
    let out = match out {
        Ok(o) if o.status.success() => o,
        Ok(o) => {
            let err = String::from_utf8_lossy(&o.stderr);
            let last = err.lines().last().unwrap_or("go test failed").to_string();
            return skip("go", &last);
        }
        Err(e) => return skip("go", &format!("go: {e}")),
    };
    let text = String::from_utf8_lossy(&out.stdout);
    print!("\n{text}");
    let ns = |name: &str| -> Option<f64> {
        let v: Vec<f64> = text
            .lines()
            .filter_map(|l| {
                let mut w = l.split_whitespace();
                let n = w.next()?;
                // BenchmarkGet/tiercache-2: the suffix is GOMAXPROCS.
                let n = n.rsplit_once('-').map_or(n, |(a, _)| a);
                (n == name).then_some(())?;
                let f: Vec<&str> = w.collect();
                let i = f.iter().position(|x| *x == "ns/op")?;
                f.get(i - 1)?.parse().ok()
            })
            .collect();
        (!v.is_empty()).then(|| median(v))
    };
    for (id, title, bench) in [
        ("go-get", "Go Get, 128 B, L1 hit", "BenchmarkGet"),
        (
            "go-getparallel",
            "Go GetParallel (GOMAXPROCS goroutines), 128 B, L1 hit",
            "BenchmarkGetParallel",
        ),
        ("go-put", "Go Put, 128 B, memory only", "BenchmarkPut"),
    ] {
        let (Some(t), Some(r)) = (ns(&format!("{bench}/tiercache")), ns(&format!("{bench}/ristretto"))) else {
            skip(id, "go test printed no figure for it");
            continue;
        };
        table(
            id,
            &format!("{title}, ns/op (go test -bench)"),
            "ns/op",
            &[Row::new("tiercache", t), Row::new("ristretto", r)],
        );
    }
    if let (Some(single), Some(many)) = (ns("BenchmarkGet/tiercache"), ns("BenchmarkGetMany")) {
        table(
            "go-batch",
            "Go, tiercache alone: Get against GetMany (batches of 100), ns per key",
            "ns/op",
            &[Row::new("Get", single), Row::new("GetMany, per key", many)],
        );
    }
    let mut rows = Vec::new();
    for (name, bench) in [
        ("Get", "BenchmarkGet/tiercache"),
        ("GetInto (no allocation)", "BenchmarkGetInto"),
        (
            "floor: cgo no-op, tcgo_get_word's shape (Get's call)",
            "BenchmarkCgoFloor/get_word",
        ),
        (
            "floor: cgo no-op, the replaced tcgo_get_fast's shape",
            "BenchmarkCgoFloor/get_fast",
        ),
        ("floor: cgo no-op, one word returned", "BenchmarkCgoFloor/word"),
        (
            "floor: cgo no-op + 128 B slice and copy",
            "BenchmarkCgoFloor/word+alloc+copy",
        ),
        (
            "floor: cgo no-op into a fresh 128 B slice (Get's call)",
            "BenchmarkCgoFloor/get_word+fresh",
        ),
        ("ristretto Get", "BenchmarkGet/ristretto"),
    ] {
        if let Some(t) = ns(bench) {
            rows.push(Row::new(name, t));
        }
    }
    // GetParallel taken apart: the same workload without Get's fresh slice
    // (GetInto), under either policy, and the cgo call alone (with and
    // without a fresh slice) from as many goroutines, so that how each
    // part scales shows beside the headline.
    let mut par = Vec::new();
    for (name, bench) in [
        ("GetParallel (LRU)", "BenchmarkGetParallel/tiercache"),
        ("GetParallel, S3-FIFO", "BenchmarkGetParallel/tiercache-s3fifo"),
        (
            "GetInto, parallel (LRU; no allocation)",
            "BenchmarkGetIntoParallel/tiercache",
        ),
        (
            "GetInto, parallel, S3-FIFO",
            "BenchmarkGetIntoParallel/tiercache-s3fifo",
        ),
        (
            "floor: cgo no-op into a fresh 128 B slice, parallel",
            "BenchmarkCgoFloorParallel/get_word+fresh",
        ),
        ("floor: cgo no-op, parallel", "BenchmarkCgoFloorParallel/get_word"),
        ("ristretto GetParallel", "BenchmarkGetParallel/ristretto"),
    ] {
        if let Some(t) = ns(bench) {
            par.push(Row::new(name, t));
        }
    }
    if par.len() > 1 {
        table(
            "go-parallel",
            "Go, GOMAXPROCS goroutines, 128 B L1 hits, 10000 keys: GetParallel against its parts, ns per get (wall)",
            "ns/op",
            &par,
        );
    }
    let tmp = tempfile::tempdir().unwrap();
    match library_floor("go", tmp.path()) {
        Ok((into, word)) => {
            rows.push(Row::new("floor: the library alone, tc_get_into_word from C", word));
            rows.push(Row::new("floor: the library alone, tc_get_into from C", into));
        }
        Err(e) => println!("\n(go library floor: skipped: {e})"),
    }
    if rows.len() > 1 {
        table(
            "go-floors",
            "Go Get, 128 B, 10000 keys: the wrapper against its floors and ristretto, ns per get",
            "ns/op",
            &rows,
        );
    }
}
