//! How a value is framed before it goes to Redis, and checked when it comes
//! back, and how invalidation messages are sealed: the one place where
//! remote bytes are made and trusted.
//!
//! A value in Redis is untrusted input (any client of the server can write
//! there), so a frame carries everything needed to refuse a wrong one: a
//! magic and format version, the key it belongs to, the namespace generation
//! it was written in, the writer's version (for ordering writes of one key),
//! the expiry, and either a CRC32 or, with a secret, an HMAC-SHA256 over the
//! namespace and every byte before it. docs/FORMAT.md gives the layout byte
//! by byte.
//!
//! With compression on, a value that shrinks is stored packed and its
//! codec recorded in the frame (format versions 2 and 3), so a reader with
//! any setting reads it. With an encryption key, everything but the
//! generation, the version and the writer (which the write script compares
//! in Redis) is encrypted with the remote subkeys (`seal::RemoteKeys`, from
//! the key and the namespace), the Redis key name and the clear header
//! bound in as associated data: a frame read under another key, another
//! name or another namespace is refused.
//! Frames are written in format version 3, which adds the writer's id to
//! the clear header, after the fixed 40 bytes of versions 1 and 2: the write
//! script orders two writes of one key by their versions only if one writer
//! made both (its versions follow the order of its writes; another
//! process's clock does not), and by their arrival otherwise. Frames of
//! versions 1 and 2 are still read (their writer is unknown: 0).

use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::Message;
use crate::meta::Meta;
use crate::options::{Compression, Options};
use crate::seal::{RemoteKeys, Unseal};

/// "TCR" and format version 1: plain, the value as it is.
pub const MAGIC: [u8; 4] = *b"TCR\x01";
/// "TCR" and format version 2: a codec byte, and the sealed layout.
pub const MAGIC_V2: [u8; 4] = *b"TCR\x02";
/// "TCR" and format version 3: version 2 with the writer's id.
pub const MAGIC_V3: [u8; 4] = *b"TCR\x03";
/// "TCR" and format version 4: version 3 with the tags' epochs (tagged
/// frames only).
pub const MAGIC_V4: [u8; 4] = *b"TCR\x04";
/// The fixed header of versions 1 and 2: magic, kind, auth, codec,
/// reserved, generation, version, expiry, write time.
pub const HEADER: usize = 40;
/// Version 3's and 4's: the same, then the writer's id.
pub const HEADER_V3: usize = HEADER + 8;
const KIND_PUT: u8 = 0;
const KIND_TOMBSTONE: u8 = 1;
const AUTH_CRC32: u8 = 0;
const AUTH_HMAC: u8 = 1;
/// Format version 2 only: XChaCha20-Poly1305 under the remote subkey.
const AUTH_AEAD: u8 = 2;
const CRC_LEN: usize = 4;
const MAC_LEN: usize = 32;
/// What a sealed frame's plaintext starts with: expiry, write time, codec.
const SEALED_HEAD: usize = 17;
/// The kind byte of a sealed message (after the sender id).
const MESSAGE_SEALED: u8 = b'e';

/// What a frame says, once checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// The namespace generation it was written in (a clear bumps it).
    pub generation: u64,
    /// The writer's version of the key: a later write of the same writer
    /// has a larger one.
    pub version: u64,
    /// The id of the cache that wrote it (`Remote::id`; 0 in frames of
    /// format versions 1 and 2, which do not say).
    pub writer: u64,
    pub expires_at: u64,
    pub written_at: u64,
    /// `None`: a tombstone (the key was removed, or its value is local only).
    pub value: Option<Vec<u8>>,
    /// Tags (never a file dependency: that is a local file).
    pub meta: Meta,
    /// The epoch of each tag of `meta`, in its order, as the server held it
    /// when the frame was written (`Remote::tag_epochs`): a `remove_tag`
    /// gives the tag a new one, so a value whose tag has another epoch now
    /// (or none: evicted) was removed, or may have been. Empty in a frame
    /// without tags, and in a tagged frame of a format before version 4,
    /// which no reader vouches for.
    pub epochs: Vec<u64>,
}

