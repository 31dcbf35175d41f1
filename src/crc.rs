//! The checksums of what is read on every hit: CRC32 (IEEE), the checksum
//! of the log's records (written and read), by a `crc32fast` hasher that
//! does not ask the CPU what it has on every call; and CRC32C (Castagnoli),
//! the checksum of the index file's 28-byte slots, by the SSE4.2 `crc32`
//! instruction where the CPU has it.
//!
//! `crc32fast::Hasher::new` runs its CPU feature detection each time (five
//! cached checks, about 35 instructions): next to the checksum of a 100-byte
//! record that is a fifth of the work, and a put computes two or three of
//! them. The hasher is made once and cloned; a clone keeps the
//! implementation the first one chose. The checksums are the same bytes as
//! `crc32fast::hash` gives (a test checks it).
//!
//! Why the slots use another polynomial: every L2 hit checks the slot it
//! reads, and for 28 bytes crc32fast's CRC32 cost about 200 instructions
//! (callgrind: `check_slot` per L2 hit; its folding path wants 64 bytes or
//! more, shorter input goes through its tables), where the SSE4.2
//! instruction, which computes CRC32C and only CRC32C, takes four steps
//! (three of 8 bytes, one of 4). At this length both polynomials catch
//! every error of up to five flipped bits (Hamming distance 6, Koopman's
//! CRC tables). Without SSE4.2 a table computes the same checksum, a byte
//! at a time.

use std::sync::OnceLock;

static FRESH: OnceLock<crc32fast::Hasher> = OnceLock::new();

/// A new hasher, as `crc32fast::Hasher::new()` makes it.
#[inline]
pub fn hasher() -> crc32fast::Hasher {
    FRESH.get_or_init(crc32fast::Hasher::new).clone()
}

/// The CRC32C (Castagnoli, reflected polynomial 0x82F63B78, initial value
/// and final XOR all ones: iSCSI's, ext4's, LevelDB's) of `bytes`.
///
/// Of an array, not a slice: with the length known where the instruction's
/// loop is compiled, the loop is unrolled (an index slot's 28 bytes: four
/// instructions, no loop and no length tests, which cost a slice's version
/// about 35 instructions).
#[inline]
pub fn crc32c_array<const N: usize>(bytes: &[u8; N]) -> u32 {
    #[cfg(target_arch = "x86_64")]
    {
        // The detection is cached by std: a load and a test after the
        // first call.
        if std::arch::is_x86_feature_detected!("sse4.2") {
            // SAFETY: the CPU has SSE4.2, the only feature the function
            // is compiled for beyond the target's own.
            return unsafe { crc32c_sse42_array(bytes) };
        }
    }
    crc32c_table(bytes)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "sse4.2")]
fn crc32c_sse42_array<const N: usize>(bytes: &[u8; N]) -> u32 {
    crc32c_sse42(bytes)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "sse4.2")]
#[inline]
fn crc32c_sse42(bytes: &[u8]) -> u32 {
    use std::arch::x86_64::{_mm_crc32_u32, _mm_crc32_u64, _mm_crc32_u8};
    let mut words = bytes.chunks_exact(8);
    let mut c = u64::from(!0u32);
    for w in &mut words {
        c = _mm_crc32_u64(c, u64::from_le_bytes(w.try_into().unwrap()));
    }
    let mut c = c as u32;
    let mut rest = words.remainder().chunks_exact(4);
    for w in &mut rest {
        c = _mm_crc32_u32(c, u32::from_le_bytes(w.try_into().unwrap()));
    }
    for &b in rest.remainder() {
        c = _mm_crc32_u8(c, b);
    }
    !c
}

/// CRC32C's table: entry `i` is the checksum register after byte `i`.
const TABLE: [u32; 256] = {
    let mut t = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 { (c >> 1) ^ 0x82F6_3B78 } else { c >> 1 };
            k += 1;
        }
        t[i] = c;
        i += 1;
    }
    t
};

/// `crc32c_array` without the instruction, of any slice: a byte at a time.
fn crc32c_table(bytes: &[u8]) -> u32 {
    !bytes
        .iter()
        .fold(!0u32, |c, &b| TABLE[((c ^ u32::from(b)) & 0xff) as usize] ^ (c >> 8))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_same_checksums_as_crc32fast() {
        let bytes: Vec<u8> = (0..1000u32).map(|i| (i * 7 + i / 13) as u8).collect();
        for len in [0, 1, 3, 4, 15, 16, 28, 63, 64, 127, 128, 129, 300, 1000] {
            let mut h = super::hasher();
            h.update(&bytes[..len]);
            assert_eq!(h.finalize(), crc32fast::hash(&bytes[..len]), "{len} bytes");
            let mut h = super::hasher();
            h.update(&bytes[..len / 2]);
            h.update(&bytes[len / 2..len]);
            assert_eq!(h.finalize(), crc32fast::hash(&bytes[..len]), "{len} bytes in two parts");
        }
    }

    #[test]
    fn crc32c_gives_the_published_check_values() {
        // The check value of the CRC catalogue ("CRC-32/ISCSI") and RFC
        // 3720's test patterns (B.4): 32 zeros, 32 bytes of 0xff, 0..32.
        let ascending: Vec<u8> = (0..32).collect();
        let ascending: [u8; 32] = ascending.try_into().unwrap();
        assert_eq!(super::crc32c_array(b"123456789"), 0xE306_9283);
        assert_eq!(super::crc32c_array(&[0u8; 32]), 0x8A91_36AA);
        assert_eq!(super::crc32c_array(&[0xffu8; 32]), 0x62A8_AB43);
        assert_eq!(super::crc32c_array(&ascending), 0x46DD_794E);
        assert_eq!(super::crc32c_array(&[]), 0);
        assert_eq!(super::crc32c_table(b"123456789"), 0xE306_9283);
        assert_eq!(super::crc32c_table(&ascending), 0x46DD_794E);
    }

    #[test]
    fn crc32c_by_instruction_and_by_table_agree() {
        let bytes: Vec<u8> = (0..200u32).map(|i| (i * 131 + i / 7) as u8).collect();
        assert_eq!(
            super::crc32c_array::<28>(bytes[..28].try_into().unwrap()),
            super::crc32c_table(&bytes[..28])
        );
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("sse4.2") {
            for len in 0..bytes.len() {
                // SAFETY: the CPU has SSE4.2.
                let by_instruction = unsafe { super::crc32c_sse42(&bytes[..len]) };
                assert_eq!(by_instruction, super::crc32c_table(&bytes[..len]), "{len} bytes");
            }
        }
    }
}
