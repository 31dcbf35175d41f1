//! `tiercache compact DIR`: opens a cache directory and compacts it now
//! (`Cache::compact`): the live records of every sealed segment that holds
//! dead ones (overwritten, removed or expired) are appended again and the
//! segment is deleted. Prints how many segments went and how many bytes of
//! disk came back.

use std::io::Write;
use std::path::Path;

use crate::cachedir::{self, Create};
use crate::failure::Failure;
use crate::{progress, units};

pub fn run(dir: &Path) -> Result<(), Failure> {
    let cache = cachedir::open(dir, Create::No)?;
    let before = cache.stats().l2_file_bytes;
    let spinner = progress::spinner("compacting");
    let report = cache.compact();
    spinner.finish_and_clear();
    let report = report?;
    let after = cache.stats().l2_file_bytes;
    let segments = cache.counter("l2_segments").unwrap_or(0);
    cache.close()?;
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "compacted {}: {} segment(s) removed, {} bytes freed ({}); now {} in {segments} segment(s), was {}",
        dir.display(),
        report.segments,
        report.bytes_freed,
        units::bytes(report.bytes_freed),
        units::bytes(after),
        units::bytes(before),
    )
    .map_err(Failure::output)
}
