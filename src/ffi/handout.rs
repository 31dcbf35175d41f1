//! The bytes the library hands out in a `tc_bytes` (`tc_get`, `tc_get_many`,
//! the iterators, `tc_stats_remote_reason`) and their return through
//! `tc_bytes_free`: how each is allocated, and a per-thread cache of the
//! blocks that short ones live in.
//!
//! Invariant (kept by `Handout`, the only maker of a non-empty `tc_bytes`,
//! and `free`, the only unmaker): a handout of `1..=SHORT` bytes lives in
//! a block of exactly `SHORT` bytes, a longer one in an allocation of
//! exactly its length, and an empty one is NULL. `tc_bytes_free` gets
//! nothing but the pointer and the length back, so the length is what
//! tells the two kinds apart.
//!
//! Why a cache of blocks: measured on an Intel Xeon (6 December 2026, a C
//! program getting 100-byte values of 100k keys in a random order through
//! the shared library), `tc_get` + `tc_bytes_free` took ~100 ns a get more
//! than `tc_get_into`, whose path is the same but for the allocation:
//! `malloc` and `free` themselves are a few dozen instructions, but with
//! them between two lookups each lookup's trip to memory took longer.
//! With the blocks of this module the difference is about half that
//! (medians of seven alternations: 109 -> 48 ns; BENCHMARKS.md, History,
//! "Session 28").
//!
//! A block freed on another thread than the one that took it goes to that
//! thread's cache; a cache keeps at most `KEEP` blocks and frees the
//! rest, so a thread that only frees what others took holds `KEEP` blocks
//! at most, and a thread's blocks are freed when it ends.

use std::alloc::{alloc, dealloc, handle_alloc_error, Layout};
use std::cell::Cell;
use std::ptr::null_mut;

use super::cache::tc_bytes;

/// The longest handout that lives in a block; every block has this size.
pub const SHORT: usize = 256;

/// Blocks a thread keeps for its next short handouts: enough for a caller
/// that holds a few values at once before it frees them (a `tc_get_many`
/// of more hands out the rest from the allocator), 4 KiB a thread at most.
const KEEP: usize = 16;

fn block_layout() -> Layout {
    Layout::from_size_align(SHORT, 1).expect("a valid layout")
}

/// This thread's spare blocks: `blocks[..n]`, each an allocation of
/// `block_layout()`. Cells, not a `RefCell`: each operation is a handful of
/// reads and writes with no call out in between, so there is nothing to
/// borrow across.
struct Spare {
    n: Cell<usize>,
    blocks: [Cell<*mut u8>; KEEP],
}

impl Spare {
    fn take(&self) -> Option<*mut u8> {
        let n = self.n.get().checked_sub(1)?;
        self.n.set(n);
        Some(self.blocks[n].replace(null_mut()))
    }

    /// Keeps `block` if there is room; false (and `block` not kept) if not.
    fn keep(&self, block: *mut u8) -> bool {
        let n = self.n.get();
        if n == KEEP {
            return false;
        }
        self.blocks[n].set(block);
        self.n.set(n + 1);
        true
    }
}

impl Drop for Spare {
    fn drop(&mut self) {
        while let Some(b) = self.take() {
            // SAFETY: every kept block was allocated with `block_layout()`.
            unsafe { dealloc(b, block_layout()) };
        }
    }
}

std::thread_local! {
    static SPARE: Spare = const {
        Spare {
            n: Cell::new(0),
            blocks: [const { Cell::new(null_mut()) }; KEEP],
        }
    };
}

/// A block of `SHORT` bytes: one of this thread's spares, or a new one.
fn take_block() -> *mut u8 {
    // `try_with` fails only while the thread's locals are being destroyed.
    if let Some(b) = SPARE.try_with(Spare::take).ok().flatten() {
        return b;
    }
    // SAFETY: `block_layout()` has a non-zero size.
    let b = unsafe { alloc(block_layout()) };
    if b.is_null() {
        handle_alloc_error(block_layout());
    }
    b
}

/// Bytes on their way out to C, freed if dropped before they get there (a
/// getter that fails after it copied the value hands nothing out and leaks
/// nothing).
pub struct Handout {
    data: *mut u8,
    len: usize,
}

