package tiercache

/*
#include <stdlib.h>
#include "bridge.h"
*/
import "C"

import (
	"runtime"
	"strconv"
	"strings"
	"unsafe"
)

// L2State is the state of the disk tier.
type L2State uint32

const (
	L2None     L2State = 0 // memory only: no directory
	L2OK       L2State = 1 // the disk tier is working
	L2Degraded L2State = 2 // the disk tier keeps failing; memory only for now, retried later
)

func (s L2State) String() string {
	switch s {
	case L2None:
		return "none"
	case L2OK:
		return "ok"
	case L2Degraded:
		return "degraded"
	}
	return "unknown"
}

// Stats is a snapshot of a cache: counters since Open, and sizes now.
type Stats struct {
	L1Hits         uint64  // Gets answered from memory
	L2Hits         uint64  // Gets answered from disk (and promoted into memory)
	L3Loads        uint64  // calls of the loader
	Misses         uint64  // Gets that returned no value (not found, or the loader failed)
	L1Entries      uint64  // entries in memory now
	L1Bytes        uint64  // key plus value bytes in memory now
	L2Entries      uint64  // live keys on disk now
	L2Bytes        uint64  // bytes of live records on disk now
	L2FileBytes    uint64  // bytes of all segment files (live and dead records) now
	L1Evictions    uint64  // entries evicted from memory to stay within the L1 bounds
	L2Evictions    uint64  // entries dropped from disk to stay within the L2 bound
	Compactions    uint64  // compactions run
	CorruptRecords uint64  // records found corrupt and skipped
	IOErrors       uint64  // failed reads and writes of the cache directory
	L2State        L2State // state of the disk tier
}

// Stats returns the cache's counters and sizes.
func (c *Cache) Stats() (Stats, error) {
	defer runtime.KeepAlive(c)
	// A Go tc_stats holds no pointers, so passing its address is allowed;
	// it escapes to the heap, which is fine off the hot path.
	var s C.tc_stats
	if err := check("Stats", C.tcgo_stats(c.ptr, &s)); err != nil {
		return Stats{}, err
	}
	return Stats{
		L1Hits:         uint64(s.l1_hits),
		L2Hits:         uint64(s.l2_hits),
		L3Loads:        uint64(s.l3_loads),
		Misses:         uint64(s.misses),
		L1Entries:      uint64(s.l1_entries),
		L1Bytes:        uint64(s.l1_bytes),
		L2Entries:      uint64(s.l2_entries),
		L2Bytes:        uint64(s.l2_bytes),
		L2FileBytes:    uint64(s.l2_file_bytes),
		L1Evictions:    uint64(s.l1_evictions),
		L2Evictions:    uint64(s.l2_evictions),
		Compactions:    uint64(s.compactions),
		CorruptRecords: uint64(s.corrupt_records),
		IOErrors:       uint64(s.io_errors),
		L2State:        L2State(s.l2_state),
	}, nil
}

// Counter reads one counter by name: "l2_readmissions" (entries of a retired
// disk segment written again because they had been read), "l2_segments"
// (segment files now), or any field of the C tc_stats by its C name
// ("l1_hits", "l2_file_bytes", ...). An unknown name gives an error matching
// ErrNotFound.
func (c *Cache) Counter(name string) (uint64, error) {
	defer runtime.KeepAlive(c)
	if strings.IndexByte(name, 0) >= 0 {
		// It cannot reach C intact, and no counter has such a name.
		return 0, newError("Counter", StatusNotFound, "no counter named "+strconv.Quote(name))
	}
	cname := C.CString(name)
	defer C.free(unsafe.Pointer(cname))
	r := C.tcgo_counter(c.ptr, cname)
	if err := check("Counter", r); err != nil {
		return 0, err
	}
	return uint64(r.count), nil
}

// RemoteReason says why the remote tier is degraded ("remote_state" 2): an
// unreachable server, a refused password or certificate at open, a timeout
// since. It is "" while the tier is ok, and an error matching ErrNotFound if
// the cache has no remote tier. The tier keeps retrying whatever the reason.
func (c *Cache) RemoteReason() (string, error) {
	defer runtime.KeepAlive(c)
	r := C.tcgo_remote_reason(c.ptr)
	if err := check("RemoteReason", r); err != nil {
		return "", err
	}
	return string(takeBytes(&r.bytes)), nil
}
