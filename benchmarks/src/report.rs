//! Where results go: every table a workload prints is also kept as records
//! (table, system, value, unit, the row the ratio is taken against, ratio,
//! load average, date, git commit) and, with `--out DIR`, written to
//! `DIR/<table>.csv`. At the end of a run the headline — the rows,
//! each as tiercache's ratio to its peer and floor, beside its goal — is
//! printed and written to `DIR/summary.csv`; `plot` draws from these files.
//!
//! A ratio is always a cost ratio, tiercache's cost over the other's: below
//! 1 tiercache is cheaper (faster, or smaller), whatever the unit.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// One measured figure.
#[derive(Clone, Debug)]
pub struct Record {
    /// The table's id (the CSV file's name), e.g. `l2-so-1024`.
    pub table: String,
    pub system: String,
    /// The row's parameter where a table has one (threads, cache entries),
    /// else empty.
    pub param: String,
    pub value: f64,
    /// `ns/op`, `ms`, `B/entry`, `µs`: lower is better; `ops/s`, `gets/s`,
    /// `hit %`: higher is.
    pub unit: String,
    /// The row the ratio is taken against (the table's tiercache row).
    pub base: String,
    /// base's cost / this row's cost.
    pub ratio: f64,
    pub load: String,
}

impl Record {
    /// A figure of a table with a parameter, its ratio taken against `base`
    /// (whose cost is `base_value`).
    pub fn with_param(table: &str, system: &str, param: &str, value: f64, unit: &str, base: (&str, f64)) -> Record {
        Record {
            table: table.to_string(),
            system: system.to_string(),
            param: param.to_string(),
            value,
            unit: unit.to_string(),
            base: base.0.to_string(),
            ratio: cost_ratio(base.1, value, unit),
            load: loadavg(),
        }
    }
}

/// The run's records, and where to write them.
struct Sink {
    records: Vec<Record>,
    out: Option<PathBuf>,
    date: String,
    commit: String,
}

static SINK: Mutex<Option<Sink>> = Mutex::new(None);

fn with<R>(f: impl FnOnce(&mut Sink) -> R) -> R {
    let mut g = SINK.lock().unwrap();
    let s = g.get_or_insert_with(|| Sink {
        records: Vec::new(),
        out: None,
        date: command("date", &["-u", "+%Y-%m-%dT%H:%MZ"]),
        commit: command(
            "git",
            &["-C", env!("CARGO_MANIFEST_DIR"), "rev-parse", "--short", "HEAD"],
        ),
    });
    f(s)
}

fn command(cmd: &str, args: &[&str]) -> String {
    std::process::Command::new(cmd)
        .args(args)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "unknown".into())
}

/// Writes every table of this run as CSV under `dir` (made if missing).
pub fn set_out(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap_or_else(|e| panic!("--out {}: {e}", dir.display()));
    with(|s| s.out = Some(dir.to_path_buf()));
}

/// `--out DIR` taken out of the arguments, if given.
pub fn out_from_args(args: &mut Vec<String>) -> Option<PathBuf> {
    let i = args.iter().position(|a| a == "--out")?;
    if i + 1 >= args.len() {
        eprintln!("--out needs a directory");
        std::process::exit(2);
    }
    let d = args.remove(i + 1);
    args.remove(i);
    Some(PathBuf::from(d))
}

/// The machine's load average now (1, 5, 15 minutes), printed beside
/// results: the machine is shared, and a busy one slows every system alike.
pub fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

/// The CPU as `/proc/cpuinfo` names it, with its family and model
/// numbers, printed beside results: this host's CPU changes from day to
/// day (an Intel Xeon on 2 and 6 December 2026, an AMD EPYC from 3 to 5
/// December, as Go's benchmark output recorded), and ratios move with
/// it, so two runs compare only on the same CPU.
pub fn cpu() -> String {
    let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let field = |name: &str| {
        info.lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                (k.trim() == name).then(|| v.trim().to_string())
            })
            .unwrap_or_else(|| "?".into())
    };
    format!(
        "{} (family {}, model {})",
        field("model name"),
        field("cpu family"),
        field("model")
    )
}

/// Whether a larger value of `unit` is better (throughput, hit ratio).
fn higher_is_better(unit: &str) -> bool {
    unit.ends_with("/s") || unit == "hit %"
}

/// `a`'s cost over `b`'s, both in `unit`.
pub fn cost_ratio(a: f64, b: f64, unit: &str) -> f64 {
    if higher_is_better(unit) {
        b / a
    } else {
        a / b
    }
}

/// One row of a result table: a system's median over the rounds.
pub struct Row {
    pub name: String,
    pub median: f64,
    pub note: String,
}

impl Row {
    pub fn new(name: &str, median: f64) -> Row {
        Row {
            name: name.to_string(),
            median,
            note: String::new(),
        }
    }
}

