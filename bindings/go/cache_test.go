package tiercache

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestPutGetOverwrite(t *testing.T) {
	c := open(t, Options{})
	mustPut(t, c, "k", "v1")
	wantValue(t, c, "k", "v1")
	mustPut(t, c, "k", "v2")
	wantValue(t, c, "k", "v2")
}

func TestCopiesInAndOut(t *testing.T) {
	c := open(t, Options{})
	k, v := []byte("key"), []byte("value")
	if err := c.Put(k, v, 0); err != nil {
		t.Fatal(err)
	}
	v[0] = 'X' // the cache keeps its own copy
	got, _ := c.Get(k)
	got[0] = 'Y' // and hands out a fresh one
	wantValue(t, c, "key", "value")
}

func TestEmptyValue(t *testing.T) {
	c := open(t, Options{})
	if err := c.Put([]byte("e"), nil, 0); err != nil {
		t.Fatalf("Put(empty value): %v", err)
	}
	got, err := c.Get([]byte("e"))
	if err != nil || got == nil || len(got) != 0 {
		t.Fatalf("Get(empty) = %v (nil: %v), %v; want non-nil empty slice", got, got == nil, err)
	}
	n, err := c.GetInto([]byte("e"), nil)
	if err != nil || n != 0 {
		t.Fatalf("GetInto(empty, nil buf) = %d, %v", n, err)
	}
}

func TestBinaryKeys(t *testing.T) {
	c := open(t, Options{})
	k := []byte{0, 0xff, 0}
	v := []byte{0, 1, 2, 0xff, 0xfe}
	if err := c.Put(k, v, 0); err != nil {
		t.Fatal(err)
	}
	got, err := c.Get(k)
	if err != nil || !bytes.Equal(got, v) {
		t.Fatalf("Get = %x, %v", got, err)
	}
	_, err = c.Get(k[:2])
	wantErr(t, err, ErrNotFound)
}

func TestGetInto(t *testing.T) {
	c := open(t, Options{})
	mustPut(t, c, "k", "hello")
	buf := make([]byte, 16)
	n, err := c.GetInto([]byte("k"), buf)
	if err != nil || string(buf[:n]) != "hello" {
		t.Fatalf("GetInto = %q, %v", buf[:n], err)
	}
	n, err = c.GetInto([]byte("k"), buf[:2])
	wantErr(t, err, ErrBufferTooSmall)
	if n != 5 {
		t.Fatalf("GetInto with small buffer: n = %d, want the size needed, 5", n)
	}
	_, err = c.GetInto([]byte("missing"), buf)
	wantErr(t, err, ErrNotFound)
}

func TestContainsNeverLoads(t *testing.T) {
	c := open(t, Options{})
	mustPut(t, c, "here", "1")
	calls := 0
	c.SetLoader(func([]byte) ([]byte, error) { calls++; return []byte("x"), nil })
	if ok, err := c.Contains([]byte("here")); !ok || err != nil {
		t.Fatalf("Contains(here) = %v, %v", ok, err)
	}
	if ok, err := c.Contains([]byte("absent")); ok || err != nil {
		t.Fatalf("Contains(absent) = %v, %v", ok, err)
	}
	if calls != 0 {
		t.Fatalf("Contains called the loader %d times", calls)
	}
}

func TestRemove(t *testing.T) {
	c := open(t, Options{})
	mustPut(t, c, "gone", "soon")
	if err := c.Remove([]byte("gone")); err != nil {
		t.Fatal(err)
	}
	_, err := c.Get([]byte("gone"))
	wantErr(t, err, ErrNotFound)
	wantErr(t, c.Remove([]byte("gone")), ErrNotFound)
}

func TestRemovePrefix(t *testing.T) {
	c := open(t, Options{})
	mustPut(t, c, "user:1", "a")
	mustPut(t, c, "user:2", "b")
	mustPut(t, c, "group:1", "c")
	n, err := c.RemovePrefix([]byte("user:"))
	if err != nil || n != 2 {
		t.Fatalf("RemovePrefix = %d, %v; want 2", n, err)
	}
	wantValue(t, c, "group:1", "c")
	// An empty prefix is every key (and must reach C as a non-NULL pointer).
	n, err = c.RemovePrefix(nil)
	if err != nil || n != 1 {
		t.Fatalf("RemovePrefix(empty) = %d, %v; want 1", n, err)
	}
}

func TestClear(t *testing.T) {
	dir := t.TempDir()
	c := open(t, Options{Dir: dir})
	mustPut(t, c, "a", "1")
	if err := c.Clear(true); err != nil {
		t.Fatal(err)
	}
	wantValue(t, c, "a", "1") // still on disk
	if err := c.Clear(false); err != nil {
		t.Fatal(err)
	}
	_, err := c.Get([]byte("a"))
	wantErr(t, err, ErrNotFound)
}

