//! `Held`: a value as a policy's node holds it. A short value's bytes are
//! kept in the node itself; a longer one stays the `Value` it came as.
//!
//! Why: an L1 hit reads the node, and a value behind an `Arc` is a second
//! read, from the address the node holds, that cannot start before the
//! first ends; over a working set larger than the CPU caches each is a trip
//! to memory. Held in the node, a short value's bytes sit on the lines
//! after the node's first and load alongside it (see `lru::Node`).
//!
//! Why only here and not in `Value`: every struct that carries a `Value`
//! (an `Entry` on its way in, `Found`, a get's result) would grow by the
//! inline bytes, and Rust moves an enum by its full size whatever its
//! variant. Tried (BENCHMARKS.md, "Session 18: short values held in
//! L1's node"): an L2 hit of 1 KiB, whose value is never inline, moved some
//! twenty 176-byte structs and cost 20% more. So the node converts at its
//! boundary: `Held::of` when an entry goes in, `into_value` when one comes
//! out (an eviction, a removal), and the types the cache passes around stay
//! small.

use std::ops::Deref;
use std::sync::Arc;

use crate::value::Value;

/// The longest value held in the node: what makes `Held` 176 bytes, and a
/// node 256 (`lru::Node`).
pub const INLINE: usize = 174;

/// Starts loading the second pair of lines of a policy's node (bytes 128
/// to 255 of a 256-byte node aligned to 128), where a short value held in
/// it ends: called with the node whose key a lookup is about to compare.
///
/// Why: the adjacent-line prefetcher brings a node's first pair with the
/// key, but the second is asked for only when the value is copied, after
/// the key compare has waited for the first: two trips to memory one after
/// the other. Asked for here, both are under way at once. A 100-byte value
/// ends on the node's third line (the hit's fields take the first 42
/// bytes: `lru::Node`). Measured on an Intel Xeon
/// (6 December 2026, `hit.c l1 100 100000`, libraries alternating five
/// times): 417 ns a get before, 371 after; a Rust program of 100k keys,
/// four alternations: 357-417 before, 312-336 after. A hint: it never
/// faults, and a key that does not match costs one wasted line pair.
#[inline(always)]
pub fn prefetch_tail<T>(node: &T) {
    crate::prefetch::line((node as *const T).cast::<u8>().wrapping_add(128));
}

/// Starts loading both pairs of lines of a policy's node (see
/// `prefetch_tail`), whose key no one is about to compare yet: called by a
/// put that will look its key up after it has appended its record
/// (`Shard::overwrite_logged`), so the node's trip to memory runs while
/// the record is encoded.
#[inline(always)]
pub fn prefetch_node<T>(node: &T) {
    crate::prefetch::line(node as *const T);
    prefetch_tail(node);
}

/// A value in a policy's node.
pub enum Held {
    /// A copy of at most `INLINE` bytes (`len` of them), in place.
    ///
    /// Invariant (kept by `Held::of`, its only maker, and `overwrite`):
    /// `len <= INLINE`.
    Inline { len: u8, bytes: [u8; INLINE] },
    /// A longer value, or a mapped one, as it came.
    Shared(Value),
}

impl Held {
    /// `v` as the node keeps it: a heap value of at most `INLINE` bytes is
    /// copied in (and its `Arc` dropped), anything else kept as it is (a
    /// mapped value is always long: `cache::MAP_FROM`).
    #[inline]
    pub fn of(v: Value) -> Held {
        match v {
            Value::Heap(a) if a.len() <= INLINE => {
                let mut bytes = [0; INLINE];
                bytes[..a.len()].copy_from_slice(&a);
                Held::Inline {
                    len: a.len() as u8,
                    bytes,
                }
            }
            v => Held::Shared(v),
        }
    }

    /// The value to hand out: a new copy of inline bytes, else the same
    /// `Value` (its `Arc` cloned).
    pub fn to_value(&self) -> Value {
        match self {
            Held::Inline { .. } => Value::Heap(Arc::from(&**self)),
            Held::Shared(v) => v.clone(),
        }
    }