/// Why a frame was refused (counted in `remote_errors`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// Too short, a bad magic or version, lengths that do not add up.
    Malformed,
    /// The checksum, MAC or AEAD tag does not match (forged, truncated,
    /// corrupted, another key, or moved from another name or namespace).
    BadChecksum,
    /// Signed when this cache has no secret, or unsigned when it has one;
    /// encrypted when it has no key, or plain when it has one.
    WrongAuth,
    /// Framed for another key.
    ForeignKey,
    /// A packed value with an unknown codec, over the maximum value size,
    /// or that does not unpack.
    BadValue(Unseal),
}

/// Why an invalidation message was not applied as it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unread {
    /// Not a message at all: ignored (counted).
    Malformed,
    /// A message from sender `.0` this cache cannot authenticate (sealed
    /// under another key, or sealed where plain was expected, or the
    /// reverse): it may have been an invalidation this cache needed, so the
    /// receiver drops everything (counted).
    Unauthentic(u64),
}

/// How one cache frames its remote values: the namespace always, the secret
/// if set, the compression, and the remote subkeys if an encryption key is
/// set.
pub struct Sealer {
    namespace: Vec<u8>,
    secret: Option<Vec<u8>>,
    /// Compression only (its `keys` stay `None`: `keys` below encrypts).
    packer: crate::seal::Sealer,
    keys: Option<RemoteKeys>,
}

/// The `N` length-prefixed parts a frame body holds: key, meta, value, and
/// in format version 4 the tags' epochs.
fn parts<const N: usize>(mut body: &[u8]) -> Result<[&[u8]; N], Refused> {
    let mut out: [&[u8]; N] = [&[]; N];
    for p in out.iter_mut() {
        let len = body.get(..4).ok_or(Refused::Malformed)?;
        let len = u32::from_be_bytes(len.try_into().unwrap()) as usize;
        *p = body.get(4..4 + len).ok_or(Refused::Malformed)?;
        body = &body[4 + len..];
    }
    if !body.is_empty() {
        return Err(Refused::Malformed);
    }
    Ok(out)
}

fn put_part(out: &mut Vec<u8>, part: &[u8]) {
    out.extend_from_slice(&(part.len() as u32).to_be_bytes());
    out.extend_from_slice(part);
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_be_bytes(b[at..at + 8].try_into().unwrap())
}

impl Sealer {
    /// The framing of a cache opened with `opts`.
    pub fn of(opts: &Options) -> Sealer {
        let mut s = Sealer::new(&opts.remote_namespace, opts.remote_secret.as_ref().map(|s| &s.0[..]));
        s.packer = crate::seal::Sealer {
            compression: opts.compression,
            min_len: opts.min_compress_len,
            max_value_len: opts.max_value_len,
            keys: None,
        };
        s.keys = opts
            .encryption_key
            .as_ref()
            .map(|k| RemoteKeys::derive(k, &opts.remote_namespace));
        s
    }

    /// Plain framing (no compression, no encryption) for `namespace`.
    pub fn new(namespace: &[u8], secret: Option<&[u8]>) -> Sealer {
        Sealer {
            namespace: namespace.to_vec(),
            secret: secret.map(<[u8]>::to_vec),
            packer: crate::seal::Sealer::default(),
            keys: None,
        }
    }

    /// With compression `c` for values of at least `min_len` bytes.
    pub fn with_compression(mut self, c: Compression, min_len: u64) -> Sealer {
        self.packer.compression = c;
        self.packer.min_len = min_len;
        self
    }

    /// With `max` as the largest value a packed value may unpack to.
    pub fn with_max_value_len(mut self, max: u64) -> Sealer {
        self.packer.max_value_len = max;
        self
    }

