//! How the memory tier holds a key and hashes it into a shard's table.
//!
//! What it owns: `Key`, a key stored inside its node when it is short (up
//! to `INLINE` bytes) and on the heap otherwise, and `TableHasher`, which
//! gives the hash a shard's table files a key under, derived from the
//! cache's own 64-bit key hash. What it never does: hash a key's bytes (the
//! cache did that once, for the shard, the table and the L2 index alike).
//!
//! Why inline: at 100k keys a hit is cache misses more than instructions,
//! and a boxed key is one more line to fetch (to compare the key) on every
//! hit, and an allocation on every insert (freed on every eviction). Most
//! keys are short; a key up to `INLINE` bytes costs neither.

use std::fmt;
use std::ops::Deref;

/// The longest key held inside the node: 22 bytes and a length make the
/// inline form exactly as large as the boxed one (a `Box<[u8]>`, 16 bytes,
/// and the enum's tag), 24 bytes.
pub const INLINE: usize = 22;

/// A key of the memory tier: its bytes inline up to `INLINE` bytes, boxed
/// beyond.
#[derive(Clone)]
pub struct Key(Repr);

/// Invariant (kept by `Key::new`, the only maker of a non-empty key): a key
/// of `INLINE` bytes or fewer is `Inline`, with `len` its length; a longer
/// one is `Heap`.
#[derive(Clone)]
enum Repr {
    Inline { len: u8, bytes: [u8; INLINE] },
    Heap(Box<[u8]>),
}

impl Key {
    pub fn new(key: &[u8]) -> Key {
        Key(if key.len() <= INLINE {
            let mut bytes = [0; INLINE];
            bytes[..key.len()].copy_from_slice(key);
            Repr::Inline {
                len: key.len() as u8,
                bytes,
            }
        } else {
            Repr::Heap(key.into())
        })
    }

    #[inline]
    pub fn as_bytes(&self) -> &[u8] {
        match &self.0 {
            Repr::Inline { len, bytes } => &bytes[..*len as usize],
            Repr::Heap(b) => b,
        }
    }

    /// Whether the key is `key`: `**self == *key`, without a call to
    /// `memcmp` for an inline key.
    ///
    /// Every hit compares the key it looks for with the node's, and for a
    /// key of 8 to 22 bytes the slice comparison is a call into the C
    /// library (`bcmp`, some 45 instructions with its set-up, measured with
    /// callgrind on 20-byte keys); two overlapping word loads from each side
    /// do the same in a handful. Only `Inline` keys take the short way: a
    /// boxed one is longer than `INLINE` and goes to `memcmp` as before.
    #[inline]
    pub fn is(&self, key: &[u8]) -> bool {
        match &self.0 {
            Repr::Inline { len, bytes } => *len as usize == key.len() && short_eq(bytes, key),
            Repr::Heap(b) => **b == *key,
        }
    }

    /// Whether the bytes are held inside the key (for the tests).
    #[cfg(test)]
    fn is_inline(&self) -> bool {
        matches!(self.0, Repr::Inline { .. })
    }
}

/// Whether `key` (at most `INLINE` bytes) is the start of `inline`.
///
/// Reads exactly `key.len()` bytes of each: the first and the last word of
/// the length's size class (overlapping when the length is not a multiple
/// of it), so no byte beyond either slice is touched.
#[inline]
fn short_eq(inline: &[u8; INLINE], key: &[u8]) -> bool {
    let n = key.len();
    debug_assert!(n <= INLINE);
    let a = &inline[..n];
    // Loads of `W` bytes at the start and the end of each slice, `n >= W`.
    fn ends<const W: usize>(s: &[u8]) -> ([u8; W], [u8; W]) {
        let first: [u8; W] = s[..W].try_into().unwrap();
        let last: [u8; W] = s[s.len() - W..].try_into().unwrap();
        (first, last)
    }
    if n >= 16 {
        let ((a0, a1), (b0, b1)) = (ends::<16>(a), ends::<16>(key));
        u128::from_ne_bytes(a0) == u128::from_ne_bytes(b0) && u128::from_ne_bytes(a1) == u128::from_ne_bytes(b1)
    } else if n >= 8 {
        let ((a0, a1), (b0, b1)) = (ends::<8>(a), ends::<8>(key));
        u64::from_ne_bytes(a0) == u64::from_ne_bytes(b0) && u64::from_ne_bytes(a1) == u64::from_ne_bytes(b1)
    } else if n >= 4 {
        let ((a0, a1), (b0, b1)) = (ends::<4>(a), ends::<4>(key));
        u32::from_ne_bytes(a0) == u32::from_ne_bytes(b0) && u32::from_ne_bytes(a1) == u32::from_ne_bytes(b1)
    } else {
        a == key
    }
}

impl Default for Key {
    /// The empty key (what a freed slot keeps).
    fn default() -> Key {
        Key::new(&[])
    }
}

impl Deref for Key {
    type Target = [u8];