    /// The value, for an entry that leaves the node.
    pub fn into_value(self) -> Value {
        match self {
            Held::Inline { .. } => Value::Heap(Arc::from(&*self)),
            Held::Shared(v) => v,
        }
    }

    /// The bytes as an `Arc` (see `Value::to_arc`).
    pub fn to_arc(&self) -> Arc<[u8]> {
        match self {
            Held::Inline { .. } => Arc::from(&**self),
            Held::Shared(v) => v.to_arc(),
        }
    }

    /// Puts `v` in place of this value and hands the old one out (inline
    /// bytes copied to the heap), without moving the node's 176 bytes
    /// through a temporary as `std::mem::replace` would (an L2 hit's
    /// promotion at a full L1 does this for its victim).
    ///
    /// When both are short and of one length, and the new value's buffer
    /// is held by nothing else (a promotion's copy read from L2, taken by
    /// the node, which the reader copied from already), the node's bytes
    /// and the buffer's swap: the victim leaves in that buffer, and nothing
    /// is allocated or freed. At a full L1 of short values every L2 hit
    /// does this; it made a new `Arc` for the victim and freed the
    /// promoted one, +8% instructions a hit against values held on the
    /// heap (BENCHMARKS.md, "Session 18").
    #[inline]
    pub fn replace(&mut self, mut v: Value) -> Value {
        if let (Held::Inline { len, bytes }, Value::Heap(a)) = (&mut *self, &mut v) {
            if a.len() == usize::from(*len) {
                if let Some(buf) = Arc::get_mut(a) {
                    bytes[..buf.len()].swap_with_slice(buf);
                    return v;
                }
            }
        }
        let old = match self {
            Held::Inline { .. } => Value::Heap(Arc::from(&**self)),
            // SAFETY: the old value is read out here and `self` is written
            // below without being dropped, so it is moved, not duplicated.
            Held::Shared(old) => unsafe { std::ptr::read(old) },
        };
        // SAFETY: `self` is valid for writes; its old contents were moved
        // out above (or are plain bytes), so nothing is leaked or dropped
        // twice. `Held::of` cannot unwind between the read and this write
        // (it copies at most `INLINE` bytes, or moves `v`).
        unsafe { std::ptr::write(self, Held::of(v)) };
        old
    }

    /// Whether the bytes are a segment's map.
    pub fn is_mapped(&self) -> bool {
        matches!(self, Held::Shared(v) if v.is_mapped())
    }

    /// Whether the bytes map a segment that has left the log.
    pub fn maps_a_departed_segment(&self) -> bool {
        matches!(self, Held::Shared(v) if v.maps_a_departed_segment())
    }

    /// Whether the bytes are in the node (for tests).
    #[cfg(test)]
    pub fn is_inline(&self) -> bool {
        matches!(self, Held::Inline { .. })
    }

    /// Writes `bytes` over this value in place if it has their length and
    /// no one else holds it: inline bytes, or a heap buffer whose `Arc` is
    /// this one alone. False, changing nothing, otherwise.
    #[inline]
    pub fn overwrite(&mut self, bytes: &[u8]) -> bool {
        if self.len() != bytes.len() {
            return false;
        }
        match self {
            Held::Inline { bytes: b, .. } => {
                b[..bytes.len()].copy_from_slice(bytes);
                true
            }
            Held::Shared(Value::Heap(held)) => match Arc::get_mut(held) {
                Some(buf) => {
                    buf.copy_from_slice(bytes);
                    true
                }
                None => false,
            },
            Held::Shared(_) => false,
        }
    }
}

impl Deref for Held {
    type Target = [u8];

    #[inline]
    fn deref(&self) -> &[u8] {
        match self {
            Held::Inline { len, bytes } => &bytes[..*len as usize],
            Held::Shared(v) => v,
        }
    }
}

