// tiercache.hpp: the header-only C++17 wrapper over the tiercache C ABI
// (tiercache.h). It adds C++ idioms and nothing else: RAII handles, an
// exception per failed call, std::string_view in, std::optional out, and
// std::function loaders. Every behaviour (tiers, TTL, persistence,
// single-flight loading) is the library's; see tiercache.h for the details
// of each call.
//
// Thread safety is the C library's: one Cache may be used from many threads
// at once, close() included (calls made after it throw ClosedError), except
// that destroying, moving from or assigning to it must be the last thing
// done to it.
#ifndef TIERCACHE_HPP
#define TIERCACHE_HPP

#include <tiercache.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <filesystem>
#include <functional>
#include <initializer_list>
#include <iterator>
#include <memory>
#include <new>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace tiercache {

using Status = tc_status;
// Counters since open and sizes now; field by field in tiercache.h.
// l2_state: 0 memory only, 1 disk working, 2 disk failing (degraded).
using Stats = tc_stats;

enum class WritePolicy : std::underlying_type_t<tc_write_policy> {
  through = TC_WRITE_THROUGH,  // put appends to disk at once (default)
  back = TC_WRITE_BACK,        // disk written on eviction, flush and close
};

enum class L1Policy : std::underlying_type_t<tc_l1_policy> {
  lru = TC_L1_LRU,        // least recently used (default)
  s3fifo = TC_L1_S3FIFO,  // S3-FIFO: scan-resistant, hits take no exclusive lock
};

// How the disk tier compresses values (tc_compression).
enum class Compression : std::underlying_type_t<tc_compression> {
  none = TC_COMPRESSION_NONE,
  lz4 = TC_COMPRESSION_LZ4,
  zstd = TC_COMPRESSION_ZSTD,
};

enum class SyncPolicy : std::underlying_type_t<tc_sync_policy> {
  never = TC_SYNC_NEVER,
  on_flush = TC_SYNC_ON_FLUSH,  // default
  always = TC_SYNC_ALWAYS,
  interval = TC_SYNC_INTERVAL,
};

// The library's version string, e.g. "0.1.0".
inline std::string_view version() noexcept { return tc_version(); }

// Thrown by every call that fails for a reason other than "not found".
// what() is the library's explanation (tc_last_error(): function, argument
// or path, OS error), read on the failing thread right after the call,
// because the C library overwrites it on that thread's next failure.
class Error : public std::runtime_error {
 public:
  Error(Status status, const std::string& message)
      : std::runtime_error(message.empty() ? tc_status_str(status) : message),
        status_(status) {}

  Status status() const noexcept { return status_; }
  // A fixed description of the status, e.g. for logs.
  const char* status_str() const noexcept { return tc_status_str(status_); }

 private:
  Status status_;
};

// The Error of every call on a Cache after close() (or while close() is
// running): status() is TC_CLOSED. Also thrown in a child process made by
// fork() for every call on a Cache inherited from the parent, which belongs
// to the parent.
class ClosedError : public Error {
 public:
  explicit ClosedError(const std::string& message) : Error(TC_CLOSED, message) {}
};

class EntryOptions;

// What a loader may return to give a TTL with its value; a TTL of zero
// means the cache's default TTL (none unless Options::default_ttl was set).
// With `options` set, the value is stored with those entry options (TTL,
// tags, file dependency; tc_sink_put_with) and `ttl` is not used. They are
// shared, not copied, so a loader may build one set and return it with
// every value:
//   auto opts = std::make_shared<const tiercache::EntryOptions>(
//       tiercache::EntryOptions().add_tag("users"));
//   cache.set_loader([opts](std::string_view k) { return tiercache::Loaded{load(k), {}, opts}; });
struct Loaded {
  std::string value;
  std::chrono::milliseconds ttl{0};
  std::shared_ptr<const EntryOptions> options{};
};

// Where an entry was found (tc_entry_info.tier). A number this wrapper does
// not know is kept as is.
enum class Tier : std::uint32_t {
  memory = 1,
  disk = 2,
  remote = 3,
};

// Unix time in milliseconds, as the library keeps it.
using TimePoint = std::chrono::time_point<std::chrono::system_clock, std::chrono::milliseconds>;

// What the cache knows about one live entry (tc_entry_info).
struct EntryInfo {
  std::uint64_t value_len = 0;          // bytes of the value
  std::optional<TimePoint> expires_at;  // nullopt: never expires
  TimePoint written_at{};               // the put or load that wrote it
  Tier tier = Tier::memory;             // where it was found
  std::uint32_t tag_count = 0;          // tags the entry carries
};

// What Cache::count returns.
struct Count {
  std::uint64_t entries = 0;      // live keys under the prefix
  std::uint64_t value_bytes = 0;  // bytes of their values
};

namespace detail {

// The status -> exception table: ClosedError for TC_CLOSED, Error otherwise.
[[noreturn]] inline void fail(Status status) {
  if (status == TC_CLOSED) throw ClosedError(tc_last_error());
  throw Error(status, tc_last_error());
}

inline void check(Status status) {
  if (status != TC_OK) fail(status);
}

// The C API wants a non-NULL pointer even for zero bytes (an empty value
// or prefix), while an empty std::string_view may hold nullptr.
inline const std::uint8_t* bytes(std::string_view s) noexcept {
  static const std::uint8_t empty = 0;
  return s.data() != nullptr ? reinterpret_cast<const std::uint8_t*>(s.data())
                             : &empty;
}

inline std::uint64_t to_ms(std::chrono::milliseconds d) {
  if (d.count() < 0) {
    throw Error(TC_INVALID_ARGUMENT, "tiercache: a TTL or interval must not be negative");
  }
  return static_cast<std::uint64_t>(d.count());
}

struct EntryOptionsFreer {
  void operator()(tc_entry_options* o) const noexcept { tc_entry_options_free(o); }
};

}  // namespace detail

