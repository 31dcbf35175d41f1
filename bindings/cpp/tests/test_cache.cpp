// test_cache.cpp: the Cache and Options wrappers method by method (memory
// only unless a test needs a directory), RAII and move semantics.
#include <tiercache.hpp>

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "test_util.hpp"

using namespace std::chrono_literals;
using tiercache::Cache;
using tiercache::Options;

// The ownership rules are part of the API: check them at compile time.
static_assert(!std::is_copy_constructible_v<Cache>);
static_assert(!std::is_copy_assignable_v<Cache>);
static_assert(std::is_nothrow_move_constructible_v<Cache>);
static_assert(std::is_nothrow_move_assignable_v<Cache>);
static_assert(std::is_nothrow_destructible_v<Cache>);
static_assert(!std::is_copy_constructible_v<Options>);
static_assert(std::is_nothrow_move_constructible_v<Options>);
static_assert(std::is_base_of_v<std::runtime_error, tiercache::Error>);

TEST(Cache, VersionIsNotEmpty) { EXPECT_FALSE(tiercache::version().empty()); }

TEST(Cache, PutThenGet) {
  Cache cache;
  cache.put("alpha", "one");
  EXPECT_EQ(cache.get("alpha"), std::optional<std::string>("one"));
}

TEST(Cache, MissIsNullopt) {
  Cache cache;
  EXPECT_EQ(cache.get("absent"), std::nullopt);
}

TEST(Cache, OverwriteReplaces) {
  Cache cache;
  cache.put("k", "v1");
  cache.put("k", "v2");
  EXPECT_EQ(cache.get("k"), "v2");
}

TEST(Cache, BinaryKeysAndValuesKeepEveryByte) {
  Cache cache;
  const std::string key("\0k\xff", 3);
  const std::string value("\0\x01\0\xfe", 4);
  cache.put(key, value);
  EXPECT_EQ(cache.get(key), value);
  EXPECT_EQ(cache.get(std::string("\0k", 2)), std::nullopt);
}

TEST(Cache, EmptyValueIsAValue) {
  Cache cache;
  cache.put("e", std::string_view());  // data() is nullptr: must still work
  cache.put("f", "");
  EXPECT_EQ(cache.get("e"), std::string());
  EXPECT_EQ(cache.get("f"), std::string());
  EXPECT_TRUE(cache.contains("e"));
}

TEST(Cache, GetIntoFitsReportsSizeAndMiss) {
  Cache cache;
  cache.put("k", "hello");
  char buf[16] = {};
  EXPECT_EQ(cache.get_into("k", buf, sizeof buf), std::optional<std::size_t>(5));
  EXPECT_EQ(std::string(buf, 5), "hello");

  // Too small: nothing copied, the size needed is returned.
  char small[2] = {'x', 'x'};
  EXPECT_EQ(cache.get_into("k", small, sizeof small), std::optional<std::size_t>(5));
  EXPECT_EQ(small[0], 'x');

  // A size query with no buffer at all.
  EXPECT_EQ(cache.get_into("k", nullptr, 0), std::optional<std::size_t>(5));
  EXPECT_EQ(cache.get_into("absent", buf, sizeof buf), std::nullopt);
}

TEST(Cache, GetIntoExactSizeAndEmptyValue) {
  Cache cache;
  cache.put("k", "abc");
  cache.put("e", "");
  char buf[3];
  EXPECT_EQ(cache.get_into("k", buf, 3), std::optional<std::size_t>(3));
  EXPECT_EQ(std::string(buf, 3), "abc");
  EXPECT_EQ(cache.get_into("e", nullptr, 0), std::optional<std::size_t>(0));
}

TEST(Cache, ContainsNeverLoads) {
  Cache cache;
  int calls = 0;
  cache.set_loader([&](std::string_view) -> std::optional<std::string> {
    ++calls;
    return "loaded";
  });
  cache.put("here", "v");
  EXPECT_TRUE(cache.contains("here"));
  EXPECT_FALSE(cache.contains("elsewhere"));
  EXPECT_EQ(calls, 0);
}

TEST(Cache, RemoveSaysWhetherThereWasAValue) {
  Cache cache;
  cache.put("k", "v");
  EXPECT_TRUE(cache.remove("k"));
  EXPECT_FALSE(cache.remove("k"));
  EXPECT_EQ(cache.get("k"), std::nullopt);
}

TEST(Cache, RemovePrefixCountsAndKeepsOthers) {
  Cache cache;
  cache.put("user:1", "a");
  cache.put("user:2", "b");
  cache.put("users", "c");
  cache.put("item:1", "d");
  EXPECT_EQ(cache.remove_prefix("user:"), 2u);
  EXPECT_FALSE(cache.contains("user:1"));
  EXPECT_TRUE(cache.contains("users"));
  EXPECT_EQ(cache.remove_prefix("nothing:"), 0u);
  // The empty prefix is every key.
  EXPECT_EQ(cache.remove_prefix(""), 2u);
  EXPECT_FALSE(cache.contains("item:1"));
}

