package tiercache

/*
#include <stdlib.h>
#include "bridge.h"
*/
import "C"

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"runtime"
	"runtime/cgo"
	"runtime/debug"
	"time"
	"unsafe"
)

// Tier says where an entry was found.
type Tier uint32

const (
	TierMemory Tier = 1 // L1
	TierDisk   Tier = 2 // L2
	TierRemote Tier = 3 // the shared remote tier
)

func (t Tier) String() string {
	switch t {
	case TierMemory:
		return "memory"
	case TierDisk:
		return "disk"
	case TierRemote:
		return "remote"
	}
	return fmt.Sprintf("Tier(%d)", uint32(t))
}

// EntryInfo is what the cache knows about one live entry (tc_entry_info).
type EntryInfo struct {
	ValueLen  uint64    // bytes of the value
	ExpiresAt time.Time // when it expires; the zero Time if it never does
	WrittenAt time.Time // when the put or load that wrote it ran
	Tier      Tier      // where it was found
	TagCount  uint32    // tags the entry carries
}

func infoOf(i C.tc_entry_info) EntryInfo {
	e := EntryInfo{
		ValueLen:  uint64(i.value_len),
		WrittenAt: time.UnixMilli(int64(i.written_at_ms)),
		Tier:      Tier(i.tier),
		TagCount:  uint32(i.tag_count),
	}
	if i.expires_at_ms != 0 {
		e.ExpiresAt = time.UnixMilli(int64(i.expires_at_ms))
	}
	return e
}

// takeBytes copies what the library handed out into Go memory and frees it.
func takeBytes(b *C.tc_bytes) []byte {
	v := []byte{}
	if b.len > 0 {
		v = C.GoBytes(unsafe.Pointer(b.data), C.int(b.len))
	}
	C.tc_bytes_free(b)
	return v
}

// Info returns what the cache knows about key's live value: its length,
// expiry, write time, tier and tag count. It never calls the loader, never
// promotes a disk entry into memory and does not count as a use. It returns
// an error matching ErrNotFound if no tier has a live value.
func (c *Cache) Info(key []byte) (EntryInfo, error) {
	defer runtime.KeepAlive(c)
	r := C.tcgo_get_info(c.ptr, bytesPtr(key), C.size_t(len(key)))
	runtime.KeepAlive(key)
	if err := check("Info", r); err != nil {
		return EntryInfo{}, err
	}
	return infoOf(r.info), nil
}

// Touch gives key's live value a new expiry, ttl from now (rounded up to
// whole milliseconds); a ttl of 0 means it never expires (unlike Put, where
// 0 means the default TTL). The value and its write time are kept, and the
// change is persisted like a put. It returns an error matching ErrNotFound if
// the key has no live value.
func (c *Cache) Touch(key []byte, ttl time.Duration) error {
	ms, err := ttlMs("Touch", ttl)
	if err != nil {
		return err
	}
	defer runtime.KeepAlive(c)
	r := C.tcgo_touch(c.ptr, bytesPtr(key), C.size_t(len(key)), ms)
	runtime.KeepAlive(key)
	return check("Touch", r)
}

// Count returns how many live keys start with prefix (every key for an
// empty prefix) and the bytes of their values: what Keys would yield now.
// It visits every such key.
func (c *Cache) Count(prefix []byte) (entries, valueBytes uint64, err error) {
	defer runtime.KeepAlive(c)
	r := C.tcgo_count(c.ptr, bytesPtr(prefix), C.size_t(len(prefix)))
	runtime.KeepAlive(prefix)
	if err := check("Count", r); err != nil {
		return 0, 0, err
	}
	return uint64(r.count), uint64(r.count2), nil
}

// Entry is one key of an iteration and what the cache knows about it.
type Entry struct {
	Key  []byte
	Info EntryInfo
}

// Keys iterates over the keys that start with prefix (every key for an
// empty or nil prefix), in byte order, for use with range:
//
//	for key, err := range c.Keys([]byte("user:")) {
//		if err != nil {
//			return err // e.g. ErrClosed; the iteration ends after it
//		}
//		...
//	}
//
// A failure is yielded once, as the error of a last pair with a nil key;
// the key is otherwise never nil. Each range over the returned sequence is
// its own iteration. The keys live when it starts are listed at once
// (tc_iter_new); each is looked up again when reached, so a key removed or
// expired meanwhile is skipped, one added meanwhile may or may not be
// yielded, and every key live throughout is yielded exactly once. The cache
// may be changed inside the loop. It never calls the loader. Each key is
// the caller's own copy. Breaking out of the loop frees the iteration.
func (c *Cache) Keys(prefix []byte) iter.Seq2[[]byte, error] {
	entries := c.Entries(prefix)
	return func(yield func([]byte, error) bool) {
		for e, err := range entries {
			if !yield(e.Key, err) {
				return
			}
		}
	}
}

