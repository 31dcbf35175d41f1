package tiercache

import (
	"fmt"
	"runtime"
	"testing"
)

// The cost of a hit in counts, not time: README's table promises that a Get
// that hits costs one cgo call and one allocation (the slice it returns),
// and GetInto one cgo call and none. A crossing is ~30 ns and ~280
// instructions, an allocation ~200 (BENCHMARKS.md, the Go paragraphs under
// "What is left of issue 12's goals"), so a second of either is a
// regression of the Go rows that a timing could not tell from the host's
// noise. These tests fail on it whatever the machine's load.

// hitCostKeys puts n 128-byte values (the Go rows' size) and returns their
// keys, allocated here so that the calls measured allocate no key.
func hitCostKeys(t *testing.T, c *Cache, n int) [][]byte {
	t.Helper()
	keys := make([][]byte, n)
	value := make([]byte, 128)
	for i := range keys {
		keys[i] = []byte(fmt.Sprintf("hit-cost-%03d", i))
		if err := c.Put(keys[i], value, 0); err != nil {
			t.Fatal(err)
		}
	}
	return keys
}

// cgoCallsPer returns how many cgo calls the process made per call of f,
// over runs calls. runtime.NumCgoCall counts every goroutine's calls, so a
// cleanup of another test's Cache (tc_cache_close) may add one or two: the
// caller compares with a margin far under one call per run.
func cgoCallsPer(runs int, f func(i int)) float64 {
	before := runtime.NumCgoCall()
	for i := range runs {
		f(i)
	}
	return float64(runtime.NumCgoCall()-before) / float64(runs)
}

func TestGetHitIsOneCgoCallAndOneAllocation(t *testing.T) {
	c := open(t, Options{})
	keys := hitCostKeys(t, c, 64)
	get := func(i int) {
		v, err := c.Get(keys[i%len(keys)])
		if err != nil || len(v) != 128 {
			t.Fatalf("Get: %d bytes, %v", len(v), err)
		}
	}
	// Both of Get's ways to a hit: straight into a fresh slice of the
	// guessed size, and through the pooled scratch buffer (which may set a
	// guess on the way: then the rest of the runs take the first way).
	for _, way := range []struct {
		name string
		hint int64
	}{{"fresh slice", 128}, {"pooled scratch", 0}} {
		c.hint.n.Store(way.hint)
		if calls := cgoCallsPer(1000, get); calls < 1 || calls > 1.1 {
			t.Errorf("%s: %.3f cgo calls per Get that hits, want 1", way.name, calls)
		}
		c.hint.n.Store(way.hint)
		i := 0
		// AllocsPerRun truncates the mean: a pool emptied by a collection
		// during the runs (one 16 KiB buffer more) does not count.
		if allocs := testing.AllocsPerRun(1000, func() { get(i); i++ }); allocs != 1 {
			t.Errorf("%s: %v allocations per Get that hits, want 1 (the returned slice)", way.name, allocs)
		}
	}
}

func TestGetIntoHitIsOneCgoCallAndNoAllocation(t *testing.T) {
	c := open(t, Options{})
	keys := hitCostKeys(t, c, 64)
	buf := make([]byte, 256)
	getInto := func(i int) {
		n, err := c.GetInto(keys[i%len(keys)], buf)
		if err != nil || n != 128 {
			t.Fatalf("GetInto: %d bytes, %v", n, err)
		}
	}
	if calls := cgoCallsPer(1000, getInto); calls < 1 || calls > 1.1 {
		t.Errorf("%.3f cgo calls per GetInto that hits, want 1", calls)
	}
	i := 0
	if allocs := testing.AllocsPerRun(1000, func() { getInto(i); i++ }); allocs != 0 {
		t.Errorf("%v allocations per GetInto that hits, want 0", allocs)
	}
}
