// test_entries.cpp: info(), touch(), count(), iteration with keys(),
// get_many(), put_many() and get_or_load() (any callable, single flight
// shared with the cache's loader, exceptions), and all of them after close().
#include <tiercache.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "test_util.hpp"

using namespace std::chrono_literals;
using tiercache::Cache;
using tiercache::EntryInfo;
using tiercache::Loaded;
using tiercache::Options;
using tiercache::Tier;

namespace {

tiercache::TimePoint now_ms() {
  return std::chrono::time_point_cast<std::chrono::milliseconds>(std::chrono::system_clock::now());
}

std::vector<std::string> keys_of(Cache& cache, std::string_view prefix = {}) {
  std::vector<std::string> out;
  for (auto& [key, info] : cache.keys(prefix)) {
    EXPECT_EQ(info.value_len, cache.info(key)->value_len);
    out.push_back(key);
  }
  return out;
}

// Waits (at most 5 s) until get() misses: how an entry put with a 1 ms TTL
// is known to have expired, without a timing guess.
void wait_expired(Cache& cache, std::string_view key) {
  auto deadline = std::chrono::steady_clock::now() + 5s;
  while (cache.get(key).has_value()) {
    ASSERT_LT(std::chrono::steady_clock::now(), deadline) << key << " did not expire";
    std::this_thread::sleep_for(2ms);
  }
}

struct Boom : std::runtime_error {
  using std::runtime_error::runtime_error;
};

using tctest::status_of;

}  // namespace

TEST(Info, LengthTimesTierAndNoLoad) {
  tctest::TempDir dir;
  Cache cache(Options().dir(dir.sub("c")));
  std::atomic<int> loads{0};
  cache.set_loader([&](std::string_view) -> std::optional<std::string> {
    ++loads;
    return "x";
  });
  auto before = now_ms();
  cache.put("forever", "12345");
  cache.put("minute", "", 1min);
  auto after = now_ms();
  std::optional<EntryInfo> info = cache.info("forever");
  ASSERT_TRUE(info);
  EXPECT_EQ(info->value_len, 5u);
  EXPECT_FALSE(info->expires_at);
  EXPECT_GE(info->written_at, before);
  EXPECT_LE(info->written_at, after);
  EXPECT_EQ(info->tier, Tier::memory);
  EXPECT_EQ(info->tag_count, 0u);
  auto minute = cache.info("minute");
  ASSERT_TRUE(minute && minute->expires_at);
  EXPECT_EQ(*minute->expires_at - minute->written_at, 1min);
  EXPECT_EQ(cache.info("absent"), std::nullopt);
  EXPECT_EQ(loads.load(), 0);
  EXPECT_EQ(status_of([&] { cache.info(""); }), TC_INVALID_ARGUMENT);
  // From disk, without promotion.
  cache.clear(true);
  EXPECT_EQ(cache.info("forever")->tier, Tier::disk);
  EXPECT_EQ(cache.stats().l1_entries, 0u);
  EXPECT_EQ(cache.stats().l2_hits, 0u);
}

TEST(Touch, SetsAndClearsExpiryPersistently) {
  tctest::TempDir dir;
  const std::string path = dir.sub("c");
  tiercache::TimePoint expires;
  {
    Cache cache(Options().dir(path));
    EXPECT_FALSE(cache.touch("absent", 1s));
    cache.put("k", "value", 1min);
    auto written = cache.info("k")->written_at;
    EXPECT_TRUE(cache.touch("k"));  // zero: never expires
    EXPECT_FALSE(cache.info("k")->expires_at);
    EXPECT_EQ(cache.info("k")->written_at, written);
    auto before = now_ms();
    EXPECT_TRUE(cache.touch("k", 1h));
    expires = *cache.info("k")->expires_at;
    EXPECT_GE(expires, before + 1h);
    EXPECT_LE(expires, now_ms() + 1h);
    EXPECT_EQ(cache.get("k"), "value");
    EXPECT_EQ(status_of([&] { cache.touch("k", -1ms); }), TC_INVALID_ARGUMENT);
  }
  Cache again(Options().dir(path));
  EXPECT_EQ(again.info("k")->expires_at, expires);
  again.put("brief", "b", 1ms);
  wait_expired(again, "brief");
  EXPECT_FALSE(again.touch("brief"));
}