/// Prints table `id` (a markdown table, with the load average in its title)
/// and keeps its rows. The ratio column is the first row's (tiercache's)
/// cost over the row's, so below 1 means tiercache is cheaper.
pub fn table(id: &str, title: &str, unit: &str, rows: &[Row]) {
    let load = loadavg();
    println!("\n## {title} (load {load})\n");
    println!("| system | median {unit} | tiercache cost / this (<1: tiercache faster) | note |");
    println!("| --- | ---: | ---: | --- |");
    let base = rows[0].median;
    for r in rows {
        let ratio = cost_ratio(base, r.median, unit);
        let m = if r.median >= 100.0 {
            format!("{:.0}", r.median)
        } else {
            format!("{:.1}", r.median)
        };
        println!("| {} | {m} | {ratio:.2} | {} |", r.name, r.note);
    }
    let records = rows
        .iter()
        .map(|r| Record {
            table: id.to_string(),
            system: r.name.clone(),
            param: String::new(),
            value: r.median,
            unit: unit.to_string(),
            base: rows[0].name.clone(),
            ratio: cost_ratio(base, r.median, unit),
            load: load.clone(),
        })
        .collect();
    keep(id, records);
}

/// Keeps `records` as table `id` (replacing an earlier table of that id)
/// and writes `id.csv` if `--out` was given.
pub fn keep(id: &str, records: Vec<Record>) {
    with(|s| {
        s.records.retain(|r| r.table != id);
        s.records.extend(records);
        if let Some(dir) = &s.out {
            let rows: Vec<&Record> = s.records.iter().filter(|r| r.table == id).collect();
            write_csv(&dir.join(format!("{id}.csv")), &rows, &s.date, &s.commit);
        }
    });
}

pub const CSV_HEADER: &str = "table,system,param,value,unit,base,ratio,load_average,date,commit";

fn write_csv(path: &Path, rows: &[&Record], date: &str, commit: &str) {
    let mut out = String::from(CSV_HEADER);
    out.push('\n');
    for r in rows {
        let _ = writeln!(
            out,
            "{},{},{},{},{},{},{:.4},{},{},{}",
            field(&r.table),
            field(&r.system),
            field(&r.param),
            r.value,
            field(&r.unit),
            field(&r.base),
            r.ratio,
            field(&r.load),
            date,
            commit
        );
    }
    std::fs::write(path, out).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
}

/// A CSV field, quoted if it holds a comma or a quote.
pub fn field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// The value of `system` in table `table`, if this run measured it.
fn value(table: &str, system: &str) -> Option<(f64, String)> {
    with(|s| {
        s.records
            .iter()
            .find(|r| r.table == table && r.system == system && r.param.is_empty())
            .map(|r| (r.value, r.unit.clone()))
    })
}

/// A figure of the headline: a row of a table of this run.
#[derive(Clone, Copy)]
pub struct At {
    pub table: &'static str,
    pub system: &'static str,
    /// How the headline names it.
    pub label: &'static str,
}

/// What a headline row must reach.
#[derive(Clone, Copy)]
pub enum Goal {
    /// tiercache's cost ≤ this × the best peer's.
    Peer(f64),
    /// tiercache's cost ≤ this × the floor's.
    Floor(f64),
    /// both: ≤ .0 × the best peer's and ≤ .1 × the floor's.
    PeerAndFloor(f64, f64),
    /// tiercache's value itself ≤ this (in its unit).
    AtMost(f64),
}

impl Goal {
    /// Whether tiercache's value `v`, at cost ratios `peer` and `floor`,
    /// meets the goal; None if a ratio it needs was not measured.
    pub fn met(self, v: f64, peer: Option<f64>, floor: Option<f64>) -> Option<bool> {
        match self {
            Goal::Peer(x) => peer.map(|r| r <= x),
            Goal::Floor(x) => floor.map(|r| r <= x),
            Goal::PeerAndFloor(x, y) => peer.zip(floor).map(|(p, f)| p <= x && f <= y),
            Goal::AtMost(x) => Some(v <= x),
        }
    }
}

/// One row of the table.
pub struct Headline {
    pub path: String,
    pub tc: At,
    pub peers: &'static [At],
    pub floor: Option<At>,
    pub goal: Goal,
    pub goal_text: &'static str,
}

fn fmt(v: f64, unit: &str) -> String {
    let n = if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    };
    format!("{n} {unit}")
}

