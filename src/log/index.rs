//! The L2 index: a 64-bit key hash → where the key's live record is.
//!
//! It holds no keys, so its RAM per entry is small (a 16-byte slot in a hash
//! table) and independent of key length. Two keys whose hashes collide are
//! told apart by the caller, who reads the key stored in the record at a
//! location (`same_key`); the second and later keys of one hash live in a small
//! overflow table. The index never does I/O itself and has no lock: the log
//! guards it.

use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// Where a record starts: segment id (24 bits) and byte offset in it (40 bits).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Loc(u64);

impl Loc {
    pub const MAX_SEGMENT: u32 = (1 << 24) - 1;
    pub const MAX_OFFSET: u64 = (1 << 40) - 1;

    pub fn new(segment: u32, offset: u64) -> Loc {
        // Callers keep to these (segment ids are checked where files are
        // named, offsets by the segment size limit); a location that aliased
        // another would read the wrong record.
        assert!(
            segment <= Self::MAX_SEGMENT && offset <= Self::MAX_OFFSET,
            "location out of range"
        );
        Loc((u64::from(segment) << 40) | offset)
    }

    pub fn segment(self) -> u32 {
        (self.0 >> 40) as u32
    }

    pub fn offset(self) -> u64 {
        self.0 & Self::MAX_OFFSET
    }
}

/// The keys of the index are already hashes: use them as they are.
#[derive(Default)]
pub struct IdentityHasher(u64);

impl Hasher for IdentityHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        // Only u64 keys are hashed; fold anything else in for completeness.
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

type HashIndexed<V> = HashMap<u64, V, BuildHasherDefault<IdentityHasher>>;

/// The 64-bit hash of a key used by the index of a directory without an
/// encryption key (and by its hint files, so it must never change: xxh3 is
/// specified and stable).
pub fn key_hash(key: &[u8]) -> u64 {
    xxhash_rust::xxh3::xxh3_64(key)
}

/// How a directory hashes keys for the index and its hint files: `key_hash`,
/// or, in an encrypted directory, SipHash-2-4 keyed with a secret derived
/// from the encryption key (`seal::Keys`), so that no hash reveals whether a
/// guessed key is in the cache. Every hash the log and the cache compute
/// goes through this one type.
#[derive(Clone, Copy, Default)]
pub struct KeyHasher {
    secret: Option<[u8; 16]>,
}

impl std::fmt::Debug for KeyHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.secret.is_some() {
            "KeyHasher(keyed)"
        } else {
            "KeyHasher(xxh3)"
        })
    }
}

impl KeyHasher {
    /// The keyed hasher of an encrypted directory.
    pub fn keyed(secret: [u8; 16]) -> KeyHasher {
        KeyHasher { secret: Some(secret) }
    }

    pub fn hash(&self, key: &[u8]) -> u64 {
        match &self.secret {
            None => key_hash(key),
            Some(s) => {
                use std::hash::Hasher as _;
                let mut h = siphasher::sip::SipHasher24::new_with_key(s);
                h.write(key);
                h.finish()
            }
        }
    }
}

#[derive(Default)]
pub struct Index {
    main: HashIndexed<Loc>,
    /// Further keys whose hash equals one in `main`: almost always empty.
    overflow: HashIndexed<Vec<Loc>>,
    len: usize,
}

impl Index {
    pub fn len(&self) -> usize {
        self.len
    }

    /// Makes room for `additional` more keys, so that rebuilding an index of
    /// millions of entries does not rehash it at every doubling.
    pub fn reserve(&mut self, additional: usize) {
        self.main.reserve(additional);
    }

    pub fn clear(&mut self) {
        *self = Index::default();
    }

    /// The location of the key with hash `h` for which `same_key` says yes.
    pub fn get(&self, h: u64, mut same_key: impl FnMut(Loc) -> bool) -> Option<Loc> {
        let first = *self.main.get(&h)?;
        if same_key(first) {
            return Some(first);
        }
        self.overflow.get(&h)?.iter().copied().find(|l| same_key(*l))
    }

