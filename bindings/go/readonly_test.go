package tiercache

import (
	"errors"
	"path/filepath"
	"testing"
)

// ReadOnly opens a directory without changing it: reads work, writes fail.
func TestReadOnly(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "c")
	c, err := Open(Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Put([]byte("k"), []byte("v"), 0); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	ro, err := Open(Options{Dir: dir, ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	if v, err := ro.Get([]byte("k")); err != nil || string(v) != "v" {
		t.Fatalf("Get = %q, %v", v, err)
	}
	if err := ro.Put([]byte("x"), []byte("y"), 0); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("Put on a read-only cache: %v, want ErrInvalidArgument", err)
	}
	if _, err := Open(Options{Dir: filepath.Join(t.TempDir(), "missing"), ReadOnly: true}); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("read-only open of a missing dir: %v", err)
	}
}