TEST(Cache, ClearMemoryOnlyKeepsDisk) {
  tctest::TempDir tmp;
  Cache cache(Options().dir(tmp.sub("c")));
  cache.put("k", "v");
  cache.clear(true);
  EXPECT_EQ(cache.stats().l1_entries, 0u);
  EXPECT_EQ(cache.get("k"), "v");  // back from disk
  cache.clear(false);
  EXPECT_EQ(cache.get("k"), std::nullopt);
}

TEST(Cache, ClearEmptiesMemoryOnlyCache) {
  Cache cache;
  cache.put("a", "1");
  cache.put("b", "2");
  cache.clear(false);
  EXPECT_FALSE(cache.contains("a"));
  EXPECT_FALSE(cache.contains("b"));
}

// The L1 policy reaches the library: ten keys hit twice, then a scan of a
// hundred new keys through an L1 of twenty entries. S3-FIFO keeps the hot
// keys; LRU loses them.
TEST(Cache, L1PolicyChoosesWhatAScanEvicts) {
  for (auto [policy, hot_kept] : {std::pair{tiercache::L1Policy::lru, false},
                                  std::pair{tiercache::L1Policy::s3fifo, true}}) {
    Cache cache(Options().l1_capacity(20, 0).l1_policy(policy));
    for (int i = 0; i < 10; i++) cache.put("hot" + std::to_string(i), "v");
    for (int r = 0; r < 2; r++) {
      for (int i = 0; i < 10; i++) EXPECT_EQ(cache.get("hot" + std::to_string(i)), "v");
    }
    for (int i = 0; i < 100; i++) cache.put("scan" + std::to_string(i), "v");
    int kept = 0;
    for (int i = 0; i < 10; i++) kept += cache.contains("hot" + std::to_string(i)) ? 1 : 0;
    EXPECT_EQ(kept == 10, hot_kept) << "policy " << static_cast<int>(policy) << ": " << kept;
  }
}

TEST(Cache, FlushSucceeds) {
  tctest::TempDir tmp;
  Cache cache(Options().dir(tmp.sub("c")).write_policy(tiercache::WritePolicy::back));
  cache.put("k", "v");
  EXPECT_NO_THROW(cache.flush());
  Cache memory;
  EXPECT_NO_THROW(memory.flush());
}

TEST(Cache, TtlExpiresAndPurgeCounts) {
  Cache cache;
  cache.put("short", "v", 20ms);
  cache.put("long", "v", std::chrono::hours(1));
  cache.put("forever", "v");
  std::this_thread::sleep_for(80ms);
  EXPECT_EQ(cache.get("short"), std::nullopt);  // never returned once expired
  EXPECT_EQ(cache.get("long"), "v");
  cache.put("short2", "v", 1ms);
  std::this_thread::sleep_for(30ms);
  // short2, and short unless the get above already dropped it.
  const std::uint64_t purged = cache.purge_expired();
  EXPECT_GE(purged, 1u);
  EXPECT_LE(purged, 2u);
  EXPECT_EQ(cache.purge_expired(), 0u);
  EXPECT_TRUE(cache.contains("forever"));
}

TEST(Cache, DefaultTtlOption) {
  Cache cache(Options().default_ttl(20ms));
  cache.put("k", "v");
  cache.put("kept", "v", std::chrono::hours(1));
  std::this_thread::sleep_for(80ms);
  EXPECT_FALSE(cache.contains("k"));
  EXPECT_TRUE(cache.contains("kept"));
}

TEST(Cache, StatsCountTiers) {
  Cache cache;
  cache.put("k", "value");
  (void)cache.get("k");
  (void)cache.get("absent");
  tiercache::Stats s = cache.stats();
  EXPECT_EQ(s.l1_hits, 1u);
  EXPECT_EQ(s.misses, 1u);
  EXPECT_EQ(s.l1_entries, 1u);
  EXPECT_GE(s.l1_bytes, 6u);
  EXPECT_EQ(s.l2_state, 0u);  // memory only

  tctest::TempDir tmp;
  Cache disk(Options().dir(tmp.sub("c")));
  disk.put("k", "v");
  EXPECT_EQ(disk.stats().l2_state, 1u);
  EXPECT_EQ(disk.stats().l2_entries, 1u);
}

TEST(Cache, L1CapacityEvicts) {
  Cache cache(Options().l1_capacity(4, 0));
  for (int i = 0; i < 64; ++i) cache.put("k" + std::to_string(i), "v");
  tiercache::Stats s = cache.stats();
  EXPECT_LE(s.l1_entries, 64u);
  EXPECT_GT(s.l1_evictions, 0u);
}

TEST(Cache, EveryOptionSetterAcceptsGoodValues) {
  tctest::TempDir tmp;
  Options opts;
  opts.dir(tmp.sub("c"))
      .l1_capacity(1000, 1 << 20)
      .l2_capacity(64 << 20)
      .write_policy(tiercache::WritePolicy::through)
      .sync_policy(tiercache::SyncPolicy::interval, 50ms)
      .default_ttl(0ms)
      .max_value_size(1 << 20)
      .segment_size(1 << 16);
  Cache cache(opts);
  cache.put("k", std::string(1000, 'x'));
  EXPECT_EQ(cache.get("k"), std::string(1000, 'x'));
  // An options object may open more than one cache (the C call copies it).
  Cache memory(Options().sync_policy(tiercache::SyncPolicy::always));
  memory.put("k", "v");
}

