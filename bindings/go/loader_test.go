package tiercache

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestLoaderFillsAndCaches(t *testing.T) {
	c := open(t, Options{})
	var calls atomic.Int32
	c.SetLoader(func(k []byte) ([]byte, error) {
		calls.Add(1)
		return []byte("loaded:" + string(k)), nil
	})
	for i := 0; i < 3; i++ {
		wantValue(t, c, "a", "loaded:a")
	}
	if n := calls.Load(); n != 1 {
		t.Fatalf("loader called %d times, want 1 (the value is cached)", n)
	}
	if s, _ := c.Stats(); s.L3Loads != 1 || s.L1Hits != 2 {
		t.Fatalf("Stats = %+v", s)
	}
}

func TestLoaderEmptyValue(t *testing.T) {
	c := open(t, Options{})
	c.SetLoader(func([]byte) ([]byte, error) { return nil, nil })
	got, err := c.Get([]byte("k"))
	if err != nil || len(got) != 0 {
		t.Fatalf("Get = %q, %v", got, err)
	}
}

func TestLoaderNotFoundAndFailure(t *testing.T) {
	c := open(t, Options{})
	backend := errors.New("backend down")
	var calls atomic.Int32
	c.SetLoader(func(k []byte) ([]byte, error) {
		calls.Add(1)
		switch string(k) {
		case "absent":
			return nil, fmt.Errorf("no row for %q: %w", k, ErrNotFound)
		case "broken":
			return nil, fmt.Errorf("query: %w", backend)
		}
		return k, nil
	})
	_, err := c.Get([]byte("absent"))
	wantErr(t, err, ErrNotFound)
	_, err = c.Get([]byte("broken"))
	wantErr(t, err, ErrLoaderFailed)
	wantErr(t, err, backend) // the Get that ran the loader sees its error too
	if !strings.Contains(err.Error(), "backend down") {
		t.Fatalf("error text %q lacks the loader's error", err)
	}
	// Failures are not cached: the loader is asked again.
	before := calls.Load()
	c.Get([]byte("broken"))
	if calls.Load() != before+1 {
		t.Fatal("a failed load was cached")
	}
	if ok, _ := c.Contains([]byte("broken")); ok {
		t.Fatal("a failed load left a value")
	}
}

func TestLoaderTTL(t *testing.T) {
	c := open(t, Options{})
	var calls atomic.Int32
	c.SetLoaderTTL(func(k []byte) ([]byte, error) { calls.Add(1); return k, nil }, 30*time.Millisecond)
	wantValue(t, c, "k", "k")
	wantValue(t, c, "k", "k")
	time.Sleep(100 * time.Millisecond)
	wantValue(t, c, "k", "k")
	if n := calls.Load(); n != 2 {
		t.Fatalf("loader called %d times, want 2 (once, then again after expiry)", n)
	}
}

func TestLoaderValueTooLarge(t *testing.T) {
	c := open(t, Options{MaxValueSize: 8})
	c.SetLoader(func([]byte) ([]byte, error) { return make([]byte, 9), nil })
	_, err := c.Get([]byte("k"))
	wantErr(t, err, ErrLoaderFailed)
	wantErr(t, err, ErrTooLarge) // the sink's refusal, as the cause
}

func TestSetLoaderNilAndReplace(t *testing.T) {
	c := open(t, Options{})
	c.SetLoader(func([]byte) ([]byte, error) { return []byte("first"), nil })
	wantValue(t, c, "a", "first")
	c.SetLoader(func([]byte) ([]byte, error) { return []byte("second"), nil })
	wantValue(t, c, "b", "second")
	if err := c.SetLoader(nil); err != nil {
		t.Fatal(err)
	}
	_, err := c.Get([]byte("c"))
	wantErr(t, err, ErrNotFound)
	wantErr(t, c.SetLoaderTTL(nil, -1), ErrInvalidArgument)
}

