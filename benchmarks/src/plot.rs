//! `plot DIR [--img IMGDIR]`: the pictures of BENCHMARKS.md, drawn from the
//! CSV files a run wrote with `--out DIR` (nothing typed in by hand), as
//! SVG into IMGDIR (default `docs/img` of the repository):
//!
//! - `hit-ratio-<trace>.svg`: hit % against cache size per policy, with the
//!   ARC paper's LRU and ARC columns where the trace has them (from
//!   `traces-*.csv`, written by `hit-ratio-traces`);
//! - `ratios.svg`: each path's tiercache cost over each peer's and floor's,
//!   on a log axis around 1 (from the tables the headline draws on).
//!
//! A file that is missing leaves its picture out, with a line saying so.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use plotters::prelude::*;

/// One line of a table's CSV (see `report::CSV_HEADER`).
pub struct Line {
    pub system: String,
    pub param: String,
    pub value: f64,
    pub ratio: f64,
    pub load: String,
    pub date: String,
    pub commit: String,
}

/// Splits a CSV line, honouring double quotes.
fn split(line: &str) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                chars.next();
                out.last_mut().unwrap().push('"');
            }
            '"' => quoted = !quoted,
            ',' if !quoted => out.push(String::new()),
            c => out.last_mut().unwrap().push(c),
        }
    }
    out
}

/// The lines of `DIR/<table>.csv`, or None if the run did not write it.
pub fn read(dir: &Path, table: &str) -> Option<Vec<Line>> {
    let text = std::fs::read_to_string(dir.join(format!("{table}.csv"))).ok()?;
    let mut lines = text.lines();
    let header = split(lines.next()?);
    let col = |name: &str| {
        header
            .iter()
            .position(|h| h == name)
            .unwrap_or_else(|| panic!("{table}.csv: no column {name}"))
    };
    let (sys, param, value, ratio, load, date, commit) = (
        col("system"),
        col("param"),
        col("value"),
        col("ratio"),
        col("load_average"),
        col("date"),
        col("commit"),
    );
    Some(
        lines
            .map(split)
            .map(|f| Line {
                system: f[sys].clone(),
                param: f[param].clone(),
                value: f[value]
                    .parse()
                    .unwrap_or_else(|_| panic!("{table}.csv: value {}", f[value])),
                ratio: f[ratio].parse().unwrap_or(f64::NAN),
                load: f[load].clone(),
                date: f[date].clone(),
                commit: f[commit].clone(),
            })
            .collect(),
    )
}

type Result = std::result::Result<(), Box<dyn std::error::Error>>;

const PALETTE: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(255, 127, 14),
    RGBColor(148, 103, 189),
    RGBColor(100, 100, 100),
];

/// Hit % against entries, one line per system of `traces-<trace>.csv`.
fn hit_ratio(dir: &Path, img: &Path, trace: &str, title: &str) -> Result {
    let Some(lines) = read(dir, &format!("traces-{trace}")) else {
        println!(
            "plot: no traces-{trace}.csv in {} (run hit-ratio-traces --out): skipped",
            dir.display()
        );
        return Ok(());
    };
    let mut series: BTreeMap<usize, (String, Vec<(f64, f64)>)> = BTreeMap::new();
    let mut order = Vec::new();
    for l in &lines {
        let i = order.iter().position(|s| s == &l.system).unwrap_or_else(|| {
            order.push(l.system.clone());
            order.len() - 1
        });
        let x: f64 = l.param.parse()?;
        series
            .entry(i)
            .or_insert_with(|| (l.system.clone(), Vec::new()))
            .1
            .push((x, l.value));
    }
    let xs: Vec<f64> = lines.iter().filter_map(|l| l.param.parse().ok()).collect();
    let x1 = xs.iter().cloned().fold(0.0, f64::max);
    // The policies differ by a few points: the y axis spans the values only.
    let y0 = lines.iter().map(|l| l.value).fold(f64::MAX, f64::min);
    let y1 = lines.iter().map(|l| l.value).fold(0.0, f64::max);
    let path = img.join(format!("hit-ratio-{trace}.svg"));
    let root = SVGBackend::new(&path, (760, 480)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(50)
        .build_cartesian_2d(0.0..x1 * 1.05, (y0 - 3.0).max(0.0).floor()..(y1 + 3.0).ceil())?;
    chart
        .configure_mesh()
        .x_desc("cache size, entries")
        .y_desc("hit %")
        .x_label_formatter(&|x| format!("{x:.0}"))
        .draw()?;
    for (i, (name, pts)) in series.values().enumerate() {
        let color = PALETTE[i % PALETTE.len()];
        let paper = name.starts_with("paper");
        let style = color.stroke_width(if paper { 1 } else { 2 });
        let drawn = if paper {
            chart.draw_series(DashedLineSeries::new(pts.clone(), 6, 4, style))?
        } else {
            chart.draw_series(LineSeries::new(pts.clone(), style))?
        };
        drawn
            .label(name.as_str())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2)));
        chart.draw_series(pts.iter().map(|&p| Circle::new(p, 3, color.filled())))?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .draw()?;
    root.present()?;
    println!("plot: wrote {}", path.display());
    Ok(())
}

