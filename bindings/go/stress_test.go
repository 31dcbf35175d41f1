package tiercache

import (
	"os"
	"runtime"
	"runtime/debug"
	"testing"
)

// TestStressGC hammers the cache with the garbage collector running almost
// continuously, to catch Go memory that C reads after the GC moved or freed
// it (a missing KeepAlive, a pointer kept past a call). It is slow, so it
// runs only with TIERCACHE_STRESS=1; test.sh runs it with GOGC=1.
func TestStressGC(t *testing.T) {
	if os.Getenv("TIERCACHE_STRESS") == "" {
		t.Skip("set TIERCACHE_STRESS=1 (and GOGC=1) to run")
	}
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(1)
	}
	c := open(t, Options{Dir: t.TempDir(), L1MaxEntries: 300})
	stop := make(chan struct{})
	defer close(stop)
	go func() { // extra GC pressure between the automatic cycles
		for {
			select {
			case <-stop:
				return
			default:
				runtime.GC()
			}
		}
	}()
	hammer(t, c, 8, 6000)
	for i := 0; i < 200; i++ {
		if err := c.SetLoader(func(k []byte) ([]byte, error) { return k, nil }); err != nil {
			t.Fatal(err)
		}
	}
}
