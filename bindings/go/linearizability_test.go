package tiercache

// Linearizability: random concurrent histories of Put, Get, Remove and Clear
// on a few keys, recorded with their call and return times and checked with
// porcupine against a sequential model of the whole cache (DESIGN.md,
// "Consistency (what every tier must give)").
//
//	go test -run 'TestLinearizability$' -v .      # 2,000 histories (test.sh: under -race)
//	TIERCACHE_LINEARIZABILITY=large go test -run 'TestLinearizability$' -timeout 0 .
//	                                                # 100,000 histories
//	TIERCACHE_LIN_SEED=<seed> go test -run 'TestLinearizability$' -v .
//	    # that one history's configuration and operations again, as many
//	    # times as TIERCACHE_LIN_REPEAT says (default 200): the interleaving
//	    # is the scheduler's, so a race may need a few tries to come back
//	TIERCACHE_LIN_RUN_SEED=<seed>   # the same histories as the run that printed it
//	TIERCACHE_LIN_OUT=<dir>   # where failing histories are written
//	                          # (default: a new directory under $TMPDIR)
//	TIERCACHE_LIN_HISTORIES=<n>, TIERCACHE_LIN_OPS=<max ops per goroutine>,
//	TIERCACHE_LIN_REPORTS=<how many failing histories to write and print (20)>,
//	TIERCACHE_LIN_WITHOUT=loader,clear,dir   # leave features out (see linWithout)
//
// Each history opens its own cache: memory only, or with a directory
// (write-through or write-back, any sync policy, sometimes an L1 of 2
// entries so that L2 serves most reads, sometimes small segments), with or
// without a loader. 3 or 4 goroutines then run 15 to 30 random operations
// each on 2 or 3 keys. After they finish, one goroutine reads every key,
// and with a directory closes the cache, reopens it and reads every key
// again: those reads are part of the history, so a value lost or revived by
// a clean close is a violation too.
//
// The model is a map from key to value:
//   - Put(k, v) sets k to v.
//   - Remove(k) deletes k and returns ErrNotFound iff k had no value.
//   - Clear(false) deletes every key (so histories with a Clear are checked
//     whole; the others are partitioned by key).
//   - Get(k) (or GetValue(k), chosen per operation) returns k's value, or
//     ErrNotFound if it has none. With a loader set, a Get of a key with no
//     value may instead return what a loader call produced, "L<n>" (unique
//     per loader call), and take effect at its miss. DESIGN.md: "A loader's
//     answer is stored only if no put, remove, touch, tag removal,
//     remove_prefix or clear of that key completed after the miss that
//     started the load": so the history holds, beside every Get that
//     returned "L<n>", a second operation land(k, L<n>) with the same call
//     and return times, the moment the answer came back. If no write of k
//     (a Put, a Remove even of nothing, a Clear) was ordered between the
//     miss and the first land of L<n>, k then holds "L<n>"; otherwise
//     nothing is stored. Another Get that missed while the load was on its
//     way (single flight) returns the same answer; a Get cannot start a
//     second load of a key while one that no write cancelled is on its way.
//     A loader answer becomes a value at most once: a later Get returning
//     the same "L<n>" when the key holds something else is a stale read,
//     not a new load.
//   - Any other error means the call had no effect (and is reported as an
//     unexpected error on its own: none of these calls should fail).
//
// The loader says "not found" for one call in four, so a Get with a loader
// can miss as well.

import (
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
)

// ---- the model ----

type linKind uint8

const (
	linPut linKind = iota
	linGet
	linRemove
	linClear
	linLand // a loader's answer coming back (see the model above)
)

// linInput is an operation as called. Key indexes linKeys.
type linInput struct {
	Kind  linKind
	Key   int
	Value string // Put only
	Zero  bool   // Get only: through GetValue (tc_get_value) instead of Get
}

type linStatus uint8

const (
	linOK       linStatus = iota
	linNotFound           // an error matching ErrNotFound
	linFailed             // any other error: no effect
)

// linOutput is what the operation returned.
type linOutput struct {
	Status linStatus
	Value  string // Get with linOK
	Err    string // linFailed: the error, for the report
}

const (
	linMaxKeys  = 3
	linMaxLoads = 256 // loader calls per history, at most (ops per history are far fewer)
)

var linKeys = [linMaxKeys]string{"k0", "k1", "k2"}

// linDefaultOps is the most operations a goroutine runs (TIERCACHE_LIN_OPS).
const linDefaultOps = 30

// linLoads is a set of loader calls, a bit per "L<n>".
type linLoads [linMaxLoads / 64]uint64

func (l *linLoads) has(n int) bool { return l[n/64]&(1<<(n%64)) != 0 }
func (l *linLoads) add(n int)      { l[n/64] |= 1 << (n % 64) }
func (l *linLoads) drop(n int)     { l[n/64] &^= 1 << (n % 64) }