impl Handout {
    /// A copy of `bytes`.
    // On every get's or put's path: see `ffi::boundary::guard`.
    #[inline]
    pub fn copy_of(bytes: &[u8]) -> Handout {
        let len = bytes.len();
        let data = match len {
            0 => null_mut(),
            1..=SHORT => {
                let block = take_block();
                // SAFETY: a block has `SHORT` >= `len` bytes and is no one
                // else's; `bytes` is not in it.
                unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), block, len) };
                block
            }
            _ => Box::into_raw(Box::<[u8]>::from(bytes)).cast::<u8>(),
        };
        Handout { data, len }
    }

    /// Hands the bytes to C, which frees them with `tc_bytes_free`.
    pub fn into_c(self) -> tc_bytes {
        let out = tc_bytes {
            data: self.data,
            len: self.len,
        };
        std::mem::forget(self);
        out
    }
}

impl Drop for Handout {
    fn drop(&mut self) {
        // SAFETY: made by `copy_of` and not handed out.
        unsafe { free(self.data, self.len) };
    }
}

/// Frees `len` bytes at `data` (NULL: nothing).
///
/// # Safety
/// `data` and `len` are exactly a `Handout`'s, handed out by `into_c` and
/// not freed before (or NULL).
// On every get's or put's path: see `ffi::boundary::guard`.
#[inline]
pub unsafe fn free(data: *mut u8, len: usize) {
    if data.is_null() {
        return;
    }
    if len > SHORT {
        drop(Box::from_raw(std::ptr::slice_from_raw_parts_mut(data, len)));
        return;
    }
    let kept = SPARE.try_with(|s| s.keep(data)).unwrap_or(false);
    if !kept {
        dealloc(data, block_layout());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(len: usize) {
        let bytes: Vec<u8> = (0..len).map(|i| (i * 31 + 7) as u8).collect();
        let out = Handout::copy_of(&bytes).into_c();
        assert_eq!(out.data.is_null(), len == 0, "{len} bytes");
        assert_eq!(out.len, len);
        if len > 0 {
            // SAFETY: `len` bytes handed out at `data`.
            assert_eq!(unsafe { std::slice::from_raw_parts(out.data, len) }, &bytes[..]);
        }
        // SAFETY: exactly what `into_c` handed out.
        unsafe { free(out.data, out.len) };
    }

    /// Every length on either side of the block size comes out as it went
    /// in and goes back (under Miri or a sanitizer, a block freed with the
    /// wrong layout or a copy past its end would show).
    #[test]
    fn handouts_of_every_length_round_trip() {
        for len in [0, 1, 2, 100, SHORT - 1, SHORT, SHORT + 1, 4096] {
            round_trip(len);
        }
    }

    /// A thread's spares are reused, never more than `KEEP` are kept, and
    /// a handout dropped before it reaches C goes back too.
    #[test]
    fn a_thread_keeps_at_most_keep_blocks_and_reuses_them() {
        std::thread::spawn(|| {
            let outs: Vec<tc_bytes> = (0..KEEP + 5)
                .map(|i| Handout::copy_of(&[i as u8; 10]).into_c())
                .collect();
            let at: Vec<*mut u8> = outs.iter().map(|o| o.data).collect();
            for o in &outs {
                // SAFETY: handed out above, freed once.
                unsafe { free(o.data, o.len) };
            }
            assert_eq!(SPARE.with(|s| s.n.get()), KEEP);
            // The last freed is the first taken again.
            let again = Handout::copy_of(b"again").into_c();
            assert_eq!(again.data, at[KEEP - 1]);
            assert_eq!(SPARE.with(|s| s.n.get()), KEEP - 1);
            // Taken and given back.
            drop(Handout::copy_of(b"dropped, not handed out"));
            assert_eq!(SPARE.with(|s| s.n.get()), KEEP - 1);
            // SAFETY: handed out above.
            unsafe { free(again.data, again.len) };
            assert_eq!(SPARE.with(|s| s.n.get()), KEEP);
        })
        .join()
        .unwrap();
    }

    /// A short handout freed on another thread is kept by that thread.
    #[test]
    fn a_block_freed_on_another_thread_is_kept_there() {
        let out = Handout::copy_of(b"crosses threads").into_c();
        let (data, len) = (out.data as usize, out.len);
        std::thread::spawn(move || {
            // SAFETY: handed out on the main thread, freed once here.
            unsafe { free(data as *mut u8, len) };
            assert_eq!(SPARE.with(|s| s.n.get()), 1);
        })
        .join()
        .unwrap();
    }
}