// Per-entry options for Cache::put_with and for a loader's answer
// (Loaded::options): a TTL, tags and a file the entry depends on. Owns a
// tc_entry_options (move-only); each setter calls the library at once, so a
// bad tag or a missing file throws Error where it is given. Setters chain:
//   cache.put_with("user:1", json, tiercache::EntryOptions().ttl(1h).add_tag("users"));
//
// Tags are 1 to 255 bytes of anything, at most 32 per entry (a repeat
// counts once): an empty tag throws Error(TC_INVALID_ARGUMENT), a longer or
// 33rd one Error(TC_TOO_LARGE). Cache::remove_tag removes every entry
// carrying a tag.
//
// depends_on(path): the entry stays valid while that file's modification
// time, size and inode are what they are now (the file is examined here);
// once it changes or disappears, a get of the entry is a miss (counted as
// counter("dependency_misses")) that goes to the loader. A file that does
// not exist throws Error(TC_INVALID_ARGUMENT) naming the path.
class EntryOptions {
 public:
  EntryOptions() : handle_(tc_entry_options_new()) {
    if (!handle_) throw std::bad_alloc();
  }

  // Time to live; zero means the cache's default TTL.
  EntryOptions& ttl(std::chrono::milliseconds ttl) & {
    detail::check(tc_entry_options_set_ttl(handle_.get(), detail::to_ms(ttl)));
    return *this;
  }
  EntryOptions&& ttl(std::chrono::milliseconds t) && { return std::move(ttl(t)); }

  EntryOptions& add_tag(std::string_view tag) & {
    detail::check(tc_entry_options_add_tag(handle_.get(), detail::bytes(tag), tag.size()));
    return *this;
  }
  EntryOptions&& add_tag(std::string_view tag) && { return std::move(add_tag(tag)); }

  // Replaces any earlier dependency.
  EntryOptions& depends_on(const std::filesystem::path& path) & {
    const std::string& native = path.native();
    if (native.find('\0') != std::string::npos) {
      throw Error(TC_INVALID_ARGUMENT, "tiercache: a dependency path must not contain NUL bytes");
    }
    detail::check(tc_entry_options_set_dependency(handle_.get(), native.c_str()));
    return *this;
  }
  EntryOptions&& depends_on(const std::filesystem::path& path) && { return std::move(depends_on(path)); }

  // The C handle, valid while this object lives.
  const tc_entry_options* get() const noexcept { return handle_.get(); }

 private:
  std::unique_ptr<tc_entry_options, detail::EntryOptionsFreer> handle_;
};

// The name the issue uses, for those who prefer it.
using entry_options = EntryOptions;

namespace detail {

// Frees the handle, shutting it down first unless close() did (in a forked
// child: without touching the parent's directory, lock or files).
struct CacheCloser {
  void operator()(tc_cache* cache) const noexcept { tc_cache_close(cache); }
};

struct OptionsFreer {
  void operator()(tc_options* opts) const noexcept { tc_options_free(opts); }
};

// The one loader type stored behind the C callback's user data.
using LoaderFn = std::function<std::optional<Loaded>(std::string_view)>;

// An exception thrown by a loader, parked until the get() that ran it
// returns. The C library runs a loader on the thread that missed (the get's
// own thread), and waiting threads of a single-flight load never run it, so
// a thread-local slot hands the exception to exactly the right caller.
inline std::exception_ptr& pending_loader_exception() noexcept {
  thread_local std::exception_ptr pending;
  return pending;
}

// The get() running on this thread, for the loader it may run: get() copies
// the value with tc_get_into into a per-thread buffer, and a loaded value
// longer than that buffer (keep_over) is also kept here, so that get()
// returns it rather than asking again (which could run the loader again if
// the library did not keep the value). Calls other than get() set it to
// nullptr, so a loader's own calls into the cache never see the outer one.
struct GetCall {
  std::size_t keep_over = 0;
  std::optional<std::string> loaded;
};

inline GetCall*& current_get_call() noexcept {
  thread_local GetCall* current = nullptr;
  return current;
}

// Sets current_get_call() for one C call and restores it afterwards.
class GetCallScope {
 public:
  explicit GetCallScope(GetCall* call) noexcept : prev_(std::exchange(current_get_call(), call)) {}
  ~GetCallScope() { current_get_call() = prev_; }
  GetCallScope(const GetCallScope&) = delete;
  GetCallScope& operator=(const GetCallScope&) = delete;