// linState is the model's state: comparable with ==, copied by value.
type linState struct {
	vals   [linMaxKeys]string // "" is no value (no Put writes "", no load answers "")
	loaded linLoads           // loader answers some Get returned
	// Loads of each key that a Get returned and that have not landed yet:
	// those no write of the key followed yet (they will be stored), and
	// those one did (they will not).
	clean, cancelled [linMaxKeys]linLoads
}

// loadID parses a loader answer "L<n>".
func loadID(v string) (int, bool) {
	if !strings.HasPrefix(v, "L") {
		return 0, false
	}
	n, err := strconv.Atoi(v[1:])
	if err != nil || n < 0 || n >= linMaxLoads {
		return 0, false
	}
	return n, true
}

func linStep(withLoader bool, s linState, in linInput, out linOutput) (bool, linState) {
	if out.Status == linFailed {
		return true, s
	}
	// Every write of a key cancels the loads of it on their way.
	cancel := func(k int) {
		for i, w := range s.clean[k] {
			s.cancelled[k][i] |= w
		}
		s.clean[k] = linLoads{}
	}
	switch in.Kind {
	case linPut:
		if out.Status != linOK {
			return false, s
		}
		cancel(in.Key)
		s.vals[in.Key] = in.Value
		return true, s
	case linRemove:
		present := s.vals[in.Key] != ""
		cancel(in.Key)
		switch {
		case out.Status == linOK && present:
			s.vals[in.Key] = ""
			return true, s
		case out.Status == linNotFound && !present:
			return true, s
		}
		return false, s
	case linClear:
		if out.Status != linOK {
			return false, s
		}
		for k := range s.vals {
			cancel(k)
		}
		s.vals = [linMaxKeys]string{}
		return true, s
	case linGet:
		cur := s.vals[in.Key]
		switch out.Status {
		case linNotFound:
			return cur == "", s
		case linOK:
			if out.Value == cur {
				return true, s
			}
			if !withLoader || cur != "" {
				return false, s
			}
			n, ok := loadID(out.Value)
			switch {
			case !ok:
				return false, s
			case s.clean[in.Key].has(n):
				return true, s // a Get that joined the load on its way
			case s.loaded.has(n) || s.clean[in.Key] != (linLoads{}):
				// An answer seen before, or a second load of a key
				// while one that nothing cancelled is on its way.
				return false, s
			}
			s.loaded.add(n)
			s.clean[in.Key].add(n)
			return true, s
		}
		return false, s
	case linLand:
		n, _ := loadID(in.Value)
		switch {
		case s.clean[in.Key].has(n):
			s.clean[in.Key].drop(n)
			s.vals[in.Key] = in.Value
		case s.cancelled[in.Key].has(n):
			s.cancelled[in.Key].drop(n)
		case !s.loaded.has(n):
			return false, s // before the Get that returned it
		}
		return true, s // (or a later land of the same answer: nothing)
	}
	return false, s
}

func linDescribe(in linInput, out linOutput) string {
	res := ""
	switch out.Status {
	case linOK:
		if in.Kind == linGet {
			res = " → " + out.Value
		}
	case linNotFound:
		res = " → not found"
	case linFailed:
		res = " → error: " + out.Err
	}
	switch in.Kind {
	case linPut:
		return fmt.Sprintf("put(%s, %s)%s", linKeys[in.Key], in.Value, res)
	case linGet:
		if in.Zero {
			return fmt.Sprintf("get_value(%s)%s", linKeys[in.Key], res)
		}
		return fmt.Sprintf("get(%s)%s", linKeys[in.Key], res)
	case linRemove:
		if out.Status == linOK {
			res = " → ok"
		}
		return fmt.Sprintf("remove(%s)%s", linKeys[in.Key], res)
	case linClear:
		return "clear" + res
	case linLand:
		return fmt.Sprintf("  (%s lands)", in.Value)
	}
	return "?"
}

// linOps is one call as the history records it: the operation, and for a
// Get that returned a loader's answer, that answer's landing beside it.
func linOps(client int, in linInput, call int64, out linOutput, ret int64) []porcupine.Operation {
	ops := []porcupine.Operation{{ClientId: client, Input: in, Call: call, Output: out, Return: ret}}
	if _, ok := loadID(out.Value); ok && in.Kind == linGet && out.Status == linOK {
		land := linInput{Kind: linLand, Key: in.Key, Value: out.Value}
		ops = append(ops, porcupine.Operation{ClientId: client, Input: land, Call: call, Output: linOutput{}, Return: ret})
	}
	return ops
}

func linDescribeState(s linState) string {
	parts := make([]string, 0, linMaxKeys)
	for i, v := range s.vals {
		if v != "" {
			parts = append(parts, linKeys[i]+"="+v)
		}
		for n := 0; n < linMaxLoads; n++ {
			if s.clean[i].has(n) {
				parts = append(parts, fmt.Sprintf("%s: L%d on its way", linKeys[i], n))
			}
			if s.cancelled[i].has(n) {
				parts = append(parts, fmt.Sprintf("%s: L%d on its way, cancelled", linKeys[i], n))
			}
		}
	}
	return "{" + strings.Join(parts, " ") + "}"
}

