package tiercache

/*
#include "bridge.h"
*/
import "C"

import (
	"runtime"
	"unsafe"
)

// Value is a value read without copying it (GetValue): a read-only view of
// bytes the library keeps alive where it has them — memory's own copy, or
// the record in a disk segment's memory map — until Release. The bytes
// never change, whatever happens to the key or the cache meanwhile
// (overwritten, removed, compacted away, the cache closed).
//
// Bytes points into C memory: it is valid only until Release, must not be
// written to, and must not be kept or passed on after Release. A Value that
// is never released keeps its memory (and possibly a deleted segment file's
// map) until the process exits.
type Value struct {
	ptr  *C.tc_value
	data []byte
}

// GetValue is Get without the copy: the value from memory, disk or the
// loader, as a Value that the caller must Release. The same tiers, loader,
// single flight and consistency as Get; it returns an error matching
// ErrNotFound if there is no value. Worth it for large values read and
// dropped at once (parsing, hashing, writing to a socket); for small values
// Get, which copies into Go memory in one cgo call, costs less.
func (c *Cache) GetValue(key []byte) (*Value, error) {
	defer runtime.KeepAlive(c)
	r := C.tcgo_get_value(c.ptr, bytesPtr(key), C.size_t(len(key)))
	runtime.KeepAlive(key)
	cause := takeLoaderResult(r.loader_result)
	if err := check("GetValue", r); err != nil {
		return nil, withCause(err, cause)
	}
	v := &Value{ptr: r.value}
	if r.bytes.len > 0 {
		v.data = unsafe.Slice((*byte)(unsafe.Pointer(r.bytes.data)), int(r.bytes.len))
	} else {
		v.data = []byte{}
	}
	return v, nil
}

// Bytes is the value, valid until Release (see Value). Empty after Release.
func (v *Value) Bytes() []byte {
	return v.data
}

// Len is the value's length in bytes.
func (v *Value) Len() int {
	return len(v.data)
}

// Release frees the value. Idempotent; Bytes must not be used afterwards.
func (v *Value) Release() {
	if v.ptr == nil {
		return
	}
	C.tc_value_free(v.ptr)
	v.ptr = nil
	v.data = nil
}
