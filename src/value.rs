//! A value handed out without copying it: either L1's own `Arc<[u8]>`, or a
//! slice of a segment's memory map, kept mapped by an `Arc` on the map.
//!
//! It is also what L1 holds: a large value read from L2 stays a slice of
//! the map there (`Cache::promote`; `map` says how L1 lets go of a deleted
//! segment's map).
//!
//! This is what `Cache::get_value` (and `tc_get_value`) return. It owns
//! nothing it could lose: a `Mapped` value holds the map itself, so a segment
//! that compaction, retirement or a clear deletes meanwhile stays mapped (the
//! file is unlinked, its pages stay readable) until the last value pointing
//! into it is dropped; and the map of an active segment that grows is
//! replaced, not changed, so an old map a value holds stays as it was. The
//! bytes a `Mapped` value covers are a record that was verified when it was
//! read (checksum and key), and segment files are append-only: nothing ever
//! writes over those bytes or cuts the file below them (the open that
//! blanks records numbered out of order, `Segment::blank`, does so before
//! any value exists, and a blanked record is never served).

pub mod map;
pub(crate) mod spare;

use std::ops::Deref;
use std::sync::Arc;

pub use map::{Life, Map};

/// Bytes of a value, shared rather than copied.
///
/// 16 bytes, as the `Arc<[u8]>` L1's entries held before they could hold
/// mapped values too: the mapped variant is one thin pointer, which the
/// compiler places beside the heap variant's (a node of L1 is read on
/// every hit, and should not grow).
#[derive(Clone)]
pub enum Value {
    /// A copy: L1's value, or a copy made for a record still in the append
    /// buffer, or of a value that was packed or sealed on disk.
    Heap(Arc<[u8]>),
    /// A slice of a segment's map.
    Mapped(Arc<Slice>),
}

/// `len` bytes at `start` of a segment's map.
pub struct Slice {
    map: Arc<Map>,
    start: usize,
    len: usize,
}

impl Value {
    /// The part `part` of `map` (a subslice of it) as a value.
    ///
    /// # Panics
    /// If `part` does not lie within `map`: callers pass a slice they read
    /// from the map.
    pub fn mapped(map: &Arc<Map>, part: &[u8]) -> Value {
        let base = map.as_ptr() as usize;
        let start = (part.as_ptr() as usize)
            .checked_sub(base)
            .expect("a mapped value lies within its map");
        assert!(start + part.len() <= map.len(), "a mapped value lies within its map");
        Value::Mapped(Arc::new(Slice {
            map: map.clone(),
            start,
            len: part.len(),
        }))
    }

    /// The value as L1 keeps it: the same `Arc` for a heap value, a copy of
    /// the bytes for a mapped one.
    pub fn to_arc(&self) -> Arc<[u8]> {
        match self {
            Value::Heap(a) => a.clone(),
            Value::Mapped(_) => Arc::from(&**self),
        }
    }

    /// Whether the bytes are a segment's map (for tests and statistics).
    pub fn is_mapped(&self) -> bool {
        matches!(self, Value::Mapped(_))
    }

    /// Whether the bytes are the map of a segment that has left the log
    /// (`Life::leave`): L1 must not keep them (see `map`).
    pub fn maps_a_departed_segment(&self) -> bool {
        match self {
            Value::Heap(_) => false,
            Value::Mapped(s) => s.map.has_left(),
        }
    }
}

impl From<Arc<[u8]>> for Value {
    fn from(a: Arc<[u8]>) -> Value {
        Value::Heap(a)
    }
}

impl Deref for Value {
    type Target = [u8];

    // On every L2 hit's path: see `ffi::boundary::guard`.
    #[inline]
    fn deref(&self) -> &[u8] {
        match self {
            Value::Heap(a) => a,
            Value::Mapped(s) => &s.map[s.start..s.start + s.len],
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

    #[test]
    fn a_mapped_value_outlives_its_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let (map, life) = Map::for_tests(&path, b"0123456789");
        let v = Value::mapped(&map, &map[3..7]);
        drop(map);
        std::fs::remove_file(&path).unwrap();
        assert_eq!(&*v, b"3456");
        assert!(v.is_mapped());
        assert!(!v.maps_a_departed_segment());
        life.leave();
        assert!(v.maps_a_departed_segment(), "every map of the segment shares its life");
        assert_eq!(&*v.to_arc(), b"3456");
        assert_eq!(std::mem::size_of::<Value>(), 16, "as small as an Arc<[u8]>");
        let h = Value::from(Arc::<[u8]>::from(&b"ab"[..]));
        assert!(!h.is_mapped());
        assert_eq!(&*h, b"ab");
    }
}
