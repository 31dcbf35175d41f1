//! The `DEGRADED` file: what a handle leaves behind when it may have left
//! acknowledged changes off the disk.
//!
//! While the disk fails, the log keeps the keys written or removed (and any
//! clear) in memory, and writes their tombstones when the disk comes back
//! (`Log::recover`). A handle that goes away first (a crash, or a close
//! while the disk still fails) takes that list with it: the disk still
//! holds the values those writes replaced, and a later open would serve
//! them. So the first failure marks the directory, and an open that finds
//! the mark clears the log before it serves anything (a read-only open
//! serves nothing from it): a crash while degraded costs the disk tier,
//! never an older value.
//!
//! Marking must work on a disk that fails, so it is a rename of an empty
//! file made beforehand (`DEGRADED.spare`, made at open and after each
//! recovery): a rename needs no free space. Creating `DEGRADED` outright is
//! the fallback when the spare is missing. If both fail (a file system
//! remounted read-only, say), the directory is not marked, and the old
//! limit holds: the values those writes replaced can come back after the
//! handle is gone (docs/CONSISTENCY.md, "Limits").
//!
//! A mark is presence, not absence, so that directories written before it
//! existed open as they did.

use std::io;
use std::path::{Path, PathBuf};

use super::fileio;

const MARK: &str = "DEGRADED";
const SPARE: &str = "DEGRADED.spare";

fn mark(dir: &Path) -> PathBuf {
    dir.join(MARK)
}

fn spare(dir: &Path) -> PathBuf {
    dir.join(SPARE)
}

/// Whether a handle left `dir` marked.
pub fn is_set(dir: &Path) -> bool {
    mark(dir).exists()
}

/// Makes the spare if there is none (at open, disk healthy): an empty file,
/// mode 0600. A failure only means a later mark must create its file.
pub fn prepare(dir: &Path) {
    let _ = make_empty(&spare(dir));
}

/// Marks `dir` (the disk just failed): renames the spare, else creates the
/// mark, then fsyncs the directory as far as the disk lets it. Says whether
/// the mark is there.
pub fn set(dir: &Path) -> bool {
    if is_set(dir) {
        return true;
    }
    let marked = fileio::rename(&spare(dir), &mark(dir)).is_ok() || make_empty(&mark(dir)).is_ok();
    // Best effort: a killed process leaves the rename in the kernel's
    // cache, which is written out whatever happens to the process.
    let _ = fileio::sync_dir(dir);
    marked
}

/// Takes the mark away once what it stood for is on disk (a recovery that
/// wrote every pending tombstone, or a clear), and makes the spare again.
pub fn clear(dir: &Path) -> io::Result<()> {
    if !is_set(dir) {
        return Ok(());
    }
    // The spare first: if the disk fails in between, the mark stays (and a
    // later open clears the log once more, which is harmless).
    make_empty(&spare(dir))?;
    fileio::remove(&mark(dir))?;
    fileio::sync_dir(dir)
}

fn make_empty(path: &Path) -> io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    if path.exists() {
        return Ok(());
    }
    fileio::create(path)?;
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(path)
        .map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;
    use fileio::{Op, Plan};

    fn failing(dir: &Path, op: Op) {
        fileio::inject(
            dir,
            Plan {
                op,
                nth: 1,
                persistent: true,
                errno: libc::ENOSPC,
            },
        );
    }

    #[test]
    fn a_mark_survives_a_disk_that_cannot_create_and_goes_with_recovery() {
        let d = tempfile::tempdir().unwrap();
        prepare(d.path());
        failing(d.path(), Op::Create);
        assert!(set(d.path()), "the spare's rename needs no new file");
        assert!(is_set(d.path()));
        assert!(set(d.path()), "marking twice is marking once");
        fileio::heal(d.path());
        clear(d.path()).unwrap();
        assert!(!is_set(d.path()));
        assert!(spare(d.path()).exists(), "ready for the next failure");
    }

    #[test]
    fn without_a_spare_the_mark_is_created() {
        let d = tempfile::tempdir().unwrap();
        assert!(set(d.path()));
        assert!(is_set(d.path()));
    }

    #[test]
    fn a_mark_that_cannot_be_made_is_reported() {
        let d = tempfile::tempdir().unwrap();
        failing(d.path(), Op::Any);
        assert!(!set(d.path()));
        assert!(!is_set(d.path()));
        fileio::heal(d.path());
    }
}
