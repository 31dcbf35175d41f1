package tiercache

/*
#include <stdlib.h>
#include "bridge.h"
*/
import "C"

import (
	"fmt"
	"math"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// Cache is an open tiercache: memory (L1), optionally a directory (L2), and
// optionally a loader (L3) asked on a miss. All methods are safe to call from
// many goroutines at once, including Close.
//
// A Cache must be closed: Close flushes, releases the directory lock and
// frees the loader. There is no finalizer doing it for you, because a
// forgotten Close would otherwise hold the directory lock until some
// unpredictable garbage collection.
type Cache struct {
	ptr *C.tc_cache // set by Open, never changed; freed by Close once no call is running

	// inflight counts running calls into C; closedBit is set by Close. A call
	// that sees closedBit returns ErrClosed without touching ptr. Close waits
	// until the count drops to zero before tc_cache_close, because the C
	// contract says close must be the last call on its handle. (A counter,
	// not a sync.RWMutex: a loader may call back into the same cache, and a
	// recursive RLock deadlocks once a writer is waiting.)
	inflight atomic.Int64
	drained  chan struct{} // signalled when inflight reaches closedBit exactly

	closeMu sync.Mutex // serialises Close
}

const closedBit = math.MinInt64

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
	return &Cache{ptr: r.cache, drained: make(chan struct{}, 1)}, nil
}

// acquire marks a call as running; false means the cache is closed.
func (c *Cache) acquire() bool {
	if c.inflight.Add(1) < 0 {
		c.release()
		return false
	}
	return true
}

func (c *Cache) release() {
	if c.inflight.Add(-1) == closedBit {
		// Closed, and this was the last running call: wake Close (without
		// blocking, in case nobody waits any more).
		select {
		case c.drained <- struct{}{}:
		default:
		}
	}
}

