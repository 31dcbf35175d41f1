package tiercache

/*
#include <stdlib.h>
#include "bridge.h"
*/
import "C"

import (
	"context"
	"runtime"
	"strings"
	"time"
	"unsafe"
)

// PutOptions are the per-entry options of PutWith, and of a loader's answer
// (LoaderWithOptions, LoadFuncWithOptions).
//
// Tags are strings, for easy literals; a Go string holds any bytes, so a
// binary tag is string(b). Each tag is 1 to 255 bytes, at most 32 per entry
// (a tag given twice counts once): an empty tag is an error matching
// ErrInvalidArgument, a longer one or a 33rd ErrTooLarge. RemoveTag removes
// every entry carrying a tag.
//
// DependsOn ("": none) names a file the entry depends on: the entry stays
// valid while the file's modification time, size and inode are what they
// are at the put; once the file changes or disappears, a Get of the key is a
// miss (counted as Counter("dependency_misses")) that goes to the loader. A
// file that does not exist at the put is an error matching
// ErrInvalidArgument whose message names the path.
//
// Tags and the dependency are stored with the entry, on disk too, and
// survive a restart.
type PutOptions struct {
	TTL       time.Duration // 0: the cache's DefaultTTL; rounded up to whole milliseconds
	Tags      []string
	DependsOn string
}

// cEntryOptions is PutOptions laid out for the bridge: the tags end to end
// in one buffer with their lengths beside it (so no Go memory handed to C
// holds Go pointers) and the path as a C string (free with free).
type cEntryOptions struct {
	ttl  C.uint64_t
	tags []byte
	lens []C.size_t
	dep  *C.char
}

func (o *PutOptions) toC(op string) (*cEntryOptions, error) {
	ms, err := ttlMs(op, o.TTL)
	if err != nil {
		return nil, err
	}
	co := &cEntryOptions{ttl: ms}
	if len(o.Tags) > 0 {
		n := 0
		for _, t := range o.Tags {
			n += len(t)
		}
		co.tags = make([]byte, 0, n)
		co.lens = make([]C.size_t, len(o.Tags))
		for i, t := range o.Tags {
			co.tags = append(co.tags, t...)
			co.lens[i] = C.size_t(len(t))
		}
	}
	if o.DependsOn != "" {
		if strings.IndexByte(o.DependsOn, 0) >= 0 {
			return nil, &Error{Status: StatusInvalidArg, Op: op, Msg: "DependsOn: the path contains a NUL byte"}
		}
		co.dep = C.CString(o.DependsOn)
	}
	return co, nil
}

func (co *cEntryOptions) free() {
	if co.dep != nil {
		C.free(unsafe.Pointer(co.dep))
		co.dep = nil
	}
}

func (co *cEntryOptions) lensPtr() *C.size_t {
	if len(co.lens) == 0 {
		return nil
	}
	return &co.lens[0]
}

// plain reports whether the options are only a TTL (tc_put / tc_sink_put do).
func (o *PutOptions) plain() bool { return len(o.Tags) == 0 && o.DependsOn == "" }

// PutWith is Put with per-entry options: a TTL, tags and a file the entry
// depends on (see PutOptions). Key, value and options are copied.
func (c *Cache) PutWith(key, value []byte, opts PutOptions) error {
	if opts.plain() {
		return c.Put(key, value, opts.TTL)
	}
	co, err := opts.toC("PutWith")
	if err != nil {
		return err
	}
	defer co.free()
	r := C.tcgo_put_with(c.ptr, bytesPtr(key), C.size_t(len(key)), bytesPtr(value), C.size_t(len(value)),
		co.ttl, bytesPtr(co.tags), co.lensPtr(), C.size_t(len(co.lens)), co.dep)
	runtime.KeepAlive(c)
	runtime.KeepAlive(key)
	runtime.KeepAlive(value)
	runtime.KeepAlive(co)
	return check("PutWith", r)
}

// RemoveTag removes every entry carrying tag from every tier, persistently
// (it stays removed after a restart), atomically with respect to puts as
// RemovePrefix is, and returns how many had a value Get would have returned
// (as Remove counts one). An empty tag is an error matching
// ErrInvalidArgument, one over 255 bytes ErrTooLarge.
func (c *Cache) RemoveTag(tag string) (uint64, error) {
	defer runtime.KeepAlive(c)
	t := []byte(tag)
	if len(t) == 0 {
		// Not NULL with length 0: the library says why.
		t = emptyByte[:0]
	}
	r := C.tcgo_remove_tag(c.ptr, bytesPtr(t), C.size_t(len(t)))
	runtime.KeepAlive(t)
	if err := check("RemoveTag", r); err != nil {
		return 0, err
	}
	return uint64(r.count), nil
}

// sinkPut gives a loader's answer to the sink, with options if it has any.
func sinkPut(op string, sink *C.tc_sink, v []byte, opts *PutOptions, ttl C.uint64_t) error {
	if opts == nil || opts.plain() {
		if opts != nil {
			ms, err := ttlMs(op, opts.TTL)
			if err != nil {
				return err
			}
			ttl = ms
		}
		r := C.tcgo_sink_put(sink, bytesPtr(v), C.size_t(len(v)), ttl)
		runtime.KeepAlive(v)
		return check(op, r)
	}
	co, err := opts.toC(op)
	if err != nil {
		return err
	}
	defer co.free()
	r := C.tcgo_sink_put_with(sink, bytesPtr(v), C.size_t(len(v)), co.ttl, bytesPtr(co.tags), co.lensPtr(),
		C.size_t(len(co.lens)), co.dep)
	runtime.KeepAlive(v)
	runtime.KeepAlive(co)
	return check(op, r)
}

// LoaderWithOptions is a Loader that answers with entry options: its value
// is stored with the TTL, tags and file dependency of the PutOptions it
// returns (a zero PutOptions: the cache's DefaultTTL, no tags, no
// dependency). Errors and panics are as for Loader; an invalid option (an
// empty tag, a missing DependsOn file, a negative TTL) fails the load with
// that error.
type LoaderWithOptions func(key []byte) ([]byte, PutOptions, error)

// SetLoaderWithOptions sets a loader that answers with entry options,
// replacing any earlier loader (SetLoader's or this one's). nil removes the
// loader.
func (c *Cache) SetLoaderWithOptions(fn LoaderWithOptions) error {
	if fn == nil {
		return c.SetLoader(nil)
	}
	return c.setLoader(&loaderEntry{withOptions: fn})
}

// LoadFuncWithOptions computes a value for GetOrLoadWith: the value and the
// entry options to store it with.
type LoadFuncWithOptions func(ctx context.Context) ([]byte, PutOptions, error)

// GetOrLoadWith is GetOrLoad with a function that answers with entry
// options (TTL, tags, file dependency), so that a memoized result can carry
// tags that RemoveTag later finds.
func (c *Cache) GetOrLoadWith(ctx context.Context, key []byte, fn LoadFuncWithOptions) ([]byte, error) {
	if fn == nil {
		return nil, &Error{Status: StatusInvalidArg, Op: "GetOrLoadWith", Msg: "fn is nil"}
	}
	return c.getOrLoadCall(ctx, key, &onceCall{withOptions: fn})
}
