//! Values at rest: compression, authenticated encryption, and the keyed hash
//! of keys. This module owns those transformations of bytes and nothing else:
//! it never does I/O and knows nothing of records or tiers. L2 (`log`) calls
//! it for every record it appends or reads; the remote tier
//! (`remote::frame`) packs its values with [`Sealer::pack`] and seals its
//! frames and messages with [`RemoteKeys`], subkeys derived from the key and
//! the namespace only (every process of a namespace must derive the same).
//!
//! Choices, written down in `docs/FORMAT.md` byte by byte:
//! - **AEAD: XChaCha20-Poly1305** (RustCrypto `chacha20poly1305`). Its 24-byte
//!   nonce is long enough to be drawn at random for every record with no
//!   bookkeeping (the chance of two equal nonces stays negligible after
//!   2^64 records), so no counter has to survive crashes, forks or copies of
//!   the directory; AES-256-GCM's 12-byte nonce would need one. It is also
//!   constant-time in software on machines without AES instructions.
//! - **Subkeys**: the caller's 32-byte key is never used directly. HKDF-SHA256
//!   with a random salt (one per directory, kept in its key check file)
//!   derives one key per purpose: record encryption, key hashing, key check.
//!   So the same key on two directories gives unrelated subkeys, and a
//!   record copied from one directory to another fails authentication.
//! - **Keyed hash of keys**: SipHash-2-4 with a derived 128-bit key, a PRF:
//!   the 64-bit hashes in the index and in hint files say nothing about the
//!   keys to someone without the key (an unkeyed hash of a guessable key can
//!   be confirmed by hashing the guess).
//! - **Compression** (`lz4_flex` block format, or a `zstd` frame) is applied
//!   before encryption, per value, only to values at least `min_len` long and
//!   only if the result is smaller. A packed value starts with the length of
//!   the value it unpacks to, so a frame claiming more than the maximum value
//!   size is refused before anything is allocated.

use std::borrow::Cow;
use std::fmt;

use chacha20poly1305::aead::AeadInPlace;
use chacha20poly1305::{KeyInit, Tag, XChaCha20Poly1305, XNonce};
use hkdf::Hkdf;
use sha2::Sha256;

/// Bytes of an encryption key.
pub const KEY_LEN: usize = 32;
/// Bytes of a nonce (XChaCha20-Poly1305).
pub const NONCE_LEN: usize = 24;
/// Bytes of an authentication tag (Poly1305).
pub const TAG_LEN: usize = 16;
/// Bytes an encryption adds to what it seals: nonce and tag.
pub const SEAL_OVERHEAD: usize = NONCE_LEN + TAG_LEN;
/// Bytes of the length that starts a packed (compressed) value.
pub const PACKED_HEADER: usize = 4;

/// Codec ids as recorded next to a packed value. 0 is never recorded: a value
/// stored as it is has no codec field.
pub const CODEC_LZ4: u64 = 1;
pub const CODEC_ZSTD: u64 = 2;

/// The zstd level used: zstd's default, a good ratio at LZ4-like speed on
/// the write side for values of a few KiB.
const ZSTD_LEVEL: i32 = 3;

pub use crate::options::{tc_compression, Compression};

/// A 32-byte encryption key. Its `Debug` shows no byte of it.
#[derive(Clone, PartialEq, Eq)]
pub struct EncryptionKey([u8; KEY_LEN]);

impl EncryptionKey {
    /// The key, if `bytes` is exactly 32 bytes long.
    pub fn new(bytes: &[u8]) -> Option<EncryptionKey> {
        Some(EncryptionKey(bytes.try_into().ok()?))
    }
}

impl fmt::Debug for EncryptionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("EncryptionKey(<redacted>)")
    }
}

/// Why sealed bytes could not be opened. Every case means: do not serve.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unseal {
    /// Packed by a codec this version does not know (a newer writer).
    UnknownCodec(u64),
    /// A packed value claiming to unpack to more than the limit: refused
    /// before allocating.
    TooLarge { claimed: u64, max: u64 },
    /// The packed bytes do not unpack to the length they claim.
    BadPacking,
    /// Authentication failed: another key, another location, or damage.
    Forged,
    /// Sealed bytes where none were expected, or the reverse.
    WrongMode,
}

