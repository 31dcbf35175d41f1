// test_lifecycle.cpp: close() (tc_cache_shutdown) and the destructor
// (tc_cache_close): close while other threads hammer the cache, every call
// after close, close twice and from several threads, close from a loader,
// close waiting for a running loader, and what close and the destructor
// release.
#include <tiercache.hpp>

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "test_util.hpp"

using tiercache::Cache;
using tiercache::ClosedError;
using tiercache::Options;

static_assert(std::is_base_of_v<tiercache::Error, ClosedError>);

namespace {

// Runs fn and returns the status of the tiercache::Error it threw, TC_OK if
// none. A ClosedError must carry TC_CLOSED, and TC_CLOSED must come as a
// ClosedError.
tc_status status_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const ClosedError& e) {
    EXPECT_EQ(e.status(), TC_CLOSED);
    EXPECT_STRNE(e.what(), "");
    return e.status();
  } catch (const tiercache::Error& e) {
    EXPECT_NE(e.status(), TC_CLOSED) << "TC_CLOSED thrown as a plain Error: " << e.what();
    return e.status();
  }
  return TC_OK;
}

// Every public call on a cache, by name.
std::vector<std::pair<std::string, std::function<void(Cache&)>>> every_call() {
  return {
      {"put", [](Cache& c) { c.put("k", "v"); }},
      {"get", [](Cache& c) { (void)c.get("k"); }},
      {"get miss", [](Cache& c) { (void)c.get("absent"); }},
      {"get_into", [](Cache& c) {
         char buf[8];
         (void)c.get_into("k", buf, sizeof buf);
       }},
      {"contains", [](Cache& c) { (void)c.contains("k"); }},
      {"remove", [](Cache& c) { (void)c.remove("k"); }},
      {"remove_prefix", [](Cache& c) { (void)c.remove_prefix("k"); }},
      {"clear memory", [](Cache& c) { c.clear(true); }},
      {"clear all", [](Cache& c) { c.clear(false); }},
      {"flush", [](Cache& c) { c.flush(); }},
      {"purge_expired", [](Cache& c) { (void)c.purge_expired(); }},
      {"stats", [](Cache& c) { (void)c.stats(); }},
      {"counter", [](Cache& c) { (void)c.counter("l1_hits"); }},
      {"compact", [](Cache& c) { c.compact(); }},
      {"set_loader", [](Cache& c) { c.set_loader([](std::string_view) { return std::string("v"); }); }},
      {"clear_loader", [](Cache& c) { c.clear_loader(); }},
  };
}

}  // namespace

TEST(Lifecycle, EveryCallAfterCloseThrowsClosedError) {
  tctest::TempDir tmp;
  Cache cache(Options().dir(tmp.sub("c")));
  cache.put("k", "v");
  cache.set_loader([](std::string_view) { return std::string("loaded"); });
  cache.close();
  EXPECT_FALSE(static_cast<bool>(cache));
  EXPECT_NE(cache.handle(), nullptr);  // still owned: freed by the destructor
  for (auto& [name, call] : every_call()) {
    EXPECT_EQ(status_of([&] { call(cache); }), TC_CLOSED) << name;
  }
}

TEST(Lifecycle, CloseTwiceAndFromManyThreads) {
  tctest::TempDir tmp;
  const std::string dir = tmp.sub("c");
  Cache cache(Options().dir(dir));
  cache.put("k", "v");
  constexpr int kThreads = 4;
  tctest::StartLine start(kThreads);
  std::atomic<int> wrong{0};
  std::vector<std::thread> pool;
  for (int t = 0; t < kThreads; ++t) {
    pool.emplace_back([&] {
      start.wait();
      if (status_of([&] { cache.close(); }) != TC_OK) ++wrong;
      if (status_of([&] { (void)cache.get("k"); }) != TC_CLOSED) ++wrong;
    });
  }
  for (auto& th : pool) th.join();
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_NO_THROW(cache.close());
  Cache again(Options().dir(dir));  // the lock was released by close(), before the destructor
  EXPECT_EQ(again.get("k"), "v");
}

// close() while threads call every kind of method: each call answers or
// throws ClosedError (only that, once it has), and nothing crashes.
TEST(Lifecycle, CloseWhileThreadsHammer) {
  for (int round = 0; round < 10; ++round) {
    tctest::TempDir tmp;
    Cache cache(Options().dir(tmp.sub("c")).l1_capacity(50, 0));
    cache.set_loader([&cache](std::string_view key) -> std::optional<std::string> {
      // Calls back into the cache while close() may be waiting.
      try {
        (void)cache.contains("other");
      } catch (const ClosedError&) {
      }
      return "L" + std::string(key);
    });
    constexpr int kThreads = 4;
    tctest::StartLine start(kThreads + 1);
    std::atomic<int> wrong{0};
    std::vector<std::thread> pool;
    for (int t = 0; t < kThreads; ++t) {
      pool.emplace_back([&, t] {
        start.wait();
        int closed = 0;
        for (int i = 0; closed < 50; ++i) {
          const std::string key = std::to_string(t) + ":" + std::to_string(i % 40);
          tc_status s = status_of([&] {
            switch (i % 6) {
              case 0:
              case 1:
                cache.put(key, "v" + key);
                break;
              case 2:
                (void)cache.get(key);
                break;
              case 3:
                (void)cache.get("miss" + std::to_string(i));
                break;
              case 4:
                (void)cache.contains(key);
                break;
              default:
                (void)cache.remove(key);
                (void)cache.stats();
            }
          });
          if (s == TC_CLOSED) {
            ++closed;
          } else if (s != TC_OK || closed > 0) {
            ++wrong;
            return;
          }
        }
      });
    }
    start.wait();
    std::this_thread::yield();
    EXPECT_NO_THROW(cache.close());
    for (auto& th : pool) th.join();
    EXPECT_EQ(wrong.load(), 0);
  }
}