// The loader's handle is deleted by the library's destructor: replacing
// loaders many times must let the old closures be collected.
func TestReplacedLoadersAreFreed(t *testing.T) {
	c := open(t, Options{})
	var freed atomic.Int32
	const n = 50
	for i := 0; i < n; i++ {
		big := make([]byte, 1<<10)
		runtime.AddCleanup(&big[0], func(*atomic.Int32) { freed.Add(1) }, &freed)
		c.SetLoader(func([]byte) ([]byte, error) { return big[:1], nil })
	}
	c.SetLoader(nil)
	for i := 0; i < 20 && freed.Load() < n; i++ {
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
	if got := freed.Load(); got != n {
		t.Fatalf("%d of %d replaced loaders were freed", got, n)
	}
}

// A loader may call back into the same cache (the library holds no lock).
func TestLoaderReentrant(t *testing.T) {
	c := open(t, Options{})
	mustPut(t, c, "base", "42")
	c.SetLoader(func(k []byte) ([]byte, error) {
		if string(k) == "derived" {
			v, err := c.Get([]byte("base"))
			if err != nil {
				return nil, err
			}
			inner, err := c.Get([]byte("leaf")) // runs the loader again, nested
			if err != nil {
				return nil, err
			}
			return []byte(string(v) + "+" + string(inner)), nil
		}
		return []byte("leaf-value"), nil
	})
	wantValue(t, c, "derived", "42+leaf-value")
}

func TestLoaderCalledOnceFor16Goroutines(t *testing.T) {
	c := open(t, Options{})
	var calls atomic.Int32
	release := make(chan struct{})
	c.SetLoader(func(k []byte) ([]byte, error) {
		calls.Add(1)
		<-release // hold the load open until every goroutine has missed
		return []byte("v:" + string(k)), nil
	})
	const n = 16
	var wg sync.WaitGroup
	var started sync.WaitGroup
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		started.Add(1)
		go func() {
			defer wg.Done()
			started.Done()
			v, err := c.Get([]byte("same"))
			if err == nil && string(v) != "v:same" {
				err = fmt.Errorf("got %q", v)
			}
			errs <- err
		}()
	}
	started.Wait()
	time.Sleep(50 * time.Millisecond) // let them all reach the library
	close(release)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if got := calls.Load(); got != 1 {
		t.Fatalf("loader called %d times for %d concurrent misses, want 1", got, n)
	}
}

func TestLoaderPanicBecomesAnError(t *testing.T) {
	c := open(t, Options{})
	type boom struct{ why string }
	c.SetLoader(func(k []byte) ([]byte, error) {
		if string(k) == "bad" {
			panic(boom{"kaboom"})
		}
		return k, nil
	})
	for _, get := range []func() error{
		func() error { _, err := c.Get([]byte("bad")); return err },
		func() error { _, err := c.GetInto([]byte("bad"), make([]byte, 8)); return err },
	} {
		err := get()
		if !errors.Is(err, ErrLoaderFailed) {
			t.Fatalf("got %v, want ErrLoaderFailed", err)
		}
		var p *LoaderPanic
		if !errors.As(err, &p) {
			t.Fatalf("%v has no *LoaderPanic cause", err)
		}
		if b, ok := p.Value.(boom); !ok || b.why != "kaboom" {
			t.Fatalf("panic value %#v, want the loader's", p.Value)
		}
		if !strings.Contains(string(p.Stack), "loader_test.go") {
			t.Fatalf("the stack does not show the loader:\n%s", p.Stack)
		}
	}
	// The cache is intact afterwards, and nothing was cached for the key.
	wantValue(t, c, "good", "good")
	if ok, _ := c.Contains([]byte("bad")); ok {
		t.Fatal("a panicking load left a value")
	}
	if s, _ := c.Stats(); s.L3Loads != 3 {
		t.Fatalf("L3Loads = %d, want 3", s.L3Loads)
	}
}

// Goroutines waiting on a load that panics get ErrLoaderFailed; the one that
// ran the loader gets it with a *LoaderPanic cause. Nobody panics.
func TestLoaderPanicWithWaiters(t *testing.T) {
	c := open(t, Options{})
	release := make(chan struct{})
	c.SetLoader(func([]byte) ([]byte, error) {
		<-release
		panic("boom")
	})
	const n = 8
	var panics, failed atomic.Int32
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := c.Get([]byte("k"))
			var p *LoaderPanic
			if errors.As(err, &p) {
				panics.Add(1)
			}
			if errors.Is(err, ErrLoaderFailed) {
				failed.Add(1)
			}
		}()
	}
	time.Sleep(50 * time.Millisecond)
	close(release)
	wg.Wait()
	// Normally one load and n-1 waiters; a goroutine that arrives after the
	// first load failed runs its own load (and panics too).
	if panics.Load() < 1 || failed.Load() != n {
		t.Fatalf("%d carried the panic, %d ErrLoaderFailed; want >=1 and all %d", panics.Load(), failed.Load(), n)
	}
}
