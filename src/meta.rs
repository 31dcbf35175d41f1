//! Per-entry metadata: the tags an entry carries and the file it depends on,
//! their limits, their bytes in a record, and the check of a dependency.
//!
//! Most entries have neither, and pay nothing: an L1 entry holds an empty
//! `Option`, a record has no `meta` field. An entry with some holds an
//! `Arc<Meta>` in L1, and its record carries the encoding below in field 6:
//!
//! ```text
//! meta: a definite-length CBOR map with unsigned-integer keys
//!       0: tags        array of 1..=32 bstr, each 1..=255 bytes
//!       1: dependency  array [path tstr, mtime_ns uint, size uint, inode uint]
//!       other keys: skipped
//! ```
//!
//! A dependency holds while the file's modification time (ns), size and
//! inode are what they were at the put; a changed or missing file makes
//! the entry a miss. Checking costs one `stat` per get of such an entry.

use std::os::unix::fs::MetadataExt;

use ciborium_ll::{Encoder, Header};

use crate::error::{Error, Result, Status};

/// Most tags one entry may carry.
pub const MAX_TAGS: usize = 32;
/// Longest tag, in bytes.
pub const MAX_TAG_LEN: usize = 255;

const FIELD_TAGS: u64 = 0;
const FIELD_DEPENDENCY: u64 = 1;

/// What an entry carries besides its value.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Meta {
    pub tags: Vec<Box<[u8]>>,
    pub dependency: Option<Dependency>,
}

/// A file an entry depends on, as it was when the entry was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dependency {
    pub path: Box<str>,
    pub mtime_ns: u64,
    pub size: u64,
    pub ino: u64,
}

/// Checks one tag against the limits.
pub fn check_tag(tag: &[u8]) -> Result<()> {
    if tag.is_empty() {
        return Err(Error::invalid("tag: must be at least 1 byte long"));
    }
    if tag.len() > MAX_TAG_LEN {
        return Err(Error::new(
            Status::TC_TOO_LARGE,
            format!("tag: {} bytes is over the limit of {MAX_TAG_LEN}", tag.len()),
        ));
    }
    Ok(())
}

fn stat(path: &str) -> std::io::Result<(u64, u64, u64)> {
    let m = std::fs::metadata(path)?;
    let mtime_ns = (m.mtime() as u64)
        .saturating_mul(1_000_000_000)
        .saturating_add(m.mtime_nsec() as u64);
    Ok((mtime_ns, m.size(), m.ino()))
}

impl Dependency {
    /// The file at `path` as it is now; `TC_INVALID_ARGUMENT` naming the
    /// path if it cannot be examined.
    pub fn of(path: &str) -> Result<Dependency> {
        let (mtime_ns, size, ino) = stat(path).map_err(|e| Error::invalid(format!("dependency {path}: {e}")))?;
        Ok(Dependency {
            path: path.into(),
            mtime_ns,
            size,
            ino,
        })
    }

    /// Whether the file is still as it was (one `stat`).
    pub fn holds(&self) -> bool {
        stat(&self.path).is_ok_and(|now| now == (self.mtime_ns, self.size, self.ino))
    }
}

/// Whether a value with metadata `meta` may be served: it has none, or the
/// file it depends on (if any) is as it was (one `stat`). The last check of
/// every reader, whichever tier the value came from: L1's entries
/// (`Entry::valid`), L2's gets and what `Log::info` and the removals report
/// (`Info::holds`), so that no reader says a key has a value another
/// would have missed.
pub fn holds(meta: Option<&Meta>) -> bool {
    meta.and_then(|m| m.dependency.as_ref()).is_none_or(Dependency::holds)
}

impl Meta {
    pub fn is_empty(&self) -> bool {
        self.tags.is_empty() && self.dependency.is_none()
    }

    /// Adds a tag (checked; a tag given twice is kept once).
    pub fn add_tag(&mut self, tag: &[u8]) -> Result<()> {
        check_tag(tag)?;
        if self.tags.iter().any(|t| **t == *tag) {
            return Ok(());
        }
        if self.tags.len() == MAX_TAGS {
            return Err(Error::new(
                Status::TC_TOO_LARGE,
                format!("tags: an entry carries at most {MAX_TAGS}"),
            ));
        }
        self.tags.push(tag.into());
        Ok(())
    }

    pub fn has_tag(&self, tag: &[u8]) -> bool {
        self.tags.iter().any(|t| **t == *tag)
    }

