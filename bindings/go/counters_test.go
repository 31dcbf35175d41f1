package tiercache

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
)

// churn fills several small segments, then kills most of their records.
func churn(t *testing.T, c *Cache) {
	t.Helper()
	for round := 0; round < 3; round++ {
		for i := 0; i < 200; i++ {
			mustPut(t, c, fmt.Sprintf("k%d", i), strings.Repeat(fmt.Sprintf("value %d %d ", round, i), 4))
		}
	}
	for i := 0; i < 200; i += 2 {
		if err := c.Remove([]byte(fmt.Sprintf("k%d", i))); err != nil {
			t.Fatal(err)
		}
	}
}

func TestCompact(t *testing.T) {
	dir := t.TempDir()
	c := open(t, Options{Dir: dir, SegmentSize: 4096})
	churn(t, c)
	before, _ := c.Stats()
	segs, err := c.Counter("l2_segments")
	if err != nil || segs < 3 {
		t.Fatalf("l2_segments = %d, %v; want several", segs, err)
	}
	if err := c.Compact(); err != nil {
		t.Fatalf("Compact: %v", err)
	}
	after, _ := c.Stats()
	if after.Compactions <= before.Compactions || after.L2FileBytes >= before.L2FileBytes || after.L2Entries != 100 {
		t.Fatalf("before %+v\nafter %+v", before, after)
	}
	if n, _ := c.Counter("l2_segments"); n >= segs {
		t.Fatalf("l2_segments %d -> %d", segs, n)
	}
	if err := c.Clear(true); err != nil { // read the survivors back from disk
		t.Fatal(err)
	}
	for i := 1; i < 200; i += 2 {
		wantValue(t, c, fmt.Sprintf("k%d", i), strings.Repeat(fmt.Sprintf("value 2 %d ", i), 4))
	}
	_, err = c.Get([]byte("k0"))
	wantErr(t, err, ErrNotFound)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	c2 := open(t, Options{Dir: dir, SegmentSize: 4096})
	wantValue(t, c2, "k1", strings.Repeat("value 2 1 ", 4))
}

func TestCompactMemoryOnlyAndClosed(t *testing.T) {
	c := open(t, Options{})
	mustPut(t, c, "k", "v")
	if err := c.Compact(); err != nil {
		t.Fatalf("Compact (memory only): %v", err)
	}
	wantValue(t, c, "k", "v")
	c.Close()
	wantErr(t, c.Compact(), ErrClosed)
	_, err := c.Counter("l1_hits")
	wantErr(t, err, ErrClosed)
}

func TestCounterMatchesStats(t *testing.T) {
	c := open(t, Options{Dir: t.TempDir()})
	mustPut(t, c, "a", "1")
	wantValue(t, c, "a", "1")
	c.Get([]byte("absent"))
	s, err := c.Stats()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]uint64{
		"l1_hits": s.L1Hits, "l2_hits": s.L2Hits, "l3_loads": s.L3Loads, "misses": s.Misses,
		"l1_entries": s.L1Entries, "l1_bytes": s.L1Bytes, "l2_entries": s.L2Entries,
		"l2_bytes": s.L2Bytes, "l2_file_bytes": s.L2FileBytes, "l1_evictions": s.L1Evictions,
		"l2_evictions": s.L2Evictions, "compactions": s.Compactions,
		"corrupt_records": s.CorruptRecords, "io_errors": s.IOErrors, "l2_state": uint64(s.L2State),
	}
	for name, v := range want {
		got, err := c.Counter(name)
		if err != nil || got != v {
			t.Errorf("Counter(%q) = %d, %v; want %d", name, got, err, v)
		}
	}
	if n, err := c.Counter("l2_readmissions"); err != nil || n != 0 {
		t.Errorf("l2_readmissions = %d, %v", n, err)
	}
	if n, err := c.Counter("l2_segments"); err != nil || n < 1 {
		t.Errorf("l2_segments = %d, %v", n, err)
	}
	for _, name := range []string{"no_such_counter", "", "L1_HITS", "l1_hits\x00"} {
		_, err := c.Counter(name)
		wantErr(t, err, ErrNotFound)
		if e, ok := err.(*Error); !ok || e.Msg == "" || e.Op != "Counter" {
			t.Errorf("Counter(%q): %#v", name, err)
		}
	}
}