    /// Points the key at `loc`, returning the location it replaces.
    pub fn insert(&mut self, h: u64, loc: Loc, mut same_key: impl FnMut(Loc) -> bool) -> Option<Loc> {
        // One probe of the table for the common case, a new key.
        let first = match self.main.entry(h) {
            Entry::Vacant(v) => {
                v.insert(loc);
                self.len += 1;
                return None;
            }
            Entry::Occupied(o) => o.into_mut(),
        };
        if same_key(*first) {
            return Some(std::mem::replace(first, loc));
        }
        let chain = self.overflow.entry(h).or_default();
        if let Some(slot) = chain.iter_mut().find(|l| same_key(**l)) {
            return Some(std::mem::replace(slot, loc));
        }
        chain.push(loc);
        self.len += 1;
        None
    }

    /// Forgets the key, returning where its record was.
    pub fn remove(&mut self, h: u64, mut same_key: impl FnMut(Loc) -> bool) -> Option<Loc> {
        let first = *self.main.get(&h)?;
        if same_key(first) {
            // Promote an overflow entry, if any, into the main slot.
            match self.overflow.get_mut(&h).and_then(|c| c.pop()) {
                Some(next) => {
                    self.main.insert(h, next);
                    if self.overflow.get(&h).is_some_and(|c| c.is_empty()) {
                        self.overflow.remove(&h);
                    }
                }
                None => {
                    self.main.remove(&h);
                }
            }
            self.len -= 1;
            return Some(first);
        }
        let chain = self.overflow.get_mut(&h)?;
        let i = chain.iter().position(|l| same_key(*l))?;
        let loc = chain.swap_remove(i);
        if chain.is_empty() {
            self.overflow.remove(&h);
        }
        self.len -= 1;
        Some(loc)
    }

    /// The locations of every key whose hash is `h` (almost always one).
    pub fn all_of(&self, h: u64) -> impl Iterator<Item = Loc> + '_ {
        self.main
            .get(&h)
            .copied()
            .into_iter()
            .chain(self.overflow.get(&h).into_iter().flatten().copied())
    }

    /// Every (hash, location) pair, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (u64, Loc)> + '_ {
        self.main
            .iter()
            .map(|(h, l)| (*h, *l))
            .chain(self.overflow.iter().flat_map(|(h, c)| c.iter().map(move |l| (*h, *l))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loc_packs_both_fields() {
        let l = Loc::new(Loc::MAX_SEGMENT, Loc::MAX_OFFSET);
        assert_eq!((l.segment(), l.offset()), (Loc::MAX_SEGMENT, Loc::MAX_OFFSET));
        let l = Loc::new(3, 17);
        assert_eq!((l.segment(), l.offset()), (3, 17));
    }

    #[test]
    fn colliding_keys_are_chained() {
        // Keys are modelled as the offsets of their locations: key k lives at Loc(0, k).
        let mut idx = Index::default();
        let key_of = |l: Loc| l.offset() % 100;
        for k in [1u64, 2, 3] {
            assert_eq!(idx.insert(7, Loc::new(0, k), |l| key_of(l) == k), None);
        }
        assert_eq!(idx.len(), 3);
        // Overwrite key 2: same hash, new location.
        assert_eq!(
            idx.insert(7, Loc::new(0, 102), |l| key_of(l) == 2),
            Some(Loc::new(0, 2))
        );
        assert_eq!(idx.len(), 3);
        assert_eq!(idx.get(7, |l| key_of(l) == 2), Some(Loc::new(0, 102)));
        assert_eq!(idx.get(7, |l| key_of(l) == 4), None);
        let mut all: Vec<u64> = idx.all_of(7).map(|l| l.offset()).collect();
        all.sort_unstable();
        assert_eq!(all, vec![1, 3, 102]);
        assert_eq!(idx.all_of(8).count(), 0);
        // Remove the one in the main slot: an overflow entry takes its place.
        assert_eq!(idx.remove(7, |l| key_of(l) == 1), Some(Loc::new(0, 1)));
        assert_eq!(idx.get(7, |l| key_of(l) == 3), Some(Loc::new(0, 3)));
        assert_eq!(idx.get(7, |l| key_of(l) == 2), Some(Loc::new(0, 102)));
        assert_eq!(idx.remove(7, |l| key_of(l) == 3), Some(Loc::new(0, 3)));
        assert_eq!(idx.remove(7, |l| key_of(l) == 2), Some(Loc::new(0, 102)));
        assert_eq!(idx.len(), 0);
        assert_eq!(idx.iter().count(), 0);
        assert_eq!(idx.remove(7, |_| true), None);
    }
}