    /// The bytes of the record's meta field (empty when there is nothing).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        if self.is_empty() {
            return out;
        }
        let mut enc = Encoder::from(&mut out);
        let fields = usize::from(!self.tags.is_empty()) + usize::from(self.dependency.is_some());
        // Writing into a Vec cannot fail.
        let _ = enc.push(Header::Map(Some(fields)));
        if !self.tags.is_empty() {
            let _ = enc.push(Header::Positive(FIELD_TAGS));
            let _ = enc.push(Header::Array(Some(self.tags.len())));
            for t in &self.tags {
                let _ = enc.bytes(t, None);
            }
        }
        if let Some(d) = &self.dependency {
            let _ = enc.push(Header::Positive(FIELD_DEPENDENCY));
            let _ = enc.push(Header::Array(Some(4)));
            let _ = enc.text(&d.path, None);
            let _ = enc.push(Header::Positive(d.mtime_ns));
            let _ = enc.push(Header::Positive(d.size));
            let _ = enc.push(Header::Positive(d.ino));
        }
        out
    }

    /// Reads a record's meta field; `None` if it is not one this version
    /// can read (an empty field is an empty `Meta`). Lengths are checked
    /// against the bytes before anything is sliced or allocated.
    pub fn decode(raw: &[u8]) -> Option<Meta> {
        let mut meta = Meta::default();
        if raw.is_empty() {
            return Some(meta);
        }
        let mut pos = 0;
        let (5, fields) = head(raw, &mut pos)? else { return None };
        for _ in 0..fields {
            match head(raw, &mut pos)? {
                (0, FIELD_TAGS) => {
                    let (4, n) = head(raw, &mut pos)? else { return None };
                    if n == 0 || n > MAX_TAGS as u64 {
                        return None;
                    }
                    for _ in 0..n {
                        let tag = bytes(raw, &mut pos, 2)?;
                        check_tag(tag).ok()?;
                        meta.tags.push(tag.into());
                    }
                }
                (0, FIELD_DEPENDENCY) => {
                    let (4, 4) = head(raw, &mut pos)? else { return None };
                    let path = std::str::from_utf8(bytes(raw, &mut pos, 3)?).ok()?;
                    let (0, mtime_ns) = head(raw, &mut pos)? else {
                        return None;
                    };
                    let (0, size) = head(raw, &mut pos)? else { return None };
                    let (0, ino) = head(raw, &mut pos)? else { return None };
                    meta.dependency = Some(Dependency {
                        path: path.into(),
                        mtime_ns,
                        size,
                        ino,
                    });
                }
                // Fields of later versions are not skipped: nothing writes them yet.
                _ => return None,
            }
        }
        (pos == raw.len()).then_some(meta)
    }
}

/// One CBOR head at `*pos`: (major type, argument); definite forms only.
fn head(p: &[u8], pos: &mut usize) -> Option<(u8, u64)> {
    let b = *p.get(*pos)?;
    let (major, info) = (b >> 5, b & 0x1f);
    let n = match info {
        0..=23 => return advance(pos, 1, (major, u64::from(info))),
        24 => 1,
        25 => 2,
        26 => 4,
        27 => 8,
        _ => return None,
    };
    let arg = p
        .get(*pos + 1..*pos + 1 + n)?
        .iter()
        .fold(0u64, |a, b| (a << 8) | u64::from(*b));
    advance(pos, 1 + n, (major, arg))
}

fn advance<T>(pos: &mut usize, by: usize, v: T) -> Option<T> {
    *pos += by;
    Some(v)
}

/// A byte (major 2) or text (major 3) string at `*pos`.
fn bytes<'a>(p: &'a [u8], pos: &mut usize, major: u8) -> Option<&'a [u8]> {
    let (m, len) = head(p, pos)?;
    if m != major {
        return None;
    }
    let end = pos.checked_add(usize::try_from(len).ok()?)?;
    let s = p.get(*pos..end)?;
    *pos = end;
    Some(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_limits() {
        let mut m = Meta::default();
        assert!(m.encode().is_empty());
        assert_eq!(Meta::decode(&[]), Some(Meta::default()));
        m.add_tag(b"user:7").unwrap();
        m.add_tag(b"user:7").unwrap();
        m.add_tag(&[9; 255]).unwrap();
        assert_eq!(m.tags.len(), 2);
        assert_eq!(m.add_tag(b"").unwrap_err().status(), Status::TC_INVALID_ARGUMENT);
        assert_eq!(m.add_tag(&[1; 256]).unwrap_err().status(), Status::TC_TOO_LARGE);
        m.dependency = Some(Dependency {
            path: "/etc/hostname".into(),
            mtime_ns: 1 << 60,
            size: 12,
            ino: 77,
        });
        let bytes = m.encode();
        assert_eq!(Meta::decode(&bytes), Some(m.clone()));
        for cut in 0..bytes.len() {
            assert_eq!(Meta::decode(&bytes[..cut]).filter(|d| *d == m), None, "cut at {cut}");
        }
        for i in 2..MAX_TAGS {
            m.add_tag(format!("t{i}").as_bytes()).unwrap();
        }
        assert_eq!(m.add_tag(b"one more").unwrap_err().status(), Status::TC_TOO_LARGE);
        assert_eq!(Meta::decode(&m.encode()), Some(m));
    }

    #[test]
    fn a_dependency_holds_until_its_file_changes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config");
        std::fs::write(&path, "a").unwrap();
        let d = Dependency::of(path.to_str().unwrap()).unwrap();
        assert!(d.holds());
        std::fs::write(&path, "ab").unwrap();
        assert!(!d.holds(), "size changed");
        let d = Dependency::of(path.to_str().unwrap()).unwrap();
        std::fs::remove_file(&path).unwrap();
        assert!(!d.holds(), "missing");
        assert_eq!(
            Dependency::of(path.to_str().unwrap()).unwrap_err().status(),
            Status::TC_INVALID_ARGUMENT
        );
    }
}