// linModel is the whole cache as a porcupine model. withLoader allows a Get
// of a key with no value to return a fresh loader answer. Histories with a
// Clear must not be partitioned (partition false): a Clear touches every key.
func linModel(withLoader, partition bool) porcupine.Model {
	m := porcupine.Model{
		Init: func() interface{} { return linState{} },
		Step: func(state, input, output interface{}) (bool, interface{}) {
			return linStep(withLoader, state.(linState), input.(linInput), output.(linOutput))
		},
		Hash: func(state interface{}) uint64 {
			s := state.(linState)
			h := fnv.New64a()
			for _, v := range s.vals {
				h.Write([]byte(v))
				h.Write([]byte{0})
			}
			for _, w := range s.loaded {
				h.Write([]byte(strconv.FormatUint(w, 16)))
			}
			for k := range s.clean {
				for i := range s.clean[k] {
					h.Write([]byte(strconv.FormatUint(s.clean[k][i], 16) + "/" + strconv.FormatUint(s.cancelled[k][i], 16)))
				}
			}
			return h.Sum64()
		},
		DescribeOperation: func(input, output interface{}) string {
			return linDescribe(input.(linInput), output.(linOutput))
		},
		DescribeState: func(state interface{}) string { return linDescribeState(state.(linState)) },
	}
	if partition {
		m.Partition = func(history []porcupine.Operation) [][]porcupine.Operation {
			var byKey [linMaxKeys][]porcupine.Operation
			for _, op := range history {
				in := op.Input.(linInput)
				if in.Kind == linClear {
					panic("partitioned a history with a Clear")
				}
				byKey[in.Key] = append(byKey[in.Key], op)
			}
			var parts [][]porcupine.Operation
			for _, p := range byKey {
				if len(p) > 0 {
					parts = append(parts, p)
				}
			}
			return parts
		}
	}
	return m
}

// ---- histories ----

// linConfig is one history's cache and workload, all drawn from its seed.
type linConfig struct {
	Dir          bool
	WriteBack    bool
	TinyL1       bool // L1 of 2 entries: L2 serves most reads
	SmallSegs    bool // 4 KiB segments: seals, hints, background compaction
	Sync         SyncPolicy
	Loader       bool
	Clear        bool // Clear(false) is among the operations
	Keys         int
	Ops          [][]linInput // per goroutine
	Pauses       [][]int      // per goroutine, before each operation: spins (negative: yield, then spin)
	LoaderMisses uint64       // the loader says "not found" when hash(n) % 4 == this (4: never)
}

// linWithout is TIERCACHE_LIN_WITHOUT: features left out of every history,
// to look for violations that do not need them ("loader", "clear", "dir").
// A seed printed by a run with it reproduces only with the same setting.
var linWithout = os.Getenv("TIERCACHE_LIN_WITHOUT")

func linGenerate(seed uint64, maxOps int) linConfig {
	r := rand.New(rand.NewPCG(seed, 0x6c696e6561726974))
	var c linConfig
	c.Dir = r.IntN(3) != 0
	if c.Dir {
		c.WriteBack = r.IntN(2) == 0
		c.TinyL1 = r.IntN(2) == 0
		c.SmallSegs = r.IntN(4) == 0
		c.Sync = []SyncPolicy{SyncOnFlush, SyncNever, SyncEvery, SyncAlways}[r.IntN(4)]
		if c.Sync == SyncAlways && r.IntN(2) == 0 {
			c.Sync = SyncNever // an fsync per put is slow: half as often
		}
	}
	c.Loader = r.IntN(2) == 0
	c.LoaderMisses = uint64(r.IntN(4)) // which residue the loader misses on
	c.Clear = r.IntN(2) == 0
	c.Keys = 2 + r.IntN(2)
	clients := 3 + r.IntN(2)
	minOps := 15
	if maxOps < minOps {
		minOps = maxOps
	}
	for g := 0; g < clients; g++ {
		n := minOps + r.IntN(maxOps-minOps+1)
		ops := make([]linInput, n)
		pauses := make([]int, n)
		for i := range ops {
			in := linInput{Key: r.IntN(c.Keys)}
			switch x := r.IntN(100); {
			case x < 38:
				in.Kind = linPut
				in.Value = fmt.Sprintf("p%d.%d", g, i)
			case x < 78:
				in.Kind = linGet
				in.Zero = x%2 == 0
			case x < 94 || !c.Clear:
				in.Kind = linRemove
			default:
				in.Kind = linClear
				in.Key = 0
			}
			ops[i] = in
			// Mostly back to back; now and then a pause (a negative one
			// yields to the scheduler first), so that some operations
			// overlap and others do not.
			switch r.IntN(6) {
			case 0:
				pauses[i] = r.IntN(2000)
			case 1, 2:
				pauses[i] = -1 - r.IntN(200)
			}
		}
		c.Ops = append(c.Ops, ops)
		c.Pauses = append(c.Pauses, pauses)
	}
	for _, f := range strings.Split(linWithout, ",") {
		switch f {
		case "loader":
			c.Loader = false
		case "clear":
			c.Clear = false
			for _, ops := range c.Ops {
				for i := range ops {
					if ops[i].Kind == linClear {
						ops[i].Kind = linRemove
					}
				}
			}
		case "dir":
			c = linConfig{Loader: c.Loader, Clear: c.Clear, Keys: c.Keys, Ops: c.Ops, Pauses: c.Pauses, LoaderMisses: c.LoaderMisses}
		}
	}
	return c
}

