package cgofloor

import (
	"fmt"
	"testing"
)

// BenchmarkCgoFloor: the call alone, over the keys of the binding's
// BenchmarkGet (bench_test.go), with a Get-sized scratch buffer. The
// "alloc+copy" case adds what Get does after the call on a hit: a slice of
// the value's length (128 B) and a copy into it.
func BenchmarkCgoFloor(b *testing.B) {
	keys := make([][]byte, 10_000)
	for i := range keys {
		keys[i] = []byte(fmt.Sprintf("bench-key-%06d", i))
	}
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
}

// TestFloorCallsAnswer: the no-ops answer the key's length, so that the
// benchmark times a call that really happened.
func TestFloorCallsAnswer(t *testing.T) {
	key, buf := []byte("bench-key-000001"), make([]byte, 8)
	if GetRes(1, key, buf) != int64(len(key)) || GetFast(key, buf) != len(key) || GetWord(key, buf) != int64(len(key)) {
		t.Fatal("the floor functions did not answer the key's length")
	}
}
