// test_counters.cpp: compact(), counter(name), get()'s buffer (values on
// both sides of its size, loaded values larger than it), and that every
// function of tiercache.h is used by the wrapper.
#include <tiercache.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <string>

#include "test_util.hpp"

using tiercache::Cache;
using tiercache::Options;

namespace {

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Fills several small segments, then kills most of their records.
void churn(Cache& cache) {
  for (int round = 0; round < 3; ++round) {
    for (int i = 0; i < 200; ++i) {
      std::string v;
      for (int r = 0; r < 4; ++r) v += "value " + std::to_string(round) + " " + std::to_string(i) + " ";
      cache.put("k" + std::to_string(i), v);
    }
  }
  for (int i = 0; i < 200; i += 2) ASSERT_TRUE(cache.remove("k" + std::to_string(i)));
}

std::string final_value(int i) {
  std::string v;
  for (int r = 0; r < 4; ++r) v += "value 2 " + std::to_string(i) + " ";
  return v;
}

}  // namespace

TEST(Compact, DropsDeadRecordsKeepsLiveOnes) {
  tctest::TempDir dir;
  {
    Cache cache(Options().dir(dir.path()).segment_size(4096));
    churn(cache);
    auto before = cache.stats();
    auto segments = cache.counter("l2_segments");
    ASSERT_TRUE(segments.has_value());
    ASSERT_GT(*segments, 2u);
    cache.compact();
    auto after = cache.stats();
    EXPECT_GT(after.compactions, before.compactions);
    EXPECT_LT(after.l2_file_bytes, before.l2_file_bytes);
    EXPECT_EQ(after.l2_entries, 100u);
    EXPECT_LT(*cache.counter("l2_segments"), *segments);
    cache.clear(true);  // read the survivors back from disk
    for (int i = 0; i < 200; ++i) {
      auto got = cache.get("k" + std::to_string(i));
      if (i % 2 == 0) {
        EXPECT_EQ(got, std::nullopt);
      } else {
        EXPECT_EQ(got, final_value(i));
      }
    }
  }
  Cache again(Options().dir(dir.path()).segment_size(4096));
  EXPECT_EQ(again.get("k1"), final_value(1));
  EXPECT_FALSE(again.contains("k0"));
}

TEST(Compact, MemoryOnlyIsANoOp) {
  Cache cache;
  cache.put("k", "v");
  cache.compact();
  EXPECT_EQ(cache.get("k"), "v");
}

TEST(Counter, EveryStatsFieldByName) {
  tctest::TempDir dir;
  Cache cache(Options().dir(dir.path()));
  cache.put("a", "1");
  EXPECT_EQ(cache.get("a"), "1");
  EXPECT_EQ(cache.get("absent"), std::nullopt);
  auto s = cache.stats();
  const std::pair<const char*, std::uint64_t> fields[] = {
      {"l1_hits", s.l1_hits},           {"l2_hits", s.l2_hits},
      {"l3_loads", s.l3_loads},         {"misses", s.misses},
      {"l1_entries", s.l1_entries},     {"l1_bytes", s.l1_bytes},
      {"l2_entries", s.l2_entries},     {"l2_bytes", s.l2_bytes},
      {"l2_file_bytes", s.l2_file_bytes}, {"l1_evictions", s.l1_evictions},
      {"l2_evictions", s.l2_evictions}, {"compactions", s.compactions},
      {"corrupt_records", s.corrupt_records}, {"io_errors", s.io_errors},
      {"l2_state", s.l2_state},
  };
  for (const auto& [name, value] : fields) EXPECT_EQ(cache.counter(name), value) << name;
  EXPECT_EQ(cache.counter("l2_readmissions"), 0u);
  EXPECT_GE(cache.counter("l2_segments").value_or(0), 1u);
}

TEST(Counter, UnknownNameIsNullopt) {
  Cache cache;
  for (std::string_view name : {std::string_view("no_such_counter"), std::string_view(""),
                                std::string_view("L1_HITS"), std::string_view("l1_hits\0", 8)}) {
    EXPECT_EQ(cache.counter(name), std::nullopt) << name;
  }
}

