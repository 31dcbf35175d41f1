package tiercache

/*
#include <stdlib.h>
#include "bridge.h"
*/
import "C"

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"
)

// Cache is an open tiercache: memory (L1), optionally a directory (L2), and
// optionally a loader (L3) asked on a miss. All methods are safe to call from
// many goroutines at once, including Close.
//
// Close a Cache when done with it: Close flushes, releases the directory
// lock and frees the loader, and reports a flush failure. A Cache that
// becomes unreachable without Close is closed by the garbage collector (a
// cleanup registered by Open), which also frees the C handle of a closed one;
// relying on it leaves the directory locked until some unpredictable
// collection, and loses any flush error.
type Cache struct {
	// ptr is set by Open and never changed. The handle's memory stays valid
	// until the cleanup frees it, which the garbage collector runs only
	// once no method of c is running (each ends with runtime.KeepAlive(c));
	// a call made after Close is refused by the library with TC_CLOSED.
	ptr *C.tc_cache

	// loaders holds the registered loaders' functions: cgo.Handle -> *loaderEntry.
	// The handle the library holds refers to the Cache only weakly (see
	// loader.go), so a loader that refers to its own Cache does not keep it
	// reachable for ever.
	loaders sync.Map

	// hint is Get's guess at the next value's length (see sizeHint).
	hint sizeHint
}

// Open opens a cache with the given options. With Options{} it is memory
// only; with Dir set, L2 lives in that directory, and a second Open of the
// same directory (in this process or another) fails with ErrLocked until the
// first is closed.
func Open(opts Options) (*Cache, error) {
	co, err := opts.toC()
	if err != nil {
		return nil, &Error{Status: StatusInvalidArg, Op: "Open", Msg: err.Error()}
	}
	r := C.tcgo_open(co)
	freeOptions(&co)
	if err := check("Open", r); err != nil {
		return nil, err
	}
	c := &Cache{ptr: r.cache}
	runtime.AddCleanup(c, freeHandle, r.cache)
	return c, nil
}

// freeHandle is the cleanup of an unreachable Cache: tc_cache_close shuts the
// cache down if Close did not (flush, lock released, loader freed), then
// frees the handle. Nothing can report a failure here.
func freeHandle(p *C.tc_cache) {
	C.tc_cache_close(p)
	if hook := handleFreed.Load(); hook != nil {
		(*hook)(uintptr(unsafe.Pointer(p)))
	}
}

// handleFreed, if set, is called with each handle's address once freeHandle
// has freed it (for the tests of the cleanup).
var handleFreed atomic.Pointer[func(uintptr)]

// Close flushes the cache, releases the directory lock and frees the loader
// (tc_cache_shutdown). It waits for calls already running on other
// goroutines (including loaders) to return; calls made after it return an
// error matching ErrClosed. It returns the final flush's error, if any (the
// cache is closed all the same). It is idempotent: a later Close returns
// nil. Called from inside a loader of the same cache it returns an error
// matching ErrInvalidArgument and closes nothing (it would wait for itself).
//
// The C handle's memory is freed later, by the garbage collector, once the
// Cache is unreachable.
func (c *Cache) Close() error {
	err := check("Close", C.tcgo_shutdown(c.ptr))
	runtime.KeepAlive(c)
	return err
}

// check turns a bridged call's result into an error (nil on TC_OK), freeing
// the message copy.
func check(op string, r C.tcgo_ret) error {
	if r.status == C.TC_OK {
		return nil
	}
	return newError(op, Status(r.status), takeMsg(r.msg))
}

// ttlMs converts a Put TTL: 0 means the cache's default TTL; a positive
// duration is rounded up to whole milliseconds (so 1ns is 1ms, not "default").
func ttlMs(op string, ttl time.Duration) (C.uint64_t, error) {
	if ttl < 0 {
		return 0, &Error{Status: StatusInvalidArg, Op: op, Msg: fmt.Sprintf("ttl: %v is negative", ttl)}
	}
	return C.uint64_t(durationMs(ttl)), nil
}

// Put stores value under key in memory and, under WriteThrough, on disk
// before returning. ttl is the time to live (0: the cache's DefaultTTL, which
// is "never expires" unless set). Key and value are copied; the caller may
// reuse them at once. A key is 1 byte to 64 KiB.
func (c *Cache) Put(key, value []byte, ttl time.Duration) error {
	ms, err := ttlMs("Put", ttl)
	if err != nil {
		return err
	}
	r := C.tcgo_put(c.ptr, bytesPtr(key), C.size_t(len(key)), bytesPtr(value), C.size_t(len(value)), ms)
	runtime.KeepAlive(c)
	runtime.KeepAlive(key)
	runtime.KeepAlive(value)
	return check("Put", r)
}

