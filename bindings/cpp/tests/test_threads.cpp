// test_threads.cpp: one Cache used from several threads at once, memory
// only and on disk, with loads of different keys running concurrently.
#include <tiercache.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "test_util.hpp"

using tiercache::Cache;
using tiercache::Options;

namespace {

// Each thread owns keys t:<i> and also reads and writes a shared set.
void hammer(Cache& cache, int threads, int per_thread) {
  tctest::StartLine start(threads);
  std::atomic<int> wrong{0};
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      start.wait();
      for (int i = 0; i < per_thread; ++i) {
        const std::string key = std::to_string(t) + ":" + std::to_string(i);
        cache.put(key, "v" + key);
        if (cache.get(key) != "v" + key) ++wrong;
        const std::string shared = "shared:" + std::to_string(i % 16);
        cache.put(shared, "s");
        if (cache.get(shared) != "s") ++wrong;
        if (i % 10 == 0 && !cache.remove(key)) ++wrong;
      }
    });
  }
  for (auto& th : pool) th.join();
  EXPECT_EQ(wrong.load(), 0);
  for (int t = 0; t < threads; ++t) {
    for (int i = 0; i < per_thread; ++i) {
      const std::string key = std::to_string(t) + ":" + std::to_string(i);
      if (i % 10 == 0) {
        EXPECT_FALSE(cache.contains(key)) << key;
      } else {
        EXPECT_EQ(cache.get(key), "v" + key);
      }
    }
  }
}

}  // namespace

TEST(Threads, MemoryOnly) {
  Cache cache;
  hammer(cache, 4, 2000);
}

TEST(Threads, OnDiskWithSmallMemory) {
  tctest::TempDir tmp;
  Cache cache(Options().dir(tmp.sub("c")).l1_capacity(64, 0).segment_size(64 * 1024));
  hammer(cache, 4, 1000);
}

TEST(Threads, ConcurrentLoadsOfDifferentKeys) {
  Cache cache;
  std::atomic<int> calls{0};
  cache.set_loader([&](std::string_view key) -> std::optional<std::string> {
    ++calls;
    return "L" + std::string(key);
  });
  constexpr int kThreads = 4, kKeys = 500;
  tctest::StartLine start(kThreads);
  std::atomic<int> wrong{0};
  std::vector<std::thread> pool;
  for (int t = 0; t < kThreads; ++t) {
    pool.emplace_back([&] {
      start.wait();
      for (int i = 0; i < kKeys; ++i) {
        const std::string key = "k" + std::to_string(i);
        if (cache.get(key) != "L" + key) ++wrong;
      }
    });
  }
  for (auto& th : pool) th.join();
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_EQ(calls.load(), kKeys);  // each key loaded once, whoever missed first
}
