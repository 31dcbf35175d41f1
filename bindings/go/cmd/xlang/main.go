// Command xlang is the Go half of the cross-language directory test
// (tests/vectors/README.md): one language writes a cache directory, every
// other language reads it back.
//
//	xlang write DIR    put every entry of xlang.json (with its tags, TTL and
//	                   dependency on a file it creates in DIR-deps), put then
//	                   remove each removed_hex key, close, then change the
//	                   changed_dependencies
//	xlang verify DIR   reopen with an L1 of 1 entry (so values come from
//	                   disk), check every entry's info and value byte for
//	                   byte, that entries on a changed file and each removed
//	                   key are not found; one line per mismatch
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
	"slices"
	"time"

	tiercache "github.com/tiercache/tiercache/bindings/go"
)

type entry struct {
	KeyHex    string   `json:"key_hex"`
	ValueHex  string   `json:"value_hex"`
	TagsHex   []string `json:"tags_hex"`
	TTLMillis int64    `json:"ttl_ms"`
	DependsOn string   `json:"depends_on"`
}

type dataSet struct {
	Dependencies        map[string]string `json:"dependencies"`
	ChangedDependencies []string          `json:"changed_dependencies"`
	Entries             []entry           `json:"entries"`
	RemovedHex          []string          `json:"removed_hex"`
}

func depsDir(dir string) string { return dir + "-deps" }

// dependencyChanged: e depends on a file the writer changes after closing.
func (ds *dataSet) dependencyChanged(e entry) bool {
	return e.DependsOn != "" && slices.Contains(ds.ChangedDependencies, e.DependsOn)
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
	deps := depsDir(dir)
	if err := os.Mkdir(deps, 0o777); err != nil {
		return err
	}
	for name, text := range ds.Dependencies {
		if err := os.WriteFile(filepath.Join(deps, name), []byte(text), 0o666); err != nil {
			return err
		}
	}
	if err := fill(dir, ds); err != nil {
		return err
	}
	// Each changed dependency grows by a line: its size differs whatever the
	// file system's mtime granularity.
	for _, name := range ds.ChangedDependencies {
		f, err := os.OpenFile(filepath.Join(deps, name), os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			return err
		}
		_, err = f.WriteString("changed\n")
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// fill opens the cache on dir, writes the data set, and closes it.
func fill(dir string, ds *dataSet) error {
	c, err := tiercache.Open(tiercache.Options{Dir: dir})
	if err != nil {
		return err
	}
	defer c.Close()
	for _, e := range ds.Entries {
		opts := tiercache.PutOptions{TTL: time.Duration(e.TTLMillis) * time.Millisecond}
		for _, t := range e.TagsHex {
			opts.Tags = append(opts.Tags, string(unhex(t)))
		}
		if e.DependsOn != "" {
			opts.DependsOn = filepath.Join(depsDir(dir), e.DependsOn)
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
		key := unhex(e.KeyHex)
		// Info first: with an L1 of one entry, it comes from disk.
		info, infoErr := c.Info(key)
		got, err := c.Get(key)
		if ds.dependencyChanged(e) {
			if !errors.Is(infoErr, tiercache.ErrNotFound) || !errors.Is(err, tiercache.ErrNotFound) {
				fmt.Printf("key %s: its dependency changed: info %v, get %v, want TC_NOT_FOUND\n", e.KeyHex, infoErr, err)
				bad++
			}
			continue
		}
		switch {
		case err != nil:
			fmt.Printf("key %s: %v\n", e.KeyHex, err)
			bad++
		case !bytes.Equal(got, unhex(e.ValueHex)):
			fmt.Printf("key %s: value %x, want %s\n", e.KeyHex, got, e.ValueHex)
			bad++
		}
		if msg := checkInfo(info, infoErr, e); msg != "" {
			fmt.Printf("key %s: %s\n", e.KeyHex, msg)
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

// checkInfo compares what Info said with the entry written; "" if it matches.
func checkInfo(info tiercache.EntryInfo, err error, e entry) string {
	if err != nil {
		return fmt.Sprintf("info: %v", err)
	}
	now := time.Now()
	wantExpiry := time.Time{}
	if e.TTLMillis != 0 {
		wantExpiry = info.WrittenAt.Add(time.Duration(e.TTLMillis) * time.Millisecond)
	}
	if info.TagCount != uint32(len(e.TagsHex)) || info.ValueLen != uint64(len(e.ValueHex)/2) ||
		info.Tier != tiercache.TierDisk || !info.ExpiresAt.Equal(wantExpiry) ||
		info.WrittenAt.Before(now.Add(-24*time.Hour)) || info.WrittenAt.After(now.Add(time.Minute)) {
		return fmt.Sprintf("info %+v, want %d tags, %d bytes on disk, expiry %d ms after the write",
			info, len(e.TagsHex), len(e.ValueHex)/2, e.TTLMillis)
	}
	return ""
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
