package tiercache

/*
#include "bridge.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"runtime"
	"runtime/cgo"
	"runtime/debug"
	"time"
	"unsafe"
	"weak"
)

// Loader computes the value of a key the cache does not have (the L3 tier).
// The key is the loader's own copy. Return the value to have it cached and
// returned; return an error matching ErrNotFound (errors.Is) to say there is
// no such value (Get then fails with ErrNotFound); return any other error to
// fail the load (nothing is cached; Get fails with ErrLoaderFailed, and the
// Get that ran the loader also wraps this error).
//
// The cache calls a loader once per key however many goroutines miss it at
// once (the others wait for that answer), possibly from many goroutines at
// once for different keys, and with no lock held: a loader may call back
// into the same cache for other keys. Close called from a loader of the
// same cache fails with ErrInvalidArgument (it would wait for the loader).
type Loader func(key []byte) ([]byte, error)

// loaderEntry is a registered loader, held by its Cache (Cache.loaders).
type loaderEntry struct {
	fn          Loader // or withOptions
	ttl         C.uint64_t
	withOptions LoaderWithOptions
}

// loaderRef is what the cgo.Handle given to C as user data refers to. The
// handle is a GC root until the library frees it (when the loader is
// replaced or the cache shut down), so it holds the Cache only weakly: a
// loader closing over its own Cache then keeps nothing alive, and an
// unreachable Cache is still collected and closed by its cleanup (which
// frees the handle). While the library runs the loader, a method of the
// Cache is running, so the weak pointer is never nil then.
type loaderRef struct {
	cache weak.Pointer[Cache]
}

// LoaderPanic is the cause of the error a Get returns when the loader it ran
// panicked: the panic is recovered before it can unwind into C and becomes
// an error matching ErrLoaderFailed, with this as its cause (use errors.As).
type LoaderPanic struct {
	Value any    // what the loader panicked with
	Stack []byte // the loader's goroutine stack at the panic
}

func (p *LoaderPanic) Error() string {
	return fmt.Sprintf("the loader panicked: %v", p.Value)
}

// loadedValue carries a copy of a loader's value back to the Get that ran
// it, when the value is larger than that Get's buffer: the library answered
// TC_BUFFER_TOO_SMALL, and asking it again could run the loader again if it
// could not keep the value.
type loadedValue struct{ value []byte }

// SetLoader sets the loader asked on a miss, replacing any earlier one; its
// values are cached with the cache's DefaultTTL. nil removes the loader.
func (c *Cache) SetLoader(fn Loader) error { return c.SetLoaderTTL(fn, 0) }

// SetLoaderTTL is SetLoader with a time to live for the values the loader
// returns (0: the cache's DefaultTTL; rounded up to whole milliseconds).
func (c *Cache) SetLoaderTTL(fn Loader, ttl time.Duration) error {
	ms, err := ttlMs("SetLoader", ttl)
	if err != nil {
		return err
	}
	if fn == nil {
		defer runtime.KeepAlive(c)
		return check("SetLoader", C.tcgo_clear_loader(c.ptr))
	}
	return c.setLoader(&loaderEntry{fn: fn, ttl: ms})
}

// setLoader registers e as the cache's loader.
func (c *Cache) setLoader(e *loaderEntry) error {
	defer runtime.KeepAlive(c)
	// The library owns the handle from here: it calls tcgoLoaderFree exactly
	// once, when this loader is replaced (after its last call) or the cache
	// closes. If registration fails (TC_CLOSED after Close) it is not
	// called, so delete it here.
	h := cgo.NewHandle(&loaderRef{cache: weak.Make(c)})
	c.loaders.Store(h, e)
	if err := check("SetLoader", C.tcgo_set_loader(c.ptr, C.uintptr_t(h))); err != nil {
		c.loaders.Delete(h)
		h.Delete()
		return err
	}
	return nil
}

// loaderOf is the loader registered as handle h, or nil if its Cache is gone
// (which the library's contract rules out while the loader can be called).
func loaderOf(h cgo.Handle) *loaderEntry {
	c := h.Value().(*loaderRef).cache.Value()
	if c == nil {
		return nil
	}
	e, ok := c.loaders.Load(h)
	if !ok {
		return nil
	}
	return e.(*loaderEntry)
}

// tcgoLoaderCall is the loader the library calls (through tcgo_loader in
// bridge.c), on the thread of the Get that missed. It never lets a Go panic
// unwind into C: a panic or an error is stored, as a cgo.Handle, in slot —
// the result slot of the bridged Get running on this thread — and the Get
// picks it up once C has returned. slot is NULL only if the library called
// the loader outside a bridged call, in which case the detail is dropped
// and only the status remains.
//
// keepOver is the buffer size of the Get running on this thread (0 for other
// calls): a value longer than that is also left in slot, as a loadedValue.
//
//export tcgoLoaderCall
func tcgoLoaderCall(handle C.uintptr_t, key *C.uint8_t, keyLen C.size_t, sink *C.tc_sink, slot *C.uintptr_t, keepOver C.size_t) (status C.tc_status) {
	defer func() {
		if p := recover(); p != nil {
			setLoaderResult(slot, error(&LoaderPanic{Value: p, Stack: debug.Stack()}))
			status = C.TC_LOADER_FAILED
		}
	}()
	e := loaderOf(cgo.Handle(handle))
	if e == nil {
		setLoaderResult(slot, errors.New("tiercache: the loader was called after its cache was freed"))
		return C.TC_LOADER_FAILED
	}
	// The key lives only for this call; the loader gets its own copy.
	k := C.GoBytes(unsafe.Pointer(key), C.int(keyLen))
	var v []byte
	var opts *PutOptions
	var err error
	if e.withOptions != nil {
		var o PutOptions
		v, o, err = e.withOptions(k)
		opts = &o
	} else {
		v, err = e.fn(k)
	}
	if err != nil {
		setLoaderResult(slot, err)
		if errors.Is(err, ErrNotFound) {
			return C.TC_NOT_FOUND
		}
		return C.TC_LOADER_FAILED
	}
	if err := sinkPut("Loader", sink, v, opts, e.ttl); err != nil {
		// E.g. the value is over MaxValueSize, or a tag is empty: the
		// load fails, and the caller learns why.
		setLoaderResult(slot, err)
		return cStatusOf(err)
	}
	if keepOver != 0 && uint64(len(v)) > uint64(keepOver) {
		setLoaderResult(slot, loadedValue{append([]byte(nil), v...)})
	}
	return C.TC_OK
}

// tcgoLoaderFree is the user-data destructor: the library calls it once per
// registered loader, on any thread: when the loader is replaced, or when the
// cache is shut down (by Close, or by the cleanup of an unreachable Cache, in
// which case the Cache, and its loaders map, are already gone).
//
//export tcgoLoaderFree
func tcgoLoaderFree(handle C.uintptr_t) {
	h := cgo.Handle(handle)
	if c := h.Value().(*loaderRef).cache.Value(); c != nil {
		c.loaders.Delete(h)
	}
	h.Delete()
}

func setLoaderResult(slot *C.uintptr_t, v any) {
	if slot == nil {
		return
	}
	if *slot != 0 {
		// Only one loader runs per bridged call; be safe anyway.
		cgo.Handle(*slot).Delete()
	}
	*slot = C.uintptr_t(cgo.NewHandle(v))
}

// takeLoaderResult collects what the loader left for this call: the
// loader's error, a *LoaderPanic if it panicked, or nil.
func takeLoaderResult(h C.uintptr_t) error {
	_, err := takeLoaderOutcome(h)
	return err
}

// takeLoaderOutcome is takeLoaderResult that also returns the loader's
// value, if it left one (see loadedValue).
func takeLoaderOutcome(h C.uintptr_t) ([]byte, error) {
	if h == 0 {
		return nil, nil
	}
	hd := cgo.Handle(h)
	v := hd.Value()
	hd.Delete()
	switch v := v.(type) {
	case error:
		return nil, v
	case loadedValue:
		return v.value, nil
	}
	panic(fmt.Sprintf("tiercache: unexpected loader result %T", v))
}

// withCause attaches the loader's error to a failed Get's error.
func withCause(err, cause error) error {
	if err == nil || cause == nil || cause == ErrNotFound {
		// A bare ErrNotFound from the loader adds nothing to the status.
		return err
	}
	if e, ok := err.(*Error); ok {
		e.Cause = cause
	}
	return err
}

// cStatusOf is the C status for an error of this package (TC_LOADER_FAILED
// for any other error).
func cStatusOf(err error) C.tc_status {
	if e, ok := err.(*Error); ok && e.Status != StatusOK {
		return C.tc_status(e.Status)
	}
	return C.TC_LOADER_FAILED
}