func (c linConfig) String() string {
	s := "memory-only"
	if c.Dir {
		s = "dir, write-through"
		if c.WriteBack {
			s = "dir, write-back"
		}
		s += ", sync " + [...]string{"on-flush", "never", "always", "every 1ms"}[c.Sync]
		if c.TinyL1 {
			s += ", L1 of 2 entries"
		}
		if c.SmallSegs {
			s += ", 4 KiB segments"
		}
	}
	if c.Loader {
		s += ", loader"
	}
	n := 0
	for _, ops := range c.Ops {
		n += len(ops)
	}
	return fmt.Sprintf("%s; %d keys, %d goroutines, %d operations", s, c.Keys, len(c.Ops), n)
}

// linTarget is what a history runs against: a *Cache, or a test double
// wrapping one (see TestLinearizabilityCatchesStaleGets).
type linTarget interface {
	Put(key, value []byte, ttl time.Duration) error
	Get(key []byte) ([]byte, error)
	Remove(key []byte) error
	Clear(memoryOnly bool) error
}

// linRecorder collects one history's operations.
type linRecorder struct {
	clock atomic.Int64 // call and return times: one counter, so real-time order is exact
	mu    sync.Mutex
	ops   []porcupine.Operation
	errs  []string // unexpected errors
}

func (h *linRecorder) do(t linTarget, client int, in linInput) {
	key := []byte(linKeys[in.Key])
	call := h.clock.Add(1)
	var out linOutput
	var err error
	switch in.Kind {
	case linPut:
		err = t.Put(key, []byte(in.Value), 0)
	case linGet:
		var v []byte
		// Only on the cache itself: a test double wraps Get (and would
		// inherit GetValue unwrapped).
		if z, ok := t.(*Cache); ok && in.Zero {
			var val *Value
			if val, err = z.GetValue(key); err == nil {
				v = append([]byte(nil), val.Bytes()...)
				val.Release()
			}
		} else {
			v, err = t.Get(key)
		}
		out.Value = string(v)
	case linRemove:
		err = t.Remove(key)
	case linClear:
		err = t.Clear(false)
	}
	ret := h.clock.Add(1)
	switch {
	case err == nil:
	case errors.Is(err, ErrNotFound):
		out = linOutput{Status: linNotFound}
	default:
		out = linOutput{Status: linFailed, Err: err.Error()}
	}
	h.mu.Lock()
	h.ops = append(h.ops, linOps(client, in, call, out, ret)...)
	if out.Status == linFailed {
		h.errs = append(h.errs, linDescribe(in, out))
	}
	h.mu.Unlock()
}

var linSpinSink atomic.Uint64

func linSpin(n int) {
	if n < 0 {
		runtime.Gosched()
		n = -n
	}
	x := uint64(n)
	for i := 0; i < n; i++ {
		x = x*6364136223846793005 + 1442695040888963407
	}
	linSpinSink.Store(x)
}

// linResult is one history, run and checked.
type linResult struct {
	seed   uint64
	cfg    linConfig
	ops    []porcupine.Operation
	result porcupine.CheckResult
	info   porcupine.LinearizationInfo
	model  porcupine.Model
	errs   []string
	maxOps int
}

