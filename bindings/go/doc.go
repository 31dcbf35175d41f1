// Package tiercache is the Go binding of tiercache, a persistent, tiered
// key-value cache: a sharded LRU in memory (L1), an append-only log on disk
// (L2) that survives restarts, and an optional loader (L3) called once per
// missing key however many goroutines miss it at once.
//
// The package is a thin cgo layer over the C library (tiercache.h). By
// default it builds against an installed tiercache, found with pkg-config
// (`#cgo pkg-config: tiercache`), like other cgo bindings of C libraries:
// `make install` in the tiercache repository installs the library, and
// PKG_CONFIG_PATH must name its lib/pkgconfig when the prefix is not a
// standard one. Programs then load libtiercache.so.<major> at run time.
//
// With the build tag tiercache_source (go build -tags tiercache_source) it
// links the static library of the checkout it sits in instead,
// ../../target/release/libtiercache.a (build it with `cargo build --release`):
// what the repository's own tests use.
//
//	c, err := tiercache.Open(tiercache.Options{Dir: "/var/cache/myapp"})
//	if err != nil { ... }
//	defer c.Close()
//	c.Put([]byte("k"), []byte("v"), time.Hour)
//	v, err := c.Get([]byte("k"))
//	if errors.Is(err, tiercache.ErrNotFound) { ... }
//
// Errors: every failure of the library is an *Error carrying the status and
// the library's message; errors.Is matches it against the sentinel of its
// status (ErrNotFound, ErrInvalidArgument, ...). Methods called after Close
// return an error matching ErrClosed.
//
// Keys are 1 byte to 64 KiB; values are any bytes up to Options.MaxValueSize,
// empty included. Keys and values are copied in both directions: slices
// passed in may be reused at once, and slices returned belong to the caller.
package tiercache