TEST(Cache, OptionsChainMovesIntoVariable) {
  Options opts = Options().l1_capacity(10, 0).default_ttl(1s);
  Options moved = std::move(opts);
  Cache cache(moved);
  cache.put("k", "v");
  EXPECT_TRUE(cache.contains("k"));
}

TEST(Cache, MoveTransfersTheHandle) {
  Cache a;
  a.put("k", "v");
  Cache b = std::move(a);
  EXPECT_FALSE(static_cast<bool>(a));  // NOLINT(bugprone-use-after-move): on purpose
  EXPECT_TRUE(static_cast<bool>(b));
  EXPECT_EQ(b.get("k"), "v");

  Cache c;
  c = std::move(b);
  EXPECT_EQ(c.get("k"), "v");
  std::vector<Cache> many;
  many.push_back(std::move(c));
  many.emplace_back();
  EXPECT_EQ(many[0].get("k"), "v");
}

TEST(Cache, MovedFromThrowsInvalidArgument) {
  Cache a;
  Cache b = std::move(a);
  try {
    a.put("k", "v");  // NOLINT(bugprone-use-after-move): on purpose
    FAIL() << "no throw";
  } catch (const tiercache::Error& e) {
    EXPECT_EQ(e.status(), TC_INVALID_ARGUMENT);
  }
  EXPECT_THROW((void)a.get("k"), tiercache::Error);
  EXPECT_THROW((void)a.stats(), tiercache::Error);
}

TEST(Cache, DestructorReleasesDirectoryLock) {
  tctest::TempDir tmp;
  const std::string dir = tmp.sub("c");
  {
    Cache first(Options().dir(dir));
    first.put("k", "v");
  }
  Cache second(Options().dir(dir));  // would be TC_LOCKED if still held
  EXPECT_EQ(second.get("k"), "v");
}

TEST(Cache, MoveAssignmentClosesTheOldCache) {
  tctest::TempDir tmp;
  const std::string dir = tmp.sub("c");
  Cache holder(Options().dir(dir));
  holder = Cache();  // the disk cache is closed here
  Cache again(Options().dir(dir));
  SUCCEED();
}

TEST(Cache, CloseIsIdempotentAndReleasesLock) {
  tctest::TempDir tmp;
  const std::string dir = tmp.sub("c");
  Cache cache(Options().dir(dir));
  cache.put("k", "v");
  cache.close();
  cache.close();
  EXPECT_FALSE(static_cast<bool>(cache));
  Cache again(Options().dir(dir));
  EXPECT_EQ(again.get("k"), "v");
}

TEST(Cache, HandleExposesTheCApi) {
  Cache cache;
  cache.put("k", "v");
  bool present = false;
  ASSERT_EQ(tc_contains(cache.handle(), reinterpret_cast<const uint8_t*>("k"), 1, &present), TC_OK);
  EXPECT_TRUE(present);
}

static_assert(!std::is_copy_constructible_v<tiercache::Value>);
static_assert(std::is_nothrow_move_constructible_v<tiercache::Value>);

TEST(Cache, GetValueIsAViewThatOutlivesTheKey) {
  Cache cache;
  EXPECT_EQ(cache.get_value("absent"), std::nullopt);
  cache.put("k", "v1");
  cache.put("e", "");
  std::optional<tiercache::Value> v = cache.get_value("k");
  ASSERT_TRUE(v);
  EXPECT_EQ(v->view(), "v1");
  EXPECT_EQ(v->size(), 2u);
  cache.put("k", "v2");
  cache.remove("k");
  EXPECT_EQ(std::string_view(*v), "v1");  // unchanged by the writes
  EXPECT_EQ(v->str(), "v1");
  std::optional<tiercache::Value> e = cache.get_value("e");
  ASSERT_TRUE(e);
  EXPECT_TRUE(e->empty());
  EXPECT_EQ(e->view(), std::string_view());
}

TEST(Cache, GetValueFromDiskSurvivesClearAndClose) {
  tctest::TempDir dir;
  std::string big(300000, 'x');
  for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i % 251);
  std::optional<tiercache::Value> v;
  {
    // Memory far smaller than the value: the disk hit is the segment's map.
    Cache cache(Options().dir(dir.path()).l1_capacity(16, 64 * 1024));
    cache.put("big", big);
    cache.flush();
    v = cache.get_value("big");
    ASSERT_TRUE(v);
    cache.clear(false);
    EXPECT_EQ(cache.get("big"), std::nullopt);
    // get() of a value over its 16 KiB buffer takes the get_value path.
    cache.put("big2", big);
    EXPECT_EQ(cache.get("big2"), big);
  }
  EXPECT_EQ(v->view(), big);
}