// linRun runs the history of seed against a new cache (in a directory under
// tmp if the configuration has one) and checks it. wrap, if not nil, wraps
// the cache in a test double.
func linRun(t testing.TB, tmp string, seed uint64, maxOps int, wrap func(*Cache) linTarget) linResult {
	cfg := linGenerate(seed, maxOps)
	opts := Options{}
	if cfg.Dir {
		dir, err := os.MkdirTemp(tmp, "h")
		if err != nil {
			t.Fatal(err)
		}
		defer os.RemoveAll(dir)
		opts.Dir = dir
		if cfg.WriteBack {
			opts.WritePolicy = WriteBack
		}
		if cfg.TinyL1 {
			opts.L1MaxEntries = 2
		}
		if cfg.SmallSegs {
			opts.SegmentSize = 4096
		}
		opts.SyncPolicy = cfg.Sync
		if cfg.Sync == SyncEvery {
			opts.SyncInterval = time.Millisecond
		}
	}
	var loads atomic.Uint64
	loader := func(key []byte) ([]byte, error) {
		n := loads.Add(1) - 1
		if (n*0x9e3779b97f4a7c15)>>62 == cfg.LoaderMisses {
			return nil, ErrNotFound
		}
		return []byte("L" + strconv.FormatUint(n, 10)), nil
	}
	openCache := func() (*Cache, linTarget) {
		c, err := Open(opts)
		if err != nil {
			t.Fatalf("seed %d: Open: %v", seed, err)
		}
		if cfg.Loader {
			if err := c.SetLoader(loader); err != nil {
				t.Fatalf("seed %d: SetLoader: %v", seed, err)
			}
		}
		if wrap != nil {
			return c, wrap(c)
		}
		return c, c
	}
	rec := &linRecorder{}
	c, target := openCache()
	var wg sync.WaitGroup
	var arrived atomic.Int32
	for g := range cfg.Ops {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			// Start together: every goroutine running before any calls.
			arrived.Add(1)
			for int(arrived.Load()) < len(cfg.Ops) {
				runtime.Gosched()
			}
			for i, in := range cfg.Ops[g] {
				linSpin(cfg.Pauses[g][i])
				rec.do(target, g, in)
			}
		}(g)
	}
	wg.Wait()
	// Read back every key, then (with a directory) again after a clean close
	// and reopen: the same answers, whichever tier gives them.
	final := len(cfg.Ops)
	for k := 0; k < cfg.Keys; k++ {
		rec.do(target, final, linInput{Kind: linGet, Key: k})
	}
	if err := c.Close(); err != nil {
		rec.errs = append(rec.errs, "Close: "+err.Error())
	}
	if cfg.Dir {
		c, target = openCache()
		for k := 0; k < cfg.Keys; k++ {
			rec.do(target, final, linInput{Kind: linGet, Key: k})
		}
		if err := c.Close(); err != nil {
			rec.errs = append(rec.errs, "Close after reopen: "+err.Error())
		}
	}
	if loads.Load() >= linMaxLoads {
		t.Fatalf("seed %d: %d loader calls, more than the model tracks", seed, loads.Load())
	}
	model := linModel(cfg.Loader, !cfg.Clear)
	res, info := porcupine.CheckOperationsVerbose(model, rec.ops, 20*time.Second)
	return linResult{
		seed: seed, cfg: cfg, ops: rec.ops, result: res, info: info, model: model,
		errs: rec.errs, maxOps: maxOps,
	}
}

// linReport writes a failing history (porcupine's HTML visualization and a
// plain-text listing) and returns a description of it.
func linReport(out string, r linResult) string {
	base := filepath.Join(out, fmt.Sprintf("seed-%d", r.seed))
	var where string
	if err := porcupine.VisualizePath(r.model, r.info, base+".html"); err != nil {
		where = fmt.Sprintf("(visualization failed: %v)", err)
	} else {
		where = base + ".html"
	}
	text := linListing(r)
	if err := os.WriteFile(base+".txt", []byte(text), 0o644); err == nil {
		where += ", " + base + ".txt"
	}
	env := ""
	if linWithout != "" {
		env = "TIERCACHE_LIN_WITHOUT=" + linWithout + " "
	}
	if r.maxOps != linDefaultOps {
		env += fmt.Sprintf("TIERCACHE_LIN_OPS=%d ", r.maxOps)
	}
	return fmt.Sprintf("history seed %d is %s (%s)\n  written to %s\n  rerun: %sTIERCACHE_LIN_SEED=%d go test -run 'TestLinearizability$' -v .\n%s",
		r.seed, r.result, r.cfg, where, env, r.seed, text)
}

// linStuck finds where the checker got stuck: in the first partition that
// is not linearizable, the longest partial linearization, the state it ends
// in, and the operation it could not get past (the first to return of
// those it left out). ok is false if every partition is linearizable.
func linStuck(r linResult) (state linState, blocker porcupine.Operation, done int, ok bool) {
	parts := [][]porcupine.Operation{r.ops}
	if r.model.Partition != nil {
		parts = r.model.Partition(r.ops) // the checker's partitions, in its order
	}
	for p, lins := range r.info.PartialLinearizationsOperations() {
		var longest []porcupine.Operation
		for _, l := range lins {
			if len(l) > len(longest) {
				longest = l
			}
		}
		if p >= len(parts) || len(longest) == len(parts[p]) {
			continue
		}
		in := map[int64]bool{} // by call time: unique in a history
		for _, op := range longest {
			in[op.Call] = true
		}
		var rest []porcupine.Operation
		for _, op := range parts[p] {
			if !in[op.Call] {
				rest = append(rest, op)
			}
		}
		s := linState{}
		for _, op := range longest {
			_, s = linStep(r.cfg.Loader, s, op.Input.(linInput), op.Output.(linOutput))
		}
		sort.Slice(rest, func(i, j int) bool { return rest[i].Return < rest[j].Return })
		return s, rest[0], len(longest), true
	}
	return linState{}, porcupine.Operation{}, 0, false
}

