package tiercache

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

// The tests of Get's fresh-slice path (sizeHint): they set the guess
// themselves, then read values around it.

// getFresh reads k with the guess set to h and checks the answer against
// want (nil: a miss), that the slice is the value's own (len == cap), and
// what became of the guess.
func getFresh(t *testing.T, c *Cache, h int, k string, want []byte) {
	t.Helper()
	getFreshCap(t, c, h, k, want, true)
}

// getFreshCap is getFresh, checking len == cap only if exactCap (a value
// too big for the buffer that the call's loader produced is returned as the
// loader trampoline copied it).
func getFreshCap(t *testing.T, c *Cache, h int, k string, want []byte, exactCap bool) {
	t.Helper()
	c.hint.n.Store(int64(h))
	got, err := c.Get([]byte(k))
	if want == nil {
		wantErr(t, err, ErrNotFound)
		if c.hint.guess() != h {
			t.Fatalf("a miss changed the guess %d to %d", h, c.hint.guess())
		}
		return
	}
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("guess %d, value of %d: got %d bytes, %v", h, len(want), len(got), err)
	}
	if exactCap && len(got) != cap(got) {
		t.Fatalf("guess %d, value of %d: cap %d", h, len(want), cap(got))
	}
	n := len(want)
	keep := 2*n >= h && n <= h // the value fitted and was at least half the guess
	if keep != (c.hint.guess() == h) {
		t.Fatalf("guess %d, value of %d: guess now %d", h, n, c.hint.guess())
	}
}

// TestGetHintSizes: values around the guess, from memory and from disk.
func TestGetHintSizes(t *testing.T) {
	c := open(t, Options{Dir: t.TempDir()})
	for _, h := range []int{1, 2, 127, 128, 129, 1000, getScratchLen} {
		for _, n := range []int{0, 1, h/2 - 1, h / 2, h/2 + 1, h - 1, h, h + 1, 2 * h, getScratchLen + 1} {
			if n < 0 {
				continue
			}
			v := bytes.Repeat([]byte{byte(n)}, n)
			v = append(v[:0:0], v...)
			if n > 0 {
				v[n-1] = byte(h) // the end of the value is where a short copy shows
			}
			if err := c.Put([]byte("k"), v, 0); err != nil {
				t.Fatal(err)
			}
			getFresh(t, c, h, "k", v) // memory
			if err := c.Clear(true); err != nil {
				t.Fatal(err)
			}
			getFresh(t, c, h, "k", v) // disk
		}
		getFresh(t, c, h, "absent", nil)
	}
}

// TestGetHintValueGrows: the value outgrows the guess between two Gets,
// then shrinks far below it.
func TestGetHintValueGrows(t *testing.T) {
	c := open(t, Options{})
	k := []byte("k")
	small, big := bytes.Repeat([]byte("s"), 100), bytes.Repeat([]byte("B"), 5000)
	mustPut(t, c, "k", string(small))
	getFresh(t, c, 100, "k", small)
	mustPut(t, c, "k", string(big))
	getFresh(t, c, 100, "k", big)
	if c.hint.guess() != 0 {
		t.Fatalf("guess %d kept after a value too big", c.hint.guess())
	}
	mustPut(t, c, "k", string(small))
	getFresh(t, c, 5000, "k", small)
	// A slice handed out is the caller's: appending to it or writing it
	// does not show in the next Get.
	c.hint.n.Store(100)
	got, _ := c.Get(k)
	got = append(got, 'x')
	got[0] = 'z'
	wantValue(t, c, "k", string(small))
}

// TestGetHintLoader: a loader's value shorter and longer than the guess,
// its error, and its panic, each with one loader call.
func TestGetHintLoader(t *testing.T) {
	c := open(t, Options{})
	calls := 0
	fail := errors.New("backend down")
	c.SetLoader(func(k []byte) ([]byte, error) {
		calls++
		switch string(k) {
		case "fail":
			return nil, fail
		case "panic":
			panic("loader panic")
		case "none":
			return nil, ErrNotFound
		}
		var n int
		fmt.Sscanf(string(k), "len-%d", &n)
		return bytes.Repeat([]byte{'L'}, n), nil
	})
	for _, n := range []int{0, 10, 99, 100, 101, 300_000} {
		k := fmt.Sprintf("len-%d", n)
		getFreshCap(t, c, 100, k, bytes.Repeat([]byte{'L'}, n), n <= 100) // loaded
		getFresh(t, c, 100, k, bytes.Repeat([]byte{'L'}, n))              // now cached
	}
	calls = 0
	c.hint.n.Store(100)
	_, err := c.Get([]byte("fail"))
	wantErr(t, err, ErrLoaderFailed)
	if !errors.Is(err, fail) {
		t.Fatalf("cause lost: %v", err)
	}
	_, err = c.Get([]byte("panic"))
	var lp *LoaderPanic
	if !errors.As(err, &lp) {
		t.Fatalf("panic: %v", err)
	}
	getFresh(t, c, 100, "none", nil)
	if calls != 3 {
		t.Fatalf("loader called %d times for 3 Gets", calls)
	}
}

