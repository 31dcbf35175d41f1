//! `tiercache verify DIR`: reads every record of every segment of a cache
//! directory and checks it, changing nothing (`tiercache::log::verify`).
//!
//! Output, on stdout: one line `FILE OFFSET REASON` per corrupt record or
//! unreadable segment header; `note:` lines for what is not corruption (a
//! torn tail in the active segment, which the next open cuts off; a sealed
//! segment whose hint file is missing or stale, which only makes opening
//! slower; index files the next open will not trust, which it rebuilds from
//! the log); `index.tci SLOT REASON` per wrong index slot (counted as
//! corruption: a stale slot would hand out an old value); then one summary
//! line. Exit status 0 if nothing is corrupt, 1 if
//! something is, 2 if the directory could not be checked.

use std::io::Write;
use std::path::Path;

use tiercache::log::verify::{verify, VerifyReport};

use crate::cachedir::{self, Create};
use crate::failure::Failure;
use crate::progress;

pub fn run(dir: &Path) -> Result<(), Failure> {
    cachedir::check_existing(dir, Create::No)?;
    let bar = progress::bytes("verifying", 0);
    let report = verify(dir, crate::atrest::key(), |done, total| {
        bar.set_length(total);
        bar.set_position(done);
    });
    bar.finish_and_clear();
    let report = report?;
    let mut out = std::io::stdout().lock();
    print(&mut out, &report).map_err(Failure::output)?;
    match report.problems() {
        0 => Ok(()),
        n => Err(Failure::no(format!(
            "{}: {n} corrupt record(s), segment(s) or index slot(s)",
            dir.display()
        ))),
    }
}

fn print(out: &mut impl Write, report: &VerifyReport) -> std::io::Result<()> {
    let (mut torn, mut hints) = (0, 0);
    for seg in &report.segments {
        let file = seg.path.display();
        if let Some(why) = &seg.bad_header {
            writeln!(out, "{file} 0 bad segment header: {why}")?;
        }
        for (offset, why) in &seg.corrupt {
            writeln!(out, "{file} {offset} {why}")?;
        }
        if let Some(at) = seg.torn_tail_at {
            torn += 1;
            writeln!(
                out,
                "note: {file} {at} torn tail of the active segment (an interrupted write); the next open cuts it off"
            )?;
        }
        if !seg.active && seg.bad_header.is_none() && !seg.hint_ok {
            hints += 1;
            writeln!(
                out,
                "note: {file} hint file missing or not matching; opening scans this segment instead"
            )?;
        }
    }
    let index = &report.index;
    for (slot, why) in &index.bad_slots {
        writeln!(out, "{} {slot} index slot {why}", tiercache::log::INDEX_SLOTS_FILE)?;
    }
    if let Some(why) = &index.untrusted {
        writeln!(
            out,
            "note: index files not trusted ({why}); the next open rebuilds the index from the log"
        )?;
    }
    if index.retired > 0 {
        writeln!(
            out,
            "note: {} index slot(s) point into retired segments no longer there (a retirement cut short); the next open drops them",
            index.retired
        )?;
    }
    if index.absent {
        writeln!(out, "note: no index files; the next open builds the index from the log")?;
    }
    let bytes: u64 = report.segments.iter().map(|s| s.bytes).sum();
    let corrupt = report.problems();
    writeln!(
        out,
        "{} segment(s), {bytes} bytes, {} record(s) read, {} index slot(s): {}; {torn} torn tail(s), {hints} hint(s) missing or stale",
        report.segments.len(),
        report.records(),
        index.slots,
        if corrupt == 0 {
            "no corruption".to_string()
        } else {
            format!("{corrupt} CORRUPT")
        },
    )
}
