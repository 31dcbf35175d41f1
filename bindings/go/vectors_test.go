package tiercache

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// The shared test vectors (tests/vectors/README.md): the same cases the Rust,
// C, C++ and Python suites run, so every language is held to the same
// outcomes. Every op of the format is expressible in Go, so none is skipped.

type vectorFile struct {
	Version int          `json:"version"`
	Cases   []vectorCase `json:"cases"`
}

type vectorCase struct {
	Name    string `json:"name"`
	Options *struct {
		Dir          bool   `json:"dir"`
		DefaultTTLMs int64  `json:"default_ttl_ms"`
		L1MaxEntries int64  `json:"l1_max_entries"`
		L1MaxBytes   int64  `json:"l1_max_bytes"`
		WritePolicy  string `json:"write_policy"`
	} `json:"options"`
	Ops []vectorOp `json:"ops"`
}

type vectorOp struct {
	Op         string  `json:"op"`
	Expect     string  `json:"expect"`
	Key        *string `json:"key"`
	KeyHex     *string `json:"key_hex"`
	Value      *string `json:"value"`
	ValueHex   *string `json:"value_hex"`
	Prefix     *string `json:"prefix"`
	PrefixHex  *string `json:"prefix_hex"`
	TTLMs      int64   `json:"ttl_ms"`
	Present    *bool   `json:"present"`
	Removed    *uint64 `json:"removed"`
	MemoryOnly bool    `json:"memory_only"`
	Ms         int64   `json:"ms"`
}

// textOrHex decodes a field given either as UTF-8 text or as hex.
func textOrHex(t *testing.T, text, hx *string) []byte {
	t.Helper()
	switch {
	case text != nil:
		return []byte(*text)
	case hx != nil:
		b, err := hex.DecodeString(*hx)
		if err != nil {
			t.Fatalf("bad hex %q: %v", *hx, err)
		}
		return b
	}
	return nil
}

// statusOf maps an error back to its tc_status.
func statusOf(err error) Status {
	var e *Error
	switch {
	case err == nil:
		return StatusOK
	case errors.As(err, &e):
		return e.Status
	}
	return Status(-1)
}

func TestVectors(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "..", "tests", "vectors", "vectors.json"))
	if err != nil {
		t.Fatal(err)
	}
	var vf vectorFile
	if err := json.Unmarshal(data, &vf); err != nil {
		t.Fatal(err)
	}
	if len(vf.Cases) == 0 {
		t.Fatal("no cases")
	}
	for _, vc := range vf.Cases {
		t.Run(vc.Name, func(t *testing.T) { runVector(t, vc) })
	}
}

func runVector(t *testing.T, vc vectorCase) {
	var opts Options
	if o := vc.Options; o != nil {
		if o.Dir {
			opts.Dir = t.TempDir()
		}
		opts.DefaultTTL = time.Duration(o.DefaultTTLMs) * time.Millisecond
		opts.L1MaxEntries = o.L1MaxEntries
		opts.L1MaxBytes = o.L1MaxBytes
		switch o.WritePolicy {
		case "", "through":
		case "back":
			opts.WritePolicy = WriteBack
		default:
			t.Fatalf("unknown write_policy %q", o.WritePolicy)
		}
	}
	c, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { c.Close() }()

	for i, op := range vc.Ops {
		key := textOrHex(t, op.Key, op.KeyHex)
		var got error
		switch op.Op {
		case "put":
			got = c.Put(key, textOrHex(t, op.Value, op.ValueHex), time.Duration(op.TTLMs)*time.Millisecond)
		case "get":
			var v []byte
			v, got = c.Get(key)
			if got == nil {
				if want := textOrHex(t, op.Value, op.ValueHex); !bytes.Equal(v, want) {
					t.Errorf("op %d get: value %q, want %q", i, v, want)
				}
			}
		case "contains":
			var present bool
			present, got = c.Contains(key)
			if got == nil && op.Present != nil && present != *op.Present {
				t.Errorf("op %d contains: present %v, want %v", i, present, *op.Present)
			}
		case "remove":
			got = c.Remove(key)
		case "remove_prefix":
			var n uint64
			// textOrHex gives nil for an absent prefix; Go passes it as empty.
			n, got = c.RemovePrefix(textOrHex(t, op.Prefix, op.PrefixHex))
			if got == nil && op.Removed != nil && n != *op.Removed {
				t.Errorf("op %d remove_prefix: removed %d, want %d", i, n, *op.Removed)
			}
		case "clear":
			got = c.Clear(op.MemoryOnly)
		case "flush":
			got = c.Flush()
		case "purge_expired":
			var n uint64
			n, got = c.PurgeExpired()
			if got == nil && op.Removed != nil && n != *op.Removed {
				t.Errorf("op %d purge_expired: removed %d, want %d", i, n, *op.Removed)
			}
		case "sleep_ms":
			time.Sleep(time.Duration(op.Ms) * time.Millisecond)
			continue
		case "reopen":
			if opts.Dir == "" {
				t.Fatalf("op %d: reopen in a case without a directory", i)
			}
			c.Close()
			if c, err = Open(opts); err != nil {
				t.Fatalf("op %d reopen: %v", i, err)
			}
			continue
		default:
			t.Fatalf("op %d: unknown op %q", i, op.Op)
		}
		if s := statusOf(got); s.Name() != op.Expect {
			t.Errorf("op %d %s: status %v (%v), want %s", i, op.Op, s, got, op.Expect)
		}
	}
}