// linListing is the history as text, in call order: one line per
// operation with its [call, return] times and goroutine; the operation the
// checker could not linearize is marked.
func linListing(r linResult) string {
	ops := append([]porcupine.Operation(nil), r.ops...)
	sort.Slice(ops, func(i, j int) bool { return ops[i].Call < ops[j].Call })
	var b strings.Builder
	fmt.Fprintf(&b, "  seed %d: %s\n", r.seed, r.cfg)
	state, blocker, done, stuck := linStuck(r)
	if stuck {
		fmt.Fprintf(&b, "  stuck after %d operations in state %s at %s [%d,%d] (marked *)\n", done,
			linDescribeState(state), linDescribe(blocker.Input.(linInput), blocker.Output.(linOutput)),
			blocker.Call, blocker.Return)
	}
	for _, op := range ops {
		who := fmt.Sprintf("g%d", op.ClientId)
		if op.ClientId == len(r.cfg.Ops) {
			who = "final"
		}
		mark := " "
		if stuck && op.Call == blocker.Call {
			mark = "*"
		}
		fmt.Fprintf(&b, " %s[%4d,%4d] %-5s %s\n", mark, op.Call, op.Return, who,
			linDescribe(op.Input.(linInput), op.Output.(linOutput)))
	}
	return b.String()
}

func linEnvInt(t *testing.T, name string, def int) int {
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 {
		t.Fatalf("%s=%q: want a positive integer", name, s)
	}
	return n
}

// linSeeds are the histories' seeds: one chosen at random per run (printed),
// each history's seed derived from it; or TIERCACHE_LIN_SEED repeated.
func linSeeds(t *testing.T, histories int) []uint64 {
	if s := os.Getenv("TIERCACHE_LIN_SEED"); s != "" {
		seed, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("TIERCACHE_LIN_SEED=%q: %v", s, err)
		}
		n := linEnvInt(t, "TIERCACHE_LIN_REPEAT", 200)
		t.Logf("history seed %d, %d times", seed, n)
		seeds := make([]uint64, n)
		for i := range seeds {
			seeds[i] = seed
		}
		return seeds
	}
	run := uint64(time.Now().UnixNano())
	if s := os.Getenv("TIERCACHE_LIN_RUN_SEED"); s != "" {
		var err error
		if run, err = strconv.ParseUint(s, 10, 64); err != nil {
			t.Fatalf("TIERCACHE_LIN_RUN_SEED=%q: %v", s, err)
		}
	}
	t.Logf("run seed %d (TIERCACHE_LIN_RUN_SEED=%d draws the same histories; "+
		"TIERCACHE_LIN_SEED takes one history's seed, printed with each failure)", run, run)
	r := rand.New(rand.NewPCG(run, 0))
	seeds := make([]uint64, histories)
	for i := range seeds {
		seeds[i] = r.Uint64() >> 1 // fits an int64, for shells and strconv alike
	}
	return seeds
}

// TestLinearizability checks random concurrent histories against the model.
// Every violation is reported with its seed, its configuration, the history
// as text and porcupine's visualization. The run goes on after a violation,
// so that one run shows every kind it finds.
func TestLinearizability(t *testing.T) {
	histories := 2000
	if os.Getenv("TIERCACHE_LINEARIZABILITY") == "large" {
		histories = 100_000
	}
	histories = linEnvInt(t, "TIERCACHE_LIN_HISTORIES", histories)
	maxOps := linEnvInt(t, "TIERCACHE_LIN_OPS", linDefaultOps)
	if testing.Short() {
		histories = min(histories, 100)
	}
	maxReports := linEnvInt(t, "TIERCACHE_LIN_REPORTS", 20)
	tmp := t.TempDir()
	outDir := os.Getenv("TIERCACHE_LIN_OUT")
	var failures []linResult
	unknown := 0
	start := time.Now()
	seeds := linSeeds(t, histories)
	for i, seed := range seeds {
		r := linRun(t, tmp, seed, maxOps, nil)
		for _, e := range r.errs {
			t.Errorf("seed %d (%s): unexpected error: %s", seed, r.cfg, e)
		}
		switch r.result {
		case porcupine.Unknown:
			unknown++
			t.Logf("seed %d: the checker timed out (%s)", seed, r.cfg)
		case porcupine.Illegal:
			failures = append(failures, r)
			if len(failures) <= maxReports {
				if outDir == "" {
					d, err := os.MkdirTemp("", "tiercache-lin-")
					if err != nil {
						t.Fatal(err)
					}
					outDir = d
				} else if err := os.MkdirAll(outDir, 0o755); err != nil {
					t.Fatal(err)
				}
				t.Errorf("%s", linReport(outDir, r))
			}
		}
		if testing.Verbose() && (i+1)%1000 == 0 {
			t.Logf("%d histories, %d not linearizable, %v", i+1, len(failures), time.Since(start).Round(time.Millisecond))
		}
	}
	t.Logf("%d histories in %v: %d not linearizable, %d undecided (checker timeout)",
		len(seeds), time.Since(start).Round(time.Millisecond), len(failures), unknown)
	if len(failures) > 0 {
		sort.Slice(failures, func(i, j int) bool { return len(failures[i].ops) < len(failures[j].ops) })
		var seedList []string
		for _, f := range failures {
			seedList = append(seedList, strconv.FormatUint(f.seed, 10))
		}
		t.Errorf("%d of %d histories are not linearizable; seeds, smallest history first: %s\nsmallest:\n%s",
			len(failures), len(seeds), strings.Join(seedList, " "), linListing(failures[0]))
	}
}