// Get returns a copy of key's value from memory, then disk (promoting it to
// memory), then the loader. It returns an error matching ErrNotFound if no
// tier and no loader has a value, and ErrLoaderFailed if the loader failed.
//
// If the loader panicked during this call, Get returns an error matching
// ErrLoaderFailed whose cause is a *LoaderPanic with the panic's value and
// stack (errors.As); the panic never unwinds into C. Other goroutines
// waiting for the same key get ErrLoaderFailed too.
//
// A value of up to getScratchLen bytes costs one cgo call and one
// allocation: while the values read have looked the same size (see
// sizeHint), the library copies straight into the returned slice; otherwise
// into a pooled scratch buffer, copied out. A larger value is asked for
// again with a buffer of its size (the library keeps a value it found, so
// the second lookup finds it too, and the statistics count two hits),
// unless this call's loader produced it.
func (c *Cache) Get(key []byte) ([]byte, error) {
	// No defer runtime.KeepAlive(c) here, unlike the other methods: each C
	// call of a Get keeps c alive across it itself (getWord, or the call
	// below), and a deferred call is a measurable part of a hit.
	if h := c.hint.guess(); h > 0 {
		buf := make([]byte, h)
		// getWord's call, written out: getWord is over the inliner's
		// budget, and its own frame (the arguments passed on, the result
		// copied back) was ~30 of a hit's ~1130 instructions (callgrind,
		// cmd/getcount). The other ways of a Get keep getWord.
		r := C.tcgo_get_word(C.uintptr_t(uintptr(unsafe.Pointer(c.ptr))), bytesPtr(key), C.size_t(len(key)), bytesPtr(buf), C.size_t(h))
		runtime.KeepAlive(c)
		runtime.KeepAlive(key)
		runtime.KeepAlive(buf)
		if r.more == nil && r.word >= 0 {
			n := int(r.word)
			if 2*n >= h {
				return buf[:n:n], nil
			}
			c.hint.forget() // far smaller than the guess: do not hand out buf
			v := make([]byte, n)
			copy(v, buf)
			return v, nil
		}
		o := takeGetOutcome(r, buf)
		if o.status == C.TC_BUFFER_TOO_SMALL {
			c.hint.forget()
		}
		return c.getRest(key, buf, o)
	}
	sp := getScratch.Get().(*[]byte)
	buf := *sp
	r := c.getWord(key, buf)
	if r.more == nil && r.word >= 0 {
		v := make([]byte, int(r.word))
		copy(v, buf)
		getScratch.Put(sp)
		c.hint.offer(len(v))
		return v, nil
	}
	v, err := c.getRest(key, buf, takeGetOutcome(r, buf))
	getScratch.Put(sp) // only now: getRest may copy out of buf
	return v, err
}

// getWord is one tcgo_get_word call: key's value into buf. It keeps c
// alive until the call has returned (so that the cleanup cannot free the
// handle during it), for Get, which has no deferred KeepAlive of its own.
// (Get's fresh-slice path makes the same call itself: keep the two alike.)
func (c *Cache) getWord(key, buf []byte) C.tcgo_get_res {
	r := C.tcgo_get_word(C.uintptr_t(uintptr(unsafe.Pointer(c.ptr))), bytesPtr(key), C.size_t(len(key)), bytesPtr(buf), C.size_t(len(buf)))
	runtime.KeepAlive(c)
	runtime.KeepAlive(key)
	runtime.KeepAlive(buf)
	return r
}

// getOutcome is a tcgo_get_word result decoded, its C memory freed.
type getOutcome struct {
	status C.tc_status
	n      int // TC_OK: the value's length; TC_BUFFER_TOO_SMALL: the size needed
	loader C.uintptr_t
	err    error // nil for TC_OK and TC_BUFFER_TOO_SMALL
}

// takeGetOutcome decodes r (see tcgo_get_res in bridge.h); buf is the
// buffer of the call, which holds a miss's message.
func takeGetOutcome(r C.tcgo_get_res, buf []byte) getOutcome {
	if m := r.more; m != nil {
		o := getOutcome{status: m.status, n: int(m.len), loader: m.loader_result}
		if o.status != C.TC_OK && o.status != C.TC_BUFFER_TOO_SMALL {
			o.err = newError("Get", Status(o.status), takeMsg(m.msg))
		}
		C.free(unsafe.Pointer(m))
		return o
	}
	w := int64(r.word)
	if w >= 0 {
		return getOutcome{status: C.TC_OK, n: int(w)}
	}
	o := getOutcome{status: C.tc_status((-w) & 255), n: int((-w) >> 8)}
	switch o.status {
	case C.TC_BUFFER_TOO_SMALL:
	case C.TC_NOT_FOUND:
		o.err = newError("Get", StatusNotFound, string(buf[:o.n]))
		o.n = 0
	default: // out of memory in the bridge: no message
		o.err = newError("Get", Status(o.status), "")
		o.n = 0
	}
	return o
}

