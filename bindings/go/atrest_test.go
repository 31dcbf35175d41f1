package tiercache

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var testKey = []byte("go binding test key of 32 bytes!")

// TestCompressionAndEncryption writes through the Go options with each codec
// and a key, checks that nothing readable reaches the directory, that the
// values read back after a restart, and what the counters say.
func TestCompressionAndEncryption(t *testing.T) {
	for _, comp := range []Compression{CompressionNone, CompressionLZ4, CompressionZstd} {
		dir := t.TempDir()
		opts := Options{Dir: dir, Compression: comp, CompressMinSize: 1, EncryptionKey: testKey}
		c := open(t, opts)
		value := strings.Repeat("a secret and very repetitive value; ", 50)
		for i := 0; i < 20; i++ {
			mustPut(t, c, "secret-key-"+string(rune('a'+i)), value)
		}
		saved, err := c.Counter("compressed_bytes_saved")
		if err != nil || (saved > 0) != (comp != CompressionNone) {
			t.Fatalf("%v: compressed_bytes_saved = %d, %v", comp, saved, err)
		}
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
		files, _ := filepath.Glob(filepath.Join(dir, "*"))
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			if bytes.Contains(b, []byte("secret")) {
				t.Fatalf("%v: %s holds plaintext", comp, f)
			}
		}
		c = open(t, Options{Dir: dir, EncryptionKey: testKey})
		wantValue(t, c, "secret-key-c", value)
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
		// Without the key, or with another: a clear error at Open.
		for _, key := range [][]byte{nil, bytes.Repeat([]byte{1}, 32)} {
			_, err := Open(Options{Dir: dir, EncryptionKey: key})
			wantErr(t, err, ErrInvalidArgument)
		}
	}
}

func TestBadAtRestOptions(t *testing.T) {
	for _, opts := range []Options{
		{EncryptionKey: []byte("short")},
		{EncryptionKey: []byte{}},
		{EncryptionKey: make([]byte, 33)},
		{Compression: Compression(7)},
	} {
		_, err := Open(opts)
		wantErr(t, err, ErrInvalidArgument)
		var e *Error
		if !errors.As(err, &e) || e.Msg == "" {
			t.Fatalf("%+v: %v carries no message", opts, err)
		}
	}
	_, err := Open(Options{Compression: CompressionLZ4, CompressMinSize: -1})
	wantErr(t, err, ErrInvalidArgument) // a negative CompressMinSize
}
