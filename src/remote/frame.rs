//! How a value is framed before it goes to Redis, and checked when it comes
//! back: the one place where remote bytes are made and trusted.
//!
//! A value in Redis is untrusted input (any client of the server can write
//! there), so a frame carries everything needed to refuse a wrong one: a
//! magic and format version, the key it belongs to, the namespace generation
//! it was written in, the writer's version (for ordering writes of one key),
//! the expiry, and either a CRC32 or, with a secret, an HMAC-SHA256 over the
//! namespace and every byte before it. docs/FORMAT.md gives the layout byte
//! by byte.
//!
//! Sealing the value (compression, encryption: issue 14) belongs in
//! [`encode`] and [`decode`], around `value`: nothing else touches the bytes.

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::meta::Meta;

/// "TCR" and the format version (1).
pub const MAGIC: [u8; 4] = *b"TCR\x01";
/// The fixed header: magic, kind, auth, 2 reserved, generation, version,
/// expiry, write time.
pub const HEADER: usize = 40;
const KIND_PUT: u8 = 0;
const KIND_TOMBSTONE: u8 = 1;
const AUTH_CRC32: u8 = 0;
const AUTH_HMAC: u8 = 1;
const CRC_LEN: usize = 4;
const MAC_LEN: usize = 32;

/// What a frame says, once checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// The namespace generation it was written in (a clear bumps it).
    pub generation: u64,
    /// The writer's version of the key: a later write has a larger one.
    pub version: u64,
    pub expires_at: u64,
    pub written_at: u64,
    /// `None`: a tombstone (the key was removed, or its value is local only).
    pub value: Option<Vec<u8>>,
    /// Tags (never a file dependency: that is a local file).
    pub meta: Meta,
}

/// Why a frame was refused (counted in `remote_errors`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// Too short, a bad magic or version, lengths that do not add up.
    Malformed,
    /// The checksum or MAC does not match (forged, truncated, corrupted,
    /// or from another namespace).
    BadChecksum,
    /// Signed when this cache has no secret, or unsigned when it has one.
    WrongAuth,
    /// Framed for another key.
    ForeignKey,
}

/// The keys that authenticate frames: the namespace always, the secret if set.
pub struct Sealer {
    namespace: Vec<u8>,
    secret: Option<Vec<u8>>,
}

impl Sealer {
    pub fn new(namespace: &[u8], secret: Option<&[u8]>) -> Sealer {
        Sealer {
            namespace: namespace.to_vec(),
            secret: secret.map(<[u8]>::to_vec),
        }
    }

    fn trailer_len(&self) -> usize {
        if self.secret.is_some() {
            MAC_LEN
        } else {
            CRC_LEN
        }
    }

    /// The trailer of `body`: over the namespace (length-prefixed) and body.
    fn trailer(&self, body: &[u8]) -> Vec<u8> {
        let ns_len = [self.namespace.len() as u8];
        match &self.secret {
            Some(secret) => {
                let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes a key of any length");
                mac.update(&ns_len);
                mac.update(&self.namespace);
                mac.update(body);
                mac.finalize().into_bytes().to_vec()
            }
            None => {
                let mut crc = crc32fast::Hasher::new();
                crc.update(&ns_len);
                crc.update(&self.namespace);
                crc.update(body);
                crc.finalize().to_be_bytes().to_vec()
            }
        }
    }

    /// The frame of `key`'s `value` (`None`: a tombstone).
    pub fn encode(&self, key: &[u8], f: &Frame) -> Vec<u8> {
        let meta = Meta {
            tags: f.meta.tags.clone(),
            dependency: None,
        }
        .encode();
        let value: &[u8] = f.value.as_deref().unwrap_or(&[]);
        let mut out = Vec::with_capacity(HEADER + 12 + key.len() + meta.len() + value.len() + MAC_LEN);
        out.extend_from_slice(&MAGIC);
        out.push(if f.value.is_some() { KIND_PUT } else { KIND_TOMBSTONE });
        out.push(if self.secret.is_some() { AUTH_HMAC } else { AUTH_CRC32 });
        out.extend_from_slice(&[0, 0]);
        for n in [f.generation, f.version, f.expires_at, f.written_at] {
            out.extend_from_slice(&n.to_be_bytes());
        }
        for part in [key, &meta, value] {
            out.extend_from_slice(&(part.len() as u32).to_be_bytes());
            out.extend_from_slice(part);
        }
        let t = self.trailer(&out);
        out.extend_from_slice(&t);
        out
    }

