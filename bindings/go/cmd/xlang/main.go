// Command xlang is the Go half of the cross-language directory test
// (tests/vectors/README.md): one language writes a cache directory, every
// other language reads it back.
//
//	xlang write DIR    put every entry of xlang.json (TTL 0), put then remove
//	                   each removed_hex key, close
//	xlang verify DIR   reopen with an L1 of 1 entry (so values come from
//	                   disk), check every value byte for byte and that each
//	                   removed key is not found; one line per mismatch
//
// It exits 0 on success, 1 on a mismatch or error, 2 on bad usage. The data
// set is found with -data, else $TIERCACHE_XLANG_JSON, else by looking for
// tests/vectors/xlang.json above the working directory and above this
// source file.
package main

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"

	tiercache "github.com/tiercache/tiercache/bindings/go"
)

type dataSet struct {
	Entries []struct {
		KeyHex   string   `json:"key_hex"`
		ValueHex string   `json:"value_hex"`
		TagsHex  []string `json:"tags_hex"`
	} `json:"entries"`
	RemovedHex []string `json:"removed_hex"`
}

func main() {
	dataPath := flag.String("data", os.Getenv("TIERCACHE_XLANG_JSON"), "path of xlang.json")
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: xlang [-data xlang.json] write|verify DIR")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() != 2 || (flag.Arg(0) != "write" && flag.Arg(0) != "verify") {
		flag.Usage()
		os.Exit(2)
	}
	ds, err := load(*dataPath)
	if err != nil {
		fail(err)
	}
	mode, dir := flag.Arg(0), flag.Arg(1)
	if mode == "write" {
		err = write(dir, ds)
	} else {
		err = verify(dir, ds)
	}
	if err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "xlang:", err)
	os.Exit(1)
}

func write(dir string, ds *dataSet) error {
	c, err := tiercache.Open(tiercache.Options{Dir: dir})
	if err != nil {
		return err
	}
	defer c.Close()
	for _, e := range ds.Entries {
		var opts tiercache.PutOptions
		for _, t := range e.TagsHex {
			opts.Tags = append(opts.Tags, string(unhex(t)))
		}
		if err := c.PutWith(unhex(e.KeyHex), unhex(e.ValueHex), opts); err != nil {
			return err
		}
	}
	for _, k := range ds.RemovedHex {
		if err := c.Put(unhex(k), []byte("to be removed"), 0); err != nil {
			return err
		}
		if err := c.Remove(unhex(k)); err != nil {
			return err
		}
	}
	// Close flushes too, but only Flush can report a failure.
	return c.Flush()
}

func verify(dir string, ds *dataSet) error {
	c, err := tiercache.Open(tiercache.Options{Dir: dir, L1MaxEntries: 1})
	if err != nil {
		return err
	}
	defer c.Close()
	bad := 0
	for _, e := range ds.Entries {
		got, err := c.Get(unhex(e.KeyHex))
		switch {
		case err != nil:
			fmt.Printf("key %s: %v\n", e.KeyHex, err)
			bad++
		case !bytes.Equal(got, unhex(e.ValueHex)):
			fmt.Printf("key %s: value %x, want %s\n", e.KeyHex, got, e.ValueHex)
			bad++
		}
		if info, err := c.Info(unhex(e.KeyHex)); err != nil || info.TagCount != uint32(len(e.TagsHex)) {
			fmt.Printf("key %s: tag count %d (%v), want %d\n", e.KeyHex, info.TagCount, err, len(e.TagsHex))
			bad++
		}
	}
	for _, k := range ds.RemovedHex {
		if _, err := c.Get(unhex(k)); !errors.Is(err, tiercache.ErrNotFound) {
			fmt.Printf("removed key %s: got %v, want TC_NOT_FOUND\n", k, err)
			bad++
		}
	}
	if bad > 0 {
		return fmt.Errorf("%d mismatches", bad)
	}
	return nil
}

func unhex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		fail(fmt.Errorf("bad hex in data set: %q", s))
	}
	return b
}

func load(path string) (*dataSet, error) {
	if path == "" {
		path = findDataSet()
	}
	if path == "" {
		return nil, errors.New("cannot find tests/vectors/xlang.json; pass -data")
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var ds dataSet
	if err := json.Unmarshal(raw, &ds); err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	if len(ds.Entries) == 0 {
		return nil, fmt.Errorf("%s: no entries", path)
	}
	return &ds, nil
}

// findDataSet looks for tests/vectors/xlang.json in the working directory
// and its parents, then in the parents of this source file (right for
// `go run` and binaries built in the repository).
func findDataSet() string {
	var starts []string
	if wd, err := os.Getwd(); err == nil {
		starts = append(starts, wd)
	}
	if _, file, _, ok := runtime.Caller(0); ok {
		starts = append(starts, filepath.Dir(file))
	}
	for _, d := range starts {
		for {
			p := filepath.Join(d, "tests", "vectors", "xlang.json")
			if _, err := os.Stat(p); err == nil {
				return p
			}
			parent := filepath.Dir(d)
			if parent == d {
				break
			}
			d = parent
		}
	}
	return ""
}