// Close flushes the cache, releases the directory lock and frees the C
// handle and the loader. It waits for calls already running (including
// loaders) to finish; calls made after it return ErrClosed. It returns the
// flush's error, if any (the cache is closed all the same: the C close
// cannot report one, so Close runs Flush itself first). It is idempotent: a
// second Close returns nil. Close must not be called from inside a loader of
// the same cache (it would wait for itself).
func (c *Cache) Close() error {
	c.closeMu.Lock()
	defer c.closeMu.Unlock()
	if c.inflight.Load() < 0 {
		return nil // already closed
	}
	if c.inflight.Add(closedBit) != closedBit {
		<-c.drained
	}
	// No call is running and none can start: this goroutine owns the handle.
	err := check("Close", C.tcgo_flush(c.ptr))
	C.tc_cache_close(c.ptr)
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
	if !c.acquire() {
		return ErrClosed
	}
	defer c.release()
	r := C.tcgo_put(c.ptr, bytesPtr(key), C.size_t(len(key)), bytesPtr(value), C.size_t(len(value)), ms)
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
// allocation. A larger one is asked for again with a buffer of its size
// (the library keeps a value it found, so the second lookup finds it too,
// and the statistics count two hits), unless this call's loader produced it.
func (c *Cache) Get(key []byte) ([]byte, error) {
	if !c.acquire() {
		return nil, ErrClosed
	}
	defer c.release()
	sp := getScratch.Get().(*[]byte)
	buf := *sp
	r := C.tcgo_get_fast(c.ptr, bytesPtr(key), C.size_t(len(key)), bytesPtr(buf), C.size_t(len(buf)))
	if r.status == C.TC_OK && r.loader_result == 0 {
		v := make([]byte, int(r.len))
		copy(v, buf)
		getScratch.Put(sp)
		runtime.KeepAlive(key)
		return v, nil
	}
	getScratch.Put(sp)
	for {
		err := getErr(r) // frees the message
		loaded, cause := takeLoaderOutcome(r.loader_result)
		switch {
		case r.status == C.TC_OK: // the value is in buf (loaded is nil: it fitted)
			v := make([]byte, int(r.len))
			copy(v, buf)
			runtime.KeepAlive(key)
			return v, nil
		case r.status != C.TC_BUFFER_TOO_SMALL:
			runtime.KeepAlive(key)
			return nil, withCause(err, cause)
		case loaded != nil:
			runtime.KeepAlive(key)
			return loaded, nil
		}
		// Too small: ask again with a buffer of the size needed. (If the
		// value grew meanwhile, again.)
		buf = make([]byte, int(r.len))
		r = C.tcgo_get_fast(c.ptr, bytesPtr(key), C.size_t(len(key)), bytesPtr(buf), C.size_t(len(buf)))
		if r.status == C.TC_OK && r.loader_result == 0 {
			runtime.KeepAlive(key)
			return buf[:int(r.len):int(r.len)], nil
		}
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

// getErr is check for tcgo_get_fast: the message is inline for TC_NOT_FOUND
// (no malloc, no free), and TC_BUFFER_TOO_SMALL is no error to Get.
func getErr(r C.tcgo_get_ret) error {
	switch r.status {
	case C.TC_OK, C.TC_BUFFER_TOO_SMALL:
		return nil
	}
	if r.msg == nil {
		return newError("Get", Status(r.status), C.GoString(&r.note[0]))
	}
	return newError("Get", Status(r.status), takeMsg(r.msg))
}

// GetInto is Get without an allocation: it copies key's value into buf and
// returns the value's length. If buf is too small, the error matches
// ErrBufferTooSmall and n is the size needed (the value is cached all the
// same, so a retry with a bigger buffer does not call the loader again).
// A loader panic is returned as an error, as with Get.
func (c *Cache) GetInto(key, buf []byte) (n int, err error) {
	if !c.acquire() {
		return 0, ErrClosed
	}
	defer c.release()
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

// Contains reports whether key has an unexpired value in memory or on disk.
// It never calls the loader and never promotes the entry.
func (c *Cache) Contains(key []byte) (bool, error) {
	if !c.acquire() {
		return false, ErrClosed
	}
	defer c.release()
	r := C.tcgo_contains(c.ptr, bytesPtr(key), C.size_t(len(key)))
	runtime.KeepAlive(key)
	if err := check("Contains", r); err != nil {
		return false, err
	}
	return bool(r.present), nil
}

// Remove removes key from every tier; on disk a tombstone keeps it removed
// after a restart. It returns an error matching ErrNotFound if no tier had
// an unexpired value.
func (c *Cache) Remove(key []byte) error {
	if !c.acquire() {
		return ErrClosed
	}
	defer c.release()
	r := C.tcgo_remove(c.ptr, bytesPtr(key), C.size_t(len(key)))
	runtime.KeepAlive(key)
	return check("Remove", r)
}

// RemovePrefix removes every key starting with prefix from every tier,
// persistently, and returns how many keys had an unexpired value. An empty
// prefix matches every key.
func (c *Cache) RemovePrefix(prefix []byte) (uint64, error) {
	if !c.acquire() {
		return 0, ErrClosed
	}
	defer c.release()
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
	if !c.acquire() {
		return ErrClosed
	}
	defer c.release()
	return check("Clear", C.tcgo_clear(c.ptr, C.bool(memoryOnly)))
}

// Flush writes dirty entries (WriteBack) and buffered records to disk, and
// fsyncs unless the sync policy is SyncNever. It reports an L2 failure that
// Puts may have hidden by degrading to memory only.
func (c *Cache) Flush() error {
	if !c.acquire() {
		return ErrClosed
	}
	defer c.release()
	return check("Flush", C.tcgo_flush(c.ptr))
}

// Compact compacts the disk tier now: every sealed segment with dead records
// has its live records written again and is deleted. Reads are served
// throughout. (The disk tier also compacts mostly-dead segments by itself.)
// A memory-only cache has nothing to compact. An error matching ErrIO means
// the log could not be written, synced or its old files deleted; the cache
// is then degraded, as Stats reports.
func (c *Cache) Compact() error {
	if !c.acquire() {
		return ErrClosed
	}
	defer c.release()
	return check("Compact", C.tcgo_compact(c.ptr))
}

// PurgeExpired drops every expired entry from every tier and returns how
// many keys were dropped. Expired entries are never returned even without
// it; it only reclaims their space.
func (c *Cache) PurgeExpired() (uint64, error) {
	if !c.acquire() {
		return 0, ErrClosed
	}
	defer c.release()
	r := C.tcgo_purge_expired(c.ptr)
	if err := check("PurgeExpired", r); err != nil {
		return 0, err
	}
	return uint64(r.count), nil
}