func TestTTLAndPurge(t *testing.T) {
	c := open(t, Options{Dir: t.TempDir()})
	if err := c.Put([]byte("short"), []byte("v"), 30*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if err := c.Put([]byte("tiny"), []byte("v"), time.Nanosecond); err != nil { // rounds up to 1ms, not "forever"
		t.Fatal(err)
	}
	mustPut(t, c, "keep", "v")
	time.Sleep(100 * time.Millisecond)
	_, err := c.Get([]byte("short"))
	wantErr(t, err, ErrNotFound)
	n, err := c.PurgeExpired()
	if err != nil {
		t.Fatal(err)
	}
	// "short" may already have been dropped lazily by the Get above.
	if n < 1 || n > 2 {
		t.Fatalf("PurgeExpired = %d, want 1 or 2", n)
	}
	wantValue(t, c, "keep", "v")
	wantErr(t, c.Put([]byte("k"), nil, -time.Second), ErrInvalidArgument)
}

func TestDefaultTTL(t *testing.T) {
	c := open(t, Options{DefaultTTL: 30 * time.Millisecond})
	mustPut(t, c, "d", "v")
	time.Sleep(100 * time.Millisecond)
	_, err := c.Get([]byte("d"))
	wantErr(t, err, ErrNotFound)
}

func TestFlushAndStats(t *testing.T) {
	c := open(t, Options{Dir: t.TempDir()})
	mustPut(t, c, "a", "1")
	if err := c.Flush(); err != nil {
		t.Fatal(err)
	}
	wantValue(t, c, "a", "1")
	c.Get([]byte("nope"))
	s, err := c.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if s.L1Hits < 1 || s.Misses < 1 || s.L1Entries != 1 || s.L2Entries != 1 || s.L2State != L2OK {
		t.Fatalf("Stats = %+v", s)
	}
	m := open(t, Options{})
	if s, _ := m.Stats(); s.L2State != L2None {
		t.Fatalf("memory-only L2State = %v", s.L2State)
	}
}

func TestPersistsAcrossReopen(t *testing.T) {
	for _, wp := range []WritePolicy{WriteThrough, WriteBack} {
		dir := t.TempDir()
		c, err := Open(Options{Dir: dir, WritePolicy: wp})
		if err != nil {
			t.Fatal(err)
		}
		mustPut(t, c, "kept", "across restarts")
		mustPut(t, c, "dropped", "x")
		if err := c.Remove([]byte("dropped")); err != nil {
			t.Fatal(err)
		}
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
		c = open(t, Options{Dir: dir, L1MaxEntries: 1})
		wantValue(t, c, "kept", "across restarts")
		_, err = c.Get([]byte("dropped"))
		wantErr(t, err, ErrNotFound)
		if s, _ := c.Stats(); s.L2Hits != 1 {
			t.Fatalf("policy %v: value not served from disk: %+v", wp, s)
		}
		c.Close()
	}
}

func TestSmallL1ServesFromL2(t *testing.T) {
	c := open(t, Options{Dir: t.TempDir(), L1MaxEntries: 1})
	for _, k := range []string{"one", "two", "three"} {
		mustPut(t, c, k, k)
	}
	for _, k := range []string{"one", "two", "three"} {
		wantValue(t, c, k, k)
	}
}

func TestOptions(t *testing.T) {
	for _, o := range []Options{
		{L1MaxEntries: NoLimit, L1MaxBytes: NoLimit, L2MaxBytes: NoLimit},
		{Dir: t.TempDir(), SyncPolicy: SyncAlways, L2MaxBytes: 1 << 20, SegmentSize: 4096},
		{Dir: t.TempDir(), SyncPolicy: SyncNever, WritePolicy: WriteBack},
		{Dir: t.TempDir(), SyncPolicy: SyncEvery, SyncInterval: 10 * time.Millisecond},
		{MaxValueSize: 1 << 10, L1MaxBytes: 1 << 20},
		{L1Policy: L1S3FIFO, L1MaxEntries: 100},
	} {
		c, err := Open(o)
		if err != nil {
			t.Fatalf("Open(%+v): %v", o, err)
		}
		mustPut(t, c, "k", "v")
		wantValue(t, c, "k", "v")
		c.Close()
	}
	for _, o := range []Options{
		{SyncPolicy: SyncEvery}, // interval required
		{L1MaxBytes: -2},
		{WritePolicy: 7},
		{L1Policy: 2},
		{SyncPolicy: 9},
		{DefaultTTL: -time.Second},
		{Dir: "a\x00b"},
		{MaxValueSize: 2 << 30}, // over the library's 1 GiB cap
		{SegmentSize: 10},       // under the library's 4096 floor
	} {
		_, err := Open(o)
		wantErr(t, err, ErrInvalidArgument)
	}
}

// The L1 policy reaches the library: ten keys hit twice, then a scan of a
// hundred new keys through an L1 of twenty entries. S3-FIFO keeps the hot
// keys; LRU loses them.
func TestL1PolicyChoosesWhatAScanEvicts(t *testing.T) {
	for _, tc := range []struct {
		policy L1Policy
		kept   bool
	}{{L1LRU, false}, {L1S3FIFO, true}} {
		c := open(t, Options{L1MaxEntries: 20, L1MaxBytes: NoLimit, L1Policy: tc.policy})
		for i := 0; i < 10; i++ {
			mustPut(t, c, fmt.Sprintf("hot%d", i), "v")
		}
		for r := 0; r < 2; r++ {
			for i := 0; i < 10; i++ {
				wantValue(t, c, fmt.Sprintf("hot%d", i), "v")
			}
		}
		for i := 0; i < 100; i++ {
			mustPut(t, c, fmt.Sprintf("scan%d", i), "v")
		}
		kept := 0
		for i := 0; i < 10; i++ {
			if ok, err := c.Contains([]byte(fmt.Sprintf("hot%d", i))); err != nil {
				t.Fatal(err)
			} else if ok {
				kept++
			}
		}
		if (kept == 10) != tc.kept {
			t.Fatalf("policy %v: %d of 10 hot keys kept", tc.policy, kept)
		}
		c.Close()
	}
}

func TestCloseIdempotentAndUseAfterClose(t *testing.T) {
	c, err := Open(Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	c.SetLoader(func(k []byte) ([]byte, error) { return k, nil })
	for i := 0; i < 3; i++ {
		if err := c.Close(); err != nil {
			t.Fatalf("Close #%d: %v", i+1, err)
		}
	}
	k := []byte("k")
	loader := func(k []byte) ([]byte, error) { return k, nil }
	calls := map[string]func() error{
		"Get":          func() error { _, err := c.Get(k); return err },
		"GetInto":      func() error { _, err := c.GetInto(k, make([]byte, 4)); return err },
		"Put":          func() error { return c.Put(k, k, 0) },
		"Contains":     func() error { _, err := c.Contains(k); return err },
		"Remove":       func() error { return c.Remove(k) },
		"RemovePrefix": func() error { _, err := c.RemovePrefix(k); return err },
		"Clear":        func() error { return c.Clear(true) },
		"ClearAll":     func() error { return c.Clear(false) },
		"Flush":        func() error { return c.Flush() },
		"Compact":      func() error { return c.Compact() },
		"PurgeExpired": func() error { _, err := c.PurgeExpired(); return err },
		"Stats":        func() error { _, err := c.Stats(); return err },
		"Counter":      func() error { _, err := c.Counter("l1_hits"); return err },
		"SetLoader":    func() error { return c.SetLoader(loader) },
		"SetLoaderNil": func() error { return c.SetLoader(nil) },
	}
	for name, call := range calls {
		err := call()
		wantErr(t, err, ErrClosed)
		var e *Error
		if !errors.As(err, &e) || e.Status != StatusClosed || e.Msg == "" {
			t.Errorf("%s after Close: %#v, want *Error with StatusClosed and the library's message", name, err)
		}
	}
	// A loader refused after Close is not kept.
	n := 0
	c.loaders.Range(func(any, any) bool { n++; return true })
	if n != 0 {
		t.Errorf("%d loaders still held after Close", n)
	}
}

func TestCloseReleasesLock(t *testing.T) {
	dir := t.TempDir()
	c, err := Open(Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	c2, err := Open(Options{Dir: dir})
	if err != nil {
		t.Fatalf("reopen after Close: %v", err)
	}
	c2.Close()
}

func TestVersion(t *testing.T) {
	if v := Version(); v == "" || !strings.Contains(v, ".") {
		t.Fatalf("Version() = %q", v)
	}
}

func TestErrorCarriesLibraryMessage(t *testing.T) {
	c := open(t, Options{})
	err := c.Put(nil, []byte("x"), 0)
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("Put(empty key) = %v, want *Error", err)
	}
	if e.Status != StatusInvalidArg || e.Op != "Put" || !strings.Contains(e.Msg, "tc_put") {
		t.Fatalf("Error = %+v; want the tc_last_error() text naming tc_put", e)
	}
}
