package tiercache

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// waitExpired waits (at most 5 s) until a Get of key misses: how an entry put
// with a 1 ms TTL is known to have expired, without a timing guess.
func waitExpired(t *testing.T, c *Cache, key string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, err := c.Get([]byte(key))
		if errors.Is(err, ErrNotFound) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%q did not expire: %v", key, err)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func keysOf(t *testing.T, c *Cache, prefix string) []string {
	t.Helper()
	var out []string
	for k, err := range c.Keys([]byte(prefix)) {
		if err != nil {
			t.Fatalf("Keys(%q): %v", prefix, err)
		}
		out = append(out, string(k))
	}
	return out
}

func TestInfo(t *testing.T) {
	c := open(t, Options{Dir: t.TempDir()})
	var loads atomic.Int32
	if err := c.SetLoader(func(k []byte) ([]byte, error) { loads.Add(1); return k, nil }); err != nil {
		t.Fatal(err)
	}
	before := time.Now().Truncate(time.Millisecond)
	mustPut(t, c, "forever", "12345")
	if err := c.Put([]byte("minute"), nil, time.Minute); err != nil {
		t.Fatal(err)
	}
	after := time.Now()
	info, err := c.Info([]byte("forever"))
	if err != nil {
		t.Fatal(err)
	}
	if info.ValueLen != 5 || !info.ExpiresAt.IsZero() || info.Tier != TierMemory || info.TagCount != 0 {
		t.Errorf("Info(forever) = %+v", info)
	}
	if info.WrittenAt.Before(before) || info.WrittenAt.After(after) {
		t.Errorf("WrittenAt %v not in [%v, %v]", info.WrittenAt, before, after)
	}
	m, err := c.Info([]byte("minute"))
	if err != nil || m.ValueLen != 0 || m.ExpiresAt.Sub(m.WrittenAt) != time.Minute {
		t.Errorf("Info(minute) = %+v, %v", m, err)
	}
	_, err = c.Info([]byte("absent"))
	wantErr(t, err, ErrNotFound)
	_, err = c.Info(nil)
	wantErr(t, err, ErrInvalidArgument)
	if loads.Load() != 0 {
		t.Errorf("Info called the loader")
	}
	// From disk, without promotion.
	if err := c.Clear(true); err != nil {
		t.Fatal(err)
	}
	if info, err := c.Info([]byte("forever")); err != nil || info.Tier != TierDisk || info.Tier.String() != "disk" {
		t.Errorf("Info after Clear(true) = %+v, %v", info, err)
	}
	if s, _ := c.Stats(); s.L1Entries != 0 || s.L2Hits != 0 {
		t.Errorf("Info promoted or counted a hit: %+v", s)
	}
}

func TestTouch(t *testing.T) {
	dir := t.TempDir()
	c := open(t, Options{Dir: dir})
	wantErr(t, c.Touch([]byte("absent"), time.Second), ErrNotFound)
	if err := c.Put([]byte("k"), []byte("value"), time.Minute); err != nil {
		t.Fatal(err)
	}
	first, _ := c.Info([]byte("k"))
	if err := c.Touch([]byte("k"), 0); err != nil { // 0: never expires
		t.Fatal(err)
	}
	if info, _ := c.Info([]byte("k")); !info.ExpiresAt.IsZero() || !info.WrittenAt.Equal(first.WrittenAt) {
		t.Errorf("after Touch(0): %+v", info)
	}
	before := time.Now().Truncate(time.Millisecond)
	if err := c.Touch([]byte("k"), time.Hour); err != nil {
		t.Fatal(err)
	}
	info, _ := c.Info([]byte("k"))
	if info.ExpiresAt.Before(before.Add(time.Hour)) || info.ExpiresAt.After(time.Now().Add(time.Hour)) {
		t.Errorf("after Touch(1h): %+v", info)
	}
	wantValue(t, c, "k", "value")
	wantErr(t, c.Touch([]byte("k"), -time.Second), ErrInvalidArgument)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	again := open(t, Options{Dir: dir})
	if got, err := again.Info([]byte("k")); err != nil || !got.ExpiresAt.Equal(info.ExpiresAt) {
		t.Errorf("after reopen: %+v, %v; want expiry %v", got, err, info.ExpiresAt)
	}
	// An expired entry cannot be touched back to life.
	if err := again.Put([]byte("brief"), []byte("b"), time.Millisecond); err != nil {
		t.Fatal(err)
	}
	waitExpired(t, again, "brief")
	wantErr(t, again.Touch([]byte("brief"), 0), ErrNotFound)
}

