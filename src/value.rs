//! A value: a short one's bytes held in the value itself (`Value::Inline`,
//! copied with it), a longer one handed out without copying it: either
//! L1's own `Arc<[u8]>`, or a slice of a segment's memory map, kept mapped
//! by an `Arc` on the map.
//!
//! It is also what L1 holds (a short value inline in L1's node, so that a
//! hit reads the node and nothing else, see `Value`): a large value read from L2 stays a slice of
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
//! writes over those bytes or cuts the file below them.

pub mod map;
pub(crate) mod spare;

use std::ops::Deref;
use std::sync::Arc;

pub use map::{Life, Map};

/// Bytes of a value: a short one held inline, a longer one shared rather
/// than copied.
///
/// Why short values inline: L1's node holds its entry's `Value`, so a hit
/// on a value held inline reads the node and nothing else. With the value
/// behind an `Arc`, a hit read the node, then the `Arc`'s allocation, a
/// second cache miss that waited on the first (the pointer is in the node):
/// over a working set larger than the CPU caches, each is a trip to memory
/// (see `memory::lru::Node`). A value of up to `INLINE` bytes takes the
/// room that pointer and its allocation took, so an entry costs about the
/// memory it did; a clone copies the bytes, which for this length costs
/// less than the shared count's atomic increment and decrement did.
#[derive(Clone)]
pub enum Value {
    /// A copy of at most `INLINE` bytes, in the value itself.
    Inline(Inline),
    /// A copy: L1's value, or a copy made for a record still in the append
    /// buffer, or of a value that was packed or sealed on disk.
    Heap(Arc<[u8]>),
    /// A slice of a segment's map.
    Mapped(Arc<Slice>),
}

/// The longest value held inline (`Value::Inline`): what makes `Value`
/// 176 bytes, and with it L1's node 256 (`memory::lru::Node`).
pub const INLINE: usize = 174;

/// Up to `INLINE` bytes, held in place.
///
/// Invariant (kept by `Value::copy_of`, its only maker): `len <= INLINE`.
#[derive(Clone)]
pub struct Inline {
    len: u8,
    bytes: [u8; INLINE],
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

    /// A copy of `bytes`: inline if they are short enough, else on the heap.
    #[inline]
    pub fn copy_of(bytes: &[u8]) -> Value {
        if bytes.len() <= INLINE {
            let mut v = Inline {
                len: bytes.len() as u8,
                bytes: [0; INLINE],
            };
            v.bytes[..bytes.len()].copy_from_slice(bytes);
            Value::Inline(v)
        } else {
            Value::Heap(Arc::from(bytes))
        }
    }

    /// `bytes` as a value that keeps them: copied inline if they are short
    /// enough (the `Arc` is then dropped), else the same `Arc`.
    #[inline]
    pub fn kept(bytes: Arc<[u8]>) -> Value {
        if bytes.len() <= INLINE {
            Value::copy_of(&bytes)
        } else {
            Value::Heap(bytes)
        }
    }

    /// Writes `bytes` over an inline value of the same length, in place
    /// (a put over L1's entry); false, changing nothing, if this value is
    /// not inline or not of that length.
    #[inline]
    pub fn overwrite_inline(&mut self, bytes: &[u8]) -> bool {
        match self {
            Value::Inline(v) if v.len as usize == bytes.len() => {
                v.bytes[..bytes.len()].copy_from_slice(bytes);
                true
            }
            _ => false,
        }
    }

    /// The bytes as an `Arc`: the same `Arc` for a heap value, a copy of
    /// the bytes otherwise.
    pub fn to_arc(&self) -> Arc<[u8]> {
        match self {
            Value::Heap(a) => a.clone(),
            Value::Inline(_) | Value::Mapped(_) => Arc::from(&**self),
        }
    }

    /// Whether the bytes are held in the value itself (for tests).
    pub fn is_inline(&self) -> bool {
        matches!(self, Value::Inline(_))
    }

    /// Whether the bytes are a segment's map (for tests and statistics).
    pub fn is_mapped(&self) -> bool {
        matches!(self, Value::Mapped(_))
    }

    /// Whether the bytes are the map of a segment that has left the log
    /// (`Life::leave`): L1 must not keep them (see `map`).
    pub fn maps_a_departed_segment(&self) -> bool {
        match self {
            Value::Inline(_) | Value::Heap(_) => false,
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

    fn deref(&self) -> &[u8] {
        match self {
            Value::Inline(v) => &v.bytes[..v.len as usize],
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
        let kind = match self {
            Value::Inline(_) => "Inline",
            Value::Heap(_) => "Heap",
            Value::Mapped(_) => "Mapped",
        };
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
        assert_eq!(
            std::mem::size_of::<Value>(),
            176,
            "INLINE bytes, their length and the tag"
        );
        let h = Value::from(Arc::<[u8]>::from(&b"ab"[..]));
        assert!(!h.is_mapped());
        assert_eq!(&*h, b"ab");
    }

    /// Up to `INLINE` bytes are held inline, longer ones on the heap, and
    /// each reads back as given; an inline value is overwritten in place
    /// only by bytes of its own length.
    #[test]
    fn short_values_are_inline_and_read_back_as_given() {
        for len in [0, 1, 100, INLINE - 1, INLINE, INLINE + 1, 4 * INLINE] {
            let bytes: Vec<u8> = (0..len).map(|i| i as u8 ^ 0x5a).collect();
            let v = Value::copy_of(&bytes);
            assert_eq!(v.is_inline(), len <= INLINE, "{len} bytes");
            assert_eq!(&*v, &bytes[..]);
            assert_eq!(&*v.clone(), &bytes[..]);
            assert_eq!(&*v.to_arc(), &bytes[..]);
            let kept = Value::kept(Arc::from(&bytes[..]));
            assert_eq!(kept.is_inline(), len <= INLINE);
            assert_eq!(&*kept, &bytes[..]);
            let mut w = v.clone();
            let other: Vec<u8> = bytes.iter().map(|b| !b).collect();
            assert_eq!(w.overwrite_inline(&other), len <= INLINE);
            assert_eq!(&*w, if len <= INLINE { &other[..] } else { &bytes[..] });
            assert_eq!(&*v, &bytes[..], "a clone is a copy of its own");
        }
        let mut v = Value::copy_of(b"abc");
        assert!(!v.overwrite_inline(b"abcd"), "another length: not in place");
        assert_eq!(&*v, b"abc");
    }
}