    /// With encryption under the remote subkeys of `key`.
    pub fn with_key(mut self, key: &crate::seal::EncryptionKey) -> Sealer {
        self.keys = Some(RemoteKeys::derive(key, &self.namespace));
        self
    }

    /// Whether frames, names and messages are encrypted.
    pub fn encrypts(&self) -> bool {
        self.keys.is_some()
    }

    /// The name `bytes` are stored under in `domain` (`b'k'` keys, `b't'`
    /// tags): with encryption, the keyed hash in hex (the bytes themselves
    /// never reach the server); without, the bytes as they are.
    pub fn name(&self, domain: u8, bytes: &[u8]) -> Vec<u8> {
        match &self.keys {
            Some(k) => super::hex(&k.name(domain, bytes)).into_bytes(),
            None => bytes.to_vec(),
        }
    }

    fn auth(&self) -> u8 {
        match (&self.keys, &self.secret) {
            (Some(_), _) => AUTH_AEAD,
            (None, Some(_)) => AUTH_HMAC,
            (None, None) => AUTH_CRC32,
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

    /// The associated data of a sealed frame stored under the Redis key
    /// `name`: the name (length-prefixed), then the clear header.
    fn frame_aad(name: &[u8], header: &[u8]) -> Vec<u8> {
        let mut aad = Vec::with_capacity(4 + name.len() + HEADER_V3);
        put_part(&mut aad, name);
        aad.extend_from_slice(header);
        aad
    }

    /// The frame of `key`'s `value` (`None`: a tombstone), to be stored
    /// under the Redis key `name`: format version 4 if it has its tags'
    /// epochs (`f.epochs`, one per tag), else 3 (as a writer before
    /// version 4 made it: a tagged frame without epochs is never vouched for).
    pub fn encode(&self, name: &[u8], key: &[u8], f: &Frame) -> Vec<u8> {
        let meta = Meta {
            tags: f.meta.tags.clone(),
            dependency: None,
        }
        .encode();
        // Epochs that do not pair with the tags are left out: a frame no
        // reader vouches for (a miss), never one vouched for wrongly.
        let vouched = !f.epochs.is_empty() && f.epochs.len() == f.meta.tags.len();
        debug_assert!(vouched || f.epochs.is_empty(), "one epoch per tag");
        let epochs: Vec<u8> = match vouched {
            true => f.epochs.iter().flat_map(|e| e.to_be_bytes()).collect(),
            false => Vec::new(),
        };
        let raw: &[u8] = f.value.as_deref().unwrap_or(&[]);
        let packed = f.value.as_ref().and_then(|v| self.packer.pack(v));
        let (codec, value) = match &packed {
            Some((c, p)) => (*c as u8, &p[..]),
            None => (0, raw),
        };
        let mut parts = vec![key, &meta[..], value];
        // Version 4's fourth part; none in version 3.
        if vouched {
            parts.push(&epochs);
        }
        let mut out =
            Vec::with_capacity(HEADER_V3 + 33 + key.len() + meta.len() + value.len() + epochs.len() + MAC_LEN);
        out.extend_from_slice(if vouched { &MAGIC_V4 } else { &MAGIC_V3 });
        out.push(if f.value.is_some() { KIND_PUT } else { KIND_TOMBSTONE });
        out.push(self.auth());
        // Sealed: the codec is inside, with everything else but the order.
        let clear_codec = if self.keys.is_some() { 0 } else { codec };
        out.extend_from_slice(&[clear_codec, 0]);
        out.extend_from_slice(&f.generation.to_be_bytes());
        out.extend_from_slice(&f.version.to_be_bytes());
        match &self.keys {
            Some(keys) => {
                out.extend_from_slice(&[0; 16]);
                out.extend_from_slice(&f.writer.to_be_bytes());
                let mut plain =
                    Vec::with_capacity(SEALED_HEAD + 16 + key.len() + meta.len() + value.len() + epochs.len());
                plain.extend_from_slice(&f.expires_at.to_be_bytes());
                plain.extend_from_slice(&f.written_at.to_be_bytes());
                plain.push(codec);
                for part in &parts {
                    put_part(&mut plain, part);
                }
                let aad = Self::frame_aad(name, &out);
                keys.seal_into(&plain, &aad, &mut out);
            }
            None => {
                out.extend_from_slice(&f.expires_at.to_be_bytes());
                out.extend_from_slice(&f.written_at.to_be_bytes());
                out.extend_from_slice(&f.writer.to_be_bytes());
                for part in &parts {
                    put_part(&mut out, part);
                }
                let t = self.trailer(&out);
                out.extend_from_slice(&t);
            }
        }
        out
    }

    /// Checks and reads a frame found under the Redis key `name` that must
    /// be `key`'s.
    pub fn decode(&self, name: &[u8], key: &[u8], raw: &[u8]) -> Result<Frame, Refused> {
        let (k, f) = self.open(name, raw)?;
        if k != key {
            return Err(Refused::ForeignKey);
        }
        Ok(f)
    }

    /// Checks and reads a frame found under the Redis key `name`: the key it
    /// holds, and what it says. The trailer or tag is checked before any
    /// length inside is believed.
    pub fn open(&self, name: &[u8], raw: &[u8]) -> Result<(Vec<u8>, Frame), Refused> {
        if raw.len() < HEADER || raw[..3] != MAGIC[..3] || raw[7] != 0 {
            return Err(Refused::Malformed);
        }
        let (v2, header_len) = match raw[3] {
            1 => (false, HEADER),
            2 => (true, HEADER),
            3 | 4 => (true, HEADER_V3),
            _ => return Err(Refused::Malformed),
        };
        if raw.len() < header_len {
            return Err(Refused::Malformed);
        }
        let auth = raw[5];
        if auth > AUTH_AEAD || (!v2 && (auth == AUTH_AEAD || raw[6] != 0)) {
            return Err(Refused::Malformed);
        }
        if auth != self.auth() {
            return Err(Refused::WrongAuth);
        }
        let (header, rest) = raw.split_at(header_len);
        let writer = if header_len == HEADER_V3 {
            u64_at(header, HEADER)
        } else {
            0
        };
        let sealed;
        let (expires_at, written_at, codec, body) = match &self.keys {
            Some(keys) => {
                if header[6] != 0 || header[24..40] != [0; 16] {
                    return Err(Refused::Malformed);
                }
                sealed = keys
                    .open(rest, &Self::frame_aad(name, header))
                    .map_err(|_| Refused::BadChecksum)?;
                if sealed.len() < SEALED_HEAD {
                    return Err(Refused::Malformed);
                }
                (
                    u64_at(&sealed, 0),
                    u64_at(&sealed, 8),
                    sealed[16],
                    &sealed[SEALED_HEAD..],
                )
            }
            None => {
                let tl = if self.secret.is_some() { MAC_LEN } else { CRC_LEN };
                if raw.len() < header_len + tl {
                    return Err(Refused::Malformed);
                }
                let (signed, trailer) = raw.split_at(raw.len() - tl);
                let good = match &self.secret {
                    // Constant-time comparison of the MAC.
                    Some(secret) => {
                        let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes a key of any length");
                        mac.update(&[self.namespace.len() as u8]);
                        mac.update(&self.namespace);
                        mac.update(signed);
                        mac.verify_slice(trailer).is_ok()
                    }
                    None => self.trailer(signed) == trailer,
                };
                if !good {
                    return Err(Refused::BadChecksum);
                }
                (u64_at(raw, 24), u64_at(raw, 32), raw[6], &signed[header_len..])
            }
        };
        let (k, meta, value, epochs) = if raw[3] == 4 {
            let [k, meta, value, epochs] = parts(body)?;
            (k, meta, value, epochs)
        } else {
            let [k, meta, value] = parts(body)?;
            (k, meta, value, &[][..])
        };
        let meta = Meta::decode(meta).ok_or(Refused::Malformed)?;
        if meta.dependency.is_some() || k.is_empty() {
            return Err(Refused::Malformed);
        }
        // Version 4 is written for tagged frames only, with an epoch each.
        if raw[3] == 4 && (meta.tags.is_empty() || epochs.len() != 8 * meta.tags.len()) {
            return Err(Refused::Malformed);
        }
        let epochs = epochs.chunks_exact(8).map(|e| u64_at(e, 0)).collect();
        let value = match header[4] {
            KIND_PUT => Some(
                self.packer
                    .unpack(u64::from(codec), value)
                    .map_err(Refused::BadValue)?
                    .into_owned(),
            ),
            KIND_TOMBSTONE if value.is_empty() && codec == 0 => None,
            _ => return Err(Refused::Malformed),
        };
        let frame = Frame {
            generation: u64_at(header, 8),
            version: u64_at(header, 16),
            writer,
            expires_at,
            written_at,
            value,
            meta,
            epochs,
        };
        Ok((k.to_vec(), frame))
    }

    /// An invalidation message from `sender`: `Message::encode`, or with
    /// encryption `sender | 'e' | sealed(kind | payload)` with the sender
    /// and the channel `channel` as associated data.
    pub fn message(&self, sender: u64, channel: &[u8], m: &Message) -> Vec<u8> {
        let plain = m.encode(sender);
        let Some(keys) = &self.keys else { return plain };
        let mut out = plain[..8].to_vec();
        out.push(MESSAGE_SEALED);
        let aad = [channel, &out].concat();
        keys.seal_into(&plain[8..], &aad, &mut out);
        out
    }

    /// The sender and message of what `message` made (on `channel`).
    pub fn read_message(&self, channel: &[u8], raw: &[u8]) -> Result<(u64, Message), Unread> {
        if raw.len() < 9 {
            return Err(Unread::Malformed);
        }
        let sender = u64_at(raw, 0);
        let sealed = raw[8] == MESSAGE_SEALED;
        match (&self.keys, sealed) {
            (None, false) => Message::decode(raw).ok_or(Unread::Malformed),
            (Some(keys), true) => {
                let plain = keys
                    .open(&raw[9..], &[channel, &raw[..9]].concat())
                    .map_err(|_| Unread::Unauthentic(sender))?;
                let inner = [&raw[..8], &plain[..]].concat();
                Message::decode(&inner).ok_or(Unread::Malformed)
            }
            _ => Err(Unread::Unauthentic(sender)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seal::EncryptionKey;

    const SECRET: &[u8] = b"0123456789abcdef";

    fn frame() -> Frame {
        let mut meta = Meta::default();
        // Long enough that a sealed frame's random bytes never hold it by
        // chance: `sealed_frames_hide_key_value_and_tags` looks for it in
        // one, and the 2-byte tag this was before turned up there by
        // chance (a CI run failed so).
        meta.add_tag(b"tag-one").unwrap();
        Frame {
            generation: 3,
            version: 77,
            writer: 0x0102_0304_0506_0708,
            expires_at: 123,
            written_at: 100,
            value: Some(b"value value value value value value value value".to_vec()),
            meta,
            epochs: vec![0x1112_1314_1516_1718],
        }
    }

    /// `frame()` as a writer before format version 4 made it: no epochs.
    fn unvouched() -> Frame {
        Frame {
            epochs: Vec::new(),
            ..frame()
        }
    }

    fn key(b: u8) -> EncryptionKey {
        EncryptionKey::new(&[b; 32]).unwrap()
    }

    /// Every mode: plain, signed, compressed (plain and signed), encrypted
    /// (with and without compression and secret).
    fn modes(ns: &[u8]) -> Vec<Sealer> {
        let mut v = Vec::new();
        for secret in [None, Some(SECRET)] {
            for c in [Compression::TC_COMPRESSION_NONE, Compression::TC_COMPRESSION_LZ4] {
                v.push(Sealer::new(ns, secret).with_compression(c, 0));
                v.push(Sealer::new(ns, secret).with_compression(c, 0).with_key(&key(1)));
            }
        }
        v
    }

    #[test]
    fn round_trips_in_every_mode() {
        for s in modes(b"ns") {
            let raw = s.encode(b"name", b"key", &frame());
            assert_eq!(s.decode(b"name", b"key", &raw), Ok(frame()));
            let tomb = Frame {
                value: None,
                meta: Meta::default(),
                epochs: Vec::new(),
                ..frame()
            };
            let tomb_raw = s.encode(b"name", b"key", &tomb);
            assert_eq!(s.decode(b"name", b"key", &tomb_raw), Ok(tomb));
            let old = s.encode(b"name", b"key", &unvouched());
            assert_eq!(s.decode(b"name", b"key", &old), Ok(unvouched()));
            // Tagged frames are version 4, others version 3 (which readers
            // before version 4 read); generation, version and writer stay
            // where the write script reads them.
            for (raw, magic) in [(&raw, MAGIC_V4), (&tomb_raw, MAGIC_V3), (&old, MAGIC_V3)] {
                assert_eq!(raw[..4], magic);
                assert_eq!(u64_at(raw, 8), 3);
                assert_eq!(u64_at(raw, 16), 77);
                assert_eq!(u64_at(raw, 40), 0x0102_0304_0506_0708);
            }
        }
    }

    /// A version 4 frame says one epoch per tag, and has tags: anything
    /// else is refused before it is believed.
    #[test]
    fn a_version_4_frame_without_an_epoch_per_tag_is_refused() {
        for s in modes(b"ns") {
            // A version 3 frame's parts under version 4's magic (the
            // trailer or tag made again): three parts, not four.
            let v3 = s.encode(b"name", b"key", &unvouched());
            let relabeled = relabel(&s, b"name", &v3, 4);
            assert_eq!(s.decode(b"name", b"key", &relabeled), Err(Refused::Malformed));
            // And the other way: version 4's four parts read as version 3.
            let v4 = s.encode(b"name", b"key", &frame());
            assert_eq!(
                s.decode(b"name", b"key", &relabel(&s, b"name", &v4, 3)),
                Err(Refused::Malformed)
            );
            assert_eq!(s.decode(b"name", b"key", &relabel(&s, b"name", &v4, 4)), Ok(frame()));
        }
    }

    /// `raw` with its format version byte set to `version`, and its
    /// trailer or AEAD tag made again over the new header.
    fn relabel(s: &Sealer, name: &[u8], raw: &[u8], version: u8) -> Vec<u8> {
        let mut header = raw[..HEADER_V3].to_vec();
        header[3] = version;
        reseal(s, name, raw, header)
    }

    /// The frame `raw` (format version 3) as a writer before version 3 made
    /// it: the same header without the writer's id, version 1 if plain and
    /// uncompressed, else 2, with its trailer or AEAD tag made again.
    fn legacy(s: &Sealer, name: &[u8], raw: &[u8]) -> Vec<u8> {
        let mut header = raw[..HEADER].to_vec();
        header[3] = if header[6] == 0 && header[5] != AUTH_AEAD { 1 } else { 2 };
        reseal(s, name, raw, header)
    }

    /// The body of `raw` (a frame of version 3 or 4) after `header`, with
    /// its trailer or AEAD tag made again over the new header.
    fn reseal(s: &Sealer, name: &[u8], raw: &[u8], mut out: Vec<u8>) -> Vec<u8> {
        match &s.keys {
            Some(keys) => {
                let plain = keys
                    .open(&raw[HEADER_V3..], &Sealer::frame_aad(name, &raw[..HEADER_V3]))
                    .unwrap();
                let aad = Sealer::frame_aad(name, &out);
                keys.seal_into(&plain, &aad, &mut out);
            }
            None => {
                let tl = if s.secret.is_some() { MAC_LEN } else { CRC_LEN };
                out.extend_from_slice(&raw[HEADER_V3..raw.len() - tl]);
                let t = s.trailer(&out);
                out.extend_from_slice(&t);
            }
        }
        out
    }

    #[test]
    fn frames_of_format_versions_1_and_2_are_still_read_with_no_writer() {
        let plain = Sealer::new(b"ns", None);
        let old = legacy(&plain, b"n", &plain.encode(b"n", b"key", &unvouched()));
        assert_eq!(old[..4], MAGIC);
        assert_eq!(
            plain.decode(b"n", b"key", &old),
            Ok(Frame {
                writer: 0,
                ..unvouched()
            })
        );
        for s in modes(b"ns") {
            for f in [
                unvouched(),
                Frame {
                    value: None,
                    ..unvouched()
                },
            ] {
                let old = legacy(&s, b"name", &s.encode(b"name", b"key", &f));
                assert_eq!(s.decode(b"name", b"key", &old), Ok(Frame { writer: 0, ..f }));
                // The writer's id is bound: a version 3 frame cut to the
                // older layout without its trailer or tag made again is not read.
                let mut cut = s.encode(b"name", b"key", &frame());
                cut.drain(HEADER..HEADER_V3);
                cut[3] = 2;
                assert!(s.decode(b"name", b"key", &cut).is_err());
            }
        }
    }

    #[test]
    fn a_compressed_frame_records_its_codec_and_is_read_with_any_setting() {
        let s = Sealer::new(b"ns", None);
        let c = Sealer::new(b"ns", None).with_compression(Compression::TC_COMPRESSION_ZSTD, 0);
        let raw = c.encode(b"n", b"key", &frame());
        assert_eq!(raw[6], 2, "the codec is recorded in the clear header");
        // A reader without compression reads it; one with another codec too.
        assert_eq!(s.decode(b"n", b"key", &raw), Ok(frame()));
        let lz4 = Sealer::new(b"ns", None).with_compression(Compression::TC_COMPRESSION_LZ4, 0);
        assert_eq!(lz4.decode(b"n", b"key", &raw), Ok(frame()));
        // A value that does not shrink is stored as it is.
        let tiny = Frame {
            value: Some(b"v".to_vec()),
            ..frame()
        };
        assert_eq!(c.encode(b"n", b"key", &tiny)[6], 0);
    }

    #[test]
    fn sealed_frames_hide_key_value_and_tags() {
        let s = Sealer::new(b"ns", None).with_key(&key(1));
        let raw = s.encode(b"name", b"the-key", &frame());
        for plain in [&b"the-key"[..], b"value", b"tag-one"] {
            assert!(!raw.windows(plain.len()).any(|w| w == plain), "{plain:?} in the clear");
        }
        assert_eq!(raw[24..40], [0; 16], "expiry and write time are inside");
        let named = s.name(b'k', b"the-key");
        assert_eq!(named.len(), 32);
        assert!(!named.windows(7).any(|w| w == b"the-key"));
        assert_eq!(Sealer::new(b"ns", None).name(b'k', b"the-key"), b"the-key");
    }

    #[test]
    fn refuses_what_does_not_match() {
        for s in modes(b"ns") {
            let raw = s.encode(b"name", b"key", &frame());
            assert_eq!(s.decode(b"name", b"other", &raw), Err(Refused::ForeignKey));
            for cut in [0, 10, HEADER, raw.len() - 1] {
                assert!(s.decode(b"name", b"key", &raw[..cut]).is_err(), "cut at {cut}");
            }
            for i in 0..raw.len() {
                let mut bad = raw.clone();
                bad[i] ^= 1;
                assert!(s.decode(b"name", b"key", &bad).is_err(), "bit flipped at {i}");
            }
        }
    }

    #[test]
    fn refuses_another_key_secret_namespace_name_or_mode() {
        let sealed = Sealer::new(b"ns", None).with_key(&key(1));
        let raw = sealed.encode(b"name", b"key", &frame());
        let other_key = Sealer::new(b"ns", None).with_key(&key(2));
        assert_eq!(other_key.decode(b"name", b"key", &raw), Err(Refused::BadChecksum));
        let other_ns = Sealer::new(b"ns2", None).with_key(&key(1));
        assert_eq!(other_ns.decode(b"name", b"key", &raw), Err(Refused::BadChecksum));
        assert_eq!(sealed.decode(b"moved", b"key", &raw), Err(Refused::BadChecksum));
        let plain = Sealer::new(b"ns", None);
        assert_eq!(plain.decode(b"name", b"key", &raw), Err(Refused::WrongAuth));
        assert_eq!(
            sealed.decode(b"name", b"key", &plain.encode(b"name", b"key", &frame())),
            Err(Refused::WrongAuth)
        );

        let signed = Sealer::new(b"ns", Some(SECRET));
        let raw = signed.encode(b"name", b"key", &frame());
        let other = Sealer::new(b"ns", Some(b"fedcba9876543210"));
        assert_eq!(other.decode(b"name", b"key", &raw), Err(Refused::BadChecksum));
        let foreign = Sealer::new(b"ns2", Some(SECRET));
        assert_eq!(foreign.decode(b"name", b"key", &raw), Err(Refused::BadChecksum));
        assert_eq!(plain.decode(b"name", b"key", &raw), Err(Refused::WrongAuth));
        assert_eq!(
            signed.decode(b"name", b"key", &plain.encode(b"name", b"key", &frame())),
            Err(Refused::WrongAuth)
        );
    }

    #[test]
    fn a_bomb_or_an_unknown_codec_is_refused() {
        let s = Sealer::new(b"ns", None).with_compression(Compression::TC_COMPRESSION_ZSTD, 0);
        let big = Frame {
            value: Some(vec![0; 1 << 20]),
            ..frame()
        };
        let raw = s.encode(b"n", b"key", &big);
        let mut small = Sealer::new(b"ns", None);
        small.packer.max_value_len = 1000;
        assert!(matches!(
            small.decode(b"n", b"key", &raw),
            Err(Refused::BadValue(Unseal::TooLarge { .. }))
        ));
        // Codec 9, re-checksummed: unknown, refused.
        let mut unknown = raw[..raw.len() - CRC_LEN].to_vec();
        unknown[6] = 9;
        let t = s.trailer(&unknown);
        unknown.extend_from_slice(&t);
        assert_eq!(
            s.decode(b"n", b"key", &unknown),
            Err(Refused::BadValue(Unseal::UnknownCodec(9)))
        );
    }

    #[test]
    fn messages_are_sealed_with_a_key() {
        let msgs = [
            Message::Key(b"secret-key".to_vec()),
            Message::Prefix(b"secret-".to_vec()),
            Message::Tag(b"secret-tag".to_vec()),
            Message::Clear(9),
        ];
        let sealed = Sealer::new(b"ns", None).with_key(&key(1));
        let plain = Sealer::new(b"ns", None);
        for m in &msgs {
            let raw = sealed.message(42, b"ch", m);
            assert!(!raw.windows(6).any(|w| w == b"secret"));
            assert_eq!(sealed.read_message(b"ch", &raw), Ok((42, m.clone())));
            assert_eq!(sealed.read_message(b"other", &raw), Err(Unread::Unauthentic(42)));
            let other = Sealer::new(b"ns", None).with_key(&key(2));
            assert_eq!(other.read_message(b"ch", &raw), Err(Unread::Unauthentic(42)));
            assert_eq!(plain.read_message(b"ch", &raw), Err(Unread::Unauthentic(42)));
            let clear = plain.message(7, b"ch", m);
            assert_eq!(clear, m.encode(7));
            assert_eq!(plain.read_message(b"ch", &clear), Ok((7, m.clone())));
            assert_eq!(sealed.read_message(b"ch", &clear), Err(Unread::Unauthentic(7)));
        }
        assert_eq!(sealed.read_message(b"ch", b"short"), Err(Unread::Malformed));
    }
}
