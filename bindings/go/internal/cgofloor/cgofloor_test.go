package cgofloor

import (
	"fmt"
	"sync/atomic"
	"testing"
)

// floorKeys are the keys of the binding's BenchmarkGet (bench_test.go).
func floorKeys() [][]byte {
	keys := make([][]byte, 10_000)
	for i := range keys {
		keys[i] = []byte(fmt.Sprintf("bench-key-%06d", i))
	}
	return keys
}

// BenchmarkCgoFloor: the call alone, over the keys of the binding's
// BenchmarkGet, with a Get-sized scratch buffer. The "alloc+copy" case adds
// what Get's pooled path does after the call on a hit: a slice of the
// value's length (128 B) and a copy into it; "get_word+fresh" is Get's
// path while its size guess holds (sizeHint): a fresh 128 B slice handed
// to the call, which writes the value into it.
func BenchmarkCgoFloor(b *testing.B) {
	keys := floorKeys()
	buf := make([]byte, 16<<10)
	b.Run("get_word", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			GetRes(1, keys[i%len(keys)], buf)
		}
	})
	b.Run("get_fast", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			GetFast(keys[i%len(keys)], buf)
		}
	})
	b.Run("word", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			GetWord(keys[i%len(keys)], buf)
		}
	})
	b.Run("word+alloc+copy", func(b *testing.B) {
		var sink []byte
		for i := 0; i < b.N; i++ {
			n := GetWord(keys[i%len(keys)], buf) + 128 - 16
			v := make([]byte, n)
			copy(v, buf)
			sink = v
		}
		_ = sink
	})
	b.Run("get_word+fresh", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			// On the heap, as Get's: a slice passed to C escapes.
			GetRes(1, keys[i%len(keys)], make([]byte, 128))
		}
	})
}

// BenchmarkCgoFloorParallel: BenchmarkCgoFloor's get_word and
// get_word+fresh from GOMAXPROCS goroutines at once, as the binding's
// BenchmarkGetParallel calls Get: how the cgo crossing, and the crossing
// with a fresh slice per call (allocation and garbage collection), scale
// with cores when no cache is behind the call. ns/op is wall time over
// every goroutine's calls, as in BenchmarkGetParallel.
func BenchmarkCgoFloorParallel(b *testing.B) {
	keys := floorKeys()
	b.Run("get_word", func(b *testing.B) {
		var seed atomic.Int64
		b.RunParallel(func(pb *testing.PB) {
			i := int(seed.Add(7919))
			buf := make([]byte, 16<<10)
			for pb.Next() {
				GetRes(1, keys[i%len(keys)], buf)
				i++
			}
		})
	})
	b.Run("get_word+fresh", func(b *testing.B) {
		var seed atomic.Int64
		b.RunParallel(func(pb *testing.PB) {
			i := int(seed.Add(7919))
			for pb.Next() {
				GetRes(1, keys[i%len(keys)], make([]byte, 128))
				i++
			}
		})
	})
}

// TestFloorCallsAnswer: the no-ops answer the key's length, so that the
// benchmark times a call that really happened.
func TestFloorCallsAnswer(t *testing.T) {
	key, buf := []byte("bench-key-000001"), make([]byte, 8)
	if GetRes(1, key, buf) != int64(len(key)) || GetFast(key, buf) != len(key) || GetWord(key, buf) != int64(len(key)) {
		t.Fatal("the floor functions did not answer the key's length")
	}
}
