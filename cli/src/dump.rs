//! `tiercache dump DIR`: lists every live key of a cache directory, one line
//! per key, sorted by the key's bytes so the output is stable.
//!
//! A line is tab-separated: `KEY  SIZE  EXPIRY`, with `--tags` the entry's
//! tags (space-separated), and with `--values` the value. Keys and values are shown as text when they are printable UTF-8
//! and otherwise (or always, with `--hex`) as hex starting with `0x`.
//! EXPIRY is `never` or an ISO 8601 UTC time, followed by ` expired` if it
//! has passed (such entries are never served, and are dropped lazily).

use std::io::{BufWriter, Write};
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use tiercache::meta::Meta;
use tiercache::record::Kind;

use crate::bytes;
use crate::cachedir;
use crate::failure::Failure;
use crate::units;

struct Line {
    key: Vec<u8>,
    size: usize,
    expires_at: u64,
    value: Option<Vec<u8>>,
    tags: Vec<Box<[u8]>>,
}

pub fn run(dir: &Path, values: bool, hex: bool, tags: bool) -> Result<(), Failure> {
    let cache = cachedir::open_read_only(dir)?;
    let mut lines = Vec::new();
    if let Some(log) = cache.log() {
        let sealer = log.sealer();
        log.for_each(|r| {
            // A value packed by a codec this version does not know is never served.
            let Ok(size) = r.value_len(sealer) else { return };
            let value = match values.then(|| r.value(sealer)) {
                Some(Ok(v)) => Some(v.to_vec()),
                Some(Err(_)) => return,
                None => None,
            };
            if r.kind == Kind::Put {
                lines.push(Line {
                    key: r.key.to_vec(),
                    size: size as usize,
                    expires_at: r.expires_at,
                    value,
                    tags: if tags {
                        Meta::decode(&r.meta).map(|m| m.tags).unwrap_or_default()
                    } else {
                        Vec::new()
                    },
                });
            }
        });
    }
    cache.close()?;
    lines.sort_unstable_by(|a, b| a.key.cmp(&b.key));
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let show = |b: &[u8]| if hex { bytes::hex(b) } else { bytes::show(b) };
    let mut out = BufWriter::new(std::io::stdout().lock());
    for l in &lines {
        let expiry = match l.expires_at {
            0 => "never".to_string(),
            t if t <= now => format!("{} expired", units::utc(t)),
            t => units::utc(t),
        };
        write!(out, "{}\t{}\t{expiry}", show(&l.key), l.size).map_err(Failure::output)?;
        if tags {
            let shown: Vec<String> = l.tags.iter().map(|t| show(t)).collect();
            write!(out, "\t{}", shown.join(" ")).map_err(Failure::output)?;
        }
        if let Some(v) = &l.value {
            write!(out, "\t{}", show(v)).map_err(Failure::output)?;
        }
        writeln!(out).map_err(Failure::output)?;
    }
    out.flush().map_err(Failure::output)
}