// ---- the checker itself: it accepts what it must and catches what it must ----

type linHandOp struct {
	client    int
	call, ret int64
	in        linInput
	out       linOutput
}

func linHistory(ops ...linHandOp) []porcupine.Operation {
	var h []porcupine.Operation
	for _, o := range ops {
		h = append(h, linOps(o.client, o.in, o.call, o.out, o.ret)...)
	}
	return h
}

func hPut(c int, call, ret int64, k int, v string) linHandOp {
	return linHandOp{client: c, call: call, ret: ret, in: linInput{Kind: linPut, Key: k, Value: v}}
}

func hGet(c int, call, ret int64, k int, v string) linHandOp {
	out := linOutput{Value: v}
	if v == "" {
		out = linOutput{Status: linNotFound}
	}
	return linHandOp{client: c, call: call, ret: ret, in: linInput{Kind: linGet, Key: k}, out: out}
}

func hRemove(c int, call, ret int64, k int, found bool) linHandOp {
	out := linOutput{}
	if !found {
		out.Status = linNotFound
	}
	return linHandOp{client: c, call: call, ret: ret, in: linInput{Kind: linRemove, Key: k}, out: out}
}

func hClear(c int, call, ret int64) linHandOp {
	return linHandOp{client: c, call: call, ret: ret, in: linInput{Kind: linClear}}
}

func hFailed(o linHandOp) linHandOp {
	o.out = linOutput{Status: linFailed, Err: "injected"}
	return o
}

// Hand-made histories: the model accepts legal concurrency and rejects each
// kind of violation the random histories look for.
func TestLinearizabilityModel(t *testing.T) {
	cases := []struct {
		name       string
		loader     bool
		legal      bool
		history    []porcupine.Operation
		partitions bool
	}{
		{"sequential put then get", false, true, linHistory(
			hPut(0, 1, 2, 0, "a"), hGet(0, 3, 4, 0, "a")), true},
		{"get sees a put that returned before it started", false, false, linHistory(
			hPut(0, 1, 2, 0, "a"), hPut(0, 3, 4, 0, "b"), hGet(1, 5, 6, 0, "a")), true},
		{"concurrent get may see either value", false, true, linHistory(
			hPut(0, 1, 2, 0, "a"), hPut(0, 3, 8, 0, "b"), hGet(1, 4, 5, 0, "a"), hGet(1, 6, 7, 0, "b")), true},
		{"no read goes back in time", false, false, linHistory(
			hPut(0, 1, 2, 0, "a"), hPut(0, 3, 10, 0, "b"), hGet(1, 4, 5, 0, "b"), hGet(1, 6, 7, 0, "a")), true},
		{"get of a never-written key without a loader", false, false, linHistory(
			hGet(0, 1, 2, 0, "L0")), true},
		{"remove reports what it found", false, false, linHistory(
			hPut(0, 1, 2, 0, "a"), hRemove(0, 3, 4, 0, false)), true},
		{"remove of an absent key is not found", false, false, linHistory(
			hRemove(0, 1, 2, 0, true)), true},
		{"a removed key stays removed", false, false, linHistory(
			hPut(0, 1, 2, 1, "a"), hRemove(1, 3, 4, 1, true), hGet(0, 5, 6, 1, "a")), true},
		{"a failed put has no effect", false, false, linHistory(
			hPut(0, 1, 2, 0, "a"), hFailed(hPut(0, 3, 4, 0, "b")), hGet(0, 5, 6, 0, "b")), true},
		{"clear removes every key", false, false, linHistory(
			hPut(0, 1, 2, 0, "a"), hPut(0, 3, 4, 1, "b"), hClear(1, 5, 6), hGet(0, 7, 8, 1, "b")), false},
		{"a put concurrent with a clear may survive it", false, true, linHistory(
			hPut(0, 1, 6, 0, "a"), hClear(1, 2, 3), hGet(1, 7, 8, 0, "a")), false},
		{"a put that survived a clear stays", false, false, linHistory(
			hClear(1, 1, 10), hPut(0, 2, 3, 0, "a"), hGet(0, 11, 12, 0, "a"), hGet(0, 13, 14, 0, "")), false},
		{"a loaded value is stored", true, true, linHistory(
			hGet(0, 1, 2, 0, "L0"), hGet(1, 3, 4, 0, "L0")), true},
		{"a loaded answer nothing cancelled is stored", true, false, linHistory(
			hGet(0, 1, 2, 0, "L0"), hGet(1, 3, 4, 0, "L1")), true},
		{"a loader may say not found", true, true, linHistory(
			hGet(0, 1, 2, 0, ""), hGet(1, 3, 4, 0, "L1")), true},
		{"a load does not hide a value", true, false, linHistory(
			hPut(0, 1, 2, 0, "a"), hGet(1, 3, 4, 0, "L0")), true},
		{"a write after the miss wins over the load", true, true, linHistory(
			hGet(0, 1, 10, 0, "L0"), hPut(1, 2, 3, 0, "a"), hGet(1, 11, 12, 0, "a")), true},
		{"a load does not overwrite a put that returned", true, false, linHistory(
			hGet(0, 1, 10, 0, "L0"), hPut(1, 2, 3, 0, "a"), hGet(1, 11, 12, 0, "L0")), true},
		{"single flight: a waiter gets the same answer", true, true, linHistory(
			hGet(0, 1, 10, 0, "L0"), hGet(1, 2, 11, 0, "L0"), hGet(1, 12, 13, 0, "L0")), true},
		{"a loaded value, once removed, does not come back", true, false, linHistory(
			hGet(0, 1, 2, 0, "L0"), hRemove(0, 3, 4, 0, true), hGet(0, 5, 6, 0, "L0")), true},
		{"a remove after the miss wins over the load even if it found nothing", true, true, linHistory(
			hGet(0, 1, 10, 0, "L0"), hRemove(1, 2, 3, 0, false), hGet(1, 11, 12, 0, "")), true},
		{"waiters share an answer a remove kept out", true, true, linHistory(
			hGet(0, 1, 10, 0, "L0"), hGet(2, 2, 11, 0, "L0"), hRemove(1, 3, 4, 0, false), hGet(1, 12, 13, 0, "L1")), true},
		{"an answer is kept out only by a write after the miss", true, false, linHistory(
			hGet(0, 1, 2, 0, "L0"), hRemove(1, 3, 4, 0, false)), true},
		{"a write may come before the miss of a load it overlaps", true, true, linHistory(
			hGet(0, 1, 10, 0, "L0"), hRemove(1, 2, 3, 0, false), hGet(1, 11, 12, 0, "L0")), true},
		{"a waiter's answer landed before it returned", true, false, linHistory(
			hGet(0, 1, 10, 0, "L0"), hGet(2, 2, 3, 0, "L0"), hRemove(1, 4, 5, 0, false)), true},
		{"an answer a write kept out is not served after it", true, false, linHistory(
			hGet(0, 1, 10, 0, "L0"), hRemove(1, 2, 3, 0, false), hGet(1, 4, 5, 0, "L1"), hGet(1, 11, 12, 0, "L0")), true},
		{"no second load of a key while one nothing cancelled is on its way", true, false, linHistory(
			hGet(0, 1, 10, 0, "L0"), hGet(1, 2, 3, 0, "L1")), true},
		{"an answer kept out leaves the key empty", true, false, linHistory(
			hGet(0, 1, 10, 0, "L0"), hPut(1, 2, 3, 0, "a"), hRemove(1, 4, 5, 0, true), hGet(1, 11, 12, 0, "a")), true},
		{"a clear after the miss wins over the load", true, true, linHistory(
			hGet(0, 1, 10, 0, "L0"), hClear(1, 2, 3), hGet(1, 11, 12, 0, "")), false},
	}
	for _, c := range cases {
		for _, partition := range []bool{false, true} {
			if partition && !c.partitions {
				continue
			}
			res := porcupine.CheckOperations(linModel(c.loader, partition), c.history)
			if res != c.legal {
				t.Errorf("%s (partitioned %v): linearizable = %v, want %v", c.name, partition, res, c.legal)
			}
		}
	}
}

