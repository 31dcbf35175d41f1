// test_loader.cpp: loaders (the L3 tier) through set_loader: the result
// forms, not-found, TTLs, exceptions rethrown by the get() that ran the
// loader, single-flight across threads, re-entry, and the lifetime of the
// std::function the library owns.
#include <tiercache.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "test_util.hpp"

using namespace std::chrono_literals;
using tiercache::Cache;
using tiercache::Loaded;
using tiercache::Options;

namespace {
struct LoaderBoom : std::runtime_error {
  using std::runtime_error::runtime_error;
};
}  // namespace

TEST(Loader, LoadsOnMissThenServesFromMemory) {
  Cache cache;
  std::atomic<int> calls{0};
  cache.set_loader([&](std::string_view key) -> std::optional<std::string> {
    ++calls;
    return "value of " + std::string(key);
  });
  EXPECT_EQ(cache.get("a"), "value of a");
  EXPECT_EQ(cache.get("a"), "value of a");
  EXPECT_EQ(calls.load(), 1);
  EXPECT_TRUE(cache.contains("a"));  // the answer was stored
  tiercache::Stats s = cache.stats();
  EXPECT_EQ(s.l3_loads, 1u);
  EXPECT_EQ(s.l1_hits, 1u);
}

TEST(Loader, PutWinsOverLoader) {
  Cache cache;
  cache.set_loader([](std::string_view) -> std::optional<std::string> { return "loaded"; });
  cache.put("k", "stored");
  EXPECT_EQ(cache.get("k"), "stored");
}

TEST(Loader, NotFoundIsNulloptAndNothingCached) {
  Cache cache;
  std::atomic<int> calls{0};
  cache.set_loader([&](std::string_view) -> std::optional<std::string> {
    ++calls;
    return std::nullopt;
  });
  EXPECT_EQ(cache.get("k"), std::nullopt);
  EXPECT_FALSE(cache.contains("k"));
  EXPECT_GE(calls.load(), 1);
  char buf[4];
  EXPECT_EQ(cache.get_into("k", buf, sizeof buf), std::nullopt);
}

TEST(Loader, PlainStringLoader) {
  Cache cache;
  cache.set_loader([](std::string_view key) { return std::string(key) + "!"; });
  EXPECT_EQ(cache.get("x"), "x!");
}

TEST(Loader, LoadedCarriesATtl) {
  Cache cache;
  std::atomic<int> calls{0};
  cache.set_loader([&](std::string_view key) -> std::optional<Loaded> {
    ++calls;
    if (key == "short") return Loaded{"s", 20ms};
    return Loaded{"l", 0ms};
  });
  EXPECT_EQ(cache.get("short"), "s");
  EXPECT_EQ(cache.get("long"), "l");
  std::this_thread::sleep_for(80ms);
  EXPECT_FALSE(cache.contains("short"));  // expired
  EXPECT_TRUE(cache.contains("long"));
  EXPECT_EQ(cache.get("short"), "s");  // loaded again
  EXPECT_EQ(calls.load(), 3);
}

TEST(Loader, LoadedEmptyValue) {
  Cache cache;
  cache.set_loader([](std::string_view) -> std::optional<Loaded> { return Loaded{}; });
  EXPECT_EQ(cache.get("k"), std::string());
}

TEST(Loader, GetIntoUsesTheLoader) {
  Cache cache;
  cache.set_loader([](std::string_view) -> std::optional<std::string> { return "12345"; });
  char small[2];
  EXPECT_EQ(cache.get_into("k", small, sizeof small), std::optional<std::size_t>(5));
  char buf[8];
  EXPECT_EQ(cache.get_into("k", buf, sizeof buf), std::optional<std::size_t>(5));
  EXPECT_EQ(std::string(buf, 5), "12345");
}

TEST(Loader, ExceptionIsRethrownByGetAndNothingIsCached) {
  Cache cache;
  std::atomic<int> calls{0};
  cache.set_loader([&](std::string_view key) -> std::optional<std::string> {
    ++calls;
    throw LoaderBoom("cannot load " + std::string(key));
  });
  try {
    (void)cache.get("k");
    FAIL() << "no throw";
  } catch (const LoaderBoom& e) {
    EXPECT_STREQ(e.what(), "cannot load k");  // the very exception, type and all
  }
  EXPECT_FALSE(cache.contains("k"));
  EXPECT_EQ(cache.stats().l1_entries, 0u);
  // Not cached, so the loader is asked again; get_into rethrows too.
  char buf[4];
  EXPECT_THROW((void)cache.get_into("k", buf, sizeof buf), LoaderBoom);
  EXPECT_EQ(calls.load(), 2);
  // The exception is not left behind for unrelated calls.
  cache.clear_loader();
  EXPECT_EQ(cache.get("k"), std::nullopt);
  cache.put("k", "v");
  EXPECT_EQ(cache.get("k"), "v");
}

TEST(Loader, NonStandardExceptionTypesSurvive) {
  Cache cache;
  cache.set_loader([](std::string_view) -> std::optional<std::string> { throw 42; });
  try {
    (void)cache.get("k");
    FAIL() << "no throw";
  } catch (int v) {
    EXPECT_EQ(v, 42);
  }
}

TEST(Loader, ValueTooLargeFailsTheLoad) {
  Cache cache(Options().max_value_size(8));
  cache.set_loader([](std::string_view) -> std::optional<std::string> { return std::string(9, 'x'); });
  try {
    (void)cache.get("k");
    FAIL() << "no throw";
  } catch (const tiercache::Error& e) {
    EXPECT_EQ(e.status(), TC_LOADER_FAILED);
  }
  EXPECT_FALSE(cache.contains("k"));
}