 private:
  GetCall* prev_;
};

// get()'s per-thread buffer. Values up to its size cost one lookup and one
// allocation (the std::string returned).
inline constexpr std::size_t kGetScratch = 16 * 1024;
inline std::uint8_t* get_scratch() {
  thread_local std::vector<std::uint8_t> scratch(kGetScratch);
  return scratch.data();
}

// get_many()'s buffer size: the values of one batch up to this many bytes
// together come back in it; the rest as tc_value handles. Allocated per
// call (a loader may call get_many() again on the same thread).
inline constexpr std::size_t kBatchBuffer = 64 * 1024;

// The C callback. It must never let an exception unwind into the Rust
// frames that called it, so everything is caught and turned into a failed
// load (nothing is cached; the caller sees TC_LOADER_FAILED).
inline tc_status loader_trampoline(void* user_data, const std::uint8_t* key,
                                   std::size_t key_len, tc_sink* sink) noexcept {
  try {
    const auto& fn = *static_cast<const LoaderFn*>(user_data);
    std::optional<Loaded> found =
        fn(std::string_view(reinterpret_cast<const char*>(key), key_len));
    if (!found) return TC_NOT_FOUND;
    // TC_TOO_LARGE and friends fail the load; get() then throws.
    tc_status status = found->options
                           ? tc_sink_put_with(sink, bytes(found->value), found->value.size(),
                                              found->options->get())
                           : tc_sink_put(sink, bytes(found->value), found->value.size(), to_ms(found->ttl));
    GetCall* call = current_get_call();
    if (status == TC_OK && call != nullptr && found->value.size() > call->keep_over) {
      try {
        call->loaded = std::move(found->value);
      } catch (...) {
        // get() asks the library again instead.
      }
    }
    return status;
  } catch (...) {
    pending_loader_exception() = std::current_exception();
    return TC_LOADER_FAILED;
  }
}

inline void loader_free(void* user_data) noexcept {
  delete static_cast<LoaderFn*>(user_data);
}

inline EntryInfo info_of(const tc_entry_info& raw) noexcept {
  EntryInfo info;
  info.value_len = raw.value_len;
  if (raw.expires_at_ms != 0) {
    info.expires_at = TimePoint(std::chrono::milliseconds(static_cast<std::int64_t>(raw.expires_at_ms)));
  }
  info.written_at = TimePoint(std::chrono::milliseconds(static_cast<std::int64_t>(raw.written_at_ms)));
  info.tier = static_cast<Tier>(raw.tier);
  info.tag_count = raw.tag_count;
  return info;
}

// Copies bytes the library handed out into a string and frees them (also
// when the copy throws).
inline std::string take_bytes(tc_bytes& b) {
  struct Free {
    tc_bytes& b;
    ~Free() { tc_bytes_free(&b); }
  } free_it{b};
  return b.len == 0 ? std::string() : std::string(reinterpret_cast<const char*>(b.data), b.len);
}

inline tc_slice slice_of(std::string_view s) noexcept { return tc_slice{bytes(s), s.size()}; }

struct ValueFreer {
  void operator()(tc_value* v) const noexcept { tc_value_free(v); }
};

// What a loader returned, whatever form it took (see Cache::set_loader).
template <class R>
std::optional<Loaded> to_loaded(R&& r) {
  if constexpr (std::is_convertible_v<R, std::optional<std::string>>) {
    std::optional<std::string> value = std::forward<R>(r);
    if (!value) return std::nullopt;
    return Loaded{std::move(*value), std::chrono::milliseconds{0}};
  } else {
    static_assert(std::is_convertible_v<R, std::optional<Loaded>>,
                  "a loader returns std::string, std::optional<std::string>, Loaded or "
                  "std::optional<Loaded>");
    return std::optional<Loaded>(std::forward<R>(r));
  }
}

// One get_or_load() call: its function, its default TTL, and the exception
// the function threw (kept with the call, so that a get() made inside the
// function keeps its own).
template <class F>
struct OnceCall {
  F* fn;
  std::chrono::milliseconds ttl;
  std::exception_ptr thrown;
};

// The loader given to tc_get_or_load; the library calls it only on the
// calling thread, during the call. Never lets an exception reach C.
template <class F>
tc_status once_trampoline(void* user_data, const std::uint8_t* key, std::size_t key_len,
                          tc_sink* sink) noexcept {
  auto* call = static_cast<OnceCall<F>*>(user_data);
  try {
    std::optional<Loaded> found;
    if constexpr (std::is_invocable_v<F&, std::string_view>) {
      found = to_loaded((*call->fn)(std::string_view(reinterpret_cast<const char*>(key), key_len)));
    } else {
      static_assert(std::is_invocable_v<F&>,
                    "get_or_load takes a callable with no argument or a std::string_view key");
      found = to_loaded((*call->fn)());
    }
    if (!found) return TC_NOT_FOUND;
    if (found->options) {
      return tc_sink_put_with(sink, bytes(found->value), found->value.size(), found->options->get());
    }
    std::chrono::milliseconds ttl = found->ttl.count() != 0 ? found->ttl : call->ttl;
    return tc_sink_put(sink, bytes(found->value), found->value.size(), to_ms(ttl));
  } catch (...) {
    call->thrown = std::current_exception();
    return TC_LOADER_FAILED;
  }
}

// Called after a C call that may have run the loader: a C++ exception the
// loader threw on this thread wins over the status it was turned into.
inline void check_load(Status status) {
  std::exception_ptr thrown = std::exchange(pending_loader_exception(), nullptr);
  if (status == TC_OK || status == TC_NOT_FOUND || status == TC_BUFFER_TOO_SMALL) return;
  if (thrown) std::rethrow_exception(thrown);
  fail(status);
}

}  // namespace detail

// Builder for Cache's options; owns a tc_options. Each setter calls its
// tc_options_set_* at once, so a bad value throws Error where it is set.
// Setters chain on both lvalues and temporaries:
//   tiercache::Cache cache(tiercache::Options().dir("/tmp/c").default_ttl(5min));
class Options {
 public:
  Options() : opts_(tc_options_new()) {
    if (!opts_) throw std::bad_alloc();
  }

