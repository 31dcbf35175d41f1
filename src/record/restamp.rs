//! A record given a new sequence number without a pass over its value:
//! where its number lies (`seq_field`), and the number's new bytes with the
//! checksum patched to match (`restamp`). This is how compaction carries a
//! record forward (`log::store`, `Store::carry`): the copy is the old
//! record's bytes with only the number and the checksum changed.
//!
//! Why the patch is exact. The record's checksum is CRC32/IEEE as
//! crc32fast computes it (reflected polynomial 0xEDB88320, initial value
//! and final XOR all ones) over the 4 length bytes followed by the payload,
//! and this version writes the sequence number as the payload's last
//! field. CRC32 is affine over GF(2): crc(x) = lin(x) ^ k(|x|), with `lin`
//! linear (the CRC with initial value and final XOR zero) and `k` depending
//! on the length alone. Let M = P ‖ S be the checksummed bytes, S the
//! number's head, and M' = P ‖ S' the copy's, with |S'| = |S|. Then
//! M ^ M' = 0…0 ‖ (S ^ S'), and `lin` of zeros followed by D is `lin(D)`
//! (a zero register stays zero through zero bytes), so
//!
//! ```text
//! crc(M') = crc(M) ^ lin(S ^ S') = crc(M) ^ crc(S) ^ crc(S')
//! ```
//!
//! the last step because S and S' have one length, so their `k` terms
//! cancel. That is the identity as it holds here: the *standard* CRC of the
//! two number heads alone, because they end the checksummed bytes (a field
//! elsewhere would need its difference carried through the bytes after it,
//! as zlib's `crc32_combine` does). A number whose head is another length
//! changes the payload's length (in the frame, and checksummed) and
//! shifts every byte after it: no patch, the caller encodes the record
//! anew. Heads change length only as numbers pass 24, 256, 2^16 and 2^32.
//!
//! What a patch does to a damaged record. The stored checksum is moved by
//! exactly what the bytes move: with `stored' = stored ^ crc(S) ^ crc(S')`,
//! `crc(M') ^ stored' = crc(M) ^ stored`. A record that failed its check
//! before the patch fails it after, by the same difference, whatever bytes
//! were damaged (the value, the length, the checksum, the number itself:
//! S is read from the bytes being copied). The patch alone cannot make
//! damaged bytes pass; a checksum computed afresh over them would. The
//! carry still verifies the old record first, for what it decides from it
//! (see `Store::carry`).

use std::ops::Range;

use super::{head, uint_at, FIELD_SEQ, FRAME_HEADER};

/// Where the sequence number of `payload` lies: the range of its value's
/// CBOR head, if the number is the last entry of the payload's map and every
/// entry before it is an unsigned integer or a byte string (every record
/// this version writes: `encode_framed` ends with `written_at` and `seq`).
/// `None` for anything else (a record of format 1, which has no number, or
/// one with fields this version does not write, or bytes that are not such
/// a map): its number cannot be rewritten in place.
///
/// Reads heads only, never the value's bytes; it trusts nothing it reads
/// beyond the bounds it checks, so it may be given unverified bytes, but
/// only a verified payload's answer says where its number is.
pub fn seq_field(payload: &[u8]) -> Option<Range<usize>> {
    let mut pos = 0;
    let (5, fields) = head(payload, &mut pos)? else {
        return None;
    };
    if fields == 0 || fields > 16 {
        return None;
    }
    for _ in 1..fields {
        let _key = uint_at(payload, &mut pos)?;
        match head(payload, &mut pos)? {
            (0, _) => {}
            (2, n) => pos = pos.checked_add(usize::try_from(n).ok()?)?,
            _ => return None,
        }
    }
    // The last entry: the number, ending the payload. (Every decoder keeps
    // the last of repeated fields, so this is the number a reader decodes.)
    if uint_at(payload, &mut pos)? != FIELD_SEQ {
        return None;
    }
    let start = pos;
    uint_at(payload, &mut pos)?;
    (pos == payload.len()).then_some(start..pos)
}

/// Whether the number `seq` can take the place of the one whose head is
/// at `at` (`seq_field`): its head is as long (`restamp` answers).
pub fn seq_fits(at: &Range<usize>, seq: u64) -> bool {
    uint_head(seq).1 == at.len()
}

/// The sequence number's new head and the frame's new checksum.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Restamp {
    /// The new number's CBOR head: `head[..len]`.
    pub head: [u8; 9],
    pub len: usize,
    /// The checksum of the frame with `head` in place of the old number.
    pub crc: u32,
}

impl Restamp {
    pub fn head(&self) -> &[u8] {
        &self.head[..self.len]
    }
}