    /// Checks and reads a frame found under `key`. The trailer is checked
    /// before any length inside is believed.
    pub fn decode(&self, key: &[u8], raw: &[u8]) -> Result<Frame, Refused> {
        if raw.len() < HEADER + 12 + CRC_LEN || raw[..4] != MAGIC || raw[6..8] != [0, 0] {
            return Err(Refused::Malformed);
        }
        let auth = raw[5];
        match (auth, self.secret.is_some()) {
            (AUTH_HMAC, true) | (AUTH_CRC32, false) => {}
            (AUTH_HMAC, false) | (AUTH_CRC32, true) => return Err(Refused::WrongAuth),
            _ => return Err(Refused::Malformed),
        }
        let tl = self.trailer_len();
        if raw.len() < HEADER + 12 + tl {
            return Err(Refused::Malformed);
        }
        let (body, trailer) = raw.split_at(raw.len() - tl);
        let good = match &self.secret {
            // Constant-time comparison of the MAC.
            Some(_) => {
                let mut mac = Hmac::<Sha256>::new_from_slice(self.secret.as_deref().unwrap_or_default())
                    .expect("HMAC takes a key of any length");
                mac.update(&[self.namespace.len() as u8]);
                mac.update(&self.namespace);
                mac.update(body);
                mac.verify_slice(trailer).is_ok()
            }
            None => self.trailer(body) == trailer,
        };
        if !good {
            return Err(Refused::BadChecksum);
        }
        let kind = body[4];
        let n = |i: usize| u64::from_be_bytes(body[8 + 8 * i..16 + 8 * i].try_into().unwrap());
        let mut pos = HEADER;
        let mut part = || -> Result<&[u8], Refused> {
            let len = body.get(pos..pos + 4).ok_or(Refused::Malformed)?;
            let len = u32::from_be_bytes(len.try_into().unwrap()) as usize;
            let p = body.get(pos + 4..pos + 4 + len).ok_or(Refused::Malformed)?;
            pos += 4 + len;
            Ok(p)
        };
        let k = part()?;
        let meta = part()?;
        let value = part()?;
        if pos != body.len() {
            return Err(Refused::Malformed);
        }
        if k != key {
            return Err(Refused::ForeignKey);
        }
        let meta = Meta::decode(meta).ok_or(Refused::Malformed)?;
        if meta.dependency.is_some() {
            return Err(Refused::Malformed);
        }
        let value = match kind {
            KIND_PUT => Some(value.to_vec()),
            KIND_TOMBSTONE if value.is_empty() => None,
            _ => return Err(Refused::Malformed),
        };
        Ok(Frame {
            generation: n(0),
            version: n(1),
            expires_at: n(2),
            written_at: n(3),
            value,
            meta,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame() -> Frame {
        let mut meta = Meta::default();
        meta.add_tag(b"t1").unwrap();
        Frame {
            generation: 3,
            version: 77,
            expires_at: 123,
            written_at: 100,
            value: Some(b"value".to_vec()),
            meta,
        }
    }

    #[test]
    fn round_trips_with_and_without_secret() {
        for secret in [None, Some(&b"0123456789abcdef"[..])] {
            let s = Sealer::new(b"ns", secret);
            let raw = s.encode(b"key", &frame());
            assert_eq!(s.decode(b"key", &raw), Ok(frame()));
            let tomb = Frame { value: None, ..frame() };
            assert_eq!(s.decode(b"key", &s.encode(b"key", &tomb)), Ok(tomb));
        }
    }

    #[test]
    fn refuses_what_does_not_match() {
        let s = Sealer::new(b"ns", Some(b"0123456789abcdef"));
        let raw = s.encode(b"key", &frame());
        assert_eq!(s.decode(b"other", &raw), Err(Refused::ForeignKey));
        for cut in [0, 10, HEADER, raw.len() - 1] {
            assert!(s.decode(b"key", &raw[..cut]).is_err(), "cut at {cut}");
        }
        for i in 0..raw.len() {
            let mut bad = raw.clone();
            bad[i] ^= 1;
            assert!(s.decode(b"key", &bad).is_err(), "bit flipped at {i}");
        }
        // Another secret, another namespace, no secret: all refused.
        let other = Sealer::new(b"ns", Some(b"fedcba9876543210"));
        assert_eq!(other.decode(b"key", &raw), Err(Refused::BadChecksum));
        let foreign = Sealer::new(b"ns2", Some(b"0123456789abcdef"));
        assert_eq!(foreign.decode(b"key", &raw), Err(Refused::BadChecksum));
        let plain = Sealer::new(b"ns", None);
        assert_eq!(plain.decode(b"key", &raw), Err(Refused::WrongAuth));
        assert_eq!(
            s.decode(b"key", &plain.encode(b"key", &frame())),
            Err(Refused::WrongAuth)
        );
    }
}
