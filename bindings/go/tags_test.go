package tiercache

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func tagCount(t *testing.T, c *Cache, k string) uint32 {
	t.Helper()
	info, err := c.Info([]byte(k))
	if err != nil {
		t.Fatalf("Info(%q): %v", k, err)
	}
	return info.TagCount
}

func TestPutWithTagsAndRemoveTag(t *testing.T) {
	dir := t.TempDir()
	c := open(t, Options{Dir: dir})
	if err := c.PutWith([]byte("u1"), []byte("a"), PutOptions{Tags: []string{"user:1", "users"}}); err != nil {
		t.Fatal(err)
	}
	if err := c.PutWith([]byte("u2"), []byte("b"), PutOptions{Tags: []string{"users"}, TTL: time.Hour}); err != nil {
		t.Fatal(err)
	}
	if err := c.PutWith([]byte("plain"), []byte("p"), PutOptions{}); err != nil {
		t.Fatal(err)
	}
	if n := tagCount(t, c, "u1"); n != 2 {
		t.Fatalf("u1 tag count %d, want 2", n)
	}
	if n := tagCount(t, c, "plain"); n != 0 {
		t.Fatalf("plain tag count %d, want 0", n)
	}
	info, _ := c.Info([]byte("u2"))
	if info.ExpiresAt.IsZero() {
		t.Fatal("u2: the TTL of PutOptions was not applied")
	}

	n, err := c.RemoveTag("user:1")
	if err != nil || n != 1 {
		t.Fatalf("RemoveTag(user:1) = %d, %v; want 1", n, err)
	}
	if _, err := c.Get([]byte("u1")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("u1 after RemoveTag: %v", err)
	}
	wantValue(t, c, "u2", "b")
	if n, err := c.RemoveTag("nobody"); err != nil || n != 0 {
		t.Fatalf("RemoveTag(nobody) = %d, %v", n, err)
	}
	// Persistently: close, reopen, the tag index is rebuilt from disk.
	if err := c.PutWith([]byte("u3"), []byte("c"), PutOptions{Tags: []string{"users", "\x00bin\xff"}}); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	c = open(t, Options{Dir: dir})
	if n := tagCount(t, c, "u3"); n != 2 {
		t.Fatalf("u3 tag count after reopen %d, want 2", n)
	}
	if _, err := c.Get([]byte("u1")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("u1 came back after reopen: %v", err)
	}
	if n, err := c.RemoveTag("users"); err != nil || n != 2 {
		t.Fatalf("RemoveTag(users) = %d, %v; want 2", n, err)
	}
	wantValue(t, c, "plain", "p")
}

func TestTagLimits(t *testing.T) {
	c := open(t, Options{})
	k, v := []byte("k"), []byte("v")
	wantErr(t, c.PutWith(k, v, PutOptions{Tags: []string{""}}), ErrInvalidArgument)
	wantErr(t, c.PutWith(k, v, PutOptions{Tags: []string{strings.Repeat("x", 256)}}), ErrTooLarge)
	wantErr(t, c.PutWith(k, v, PutOptions{TTL: -time.Second, Tags: []string{"t"}}), ErrInvalidArgument)
	if ok, _ := c.Contains(k); ok {
		t.Fatal("a refused PutWith stored something")
	}
	var tags []string
	for i := 0; i < 32; i++ {
		tags = append(tags, strings.Repeat("t", i+1))
	}
	tags = append(tags, tags[0]) // a repeat counts once
	if err := c.PutWith(k, v, PutOptions{Tags: tags}); err != nil {
		t.Fatal(err)
	}
	if n := tagCount(t, c, "k"); n != 32 {
		t.Fatalf("tag count %d, want 32", n)
	}
	wantErr(t, c.PutWith(k, v, PutOptions{Tags: append(tags, "the 33rd")}), ErrTooLarge)
	_, err := c.RemoveTag("")
	wantErr(t, err, ErrInvalidArgument)
	_, err = c.RemoveTag(strings.Repeat("x", 256))
	wantErr(t, err, ErrTooLarge)
	if n, err := c.RemoveTag(strings.Repeat("t", 32)); err != nil || n != 1 {
		t.Fatalf("RemoveTag = %d, %v", n, err)
	}
}