/// The tables `ratios.svg` draws, each with how the picture names its path.
const PATHS: [(&str, &str); 10] = [
    ("l1-100-wide", "L1 hit 100 B"),
    ("l2-so-1024", "L2 hit 1 KiB"),
    ("l2-so-16384", "L2 hit 16 KiB"),
    ("put-so-100", "put 100 B"),
    ("put-so-16384", "put 16 KiB"),
    ("open-reopen", "reopen → first get"),
    ("python-get-hit", "Python get"),
    ("python-set", "Python set"),
    ("go-get", "Go Get"),
    ("go-getparallel", "Go GetParallel"),
];

/// Bars from 1×: for every path, tiercache's cost over each peer's and
/// floor's (right of 1: tiercache slower by that factor).
fn ratios(dir: &Path, img: &Path) -> Result {
    let mut bars: Vec<(String, f64, bool)> = Vec::new();
    let mut stamp = None;
    for (table, label) in PATHS {
        let Some(lines) = read(dir, table) else {
            println!("plot: no {table}.csv in {}: its bars are left out", dir.display());
            continue;
        };
        // The first line is tiercache's own (the base); tiercache's other
        // ways of reading (tc_get_into, tc_get_value, linked) are not peers.
        for l in lines.iter().skip(1).filter(|l| !l.system.starts_with("tc_")) {
            let floor = l.system.starts_with("floor");
            let who = l.system.split([' ', ':']).next().unwrap_or("");
            let who = if floor { "floor" } else { who };
            // `ratio` is the base's cost over this one's.
            bars.push((format!("{label} vs {who}"), l.ratio, floor));
        }
        stamp.get_or_insert_with(|| {
            let l = &lines[0];
            format!("{}, commit {}, load {}", l.date, l.commit, l.load)
        });
    }
    if bars.is_empty() {
        println!("plot: no path's table in {}: ratios.svg skipped", dir.display());
        return Ok(());
    }
    let lo = bars.iter().map(|b| b.1).fold(1.0, f64::min) / 1.5;
    let hi = bars.iter().map(|b| b.1).fold(1.0, f64::max) * 1.5;
    let path = img.join("ratios.svg");
    let n = bars.len();
    let root = SVGBackend::new(&path, (820, 90 + 24 * n as u32)).into_drawing_area();
    root.fill(&WHITE)?;
    // The first path at the top: segment i holds bar n - 1 - i.
    bars.reverse();
    let title = format!(
        "tiercache cost / peer's: green faster, red slower, grey against the floor — {}",
        stamp.unwrap_or_default()
    );
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 14))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(230)
        .build_cartesian_2d((lo..hi).log_scale(), (0..n).into_segmented())?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .y_labels(n)
        .y_label_formatter(&|v| match v {
            SegmentValue::CenterOf(i) | SegmentValue::Exact(i) => bars.get(*i).map_or(String::new(), |b| b.0.clone()),
            SegmentValue::Last => String::new(),
        })
        .x_desc("ratio (log scale)")
        .x_label_formatter(&|x| format!("{x}×"))
        .draw()?;
    chart.draw_series(bars.iter().enumerate().map(|(i, (_, r, floor))| {
        let color = if *floor {
            PALETTE[5]
        } else if *r <= 1.0 {
            PALETTE[2]
        } else {
            PALETTE[1]
        };
        let mut rect = Rectangle::new(
            [(1.0, SegmentValue::Exact(i)), (*r, SegmentValue::Exact(i + 1))],
            color.filled(),
        );
        rect.set_margin(4, 4, 0, 0);
        rect
    }))?;
    chart.draw_series(bars.iter().enumerate().map(|(i, (_, r, _))| {
        Text::new(
            format!("{r:.2}×"),
            (if *r > 1.0 { *r * 1.05 } else { *r / 1.35 }, SegmentValue::CenterOf(i)),
            ("sans-serif", 12),
        )
    }))?;
    chart.draw_series(std::iter::once(PathElement::new(
        vec![(1.0, SegmentValue::Exact(0)), (1.0, SegmentValue::Last)],
        BLACK.stroke_width(1),
    )))?;
    root.present()?;
    println!("plot: wrote {}", path.display());
    Ok(())
}

pub fn main(args: &[String]) {
    let mut args = args.to_vec();
    let img = match args.iter().position(|a| a == "--img") {
        Some(i) if i + 1 < args.len() => {
            let d = args.remove(i + 1);
            args.remove(i);
            PathBuf::from(d)
        }
        _ => Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/img"),
    };
    let [dir] = args.as_slice() else {
        eprintln!("usage: tiercache-benchmarks plot DIR [--img IMGDIR]   (DIR: what --out wrote)");
        std::process::exit(2);
    };
    let dir = Path::new(dir);
    std::fs::create_dir_all(&img).unwrap();
    let run = || -> Result {
        hit_ratio(dir, &img, "oltp", "OLTP (ARC paper's trace): hit % against cache size")?;
        hit_ratio(dir, &img, "p3", "P3 (ARC paper's trace): hit % against cache size")?;
        hit_ratio(dir, &img, "zipf-0.9", "Zipf s=0.9, 100k keys: hit % against cache size")?;
        hit_ratio(dir, &img, "zipf-1", "Zipf s=1.0, 100k keys: hit % against cache size")?;
        ratios(dir, &img)
    };
    if let Err(e) = run() {
        eprintln!("plot: {e}");
        std::process::exit(1);
    }
}
