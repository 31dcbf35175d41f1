package tiercache

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dgraph-io/ristretto/v2"
)

// Benchmarks of the Go binding, each next to a peer measured in the same run
// on the same workload: github.com/dgraph-io/ristretto/v2, a pure-Go
// in-memory cache. The peer sub-benchmark reports "x-tiercache": tiercache's
// ns/op divided by the peer's (above 1: tiercache is slower).
//
// Read the ratio knowing what differs: every tiercache call crosses cgo
// (tens of ns) and Get returns a fresh copy of the value, while ristretto
// returns the stored slice itself and has no disk tier, no TTL-by-default
// and no single-flight loader. Ristretto's Set is asynchronous (buffered and
// may be dropped under contention); tiercache's Put is done when it returns.

const (
	benchKeys     = 10_000
	benchValueLen = 128
)

var (
	benchKeyList = func() [][]byte {
		ks := make([][]byte, benchKeys)
		for i := range ks {
			ks[i] = []byte(fmt.Sprintf("bench-key-%06d", i))
		}
		return ks
	}()
	benchValue = make([]byte, benchValueLen)
)

// nsPerOp remembers the last ns/op of each sub-benchmark, for the ratios.
var nsPerOp sync.Map

func record(b *testing.B) float64 {
	ns := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
	nsPerOp.Store(b.Name(), ns)
	return ns
}

// peerRatio reports, on the peer's line, tiercache's ns/op over the peer's.
func peerRatio(b *testing.B, tiercacheName string) {
	peer := record(b)
	if t, ok := nsPerOp.Load(tiercacheName); ok && peer > 0 {
		b.ReportMetric(t.(float64)/peer, "x-tiercache")
	}
}

func newTiercache(b *testing.B, opts Options) *Cache {
	c, err := Open(opts)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	for _, k := range benchKeyList {
		if err := c.Put(k, benchValue, 0); err != nil {
			b.Fatal(err)
		}
	}
	return c
}

