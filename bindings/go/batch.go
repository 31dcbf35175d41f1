package tiercache

// The batches, GetMany and PutMany: one cgo call per batch, and per key no
// cgo call, no pin and no C allocation. Keys (and values) are copied end to
// end into one pooled Go buffer with their lengths beside them, so what is
// passed to C holds no Go pointer; bridge.c builds the tc_slice arrays.
// GetMany's values come back end to end in another pooled buffer
// (tc_get_many_into), and are copied out of it into one allocation.

/*
#include "bridge.h"
*/
import "C"

import (
	"fmt"
	"runtime"
	"sync"
	"time"
	"unsafe"
)

// batchBufLen is the starting size of a batch's value buffer: values that
// do not fit in what is left of it come back as tc_value handles (copied
// and freed in one more cgo call), and the buffer grows, up to batchBufKeep,
// so that the next batch of the same sizes fits.
const (
	batchBufLen  = 64 << 10
	batchBufKeep = 4 << 20
)

// batchScratch is the reusable memory of one batch call. Only one call uses
// a scratch at a time (it comes from batchPool).
type batchScratch struct {
	blob     []byte // the keys, then (PutMany) the values, end to end
	lens     []C.size_t
	valLens  []C.size_t
	spilled  []*C.tc_value // C pointers: allowed in Go memory passed to C
	statuses []C.tc_status
	buf      []byte // GetMany's values
}

var batchPool = sync.Pool{New: func() any { return new(batchScratch) }}

// grow returns s resized to n elements, reusing its array if it is big enough.
func grow[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	return s[:n]
}

// pack appends parts to blob end to end and their lengths to lens.
func pack(blob []byte, lens []C.size_t, parts [][]byte) ([]byte, []C.size_t) {
	for _, p := range parts {
		blob = append(blob, p...)
		lens = append(lens, C.size_t(len(p)))
	}
	return blob, lens
}

// GetMany gets every key in one call (tc_get_many_into): values[i] is
// keys[i]'s value and errs[i] nil, or values[i] is nil and errs[i] says why
// (matching ErrNotFound for a miss, ErrInvalidArgument for an empty key,
// ErrLoaderFailed...). Misses are asked of the loader, as by Get; when
// loads fail, the Go loader's error or panic is the Cause of the last key
// whose load failed. If the call itself fails (ErrClosed), every errs[i] is
// that error.
//
// The values found in one call share one allocation (each is a full slice
// expression of it, so appending to one never writes into another): keeping
// any of them keeps the memory of all.
func (c *Cache) GetMany(keys [][]byte) (values [][]byte, errs []error) {
	values = make([][]byte, len(keys))
	errs = make([]error, len(keys))
	defer runtime.KeepAlive(c)
	n := len(keys)
	if n == 0 {
		// Called all the same, so that the handle is checked; an error has
		// no key to be reported on (check frees its message).
		_ = check("GetMany", C.tcgo_get_many_packed(c.ptr, nil, nil, 0, nil, 0, nil, nil, nil))
		return values, errs
	}
	s := batchPool.Get().(*batchScratch)
	defer batchPool.Put(s)
	s.blob, s.lens = pack(s.blob[:0], s.lens[:0], keys)
	s.valLens = grow(s.valLens, n)
	s.spilled = grow(s.spilled, n)
	s.statuses = grow(s.statuses, n)
	if len(s.buf) == 0 {
		s.buf = make([]byte, batchBufLen)
	}
	r := C.tcgo_get_many_packed(c.ptr, bytesPtr(s.blob), &s.lens[0], C.size_t(n),
		bytesPtr(s.buf), C.size_t(len(s.buf)), &s.valLens[0], &s.spilled[0], &s.statuses[0])
	cause := takeLoaderResult(r.loader_result)
	if err := check("GetMany", r); err != nil {
		for i := range errs {
			errs[i] = err
		}
		return values, errs
	}
	inBuf, spilled := 0, 0
	for i, st := range s.statuses {
		switch st {
		case C.TC_OK:
			inBuf += int(s.valLens[i])
		case C.TC_BUFFER_TOO_SMALL:
			spilled += int(s.valLens[i])
		}
	}
	// One allocation for every value; the spilled ones go after those that
	// came in the buffer, copied (and freed) in one cgo call.
	all := make([]byte, inBuf+spilled)
	copy(all, s.buf[:inBuf])
	if spilled > 0 {
		C.tcgo_spilled_take(&s.spilled[0], C.size_t(n), bytesPtr(all[inBuf:]))
	}
	lastFailed := -1
	at, spillAt := 0, inBuf
	for i, st := range s.statuses {
		switch st {
		case C.TC_OK:
			end := at + int(s.valLens[i])
			values[i] = all[at:end:end]
			at = end
		case C.TC_BUFFER_TOO_SMALL:
			end := spillAt + int(s.valLens[i])
			values[i] = all[spillAt:end:end]
			spillAt = end
		default:
			errs[i] = newError("GetMany", Status(st), fmt.Sprintf("key #%d", i))
			if st == C.TC_LOADER_FAILED {
				lastFailed = i
			}
		}
	}
	if lastFailed >= 0 {
		errs[lastFailed] = withCause(errs[lastFailed], cause)
	}
	if spilled > 0 && len(s.buf) < batchBufKeep {
		// The next batch of values this size fits.
		s.buf = make([]byte, min(max(len(s.buf)+spilled, 2*len(s.buf)), batchBufKeep))
	}
	return values, errs
}

// PutMany puts keys[i] → values[i] for every i in one call (tc_put_many), in
// order, each as Put would with ttl. It stops at the first failure and
// returns its error, whose message names the pair; the pairs before it are
// stored, those after it are not. keys and values must have the same length.
func (c *Cache) PutMany(keys, values [][]byte, ttl time.Duration) error {
	if len(keys) != len(values) {
		return &Error{Status: StatusInvalidArg, Op: "PutMany",
			Msg: fmt.Sprintf("%d keys but %d values", len(keys), len(values))}
	}
	ms, err := ttlMs("PutMany", ttl)
	if err != nil {
		return err
	}
	defer runtime.KeepAlive(c)
	n := len(keys)
	if n == 0 {
		return check("PutMany", C.tcgo_put_many_packed(c.ptr, nil, nil, nil, nil, 0, ms))
	}
	s := batchPool.Get().(*batchScratch)
	defer batchPool.Put(s)
	// Keys then values in one blob; the values' lengths after the keys'.
	s.blob, s.lens = pack(s.blob[:0], s.lens[:0], keys)
	keyBytes := len(s.blob)
	s.blob, s.lens = pack(s.blob, s.lens, values)
	blob := unsafe.Pointer(bytesPtr(s.blob))
	r := C.tcgo_put_many_packed(c.ptr, (*C.uint8_t)(blob), &s.lens[0],
		(*C.uint8_t)(unsafe.Add(blob, keyBytes)), &s.lens[n], C.size_t(n), ms)
	return check("PutMany", r)
}