TEST(Count, PrefixesRemovesAndDisk) {
  tctest::TempDir dir;
  Cache cache(Options().dir(dir.sub("c")));
  EXPECT_EQ(cache.count().entries, 0u);
  cache.put_many(std::map<std::string, std::string>{{"a:1", "xx"}, {"a:2", "yyy"}, {"b:1", ""}, {"b:2", "zzzz"}});
  auto all = cache.count();
  EXPECT_EQ(all.entries, 4u);
  EXPECT_EQ(all.value_bytes, 9u);
  EXPECT_EQ(cache.count("a:").entries, 2u);
  EXPECT_EQ(cache.count("a:").value_bytes, 5u);
  EXPECT_EQ(cache.count("c:").entries, 0u);
  cache.remove("a:2");
  cache.clear(true);
  EXPECT_EQ(cache.count().entries, 3u);
  EXPECT_EQ(cache.count().value_bytes, 6u);
}

TEST(Keys, RangeForWithAndWithoutPrefix) {
  tctest::TempDir dir;
  Cache cache(Options().dir(dir.sub("c")));
  for (const char* k : {"user:2", "b", "user:10", "user:1", "users", "a", "user"}) cache.put(k, k);
  EXPECT_EQ(keys_of(cache), (std::vector<std::string>{"a", "b", "user", "user:1", "user:10", "user:2", "users"}));
  EXPECT_EQ(keys_of(cache, "user:"), (std::vector<std::string>{"user:1", "user:10", "user:2"}));
  EXPECT_TRUE(keys_of(cache, "zzz").empty());
  // Structured bindings over the range, as documented.
  std::size_t total = 0;
  for (auto& [key, info] : cache.keys("user")) {
    EXPECT_EQ(info.value_len, key.size());
    EXPECT_EQ(info.tier, Tier::memory);
    total += info.value_len;
  }
  EXPECT_EQ(total, cache.count("user").value_bytes);
  // Memory and disk together: each key once.
  cache.clear(true);
  cache.get("b");
  EXPECT_EQ(keys_of(cache).size(), 7u);
  // Leaving early frees the iteration (ASan/leak checkers would see it).
  for (auto& entry : cache.keys()) {
    EXPECT_EQ(entry.first, "a");
    break;
  }
  // Binary keys, NUL bytes included.
  Cache mem;
  mem.put(std::string("\0\x01", 2), "x");
  mem.put(std::string("\0\xff", 2), "y");
  mem.put("\xff", "z");
  auto range = mem.keys(std::string_view("\0", 1));
  std::vector<std::string> got;
  for (auto it = range.begin(); it != range.end(); ++it) got.push_back(it->first);
  EXPECT_EQ(got, (std::vector<std::string>{std::string("\0\x01", 2), std::string("\0\xff", 2)}));
}

TEST(Keys, ChangesDuringIterationAndExpiry) {
  Cache cache;
  for (const char* k : {"k1", "k2", "k3", "k4"}) cache.put(k, k);
  cache.put("gone", "x", 1ms);
  wait_expired(cache, "gone");
  cache.remove("k2");
  EXPECT_EQ(keys_of(cache), (std::vector<std::string>{"k1", "k3", "k4"}));
  std::vector<std::string> seen;
  for (auto& [key, info] : cache.keys()) {
    seen.push_back(key);
    if (key == "k1") {
      cache.remove("k3");     // not reached yet: skipped
      cache.put("k0", "new");  // before k1: not reached
    }
  }
  EXPECT_EQ(seen, (std::vector<std::string>{"k1", "k4"}));
}

TEST(Keys, AfterCloseThrowsClosedError) {
  Cache cache;
  cache.put("a", "1");
  cache.put("b", "2");
  auto range = cache.keys();
  auto it = range.begin();
  ASSERT_NE(it, range.end());
  EXPECT_EQ(it->first, "a");
  cache.close();
  EXPECT_THROW(++it, tiercache::ClosedError);
  EXPECT_THROW(cache.keys(), tiercache::ClosedError);
  EXPECT_THROW(cache.count(), tiercache::ClosedError);
  EXPECT_THROW(cache.info("a"), tiercache::ClosedError);
  EXPECT_THROW(cache.touch("a"), tiercache::ClosedError);
  EXPECT_THROW(cache.get_many({"a"}), tiercache::ClosedError);
  EXPECT_THROW(cache.put_many({{"a", "1"}}), tiercache::ClosedError);
  EXPECT_THROW(cache.get_or_load("a", [] { return std::string("v"); }), tiercache::ClosedError);
}