/// The bytes that give the record framed in `frame` the number `seq`: its
/// new head, to replace the payload's bytes at `at` (`seq_field`), and its
/// new checksum, patched from the one in the frame (module doc), not
/// computed over the record. `None` if `seq`'s head is not as long as the
/// old one (the record must be encoded anew), or `at` does not lie within
/// the frame.
///
/// It reads only the frame's header and the old head: the checksum it
/// gives matches the new bytes exactly when the old checksum matched the
/// old ones, so it is as good as the caller's check of the old record.
pub fn restamp(frame: &[u8], at: Range<usize>, seq: u64) -> Option<Restamp> {
    let (head, len) = uint_head(seq);
    if len != at.len() {
        return None;
    }
    let old = frame.get(FRAME_HEADER + at.start..FRAME_HEADER + at.end)?;
    let stored = u32::from_le_bytes(frame.get(4..8)?.try_into().ok()?);
    Some(Restamp {
        head,
        len,
        crc: stored ^ crc32(old) ^ crc32(&head[..len]),
    })
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut h = crate::crc::hasher();
    h.update(bytes);
    h.finalize()
}

/// The CBOR head of unsigned integer `n` in its shortest form (as
/// `cbor_head` writes it, a test checks): the bytes `.0[..len]`.
fn uint_head(n: u64) -> ([u8; 9], usize) {
    let mut h = [0u8; 9];
    let len = if n < 24 {
        h[0] = n as u8;
        1
    } else if n <= u64::from(u8::MAX) {
        h[0] = 24;
        h[1] = n as u8;
        2
    } else if n <= u64::from(u16::MAX) {
        h[0] = 25;
        h[1..3].copy_from_slice(&(n as u16).to_be_bytes());
        3
    } else if n <= u64::from(u32::MAX) {
        h[0] = 26;
        h[1..5].copy_from_slice(&(n as u32).to_be_bytes());
        5
    } else {
        h[0] = 27;
        h[1..9].copy_from_slice(&n.to_be_bytes());
        9
    };
    (h, len)
}

#[cfg(test)]
mod tests {
    use super::super::{cbor_head, check_frame, decode, encode, payload, Frame, Kind, RecordRef, MAJOR_UINT};
    use super::*;

    /// splitmix64: the tests' draws, the same every run.
    fn draws(mut seed: u64) -> impl FnMut() -> u64 {
        move || {
            seed = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = seed;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        }
    }

    /// Numbers on both sides of every place a head changes length.
    const EDGES: [u64; 12] = [
        0,
        1,
        23,
        24,
        255,
        256,
        65_535,
        65_536,
        u32::MAX as u64,
        1 << 32,
        u64::MAX - 1,
        u64::MAX,
    ];

    #[test]
    fn uint_head_is_cbor_head() {
        let mut next = draws(3);
        let randoms: Vec<u64> = (0..200).map(|i| next() >> (i % 64)).collect();
        for n in EDGES.iter().copied().chain(randoms) {
            let mut want = Vec::new();
            cbor_head(&mut want, MAJOR_UINT, n);
            let (h, len) = uint_head(n);
            assert_eq!(&h[..len], &want[..], "{n}");
        }
    }

    /// Against the direct computation: random records (kinds, key and
    /// value lengths from empty to past a 64 KiB chunk, expiry, meta,
    /// codec) numbered `old` and restamped `new`, numbers drawn around
    /// every place a head changes length. Where the heads are as long, the
    /// restamped frame is byte for byte the frame `encode` writes for the
    /// record numbered `new` (so the patched CRC is the one computed over
    /// it); where they are not, there is no patch (the caller's fallback),
    /// and the two encodings are indeed of different lengths.
    #[test]
    fn a_restamped_record_is_the_record_encoded_with_its_new_number() {
        let mut next = draws(11);
        let (mut patched, mut fallbacks) = (0, 0);
        for round in 0..600u64 {
            let kind = match next() % 4 {
                0 => Kind::Tombstone,
                1 => Kind::Clear,
                _ => Kind::Put,
            };
            let value_len = [0usize, 1, 23, 24, 100, 4096, 16_384, 70_000][(next() % 8) as usize];
            let value: Vec<u8> = (0..value_len).map(|_| next() as u8).collect();
            let key: Vec<u8> = (0..1 + next() % 300).map(|_| next() as u8).collect();
            let meta: Vec<u8> = if next().is_multiple_of(3) {
                b"\xa1\x00\x81\x43tag".to_vec()
            } else {
                Vec::new()
            };
            let put = kind == Kind::Put;
            let record = |seq| RecordRef {
                kind,
                key: if kind == Kind::Clear { &[] } else { &key },
                value: if put { &value } else { &[] },
                expires_at: if put && round % 2 == 0 { expiry(round) } else { 0 },
                written_at: round * 1_000_003,
                seq,
                meta: if put { &meta } else { &[] },
                codec: if put && round % 5 == 0 { 1 } else { 0 },
                sealed: &[],
            };
            let pick = |r: u64| {
                let e = EDGES[(r % EDGES.len() as u64) as usize];
                // Beside an edge, or anywhere.
                match r / 16 % 3 {
                    0 => e,
                    1 => e.saturating_add(r >> 60),
                    _ => r >> (r % 64),
                }
            };
            // The copy's number is higher; mostly by a little (as in a
            // log: same length unless an edge lies between), else anywhere.
            let old = pick(next());
            let gap = if next().is_multiple_of(4) {
                pick(next())
            } else {
                next() % 50
            };
            let new = old.saturating_add(gap);
            let mut frame = Vec::new();
            encode(&mut frame, &record(old));
            let at = seq_field(payload(&frame)).expect("every record this version writes ends with its number");
            let mut want = Vec::new();
            encode(&mut want, &record(new));
            match restamp(&frame, at.clone(), new) {
                Some(r) => {
                    frame[FRAME_HEADER + at.start..FRAME_HEADER + at.end].copy_from_slice(r.head());
                    frame[4..8].copy_from_slice(&r.crc.to_le_bytes());
                    assert_eq!(frame, want, "round {round}: {old} -> {new}");
                    assert_eq!(decode(payload(&frame)).unwrap().seq, new);
                    patched += 1;
                }
                None => {
                    assert_ne!(frame.len(), want.len(), "round {round}: {old} -> {new} had a patch");
                    fallbacks += 1;
                }
            }
        }
        assert!(
            patched > 300 && fallbacks > 20,
            "{patched} patched, {fallbacks} fell back"
        );
    }

