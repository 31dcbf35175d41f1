//go:build tiercache_source

package tiercache

// With the build tag tiercache_source, the C library is the checkout's own:
// include/tiercache.h and target/release/libtiercache.a (`cargo build
// --release` at the repository root), linked statically. The repository's
// tests build this way (bindings/go/test.sh).

// #cgo CFLAGS: -I${SRCDIR}/../../include
// #cgo LDFLAGS: ${SRCDIR}/../../target/release/libtiercache.a -ldl -lm -lpthread
import "C"