  // Directory of the disk tier (created if missing). Unset: memory only.
  Options& dir(const std::string& path) & {
    detail::check(tc_options_set_dir(opts_.get(), path.c_str()));
    return *this;
  }
  // Bounds on memory: entries and key+value bytes; 0 means unbounded.
  Options& l1_capacity(std::uint64_t max_entries, std::uint64_t max_bytes) & {
    detail::check(tc_options_set_l1_capacity(opts_.get(), max_entries, max_bytes));
    return *this;
  }
  // Bound on bytes on disk; 0 means unbounded.
  Options& l2_capacity(std::uint64_t max_bytes) & {
    detail::check(tc_options_set_l2_capacity(opts_.get(), max_bytes));
    return *this;
  }
  // How memory chooses what to evict (default L1Policy::lru).
  Options& l1_policy(L1Policy policy) & {
    detail::check(tc_options_set_l1_policy(opts_.get(), static_cast<tc_l1_policy>(policy)));
    return *this;
  }
  Options& write_policy(WritePolicy policy) & {
    detail::check(tc_options_set_write_policy(opts_.get(), static_cast<tc_write_policy>(policy)));
    return *this;
  }
  // interval is read only with SyncPolicy::interval, where it must be >= 1ms.
  Options& sync_policy(SyncPolicy policy,
                       std::chrono::milliseconds interval = std::chrono::milliseconds{0}) & {
    detail::check(tc_options_set_sync_policy(opts_.get(), static_cast<tc_sync_policy>(policy),
                                             detail::to_ms(interval)));
    return *this;
  }
  // TTL of puts and loads that give none; zero means never expire.
  Options& default_ttl(std::chrono::milliseconds ttl) & {
    detail::check(tc_options_set_default_ttl(opts_.get(), detail::to_ms(ttl)));
    return *this;
  }
  // Largest value accepted (default 16 MiB, at most 1 GiB).
  Options& max_value_size(std::uint64_t max_bytes) & {
    detail::check(tc_options_set_max_value_size(opts_.get(), max_bytes));
    return *this;
  }
  // Size at which a disk segment file is sealed (default 64 MiB, >= 4096).
  Options& segment_size(std::uint64_t max_bytes) & {
    detail::check(tc_options_set_segment_size(opts_.get(), max_bytes));
    return *this;
  }

  // Open an existing directory without changing it (for tools that look
  // inside one): writes throw Error(TC_INVALID_ARGUMENT), loaded values stay
  // in memory, nothing is repaired and no background work runs.
  Options& read_only(bool on = true) & {
    detail::check(tc_options_set_read_only(opts_.get(), on));
    return *this;
  }

  // A shared remote tier (Redis or Valkey) between disk and the loader:
  // "redis://[user:password@]host[:port][/db]" or
  // "redis+cluster://host:port,host:port". A URL that cannot be parsed
  // throws Error(TC_INVALID_ARGUMENT) here; an unreachable server does not
  // (the cache opens with the tier degraded: counter("remote_state") == 2,
  // and keeps retrying). Optional arguments: the namespace (1 to 255 bytes;
  // caches of one namespace share values and invalidations), a secret (16
  // bytes or more: every remote value is signed with HMAC-SHA256) and the
  // timeout of one remote operation (default 250 ms). Empty means the
  // library's default. See README.md, "Many processes, many machines".
  Options& remote(const std::string& url, std::string_view ns = {}, std::string_view secret = {},
                  std::chrono::milliseconds timeout = std::chrono::milliseconds{0}) & {
    detail::check(tc_options_set_remote(opts_.get(), url.c_str()));
    if (!ns.empty()) {
      detail::check(tc_options_set_remote_namespace(opts_.get(), detail::bytes(ns), ns.size()));
    }
    if (!secret.empty()) {
      detail::check(tc_options_set_remote_secret(opts_.get(), detail::bytes(secret), secret.size()));
    }
    if (timeout.count() != 0) {
      detail::check(tc_options_set_remote_timeout(opts_.get(), detail::to_ms(timeout)));
    }
    return *this;
  }

  // The same setters on a temporary, so a chain can be moved into a variable.
  // Compress disk values of at least min_value_len bytes, each only if that
  // makes it smaller; memory keeps values as they are. A directory reopens
  // with any setting (the codec is recorded per record).
  Options& compression(Compression c, std::uint64_t min_value_len = 256) & {
    detail::check(tc_options_set_compression(opts_.get(), static_cast<tc_compression>(c), min_value_len));
    return *this;
  }
  // Encrypt and authenticate every disk record with this 32-byte key (any
  // other length throws Error(TC_INVALID_ARGUMENT)). The key is copied.
  Options& encryption_key(std::string_view key) & {
    detail::check(tc_options_set_encryption_key(opts_.get(), detail::bytes(key), key.size()));
    return *this;
  }

  Options&& dir(const std::string& path) && { return std::move(dir(path)); }
  Options&& l1_capacity(std::uint64_t e, std::uint64_t b) && { return std::move(l1_capacity(e, b)); }
  Options&& l2_capacity(std::uint64_t b) && { return std::move(l2_capacity(b)); }
  Options&& l1_policy(L1Policy p) && { return std::move(l1_policy(p)); }
  Options&& write_policy(WritePolicy p) && { return std::move(write_policy(p)); }
  Options&& sync_policy(SyncPolicy p, std::chrono::milliseconds i = std::chrono::milliseconds{0}) && {
    return std::move(sync_policy(p, i));
  }
  Options&& default_ttl(std::chrono::milliseconds t) && { return std::move(default_ttl(t)); }
  Options&& max_value_size(std::uint64_t b) && { return std::move(max_value_size(b)); }
  Options&& segment_size(std::uint64_t b) && { return std::move(segment_size(b)); }
  Options&& read_only(bool on = true) && { return std::move(read_only(on)); }
  Options&& compression(Compression c, std::uint64_t m = 256) && { return std::move(compression(c, m)); }
  Options&& encryption_key(std::string_view k) && { return std::move(encryption_key(k)); }
  Options&& remote(const std::string& url, std::string_view ns = {}, std::string_view secret = {},
                   std::chrono::milliseconds timeout = std::chrono::milliseconds{0}) && {
    return std::move(remote(url, ns, secret, timeout));
  }

  const tc_options* get() const noexcept { return opts_.get(); }

 private:
  std::unique_ptr<tc_options, detail::OptionsFreer> opts_;
};