    fn expiry(round: u64) -> u64 {
        1_700_000_000_000 + round
    }

    /// The patch moves the checksum by what it moves the bytes: a frame
    /// damaged anywhere (any single flipped bit, in the value, a field,
    /// the length, the checksum or the old number itself) that fails its
    /// check fails it after the restamp too. A checksum computed afresh
    /// would have made it pass.
    #[test]
    fn a_damaged_record_stays_damaged_when_restamped() {
        let value: Vec<u8> = (0..300u32).map(|i| (i * 13) as u8).collect();
        let mut frame = Vec::new();
        encode(
            &mut frame,
            &RecordRef {
                kind: Kind::Put,
                key: b"key",
                value: &value,
                expires_at: 0,
                written_at: 5,
                seq: 300,
                meta: &[],
                codec: 0,
                sealed: &[],
            },
        );
        let mut restamped = 0;
        for i in 0..frame.len() {
            for bit in 0..8 {
                let mut bad = frame.clone();
                bad[i] ^= 1 << bit;
                assert_ne!(check_frame(&bad), Frame::Valid { len: bad.len() });
                // As a carry would: the frame its (damaged) length gives,
                // the number where its (damaged) bytes say it is.
                let Some(n) = super::super::unverified_payload(&bad).map(|p| FRAME_HEADER + p.len()) else {
                    continue;
                };
                let mut copy = bad[..n].to_vec();
                let Some(at) = seq_field(payload(&copy)) else {
                    continue;
                };
                let Some(r) = restamp(&copy, at.clone(), 40_000) else {
                    continue;
                };
                copy[FRAME_HEADER + at.start..FRAME_HEADER + at.end].copy_from_slice(r.head());
                copy[4..8].copy_from_slice(&r.crc.to_le_bytes());
                assert_eq!(
                    check_frame(&copy),
                    Frame::Corrupt,
                    "flip at byte {i} bit {bit} passed once restamped"
                );
                restamped += 1;
            }
        }
        assert!(restamped > 8 * 300, "{restamped} damaged frames restamped");
    }

    /// Records not as this version writes them have no place to patch.
    #[test]
    fn only_a_number_that_ends_the_map_is_found() {
        // Format 1: no number.
        assert_eq!(seq_field(&[0xa3, 0x00, 0x01, 0x01, 0x41, b'k', 0x04, 0x05]), None);
        // The number, then another field.
        assert_eq!(seq_field(&[0xa3, 0x00, 0x02, 0x05, 0x07, 0x04, 0x05]), None);
        // An unknown field of another type before it.
        assert_eq!(seq_field(&[0xa3, 0x00, 0x02, 0x0a, 0x80, 0x05, 0x07]), None);
        // Bytes past the map.
        assert_eq!(seq_field(&[0xa2, 0x00, 0x02, 0x05, 0x07, 0x00]), None);
        // A byte string that claims more than is there.
        assert_eq!(seq_field(&[0xa3, 0x00, 0x02, 0x01, 0x5f, 0x05, 0x07]), None);
        assert_eq!(seq_field(&[0xa2, 0x00, 0x02, 0x05, 0x19, 0x01, 0x00]), Some(4..7));
    }
}