func TestCount(t *testing.T) {
	c := open(t, Options{Dir: t.TempDir()})
	if n, b, err := c.Count(nil); n != 0 || b != 0 || err != nil {
		t.Errorf("empty: %d %d %v", n, b, err)
	}
	for k, v := range map[string]string{"a:1": "xx", "a:2": "yyy", "b:1": "", "b:2": "zzzz"} {
		mustPut(t, c, k, v)
	}
	for _, tc := range []struct {
		prefix   string
		n, bytes uint64
	}{{"", 4, 9}, {"a:", 2, 5}, {"b:", 2, 4}, {"c:", 0, 0}} {
		if n, b, err := c.Count([]byte(tc.prefix)); n != tc.n || b != tc.bytes || err != nil {
			t.Errorf("Count(%q) = %d, %d, %v; want %d, %d", tc.prefix, n, b, err, tc.n, tc.bytes)
		}
	}
	if err := c.Remove([]byte("a:2")); err != nil {
		t.Fatal(err)
	}
	if n, b, _ := c.Count(nil); n != 3 || b != 6 {
		t.Errorf("after Remove: %d %d", n, b)
	}
}

func TestKeys(t *testing.T) {
	c := open(t, Options{Dir: t.TempDir()})
	for _, k := range []string{"user:2", "b", "user:10", "user:1", "users", "a", "user"} {
		mustPut(t, c, k, k)
	}
	if got, want := keysOf(t, c, ""), []string{"a", "b", "user", "user:1", "user:10", "user:2", "users"}; !slices.Equal(got, want) {
		t.Errorf("Keys(\"\") = %q, want %q", got, want)
	}
	if got, want := keysOf(t, c, "user:"), []string{"user:1", "user:10", "user:2"}; !slices.Equal(got, want) {
		t.Errorf("Keys(user:) = %q, want %q", got, want)
	}
	if got := keysOf(t, c, "zzz"); len(got) != 0 {
		t.Errorf("Keys(zzz) = %q", got)
	}
	// Entries carries the info; each range is a new iteration.
	seq := c.Entries([]byte("user:1"))
	for pass := 0; pass < 2; pass++ {
		var n int
		for e, err := range seq {
			if err != nil {
				t.Fatal(err)
			}
			if e.Info.ValueLen != uint64(len(e.Key)) || e.Info.Tier != TierMemory {
				t.Errorf("%q: %+v", e.Key, e.Info)
			}
			n++
		}
		if n != 2 {
			t.Errorf("pass %d: %d entries", pass, n)
		}
	}
	// Breaking out early frees the iteration (the race detector and the
	// handle cleanup would see a leak only indirectly; this must not hang).
	for k, err := range c.Keys(nil) {
		if err != nil || string(k) != "a" {
			t.Errorf("first key %q, %v", k, err)
		}
		break
	}
	// Memory and disk together: each key once.
	if err := c.Clear(true); err != nil {
		t.Fatal(err)
	}
	wantValue(t, c, "b", "b")
	if got := keysOf(t, c, ""); len(got) != 7 {
		t.Errorf("after Clear(true): %q", got)
	}
}

func TestKeysWhileChanging(t *testing.T) {
	c := open(t, Options{})
	for _, k := range []string{"k1", "k2", "k3", "k4"} {
		mustPut(t, c, k, k)
	}
	if err := c.Put([]byte("gone"), []byte("x"), time.Millisecond); err != nil {
		t.Fatal(err)
	}
	waitExpired(t, c, "gone")
	if err := c.Remove([]byte("k2")); err != nil {
		t.Fatal(err)
	}
	if got := keysOf(t, c, ""); !slices.Equal(got, []string{"k1", "k3", "k4"}) {
		t.Errorf("Keys = %q", got)
	}
	if n, b, _ := c.Count(nil); n != 3 || b != 6 {
		t.Errorf("Count = %d, %d", n, b)
	}
	var got []string
	for k, err := range c.Keys(nil) {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, string(k))
		if string(k) == "k1" {
			// Removed before the iteration reaches it: skipped.
			if err := c.Remove([]byte("k3")); err != nil {
				t.Fatal(err)
			}
			mustPut(t, c, "k0", "new") // before k1: not reached
		}
	}
	if !slices.Equal(got, []string{"k1", "k4"}) {
		t.Errorf("Keys while changing = %q", got)
	}
}