// TestGetHintDifferential: Gets with random guesses (none, or any length
// around the values') against a map, over random Puts, Removes and memory
// drops, values of random sizes.
func TestGetHintDifferential(t *testing.T) {
	for seed := uint64(1); seed <= 4; seed++ {
		r := rand.New(rand.NewPCG(seed, 12))
		c := open(t, Options{Dir: t.TempDir()})
		model := map[string][]byte{}
		sizes := []int{0, 1, 7, 64, 100, 128, 1000, getScratchLen, getScratchLen + 1, 40_000}
		for op := 0; op < 3000; op++ {
			k := fmt.Sprintf("k%d", r.IntN(20))
			switch x := r.IntN(10); {
			case x < 3:
				v := make([]byte, sizes[r.IntN(len(sizes))]+r.IntN(3))
				for i := range v {
					v[i] = byte(r.Uint32())
				}
				if err := c.Put([]byte(k), v, 0); err != nil {
					t.Fatal(err)
				}
				model[k] = v
			case x == 3:
				c.Remove([]byte(k))
				delete(model, k)
			case x == 4:
				if err := c.Clear(true); err != nil {
					t.Fatal(err)
				}
			default:
				if r.IntN(2) == 0 {
					c.hint.n.Store(int64(1 + r.IntN(getScratchLen)))
				}
				got, err := c.Get([]byte(k))
				want, ok := model[k]
				if !ok {
					wantErr(t, err, ErrNotFound)
					continue
				}
				if err != nil || !bytes.Equal(got, want) || len(got) != cap(got) {
					t.Fatalf("seed %d op %d: Get(%s) len %d cap %d (want %d), %v", seed, op, k, len(got), cap(got), len(want), err)
				}
				if g := c.hint.guess(); g < 0 || g > getScratchLen {
					t.Fatalf("guess %d out of range", g)
				}
			}
		}
	}
}

// TestGetHintSettles: a run of same-size values takes up the guess (the
// pooled path offers 1 in hintSampleEvery), and sizes that vary drop it.
func TestGetHintSettles(t *testing.T) {
	c := open(t, Options{})
	mustPut(t, c, "a", string(bytes.Repeat([]byte("a"), 128)))
	mustPut(t, c, "b", string(bytes.Repeat([]byte("b"), 1000)))
	for i := 0; i < 100*hintSampleEvery && c.hint.guess() == 0; i++ {
		wantValue(t, c, "a", string(bytes.Repeat([]byte("a"), 128)))
	}
	if c.hint.guess() != 128 {
		t.Fatalf("guess %d after same-size Gets, want 128", c.hint.guess())
	}
	wantValue(t, c, "b", string(bytes.Repeat([]byte("b"), 1000)))
	if c.hint.guess() != 0 {
		t.Fatalf("guess %d kept after a longer value", c.hint.guess())
	}
}

// TestGetHintMessages: a miss's message comes in the call's buffer when it
// fits and malloc'd when it does not (a small guess), the same either way;
// another failure's message is there too.
func TestGetHintMessages(t *testing.T) {
	c := open(t, Options{})
	var msgs []string
	for _, h := range []int{0, 1, 8, getScratchLen} {
		c.hint.n.Store(int64(h))
		_, err := c.Get([]byte("absent"))
		wantErr(t, err, ErrNotFound)
		e, ok := err.(*Error)
		if !ok || e.Op != "Get" || e.Msg == "" {
			t.Fatalf("guess %d: %#v", h, err)
		}
		msgs = append(msgs, e.Msg)
		c.hint.n.Store(int64(h))
		_, err = c.Get(nil)
		wantErr(t, err, ErrInvalidArgument)
		if e, ok := err.(*Error); !ok || !strings.Contains(e.Msg, "key") {
			t.Fatalf("guess %d, empty key: %#v", h, err)
		}
	}
	for _, m := range msgs[1:] {
		if m != msgs[0] {
			t.Fatalf("miss messages differ: %q", msgs)
		}
	}
	if len(msgs[0]) <= 8 {
		t.Fatalf("the miss message %q fits in 8 bytes: the malloc'd path is not tested", msgs[0])
	}
}