TEST(Lifecycle, CloseFromItsOwnLoaderIsInvalidArgument) {
  Cache cache;
  tc_status from_loader = TC_OK;
  cache.set_loader([&](std::string_view) {
    from_loader = status_of([&] { cache.close(); });
    return std::string("loaded");
  });
  EXPECT_EQ(cache.get("k"), "loaded");
  EXPECT_EQ(from_loader, TC_INVALID_ARGUMENT);
  EXPECT_TRUE(static_cast<bool>(cache));  // nothing was closed
  cache.put("after", "v");
  EXPECT_EQ(cache.get("after"), "v");
  cache.close();
  EXPECT_FALSE(static_cast<bool>(cache));
}

TEST(Lifecycle, CloseWaitsForARunningLoader) {
  Cache cache;
  std::atomic<bool> in_loader{false}, release{false}, close_returned{false};
  tc_status inner = TC_OK;
  cache.set_loader([&](std::string_view) {
    in_loader = true;
    while (!release) std::this_thread::yield();
    inner = status_of([&] { (void)cache.contains("other"); });
    return std::string("loaded");
  });
  std::optional<std::string> got;
  std::thread getter([&] { got = cache.get("k"); });
  while (!in_loader) std::this_thread::yield();
  std::thread closer([&] {
    cache.close();
    close_returned = true;
  });
  // Until close() has begun, a new call still answers.
  while (status_of([&] { (void)cache.contains("probe"); }) != TC_CLOSED) std::this_thread::yield();
  EXPECT_FALSE(close_returned.load());  // the loader is still running
  release = true;
  getter.join();
  closer.join();
  EXPECT_EQ(got, "loaded");
  EXPECT_EQ(inner, TC_CLOSED);
}

TEST(Lifecycle, CloseDestroysTheLoaderBeforeTheDestructor) {
  auto token = std::make_shared<int>(0);
  Cache cache;
  cache.set_loader([token](std::string_view) { return std::string("v"); });
  EXPECT_EQ(token.use_count(), 2);
  cache.close();
  EXPECT_EQ(token.use_count(), 1);
}

TEST(Lifecycle, DestructorWithoutCloseFlushesAndUnlocks) {
  tctest::TempDir tmp;
  const std::string dir = tmp.sub("c");
  {
    Cache cache(Options().dir(dir).write_policy(tiercache::WritePolicy::back));
    cache.put("k", "written back by the destructor");
  }
  Cache again(Options().dir(dir));
  EXPECT_EQ(again.get("k"), "written back by the destructor");
}

TEST(Lifecycle, MoveKeepsTheClosedState) {
  Cache a;
  a.close();
  Cache b = std::move(a);
  EXPECT_FALSE(static_cast<bool>(b));
  EXPECT_EQ(status_of([&] { b.put("k", "v"); }), TC_CLOSED);
  Cache c;
  c = std::move(b);
  EXPECT_EQ(status_of([&] { (void)c.get("k"); }), TC_CLOSED);
  EXPECT_EQ(status_of([&] { b.put("k", "v"); }), TC_INVALID_ARGUMENT);  // NOLINT(bugprone-use-after-move)
  EXPECT_NO_THROW(b.close());                                          // a no-op when moved from
}

// A Cache inherited by a forked child belongs to the parent: every call in
// the child throws ClosedError, close() and the destructor there leave the
// parent's lock and files alone, and the parent keeps working.
TEST(Lifecycle, ForkedChildGetsClosedErrorAndLeavesTheParentAlone) {
  tctest::TempDir tmp;
  const std::string dir = tmp.sub("c");
  auto cache = std::make_unique<Cache>(Options().dir(dir));
  cache->put("k", "v");
  std::fflush(nullptr);
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    // No gtest assertions here: the exit code says what went wrong.
    int code = 0, i = 0;
    for (auto& [name, call] : every_call()) {
      ++i;
      try {
        call(*cache);
        code = 10 + i;
      } catch (const ClosedError&) {
      } catch (...) {
        code = 40 + i;
      }
      if (code != 0) _exit(code);
    }
    try {
      Cache other(Options().dir(dir));
      _exit(2);  // the parent's directory opened in the child
    } catch (const tiercache::Error& e) {
      if (e.status() != TC_LOCKED) _exit(3);
    }
    try {
      cache->close();
      cache->close();
    } catch (...) {
      _exit(4);
    }
    cache.reset();  // tc_cache_close in the child
    _exit(0);       // no exit-time cleanup of the parent's state
  }
  int ws = 0;
  ASSERT_EQ(waitpid(pid, &ws, 0), pid);
  ASSERT_TRUE(WIFEXITED(ws));
  EXPECT_EQ(WEXITSTATUS(ws), 0);
  // The parent still holds its lock, and its cache still works.
  try {
    Cache other(Options().dir(dir));
    ADD_FAILURE() << "the directory opened while the parent holds it";
  } catch (const tiercache::Error& e) {
    EXPECT_EQ(e.status(), TC_LOCKED);
  }
  EXPECT_EQ(cache->get("k"), "v");
  cache->put("k2", "v2");
  cache->close();
  Cache again(Options().dir(dir));
  EXPECT_EQ(again.get("k"), "v");
  EXPECT_EQ(again.get("k2"), "v2");
}