TEST(Batches, GetManyPutMany) {
  tctest::TempDir dir;
  const std::string path = dir.sub("c");
  {
    Cache cache(Options().dir(path));
    cache.put_many({{"a", "1"}, {"b", ""}, {"c", "333"}}, 1min);
    EXPECT_TRUE(cache.info("c")->expires_at);
    auto got = cache.get_many({"c", "missing", "a", "b"});
    ASSERT_EQ(got.size(), 4u);
    EXPECT_EQ(got[0], "333");
    EXPECT_EQ(got[1], std::nullopt);
    EXPECT_EQ(got[2], "1");
    EXPECT_EQ(got[3], "");
    std::vector<std::string> owned = {"a", "c"};
    EXPECT_EQ(cache.get_many(owned), (std::vector<std::optional<std::string>>{"1", "333"}));
    EXPECT_TRUE(cache.get_many(std::vector<std::string>{}).empty());
    cache.put_many(std::vector<std::pair<std::string, std::string>>{});  // n = 0
    EXPECT_EQ(cache.count().entries, 3u);
    EXPECT_EQ(status_of([&] { cache.get_many({"a", ""}); }), TC_INVALID_ARGUMENT);
  }
  Cache again(Options().dir(path));
  EXPECT_EQ(again.get("c"), "333");
}

TEST(Batches, PutManyStopsAtFirstFailure) {
  Cache cache(Options().max_value_size(4));
  try {
    cache.put_many({{"first", "ok"}, {"second", "too long"}, {"third", "ok"}});
    FAIL() << "put_many did not throw";
  } catch (const tiercache::Error& e) {
    EXPECT_EQ(e.status(), TC_TOO_LARGE);
    EXPECT_NE(std::string(e.what()).find("1"), std::string::npos) << e.what();
  }
  EXPECT_TRUE(cache.contains("first"));
  EXPECT_FALSE(cache.contains("second"));
  EXPECT_FALSE(cache.contains("third"));
}

TEST(Batches, GetManyAsksTheLoaderAndRethrows) {
  Cache cache;
  cache.put("here", "H");
  cache.set_loader([](std::string_view k) -> std::optional<std::string> {
    if (k == "none") return std::nullopt;
    if (k == "throw") throw Boom("cannot load");
    return "L:" + std::string(k);
  });
  auto got = cache.get_many({"here", "there", "none"});
  EXPECT_EQ(got, (std::vector<std::optional<std::string>>{"H", "L:there", std::nullopt}));
  EXPECT_THROW(cache.get_many({"here", "throw", "x"}), Boom);
  EXPECT_FALSE(cache.contains("throw"));
  EXPECT_TRUE(cache.contains("x"));  // the other keys were served all the same
}

TEST(GetOrLoad, AnyCallable) {
  Cache cache;
  std::atomic<int> cache_loads{0};
  cache.set_loader([&](std::string_view) -> std::optional<std::string> {
    ++cache_loads;
    return "cache";
  });
  int calls = 0;
  auto mine = [&] {
    ++calls;
    return std::string("mine");
  };
  EXPECT_EQ(cache.get_or_load("k", mine), "mine");
  EXPECT_EQ(cache.get_or_load("k", mine), "mine");
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(cache.get("k"), "mine");
  EXPECT_EQ(cache_loads.load(), 0);
  // With the key; returning optional; a TTL from the call or from Loaded.
  EXPECT_EQ(cache.get_or_load("k2", [](std::string_view key) { return "for " + std::string(key); }), "for k2");
  EXPECT_EQ(cache.get_or_load("nf", []() -> std::optional<std::string> { return std::nullopt; }), std::nullopt);
  EXPECT_FALSE(cache.contains("nf"));
  EXPECT_EQ(cache.get_or_load("ttl", [] { return std::string("v"); }, 1min), "v");
  EXPECT_TRUE(cache.info("ttl")->expires_at);
  EXPECT_EQ(cache.get_or_load("ttl2", [] { return std::optional<Loaded>(Loaded{"v", 1h}); }), "v");
  EXPECT_GT(*cache.info("ttl2")->expires_at, now_ms() + 59min);
  // A function object, a function pointer.
  struct Functor {
    std::string operator()() const { return "functor"; }
  };
  EXPECT_EQ(cache.get_or_load("f", Functor{}), "functor");
  std::string (*fp)() = [] { return std::string("pointer"); };
  EXPECT_EQ(cache.get_or_load("p", fp), "pointer");
  // A present key never runs fn.
  cache.put("present", "put");
  EXPECT_EQ(cache.get_or_load("present", [&] { ++calls; return std::string("no"); }), "put");
  EXPECT_EQ(calls, 1);
}