TEST(Counter, MovedFromCacheThrows) {
  Cache cache;
  Cache other(std::move(cache));
  EXPECT_THROW(cache.counter("l1_hits"), tiercache::Error);  // NOLINT(bugprone-use-after-move)
  EXPECT_THROW(cache.compact(), tiercache::Error);           // NOLINT(bugprone-use-after-move)
}

TEST(GetBuffer, ValuesOnBothSidesOfTheScratchSize) {
  tctest::TempDir dir;
  Cache cache(Options().dir(dir.path()));
  const std::size_t k = tiercache::detail::kGetScratch;
  for (std::size_t n : {std::size_t{0}, std::size_t{1}, std::size_t{128}, k - 1, k, k + 1,
                        std::size_t{100000}, std::size_t{3} << 20, std::size_t{10}}) {
    std::string v(n, static_cast<char>('a' + n % 26));
    cache.put("k", v);
    EXPECT_EQ(cache.get("k"), v) << n;
    cache.clear(true);
    EXPECT_EQ(cache.get("k"), v) << n << " from disk";
  }
}

TEST(GetBuffer, LargeLoadedValueLoadsOnce) {
  // Too big for this L1 and no disk: the library cannot keep it, so asking
  // again would load again; get() returns the loader's answer instead.
  Cache cache(Options().l1_capacity(0, 256 * 1024));
  std::atomic<int> calls{0};
  const std::string big(300000, 'Z');
  cache.set_loader([&](std::string_view) -> std::optional<std::string> {
    ++calls;
    return big;
  });
  EXPECT_EQ(cache.get("k"), big);
  EXPECT_EQ(calls.load(), 1);
}

TEST(GetBuffer, LoaderCallingGetUsesItsOwnCall) {
  Cache cache;
  cache.put("inner", std::string(50000, 'i'));
  cache.set_loader([&](std::string_view key) -> std::optional<std::string> {
    auto inner = cache.get("inner");
    return "outer:" + inner->substr(0, 3) + std::string(key);
  });
  EXPECT_EQ(cache.get("x"), "outer:iiix");
  EXPECT_EQ(cache.get("inner"), std::string(50000, 'i'));
}

// Fails when include/tiercache.h gains a function the wrapper does not call.
TEST(Header, EveryFunctionIsWrapped) {
  const std::string header = slurp(std::string(TIERCACHE_ROOT_DIR) + "/include/tiercache.h");
  const std::string wrapper = slurp(std::string(TIERCACHE_ROOT_DIR) + "/bindings/cpp/include/tiercache.hpp");
  ASSERT_FALSE(header.empty());
  ASSERT_FALSE(wrapper.empty());
  // Deliberately not called: get() uses tc_get_into and get_many()
  // tc_get_many_into (no library allocation per value); tc_get_made is for
  // a runtime that holds a lock of its own around C calls (Python's GIL).
  const std::set<std::string> not_wrapped = {"tc_get", "tc_get_many", "tc_get_made"};
  std::regex decl(R"((?:^|\n)[a-z][\w ]*?\**\s*\**(tc_\w+)\()");
  int found = 0;
  for (auto it = std::sregex_iterator(header.begin(), header.end(), decl); it != std::sregex_iterator();
       ++it) {
    const std::string name = (*it)[1];
    ++found;
    if (not_wrapped.count(name)) continue;
    EXPECT_NE(wrapper.find(name + "("), std::string::npos) << name << " is not wrapped";
  }
  EXPECT_GT(found, 20);
}

TEST(ReadOnly, ReadsAndRefusesWrites) {
  tctest::TempDir dir;
  const std::string path = dir.sub("c");
  {
    Cache cache(Options().dir(path));
    cache.put("k", "v");
  }
  Cache ro(Options().dir(path).read_only());
  EXPECT_EQ(ro.get("k"), std::optional<std::string>("v"));
  try {
    ro.put("x", "y");
    FAIL() << "put on a read-only cache did not throw";
  } catch (const tiercache::Error& e) {
    EXPECT_EQ(e.status(), TC_INVALID_ARGUMENT);
  }
}