// One iteration over the keys of a Cache (tc_iter), in byte order: an input
// range of std::pair<std::string, EntryInfo>, made by Cache::keys():
//
//   for (auto& [key, info] : cache.keys("user:")) { ... }
//
// The keys live when keys() is called are listed then; each is looked up
// again when the iteration reaches it: a key removed or expired meanwhile is
// skipped, one added meanwhile may or may not be yielded, and every key live
// throughout is yielded exactly once. The cache may be changed during the
// loop. Single pass, one thread at a time; it must not outlive its Cache.
// Advancing throws ClosedError once the cache is closed, Error on another
// failure.
class KeyRange {
 public:
  using value_type = std::pair<std::string, EntryInfo>;

  class iterator {
   public:
    using iterator_category = std::input_iterator_tag;
    using value_type = KeyRange::value_type;
    using difference_type = std::ptrdiff_t;
    using pointer = const value_type*;
    using reference = const value_type&;

    iterator() noexcept = default;
    reference operator*() const noexcept { return range_->current_; }
    pointer operator->() const noexcept { return &range_->current_; }
    iterator& operator++() {
      if (!range_->advance()) range_ = nullptr;
      return *this;
    }
    void operator++(int) { ++*this; }
    friend bool operator==(const iterator& a, const iterator& b) noexcept { return a.range_ == b.range_; }
    friend bool operator!=(const iterator& a, const iterator& b) noexcept { return a.range_ != b.range_; }

   private:
    friend class KeyRange;
    explicit iterator(KeyRange* range) noexcept : range_(range) {}
    KeyRange* range_ = nullptr;  // nullptr: the end
  };

  KeyRange(KeyRange&&) noexcept = default;
  KeyRange& operator=(KeyRange&&) noexcept = default;
  KeyRange(const KeyRange&) = delete;
  KeyRange& operator=(const KeyRange&) = delete;
  ~KeyRange() = default;  // tc_iter_free

  // The first key (begin() is called once: this is a single-pass range).
  iterator begin() {
    if (!started_) {
      started_ = true;
      if (advance()) return iterator(this);
    }
    return iterator();
  }
  iterator end() noexcept { return iterator(); }

 private:
  friend class Cache;
  struct IterFreer {
    void operator()(tc_iter* it) const noexcept { tc_iter_free(it); }
  };
  explicit KeyRange(tc_iter* it) noexcept : it_(it) {}

  // Moves to the next key; false at the end (the C iterator is freed then).
  bool advance() {
    if (!it_) return false;
    tc_bytes key{nullptr, 0};
    tc_entry_info info{};
    Status status = tc_iter_next(it_.get(), &key, &info);
    if (status == TC_NOT_FOUND) {
      it_.reset();
      return false;
    }
    if (status != TC_OK) {
      // Read the message before anything else can overwrite it.
      Status failed = status;
      std::string message = tc_last_error();
      it_.reset();
      if (failed == TC_CLOSED) throw ClosedError(message);
      throw Error(failed, message);
    }
    current_.first = detail::take_bytes(key);
    current_.second = detail::info_of(info);
    return true;
  }

  std::unique_ptr<tc_iter, IterFreer> it_;
  value_type current_;
  bool started_ = false;
};

// An open cache. Move-only: it owns the handle. close() shuts the cache
// down (flush, directory lock released, loader destroyed), even while other
// threads are using it; every call after it throws ClosedError. The
// destructor frees the handle, shutting the cache down first if close() was
// not called; a flush failure there cannot be reported, so call close()
// first to see it. A moved-from Cache is empty: every call on it throws
// Error(TC_INVALID_ARGUMENT).
// A value read without copying it (Cache::get_value): a read-only view of
// bytes the library keeps alive — memory's own copy, or the record in a
// segment file's memory map — until this object is destroyed. Move-only.
// The bytes never change, whatever happens to the key or the cache
// meanwhile (overwritten, removed, compacted away, the cache closed).
class Value {
 public:
  const std::uint8_t* data() const noexcept { return tc_value_data(handle_.get()); }
  std::size_t size() const noexcept { return tc_value_len(handle_.get()); }
  bool empty() const noexcept { return size() == 0; }
  std::string_view view() const noexcept {
    return size() == 0 ? std::string_view() : std::string_view(reinterpret_cast<const char*>(data()), size());
  }
  operator std::string_view() const noexcept { return view(); }
  // A copy the caller owns.
  std::string str() const { return std::string(view()); }

 private:
  friend class Cache;
  explicit Value(tc_value* v) noexcept : handle_(v) {}
  std::unique_ptr<tc_value, detail::ValueFreer> handle_;
};

class Cache {
 public:
  // Memory only, default sizes.
  Cache() : Cache(nullptr) {}
  explicit Cache(const Options& opts) : Cache(opts.get()) {}

  Cache(Cache&& other) noexcept
      : handle_(std::move(other.handle_)), closed_(other.closed_.load(std::memory_order_relaxed)) {}
  Cache& operator=(Cache&& other) noexcept {
    if (this != &other) {
      handle_ = std::move(other.handle_);  // frees (and shuts down) the old handle
      closed_.store(other.closed_.load(std::memory_order_relaxed), std::memory_order_relaxed);
    }
    return *this;
  }
  Cache(const Cache&) = delete;
  Cache& operator=(const Cache&) = delete;
  ~Cache() = default;  // the deleter is tc_cache_close; it is noexcept

  // Stores value under key. A ttl of zero means the default TTL.
  void put(std::string_view key, std::string_view value,
           std::chrono::milliseconds ttl = std::chrono::milliseconds{0}) {
    detail::check(tc_put(handle_.get(), detail::bytes(key), key.size(), detail::bytes(value),
                         value.size(), detail::to_ms(ttl)));
  }

  // Stores value under key with the TTL, tags and file dependency of opts
  // (copied: opts may be reused at once). See EntryOptions.
  void put_with(std::string_view key, std::string_view value, const EntryOptions& opts) {
    detail::check(tc_put_with(handle_.get(), detail::bytes(key), key.size(), detail::bytes(value),
                              value.size(), opts.get()));
  }

