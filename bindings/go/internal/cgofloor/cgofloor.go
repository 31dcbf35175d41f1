// Package cgofloor holds the floor of the Go binding's benchmarks: cgo calls
// of C functions that do nothing, in the shapes of the calls Get makes
// (tcgo_get_word: five arguments, the handle as an integer, and a struct of
// two words returned; tcgo_get_fast, which it replaced: the handle as a
// pointer, which cgo checks, and a struct of 144 bytes returned; and one
// word returned), so that `tiercache-benchmarks go` can show how much of a
// Get is the cgo call itself. It is not part of the binding's API (internal)
// and links nothing of tiercache.
package cgofloor

/*
#include <stddef.h>
#include <stdint.h>

// tcgo_get_ret's layout (bindings/go/bridge.h), filled as tcgo_get_fast fills it on a hit.
typedef struct floor_get_ret {
  int32_t status;
  size_t len;
  uintptr_t loader_result;
  char *msg;
  char note[112];
} floor_get_ret;

static floor_get_ret floor_get_fast(void *c, const uint8_t *key, size_t key_len, uint8_t *buf, size_t cap) {
  floor_get_ret r;
  (void)c, (void)key, (void)buf, (void)cap;
  r.status = 0;
  r.len = key_len;
  r.loader_result = 0;
  r.msg = NULL;
  r.note[0] = '\0';
  return r;
}

// tcgo_get_res's layout (bindings/go/bridge.h), filled as tcgo_get_word fills it on a hit.
typedef struct floor_get_res {
  int64_t word;
  void *more;
} floor_get_res;

static floor_get_res floor_get_res_of(uintptr_t c, const uint8_t *key, size_t key_len, uint8_t *buf, size_t cap) {
  floor_get_res r = {(int64_t)key_len, NULL};
  (void)c, (void)key, (void)buf, (void)cap;
  return r;
}

static int64_t floor_get_word(void *c, const uint8_t *key, size_t key_len, uint8_t *buf, size_t cap) {
  (void)c, (void)key, (void)buf, (void)cap;
  return (int64_t)key_len;
}
*/
import "C"

import "unsafe"

// GetRes is a cgo call of a no-op with tcgo_get_word's arguments and result
// (what Get calls; c stands for the handle).
func GetRes(c uintptr, key, buf []byte) int64 {
	r := C.floor_get_res_of(C.uintptr_t(c), (*C.uint8_t)(unsafe.Pointer(&key[0])), C.size_t(len(key)),
		(*C.uint8_t)(unsafe.Pointer(&buf[0])), C.size_t(len(buf)))
	return int64(r.word)
}

// GetFast is a cgo call of a no-op with the arguments and result of
// tcgo_get_fast, Get's bridge call before tcgo_get_word.
func GetFast(key, buf []byte) int {
	r := C.floor_get_fast(nil, (*C.uint8_t)(unsafe.Pointer(&key[0])), C.size_t(len(key)),
		(*C.uint8_t)(unsafe.Pointer(&buf[0])), C.size_t(len(buf)))
	return int(r.len)
}

// GetWord is a cgo call of a no-op with the same arguments, one word returned.
func GetWord(key, buf []byte) int64 {
	return int64(C.floor_get_word(nil, (*C.uint8_t)(unsafe.Pointer(&key[0])), C.size_t(len(key)),
		(*C.uint8_t)(unsafe.Pointer(&buf[0])), C.size_t(len(buf))))
}
