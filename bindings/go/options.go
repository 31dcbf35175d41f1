package tiercache

/*
#include <stdlib.h>
#include "bridge.h"
*/
import "C"

import (
	"fmt"
	"strings"
	"time"
	"unsafe"
)

// NoLimit, as a capacity in Options, removes the bound on that dimension
// (the C API's 0). In Options, 0 already means "the library default".
const NoLimit = -1

// WritePolicy says when a Put reaches the disk tier (L2).
type WritePolicy int

const (
	// WriteThrough appends every Put to L2 before returning, so values survive
	// a restart. It is the default (the zero value).
	WriteThrough WritePolicy = iota
	// WriteBack writes to L2 only when L1 evicts an entry, on Flush and on Close.
	WriteBack
)

// L1Policy says how the memory tier (L1) chooses what to evict.
type L1Policy int

const (
	// L1LRU evicts the least recently used entry. It is the default (the
	// zero value).
	L1LRU L1Policy = iota
	// L1S3FIFO is S3-FIFO: new keys pass through a small FIFO, keys hit
	// there move to a main FIFO that reinserts entries hit since they were
	// last looked at, and a ghost FIFO remembers recently evicted keys. It
	// resists scans, and a hit takes no exclusive lock, so hits from many
	// goroutines scale.
	L1S3FIFO
)

// SyncPolicy says when L2 is forced to stable storage with fsync. The Go
// values differ from the C ones so that the zero value is the library
// default.
type SyncPolicy int

const (
	// SyncOnFlush fsyncs on Flush and on Close (the default: the zero value).
	SyncOnFlush SyncPolicy = iota
	// SyncNever never fsyncs; the OS writes data back when it chooses.
	SyncNever
	// SyncAlways makes every Put return only after its record is written and
	// fsynced (concurrent writers share one fsync).
	SyncAlways
	// SyncEvery writes out and fsyncs every Options.SyncInterval, and on Flush
	// and Close.
	SyncEvery
)

// Compression says how L2 compresses values at rest. The Go values are the
// C ones (CompressionNone is the zero value and the default).
type Compression int

const (
	// CompressionNone stores values as they are (the default).
	CompressionNone Compression = iota
	// CompressionLZ4 compresses with LZ4: fast, a moderate ratio.
	CompressionLZ4
	// CompressionZstd compresses with Zstandard (level 3): a better ratio.
	CompressionZstd
)

// DefaultCompressMinSize mirrors the library's default: values shorter than
// this are stored as they are when Options.CompressMinSize is 0.
const DefaultCompressMinSize = 256

