//! A value handed out without copying it: either L1's own `Arc<[u8]>`, or a
//! slice of a segment's memory map, kept mapped by an `Arc` on the map.
//!
//! This is what `Cache::get_value` (and `tc_get_value`) return. It owns
//! nothing it could lose: a `Mapped` value holds the map itself, so a segment
//! that compaction, retirement or a clear deletes meanwhile stays mapped (the
//! file is unlinked, its pages stay readable) until the last value pointing
//! into it is dropped; and the map of an active segment that grows is
//! replaced, not changed, so an old map a value holds stays as it was. The
//! bytes a `Mapped` value covers are a record that was verified when it was
//! read (checksum and key), and segment files are append-only: nothing ever
//! writes over those bytes or cuts the file below them.

pub(crate) mod spare;

use std::ops::Deref;
use std::sync::Arc;

use memmap2::Mmap;

/// Bytes of a value, shared rather than copied.
#[derive(Clone)]
pub enum Value {
    /// L1's value (or a copy made for a record still in the append buffer).
    Heap(Arc<[u8]>),
    /// `len` bytes at `start` of a segment's map.
    Mapped { map: Arc<Mmap>, start: usize, len: usize },
}

impl Value {
    /// The part `part` of `map` (a subslice of it) as a value.
    ///
    /// # Panics
    /// If `part` does not lie within `map`: callers pass a slice they read
    /// from the map.
    pub fn mapped(map: &Arc<Mmap>, part: &[u8]) -> Value {
        let base = map.as_ptr() as usize;
        let start = (part.as_ptr() as usize)
            .checked_sub(base)
            .expect("a mapped value lies within its map");
        assert!(start + part.len() <= map.len(), "a mapped value lies within its map");
        Value::Mapped {
            map: map.clone(),
            start,
            len: part.len(),
        }
    }

    /// The value as L1 keeps it: the same `Arc` for a heap value, a copy of
    /// the bytes for a mapped one.
    pub fn to_arc(&self) -> Arc<[u8]> {
        match self {
            Value::Heap(a) => a.clone(),
            Value::Mapped { .. } => Arc::from(&**self),
        }
    }

    /// Whether the bytes are a segment's map (for tests and statistics).
    pub fn is_mapped(&self) -> bool {
        matches!(self, Value::Mapped { .. })
    }
}

impl From<Arc<[u8]>> for Value {
    fn from(a: Arc<[u8]>) -> Value {
        Value::Heap(a)
    }
}

impl Deref for Value {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match self {
            Value::Heap(a) => a,
            Value::Mapped { map, start, len } => &map[*start..*start + *len],
        }
    }
}

impl AsRef<[u8]> for Value {
    fn as_ref(&self) -> &[u8] {
        self
    }
}

impl std::fmt::Debug for Value {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = if self.is_mapped() { "Mapped" } else { "Heap" };
        write!(f, "Value::{kind}({} bytes)", self.len())
    }
}

impl PartialEq<[u8]> for Value {
    fn eq(&self, other: &[u8]) -> bool {
        **self == *other
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use memmap2::MmapOptions;
    use std::io::Write;

    #[test]
    fn a_mapped_value_outlives_its_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::File::create(&path).unwrap().write_all(b"0123456789").unwrap();
        let file = std::fs::File::open(&path).unwrap();
        // SAFETY: a private file of this test, never truncated.
        let map = Arc::new(unsafe { MmapOptions::new().map(&file) }.unwrap());
        let v = Value::mapped(&map, &map[3..7]);
        drop(map);
        drop(file);
        std::fs::remove_file(&path).unwrap();
        assert_eq!(&*v, b"3456");
        assert!(v.is_mapped());
        assert_eq!(&*v.to_arc(), b"3456");
        let h = Value::from(Arc::<[u8]>::from(&b"ab"[..]));
        assert!(!h.is_mapped());
        assert_eq!(&*h, b"ab");
    }
}
