//! What the copying getters (`tc_get`, `tc_get_into`, and through it
//! `tc_get_into_word`) take of an L1 hit's value under the shard's lock
//! (`memory::Reader`): the bytes of a small value, copied at once (for
//! `tc_get`, into the caller's allocation, made there too), so that the hit
//! clones no `Arc`; and the length of a value too large for the
//! caller's buffer. Larger values are declined and come as an `Arc`,
//! copied after the lock is let go, as before. The same readers are
//! offered an L2 hit's value (no lock held) before its promotion into L1,
//! which then keeps the copy read from L2 without a clone of its `Arc`
//! (`Cache::plain_miss`).
//!
//! It owns no state beyond one call: each get builds its reader on its
//! own stack.

use super::handout::Handout;
use crate::memory::Reader;

/// The largest value copied under the shard's lock.
///
/// A copy under the lock spares the `Arc`'s two atomic read-modify-writes
/// (clone, then drop after the copy) of the value's first cache line, a
/// saving that does not grow with the value, while the copy lengthens the
/// lock's hold with the value's length (the hold is shared, but a writer
/// of the shard waits for it).
/// 1 KiB keeps the copy to 16 cache lines and `tc_get`'s allocation within
/// the allocator's per-thread cache (`Boxed`). It is a judgement, not a
/// measured optimum: only 100-byte values were measured.
pub const UNDER_LOCK: usize = 1024;

/// `tc_get_into`'s reader: copies a value of up to `UNDER_LOCK` bytes
/// into the caller's buffer if it fits, and notes the length of one that
/// does not fit (which needs no copy at all, whatever its size).
pub struct IntoBuf {
    buf: *mut u8,
    cap: usize,
    /// The value's length, once read.
    pub len: usize,
    /// The calling thread's stripe (`Reader::stripe`).
    stripe: usize,
}

impl IntoBuf {
    /// # Safety
    /// `buf` is writable for `cap` bytes for as long as the reader is used.
    pub unsafe fn new(buf: *mut u8, cap: usize, stripe: usize) -> IntoBuf {
        IntoBuf {
            buf,
            cap,
            len: 0,
            stripe,
        }
    }

    /// Whether the value read fitted (and so was copied).
    pub fn fitted(&self) -> bool {
        self.len <= self.cap
    }
}

impl Reader for IntoBuf {
    #[inline]
    fn read(&mut self, value: &[u8]) -> bool {
        if value.len() > self.cap {
            self.len = value.len();
            return true;
        }
        if value.len() > UNDER_LOCK {
            return false;
        }
        // SAFETY: `buf` is writable for `cap` >= `value.len()` bytes (`new`),
        // and is the caller's, not L1's: the two cannot overlap.
        unsafe { std::ptr::copy_nonoverlapping(value.as_ptr(), self.buf, value.len()) };
        self.len = value.len();
        true
    }

    #[inline]
    fn stripe(&self) -> usize {
        self.stripe
    }
}

/// `tc_get`'s reader: copies a value of up to `UNDER_LOCK` bytes into the
/// caller's allocation (`Handout`), made there too, under the lock.
///
/// An allocation this small nearly always comes from this thread's spare
/// blocks (`handout`) or the allocator's per-thread cache (glibc's tcache
/// holds chunks up to 1032 bytes), which take no lock; a miss there takes
/// the thread's own arena's lock, rarely contended, and only growing the
/// heap makes a system call. A larger allocation is likelier to do both, so
/// larger values are declined and copied after the lock is let go, as
/// before. (A copy onto the stack under the lock, allocated after it, was
/// measured too: the second copy cost more instructions than the `Arc`
/// clone and drop it spared, and on 6 December it saved no time either.)
pub struct Boxed {
    /// The copy, once read.
    pub copy: Option<Handout>,
    /// The calling thread's stripe (`Reader::stripe`).
    pub stripe: usize,
}

impl Reader for Boxed {
    #[inline]
    fn read(&mut self, value: &[u8]) -> bool {
        if value.len() > UNDER_LOCK {
            return false;
        }
        self.copy = Some(Handout::copy_of(value));
        true
    }

    #[inline]
    fn stripe(&self) -> usize {
        self.stripe
    }
}
