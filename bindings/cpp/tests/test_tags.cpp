// test_tags.cpp: EntryOptions (ttl, add_tag, depends_on), put_with(),
// remove_tag(), tag_count through info(), loaders answering with options
// (set_loader and get_or_load), file dependencies, and errors.
#include <tiercache.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <memory>
#include <string>

#include "test_util.hpp"

using namespace std::chrono_literals;
using tiercache::Cache;
using tiercache::EntryOptions;
using tiercache::Loaded;
using tiercache::Options;

namespace {

void write_file(const std::string& path, const std::string& text) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f << text;
}

std::uint32_t tag_count(Cache& cache, std::string_view key) {
  auto info = cache.info(key);
  EXPECT_TRUE(info.has_value()) << key;
  return info ? info->tag_count : 0xffffffffu;
}

using tctest::status_of;

}  // namespace

TEST(Tags, PutWithAndRemoveTag) {
  tctest::TempDir dir;
  const std::string path = dir.sub("c");
  {
    Cache cache(Options().dir(path));
    EntryOptions users;
    users.add_tag("users").ttl(1h);
    cache.put_with("u1", "a", EntryOptions().add_tag("user:1").add_tag("users"));
    cache.put_with("u2", "b", users);  // one options object, many puts
    cache.put_with("u3", "c", users);
    cache.put_with("plain", "p", EntryOptions());
    EXPECT_EQ(tag_count(cache, "u1"), 2u);
    EXPECT_EQ(tag_count(cache, "u2"), 1u);
    EXPECT_EQ(tag_count(cache, "plain"), 0u);
    EXPECT_TRUE(cache.info("u2")->expires_at.has_value());

    EXPECT_EQ(cache.remove_tag("user:1"), 1u);
    EXPECT_FALSE(cache.get("u1"));
    EXPECT_EQ(cache.get("u2"), std::optional<std::string>("b"));
    EXPECT_EQ(cache.remove_tag("nobody"), 0u);
    cache.put_with("bin", "d", EntryOptions().add_tag(std::string_view("\0\xff", 2)));
  }
  // Tags survive close and reopen; remove_tag finds entries on disk.
  Cache cache(Options().dir(path));
  EXPECT_EQ(tag_count(cache, "u2"), 1u);
  EXPECT_EQ(tag_count(cache, "bin"), 1u);
  EXPECT_FALSE(cache.get("u1"));
  EXPECT_EQ(cache.remove_tag("users"), 2u);
  EXPECT_EQ(cache.remove_tag(std::string_view("\0\xff", 2)), 1u);
  EXPECT_FALSE(cache.get("u2"));
  EXPECT_EQ(cache.get("plain"), std::optional<std::string>("p"));
}

TEST(Tags, Limits) {
  EntryOptions o;
  EXPECT_EQ(status_of([&] { o.add_tag(""); }), TC_INVALID_ARGUMENT);
  EXPECT_EQ(status_of([&] { o.add_tag(std::string(256, 'x')); }), TC_TOO_LARGE);
  EXPECT_EQ(status_of([&] { o.ttl(-1ms); }), TC_INVALID_ARGUMENT);
  for (int i = 0; i < 32; ++i) o.add_tag(std::string(static_cast<std::size_t>(i) + 1, 't'));
  o.add_tag("t");  // a repeat counts once
  EXPECT_EQ(status_of([&] { o.add_tag("the 33rd"); }), TC_TOO_LARGE);
  Cache cache;
  cache.put_with("k", "v", o);
  EXPECT_EQ(tag_count(cache, "k"), 32u);
  EXPECT_EQ(status_of([&] { cache.remove_tag(""); }), TC_INVALID_ARGUMENT);
  EXPECT_EQ(status_of([&] { cache.remove_tag(std::string(256, 'x')); }), TC_TOO_LARGE);
  EXPECT_EQ(cache.remove_tag(std::string(32, 't')), 1u);
  EXPECT_FALSE(cache.contains("k"));
}

TEST(Tags, EntryOptionsIsMovable) {
  EntryOptions a;
  a.add_tag("x");
  EntryOptions b = std::move(a);
  Cache cache;
  cache.put_with("k", "v", b);
  EXPECT_EQ(tag_count(cache, "k"), 1u);
  tiercache::entry_options c = EntryOptions().add_tag("y").add_tag("z");  // the alias
  cache.put_with("k2", "v", c);
  EXPECT_EQ(tag_count(cache, "k2"), 2u);
}