// staleGets is the cache with a bug planted in Get: when the cache answers
// with the value of the last Put of the key that went through it, Get
// returns the value of the Put before that one instead, if there was one.
type staleGets struct {
	*Cache
	mu   sync.Mutex
	last map[string][2]string // key → {newest put, the one before}
}

func (s *staleGets) Put(key, value []byte, ttl time.Duration) error {
	err := s.Cache.Put(key, value, ttl)
	if err == nil {
		s.mu.Lock()
		p := s.last[string(key)]
		s.last[string(key)] = [2]string{string(value), p[0]}
		s.mu.Unlock()
	}
	return err
}

func (s *staleGets) Get(key []byte) ([]byte, error) {
	v, err := s.Cache.Get(key)
	if err == nil {
		s.mu.Lock()
		p := s.last[string(key)]
		s.mu.Unlock()
		if p[1] != "" && string(v) == p[0] {
			return []byte(p[1]), nil
		}
	}
	return v, err
}

// The random histories catch a stale read: the same runs as
// TestLinearizability, against a Get that answers one write behind.
func TestLinearizabilityCatchesStaleGets(t *testing.T) {
	tmp := t.TempDir()
	r := rand.New(rand.NewPCG(1, 2))
	const runs = 30
	caught := 0
	for i := 0; i < runs; i++ {
		seed := r.Uint64() >> 1
		res := linRun(t, tmp, seed, linDefaultOps, func(c *Cache) linTarget {
			return &staleGets{Cache: c, last: map[string][2]string{}}
		})
		if res.result == porcupine.Illegal {
			caught++
		}
	}
	t.Logf("%d of %d histories with stale gets caught", caught, runs)
	if caught < runs/2 {
		t.Fatalf("only %d of %d histories with stale gets were caught", caught, runs)
	}
}
