//! `tiercache stats DIR`: opens a cache directory, reads its statistics and
//! closes it again, showing sizes per tier, the state of L2 and the counters
//! as a table, or with `--json` as one JSON object with every field.
//!
//! The counters (hits, loads, evictions, …) count from the open, so here they
//! show what opening found: mainly `corrupt_records`, the bad records skipped
//! while the index was rebuilt. Sizes are those of the directory now.
//!
//! With `--remote URL`, the tool also connects to that remote tier and shows
//! its state (with the reason when it is degraded) and its counters.

use std::io::Write;
use std::path::Path;

use serde_json::json;
use tiercache::Cache;

use crate::cachedir;
use crate::failure::Failure;
use crate::units;

/// Everything `stats` reports, read from an open cache.
struct Snapshot {
    stats: tiercache::Stats,
    segments: u64,
    readmissions: u64,
    /// With a remote tier: its reason ("" while ok) and counters.
    remote: Option<(String, Vec<(&'static str, u64)>)>,
}

/// The remote tier's counters, in the order shown.
const REMOTE_COUNTERS: [&str; 7] = [
    "remote_state",
    "remote_hits",
    "remote_misses",
    "remote_errors",
    "remote_invalidations_received",
    "remote_too_large",
    "remote_lock_waits",
];

impl Snapshot {
    fn of(cache: &Cache) -> Snapshot {
        Snapshot {
            stats: cache.stats(),
            segments: cache.counter("l2_segments").unwrap_or(0),
            readmissions: cache.counter("l2_readmissions").unwrap_or(0),
            remote: cache.remote_reason().map(|why| {
                let counters = REMOTE_COUNTERS
                    .iter()
                    .map(|&n| (n, cache.counter(n).unwrap_or(0)))
                    .collect();
                (why, counters)
            }),
        }
    }
}

/// `remote_state` in words.
fn remote_state_words(state: u64) -> &'static str {
    match state {
        0 => "none",
        1 => "ok (connected and subscribed)",
        2 => "degraded (unreachable or failing; retrying)",
        _ => "unknown",
    }
}

/// `l2_state` in words.
pub fn l2_state_name(state: u32) -> &'static str {
    match state {
        0 => "none",
        1 => "ok",
        2 => "degraded",
        _ => "unknown",
    }
}

fn l2_state_words(state: u32) -> &'static str {
    match state {
        0 => "none (memory only)",
        1 => "ok (the disk tier is working)",
        2 => "degraded (the disk tier is failing; serving from memory)",
        _ => "unknown",
    }
}

pub fn run(dir: &Path, as_json: bool, remote: Option<&str>, namespace: Option<&str>) -> Result<(), Failure> {
    let cache = cachedir::open_read_only_with(dir, |o| {
        o.set_remote(remote)?;
        if let Some(ns) = namespace {
            o.set_remote_namespace(ns.as_bytes())?;
        }
        Ok(())
    })?;
    let snap = Snapshot::of(&cache);
    cache.close()?;
    let mut out = std::io::stdout().lock();
    let text = if as_json {
        to_json(dir, &snap)
    } else {
        table(dir, &snap)
    };
    writeln!(out, "{text}").map_err(Failure::output)
}

fn to_json(dir: &Path, snap: &Snapshot) -> String {
    let s = &snap.stats;
    let mut j = json!({
        "dir": dir.display().to_string(),
        "l1_hits": s.l1_hits,
        "l2_hits": s.l2_hits,
        "l3_loads": s.l3_loads,
        "misses": s.misses,
        "l1_entries": s.l1_entries,
        "l1_bytes": s.l1_bytes,
        "l2_entries": s.l2_entries,
        "l2_bytes": s.l2_bytes,
        "l2_file_bytes": s.l2_file_bytes,
        "l2_segments": snap.segments,
        "l1_evictions": s.l1_evictions,
        "l2_evictions": s.l2_evictions,
        "l2_readmissions": snap.readmissions,
        "compactions": s.compactions,
        "corrupt_records": s.corrupt_records,
        "io_errors": s.io_errors,
        "l2_state": s.l2_state,
        "l2_state_name": l2_state_name(s.l2_state),
    });
    if let Some((why, counters)) = &snap.remote {
        for (n, v) in counters {
            j[*n] = json!(v);
        }
        j["remote_reason"] = json!(why);
    }
    j.to_string()
}

fn table(dir: &Path, snap: &Snapshot) -> String {
    let s = &snap.stats;
    let with_unit = |n: u64| format!("{n} ({})", units::bytes(n));
    let rows: Vec<(&str, String)> = vec![
        ("directory", dir.display().to_string()),
        ("L2 state", l2_state_words(s.l2_state).to_string()),
        ("", String::new()),
        ("L1 entries", s.l1_entries.to_string()),
        ("L1 bytes", with_unit(s.l1_bytes)),
        ("L2 entries", s.l2_entries.to_string()),
        ("L2 live bytes", with_unit(s.l2_bytes)),
        ("L2 file bytes", with_unit(s.l2_file_bytes)),
        ("L2 segments", snap.segments.to_string()),
        ("", String::new()),
        ("", "Counters, since the tool opened the directory:".to_string()),
        ("L1 hits", s.l1_hits.to_string()),
        ("L2 hits", s.l2_hits.to_string()),
        ("L3 loads", s.l3_loads.to_string()),
        ("misses", s.misses.to_string()),
        ("L1 evictions", s.l1_evictions.to_string()),
        ("L2 evictions", s.l2_evictions.to_string()),
        ("L2 readmissions", snap.readmissions.to_string()),
        ("compactions", s.compactions.to_string()),
        ("corrupt records", s.corrupt_records.to_string()),
        ("I/O errors", s.io_errors.to_string()),
    ];
    let mut rows = rows;
    if let Some((why, counters)) = &snap.remote {
        rows.push(("", String::new()));
        let state = counters[0].1;
        let words = match why.is_empty() {
            true => remote_state_words(state).to_string(),
            false => format!("{}: {why}", remote_state_words(state)),
        };
        rows.push(("remote state", words));
        for (n, v) in &counters[1..] {
            rows.push((n, v.to_string()));
        }
    }
    let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    rows.iter()
        .map(|(k, v)| match k.is_empty() {
            true => v.clone(),
            false => format!("{k:<width$}  {v}"),
        })
        .collect::<Vec<_>>()
        .join("\n")
}
