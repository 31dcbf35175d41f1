package tiercache

// Where the C library comes from is in link_installed.go (by default: an
// installed tiercache, through pkg-config) and link_source.go (build tag
// tiercache_source: the static library of the checkout this package sits in).

/*
#include <stdlib.h>
#include "bridge.h"
*/
import "C"

import "unsafe"

// emptyByte gives a valid, non-NULL pointer for empty keys, values, prefixes
// and buffers: the library rejects NULL even with a length of 0, and &b[0]
// of an empty slice would panic.
var emptyByte [1]byte

// bytesPtr is the pointer to hand C for b. The memory stays Go memory: cgo
// pins it for the duration of the call, and the library copies what it keeps.
func bytesPtr(b []byte) *C.uint8_t {
	if len(b) == 0 {
		return (*C.uint8_t)(unsafe.Pointer(&emptyByte[0]))
	}
	return (*C.uint8_t)(unsafe.Pointer(&b[0]))
}

// takeMsg turns the malloc'd copy of tc_last_error() made by bridge.c into a
// Go string and frees it.
func takeMsg(msg *C.char) string {
	if msg == nil {
		return ""
	}
	s := C.GoString(msg)
	C.free(unsafe.Pointer(msg))
	return s
}

// Version is the version of the linked C library, e.g. "0.1.0".
func Version() string { return C.GoString(C.tc_version()) }
