package tiercache

import (
	"bytes"
	"errors"
	"testing"
)

func TestGetValue(t *testing.T) {
	dir := t.TempDir()
	// Memory far smaller than the big value: its disk hit is the segment's map.
	c := open(t, Options{Dir: dir, L1MaxEntries: 16, L1MaxBytes: 64 << 10})
	if _, err := c.GetValue([]byte("absent")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("GetValue(absent) = %v, want ErrNotFound", err)
	}
	if _, err := c.GetValue(nil); err == nil {
		t.Fatal("GetValue(nil key) succeeded")
	}
	big := make([]byte, 300_000)
	for i := range big {
		big[i] = byte(i % 251)
	}
	putB(t, c, "big", big)
	putB(t, c, "small", []byte("s1"))
	putB(t, c, "empty", []byte{})
	if err := c.Flush(); err != nil {
		t.Fatal(err)
	}
	vb, err := c.GetValue([]byte("big"))
	if err != nil {
		t.Fatal(err)
	}
	vs, err := c.GetValue([]byte("small"))
	if err != nil {
		t.Fatal(err)
	}
	ve, err := c.GetValue([]byte("empty"))
	if err != nil || ve.Len() != 0 || ve.Bytes() == nil {
		t.Fatalf("empty: %v %v", ve, err)
	}
	ve.Release()
	// Overwritten, removed, cleared (the segment files deleted), closed: the
	// values still read as they were.
	putB(t, c, "small", []byte("s2"))
	if err := c.Remove([]byte("big")); err != nil {
		t.Fatal(err)
	}
	if err := c.Clear(false); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(vb.Bytes(), big) || vb.Len() != len(big) {
		t.Fatal("the big value changed")
	}
	if string(vs.Bytes()) != "s1" {
		t.Fatalf("small = %q", vs.Bytes())
	}
	vb.Release()
	vb.Release() // idempotent
	vs.Release()
	if vb.Bytes() != nil {
		t.Fatal("Bytes after Release")
	}
}

func putB(t *testing.T, c *Cache, k string, v []byte) {
	t.Helper()
	if err := c.Put([]byte(k), v, 0); err != nil {
		t.Fatal(err)
	}
}
