//! The `python` and `go` workloads: the wrappers' own benchmarks, run as
//! subprocesses so that `all` covers their rows too — Python's
//! `bench/bench_vs_diskcache.py` (against diskcache) and Go's `go test
//! -bench` (against ristretto). Each keeps its figures as tables of this
//! run; a missing interpreter, toolchain or peer skips the workload with the
//! reason printed, never fails the run.

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
    for line in text.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        let (Some(op), Some(tc), Some(dc)) = (f.first(), f.get(1), f.get(2)) else {
            continue;
        };
        let Ok(dc) = dc.parse::<f64>() else { continue };
        let id = format!("python-{}", op.replace(' ', "-"));
        table(
            &id,
            &format!("Python {op}, 100 B values, µs per key (bench_vs_diskcache.py; x100: in batches of 100)"),
            "µs",
            &[Row::new("tiercache", tc.parse().unwrap()), Row::new("diskcache", dc)],
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
        .args(["-bench", "^Benchmark(Get|GetParallel|Put|GetMany|PutMany)$"])
        .args(["-benchtime", benchtime, "-count", count])
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
}