impl fmt::Display for Unseal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Unseal::UnknownCodec(id) => write!(f, "unknown codec id {id} (written by a newer version?)"),
            Unseal::TooLarge { claimed, max } => {
                write!(f, "a packed value claims {claimed} bytes, over the maximum of {max}")
            }
            Unseal::BadPacking => f.write_str("a packed value does not unpack to its recorded length"),
            Unseal::Forged => f.write_str("authentication failed"),
            Unseal::WrongMode => f.write_str("encrypted where plain was expected, or the reverse"),
        }
    }
}

/// Packs `value` with `codec`: the result is `u32 LE` length of `value`
/// followed by the codec's bytes. `None` if the codec is none, or the packed
/// form would not be smaller than `value` (it is then stored as it is).
pub fn pack(codec: Compression, value: &[u8]) -> Option<Vec<u8>> {
    let len = u32::try_from(value.len()).ok()?;
    let mut out = Vec::with_capacity(value.len() / 2 + 64);
    out.extend_from_slice(&len.to_le_bytes());
    match codec {
        Compression::TC_COMPRESSION_NONE => return None,
        Compression::TC_COMPRESSION_LZ4 => {
            out.resize(PACKED_HEADER + lz4_flex::block::get_maximum_output_size(value.len()), 0);
            let n = lz4_flex::block::compress_into(value, &mut out[PACKED_HEADER..]).ok()?;
            out.truncate(PACKED_HEADER + n);
        }
        Compression::TC_COMPRESSION_ZSTD => {
            out.resize(PACKED_HEADER + zstd::zstd_safe::compress_bound(value.len()), 0);
            let n = ZSTD.with(|z| {
                let mut z = z.borrow_mut();
                let c = match &mut z.0 {
                    Some(c) => c,
                    none => none.insert(zstd::bulk::Compressor::new(ZSTD_LEVEL).ok()?),
                };
                c.compress_to_buffer(value, &mut out[PACKED_HEADER..]).ok()
            })?;
            out.truncate(PACKED_HEADER + n);
        }
    }
    (out.len() < value.len()).then_some(out)
}

/// Zstandard contexts, one pair per thread: making one costs more than
/// compressing a few KiB, and a context must not be shared between threads.
struct ZstdContexts(
    Option<zstd::bulk::Compressor<'static>>,
    Option<zstd::bulk::Decompressor<'static>>,
);

thread_local! {
    static ZSTD: std::cell::RefCell<ZstdContexts> = const { std::cell::RefCell::new(ZstdContexts(None, None)) };
}

/// The length a packed value claims to unpack to, checked against `max`
/// (nothing is allocated). Unknown codecs are refused here too.
pub fn packed_len(codec: u64, packed: &[u8], max: u64) -> Result<u64, Unseal> {
    if codec != CODEC_LZ4 && codec != CODEC_ZSTD {
        return Err(Unseal::UnknownCodec(codec));
    }
    let head: [u8; PACKED_HEADER] = packed
        .get(..PACKED_HEADER)
        .and_then(|h| h.try_into().ok())
        .ok_or(Unseal::BadPacking)?;
    let claimed = u64::from(u32::from_le_bytes(head));
    if claimed > max {
        return Err(Unseal::TooLarge { claimed, max });
    }
    Ok(claimed)
}

/// The most an LZ4 block of `n` bytes can unpack to. A sequence's token
/// and offset (3 bytes) yield at most 19 bytes of match, each byte of a
/// match length's extension 255 more, and literals one byte each: never
/// more than 255 bytes out per byte in (the 255 added is slack).
fn lz4_most(n: usize) -> usize {
    n.saturating_mul(255).saturating_add(255)
}

/// The most a Zstandard frame of `n` bytes can unpack to. A frame is
/// blocks; a block unpacks to at most 128 KiB (the format's
/// `Block_Maximum_Size`) and takes at least 4 bytes (a 3-byte header and
/// an RLE block's one byte; a compressed block takes more): never more than
/// 128 KiB out per 4 bytes in. (Counting the frame's own header as blocks
/// is slack.)
fn zstd_most(n: usize) -> usize {
    (n / 4).saturating_add(1).saturating_mul(128 << 10)
}