  // The value from memory, disk or the loader; nullopt if there is none.
  // An exception thrown by the loader during this call is rethrown here;
  // other threads waiting for that same load get Error(TC_LOADER_FAILED).
  //
  // A value of up to 16 KiB (detail::kGetScratch) is copied into a
  // per-thread buffer by tc_get_into_word (tc_get_into with the status and
  // the length in its return value), then into the string returned: one
  // lookup and one allocation. A larger one is asked for again with
  // get_value() and copied once into the string (the library keeps a value
  // it found, so the second lookup finds it too, and the statistics count
  // two hits), unless this call's loader produced it. A miss never reads
  // tc_last_error().
  std::optional<std::string> get(std::string_view key) {
    std::uint8_t* scratch = detail::get_scratch();
    detail::GetCall call{detail::kGetScratch, std::nullopt};
    std::int64_t word;
    {
      detail::GetCallScope scope(&call);
      const tc_get_target target{handle_.get(), scratch, detail::kGetScratch};
      word = tc_get_into_word(&target, detail::bytes(key), key.size());
    }
    // The length, or minus the status (with the size needed above its low byte).
    const Status status = word >= 0 ? TC_OK : static_cast<Status>((-word) & 255);
    const std::size_t len = word >= 0 ? static_cast<std::size_t>(word) : 0;
    detail::check_load(status);
    if (status == TC_OK) return std::string(reinterpret_cast<const char*>(scratch), len);
    if (status == TC_NOT_FOUND) return std::nullopt;
    // TC_BUFFER_TOO_SMALL: len is the size needed.
    if (call.loaded) return std::move(call.loaded);
    std::optional<Value> value = get_value(key);
    if (!value) return std::nullopt;
    return value->str();
  }

  // get() without copying: the value from memory, disk or the loader as a
  // Value that keeps the bytes where the library has them (memory's copy, or
  // the record in the segment's memory map); nullopt if there is none. The
  // same tiers, loader and consistency as get(); loader exceptions as get().
  std::optional<Value> get_value(std::string_view key) {
    tc_value* raw = nullptr;
    Status status;
    {
      detail::GetCallScope scope(nullptr);
      status = tc_get_value(handle_.get(), detail::bytes(key), key.size(), &raw);
    }
    detail::check_load(status);
    if (status == TC_NOT_FOUND) return std::nullopt;
    return Value(raw);
  }

  // get() into the caller's buffer, without allocating. Returns nullopt if
  // there is no value, else the value's size n: if n <= capacity the value
  // is in buf; if n > capacity nothing was copied (like snprintf) and the
  // caller may retry with n bytes. buf may be nullptr when capacity is 0.
  std::optional<std::size_t> get_into(std::string_view key, void* buf, std::size_t capacity) {
    static std::uint8_t dummy;  // the C call wants a non-NULL buffer even for 0 bytes
    auto* dst = capacity == 0 ? &dummy : static_cast<std::uint8_t*>(buf);
    std::size_t len = 0;
    Status status;
    {
      detail::GetCallScope scope(nullptr);
      status = tc_get_into(handle_.get(), detail::bytes(key), key.size(), dst, capacity, &len);
    }
    detail::check_load(status);
    if (status == TC_NOT_FOUND) return std::nullopt;
    return len;
  }

  // Whether memory or disk holds a value get() would return (unexpired, its
  // file dependency unchanged); never runs the loader.
  bool contains(std::string_view key) {
    bool present = false;
    detail::check(tc_contains(handle_.get(), detail::bytes(key), key.size(), &present));
    return present;
  }

  // Removes key from every tier, persistently; false if it had no value.
  bool remove(std::string_view key) {
    Status status = tc_remove(handle_.get(), detail::bytes(key), key.size());
    if (status == TC_NOT_FOUND) return false;
    detail::check(status);
    return true;
  }

  // Removes every key starting with prefix (empty: every key); returns how
  // many had a value.
  std::uint64_t remove_prefix(std::string_view prefix) {
    std::uint64_t removed = 0;
    detail::check(tc_remove_prefix(handle_.get(), detail::bytes(prefix), prefix.size(), &removed));
    return removed;
  }

  // Removes every entry carrying tag from every tier, persistently (it
  // stays removed after a restart), atomically with respect to puts as
  // remove_prefix is; returns how many had a live value. An empty tag throws
  // Error(TC_INVALID_ARGUMENT), one over 255 bytes Error(TC_TOO_LARGE).
  std::uint64_t remove_tag(std::string_view tag) {
    std::uint64_t removed = 0;
    detail::check(tc_remove_tag(handle_.get(), detail::bytes(tag), tag.size(), &removed));
    return removed;
  }

  // Empties memory only (memory_only = true; write-back entries are saved
  // to disk first) or every tier, persistently.
  void clear(bool memory_only) { detail::check(tc_clear(handle_.get(), memory_only)); }

  // Writes pending entries and records to disk and fsyncs (unless the sync
  // policy is never).
  void flush() { detail::check(tc_flush(handle_.get())); }

  // Drops expired entries from every tier; returns how many.
  std::uint64_t purge_expired() {
    std::uint64_t removed = 0;
    detail::check(tc_purge_expired(handle_.get(), &removed));
    return removed;
  }

  Stats stats() const {
    Stats out{};
    detail::check(tc_stats_get(handle_.get(), &out));
    return out;
  }

  // One counter by name: "l2_readmissions" (entries of a retired disk
  // segment written again because they had been read), "l2_segments"
  // (segment files now), or any tc_stats field by its name ("l1_hits", ...).
  // nullopt for an unknown name (without reading tc_last_error()).
  std::optional<std::uint64_t> counter(std::string_view name) const {
    if (name.find('\0') != std::string_view::npos) return std::nullopt;  // no such name
    std::string cname(name);
    std::uint64_t value = 0;
    Status status = tc_stats_get_counter(handle_.get(), cname.c_str(), &value);
    if (status == TC_NOT_FOUND) return std::nullopt;
    detail::check(status);
    return value;
  }