func TestDependsOn(t *testing.T) {
	tmp := t.TempDir()
	dep := filepath.Join(tmp, "config.toml")
	if err := os.WriteFile(dep, []byte("v1"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := open(t, Options{Dir: filepath.Join(tmp, "cache")})

	missing := filepath.Join(tmp, "missing")
	err := c.PutWith([]byte("k"), []byte("v"), PutOptions{DependsOn: missing})
	wantErr(t, err, ErrInvalidArgument)
	if !strings.Contains(err.Error(), missing) {
		t.Fatalf("error %q does not name the path", err)
	}
	wantErr(t, c.PutWith([]byte("k"), []byte("v"), PutOptions{DependsOn: "a\x00b"}), ErrInvalidArgument)

	if err := c.PutWith([]byte("cfg"), []byte("parsed v1"), PutOptions{DependsOn: dep}); err != nil {
		t.Fatal(err)
	}
	wantValue(t, c, "cfg", "parsed v1")
	before, err := c.Counter("dependency_misses")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dep, []byte("version 2, longer"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Get([]byte("cfg")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get after the file changed: %v, want ErrNotFound", err)
	}
	if after, _ := c.Counter("dependency_misses"); after < before+1 {
		t.Fatalf("dependency_misses %d -> %d", before, after)
	}

	// With a loader, the stale entry is loaded again.
	if err := c.PutWith([]byte("cfg"), []byte("parsed v2"), PutOptions{DependsOn: dep}); err != nil {
		t.Fatal(err)
	}
	var calls atomic.Int32
	if err := c.SetLoader(func(k []byte) ([]byte, error) {
		calls.Add(1)
		return []byte("loaded " + string(k)), nil
	}); err != nil {
		t.Fatal(err)
	}
	wantValue(t, c, "cfg", "parsed v2")
	if err := os.Remove(dep); err != nil {
		t.Fatal(err)
	}
	wantValue(t, c, "cfg", "loaded cfg")
	if calls.Load() != 1 {
		t.Fatalf("loader called %d times, want 1", calls.Load())
	}
}

func TestLoaderWithOptions(t *testing.T) {
	tmp := t.TempDir()
	dep := filepath.Join(tmp, "dep")
	if err := os.WriteFile(dep, []byte("1"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := open(t, Options{Dir: filepath.Join(tmp, "cache")})
	var calls atomic.Int32
	if err := c.SetLoaderWithOptions(func(k []byte) ([]byte, PutOptions, error) {
		calls.Add(1)
		switch string(k) {
		case "bad":
			return []byte("x"), PutOptions{Tags: []string{""}}, nil
		case "none":
			return nil, PutOptions{}, ErrNotFound
		}
		return []byte("v:" + string(k)), PutOptions{TTL: time.Hour, Tags: []string{"loaded", string(k)}, DependsOn: dep}, nil
	}); err != nil {
		t.Fatal(err)
	}
	wantValue(t, c, "a", "v:a")
	wantValue(t, c, "b", "v:b")
	if n := tagCount(t, c, "a"); n != 2 {
		t.Fatalf("tag count %d, want 2", n)
	}
	_, err := c.Get([]byte("bad"))
	wantErr(t, err, ErrLoaderFailed)
	wantErr(t, err, ErrInvalidArgument) // the cause: the empty tag
	_, err = c.Get([]byte("none"))
	wantErr(t, err, ErrNotFound)

	if n, err := c.RemoveTag("a"); err != nil || n != 1 {
		t.Fatalf("RemoveTag(a) = %d, %v", n, err)
	}
	if n, err := c.RemoveTag("loaded"); err != nil || n != 1 {
		t.Fatalf("RemoveTag(loaded) = %d, %v", n, err)
	}
	before := calls.Load()
	wantValue(t, c, "a", "v:a") // removed: loaded again
	if calls.Load() != before+1 {
		t.Fatal("the loader was not asked again after RemoveTag")
	}
	// The loaded entry depends on the file too.
	if err := os.WriteFile(dep, []byte("22"), 0o600); err != nil {
		t.Fatal(err)
	}
	wantValue(t, c, "a", "v:a")
	if calls.Load() != before+2 {
		t.Fatal("the loader was not asked again after the dependency changed")
	}
	// The plain Loader API keeps working and replaces it.
	if err := c.SetLoader(func(k []byte) ([]byte, error) { return []byte("plain"), nil }); err != nil {
		t.Fatal(err)
	}
	wantValue(t, c, "z", "plain")
	if n := tagCount(t, c, "z"); n != 0 {
		t.Fatalf("tag count %d, want 0", n)
	}
}

func TestGetOrLoadWith(t *testing.T) {
	c := open(t, Options{})
	ctx := context.Background()
	v, err := c.GetOrLoadWith(ctx, []byte("m"), func(context.Context) ([]byte, PutOptions, error) {
		return []byte("memo"), PutOptions{Tags: []string{"reports"}}, nil
	})
	if err != nil || string(v) != "memo" {
		t.Fatalf("GetOrLoadWith = %q, %v", v, err)
	}
	if n := tagCount(t, c, "m"); n != 1 {
		t.Fatalf("tag count %d, want 1", n)
	}
	if n, err := c.RemoveTag("reports"); err != nil || n != 1 {
		t.Fatalf("RemoveTag = %d, %v", n, err)
	}
	_, err = c.GetOrLoadWith(ctx, []byte("m"), func(context.Context) ([]byte, PutOptions, error) {
		return []byte("x"), PutOptions{Tags: []string{strings.Repeat("x", 300)}}, nil
	})
	wantErr(t, err, ErrTooLarge)
	_, err = c.GetOrLoadWith(ctx, []byte("m"), nil)
	wantErr(t, err, ErrInvalidArgument)
	// The old GetOrLoad is unchanged.
	v, err = c.GetOrLoad(ctx, []byte("m"), func(context.Context) ([]byte, time.Duration, error) {
		return []byte("old"), 0, nil
	})
	if err != nil || string(v) != "old" {
		t.Fatalf("GetOrLoad = %q, %v", v, err)
	}
}

func TestTagsAfterClose(t *testing.T) {
	c, err := Open(Options{})
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	wantErr(t, c.PutWith([]byte("k"), []byte("v"), PutOptions{Tags: []string{"t"}}), ErrClosed)
	_, err = c.RemoveTag("t")
	wantErr(t, err, ErrClosed)
}