/// Unpacks what `pack` made with codec id `codec`, refusing (before
/// allocating) a claimed length over `max`, or over what the body could
/// unpack to (`lz4_most`, `zstd_most`: a 12-byte LZ4 body claiming 7 MB
/// had 7 MB allocated, and zeroed, on every read; fuzz finding 18), and
/// anything that does not unpack to exactly its claimed length.
pub fn unpack(codec: u64, packed: &[u8], max: u64) -> Result<Vec<u8>, Unseal> {
    let len = packed_len(codec, packed, max)? as usize;
    let body = &packed[PACKED_HEADER..];
    let most = if codec == CODEC_LZ4 {
        lz4_most(body.len())
    } else {
        zstd_most(body.len())
    };
    if len > most {
        return Err(Unseal::BadPacking);
    }
    let mut out = vec![0u8; len];
    let n = match codec {
        CODEC_LZ4 => lz4_flex::block::decompress_into(body, &mut out).map_err(|_| Unseal::BadPacking)?,
        _ => ZSTD
            .with(|z| {
                let mut z = z.borrow_mut();
                let d = match &mut z.1 {
                    Some(d) => d,
                    none => none.insert(zstd::bulk::Decompressor::new().ok()?),
                };
                d.decompress_to_buffer(body, &mut out).ok()
            })
            .ok_or(Unseal::BadPacking)?,
    };
    if n != len {
        return Err(Unseal::BadPacking);
    }
    Ok(out)
}

/// The subkeys derived from an encryption key for one directory (or one
/// remote namespace): see the module doc.
#[derive(Clone)]
pub struct Keys {
    aead: XChaCha20Poly1305,
    hash: [u8; 16],
    check: [u8; 32],
}

impl fmt::Debug for Keys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Keys(<redacted>)")
    }
}

impl Keys {
    /// Derives the subkeys of `key` for the place identified by `salt`
    /// (HKDF-SHA256; `info` names the purpose of each subkey).
    pub fn derive(key: &EncryptionKey, salt: &[u8]) -> Keys {
        let hk = Hkdf::<Sha256>::new(Some(salt), &key.0);
        let mut enc = [0u8; 32];
        let mut hash = [0u8; 16];
        let mut check = [0u8; 32];
        // HKDF-Expand only fails for outputs over 255 * 32 bytes.
        hk.expand(b"tiercache v1 record encryption", &mut enc)
            .expect("32 bytes");
        hk.expand(b"tiercache v1 key hash", &mut hash).expect("16 bytes");
        hk.expand(b"tiercache v1 key check", &mut check).expect("32 bytes");
        Keys {
            aead: XChaCha20Poly1305::new(&enc.into()),
            hash,
            check,
        }
    }

    /// Appends `nonce || ciphertext || tag` of `plain` to `out`, the nonce
    /// fresh from the operating system, `aad` authenticated with it.
    pub fn seal_into(&self, plain: &[u8], aad: &[u8], out: &mut Vec<u8>) {
        let mut nonce = [0u8; NONCE_LEN];
        // No randomness means no safe nonce: better to stop than to reuse one.
        getrandom::getrandom(&mut nonce).expect("the operating system gives no random bytes");
        out.extend_from_slice(&nonce);
        let start = out.len();
        out.extend_from_slice(plain);
        let tag = self
            .aead
            .encrypt_in_place_detached(XNonce::from_slice(&nonce), aad, &mut out[start..])
            .expect("XChaCha20-Poly1305 takes any length a record can have");
        out.extend_from_slice(&tag);
    }

    /// The plaintext of what `seal_into` wrote, if it authenticates with `aad`.
    pub fn open(&self, sealed: &[u8], aad: &[u8]) -> Result<Vec<u8>, Unseal> {
        if sealed.len() < SEAL_OVERHEAD {
            return Err(Unseal::Forged);
        }
        let (nonce, rest) = sealed.split_at(NONCE_LEN);
        let (ct, tag) = rest.split_at(rest.len() - TAG_LEN);
        let mut plain = ct.to_vec();
        self.aead
            .decrypt_in_place_detached(XNonce::from_slice(nonce), aad, &mut plain, Tag::from_slice(tag))
            .map_err(|_| Unseal::Forged)?;
        Ok(plain)
    }

    /// The secret of the keyed hash, for `log::KeyHasher`.
    pub fn hash_secret(&self) -> [u8; 16] {
        self.hash
    }