TEST(Tags, DependsOnAFile) {
  tctest::TempDir dir;
  const std::string dep = dir.sub("config.toml");
  write_file(dep, "v1");
  Cache cache(Options().dir(dir.sub("c")));

  try {
    EntryOptions().depends_on(dir.sub("missing"));
    FAIL() << "a missing dependency was accepted";
  } catch (const tiercache::Error& e) {
    EXPECT_EQ(e.status(), TC_INVALID_ARGUMENT);
    EXPECT_NE(std::string(e.what()).find(dir.sub("missing")), std::string::npos) << e.what();
  }
  EXPECT_EQ(status_of([&] { EntryOptions().depends_on(std::string("a\0b", 3)); }), TC_INVALID_ARGUMENT);

  cache.put_with("cfg", "parsed v1", EntryOptions().depends_on(dep));
  EXPECT_EQ(cache.get("cfg"), std::optional<std::string>("parsed v1"));
  const std::uint64_t before = cache.counter("dependency_misses").value();
  write_file(dep, "version 2, longer");
  EXPECT_FALSE(cache.get("cfg"));
  EXPECT_GE(cache.counter("dependency_misses").value(), before + 1);

  cache.put_with("cfg", "parsed v2", EntryOptions().depends_on(dep));
  std::atomic<int> calls{0};
  cache.set_loader([&](std::string_view k) -> std::optional<std::string> {
    ++calls;
    return "loaded " + std::string(k);
  });
  EXPECT_EQ(cache.get("cfg"), std::optional<std::string>("parsed v2"));
  std::filesystem::remove(dep);
  EXPECT_EQ(cache.get("cfg"), std::optional<std::string>("loaded cfg"));
  EXPECT_EQ(calls.load(), 1);
}

TEST(Tags, LoaderAnswersWithOptions) {
  tctest::TempDir dir;
  Cache cache(Options().dir(dir.sub("c")));
  auto opts = std::make_shared<const EntryOptions>(EntryOptions().add_tag("loaded").ttl(1h));
  std::atomic<int> calls{0};
  cache.set_loader([&calls, opts](std::string_view k) -> std::optional<Loaded> {
    ++calls;
    if (k == "none") return std::nullopt;
    return Loaded{"v:" + std::string(k), {}, opts};
  });
  EXPECT_EQ(cache.get("a"), std::optional<std::string>("v:a"));
  EXPECT_EQ(cache.get("b"), std::optional<std::string>("v:b"));
  EXPECT_FALSE(cache.get("none"));
  EXPECT_EQ(tag_count(cache, "a"), 1u);
  EXPECT_TRUE(cache.info("a")->expires_at.has_value());
  EXPECT_EQ(cache.remove_tag("loaded"), 2u);
  const int before = calls.load();
  EXPECT_EQ(cache.get("a"), std::optional<std::string>("v:a"));
  EXPECT_EQ(calls.load(), before + 1);

  // Plain Loaded (no options) still works.
  cache.set_loader([](std::string_view) { return std::optional<Loaded>(Loaded{"plain", 1h}); });
  EXPECT_EQ(cache.get("p"), std::optional<std::string>("plain"));
  EXPECT_EQ(tag_count(cache, "p"), 0u);
}

TEST(Tags, GetOrLoadWithOptions) {
  Cache cache;
  auto tagged = std::make_shared<const EntryOptions>(EntryOptions().add_tag("reports"));
  auto v = cache.get_or_load("r", [&] { return Loaded{"report", {}, tagged}; });
  EXPECT_EQ(v, std::optional<std::string>("report"));
  EXPECT_EQ(tag_count(cache, "r"), 1u);
  EXPECT_EQ(cache.remove_tag("reports"), 1u);
  EXPECT_FALSE(cache.contains("r"));
}

TEST(Tags, AfterClose) {
  Cache cache;
  EntryOptions o;
  o.add_tag("t");
  cache.close();
  EXPECT_THROW(cache.put_with("k", "v", o), tiercache::ClosedError);
  EXPECT_THROW(cache.remove_tag("t"), tiercache::ClosedError);
}