impl std::fmt::Debug for Held {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Held::Inline { .. } => write!(f, "Held::Inline({} bytes)", self.len()),
            Held::Shared(v) => write!(f, "Held::Shared({v:?})"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Up to `INLINE` heap bytes go in the node, longer ones stay shared;
    /// each reads back as it came, in place and out again, and an
    /// overwrite in place takes only bytes of the same length.
    #[test]
    fn short_values_go_in_the_node_and_come_out_as_they_went_in() {
        for len in [0, 1, 100, INLINE - 1, INLINE, INLINE + 1, 4 * INLINE] {
            let bytes: Vec<u8> = (0..len).map(|i| i as u8 ^ 0x5a).collect();
            let held = Held::of(Value::Heap(Arc::from(&bytes[..])));
            assert_eq!(held.is_inline(), len <= INLINE, "{len} bytes");
            assert_eq!(&*held, &bytes[..]);
            assert_eq!(&*held.to_value(), &bytes[..]);
            assert_eq!(&*held.to_arc(), &bytes[..]);
            assert!(!held.is_mapped());
            let other: Vec<u8> = bytes.iter().map(|b| !b).collect();
            let mut w = Held::of(Value::Heap(Arc::from(&bytes[..])));
            assert!(w.overwrite(&other), "{len} bytes: same length, held alone");
            assert_eq!(&*w, &other[..]);
            assert_eq!(&*w.into_value(), &other[..]);
            let mut r = Held::of(Value::Heap(Arc::from(&bytes[..])));
            let back = r.replace(Value::Heap(Arc::from(&other[..])));
            assert_eq!((&*back, &*r), (&bytes[..], &other[..]), "{len} bytes: replaced");
            assert_eq!(&*held.into_value(), &bytes[..]);
        }
        let mut h = Held::of(Value::Heap(Arc::from(&b"abc"[..])));
        assert!(!h.overwrite(b"abcd"), "another length: not in place");
        assert_eq!(&*h, b"abc");
        let shared: Arc<[u8]> = Arc::from(&[7u8; 300][..]);
        let mut h = Held::of(Value::Heap(shared.clone()));
        assert!(!h.overwrite(&[8; 300]), "a buffer someone else holds is not written");
        assert_eq!(&*shared, &[7u8; 300][..]);
        // The node's layout test (`lru`) holds this to the node's size; the
        // C header's `tc_value` docs and the READMEs name the limit.
        assert_eq!(std::mem::size_of::<Held>(), 176);
        assert_eq!(INLINE, 174, "change the docs that name it with it");
    }

    /// A victim's short bytes leave in the buffer of a promoted value of
    /// their length that nothing else holds; otherwise in a new one, and a
    /// buffer someone else holds is never written.
    #[test]
    fn a_replaced_short_value_leaves_in_the_new_values_buffer_when_it_can() {
        let old = Value::Heap(Arc::from(&b"old bytes"[..]));
        let new: Arc<[u8]> = Arc::from(&b"new bytes"[..]);
        let at = new.as_ptr();
        let mut h = Held::of(old);
        let back = h.replace(Value::Heap(new));
        assert_eq!((&*back, &*h), (&b"old bytes"[..], &b"new bytes"[..]));
        assert_eq!(back.as_ptr(), at, "swapped, not allocated");

        let kept: Arc<[u8]> = Arc::from(&b"new bytes"[..]);
        let back = h.replace(Value::Heap(kept.clone()));
        assert_eq!((&*back, &*h), (&b"new bytes"[..], &b"new bytes"[..]));
        assert_ne!(back.as_ptr(), kept.as_ptr(), "a buffer held elsewhere is not swapped");
        assert_eq!(&*kept, b"new bytes");

        let longer: Arc<[u8]> = Arc::from(&b"longer bytes"[..]);
        let at = longer.as_ptr();
        let back = h.replace(Value::Heap(longer));
        assert_eq!((&*back, &*h), (&b"new bytes"[..], &b"longer bytes"[..]));
        assert_ne!(back.as_ptr(), at, "another length");
    }
}
