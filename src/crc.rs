//! CRC32 (IEEE), the checksum of the log's records (written and read) and
//! of the index file's slots, computed by `crc32fast` without asking the CPU what it has on every
//! call.
//!
//! `crc32fast::Hasher::new` runs its CPU feature detection each time (five
//! cached checks, about 35 instructions): next to the checksum of a 28-byte
//! slot or a 100-byte record that is a fifth of the work, and a put computes
//! two or three of them. The hasher is made once and cloned; a clone keeps
//! the implementation the first one chose. The checksums are the same bytes
//! as `crc32fast::hash` gives (a test checks it).

use std::sync::OnceLock;

static FRESH: OnceLock<crc32fast::Hasher> = OnceLock::new();

/// A new hasher, as `crc32fast::Hasher::new()` makes it.
#[inline]
pub fn hasher() -> crc32fast::Hasher {
    FRESH.get_or_init(crc32fast::Hasher::new).clone()
}

/// The CRC32 of `bytes`, as `crc32fast::hash` computes it.
#[inline]
pub fn hash(bytes: &[u8]) -> u32 {
    let mut h = hasher();
    h.update(bytes);
    h.finalize()
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_same_checksums_as_crc32fast() {
        let bytes: Vec<u8> = (0..1000u32).map(|i| (i * 7 + i / 13) as u8).collect();
        for len in [0, 1, 3, 4, 15, 16, 28, 63, 64, 127, 128, 129, 300, 1000] {
            assert_eq!(
                super::hash(&bytes[..len]),
                crc32fast::hash(&bytes[..len]),
                "{len} bytes"
            );
            let mut h = super::hasher();
            h.update(&bytes[..len / 2]);
            h.update(&bytes[len / 2..len]);
            assert_eq!(h.finalize(), crc32fast::hash(&bytes[..len]), "{len} bytes in two parts");
        }
    }
}