// Options configure Open. The zero value of every field means the library
// default, so Options{} is a memory-only cache with default sizes and
// Options{Dir: d} a persistent one.
type Options struct {
	// Dir is the L2 directory, created (mode 0700) if missing and locked for
	// as long as the cache is open. Empty: memory only, no L2.
	Dir string

	// L1MaxEntries bounds the entries kept in memory. 0 (the default) or
	// NoLimit: no bound on entries.
	L1MaxEntries int64
	// L1MaxBytes bounds the key plus value bytes kept in memory. 0: the
	// library default (64 MiB); NoLimit: no bound. A value larger than this
	// bound divided among L1's shards is not kept in L1 (it is served from L2).
	L1MaxBytes int64
	// L2MaxBytes bounds the bytes kept on disk. 0: the library default
	// (1 GiB); NoLimit: no bound.
	L2MaxBytes int64

	// L1Policy: L1LRU (the default) or L1S3FIFO.
	L1Policy L1Policy

	// WritePolicy: WriteThrough (the default) or WriteBack.
	WritePolicy WritePolicy
	// SyncPolicy: SyncOnFlush (the default), SyncNever, SyncAlways or SyncEvery.
	SyncPolicy SyncPolicy
	// SyncInterval is the period of SyncEvery (at least 1ms; rounded up to
	// whole milliseconds). It is ignored by the other policies and must be
	// set with SyncEvery.
	SyncInterval time.Duration

	// DefaultTTL is the time to live of Puts and loads that give a TTL of 0.
	// 0 (the default): such entries never expire. Rounded up to whole
	// milliseconds.
	DefaultTTL time.Duration
	// MaxValueSize is the largest value accepted, in bytes. 0: the library
	// default (16 MiB); at most 1 GiB.
	MaxValueSize int64
	// SegmentSize is the size at which an L2 segment file is sealed and a new
	// one started. 0: the library default (64 MiB); at least 4096.
	SegmentSize int64
	// ReadOnly opens an existing directory without changing it, for tools
	// that look inside one: nothing is repaired, no background work runs,
	// writes fail with ErrInvalidArgument, and loaded values stay in memory.
	ReadOnly bool

	// Compression compresses L2 values of at least CompressMinSize bytes,
	// each only if that makes it smaller. L1 keeps values uncompressed. The
	// codec is recorded per record, so a directory reopens with any setting.
	Compression Compression
	// CompressMinSize: 0 means DefaultCompressMinSize.
	CompressMinSize int64
	// EncryptionKey, if not nil, must be 32 bytes: every L2 record (key,
	// value and metadata) is encrypted and authenticated with
	// XChaCha20-Poly1305 under subkeys of it, and key hashes on disk are
	// keyed. A directory written with a key opens only with it, one written
	// without a key does not open with one (ErrInvalidArgument). The key is
	// copied for the call to Open and the copy wiped.
	EncryptionKey []byte
	// RemoteURL adds a shared remote tier (Redis or Valkey) between L2 and
	// the loader: "redis://[user:password@]host[:port][/db]" or
	// "redis+cluster://host:port,host:port". Empty: none, and nothing
	// connects. A URL that cannot be parsed fails Open with
	// ErrInvalidArgument; an unreachable server does not (the cache opens
	// with the tier degraded, Counter("remote_state") 2, and keeps
	// retrying). See the repository's README, "Many processes, many machines".
	RemoteURL string
	// RemoteNamespace (1 to 255 bytes) separates caches sharing a server:
	// those of one namespace share values and invalidations. Empty: the
	// library default ("tiercache").
	RemoteNamespace string
	// RemoteSecret (16 bytes or more) signs every remote value with
	// HMAC-SHA256; a value without a valid signature is refused. Nil: none.
	RemoteSecret []byte
	// RemoteTimeout bounds one remote operation. 0: the library default
	// (250 ms).
	RemoteTimeout time.Duration
}

// defaultL1MaxBytes mirrors tc_options_new's L1 byte bound. The C setter
// takes entries and bytes together, so setting only L1MaxEntries must pass
// the default byte bound explicitly.
const defaultL1MaxBytes = 64 << 20

// durationMs converts d to whole milliseconds, rounding up so that a short
// positive duration never becomes 0 (which the library reads as "default").
func durationMs(d time.Duration) uint64 {
	if d <= 0 {
		return 0
	}
	return uint64((d + time.Millisecond - 1) / time.Millisecond)
}

// capacity converts an Options capacity to the C one: NoLimit → 0 (no
// bound); 0 → def.
func capacity(name string, v int64, def uint64) (uint64, error) {
	switch {
	case v == NoLimit:
		return 0, nil
	case v == 0:
		return def, nil
	case v < 0:
		return 0, fmt.Errorf("%s: %d is negative (use NoLimit for no bound)", name, v)
	}
	return uint64(v), nil
}