    /// The value a key check stores: a MAC of `context` under the check
    /// subkey (HKDF-Expand keyed with it), so it proves the key without
    /// revealing anything of it.
    pub fn check_value(&self, context: &[u8]) -> [u8; 32] {
        let hk = Hkdf::<Sha256>::from_prk(&self.check).expect("a 32-byte PRK");
        let mut out = [0u8; 32];
        hk.expand(context, &mut out).expect("32 bytes");
        out
    }
}

/// The subkeys of the remote tier for one namespace. Unlike a directory's
/// (`Keys::derive` with a random salt kept in the directory), they depend on
/// the encryption key and the namespace only, so that every process of the
/// namespace holding the key derives the same ones, on any machine. HKDF
/// with a fixed salt and info strings of their own: they are unrelated to
/// any directory's subkeys of the same key.
#[derive(Clone)]
pub struct RemoteKeys {
    /// Frame and message encryption (XChaCha20-Poly1305).
    values: Keys,
    /// HMAC-SHA256 key of the names the remote tier stores keys and tags
    /// under.
    names: [u8; 32],
}

impl fmt::Debug for RemoteKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RemoteKeys(<redacted>)")
    }
}

/// Bytes of a keyed name (`RemoteKeys::name`): 128 bits, so that two keys of
/// a namespace sharing a name is negligible (and a frame holds its key, so
/// even that would be a miss, not a wrong value).
pub const NAME_LEN: usize = 16;

impl RemoteKeys {
    /// The remote subkeys of `key` for `namespace` (1 to 255 bytes).
    pub fn derive(key: &EncryptionKey, namespace: &[u8]) -> RemoteKeys {
        let hk = Hkdf::<Sha256>::new(Some(b"tiercache remote tier"), &key.0);
        // The namespace is length-prefixed: no two (purpose, namespace)
        // pairs give the same info.
        let info = |purpose: &[u8]| [purpose, &[namespace.len() as u8], namespace].concat();
        let mut enc = [0u8; 32];
        let mut names = [0u8; 32];
        let mut check = [0u8; 32];
        hk.expand(&info(b"tiercache v1 remote encryption"), &mut enc)
            .expect("32 bytes");
        hk.expand(&info(b"tiercache v1 remote names"), &mut names)
            .expect("32 bytes");
        hk.expand(&info(b"tiercache v1 remote check"), &mut check)
            .expect("32 bytes");
        let mut hash = [0u8; 16];
        hash.copy_from_slice(&names[..16]);
        RemoteKeys {
            values: Keys {
                aead: XChaCha20Poly1305::new(&enc.into()),
                hash,
                check,
            },
            names,
        }
    }

    /// Appends `nonce || ciphertext || tag` of `plain` (see `Keys::seal_into`).
    pub fn seal_into(&self, plain: &[u8], aad: &[u8], out: &mut Vec<u8>) {
        self.values.seal_into(plain, aad, out)
    }

    /// The plaintext of what `seal_into` wrote, if it authenticates with `aad`.
    pub fn open(&self, sealed: &[u8], aad: &[u8]) -> Result<Vec<u8>, Unseal> {
        self.values.open(sealed, aad)
    }

    /// The keyed name of `bytes` in `domain` (one byte: keys and tags get
    /// different names for the same bytes): HMAC-SHA256 under the names
    /// subkey, truncated. Without the key, a name says nothing of the bytes
    /// and a guess cannot be confirmed.
    pub fn name(&self, domain: u8, bytes: &[u8]) -> [u8; NAME_LEN] {
        use hmac::{Hmac, Mac};
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.names).expect("HMAC takes a key of any length");
        mac.update(&[domain]);
        mac.update(bytes);
        let full = mac.finalize().into_bytes();
        let mut out = [0u8; NAME_LEN];
        out.copy_from_slice(&full[..NAME_LEN]);
        out
    }
}

/// What a tier does to the values it stores: compression above a size, and
/// encryption if it has keys.
#[derive(Debug, Clone)]
pub struct Sealer {
    pub compression: Compression,
    /// Values shorter than this are never compressed.
    pub min_len: u64,
    /// The largest value a packed value may unpack to.
    pub max_value_len: u64,
    /// Encryption subkeys; `None`: values are stored in the clear.
    pub keys: Option<Keys>,
}

