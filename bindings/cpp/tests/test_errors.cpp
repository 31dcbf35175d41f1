// test_errors.cpp: tiercache::Error carries the status of the failed call
// and the library's message for it (tc_last_error()).
#include <tiercache.hpp>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "test_util.hpp"

using namespace std::chrono_literals;
using tiercache::Cache;
using tiercache::Options;

namespace {

// Runs f, which must throw tiercache::Error, and returns the error.
tiercache::Error caught(const std::function<void()>& f) {
  try {
    f();
  } catch (const tiercache::Error& e) {
    return e;
  }
  ADD_FAILURE() << "no tiercache::Error thrown";
  return tiercache::Error(TC_OK, "none");
}

}  // namespace

TEST(Errors, EmptyKeyIsInvalidArgument) {
  Cache cache;
  for (auto call : std::vector<std::function<void()>>{
           [&] { cache.put("", "x"); },
           [&] { (void)cache.get(""); },
           [&] { (void)cache.contains(""); },
           [&] { (void)cache.remove(""); },
           [&] { char b[4]; (void)cache.get_into("", b, 4); },
       }) {
    tiercache::Error e = caught(call);
    EXPECT_EQ(e.status(), TC_INVALID_ARGUMENT);
    EXPECT_STRNE(e.what(), "");
    EXPECT_STRNE(e.what(), tc_status_str(TC_INVALID_ARGUMENT)) << "expected the library's message";
  }
}

TEST(Errors, KeyOver64KiBIsTooLarge) {
  Cache cache;
  const std::string key(65537, 'a');
  tiercache::Error e = caught([&] { cache.put(key, "v"); });
  EXPECT_EQ(e.status(), TC_TOO_LARGE);
  EXPECT_STRNE(e.what(), "");
  EXPECT_EQ(caught([&] { (void)cache.get(key); }).status(), TC_TOO_LARGE);
  EXPECT_EQ(caught([&] { (void)cache.contains(key); }).status(), TC_TOO_LARGE);
  // 64 KiB exactly is allowed.
  cache.put(std::string(65536, 'a'), "v");
}

TEST(Errors, SecondOpenOfADirectoryIsLocked) {
  tctest::TempDir tmp;
  const std::string dir = tmp.sub("c");
  Cache first(Options().dir(dir));
  tiercache::Error e = caught([&] { Cache second(Options().dir(dir)); });
  EXPECT_EQ(e.status(), TC_LOCKED);
  EXPECT_STRNE(e.what(), "");
  EXPECT_STREQ(e.status_str(), tc_status_str(TC_LOCKED));
  first.put("k", "v");  // the first handle is unharmed
  EXPECT_EQ(first.get("k"), "v");
}

TEST(Errors, ValueOverMaximumIsTooLarge) {
  Cache cache(Options().max_value_size(16));
  cache.put("k", std::string(16, 'x'));
  tiercache::Error e = caught([&] { cache.put("k", std::string(17, 'x')); });
  EXPECT_EQ(e.status(), TC_TOO_LARGE);
  EXPECT_EQ(cache.get("k"), std::string(16, 'x'));  // the old value stays
}

TEST(Errors, BadOptionsThrowWhereTheyAreSet) {
  Options opts;
  EXPECT_EQ(caught([&] { opts.dir(""); }).status(), TC_INVALID_ARGUMENT);
  EXPECT_EQ(caught([&] { opts.sync_policy(tiercache::SyncPolicy::interval, 0ms); }).status(),
            TC_INVALID_ARGUMENT);
  EXPECT_EQ(caught([&] { opts.segment_size(10); }).status(), TC_INVALID_ARGUMENT);
  EXPECT_EQ(caught([&] { opts.max_value_size(0); }).status(), TC_INVALID_ARGUMENT);
  EXPECT_EQ(caught([&] { opts.max_value_size((1ull << 30) + 1); }).status(), TC_INVALID_ARGUMENT);
  EXPECT_EQ(caught([&] { opts.write_policy(static_cast<tiercache::WritePolicy>(7)); }).status(),
            TC_INVALID_ARGUMENT);
  EXPECT_EQ(caught([&] { opts.l1_policy(static_cast<tiercache::L1Policy>(2)); }).status(),
            TC_INVALID_ARGUMENT);
  // Negative durations are caught by the wrapper before the C call.
  EXPECT_EQ(caught([&] { opts.default_ttl(-1ms); }).status(), TC_INVALID_ARGUMENT);
  // After all that the options still open a cache.
  Cache cache(opts);
  cache.put("k", "v");
}

TEST(Errors, NegativeTtlIsInvalidArgument) {
  Cache cache;
  EXPECT_EQ(caught([&] { cache.put("k", "v", -5ms); }).status(), TC_INVALID_ARGUMENT);
  EXPECT_FALSE(cache.contains("k"));
}

TEST(Errors, DirectoryThatIsAFileFails) {
  tctest::TempDir tmp;
  const std::string file = tmp.sub("file");
  { Cache c(Options().dir(tmp.sub("d"))); }
  FILE* f = std::fopen(file.c_str(), "w");
  ASSERT_NE(f, nullptr);
  std::fclose(f);
  tiercache::Error e = caught([&] { Cache c(Options().dir(file)); });
  EXPECT_NE(e.status(), TC_OK);
  EXPECT_STRNE(e.what(), "");
}

TEST(Errors, ErrorIsARuntimeError) {
  Cache cache;
  try {
    cache.put("", "v");
    FAIL();
  } catch (const std::runtime_error& e) {
    EXPECT_STRNE(e.what(), "");
  }
}
