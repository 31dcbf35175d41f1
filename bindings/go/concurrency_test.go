package tiercache

import (
	"errors"
	"fmt"
	"runtime"
	"sync"
	"testing"
)

// hammer runs puts, gets, get-intos and loader misses from many goroutines
// on one cache and checks every value it reads back. rounds is per goroutine.
func hammer(t testing.TB, c *Cache, goroutines, rounds int) {
	c.SetLoader(func(k []byte) ([]byte, error) {
		if len(k) > 0 && k[0] == 'x' {
			return nil, ErrNotFound
		}
		return append([]byte("L:"), k...), nil
	})
	var wg sync.WaitGroup
	errs := make(chan error, goroutines)
	for g := 0; g < goroutines; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			buf := make([]byte, 64)
			for i := 0; i < rounds; i++ {
				own := []byte(fmt.Sprintf("g%d:%d", g, i%100))
				want := fmt.Sprintf("value-%d-%d", g, i%100)
				if err := c.Put(own, []byte(want), 0); err != nil {
					errs <- err
					return
				}
				if v, err := c.Get(own); err != nil || string(v) != want {
					errs <- fmt.Errorf("Get(%s) = %q, %v; want %q", own, v, err, want)
					return
				}
				if n, err := c.GetInto(own, buf); err != nil || string(buf[:n]) != want {
					errs <- fmt.Errorf("GetInto(%s) = %q, %v", own, buf[:n], err)
					return
				}
				// Shared keys, filled by the loader (several goroutines miss
				// them at once).
				shared := []byte(fmt.Sprintf("shared:%d", i%50))
				if v, err := c.Get(shared); err != nil || string(v) != "L:"+string(shared) {
					errs <- fmt.Errorf("Get(%s) = %q, %v", shared, v, err)
					return
				}
				if _, err := c.Get([]byte(fmt.Sprintf("x%d", i))); !errors.Is(err, ErrNotFound) {
					errs <- fmt.Errorf("Get(x) = %v, want ErrNotFound", err)
					return
				}
				if i%25 == 0 {
					c.Remove(shared) // force reloads
					c.Contains(own)
					if _, err := c.Stats(); err != nil {
						errs <- err
						return
					}
				}
			}
		}(g)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

func TestConcurrentMemory(t *testing.T) {
	c := open(t, Options{}) // no entry bound: memory only, an eviction would lose a value
	hammer(t, c, 16, 300)
}

func TestConcurrentDisk(t *testing.T) {
	c := open(t, Options{Dir: t.TempDir(), L1MaxEntries: 200})
	hammer(t, c, 8, 300)
}

// Close while other goroutines are mid-call on every method: each call
// returns its normal answer or ErrClosed, never anything else and never a
// crash; once a goroutine has seen ErrClosed it sees nothing else.
func TestCloseWhileInUse(t *testing.T) {
	for round := 0; round < 20; round++ {
		c, err := Open(Options{Dir: t.TempDir(), L1MaxEntries: 50})
		if err != nil {
			t.Fatal(err)
		}
		c.SetLoader(func(k []byte) ([]byte, error) {
			// Reentrant call that may race with Close: must not deadlock.
			c.Contains(k)
			return k, nil
		})
		var wg sync.WaitGroup
		start := make(chan struct{})
		for g := 0; g < 8; g++ {
			wg.Add(1)
			go func(g int) {
				defer wg.Done()
				<-start
				buf := make([]byte, 64)
				closed := 0
				for i := 0; closed < 50; i++ {
					k := []byte(fmt.Sprintf("%d-%d", g, i%40))
					var err error
					switch i % 10 {
					case 0, 1:
						err = c.Put(k, k, 0)
					case 2:
						_, err = c.Get([]byte(fmt.Sprintf("miss-%d-%d", g, i)))
					case 3:
						_, err = c.GetInto(k, buf)
					case 4:
						_, err = c.Contains(k)
					case 5:
						err = c.Remove(k)
					case 6:
						_, err = c.Stats()
					case 7:
						_, err = c.Counter("l2_segments")
					case 8:
						_, err = c.RemovePrefix([]byte(fmt.Sprintf("%d-3", g)))
					case 9:
						_, err = c.Get(k)
					}
					switch {
					case errors.Is(err, ErrClosed):
						closed++
					case closed > 0:
						t.Errorf("after ErrClosed: %v", err)
						return
					case err != nil && !errors.Is(err, ErrNotFound):
						t.Errorf("unexpected %v", err)
						return
					}
				}
			}(g)
		}
		close(start)
		runtime.Gosched()
		if err := c.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		if err := c.Close(); err != nil {
			t.Errorf("second Close: %v", err)
		}
		wg.Wait()
	}
}

// waitClosing returns once Close has begun on c (a new call is refused).
func waitClosing(c *Cache) {
	for {
		if _, err := c.Contains([]byte("probe")); errors.Is(err, ErrClosed) {
			return
		}
		runtime.Gosched()
	}
}

// Close waits for a running loader; the loader, calling back into the cache
// while Close waits, gets ErrClosed instead of a deadlock.
func TestCloseWaitsForRunningLoader(t *testing.T) {
	c, err := Open(Options{})
	if err != nil {
		t.Fatal(err)
	}
	inLoader, release := make(chan struct{}), make(chan struct{})
	var innerErr error
	c.SetLoader(func(k []byte) ([]byte, error) {
		close(inLoader)
		<-release
		_, innerErr = c.Contains([]byte("other"))
		return []byte("v"), nil
	})
	got := make(chan error, 1)
	go func() {
		_, err := c.Get([]byte("k"))
		got <- err
	}()
	<-inLoader
	closed := make(chan error, 1)
	go func() { closed <- c.Close() }()
	waitClosing(c)
	select {
	case <-closed:
		t.Fatal("Close returned while a loader was running")
	default:
	}
	close(release)
	if err := <-got; err != nil {
		t.Fatalf("Get during Close: %v", err)
	}
	if err := <-closed; err != nil {
		t.Fatalf("Close: %v", err)
	}
	if !errors.Is(innerErr, ErrClosed) {
		t.Fatalf("call from the loader during Close: %v, want ErrClosed", innerErr)
	}
}

// Close from inside a loader of the same cache would wait for itself: it
// fails with ErrInvalidArgument, and the cache keeps working.
func TestCloseFromLoaderIsRefused(t *testing.T) {
	c := open(t, Options{})
	var closeErr error
	c.SetLoader(func(k []byte) ([]byte, error) {
		closeErr = c.Close()
		return []byte("loaded"), nil
	})
	wantValue(t, c, "k", "loaded")
	wantErr(t, closeErr, ErrInvalidArgument)
	mustPut(t, c, "after", "v")
	wantValue(t, c, "after", "v")
	if err := c.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
}
