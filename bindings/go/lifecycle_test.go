package tiercache

import (
	"errors"
	"runtime"
	"sync"
	"testing"
	"time"
	"unsafe"
)

// watchFree reports, on the returned channel, when the handle of c is freed
// by the cleanup. The watch ends with the test.
func watchFree(t *testing.T, c *Cache) <-chan struct{} {
	t.Helper()
	addr := uintptr(unsafe.Pointer(c.ptr))
	freed := make(chan struct{})
	var once sync.Once
	hook := func(p uintptr) {
		if p == addr {
			once.Do(func() { close(freed) })
		}
	}
	if !handleFreed.CompareAndSwap(nil, &hook) {
		t.Fatal("another test is watching handles")
	}
	t.Cleanup(func() { handleFreed.Store(nil) })
	return freed
}

// collectUntil runs the garbage collector until done is closed, or fails
// the test after many rounds (cleanups run on their own goroutine).
func collectUntil(t *testing.T, done <-chan struct{}, what string) {
	t.Helper()
	for i := 0; i < 1000; i++ {
		runtime.GC()
		select {
		case <-done:
			return
		case <-time.After(5 * time.Millisecond):
		}
	}
	t.Fatalf("%s: still not done after 1000 collections", what)
}

// A Cache closed and then dropped has its handle freed by the cleanup.
func TestClosedCacheIsFreedWhenUnreachable(t *testing.T) {
	c, err := Open(Options{})
	if err != nil {
		t.Fatal(err)
	}
	freed := watchFree(t, c)
	mustPut(t, c, "k", "v")
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	c = nil
	collectUntil(t, freed, "closed cache")
}

// A Cache dropped without Close, whose loader refers to the Cache itself, is
// still collected: the cleanup shuts it down (flushing write-back entries,
// releasing the directory lock) and frees it.
func TestUnclosedCacheIsClosedWhenUnreachable(t *testing.T) {
	dir := t.TempDir()
	var freed <-chan struct{}
	func() {
		c, err := Open(Options{Dir: dir, WritePolicy: WriteBack})
		if err != nil {
			t.Fatal(err)
		}
		freed = watchFree(t, c)
		c.SetLoader(func(k []byte) ([]byte, error) {
			// Refers to c: the handle the library holds must not keep it alive.
			if _, err := c.Contains([]byte("other")); err != nil {
				return nil, err
			}
			return []byte("loaded"), nil
		})
		wantValue(t, c, "miss", "loaded")
		mustPut(t, c, "k", "written back by the cleanup")
	}()
	collectUntil(t, freed, "unclosed cache")
	c, err := Open(Options{Dir: dir})
	if err != nil {
		t.Fatalf("reopen after the cleanup: %v", err)
	}
	defer c.Close()
	wantValue(t, c, "k", "written back by the cleanup")
	wantValue(t, c, "miss", "loaded")
}

// Close may run from several goroutines at once: one shuts down, the others
// wait for it, every one returns nil, and no call gets anything but ErrClosed
// afterwards.
func TestConcurrentCloses(t *testing.T) {
	c, err := Open(Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	mustPut(t, c, "k", "v")
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := c.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
			if _, err := c.Get([]byte("k")); !errors.Is(err, ErrClosed) {
				t.Errorf("Get after Close: %v", err)
			}
		}()
	}
	wg.Wait()
}
