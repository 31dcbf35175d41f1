//! A record as the log reads it: key, value and metadata in the clear,
//! whatever was done to them at rest. This module owns the step between the
//! bytes of a record (`record`) and what the log works with, in both
//! directions: `open` authenticates and decrypts a sealed record read at a
//! location, and `seal` encrypts one about to be written at a location.
//!
//! The associated data of a sealed record binds it to where it is: the
//! format version, segment id and offset, and the fields left in the clear
//! (kind, expiry, write time, sequence number). A record copied to another
//! place in the log, or another directory (whose subkeys differ), or with a
//! clear field changed, fails authentication and is treated as corrupt.
//! Compaction and readmission write new records at new places, so they seal
//! afresh. Values are unpacked (decompressed) only when asked for
//! (`View::value`), so a caller that needs only keys never pays for it.

use std::borrow::Cow;

use super::index::Loc;
use super::segment;
use crate::record::{self, Inner, Kind, RecordRef};
use crate::seal::{Keys, Sealer, Unseal};

/// A record in the clear, borrowing from the log's bytes when it can.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct View<'a> {
    pub kind: Kind,
    pub key: Cow<'a, [u8]>,
    /// The value as stored: as it is if `codec` is 0, else packed.
    pub stored: Cow<'a, [u8]>,
    pub codec: u64,
    pub expires_at: u64,
    pub written_at: u64,
    pub seq: u64,
    pub meta: Cow<'a, [u8]>,
}

impl View<'_> {
    /// The value in the clear (unpacked if it was packed). An unknown codec
    /// or a packed value claiming more than the maximum value size is an
    /// error: such a record is never served.
    pub fn value(&self, sealer: &Sealer) -> Result<Cow<'_, [u8]>, Unseal> {
        sealer.unpack(self.codec, &self.stored)
    }

    /// The length of the value in the clear, or the error `value` gives:
    /// a packed value is unpacked to learn it. Why: what a reader is told
    /// of a value without reading it (`Cache::contains`, `Cache::info`,
    /// `tiercache dump`) must agree with what a get serves, and a packed
    /// value's header (the length it claims) can pass the record's checksum
    /// over a body that does not unpack (damage checksummed again, or a
    /// forger: fuzz finding 17). Only unpacking tells; a plain value costs
    /// nothing.
    pub fn value_len(&self, sealer: &Sealer) -> Result<u64, Unseal> {
        self.value(sealer).map(|v| v.len() as u64)
    }

    /// The length a packed value's header claims, unchecked: the length in
    /// the clear only of a value known to unpack (a fact: `Log::info_of`).
    pub fn claimed_len(&self, sealer: &Sealer) -> Result<u64, Unseal> {
        sealer.claimed_len(self.codec, &self.stored)
    }
}

/// Bytes of `aad`'s result.
pub const AAD_LEN: usize = 39;

/// The associated data of a sealed record at `loc` (see the module doc and
/// `docs/FORMAT.md`).
pub fn aad(loc: Loc, kind: Kind, expires_at: u64, written_at: u64, seq: u64) -> [u8; AAD_LEN] {
    let mut a = [0u8; AAD_LEN];
    a[0..2].copy_from_slice(&segment::VERSION.to_le_bytes());
    a[2..6].copy_from_slice(&loc.segment().to_le_bytes());
    a[6..14].copy_from_slice(&loc.offset().to_le_bytes());
    a[14] = kind as u8;
    // Only a put records an expiry; other kinds read back 0.
    let expires_at = if kind == Kind::Put { expires_at } else { 0 };
    a[15..23].copy_from_slice(&expires_at.to_le_bytes());
    a[23..31].copy_from_slice(&written_at.to_le_bytes());
    a[31..39].copy_from_slice(&seq.to_le_bytes());
    a
}

/// The record `r`, read at `loc`, in the clear. A directory is either
/// encrypted or not: a sealed record without keys, or a plain one with
/// them, is refused like one that fails authentication.
// On every L2 hit's path: see `ffi::boundary::guard`.
#[inline]
pub fn open<'a>(r: RecordRef<'a>, loc: Loc, sealer: &Sealer) -> Result<View<'a>, Unseal> {
    match (&sealer.keys, r.sealed.is_empty()) {
        (None, true) => Ok(View {
            kind: r.kind,
            key: Cow::Borrowed(r.key),
            stored: Cow::Borrowed(r.value),
            codec: r.codec,
            expires_at: r.expires_at,
            written_at: r.written_at,
            seq: r.seq,
            meta: Cow::Borrowed(r.meta),
        }),
        (Some(keys), false) => open_sealed(&r, loc, keys),
        _ => Err(Unseal::WrongMode),
    }
}

