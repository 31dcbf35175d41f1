// Command getcount runs N Gets of 128-byte L1 hits over 10,000 keys and
// nothing else, to be counted under callgrind: the instructions of one Get
// are the difference of two runs, N2 and N1, over N2 - N1.
//
//	go build -tags tiercache_source -o /tmp/getcount ./cmd/getcount
//	run() { GODEBUG=asyncpreemptoff=1 valgrind --tool=callgrind \
//	    --callgrind-out-file=/dev/null /tmp/getcount "$1" 2>&1 | sed -n 's/.*refs: *//p'; }
//	echo $(run 100000) $(run 300000)
//
// The collector is off once the keys are in (debug.SetGCPercent(-1)) unless
// GETCOUNT_GC is set: its cycles make the count of a go test benchmark move
// by ±50–90 instructions per Get from run to run, which hides what a change
// of the binding does. Callgrind needs GODEBUG=asyncpreemptoff=1 with Go.
// The runtime's background threads still add a little that follows wall
// time: alternate old and new builds, several runs each. It prints nothing
// and asserts nothing about time.
package main

import (
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"

	tiercache "github.com/tiercache/tiercache/bindings/go"
)

// sink keeps each Get's value reachable, as a caller that uses it would.
var sink []byte

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: getcount N")
		os.Exit(2)
	}
	n, err := strconv.Atoi(os.Args[1])
	if err != nil || n < 0 {
		fmt.Fprintln(os.Stderr, "getcount: N must be a count")
		os.Exit(2)
	}
	c, err := tiercache.Open(tiercache.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	keys := make([][]byte, 10_000)
	value := make([]byte, 128)
	for i := range keys {
		keys[i] = []byte(fmt.Sprintf("bench-key-%06d", i))
		if err := c.Put(keys[i], value, 0); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
	if os.Getenv("GETCOUNT_GC") == "" {
		debug.SetGCPercent(-1)
	}
	runtime.GC()
	for i := 0; i < n; i++ {
		v, err := c.Get(keys[i%len(keys)])
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		sink = v
	}
	if err := c.Close(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