func newRistretto(b *testing.B) *ristretto.Cache[[]byte, []byte] {
	r, err := ristretto.NewCache(&ristretto.Config[[]byte, []byte]{
		NumCounters: benchKeys * 10,
		MaxCost:     64 << 20,
		BufferItems: 64,
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(r.Close)
	for _, k := range benchKeyList {
		r.Set(k, benchValue, int64(len(k)+benchValueLen))
	}
	r.Wait()
	return r
}

// BenchmarkGet: a hit in memory (L1), keys in turn over 10,000.
func BenchmarkGet(b *testing.B) {
	b.Run("tiercache", func(b *testing.B) {
		c := newTiercache(b, Options{})
		b.SetBytes(benchValueLen)
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if _, err := c.Get(benchKeyList[i%benchKeys]); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		record(b)
	})
	b.Run("ristretto", func(b *testing.B) {
		r := newRistretto(b)
		b.SetBytes(benchValueLen)
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			r.Get(benchKeyList[i%benchKeys]) // admission may have dropped a few keys: not an error
		}
		b.StopTimer()
		peerRatio(b, "BenchmarkGet/tiercache")
	})
}

// BenchmarkGetMixedSizes: L1 hits on values of four sizes in turn (100 B to
// 4 KiB): Get's size guess (sizeHint) should stay out of the way (no peer).
func BenchmarkGetMixedSizes(b *testing.B) {
	c := newTiercache(b, Options{})
	sizes := []int{100, 1000, 300, 4000}
	for i, k := range benchKeyList {
		if err := c.Put(k, make([]byte, sizes[i%len(sizes)]), 0); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := c.Get(benchKeyList[i%benchKeys]); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkGetInto: the allocation-free Get (no peer: ristretto never copies).
func BenchmarkGetInto(b *testing.B) {
	c := newTiercache(b, Options{})
	buf := make([]byte, benchValueLen)
	b.SetBytes(benchValueLen)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := c.GetInto(benchKeyList[i%benchKeys], buf); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPut: overwrite keys in turn, memory only (and, for tiercache, on
// disk with write-through, where each Put appends to the log's buffer).
func BenchmarkPut(b *testing.B) {
	b.Run("tiercache", func(b *testing.B) {
		c := newTiercache(b, Options{})
		b.SetBytes(benchValueLen)
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if err := c.Put(benchKeyList[i%benchKeys], benchValue, 0); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		record(b)
	})
	b.Run("tiercache-disk", func(b *testing.B) {
		c := newTiercache(b, Options{Dir: b.TempDir(), SyncPolicy: SyncNever})
		b.SetBytes(benchValueLen)
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if err := c.Put(benchKeyList[i%benchKeys], benchValue, 0); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("ristretto", func(b *testing.B) {
		r := newRistretto(b)
		b.SetBytes(benchValueLen)
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			r.Set(benchKeyList[i%benchKeys], benchValue, int64(benchValueLen+16))
		}
		b.StopTimer()
		peerRatio(b, "BenchmarkPut/tiercache")
	})
}

// BenchmarkGetLoader: every Get misses a new key and runs a Go loader through
// the cgo trampoline, then stores its answer (no peer: ristretto has no
// loader).
func BenchmarkGetLoader(b *testing.B) {
	c, err := Open(Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	c.SetLoader(func([]byte) ([]byte, error) { return benchValue, nil })
	keys := make([][]byte, b.N)
	for i := range keys {
		keys[i] = []byte(fmt.Sprintf("load-%d-%d", time.Now().UnixNano(), i))
	}
	b.SetBytes(benchValueLen)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := c.Get(keys[i]); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkGetParallel: L1 hits from GOMAXPROCS goroutines at once. The
// tiercache line is the default L1 policy (LRU: a hit takes its shard's
// lock shared and marks the entry used, src/memory/lru.rs);
// tiercache-s3fifo (after the peer, which is compared with the default) is
// L1S3FIFO, whose hits take the shard's lock shared too.
func BenchmarkGetParallel(b *testing.B) {
	getParallel := func(b *testing.B, opts Options) {
		c := newTiercache(b, opts)
		var seed atomic.Int64
		b.SetBytes(benchValueLen)
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			i := int(seed.Add(7919))
			for pb.Next() {
				if _, err := c.Get(benchKeyList[i%benchKeys]); err != nil {
					b.Error(err)
					return
				}
				i++
			}
		})
		b.StopTimer()
		record(b)
	}
	b.Run("tiercache", func(b *testing.B) { getParallel(b, Options{}) })
	b.Run("ristretto", func(b *testing.B) {
		r := newRistretto(b)
		var seed atomic.Int64
		b.SetBytes(benchValueLen)
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			i := int(seed.Add(7919))
			for pb.Next() {
				r.Get(benchKeyList[i%benchKeys])
				i++
			}
		})
		b.StopTimer()
		peerRatio(b, "BenchmarkGetParallel/tiercache")
	})
	b.Run("tiercache-s3fifo", func(b *testing.B) { getParallel(b, Options{L1Policy: L1S3FIFO}) })
}

// BenchmarkGetIntoParallel: BenchmarkGetParallel's workload through
// GetInto, into each goroutine's own buffer (no allocation, so no garbage
// collection): how the cgo call and the library's hit path scale with
// goroutines, apart from Get's fresh slice. Under either policy a hit takes
// its shard's lock shared. No peer: ristretto never copies.
func BenchmarkGetIntoParallel(b *testing.B) {
	getIntoParallel := func(b *testing.B, opts Options) {
		c := newTiercache(b, opts)
		var seed atomic.Int64
		b.SetBytes(benchValueLen)
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			i := int(seed.Add(7919))
			buf := make([]byte, benchValueLen)
			for pb.Next() {
				if _, err := c.GetInto(benchKeyList[i%benchKeys], buf); err != nil {
					b.Error(err)
					return
				}
				i++
			}
		})
	}
	b.Run("tiercache", func(b *testing.B) { getIntoParallel(b, Options{}) })
	b.Run("tiercache-s3fifo", func(b *testing.B) { getIntoParallel(b, Options{L1Policy: L1S3FIFO}) })
}

// BenchmarkGetValue: the zero-copy read of an L1 hit (GetValue, then
// Release), keys in turn over 10,000: no copy, two cgo calls.
func BenchmarkGetValue(b *testing.B) {
	c := newTiercache(b, Options{})
	b.SetBytes(benchValueLen)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		v, err := c.GetValue(benchKeyList[i%benchKeys])
		if err != nil {
			b.Fatal(err)
		}
		v.Release()
	}
}

// benchBatch is the batch size of BenchmarkGetMany and BenchmarkPutMany; their
// ns/op is per key.
const benchBatch = 100

// BenchmarkGetMany: L1 hits in batches of 100 keys (GetMany: one cgo call
// per batch); ns/op is per key.
func BenchmarkGetMany(b *testing.B) {
	c := newTiercache(b, Options{})
	b.SetBytes(benchValueLen)
	b.ResetTimer()
	for i := 0; i < b.N; i += benchBatch {
		start := i % (benchKeys - benchBatch)
		vals, errs := c.GetMany(benchKeyList[start : start+benchBatch])
		if errs[0] != nil || len(vals[0]) != benchValueLen {
			b.Fatal(errs[0])
		}
	}
}

// BenchmarkPutMany: overwrites in batches of 100 keys, memory only
// (PutMany: one cgo call per batch); ns/op is per key.
func BenchmarkPutMany(b *testing.B) {
	c := newTiercache(b, Options{})
	vals := make([][]byte, benchBatch)
	for i := range vals {
		vals[i] = benchValue
	}
	b.SetBytes(benchValueLen)
	b.ResetTimer()
	for i := 0; i < b.N; i += benchBatch {
		start := i % (benchKeys - benchBatch)
		if err := c.PutMany(benchKeyList[start:start+benchBatch], vals, 0); err != nil {
			b.Fatal(err)
		}
	}
}
