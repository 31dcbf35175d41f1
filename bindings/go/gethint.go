package tiercache

import (
	"math/rand/v2"
	"sync/atomic"
)

// sizeHint is one Cache's guess at the length of the value its next Get
// will read. It owns only that guess: when it has one, Get hands the library
// a fresh slice of that length and returns the slice itself (no pooled
// scratch, no copy); when it has none, Get copies out of a pooled scratch
// buffer as before.
//
// A guess is taken up only when sizes look uniform, and dropped at the
// first sign that they are not, so that a workload of mixed sizes keeps
// the pooled path (one lookup, one copy) instead of paying a second lookup
// for each value longer than the guess:
//   - the pooled path offers its value's length, but takes it as the guess
//     for 1 call in hintSampleEvery only (so a mixed workload re-tries the
//     fresh path rarely, and the hint is written rarely: no cache line
//     bouncing between cores on a read-mostly path);
//   - the fresh path forgets the guess when the value did not fit, or was
//     under half of it (then it is copied into a slice of its own length,
//     so that a returned value never holds on to more than twice its size).
//
// The guess is only ever a buffer size: any value of any length is read
// correctly whatever it says (one that does not fit is asked for again
// with a buffer of its size, as on the pooled path).
type sizeHint struct {
	// n is 0 (no guess) or a length in [1, getScratchLen]. Read by every
	// Get, written only when the guess changes.
	n atomic.Int64
}

// hintSampleEvery: the pooled path takes its value's length as the guess
// once in this many calls (on average).
const hintSampleEvery = 64

// guess returns the current guess, 0 for none.
func (h *sizeHint) guess() int { return int(h.n.Load()) }

// offer is called by the pooled path with the length of a value it read.
func (h *sizeHint) offer(n int) {
	if n < 1 || n > getScratchLen || rand.Uint32()%hintSampleEvery != 0 {
		return
	}
	h.n.Store(int64(n))
}

// forget drops the guess (sizes vary): Get goes back to the pooled path.
func (h *sizeHint) forget() {
	if h.n.Load() != 0 {
		h.n.Store(0)
	}
}