// toC checks o and lays it out for tcgo_open. The caller frees dir with
// C.free if it is not nil.
func (o *Options) toC() (C.tcgo_options, error) {
	var c C.tcgo_options
	if o.L1MaxEntries != 0 || o.L1MaxBytes != 0 {
		e, err := capacity("L1MaxEntries", o.L1MaxEntries, 0)
		if err != nil {
			return c, err
		}
		b, err := capacity("L1MaxBytes", o.L1MaxBytes, defaultL1MaxBytes)
		if err != nil {
			return c, err
		}
		c.set_l1, c.l1_max_entries, c.l1_max_bytes = true, C.uint64_t(e), C.uint64_t(b)
	}
	if o.L2MaxBytes != 0 {
		b, err := capacity("L2MaxBytes", o.L2MaxBytes, 0)
		if err != nil {
			return c, err
		}
		c.set_l2, c.l2_max_bytes = true, C.uint64_t(b)
	}
	switch o.L1Policy {
	case L1LRU:
	case L1S3FIFO:
		c.set_l1_policy, c.l1_policy = true, C.TC_L1_S3FIFO
	default:
		return c, fmt.Errorf("L1Policy: unknown value %d", o.L1Policy)
	}
	switch o.WritePolicy {
	case WriteThrough:
	case WriteBack:
		c.set_write, c.write_policy = true, C.TC_WRITE_BACK
	default:
		return c, fmt.Errorf("WritePolicy: unknown value %d", o.WritePolicy)
	}
	switch o.SyncPolicy {
	case SyncOnFlush:
	case SyncNever:
		c.set_sync, c.sync_policy = true, C.TC_SYNC_NEVER
	case SyncAlways:
		c.set_sync, c.sync_policy = true, C.TC_SYNC_ALWAYS
	case SyncEvery:
		if o.SyncInterval <= 0 {
			return c, fmt.Errorf("SyncInterval: must be positive with SyncEvery, got %v", o.SyncInterval)
		}
		c.set_sync, c.sync_policy = true, C.TC_SYNC_INTERVAL
		c.sync_interval_ms = C.uint64_t(durationMs(o.SyncInterval))
	default:
		return c, fmt.Errorf("SyncPolicy: unknown value %d", o.SyncPolicy)
	}
	if o.DefaultTTL < 0 {
		return c, fmt.Errorf("DefaultTTL: %v is negative", o.DefaultTTL)
	}
	c.default_ttl_ms = C.uint64_t(durationMs(o.DefaultTTL))
	if o.MaxValueSize < 0 || o.SegmentSize < 0 {
		return c, fmt.Errorf("MaxValueSize and SegmentSize must not be negative")
	}
	c.max_value_size = C.uint64_t(o.MaxValueSize)
	c.segment_size = C.uint64_t(o.SegmentSize)
	c.read_only = C.bool(o.ReadOnly)
	switch o.Compression {
	case CompressionNone:
	case CompressionLZ4, CompressionZstd:
		if o.CompressMinSize < 0 {
			return c, fmt.Errorf("CompressMinSize: %d is negative", o.CompressMinSize)
		}
		min := uint64(o.CompressMinSize)
		if min == 0 {
			min = DefaultCompressMinSize
		}
		c.set_compression, c.compression, c.compress_min = true, C.uint32_t(o.Compression), C.uint64_t(min)
	default:
		// The library's own check and message.
		c.set_compression, c.compression = true, C.uint32_t(o.Compression)
	}
	if o.EncryptionKey != nil {
		c.set_key, c.key_len = true, C.size_t(len(o.EncryptionKey))
		if len(o.EncryptionKey) > 0 {
			c.key = (*C.uint8_t)(C.CBytes(o.EncryptionKey))
		}
	}
	if o.RemoteTimeout < 0 {
		return c, fmt.Errorf("RemoteTimeout: %v is negative", o.RemoteTimeout)
	}
	c.remote_timeout_ms = C.uint64_t(durationMs(o.RemoteTimeout))
	if o.Dir != "" {
		for i := 0; i < len(o.Dir); i++ {
			if o.Dir[i] == 0 {
				return c, fmt.Errorf("Dir: contains a NUL byte")
			}
		}
		c.dir = C.CString(o.Dir)
	}
	if o.RemoteURL != "" {
		if strings.IndexByte(o.RemoteURL, 0) >= 0 {
			freeOptions(&c)
			return c, fmt.Errorf("RemoteURL: contains a NUL byte")
		}
		c.remote = C.CString(o.RemoteURL)
	}
	// In C memory: the struct is passed by value and must hold no Go pointer.
	if o.RemoteNamespace != "" {
		c.remote_ns = (*C.uint8_t)(C.CBytes([]byte(o.RemoteNamespace)))
		c.remote_ns_len = C.size_t(len(o.RemoteNamespace))
	}
	if o.RemoteSecret != nil {
		c.remote_secret = (*C.uint8_t)(C.CBytes(o.RemoteSecret))
		c.remote_secret_len = C.size_t(len(o.RemoteSecret))
	}
	return c, nil
}

// freeOptions releases what toC allocated.
func freeOptions(c *C.tcgo_options) {
	for _, p := range []unsafe.Pointer{
		unsafe.Pointer(c.dir), unsafe.Pointer(c.remote),
		unsafe.Pointer(c.remote_ns), unsafe.Pointer(c.remote_secret),
	} {
		if p != nil {
			C.free(p)
		}
	}
	if c.key != nil {
		// Wipe the copy of the key before giving the memory back.
		key := unsafe.Slice((*byte)(unsafe.Pointer(c.key)), int(c.key_len))
		for i := range key {
			key[i] = 0
		}
		C.free(unsafe.Pointer(c.key))
		c.key = nil
	}
}