/// Prints the headline table of the rows this run measured (a row whose
/// tiercache figure is missing says so) and writes `summary.csv`.
pub fn headline(rows: &[Headline]) {
    if !rows.iter().any(|h| value(h.tc.table, h.tc.system).is_some()) {
        return;
    }
    let load = loadavg();
    let cpu = cpu();
    println!("\n# Headline: tiercache against its peers (load {load}; cpu {cpu})\n");
    println!("ratio = tiercache's cost / the other's (below 1: tiercache faster or smaller)\n");
    println!("| path | tiercache | best peer | floor | ratio to peer | ratio to floor | goal | met? |");
    println!("| --- | ---: | --- | --- | ---: | ---: | --- | --- |");
    let mut csv =
        String::from("path,tiercache,value,unit,peer,peer_value,peer_ratio,floor,floor_value,floor_ratio,goal,met,load_average,date,commit,cpu\n");
    let (date, commit) = with(|s| (s.date.clone(), s.commit.clone()));
    for h in rows {
        let Some((v, unit)) = value(h.tc.table, h.tc.system) else {
            println!(
                "| {} | not measured in this run | | | | | {} | — |",
                h.path, h.goal_text
            );
            continue;
        };
        // The best peer: the cheapest of those measured.
        let peer = h
            .peers
            .iter()
            .filter_map(|p| value(p.table, p.system).map(|(pv, _)| (p, pv)))
            .min_by(|a, b| cost_ratio(a.1, b.1, &unit).total_cmp(&1.0));
        let floor = h.floor.and_then(|f| value(f.table, f.system).map(|(fv, _)| (f, fv)));
        let pr = peer.map(|(_, pv)| cost_ratio(v, pv, &unit));
        let fr = floor.map(|(_, fv)| cost_ratio(v, fv, &unit));
        let met = h.goal.met(v, pr, fr);
        let met_text = match met {
            Some(true) => "yes",
            Some(false) => "**no**",
            None => "unknown",
        };
        let ratio = |r: Option<f64>| r.map_or("—".to_string(), |r| format!("{r:.2}×"));
        println!(
            "| {} | {} | {} | {} | {} | {} | {} | {met_text} |",
            h.path,
            fmt(v, &unit),
            peer.map_or("—".into(), |(p, pv)| format!("{} {}", p.label, fmt(pv, &unit))),
            floor.map_or("—".into(), |(f, fv)| format!("{} {}", f.label, fmt(fv, &unit))),
            ratio(pr),
            ratio(fr),
            h.goal_text,
        );
        let _ = writeln!(
            csv,
            "{},{},{v},{},{},{},{},{},{},{},{},{},{},{date},{commit},{}",
            field(&h.path),
            field(h.tc.label),
            field(&unit),
            field(peer.map_or("", |(p, _)| p.label)),
            peer.map_or(String::new(), |(_, pv)| pv.to_string()),
            pr.map_or(String::new(), |r| format!("{r:.4}")),
            field(floor.map_or("", |(f, _)| f.label)),
            floor.map_or(String::new(), |(_, fv)| fv.to_string()),
            fr.map_or(String::new(), |r| format!("{r:.4}")),
            field(h.goal_text),
            met.map_or("unknown", |m| if m { "yes" } else { "no" }),
            field(&load),
            field(&cpu),
        );
    }
    with(|s| {
        if let Some(dir) = &s.out {
            let p = dir.join("summary.csv");
            std::fs::write(&p, &csv).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cost_ratio_follows_the_unit() {
        // Lower is better: 200 ns against 100 ns costs twice as much.
        assert_eq!(cost_ratio(200.0, 100.0, "ns/op"), 2.0);
        assert_eq!(cost_ratio(3.0, 1.5, "B/entry"), 2.0);
        // Higher is better: half the throughput or hit ratio costs twice.
        assert_eq!(cost_ratio(100.0, 200.0, "ops/s"), 2.0);
        assert_eq!(cost_ratio(30.0, 60.0, "hit %"), 2.0);
    }

    #[test]
    fn fields_with_commas_or_quotes_are_quoted() {
        assert_eq!(field("plain"), "plain");
        assert_eq!(field("a, b"), "\"a, b\"");
        assert_eq!(field("say \"x\""), "\"say \"\"x\"\"\"");
    }

    #[test]
    fn goals_need_the_ratios_they_name() {
        assert_eq!(Goal::Peer(1.1).met(900.0, Some(1.49), None), Some(false));
        assert_eq!(Goal::Peer(1.1).met(900.0, Some(1.05), None), Some(true));
        assert_eq!(Goal::Peer(1.1).met(900.0, None, Some(0.5)), None);
        assert_eq!(Goal::PeerAndFloor(0.8, 1.3).met(1.0, Some(0.7), Some(1.4)), Some(false));
        assert_eq!(Goal::PeerAndFloor(0.8, 1.3).met(1.0, Some(0.7), None), None);
        assert_eq!(Goal::PeerAndFloor(0.8, 1.3).met(1.0, Some(0.7), Some(1.2)), Some(true));
        assert_eq!(Goal::Floor(2.0).met(1.0, Some(0.1), Some(2.5)), Some(false));
        assert_eq!(Goal::AtMost(2.0).met(0.1, None, None), Some(true));
        assert_eq!(Goal::AtMost(16.0).met(21.5, Some(100.0), None), Some(false));
    }

    #[test]
    fn a_table_written_as_csv_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let r = Record::with_param(
            "t",
            "LMDB (heed), copy out",
            "2",
            1234.5,
            "ns/op",
            ("tiercache", 617.25),
        );
        assert_eq!(r.ratio, 0.5);
        write_csv(&dir.path().join("t.csv"), &[&r], "2026-12-02T03:48Z", "8f6c4cd");
        let lines = crate::plot::read(dir.path(), "t").unwrap();
        assert_eq!(lines.len(), 1);
        assert_eq!(lines[0].system, "LMDB (heed), copy out");
        assert_eq!(lines[0].param, "2");
        assert_eq!(lines[0].value, 1234.5);
        assert_eq!(lines[0].ratio, 0.5);
        assert_eq!(lines[0].commit, "8f6c4cd");
    }
}