impl Default for Sealer {
    fn default() -> Sealer {
        Sealer {
            compression: Compression::TC_COMPRESSION_NONE,
            min_len: 0,
            max_value_len: crate::options::MAX_VALUE_LIMIT,
            keys: None,
        }
    }
}

/// First byte of a sealed value envelope: bit 7 set if encrypted.
const ENVELOPE_ENCRYPTED: u8 = 0x80;

impl Sealer {
    pub fn encrypts(&self) -> bool {
        self.keys.is_some()
    }

    /// `value` packed by the configured codec if it is long enough and
    /// shrinks: (codec id, packed bytes).
    pub fn pack(&self, value: &[u8]) -> Option<(u64, Vec<u8>)> {
        if self.compression == Compression::TC_COMPRESSION_NONE || (value.len() as u64) < self.min_len {
            return None;
        }
        pack(self.compression, value).map(|p| (self.compression.id(), p))
    }

    /// A stored value in the clear: as it is (codec 0) or unpacked.
    pub fn unpack<'a>(&self, codec: u64, stored: &'a [u8]) -> Result<Cow<'a, [u8]>, Unseal> {
        if codec == 0 {
            return Ok(Cow::Borrowed(stored));
        }
        unpack(codec, stored, self.max_value_len).map(Cow::Owned)
    }

    /// The length a stored value claims in the clear, without unpacking it:
    /// true only of a value known to unpack (`View::claimed_len`).
    pub fn claimed_len(&self, codec: u64, stored: &[u8]) -> Result<u64, Unseal> {
        if codec == 0 {
            return Ok(stored.len() as u64);
        }
        packed_len(codec, stored, self.max_value_len)
    }

    /// A value sealed for a tier that stores opaque bytes (the remote tier):
    /// packed if that pays, then encrypted with `aad` if there are keys.
    /// See "Sealed values" in `docs/FORMAT.md`.
    pub fn seal_value(&self, value: &[u8], aad: &[u8]) -> Vec<u8> {
        let (codec, packed) = match self.pack(value) {
            Some((c, p)) => (c, Cow::Owned(p)),
            None => (0, Cow::Borrowed(value)),
        };
        let mut head = codec as u8;
        let mut out = Vec::with_capacity(1 + packed.len() + SEAL_OVERHEAD);
        match &self.keys {
            None => {
                out.push(head);
                out.extend_from_slice(&packed);
            }
            Some(k) => {
                head |= ENVELOPE_ENCRYPTED;
                out.push(head);
                k.seal_into(&packed, &envelope_aad(head, aad), &mut out);
            }
        }
        out
    }

    /// The value `seal_value` sealed with the same `aad`, or why not.
    pub fn open_value(&self, sealed: &[u8], aad: &[u8]) -> Result<Vec<u8>, Unseal> {
        let (&head, body) = sealed.split_first().ok_or(Unseal::BadPacking)?;
        let codec = u64::from(head & !ENVELOPE_ENCRYPTED);
        let encrypted = head & ENVELOPE_ENCRYPTED != 0;
        let plain = match (&self.keys, encrypted) {
            (Some(k), true) => Cow::Owned(k.open(body, &envelope_aad(head, aad))?),
            (None, false) => Cow::Borrowed(body),
            _ => return Err(Unseal::WrongMode),
        };
        match self.unpack(codec, &plain)? {
            Cow::Borrowed(b) => Ok(b.to_vec()),
            Cow::Owned(v) => Ok(v),
        }
    }
}

