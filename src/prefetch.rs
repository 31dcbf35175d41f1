//! Asking the CPU to start loading memory that a lookup is about to read,
//! so that reads which do not depend on each other wait for memory together
//! instead of one after the other. A hint only: it never changes what is
//! read, and it does nothing on a CPU this module has no instruction for.
//!
//! Why: an L2 hit reads, at places that depend only on the key's hash, the
//! index overlay, the index file's slot and the read mark, and then the
//! record the index names. With 200k keys every one of those is a cache
//! (and TLB) miss, and in program order each waited for the one before.

/// Bytes of a cache line.
const LINE: usize = 64;
/// Bytes of a page (the smallest x86_64 and aarch64 have).
const PAGE: usize = 4096;

/// Starts loading the cache line holding `p` (any address: a prefetch of an
/// unmapped one is dropped, never a fault).
#[inline(always)]
pub fn line<T>(p: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: `prefetcht0` only hints; it reads nothing architecturally and
    // cannot fault, whatever the address (SSE is in every x86_64 CPU).
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(p.cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// Starts loading `bytes`, each of its cache lines up to `lines` of them,
/// then one line per page of the rest (which starts the page's address
/// translation: the hardware prefetcher stops at page boundaries).
pub fn bytes(bytes: &[u8], lines: usize) {
    let p = bytes.as_ptr();
    let near = bytes.len().min(lines * LINE);
    let mut at = 0;
    while at < near {
        line(p.wrapping_add(at));
        at += LINE;
    }
    // The first page boundary past the lines above, as an offset in `bytes`.
    let mut at = (p as usize + near).next_multiple_of(PAGE) - p as usize;
    while at < bytes.len() {
        line(p.wrapping_add(at));
        at += PAGE;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hints_at_any_length_and_alignment_read_nothing_out_of_bounds() {
        let buf = vec![7u8; 5 * PAGE];
        for start in [0, 1, 63, 64, PAGE - 1, PAGE] {
            for len in [0, 1, 64, 65, PAGE, 3 * PAGE + 5] {
                for lines in [0, 1, 16] {
                    bytes(&buf[start..start + len], lines);
                }
            }
        }
        line(std::ptr::null::<u8>());
        assert!(buf.iter().all(|b| *b == 7));
    }
}