  // Why the remote tier is degraded (counter("remote_state") == 2): an
  // unreachable server, a refused password or certificate at open, a
  // timeout since. "" while the tier is ok; nullopt if the cache has no
  // remote tier. The tier keeps retrying whatever the reason.
  std::optional<std::string> remote_reason() const {
    tc_bytes out{nullptr, 0};
    Status status = tc_stats_remote_reason(handle_.get(), &out);
    if (status == TC_NOT_FOUND) return std::nullopt;
    detail::check(status);
    return detail::take_bytes(out);
  }

  // Compacts the disk tier now: every sealed segment with dead records has
  // its live records written again and is deleted; reads are served
  // throughout. A memory-only cache has nothing to compact. Throws
  // Error(TC_IO_ERROR) if the log cannot be written, synced or its old files
  // deleted (the cache is then degraded, as stats() reports).
  void compact() { detail::check(tc_compact(handle_.get())); }

  // What the cache knows about key's live value (length, expiry, write
  // time, tier, tags); nullopt if it holds none. Never runs the loader,
  // never promotes a disk entry into memory, does not count as a use.
  std::optional<EntryInfo> info(std::string_view key) {
    tc_entry_info raw{};
    Status status = tc_get_info(handle_.get(), detail::bytes(key), key.size(), &raw);
    if (status == TC_NOT_FOUND) return std::nullopt;
    detail::check(status);
    return detail::info_of(raw);
  }

  // Gives key's live value a new expiry, ttl from now; zero (the default)
  // means it never expires (unlike put(), where zero is the default TTL).
  // The value and its write time are kept; persisted like a put. False if
  // the key had no live value (nothing changed).
  bool touch(std::string_view key, std::chrono::milliseconds ttl = std::chrono::milliseconds{0}) {
    Status status = tc_touch(handle_.get(), detail::bytes(key), key.size(), detail::to_ms(ttl));
    if (status == TC_NOT_FOUND) return false;
    detail::check(status);
    return true;
  }

  // Live keys starting with prefix (every key for an empty one) and the
  // bytes of their values: what keys(prefix) would yield now.
  Count count(std::string_view prefix = {}) {
    Count out;
    detail::check(tc_count(handle_.get(), detail::bytes(prefix), prefix.size(), &out.entries,
                           &out.value_bytes));
    return out;
  }

  // An iteration over the keys starting with prefix (every key for an empty
  // one), with what the cache knows about each; see KeyRange. Never runs
  // the loader.
  KeyRange keys(std::string_view prefix = {}) {
    tc_iter* it = nullptr;
    detail::check(tc_iter_new(handle_.get(), detail::bytes(prefix), prefix.size(), &it));
    return KeyRange(it);
  }

  // Gets every key in one call (tc_get_many_into): element i is keys[i]'s
  // value, or nullopt if no tier and no loader has one. Misses are asked of
  // the loader, as by get(); an exception the loader throws is rethrown
  // here (after every value is freed). Any other failure of a key (an empty
  // key, a failed load...) throws that key's Error. keys is any range of
  // things convertible to std::string_view.
  template <class Range>
  std::vector<std::optional<std::string>> get_many(const Range& keys) {
    std::vector<tc_slice> slices;
    for (const auto& k : keys) slices.push_back(detail::slice_of(std::string_view(k)));
    const std::size_t n = slices.size();
    // The values come back end to end in one buffer, with no library
    // allocation per value; those that do not fit in it come as tc_value
    // handles, freed by free_spilled whatever happens.
    const std::size_t cap = n > 0 ? detail::kBatchBuffer : 0;
    std::unique_ptr<uint8_t[]> buf(cap > 0 ? new uint8_t[cap] : nullptr);
    std::vector<std::size_t> lens(n, 0);
    std::vector<tc_value*> spilled(n, nullptr);
    std::vector<tc_status> statuses(n, TC_OK);
    struct FreeSpilled {
      std::vector<tc_value*>& values;
      ~FreeSpilled() {
        for (tc_value* v : values) tc_value_free(v);
      }
    } free_spilled{spilled};
    Status status;
    {
      detail::GetCallScope scope(nullptr);
      status = tc_get_many_into(handle_.get(), slices.data(), n, buf.get(), cap, lens.data(), spilled.data(),
                                statuses.data());
    }
    std::exception_ptr thrown = std::exchange(detail::pending_loader_exception(), nullptr);
    detail::check(status);
    std::vector<std::optional<std::string>> out(n);
    std::optional<std::pair<std::size_t, Status>> failed;
    std::size_t at = 0;
    for (std::size_t i = 0; i < n; ++i) {
      if (statuses[i] == TC_OK) {
        out[i].emplace(reinterpret_cast<const char*>(buf.get()) + at, lens[i]);
        at += lens[i];
      } else if (statuses[i] == TC_BUFFER_TOO_SMALL) {
        out[i].emplace(reinterpret_cast<const char*>(tc_value_data(spilled[i])), tc_value_len(spilled[i]));
      } else if (statuses[i] != TC_NOT_FOUND && !failed) {
        failed.emplace(i, statuses[i]);
      }
    }
    if (thrown) std::rethrow_exception(thrown);
    if (failed) {
      throw Error(failed->second, "tiercache: get_many: key #" + std::to_string(failed->first) + ": " +
                                      tc_status_str(failed->second));
    }
    return out;
  }
  std::vector<std::optional<std::string>> get_many(std::initializer_list<std::string_view> keys) {
    return get_many<std::initializer_list<std::string_view>>(keys);
  }

