//! Opening a cache directory from the command line.
//!
//! Every command but `put` works on a directory that already is a cache
//! directory: it must exist and hold a `LOCK` file or a segment file
//! (`NNNNNNNNNN.tcl`), so that a mistyped path is reported instead of being
//! turned into an empty cache (which is what `Cache::open` would do).
//!
//! The tool opens the directory the way an application does, with one
//! difference: no bound on L2 (the tool does not know the bound the owning
//! application uses, and opening with a smaller one would retire segments).
//! Opening takes the
//! directory's lock, so a directory in use by a running application is
//! refused with one line saying so. Like any open, it cuts off a torn tail
//! left by a crash.

use std::fs;
use std::path::Path;

use tiercache::{Cache, Options};

use crate::failure::Failure;

/// Whether the directory may be created if it is missing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Create {
    No,
    IfMissing,
}

/// The options the tool opens a directory with.
pub fn options(dir: &Path) -> Options {
    let mut opts = Options::with_dir(dir);
    opts.l2_max_bytes = 0;
    opts
}

/// Opens the cache in `dir` (see the module's doc for the checks).
pub fn open(dir: &Path, create: Create) -> Result<Cache, Failure> {
    if create == Create::No || dir.exists() {
        check_existing(dir, create)?;
    }
    Ok(Cache::open(&options(dir))?)
}

/// Fails unless `dir` exists and, unless it may be made a cache, looks like
/// a cache directory.
pub fn check_existing(dir: &Path, create: Create) -> Result<(), Failure> {
    let meta = match fs::metadata(dir) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(Failure::error(format!("{}: no such directory", dir.display())))
        }
        Err(e) => return Err(Failure::io(dir.display(), e)),
    };
    if !meta.is_dir() {
        return Err(Failure::error(format!("{}: not a directory", dir.display())));
    }
    if create == Create::IfMissing {
        return Ok(());
    }
    let entries = fs::read_dir(dir).map_err(|e| Failure::io(format!("list {}", dir.display()), e))?;
    let is_cache_file = |name: &str| name == "LOCK" || is_segment_name(name);
    if entries
        .flatten()
        .any(|e| e.file_name().to_str().is_some_and(is_cache_file))
    {
        Ok(())
    } else {
        Err(Failure::error(format!(
            "{}: not a tiercache directory (no LOCK or segment files); `tiercache put` creates one",
            dir.display()
        )))
    }
}

/// Segment files are named by a ten-digit id: `0000000001.tcl`.
fn is_segment_name(name: &str) -> bool {
    name.strip_suffix(".tcl")
        .is_some_and(|id| id.len() == 10 && id.bytes().all(|b| b.is_ascii_digit()))
}
