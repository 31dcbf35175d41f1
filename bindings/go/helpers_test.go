package tiercache

import (
	"errors"
	"testing"
)

// open opens a cache for a test and closes it when the test ends.
func open(t testing.TB, opts Options) *Cache {
	t.Helper()
	c, err := Open(opts)
	if err != nil {
		t.Fatalf("Open(%+v): %v", opts, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func mustPut(t testing.TB, c *Cache, k, v string) {
	t.Helper()
	if err := c.Put([]byte(k), []byte(v), 0); err != nil {
		t.Fatalf("Put(%q): %v", k, err)
	}
}

func wantValue(t testing.TB, c *Cache, k, want string) {
	t.Helper()
	got, err := c.Get([]byte(k))
	if err != nil {
		t.Fatalf("Get(%q): %v", k, err)
	}
	if string(got) != want {
		t.Fatalf("Get(%q) = %q, want %q", k, got, want)
	}
}

func wantErr(t testing.TB, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("error %v, want one matching %v", err, target)
	}
}