/// The associated data of an envelope: its first byte, then the caller's.
fn envelope_aad(head: u8, aad: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(1 + aad.len());
    v.push(head);
    v.extend_from_slice(aad);
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(n: usize) -> Vec<u8> {
        b"the quick brown fox jumps over the lazy dog; "
            .iter()
            .cycle()
            .take(n)
            .copied()
            .collect()
    }

    #[test]
    fn both_codecs_round_trip_and_shrink_text() {
        for c in [Compression::TC_COMPRESSION_LZ4, Compression::TC_COMPRESSION_ZSTD] {
            let v = text(10_000);
            let p = pack(c, &v).unwrap();
            assert!(p.len() < v.len() / 4, "{c:?}: {}", p.len());
            assert_eq!(unpack(c.id(), &p, 1 << 20).unwrap(), v);
            assert_eq!(packed_len(c.id(), &p, 1 << 20), Ok(10_000));
        }
    }

    /// The most compressible value there is (zeros) stays within
    /// `lz4_most` and round-trips, so the bound refuses no value `pack`
    /// made; finding 18's shape is refused. (That it is refused before the
    /// claim is allocated is what the fuzz crate's replay of
    /// `regressions/open_dir/finding18-*` checks: it watches allocations.)
    #[test]
    fn an_lz4_claim_beyond_what_its_body_can_make_is_refused() {
        zeros_within(Compression::TC_COMPRESSION_LZ4, CODEC_LZ4, 1 << 20, lz4_most);
        // Finding 18's shape: a 12-byte body claiming 7 MB.
        let mut forged = (7_093_248u32).to_le_bytes().to_vec();
        forged.extend_from_slice(&[0x1f, 0, 1, 0, 0xff, 0xff, 0xff, 0xff, 0x10, 0, 0, 0]);
        assert_eq!(unpack(CODEC_LZ4, &forged, 1 << 24), Err(Unseal::BadPacking));
    }

    /// Packs `len` zeros, the most compressible value there is, with
    /// `compression` (codec id `codec`): checks that the codec's bound
    /// `most` allows its length and that it round-trips; returns it packed.
    fn zeros_within(compression: Compression, codec: u64, len: usize, most: fn(usize) -> usize) -> Vec<u8> {
        let zeros = vec![0u8; len];
        let p = pack(compression, &zeros).unwrap();
        assert!(len <= most(p.len() - PACKED_HEADER), "{} bytes packed", p.len());
        assert_eq!(unpack(codec, &p, 1 << 24).unwrap(), zeros);
        p
    }

    /// The Zstandard bound (`zstd_most`) holds for the most compressible
    /// value there is, at the default maximum value size, and refuses a
    /// short body's large claim. (That such a claim is refused before it is
    /// allocated is what the fuzz crate's replay of
    /// `regressions/record_decode/claim-beyond-body` checks.)
    #[test]
    fn a_zstd_claim_beyond_what_its_body_can_make_is_refused() {
        let len = crate::options::DEFAULT_MAX_VALUE_LEN as usize;
        let p = zeros_within(Compression::TC_COMPRESSION_ZSTD, CODEC_ZSTD, len, zstd_most);
        // A body of 16 bytes unpacks to at most 5 blocks' worth.
        let within = 5u32 * (128 << 10);
        let mut forged = within.to_le_bytes().to_vec();
        forged.extend_from_slice(&p[PACKED_HEADER..][..16]);
        assert_eq!(zstd_most(16), within as usize);
        assert_eq!(
            unpack(CODEC_ZSTD, &forged, 1 << 24),
            Err(Unseal::BadPacking),
            "within the bound, cut"
        );
        forged[..PACKED_HEADER].copy_from_slice(&(within + 1).to_le_bytes());
        assert_eq!(
            unpack(CODEC_ZSTD, &forged, 1 << 24),
            Err(Unseal::BadPacking),
            "past the bound"
        );
    }

    #[test]
    fn incompressible_values_stay_as_they_are() {
        let mut noise = vec![0u8; 4096];
        getrandom::getrandom(&mut noise).unwrap();
        assert_eq!(pack(Compression::TC_COMPRESSION_LZ4, &noise), None);
        assert_eq!(pack(Compression::TC_COMPRESSION_ZSTD, &noise), None);
        assert_eq!(pack(Compression::TC_COMPRESSION_LZ4, b""), None);
        let s = Sealer {
            compression: Compression::TC_COMPRESSION_ZSTD,
            min_len: 100,
            ..Sealer::default()
        };
        assert_eq!(s.pack(&text(99)), None, "under min_len");
        assert!(s.pack(&text(100)).is_some());
    }

    #[test]
    fn a_bomb_is_refused_before_allocating() {
        let v = vec![0u8; 1 << 20];
        let p = pack(Compression::TC_COMPRESSION_ZSTD, &v).unwrap();
        assert_eq!(
            unpack(CODEC_ZSTD, &p, 1000),
            Err(Unseal::TooLarge {
                claimed: 1 << 20,
                max: 1000
            })
        );
        // A header claiming 4 GiB: refused on the claim alone.
        let mut lie = p.clone();
        lie[..4].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(
            unpack(CODEC_ZSTD, &lie, 1 << 30),
            Err(Unseal::TooLarge { .. })
        ));
        // A claim shorter than the frame's content: refused, not truncated.
        let mut short = p;
        short[..4].copy_from_slice(&100u32.to_le_bytes());
        assert_eq!(unpack(CODEC_ZSTD, &short, 1 << 30), Err(Unseal::BadPacking));
        assert_eq!(unpack(9, b"\0\0\0\0", 10), Err(Unseal::UnknownCodec(9)));
    }

    #[test]
    fn sealing_authenticates_the_associated_data() {
        let k = Keys::derive(&EncryptionKey([7; 32]), b"salt");
        let mut out = Vec::new();
        k.seal_into(b"secret", b"here", &mut out);
        assert_eq!(out.len(), 6 + SEAL_OVERHEAD);
        assert!(!out.windows(6).any(|w| w == b"secret"));
        assert_eq!(k.open(&out, b"here").unwrap(), b"secret");
        assert_eq!(k.open(&out, b"there"), Err(Unseal::Forged));
        for i in 0..out.len() {
            let mut bad = out.clone();
            bad[i] ^= 1;
            assert_eq!(k.open(&bad, b"here"), Err(Unseal::Forged), "flip at {i}");
        }
        let other = Keys::derive(&EncryptionKey([7; 32]), b"another salt");
        assert_eq!(other.open(&out, b"here"), Err(Unseal::Forged));
        assert_ne!(k.hash_secret(), other.hash_secret());
        assert_ne!(k.check_value(b"x"), other.check_value(b"x"));
        // Two seals of one plaintext differ (fresh nonces).
        let mut again = Vec::new();
        k.seal_into(b"secret", b"here", &mut again);
        assert_ne!(out, again);
    }

    #[test]
    fn remote_keys_depend_on_the_key_and_namespace_only() {
        let a = RemoteKeys::derive(&EncryptionKey([3; 32]), b"ns");
        let again = RemoteKeys::derive(&EncryptionKey([3; 32]), b"ns");
        let other_ns = RemoteKeys::derive(&EncryptionKey([3; 32]), b"ns2");
        let other_key = RemoteKeys::derive(&EncryptionKey([4; 32]), b"ns");
        let mut sealed = Vec::new();
        a.seal_into(b"v", b"aad", &mut sealed);
        assert_eq!(again.open(&sealed, b"aad").unwrap(), b"v");
        assert_eq!(other_ns.open(&sealed, b"aad"), Err(Unseal::Forged));
        assert_eq!(other_key.open(&sealed, b"aad"), Err(Unseal::Forged));
        assert_eq!(a.name(b'k', b"x"), again.name(b'k', b"x"));
        assert_ne!(a.name(b'k', b"x"), a.name(b't', b"x"));
        assert_ne!(a.name(b'k', b"x"), a.name(b'k', b"y"));
        assert_ne!(a.name(b'k', b"x"), other_ns.name(b'k', b"x"));
        assert_ne!(a.name(b'k', b"x"), other_key.name(b'k', b"x"));
        // Unrelated to a directory's subkeys of the same key and salt.
        let dir = Keys::derive(&EncryptionKey([3; 32]), b"ns");
        assert_eq!(dir.open(&sealed, b"aad"), Err(Unseal::Forged));
    }

    #[test]
    fn value_envelopes_round_trip_in_every_mode() {
        let keys = Keys::derive(&EncryptionKey([1; 32]), b"ns");
        for compression in [
            Compression::TC_COMPRESSION_NONE,
            Compression::TC_COMPRESSION_LZ4,
            Compression::TC_COMPRESSION_ZSTD,
        ] {
            for k in [None, Some(keys.clone())] {
                let s = Sealer {
                    compression,
                    keys: k,
                    ..Sealer::default()
                };
                for v in [text(0), text(10), text(5000)] {
                    let sealed = s.seal_value(&v, b"key-1");
                    assert_eq!(s.open_value(&sealed, b"key-1").unwrap(), v);
                    if s.encrypts() {
                        assert_eq!(s.open_value(&sealed, b"key-2"), Err(Unseal::Forged));
                        let plain = Sealer::default();
                        assert_eq!(plain.open_value(&sealed, b"key-1"), Err(Unseal::WrongMode));
                    }
                }
            }
        }
    }
}