    #[inline]
    fn deref(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl From<Key> for Box<[u8]> {
    fn from(k: Key) -> Box<[u8]> {
        match k.0 {
            Repr::Heap(b) => b,
            Repr::Inline { len, bytes } => bytes[..len as usize].into(),
        }
    }
}

impl PartialEq for Key {
    fn eq(&self, other: &Key) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for Key {}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Key({:?})", self.as_bytes())
    }
}

/// The hash a shard's table files the key of cache hash `h` under: `h`
/// mixed with a secret drawn when the table is made (a folded multiply, as
/// foldhash does).
///
/// Why mixed: the shard is picked from `h`'s low bits (`Memory::shard`), so
/// all the keys of one shard share them; hashbrown picks a bucket from the
/// low bits too (and a tag from the top 7), so given `h` itself a shard's
/// table would put its keys in 1/16 of its buckets. Every bit of the mix
/// depends on every bit of `h`.
///
/// Why a secret: without a directory `h` is xxh3 without a seed, which
/// anyone can compute, so keys that share a table's bucket and tag (some
/// 20 bits of `h`) are cheap to find by trial and would make each look-up
/// of them a walk. With the secret only keys whose whole 64-bit `h` is the
/// same collide in the table, as they do in the L2 index anyway.
#[derive(Clone, Copy)]
pub struct TableHasher(u64);

impl TableHasher {
    pub fn new() -> TableHasher {
        use std::hash::BuildHasher;
        TableHasher(std::collections::hash_map::RandomState::new().hash_one(0u64))
    }

    #[inline]
    pub fn hash(self, h: u64) -> u64 {
        let m = u128::from(h ^ self.0) * u128::from(0x9e37_79b9_7f4a_7c15u64);
        (m as u64) ^ ((m >> 64) as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::options::MAX_KEY_LEN;
    use std::collections::HashSet;

    #[test]
    fn keys_round_trip_at_every_boundary() {
        assert_eq!(std::mem::size_of::<Key>(), 24);
        for len in [0, 1, INLINE - 1, INLINE, INLINE + 1, 64, MAX_KEY_LEN] {
            let bytes: Vec<u8> = (0..len).map(|i| (i * 7 + 1) as u8).collect();
            let k = Key::new(&bytes);
            assert_eq!(k.as_bytes(), &bytes[..], "{len} bytes");
            assert_eq!(k.is_inline(), len <= INLINE, "{len} bytes");
            assert_eq!(k, Key::new(&bytes));
            assert_eq!(k.clone(), k);
            assert_eq!(&*Box::<[u8]>::from(k), &bytes[..]);
        }
        assert_eq!(Key::default().as_bytes(), b"");
    }

    #[test]
    fn keys_differing_only_in_length_or_last_byte_differ() {
        let long = [5u8; INLINE + 1];
        for len in 0..=INLINE + 1 {
            for other in 0..=INLINE + 1 {
                assert_eq!(Key::new(&long[..len]) == Key::new(&long[..other]), len == other);
            }
            let mut changed = long[..len].to_vec();
            if let Some(last) = changed.last_mut() {
                *last = 6;
                assert_ne!(Key::new(&changed), Key::new(&long[..len]));
            }
        }
        // A zero byte at the end is not the padding.
        assert_ne!(Key::new(b"ab\0"), Key::new(b"ab"));
    }

    /// `Key::is` answers as the slice comparison does, for every length
    /// on either side of each of its word sizes, with a difference at each
    /// position (the words overlap: every byte must still count).
    #[test]
    fn is_agrees_with_the_slice_comparison() {
        let base: Vec<u8> = (0..INLINE as u8 + 8).map(|i| i.wrapping_mul(37) ^ 0x5a).collect();
        for len in 0..=INLINE + 2 {
            let k = Key::new(&base[..len]);
            for other in 0..=INLINE + 2 {
                let probe = &base[..other];
                assert_eq!(k.is(probe), *k == *probe, "{len} against {other} bytes");
            }
            for at in 0..len {
                let mut probe = base[..len].to_vec();
                probe[at] ^= 1;
                assert!(!k.is(&probe), "{len} bytes, byte {at} differs");
                assert!(k.is(&base[..len]));
            }
        }
    }

    #[test]
    fn the_table_hash_does_not_take_its_bucket_from_the_shard_bits() {
        // Keys of one shard (same low 4 bits of h) spread over the low bits
        // (the bucket) and the top 7 (the tag) of the table hash, and so do
        // keys whose hashes differ only in their high half or only in the
        // bits of the shard and bucket.
        let t = TableHasher::new();
        let one_shard = |i: u64| crate::log::key_hash(&i.to_le_bytes()) & !0xf | 3;
        let cases: [(&str, &dyn Fn(u64) -> u64); 3] = [
            ("one shard", &one_shard),
            ("high half", &|i| i << 32),
            ("low bits", &|i| i),
        ];
        for (name, h) in cases {
            let (mut low, mut top) = (HashSet::new(), HashSet::new());
            for i in 0..1000u64 {
                low.insert(t.hash(h(i)) & 0xff);
                top.insert(t.hash(h(i)) >> 57);
            }
            assert!(low.len() > 200, "{name}: {} distinct low bytes", low.len());
            assert!(top.len() > 100, "{name}: {} distinct tags", top.len());
        }
        // Another table, another secret.
        let other = TableHasher::new();
        assert!((0..64u64).any(|h| t.hash(h) != other.hash(h)));
    }
}