// Entries is Keys with what the cache knows about each key (as of the
// moment the iteration reaches it); a failure is yielded as the error of a
// last pair with a zero Entry.
func (c *Cache) Entries(prefix []byte) iter.Seq2[Entry, error] {
	p := append([]byte(nil), prefix...) // the caller may reuse prefix
	return func(yield func(Entry, error) bool) {
		// The iterator points into the handle: c stays reachable (so its
		// cleanup cannot free the handle) until the iterator is freed.
		defer runtime.KeepAlive(c)
		r := C.tcgo_iter_new(c.ptr, bytesPtr(p), C.size_t(len(p)))
		runtime.KeepAlive(p)
		if err := check("Keys", r); err != nil {
			yield(Entry{}, err)
			return
		}
		it := r.iter
		defer C.tc_iter_free(it)
		for {
			n := C.tcgo_iter_next(it)
			if n.status == C.TC_NOT_FOUND {
				return
			}
			if err := check("Keys", n); err != nil {
				yield(Entry{}, err)
				return
			}
			e := Entry{Key: takeBytes(&n.bytes), Info: infoOf(n.info)}
			if !yield(e, nil) {
				return
			}
		}
	}
}

// LoadFunc computes a value for GetOrLoad: the value and its time to live
// (0: the cache's DefaultTTL). Return an error matching ErrNotFound for "no
// such value"; any other error fails the load.
type LoadFunc func(ctx context.Context) ([]byte, time.Duration, error)

// onceCall is what the cgo.Handle given to tc_get_or_load refers to.
type onceCall struct {
	ctx         context.Context
	fn          LoadFunc // or withOptions
	withOptions LoadFuncWithOptions
}

// GetOrLoad returns key's value from memory or disk, or else calls fn
// (instead of the cache's loader), stores its answer and returns it:
// memoization of one call. There is one load per key at a time, shared with
// the cache's loader: a GetOrLoad or Get that misses while a load of the key
// is running (this fn, another caller's, or the cache's loader) waits for
// that load and returns its answer, and its own fn is not called.
//
// fn gets context.WithoutCancel(ctx): the values of ctx but not its
// cancellation, because its answer is shared by every caller waiting for
// it. If ctx is done before the answer comes, GetOrLoad returns ctx.Err() at
// once, and the load goes on in the background for the others (and its
// answer is stored); a context that can never be cancelled costs nothing
// extra, any other one a goroutine per call.
//
// An error from fn is returned wrapped (matching ErrLoaderFailed, or
// ErrNotFound if fn's error matches it; errors.Is and errors.As also see
// fn's own error); a panic in fn is recovered and returned as an error
// whose cause is a *LoaderPanic. Nothing is stored then, and callers that
// were waiting for that load get ErrLoaderFailed.
func (c *Cache) GetOrLoad(ctx context.Context, key []byte, fn LoadFunc) ([]byte, error) {
	if fn == nil {
		return nil, &Error{Status: StatusInvalidArg, Op: "GetOrLoad", Msg: "fn is nil"}
	}
	return c.getOrLoadCall(ctx, key, &onceCall{fn: fn})
}

// getOrLoadCall is GetOrLoad and GetOrLoadWith: call holds the function.
func (c *Cache) getOrLoadCall(ctx context.Context, key []byte, call *onceCall) ([]byte, error) {
	call.ctx = context.WithoutCancel(ctx)
	done := ctx.Done()
	if done == nil {
		return c.getOrLoad(key, call)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	type result struct {
		v   []byte
		err error
	}
	k := append([]byte(nil), key...) // the caller may reuse key once we return
	ch := make(chan result, 1)
	go func() {
		v, err := c.getOrLoad(k, call)
		ch <- result{v, err}
	}()
	select {
	case r := <-ch:
		return r.v, r.err
	case <-done:
		return nil, ctx.Err()
	}
}

func (c *Cache) getOrLoad(key []byte, call *onceCall) ([]byte, error) {
	defer runtime.KeepAlive(c)
	h := cgo.NewHandle(call)
	r := C.tcgo_get_or_load(c.ptr, bytesPtr(key), C.size_t(len(key)), C.uintptr_t(h))
	h.Delete() // the library calls fn only during the call
	runtime.KeepAlive(key)
	cause := takeLoaderResult(r.loader_result)
	if err := check("GetOrLoad", r); err != nil {
		return nil, withCause(err, cause)
	}
	return takeBytes(&r.bytes), nil
}

// tcgoOnceLoaderCall is the loader of tc_get_or_load (through
// tcgo_once_loader in bridge.c), on the thread of the GetOrLoad that
// missed. As tcgoLoaderCall, it never lets a panic unwind into C, and
// leaves fn's error or panic in slot for that GetOrLoad.
//
//export tcgoOnceLoaderCall
func tcgoOnceLoaderCall(handle C.uintptr_t, sink *C.tc_sink, slot *C.uintptr_t) (status C.tc_status) {
	defer func() {
		if p := recover(); p != nil {
			setLoaderResult(slot, error(&LoaderPanic{Value: p, Stack: debug.Stack()}))
			status = C.TC_LOADER_FAILED
		}
	}()
	call := cgo.Handle(handle).Value().(*onceCall)
	var v []byte
	var opts PutOptions
	var err error
	if call.withOptions != nil {
		v, opts, err = call.withOptions(call.ctx)
	} else {
		v, opts.TTL, err = call.fn(call.ctx)
	}
	if err == nil && opts.TTL < 0 {
		err = fmt.Errorf("tiercache: GetOrLoad: the function returned a negative TTL (%v)", opts.TTL)
	}
	if err != nil {
		setLoaderResult(slot, err)
		if errors.Is(err, ErrNotFound) {
			return C.TC_NOT_FOUND
		}
		return C.TC_LOADER_FAILED
	}
	if err := sinkPut("GetOrLoad", sink, v, &opts, 0); err != nil {
		setLoaderResult(slot, err)
		return cStatusOf(err)
	}
	return C.TC_OK
}
