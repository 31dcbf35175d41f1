/* noop.c: functions that do nothing, in the argument shapes of the gets the
 * bindings call, built as a shared library by `tiercache-benchmarks python`
 * (benchmarks/src/bindings.rs) so that bench_vs_diskcache.py can time a
 * ctypes call with nothing behind it: the floor of a get through ctypes.
 * Go's counterpart is bindings/go/internal/cgofloor. */
#include <stddef.h>
#include <stdint.h>

/* tc_get_into's shape: handle, key + length, buffer + capacity, length out. */
int32_t noop_get_into(void *cache, const uint8_t *key, size_t key_len, uint8_t *buf, size_t buf_cap,
                      size_t *value_len) {
  (void)cache, (void)key, (void)buf, (void)buf_cap;
  *value_len = key_len;
  return 0;
}

/* tc_get_into_word's shape: one struct, key + length, the answer returned. */
int64_t noop_get_into_word(const void *target, const uint8_t *key, size_t key_len) {
  (void)target, (void)key;
  return (int64_t)key_len;
}

/* tc_get_made's shape: one struct (tc_made's layout: a pointer, then the
 * value constructor), key + length, the constructor's object returned. Here
 * the struct's first member is the length of the value to make, and the
 * value is that many zero bytes: the floor of a get that makes its `bytes`
 * in C (bench_vs_diskcache.py calls it as `Cache.get` calls tc_get_made,
 * with the GIL held). */
struct noop_made {
  size_t value_len;
  void *(*value)(const uint8_t *data, size_t len);
};

void *noop_get_made(const struct noop_made *made, const uint8_t *key, size_t key_len) {
  static const uint8_t zeros[1 << 16];
  (void)key, (void)key_len;
  size_t n = made->value_len < sizeof zeros ? made->value_len : sizeof zeros;
  return made->value(zeros, n);
}
