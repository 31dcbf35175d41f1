//! What the copying getters (`tc_get`, `tc_get_into`, and through it
//! `tc_get_into_word`, `tc_get_made`, and the batch `tc_get_many_into`)
//! take of an L1 hit's value under the shard's lock (`memory::Reader`): the bytes of a
//! small value, copied at once (for `tc_get`, into the caller's
//! allocation, made there too), so that the hit clones no `Arc`; and, for
//! `tc_get_into`, the length of a value too large for the caller's buffer.
//! Larger values are declined and come as an `Arc`, copied after the lock
//! is let go, as before. The same readers are offered an L2 hit's value
//! (no lock held) before its promotion into L1, which then keeps the copy
//! read from L2 without a clone of its `Arc` (`Cache::plain_miss`).
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

/// `tc_get_made`'s reader: copies a value of up to `UNDER_LOCK` bytes into
/// the call's buffer on its stack; declines a longer one, which comes as a
/// `Value`. It is `IntoBuf` with a buffer of `UNDER_LOCK` bytes, but for a
/// value too long for it: `IntoBuf` takes that one without its bytes (it
/// reports the length), while the call has no length to report, it makes
/// the value, so it needs the bytes.
pub struct ToStack(IntoBuf);

impl ToStack {
    /// # Safety
    /// `buf` is writable for `UNDER_LOCK` bytes for as long as the reader
    /// is used.
    pub unsafe fn new(buf: *mut u8, stripe: usize) -> ToStack {
        // SAFETY: the caller's promise, for `UNDER_LOCK` bytes.
        ToStack(unsafe { IntoBuf::new(buf, UNDER_LOCK, stripe) })
    }

    /// The length of the value read (copied), once one was.
    pub fn len(&self) -> usize {
        self.0.len
    }
}

impl Reader for ToStack {
    #[inline]
    fn read(&mut self, value: &[u8]) -> bool {
        value.len() <= UNDER_LOCK && self.0.read(value)
    }

    #[inline]
    fn stripe(&self) -> usize {
        self.0.stripe
    }
}

/// `tc_get_many_into`'s reader, moved along the caller's buffer by the
/// batch: copies a value of up to `UNDER_LOCK` bytes that fits in the room
/// left to the end of the values before it, and declines any other (the
/// batch then copies it after the lock, or hands it out as a `tc_value`
/// when it does not fit). Unlike `IntoBuf` it never takes a value without
/// its bytes: the batch hands out a value that does not fit.
pub struct IntoRoom {
    buf: *mut u8,
    cap: usize,
    /// The bytes the values so far take, from `buf`.
    used: usize,
    /// The length of the value `read` copied last, until `took` is asked.
    took: Option<usize>,
    /// The calling thread's stripe (`Reader::stripe`).
    stripe: usize,
}

impl IntoRoom {
    /// # Safety
    /// `buf` is writable for `cap` bytes (or NULL with `cap` 0) for as long
    /// as the reader is used.
    pub unsafe fn new(buf: *mut u8, cap: usize, stripe: usize) -> IntoRoom {
        IntoRoom {
            buf,
            cap,
            used: 0,
            took: None,
            stripe,
        }
    }

    /// The length of the value `read` copied since the last call, now part
    /// of the values in the buffer; `None`: it copied none.
    pub fn took(&mut self) -> Option<usize> {
        let n = self.took.take()?;
        self.used += n;
        Some(n)
    }

    /// Copies `value` after the values so far, if it fits (`false`: it does
    /// not, and the values so far are unchanged). For a value the get
    /// handed out: whatever `read` copied of this key before is dropped.
    pub fn push(&mut self, value: &[u8]) -> bool {
        self.took = None;
        if !self.copy(value) {
            return false;
        }
        self.used += value.len();
        true
    }

    /// Copies `value` to the start of the room, if it fits in it.
    fn copy(&mut self, value: &[u8]) -> bool {
        if value.len() > self.cap - self.used {
            return false;
        }
        if !value.is_empty() {
            // SAFETY: `buf` is writable for `cap` bytes (`new`), of which
            // `used..used + value.len()` is within; it is the caller's, not
            // L1's or a segment's, so the two cannot overlap.
            unsafe { std::ptr::copy_nonoverlapping(value.as_ptr(), self.buf.add(self.used), value.len()) };
        }
        true
    }
}

impl Reader for IntoRoom {
    #[inline]
    fn read(&mut self, value: &[u8]) -> bool {
        // `used` moves only in `took`: a value read is in the batch once
        // the get has answered that it was (`Ok(None)`).
        if value.len() > UNDER_LOCK || !self.copy(value) {
            return false;
        }
        self.took = Some(value.len());
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

impl Boxed {
    /// A reader with nothing read yet, for the thread of `stripe`.
    pub fn new(stripe: usize) -> Boxed {
        Boxed { copy: None, stripe }
    }
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
