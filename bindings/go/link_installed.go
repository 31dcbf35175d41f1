//go:build !tiercache_source

package tiercache

// By default the C library is an installed tiercache: pkg-config gives the
// header's directory and links libtiercache.so.<major> (`make install` in the
// tiercache repository installs both, with tiercache.pc). For a prefix that
// is not searched by default:
//
//	PKG_CONFIG_PATH=$PREFIX/lib/pkgconfig go build
//	LD_LIBRARY_PATH=$PREFIX/lib ./program   # or CGO_LDFLAGS=-Wl,-rpath,$PREFIX/lib

// #cgo pkg-config: tiercache
import "C"