func TestKeysAfterClose(t *testing.T) {
	c, err := Open(Options{})
	if err != nil {
		t.Fatal(err)
	}
	mustPut(t, c, "a", "1")
	mustPut(t, c, "b", "2")
	var keys []string
	var errs []error
	for k, err := range c.Keys(nil) {
		if err != nil {
			errs = append(errs, err)
			continue
		}
		keys = append(keys, string(k))
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if !slices.Equal(keys, []string{"a"}) || len(errs) != 1 || !errors.Is(errs[0], ErrClosed) {
		t.Errorf("keys %q, errors %v", keys, errs)
	}
	n := 0
	for k, err := range c.Keys(nil) {
		n++
		if k != nil || !errors.Is(err, ErrClosed) {
			t.Errorf("Keys after Close: %q, %v", k, err)
		}
	}
	if n != 1 {
		t.Errorf("Keys after Close yielded %d pairs", n)
	}
	_, _, err = c.Count(nil)
	wantErr(t, err, ErrClosed)
	_, err = c.Info([]byte("a"))
	wantErr(t, err, ErrClosed)
	wantErr(t, c.Touch([]byte("a"), 0), ErrClosed)
	wantErr(t, c.PutMany(nil, nil, 0), ErrClosed)
	if _, errs := c.GetMany([][]byte{[]byte("a")}); !errors.Is(errs[0], ErrClosed) {
		t.Errorf("GetMany after Close: %v", errs)
	}
	_, err = c.GetOrLoad(context.Background(), []byte("a"), func(context.Context) ([]byte, time.Duration, error) {
		return []byte("v"), 0, nil
	})
	wantErr(t, err, ErrClosed)
}

func TestGetManyPutMany(t *testing.T) {
	dir := t.TempDir()
	c := open(t, Options{Dir: dir})
	keys := [][]byte{[]byte("a"), []byte("b"), []byte("c")}
	if err := c.PutMany(keys, [][]byte{[]byte("1"), nil, []byte("333")}, time.Minute); err != nil {
		t.Fatal(err)
	}
	if info, _ := c.Info([]byte("c")); info.ExpiresAt.IsZero() {
		t.Errorf("PutMany's TTL not applied: %+v", info)
	}
	vals, errs := c.GetMany([][]byte{[]byte("c"), []byte("missing"), nil, []byte("a"), []byte("b")})
	if string(vals[0]) != "333" || errs[0] != nil {
		t.Errorf("c: %q %v", vals[0], errs[0])
	}
	if vals[1] != nil || !errors.Is(errs[1], ErrNotFound) {
		t.Errorf("missing: %q %v", vals[1], errs[1])
	}
	if vals[2] != nil || !errors.Is(errs[2], ErrInvalidArgument) {
		t.Errorf("empty key: %q %v", vals[2], errs[2])
	}
	if string(vals[3]) != "1" || errs[3] != nil || vals[4] == nil || len(vals[4]) != 0 || errs[4] != nil {
		t.Errorf("a, b: %q %v %q %v", vals[3], errs[3], vals[4], errs[4])
	}
	if v, e := c.GetMany(nil); len(v) != 0 || len(e) != 0 {
		t.Errorf("GetMany(nil) = %v, %v", v, e)
	}
	if err := c.PutMany(nil, nil, 0); err != nil {
		t.Errorf("PutMany(nil): %v", err)
	}
	wantErr(t, c.PutMany(keys, keys[:2], 0), ErrInvalidArgument)
	wantErr(t, c.PutMany(keys, keys, -1), ErrInvalidArgument)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	again := open(t, Options{Dir: dir})
	wantValue(t, again, "c", "333")
}

// TestGetManyValuesLargerThanTheBuffer: values that do not fit together in
// the batch buffer (64 KiB to begin with) come back whole, in key order with
// the small ones, each key read once per batch; appending to one value never
// writes into the next (they share one allocation).
func TestGetManyValuesLargerThanTheBuffer(t *testing.T) {
	c := open(t, Options{})
	var keys, want [][]byte
	for i := 0; i < 4; i++ {
		keys = append(keys, []byte(fmt.Sprintf("big%d", i)), []byte(fmt.Sprintf("small%d", i)))
		want = append(want, bytes.Repeat([]byte{byte(i)}, 50_000+i), bytes.Repeat([]byte{byte('A' + i)}, 10))
	}
	if err := c.PutMany(keys, want, 0); err != nil {
		t.Fatal(err)
	}
	before, _ := c.Stats()
	for pass := 0; pass < 3; pass++ { // the buffer grows after the first
		vals, errs := c.GetMany(append(keys, []byte("absent")))
		for i := range keys {
			if errs[i] != nil || !bytes.Equal(vals[i], want[i]) || len(vals[i]) != cap(vals[i]) {
				t.Fatalf("pass %d key %s: %d bytes (cap %d), %v", pass, keys[i], len(vals[i]), cap(vals[i]), errs[i])
			}
		}
		if !errors.Is(errs[len(keys)], ErrNotFound) {
			t.Fatalf("absent: %v", errs[len(keys)])
		}
		_ = append(vals[1], 'x') // must not overwrite vals[2]
		if !bytes.Equal(vals[2], want[2]) {
			t.Fatal("appending to a value wrote into the next")
		}
	}
	after, _ := c.Stats()
	if got := after.L1Hits - before.L1Hits; got != 3*uint64(len(keys)) {
		t.Errorf("%d L1 hits for 3 batches of %d keys", got, len(keys))
	}
}

// TestGetManyLoadedValuesThatDoNotFit: a loaded value that does not fit in
// the batch buffer is returned as it was loaded, not asked for again, even
// when the cache cannot keep it.
func TestGetManyLoadedValuesThatDoNotFit(t *testing.T) {
	var mu sync.Mutex
	calls := map[string]int{}
	c := open(t, Options{L1MaxBytes: 64 << 10})
	c.SetLoader(func(k []byte) ([]byte, error) {
		mu.Lock()
		calls[string(k)]++
		mu.Unlock()
		return bytes.Repeat(k, 30_000), nil
	})
	keys := [][]byte{[]byte("a"), []byte("bb"), []byte("ccc")}
	vals, errs := c.GetMany(keys)
	for i, k := range keys {
		if errs[i] != nil || !bytes.Equal(vals[i], bytes.Repeat(k, 30_000)) {
			t.Errorf("%s: %d bytes, %v", k, len(vals[i]), errs[i])
		}
		if calls[string(k)] != 1 {
			t.Errorf("%s loaded %d times", k, calls[string(k)])
		}
	}
}

func TestPutManyStopsAtFirstFailure(t *testing.T) {
	c := open(t, Options{MaxValueSize: 4})
	err := c.PutMany([][]byte{[]byte("first"), []byte("second"), []byte("third")},
		[][]byte{[]byte("ok"), []byte("too long"), []byte("ok")}, 0)
	wantErr(t, err, ErrTooLarge)
	var e *Error
	if !errors.As(err, &e) || !bytes.Contains([]byte(e.Msg), []byte("1")) {
		t.Errorf("error does not name the pair: %v", err)
	}
	wantValue(t, c, "first", "ok")
	for _, k := range []string{"second", "third"} {
		if ok, _ := c.Contains([]byte(k)); ok {
			t.Errorf("%s was stored", k)
		}
	}
}

func TestGetManyLoader(t *testing.T) {
	c := open(t, Options{})
	mustPut(t, c, "here", "H")
	boom := errors.New("boom")
	if err := c.SetLoader(func(k []byte) ([]byte, error) {
		switch string(k) {
		case "none":
			return nil, ErrNotFound
		case "fail":
			return nil, boom
		case "panic":
			panic("loader panic")
		}
		return append([]byte("L:"), k...), nil
	}); err != nil {
		t.Fatal(err)
	}
	vals, errs := c.GetMany([][]byte{[]byte("here"), []byte("there"), []byte("none"), []byte("panic"), []byte("fail")})
	if string(vals[0]) != "H" || string(vals[1]) != "L:there" || errs[0] != nil || errs[1] != nil {
		t.Errorf("hits: %q %v", vals[:2], errs[:2])
	}
	wantErr(t, errs[2], ErrNotFound)
	wantErr(t, errs[3], ErrLoaderFailed)
	wantErr(t, errs[4], ErrLoaderFailed)
	if !errors.Is(errs[4], boom) {
		t.Errorf("the last failed load's cause: %v", errs[4])
	}
}

func TestGetOrLoad(t *testing.T) {
	c := open(t, Options{Dir: t.TempDir()})
	var cacheLoads atomic.Int32
	if err := c.SetLoader(func(k []byte) ([]byte, error) { cacheLoads.Add(1); return []byte("cache"), nil }); err != nil {
		t.Fatal(err)
	}
	calls := 0
	fn := func(ctx context.Context) ([]byte, time.Duration, error) {
		calls++
		return []byte("mine"), time.Hour, nil
	}
	ctx := context.Background()
	for i := 0; i < 2; i++ {
		v, err := c.GetOrLoad(ctx, []byte("k"), fn)
		if err != nil || string(v) != "mine" {
			t.Fatalf("GetOrLoad = %q, %v", v, err)
		}
	}
	if calls != 1 || cacheLoads.Load() != 0 {
		t.Errorf("calls %d, cache loads %d", calls, cacheLoads.Load())
	}
	if info, _ := c.Info([]byte("k")); info.ExpiresAt.IsZero() {
		t.Errorf("the TTL fn gave was not applied: %+v", info)
	}
	wantValue(t, c, "k", "mine")
	mustPut(t, c, "p", "put")
	if v, _ := c.GetOrLoad(ctx, []byte("p"), fn); string(v) != "put" || calls != 1 {
		t.Errorf("present key: %q, calls %d", v, calls)
	}
	// Empty values are values.
	v, err := c.GetOrLoad(ctx, []byte("empty"), func(context.Context) ([]byte, time.Duration, error) { return nil, 0, nil })
	if err != nil || v == nil || len(v) != 0 {
		t.Errorf("empty: %q, %v", v, err)
	}
	_, err = c.GetOrLoad(ctx, []byte("nf"), func(context.Context) ([]byte, time.Duration, error) {
		return nil, 0, fmt.Errorf("lookup: %w", ErrNotFound)
	})
	wantErr(t, err, ErrNotFound)
	boom := errors.New("boom")
	_, err = c.GetOrLoad(ctx, []byte("fail"), func(context.Context) ([]byte, time.Duration, error) { return nil, 0, boom })
	wantErr(t, err, ErrLoaderFailed)
	wantErr(t, err, boom)
	_, err = c.GetOrLoad(ctx, []byte("panic"), func(context.Context) ([]byte, time.Duration, error) { panic("oops") })
	wantErr(t, err, ErrLoaderFailed)
	var lp *LoaderPanic
	if !errors.As(err, &lp) || lp.Value != "oops" {
		t.Errorf("panic: %v", err)
	}
	_, err = c.GetOrLoad(ctx, []byte("neg"), func(context.Context) ([]byte, time.Duration, error) { return []byte("v"), -1, nil })
	wantErr(t, err, ErrLoaderFailed)
	for _, k := range []string{"nf", "fail", "panic", "neg"} {
		if ok, _ := c.Contains([]byte(k)); ok {
			t.Errorf("%s was stored", k)
		}
	}
	_, err = c.GetOrLoad(ctx, []byte("x"), nil)
	wantErr(t, err, ErrInvalidArgument)
	_, err = c.GetOrLoad(ctx, nil, fn)
	wantErr(t, err, ErrInvalidArgument)
}

type ctxKey struct{}

// A cancelled caller gets ctx.Err() at once; the load it started keeps
// running for another caller, which gets its answer; fn runs once and sees
// the caller's values but not its cancellation.
func TestGetOrLoadCancelKeepsTheFlight(t *testing.T) {
	c := open(t, Options{})
	started := make(chan struct{})
	release := make(chan struct{})
	var calls atomic.Int32
	var sawCancel atomic.Bool
	var sawValue atomic.Bool
	slow := func(ctx context.Context) ([]byte, time.Duration, error) {
		calls.Add(1)
		sawValue.Store(ctx.Value(ctxKey{}) == "v")
		close(started)
		<-release
		sawCancel.Store(ctx.Err() != nil)
		return []byte("answer"), 0, nil
	}
	ctx, cancel := context.WithCancel(context.WithValue(context.Background(), ctxKey{}, "v"))
	firstErr := make(chan error, 1)
	go func() {
		_, err := c.GetOrLoad(ctx, []byte("k"), slow)
		firstErr <- err
	}()
	<-started
	second := make(chan []byte, 1)
	var secondCalls atomic.Int32
	go func() {
		v, err := c.GetOrLoad(context.Background(), []byte("k"), func(context.Context) ([]byte, time.Duration, error) {
			secondCalls.Add(1)
			return []byte("second"), 0, nil
		})
		if err != nil {
			t.Errorf("second caller: %v", err)
		}
		second <- v
	}()
	cancel()
	select {
	case err := <-firstErr:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("cancelled caller got %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the cancelled caller did not return")
	}
	close(release)
	if v := <-second; string(v) != "answer" {
		t.Errorf("second caller got %q, want the first load's answer", v)
	}
	if calls.Load() != 1 || secondCalls.Load() != 0 {
		t.Errorf("loads: first fn %d, second fn %d", calls.Load(), secondCalls.Load())
	}
	if sawCancel.Load() || !sawValue.Load() {
		t.Errorf("fn's context: cancelled %v, had the value %v", sawCancel.Load(), sawValue.Load())
	}
	wantValue(t, c, "k", "answer")
	// A context done before the call: fn is not called.
	_, err := c.GetOrLoad(ctx, []byte("other"), slow)
	wantErr(t, err, context.Canceled)
	if calls.Load() != 1 {
		t.Errorf("fn ran for a done context")
	}
}

// One load for many goroutines, whether they come through Get (the cache's
// loader) or GetOrLoad.
func TestGetOrLoadSingleFlightWithTheCacheLoader(t *testing.T) {
	c := open(t, Options{})
	started := make(chan struct{})
	var loads atomic.Int32
	if err := c.SetLoader(func(k []byte) ([]byte, error) {
		if loads.Add(1) == 1 {
			close(started)
		}
		time.Sleep(200 * time.Millisecond)
		return []byte("from the cache's loader"), nil
	}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	results := make([]string, 9)
	wg.Add(1)
	go func() {
		defer wg.Done()
		v, err := c.Get([]byte("shared"))
		if err != nil {
			t.Error(err)
		}
		results[0] = string(v)
	}()
	<-started
	var mine atomic.Int32
	for i := 1; i < 9; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			v, err := c.GetOrLoad(context.Background(), []byte("shared"), func(context.Context) ([]byte, time.Duration, error) {
				mine.Add(1)
				return []byte("mine"), 0, nil
			})
			if err != nil {
				t.Error(err)
			}
			results[i] = string(v)
		}(i)
	}
	wg.Wait()
	for i, r := range results {
		if r != "from the cache's loader" {
			t.Errorf("caller %d got %q", i, r)
		}
	}
	if loads.Load() != 1 || mine.Load() != 0 {
		t.Errorf("cache loads %d, GetOrLoad fns %d", loads.Load(), mine.Load())
	}
}

func ExampleCache_Keys() {
	c, _ := Open(Options{})
	defer c.Close()
	for _, k := range []string{"user:2", "user:1", "session:9"} {
		c.Put([]byte(k), []byte("v"), 0)
	}
	for key, err := range c.Keys([]byte("user:")) {
		if err != nil {
			fmt.Println("error:", err)
			break
		}
		fmt.Println(string(key))
	}
	// Output:
	// user:1
	// user:2
}

func ExampleCache_GetOrLoad() {
	c, _ := Open(Options{})
	defer c.Close()
	render := func(ctx context.Context) ([]byte, time.Duration, error) {
		return []byte("<p>expensive</p>"), time.Hour, nil
	}
	v, err := c.GetOrLoad(context.Background(), []byte("page:/"), render)
	fmt.Println(string(v), err)
	// Output: <p>expensive</p> <nil>
}
