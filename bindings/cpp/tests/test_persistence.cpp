// test_persistence.cpp: what a directory-backed cache keeps across a close
// and reopen (values, removals, prefix removals, write-back after flush or
// close), and that a reopened cache answers from disk.
#include <tiercache.hpp>

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <thread>

#include "test_util.hpp"

using namespace std::chrono_literals;
using tiercache::Cache;
using tiercache::Options;

TEST(Persistence, ValuesSurviveReopen) {
  tctest::TempDir tmp;
  const std::string dir = tmp.sub("c");
  {
    Cache cache(Options().dir(dir));
    cache.put("a", "1");
    cache.put(std::string("bin\0", 4), std::string("\xff\0", 2));
  }
  Cache cache(Options().dir(dir));
  EXPECT_EQ(cache.get("a"), "1");
  EXPECT_EQ(cache.get(std::string("bin\0", 4)), std::string("\xff\0", 2));
  EXPECT_GE(cache.stats().l2_hits, 1u);  // answered from disk, not memory
}

TEST(Persistence, RemovalsSurviveReopen) {
  tctest::TempDir tmp;
  const std::string dir = tmp.sub("c");
  {
    Cache cache(Options().dir(dir));
    cache.put("gone", "x");
    cache.put("ns:1", "x");
    cache.put("ns:2", "x");
    cache.put("kept", "y");
    EXPECT_TRUE(cache.remove("gone"));
    EXPECT_EQ(cache.remove_prefix("ns:"), 2u);
  }
  Cache cache(Options().dir(dir));
  EXPECT_EQ(cache.get("gone"), std::nullopt);
  EXPECT_EQ(cache.get("ns:1"), std::nullopt);
  EXPECT_EQ(cache.get("ns:2"), std::nullopt);
  EXPECT_EQ(cache.get("kept"), "y");
}

TEST(Persistence, ClearAllSurvivesReopen) {
  tctest::TempDir tmp;
  const std::string dir = tmp.sub("c");
  {
    Cache cache(Options().dir(dir));
    cache.put("a", "1");
    cache.clear(false);
  }
  Cache cache(Options().dir(dir));
  EXPECT_EQ(cache.get("a"), std::nullopt);
}

TEST(Persistence, WriteBackFlushedOnCloseAndFlush) {
  tctest::TempDir tmp;
  const std::string dir = tmp.sub("c");
  {
    Cache cache(Options().dir(dir).write_policy(tiercache::WritePolicy::back));
    cache.put("by-flush", "1");
    cache.flush();
    cache.put("by-close", "2");
  }
  Cache cache(Options().dir(dir));
  EXPECT_EQ(cache.get("by-flush"), "1");
  EXPECT_EQ(cache.get("by-close"), "2");
}

TEST(Persistence, ExpiredEntriesStayExpiredAfterReopen) {
  tctest::TempDir tmp;
  const std::string dir = tmp.sub("c");
  {
    Cache cache(Options().dir(dir));
    cache.put("short", "x", 30ms);
    cache.put("long", "y", std::chrono::hours(1));
  }
  std::this_thread::sleep_for(100ms);
  Cache cache(Options().dir(dir));
  EXPECT_EQ(cache.get("short"), std::nullopt);
  EXPECT_EQ(cache.get("long"), "y");
}

TEST(Persistence, ManySegmentsReopen) {
  tctest::TempDir tmp;
  const std::string dir = tmp.sub("c");
  const std::string value(500, 'v');
  {
    Cache cache(Options().dir(dir).segment_size(4096).l1_capacity(8, 0));
    for (int i = 0; i < 200; ++i) cache.put("k" + std::to_string(i), value + std::to_string(i));
    cache.close();
  }
  Cache cache(Options().dir(dir).l1_capacity(1, 0));
  for (int i = 0; i < 200; ++i) {
    ASSERT_EQ(cache.get("k" + std::to_string(i)), value + std::to_string(i)) << i;
  }
}

TEST(Persistence, MovedCacheKeepsItsDirectory) {
  tctest::TempDir tmp;
  const std::string dir = tmp.sub("c");
  Cache outer;
  {
    Cache inner(Options().dir(dir));
    inner.put("k", "v");
    outer = std::move(inner);
  }  // inner was moved from: its destructor must not close the cache
  outer.put("k2", "v2");
  EXPECT_EQ(outer.get("k"), "v");
  outer.close();
  Cache again(Options().dir(dir));
  EXPECT_EQ(again.get("k2"), "v2");
}

using tctest::status_of;

TEST(Persistence, CompressedAndEncryptedValuesSurviveReopen) {
  const std::string key(32, 'k');
  std::string value;
  for (int i = 0; i < 50; ++i) value += "a secret and very repetitive value; ";
  for (auto c : {tiercache::Compression::none, tiercache::Compression::lz4, tiercache::Compression::zstd}) {
    tctest::TempDir tmp;
    const std::string dir = tmp.sub("c");
    {
      Cache cache(Options().dir(dir).compression(c, 1).encryption_key(key));
      cache.put("secret-key", value);
      EXPECT_EQ(cache.counter("compressed_bytes_saved").value() > 0, c != tiercache::Compression::none);
    }
    Cache cache(Options().dir(dir).encryption_key(key));
    EXPECT_EQ(cache.get("secret-key"), value);
    EXPECT_EQ(status_of([&] { Cache other(Options().dir(dir).encryption_key(std::string(32, 'x'))); }),
              TC_LOCKED);  // still open above: the lock is checked first
  }
}

TEST(Persistence, TheKeyIsCheckedAtOpen) {
  tctest::TempDir tmp;
  const std::string dir = tmp.sub("c");
  const std::string key(32, 'k');
  {
    Cache cache(Options().dir(dir).encryption_key(key));
    cache.put("a", "1");
  }
  EXPECT_EQ(status_of([&] { Cache c(Options().dir(dir)); }), TC_INVALID_ARGUMENT);
  EXPECT_EQ(status_of([&] { Cache c(Options().dir(dir).encryption_key(std::string(32, 'x'))); }),
            TC_INVALID_ARGUMENT);
  EXPECT_EQ(status_of([] { Options().encryption_key("short"); }), TC_INVALID_ARGUMENT);
  EXPECT_EQ(status_of([] { Options().compression(static_cast<tiercache::Compression>(9)); }),
            TC_INVALID_ARGUMENT);
  Cache cache(Options().dir(dir).encryption_key(key));
  EXPECT_EQ(cache.get("a"), "1");
}