TEST(GetOrLoad, ExceptionsAndErrors) {
  Cache cache(Options().max_value_size(4));
  EXPECT_THROW(cache.get_or_load("k", []() -> std::string { throw Boom("no"); }), Boom);
  EXPECT_FALSE(cache.contains("k"));
  EXPECT_EQ(status_of([&] { cache.get_or_load("big", [] { return std::string("too long"); }); }),
            TC_LOADER_FAILED);
  EXPECT_EQ(status_of([&] { cache.get_or_load("", [] { return std::string("v"); }); }), TC_INVALID_ARGUMENT);
  // A get() inside fn whose own loader throws keeps its exception to itself.
  Cache nested;
  nested.set_loader([](std::string_view) -> std::optional<std::string> { throw Boom("inner"); });
  auto outer = [&]() -> std::string {
    try {
      nested.get("inner");
    } catch (const Boom&) {
      return "caught";
    }
    return "not thrown";
  };
  EXPECT_EQ(nested.get_or_load("outer", outer), "caught");
}

// Two threads, one load: whichever of get() (the cache's loader) and
// get_or_load() starts it, the other joins it (or, arriving after it ended,
// hits the stored answer: the same outcome, so timing cannot fail the test).
TEST(GetOrLoad, SingleFlightWithTheCacheLoader) {
  for (bool first_is_get : {true, false}) {
    Cache cache;
    std::mutex mu;
    std::condition_variable cv;
    bool started = false;
    std::atomic<int> cache_loads{0}, mine_loads{0};
    auto announce = [&] {
      {
        std::lock_guard<std::mutex> lock(mu);
        started = true;
      }
      cv.notify_all();
      std::this_thread::sleep_for(150ms);
    };
    cache.set_loader([&](std::string_view) -> std::optional<std::string> {
      ++cache_loads;
      announce();
      return "cache";
    });
    auto mine = [&] {
      ++mine_loads;
      announce();
      return std::string("mine");
    };
    std::optional<std::string> a, b;
    std::thread first([&] { a = first_is_get ? cache.get("shared") : cache.get_or_load("shared", mine); });
    {
      std::unique_lock<std::mutex> lock(mu);
      ASSERT_TRUE(cv.wait_for(lock, 5s, [&] { return started; }));
    }
    std::thread second([&] { b = first_is_get ? cache.get_or_load("shared", mine) : cache.get("shared"); });
    first.join();
    second.join();
    const char* want = first_is_get ? "cache" : "mine";
    EXPECT_EQ(a, want);
    EXPECT_EQ(b, want);
    EXPECT_EQ(cache_loads.load() + mine_loads.load(), 1);
    EXPECT_EQ(cache.stats().l3_loads, 1u);
  }
}

TEST(GetOrLoad, ManyThreadsOneCall) {
  Cache cache;
  std::atomic<int> calls{0};
  tctest::StartLine line(8);
  std::vector<std::thread> threads;
  std::vector<std::optional<std::string>> results(8);
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&, i] {
      line.wait();
      results[i] = cache.get_or_load("k", [&] {
        ++calls;
        std::this_thread::sleep_for(200ms);
        return std::string("answer");
      });
    });
  }
  for (auto& t : threads) t.join();
  for (auto& r : results) EXPECT_EQ(r, "answer");
  EXPECT_EQ(calls.load(), 1);
}