TEST(Loader, EightThreadsOneKeyOneCall) {
  Cache cache;
  std::atomic<int> calls{0};
  cache.set_loader([&](std::string_view) -> std::optional<std::string> {
    ++calls;
    // Long enough that the other threads miss while this load runs.
    std::this_thread::sleep_for(200ms);
    return "shared";
  });
  constexpr int kThreads = 8;
  tctest::StartLine start(kThreads);
  std::vector<std::optional<std::string>> got(kThreads);
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      start.wait();
      got[i] = cache.get("hot");
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(calls.load(), 1);
  for (const auto& v : got) EXPECT_EQ(v, "shared");
}

// When a single-flight load throws, only the thread that ran the loader gets
// the exception; the threads that waited for it get TC_LOADER_FAILED.
TEST(Loader, ThrowingLoaderUnderContention) {
  Cache cache;
  std::atomic<int> calls{0};
  cache.set_loader([&](std::string_view) -> std::optional<std::string> {
    ++calls;
    std::this_thread::sleep_for(100ms);
    throw LoaderBoom("boom");
  });
  constexpr int kThreads = 8;
  tctest::StartLine start(kThreads);
  std::atomic<int> booms{0}, failed{0}, other{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&] {
      start.wait();
      try {
        (void)cache.get("hot");
        ++other;
      } catch (const LoaderBoom&) {
        ++booms;
      } catch (const tiercache::Error& e) {
        if (e.status() == TC_LOADER_FAILED) ++failed; else ++other;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(other.load(), 0);
  EXPECT_EQ(booms.load(), calls.load());
  EXPECT_EQ(booms.load() + failed.load(), kThreads);
  EXPECT_FALSE(cache.contains("hot"));
}

TEST(Loader, MayCallBackIntoTheSameCache) {
  Cache cache;
  cache.put("base", "B");
  cache.set_loader([&](std::string_view key) -> std::optional<std::string> {
    if (key == "derived") {
      // A nested get of another key: itself loaded through this loader.
      std::optional<std::string> inner = cache.get("inner");
      return *cache.get("base") + "+" + inner.value_or("?");
    }
    if (key == "inner") return "I";
    if (key == "throws-inside") return cache.get("bad").value_or("?");
    if (key == "bad") throw LoaderBoom("bad");
    return std::nullopt;
  });
  EXPECT_EQ(cache.get("derived"), "B+I");
  EXPECT_TRUE(cache.contains("inner"));
  // An exception from the nested load travels out through both loaders.
  EXPECT_THROW((void)cache.get("throws-inside"), LoaderBoom);
}

TEST(Loader, LoaderIsFreedOnReplaceClearAndClose) {
  auto token = std::make_shared<int>(0);
  std::weak_ptr<int> watch = token;
  {
    Cache cache;
    cache.set_loader([t = token](std::string_view) -> std::optional<std::string> { return "1"; });
    token.reset();
    EXPECT_FALSE(watch.expired());  // held by the library
    EXPECT_EQ(cache.get("k"), "1");

    auto second = std::make_shared<int>(0);
    std::weak_ptr<int> watch2 = second;
    cache.set_loader([t = std::move(second)](std::string_view) -> std::optional<std::string> {
      return "2";
    });
    EXPECT_TRUE(watch.expired());  // replaced: the first one is gone
    EXPECT_EQ(cache.get("j"), "2");
    cache.clear_loader();
    EXPECT_TRUE(watch2.expired());
    EXPECT_EQ(cache.get("z"), std::nullopt);

    auto third = std::make_shared<int>(0);
    watch = third;
    cache.set_loader([t = std::move(third)](std::string_view) { return std::string("3"); });
  }
  EXPECT_TRUE(watch.expired());  // closed with the cache
}

TEST(Loader, MutableStatefulLoader) {
  Cache cache;
  cache.set_loader([n = 0](std::string_view) mutable -> std::optional<std::string> {
    return std::to_string(++n);
  });
  EXPECT_EQ(cache.get("a"), "1");
  EXPECT_EQ(cache.get("b"), "2");
  EXPECT_EQ(cache.get("a"), "1");
}

// The library frees a replaced loader only once no call of it is running,
// so a loader's captured state stays valid for the whole of its call (run
// under AddressSanitizer, a use after free here is reported).
TEST(Loader, ReplacedWhileRunningStaysAliveUntilItReturns) {
  Cache cache;
  std::atomic<bool> entered{false}, replaced{false};
  auto state = std::make_shared<std::string>("first");
  std::weak_ptr<std::string> watch = state;
  cache.set_loader([&, s = std::move(state)](std::string_view) -> std::optional<std::string> {
    entered = true;
    while (!replaced) std::this_thread::yield();
    std::this_thread::sleep_for(20ms);
    return *s;  // still owned by this std::function
  });
  std::optional<std::string> got;
  std::thread getter([&] { got = cache.get("k"); });
  while (!entered) std::this_thread::yield();
  cache.set_loader([](std::string_view) -> std::optional<std::string> { return "second"; });
  replaced = true;
  getter.join();
  EXPECT_EQ(got, "first");
  EXPECT_TRUE(watch.expired());  // freed once its last call returned
  EXPECT_EQ(cache.get("other"), "second");
}