// getRest finishes a Get whose first call (into buf) did not simply hit:
// an error, a loader's outcome, or a value too big for buf.
func (c *Cache) getRest(key, buf []byte, o getOutcome) ([]byte, error) {
	for {
		loaded, cause := takeLoaderOutcome(o.loader)
		switch {
		case o.status == C.TC_OK: // the value is in buf (loaded is nil: it fitted)
			v := make([]byte, o.n)
			copy(v, buf)
			return v, nil
		case o.status != C.TC_BUFFER_TOO_SMALL:
			return nil, withCause(o.err, cause)
		case loaded != nil:
			return loaded, nil
		}
		// Too small: ask again with a buffer of the size needed. (If the
		// value grew meanwhile, again.)
		buf = make([]byte, o.n)
		r := c.getWord(key, buf)
		if r.more == nil && r.word >= 0 {
			n := int(r.word)
			return buf[:n:n], nil
		}
		o = takeGetOutcome(r, buf)
	}
}

// getScratchLen is the size of Get's pooled buffers: values up to this size
// are copied out of one into an exact-size slice.
const getScratchLen = 16 << 10

// getScratch holds *[]byte of getScratchLen bytes (Go memory, passed to C
// for the duration of one call as the cgo rules allow).
var getScratch = sync.Pool{New: func() any {
	b := make([]byte, getScratchLen)
	return &b
}}

// GetInto is Get without an allocation: it copies key's value into buf and
// returns the value's length. If buf is too small, the error matches
// ErrBufferTooSmall and n is the size needed (the value is cached all the
// same, so a retry with a bigger buffer does not call the loader again).
// A loader panic is returned as an error, as with Get.
func (c *Cache) GetInto(key, buf []byte) (n int, err error) {
	defer runtime.KeepAlive(c)
	r := C.tcgo_get_into(c.ptr, bytesPtr(key), C.size_t(len(key)), bytesPtr(buf), C.size_t(len(buf)))
	runtime.KeepAlive(key)
	runtime.KeepAlive(buf)
	err = check("GetInto", r)
	cause := takeLoaderResult(r.loader_result)
	if r.status == C.TC_OK || r.status == C.TC_BUFFER_TOO_SMALL {
		n = int(r.len)
	}
	return n, withCause(err, cause)
}

// Contains reports whether key has a value in memory or on disk that Get
// would return (unexpired, its file dependency unchanged). It never calls
// the loader and never promotes the entry.
func (c *Cache) Contains(key []byte) (bool, error) {
	defer runtime.KeepAlive(c)
	r := C.tcgo_contains(c.ptr, bytesPtr(key), C.size_t(len(key)))
	runtime.KeepAlive(key)
	if err := check("Contains", r); err != nil {
		return false, err
	}
	return bool(r.present), nil
}

// Remove removes key from every tier; on disk a tombstone keeps it removed
// after a restart. It returns an error matching ErrNotFound if memory and
// disk had no value Get would have returned (as Contains says).
func (c *Cache) Remove(key []byte) error {
	defer runtime.KeepAlive(c)
	r := C.tcgo_remove(c.ptr, bytesPtr(key), C.size_t(len(key)))
	runtime.KeepAlive(key)
	return check("Remove", r)
}

// RemovePrefix removes every key starting with prefix from every tier,
// persistently, and returns how many keys had a value Get would have
// returned (as Remove counts one). An empty prefix matches every key.
func (c *Cache) RemovePrefix(prefix []byte) (uint64, error) {
	defer runtime.KeepAlive(c)
	r := C.tcgo_remove_prefix(c.ptr, bytesPtr(prefix), C.size_t(len(prefix)))
	runtime.KeepAlive(prefix)
	if err := check("RemovePrefix", r); err != nil {
		return 0, err
	}
	return uint64(r.count), nil
}

// Clear empties the cache. With memoryOnly, only L1 is dropped (under
// WriteBack, dirty entries are written to disk first); otherwise the disk
// tier is emptied too, persistently.
func (c *Cache) Clear(memoryOnly bool) error {
	defer runtime.KeepAlive(c)
	return check("Clear", C.tcgo_clear(c.ptr, C.bool(memoryOnly)))
}

// Flush writes dirty entries (WriteBack) and buffered records to disk, and
// fsyncs unless the sync policy is SyncNever. It reports an L2 failure that
// Puts may have hidden by degrading to memory only.
func (c *Cache) Flush() error {
	defer runtime.KeepAlive(c)
	return check("Flush", C.tcgo_flush(c.ptr))
}

// Compact compacts the disk tier now: every sealed segment with dead records
// has its live records written again and is deleted. Reads are served
// throughout. (The disk tier also compacts mostly-dead segments by itself.)
// A memory-only cache has nothing to compact. An error matching ErrIO means
// the log could not be written, synced or its old files deleted; the cache
// is then degraded, as Stats reports.
func (c *Cache) Compact() error {
	defer runtime.KeepAlive(c)
	return check("Compact", C.tcgo_compact(c.ptr))
}

// PurgeExpired drops every expired entry from every tier and returns how
// many keys were dropped. Expired entries are never returned even without
// it; it only reclaims their space.
func (c *Cache) PurgeExpired() (uint64, error) {
	defer runtime.KeepAlive(c)
	r := C.tcgo_purge_expired(c.ptr)
	if err := check("PurgeExpired", r); err != nil {
		return 0, err
	}
	return uint64(r.count), nil
}
