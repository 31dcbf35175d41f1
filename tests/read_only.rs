//! A read-only open works on a directory and files the process may only
//! read, and changes nothing. Root bypasses file permissions, so as root
//! the reading runs in a child process (this test binary again, copied
//! where anyone may run it) as the unprivileged user `nobody` (uid 65534),
//! on a directory that user owns with every write bit cleared.

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use tiercache::{Cache, Loaded, Options, Status, WritePolicy};

const NOBODY: u32 = 65534;

fn set_mode(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// Every file's name and bytes.
fn snapshot(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect();
    out.sort();
    out
}

/// What the reader does, as the test or as the child: opens read-only
/// (with write-back and a loader, which must write nothing), reads every
/// key, and checks that a writable open is refused. Returns a report.
fn read_everything(dir: &Path) -> Result<(), String> {
    let mut o = Options::with_dir(dir);
    o.read_only = true;
    o.write_policy = WritePolicy::TC_WRITE_BACK;
    o.l1_max_entries = 4;
    let c = Cache::open(&o).map_err(|e| format!("read-only open: {e}"))?;
    c.set_loader(Some(std::sync::Arc::new(|k: &[u8]| Loaded::Value {
        value: k.repeat(100),
        ttl_ms: 0,
    })));
    for i in 0..200 {
        let v = c
            .get(format!("k{i}").as_bytes())
            .map_err(|e| format!("get k{i}: {e}"))?;
        let want = if i < 100 {
            vec![i as u8; 300]
        } else {
            format!("k{i}").repeat(100).into_bytes()
        };
        if *v != want[..] {
            return Err(format!("k{i}: wrong value"));
        }
    }
    c.flush().map_err(|e| format!("flush: {e}"))?;
    c.close().map_err(|e| format!("close: {e}"))?;
    match Cache::open(&Options::with_dir(dir)) {
        Ok(_) => Err("a writable open of a read-only directory succeeded".into()),
        Err(e) if e.status() == Status::TC_IO_ERROR => Ok(()),
        Err(e) => Err(format!("a writable open failed with {e}, not an I/O error")),
    }
}

/// Child mode: a no-op as a normal test.
#[test]
fn child_reader() {
    if let Ok(dir) = std::env::var("TIERCACHE_RO_DIR") {
        match read_everything(Path::new(&dir)) {
            Ok(()) => println!("READER OK"),
            Err(e) => println!("READER FAILED: {e}"),
        }
    }
}

#[test]
fn read_only_open_needs_only_read_permission_and_writes_nothing() {
    let base = tempfile::tempdir().unwrap();
    set_mode(base.path(), 0o755);
    let dir: PathBuf = base.path().join("cache");
    {
        let mut o = Options::with_dir(&dir);
        o.set_segment_bytes(8192).unwrap();
        let c = Cache::open(&o).unwrap();
        for i in 0..100 {
            c.put(format!("k{i}").as_bytes(), &[i as u8; 300], 0).unwrap();
        }
        c.close().unwrap();
    }
    let root = unsafe { libc::geteuid() } == 0;
    for e in std::fs::read_dir(&dir).unwrap() {
        let path = e.unwrap().path();
        if root {
            std::os::unix::fs::chown(&path, Some(NOBODY), Some(NOBODY)).unwrap();
        }
        set_mode(&path, 0o400);
    }
    if root {
        std::os::unix::fs::chown(&dir, Some(NOBODY), Some(NOBODY)).unwrap();
    }
    set_mode(&dir, 0o500);
    let before = snapshot(&dir);

    if root {
        let exe = base.path().join("reader");
        std::fs::copy(std::env::current_exe().unwrap(), &exe).unwrap();
        set_mode(&exe, 0o755);
        let out = Command::new(&exe)
            .args(["--exact", "child_reader", "--nocapture", "--test-threads=1"])
            .env("TIERCACHE_RO_DIR", &dir)
            .uid(NOBODY)
            .gid(NOBODY)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            stdout.contains("READER OK"),
            "the reader, as nobody, failed:\n{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    } else {
        read_everything(&dir).unwrap();
    }
    assert_eq!(snapshot(&dir), before, "a read-only open changed the directory");
    // Let the temporary directory be removed.
    set_mode(&dir, 0o700);
}