  // Puts every (key, value) pair of pairs (a std::map, a vector of pairs,
  // ...: anything whose elements have .first and .second convertible to
  // std::string_view) in one call (tc_put_many), in order, each as put()
  // would with ttl. Stops at the first failure and throws its Error (whose
  // message names the pair): the pairs before it are stored, the rest not.
  template <class Range>
  void put_many(const Range& pairs, std::chrono::milliseconds ttl = std::chrono::milliseconds{0}) {
    std::vector<tc_slice> keys, values;
    for (const auto& kv : pairs) {
      keys.push_back(detail::slice_of(std::string_view(kv.first)));
      values.push_back(detail::slice_of(std::string_view(kv.second)));
    }
    detail::check(tc_put_many(handle_.get(), keys.data(), values.data(), keys.size(), detail::to_ms(ttl)));
  }
  void put_many(std::initializer_list<std::pair<std::string_view, std::string_view>> pairs,
                std::chrono::milliseconds ttl = std::chrono::milliseconds{0}) {
    put_many<std::initializer_list<std::pair<std::string_view, std::string_view>>>(pairs, ttl);
  }

  // key's value from memory or disk, or else from fn (instead of the
  // cache's loader), stored and returned: memoization of one call. fn is
  // any callable taking no argument or the key (std::string_view), and
  // returns what a loader returns (see set_loader): nullopt means no value
  // (get_or_load returns nullopt, nothing is stored); a plain value is
  // stored with ttl (zero: the default TTL). One load per key at a time,
  // shared with the cache's loader: a get() or get_or_load() that misses
  // while a load of the key runs waits for it and returns its answer, and
  // its own fn is not called. If fn throws, nothing is stored and this call
  // rethrows the exception; callers that waited get Error(TC_LOADER_FAILED).
  template <class F>
  std::optional<std::string> get_or_load(std::string_view key, F&& fn,
                                         std::chrono::milliseconds ttl = std::chrono::milliseconds{0}) {
    using Fn = std::remove_reference_t<F>;
    detail::OnceCall<Fn> call{&fn, ttl, nullptr};
    detail::to_ms(ttl);  // a negative TTL throws before anything runs
    tc_bytes out{nullptr, 0};
    Status status;
    {
      detail::GetCallScope scope(nullptr);
      status = tc_get_or_load(handle_.get(), detail::bytes(key), key.size(),
                              &detail::once_trampoline<Fn>, &call, &out);
    }
    if (status == TC_OK) return detail::take_bytes(out);
    if (call.thrown) std::rethrow_exception(call.thrown);
    if (status == TC_NOT_FOUND) return std::nullopt;
    detail::fail(status);
  }

  // Sets the loader asked on a miss, replacing any earlier one (which is
  // destroyed once no call of it is running). fn takes the key as a
  // std::string_view and returns one of:
  //   std::optional<std::string>   nullopt: no such value
  //   std::optional<Loaded>        to give a TTL, or EntryOptions (tags, a
  //                                file dependency), with the value
  //   std::string                  always found
  // It runs with no lock held, may call back into this cache, and may run
  // on several threads at once for different keys, but once per key at a
  // time. If it throws, nothing is cached and the get() that ran it
  // rethrows the exception.
  template <class F>
  void set_loader(F fn) {
    using R = std::invoke_result_t<F&, std::string_view>;
    auto holder = std::make_unique<detail::LoaderFn>();
    if constexpr (std::is_convertible_v<R, std::optional<std::string>>) {
      *holder = [f = std::move(fn)](std::string_view key) mutable -> std::optional<Loaded> {
        std::optional<std::string> value = f(key);
        if (!value) return std::nullopt;
        return Loaded{std::move(*value), std::chrono::milliseconds{0}};
      };
    } else {
      static_assert(std::is_convertible_v<R, std::optional<Loaded>>,
                    "a loader returns std::optional<std::string> or std::optional<Loaded>");
      *holder = std::move(fn);
    }
    // The library owns the std::function from here and frees it through
    // loader_free; it does so only if the call succeeds.
    detail::check(tc_cache_set_loader(handle_.get(), &detail::loader_trampoline, holder.get(),
                                      &detail::loader_free));
    holder.release();
  }

  // Removes the loader: misses are misses again.
  void clear_loader() {
    detail::check(tc_cache_set_loader(handle_.get(), nullptr, nullptr, nullptr));
  }

  // Shuts the cache down now (tc_cache_shutdown): waits for the calls other
  // threads are making on it (loaders included), flushes, releases the
  // directory lock and destroys the loader; calls made after it throw
  // ClosedError. Throws Error(TC_IO_ERROR) if the final flush failed (the
  // cache is closed all the same), and Error(TC_INVALID_ARGUMENT) if called
  // from inside a loader of this cache (it would wait for itself; nothing is
  // closed). Idempotent; a no-op on a moved-from Cache. The handle's memory
  // is freed by the destructor.
  void close() {
    if (!handle_) return;
    Status status = tc_cache_shutdown(handle_.get());
    if (status != TC_INVALID_ARGUMENT) closed_.store(true, std::memory_order_relaxed);
    detail::check(status);
  }

  // False once moved from or closed.
  explicit operator bool() const noexcept {
    return handle_ != nullptr && !closed_.load(std::memory_order_relaxed);
  }
  // The C handle, for calls this wrapper does not cover; still owned here
  // (and valid, if closed, until the destructor).
  tc_cache* handle() const noexcept { return handle_.get(); }

 private:
  explicit Cache(const tc_options* opts) {
    tc_cache* raw = nullptr;
    detail::check(tc_cache_open(opts, &raw));
    handle_.reset(raw);
  }

  std::unique_ptr<tc_cache, detail::CacheCloser> handle_;
  std::atomic<bool> closed_{false};  // close() succeeded (for operator bool)
};

}  // namespace tiercache

#endif  // TIERCACHE_HPP