fn open_sealed(r: &RecordRef<'_>, loc: Loc, keys: &Keys) -> Result<View<'static>, Unseal> {
    let plain = keys.open(r.sealed, &aad(loc, r.kind, r.expires_at, r.written_at, r.seq))?;
    // Authentic but not a record this version reads: as good as forged.
    let inner = record::decode_inner(r.kind, &plain).ok_or(Unseal::Forged)?;
    Ok(View {
        kind: r.kind,
        key: Cow::Owned(inner.key.to_vec()),
        stored: Cow::Owned(inner.value.to_vec()),
        codec: inner.codec,
        expires_at: r.expires_at,
        written_at: r.written_at,
        seq: r.seq,
        meta: Cow::Owned(inner.meta.to_vec()),
    })
}

/// Encrypts the secret fields of `rec`, about to be written at `loc`, into
/// `sealed`, and returns `rec` with only the sealed bytes in their place.
pub fn seal<'a>(rec: &RecordRef<'_>, loc: Loc, keys: &Keys, sealed: &'a mut Vec<u8>) -> RecordRef<'a> {
    let mut plain = Vec::with_capacity(rec.key.len() + rec.value.len() + rec.meta.len() + 24);
    record::encode_inner(
        &mut plain,
        rec.kind,
        &Inner {
            key: rec.key,
            value: rec.value,
            codec: rec.codec,
            meta: rec.meta,
        },
    );
    sealed.clear();
    keys.seal_into(
        &plain,
        &aad(loc, rec.kind, rec.expires_at, rec.written_at, rec.seq),
        sealed,
    );
    RecordRef {
        kind: rec.kind,
        key: &[],
        value: &[],
        expires_at: if rec.kind == Kind::Put { rec.expires_at } else { 0 },
        written_at: rec.written_at,
        seq: rec.seq,
        meta: &[],
        codec: 0,
        sealed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seal::EncryptionKey;

    fn sealer() -> Sealer {
        Sealer {
            keys: Some(Keys::derive(&EncryptionKey::new(&[3; 32]).unwrap(), b"dir")),
            ..Sealer::default()
        }
    }

    fn put<'a>(key: &'a [u8], value: &'a [u8]) -> RecordRef<'a> {
        RecordRef {
            kind: Kind::Put,
            key,
            value,
            expires_at: 50,
            written_at: 40,
            seq: 9,
            meta: b"\xa0",
            codec: 0,
            sealed: &[],
        }
    }

    /// Seals `rec` at `loc` and frames it, as `Store::append` does.
    fn framed(rec: &RecordRef<'_>, loc: Loc, s: &Sealer) -> Vec<u8> {
        let mut sealed = Vec::new();
        let outer = seal(rec, loc, s.keys.as_ref().unwrap(), &mut sealed);
        let mut out = Vec::new();
        record::encode(&mut out, &outer);
        out
    }

    #[test]
    fn a_sealed_record_opens_where_it_was_written_and_nowhere_else() {
        let s = sealer();
        let loc = Loc::new(4, 1000);
        let buf = framed(&put(b"the-key", b"the-value"), loc, &s);
        assert!(!buf.windows(7).any(|w| w == b"the-key"));
        assert!(!buf.windows(9).any(|w| w == b"the-value"));
        let raw = record::decode(record::payload(&buf)).unwrap();
        let v = open(raw, loc, &s).unwrap();
        assert_eq!(
            (&*v.key, &*v.stored, &*v.meta),
            (&b"the-key"[..], &b"the-value"[..], &b"\xa0"[..])
        );
        assert_eq!((v.expires_at, v.written_at, v.seq), (50, 40, 9));
        for elsewhere in [Loc::new(4, 1001), Loc::new(5, 1000)] {
            assert_eq!(open(raw, elsewhere, &s), Err(Unseal::Forged));
        }
        // A clear field changed (a longer life, another number): refused.
        assert_eq!(open(RecordRef { expires_at: 0, ..raw }, loc, &s), Err(Unseal::Forged));
        assert_eq!(open(RecordRef { seq: 10, ..raw }, loc, &s), Err(Unseal::Forged));
        // Another directory's subkeys, or none at all.
        let other = Sealer {
            keys: Some(Keys::derive(&EncryptionKey::new(&[3; 32]).unwrap(), b"other dir")),
            ..Sealer::default()
        };
        assert_eq!(open(raw, loc, &other), Err(Unseal::Forged));
        assert_eq!(open(raw, loc, &Sealer::default()), Err(Unseal::WrongMode));
        // And a plain record in an encrypted directory.
        let mut plain = Vec::new();
        record::encode(&mut plain, &put(b"k", b"v"));
        let raw = record::decode(record::payload(&plain)).unwrap();
        assert_eq!(open(raw, loc, &s), Err(Unseal::WrongMode));
    }

    #[test]
    fn tombstones_and_clears_are_sealed_too() {
        let s = sealer();
        for kind in [Kind::Tombstone, Kind::Clear] {
            let rec = RecordRef {
                kind,
                value: b"",
                meta: b"",
                ..put(if kind == Kind::Clear { b"" } else { b"gone" }, b"")
            };
            let buf = framed(&rec, Loc::new(1, 16), &s);
            let raw = record::decode(record::payload(&buf)).unwrap();
            assert!(!raw.sealed.is_empty());
            let v = open(raw, Loc::new(1, 16), &s).unwrap();
            assert_eq!(v.kind, kind);
            assert_eq!(&*v.key, rec.key);
            assert_eq!(open(raw, Loc::new(1, 17), &s), Err(Unseal::Forged));
        }
    }
}