// notBound lists the header's functions the binding does not call, and why.
var notBound = map[string]string{
	"tc_status_str": "Status.Name gives the enumerator's name in Go",
	"tc_get":        "Get uses tc_get_into into Go memory (one cgo call, no C allocation)",
	"tc_get_many":   "GetMany uses tc_get_many_into into Go memory (no C allocation per value)",
	"tc_get_made":   "for a runtime holding a lock of its own around C calls (Python's GIL); cgo holds none",
}

// TestHeaderFunctionsAreBound fails when include/tiercache.h gains a
// function that neither the bridge nor the Go files call (and that is not
// in notBound).
func TestHeaderFunctionsAreBound(t *testing.T) {
	header, err := os.ReadFile(filepath.Join("..", "..", "include", "tiercache.h"))
	if err != nil {
		t.Skipf("no header: %v", err)
	}
	names := regexp.MustCompile(`(?m)^[a-z][\w ]*?\**\s*\**(tc_\w+)\(`).FindAllSubmatch(header, -1)
	if len(names) < 20 {
		t.Fatalf("found only %d functions in the header", len(names))
	}
	var src bytes.Buffer
	files, _ := filepath.Glob("*.[ch]")
	goFiles, _ := filepath.Glob("*.go")
	for _, f := range append(files, goFiles...) {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, _ := os.ReadFile(f)
		src.Write(b)
	}
	for _, m := range names {
		if _, ok := notBound[string(m[1])]; ok {
			continue
		}
		if !regexp.MustCompile(`\b` + string(m[1]) + `\(`).Match(src.Bytes()) {
			t.Errorf("%s is declared in tiercache.h but not called by the binding", m[1])
		}
	}
}

// TestGetValueSizes crosses the pooled buffer's size both ways.
func TestGetValueSizes(t *testing.T) {
	c := open(t, Options{Dir: t.TempDir()})
	for _, n := range []int{0, 1, 128, getScratchLen - 1, getScratchLen, getScratchLen + 1, 100_000, 3 << 20, 10} {
		v := bytes.Repeat([]byte{byte(n)}, n)
		if err := c.Put([]byte("k"), v, 0); err != nil {
			t.Fatal(err)
		}
		for pass := 0; pass < 2; pass++ {
			got, err := c.Get([]byte("k"))
			if err != nil || !bytes.Equal(got, v) || len(got) != cap(got) {
				t.Fatalf("size %d pass %d: len %d cap %d, %v", n, pass, len(got), cap(got), err)
			}
			if err := c.Clear(true); err != nil { // the second pass reads from disk
				t.Fatal(err)
			}
		}
	}
}

// TestGetLargeLoadedValueOnce: a loader's value larger than Get's buffer is
// returned from the loader's answer, with one loader call, even when the
// library cannot keep it (too big for this L1, no disk).
func TestGetLargeLoadedValueOnce(t *testing.T) {
	big := bytes.Repeat([]byte("Z"), 300_000)
	var mu sync.Mutex
	calls := 0
	c := open(t, Options{L1MaxBytes: 256 << 10})
	c.SetLoader(func(k []byte) ([]byte, error) {
		mu.Lock()
		calls++
		mu.Unlock()
		return big, nil
	})
	got, err := c.Get([]byte("k"))
	if err != nil || !bytes.Equal(got, big) {
		t.Fatalf("Get: len %d, %v", len(got), err)
	}
	if &got[0] == &big[0] {
		t.Fatal("Get returned the loader's own slice, not a copy")
	}
	if calls != 1 {
		t.Fatalf("loader called %d times", calls)
	}
}

// TestGetMissMessage: a miss still carries the library's message, copied
// without a malloc.
func TestGetMissMessage(t *testing.T) {
	c := open(t, Options{})
	_, err := c.Get([]byte("absent"))
	wantErr(t, err, ErrNotFound)
	if e, ok := err.(*Error); !ok || e.Msg == "" || e.Op != "Get" {
		t.Fatalf("%#v", err)
	}
	if _, err := c.Get(nil); err == nil || !strings.Contains(err.Error(), "key") {
		t.Fatalf("empty key: %v", err)
	}
	wantErr(t, func() error { _, err := c.Get(nil); return err }(), ErrInvalidArgument)
}
