// test_vectors.cpp: runs the shared cases of tests/vectors/vectors.json
// (one GoogleTest test per case) through the C++ API, holding it to the
// same outcomes as the other languages. C++ results are mapped back to the
// status the vectors name: a thrown Error gives its status, a nullopt from
// get or false from remove gives TC_NOT_FOUND. Every op is expressible, so
// none is skipped.
#include <tiercache.hpp>

#include <gtest/gtest.h>

#include <cctype>
#include <chrono>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "mini_json.hpp"
#include "test_util.hpp"

using tiercache::Cache;
using tiercache::Options;

namespace {

const minijson::Value& all_cases() {
  static const minijson::Value doc = [] {
    std::ifstream in(std::string(TIERCACHE_VECTORS_DIR) + "/vectors.json");
    if (!in) throw std::runtime_error("cannot read vectors.json");
    std::stringstream buf;
    buf << in.rdbuf();
    return minijson::parse(buf.str());
  }();
  return doc.at("cases");
}

std::vector<std::size_t> case_indexes() {
  std::vector<std::size_t> out;
  for (std::size_t i = 0; i < all_cases().array.size(); ++i) out.push_back(i);
  return out;
}

tc_status status_named(const std::string& name) {
  static const std::pair<const char*, tc_status> names[] = {
      {"TC_OK", TC_OK},
      {"TC_NOT_FOUND", TC_NOT_FOUND},
      {"TC_INVALID_ARGUMENT", TC_INVALID_ARGUMENT},
      {"TC_TOO_LARGE", TC_TOO_LARGE},
      {"TC_IO_ERROR", TC_IO_ERROR},
      {"TC_LOCKED", TC_LOCKED},
      {"TC_CORRUPT", TC_CORRUPT},
      {"TC_LOADER_FAILED", TC_LOADER_FAILED},
      {"TC_BUFFER_TOO_SMALL", TC_BUFFER_TOO_SMALL},
      {"TC_PANIC", TC_PANIC},
      {"TC_CLOSED", TC_CLOSED},
  };
  for (const auto& [n, s] : names) {
    if (name == n) return s;
  }
  throw std::runtime_error("unknown status " + name);
}

// Runs f; returns TC_OK, or the status of the Error it threw.
template <class F>
tc_status status_of(F&& f) {
  try {
    f();
    return TC_OK;
  } catch (const tiercache::Error& e) {
    return e.status();
  }
}

Options options_for(const minijson::Value& c, const tctest::TempDir& tmp) {
  Options opts;
  if (!c.has("options")) return opts;
  const minijson::Value& o = c.at("options");
  if (o.has("dir") && o.at("dir").flag()) opts.dir(tmp.sub("cache"));
  if (o.has("default_ttl_ms")) {
    opts.default_ttl(std::chrono::milliseconds(o.at("default_ttl_ms").u64()));
  }
  if (o.has("l1_max_entries") || o.has("l1_max_bytes")) {
    // One C setter takes both bounds: keep the documented default for the
    // one not given (no entry bound, 64 MiB).
    opts.l1_capacity(o.has("l1_max_entries") ? o.at("l1_max_entries").u64() : 0,
                     o.has("l1_max_bytes") ? o.at("l1_max_bytes").u64() : 64ull << 20);
  }
  if (o.has("write_policy")) {
    opts.write_policy(o.at("write_policy").str() == "back" ? tiercache::WritePolicy::back
                                                            : tiercache::WritePolicy::through);
  }
  return opts;
}

class Vectors : public ::testing::TestWithParam<std::size_t> {};

TEST_P(Vectors, Case) {
  const minijson::Value& c = all_cases().array.at(GetParam());
  tctest::TempDir tmp;
  Options opts = options_for(c, tmp);
  Cache cache(opts);

  std::size_t n = 0;
  for (const minijson::Value& op : c.at("ops").array) {
    const std::string kind = op.at("op").str();
    SCOPED_TRACE("op #" + std::to_string(n++) + " " + kind);
    if (kind == "sleep_ms") {
      std::this_thread::sleep_for(std::chrono::milliseconds(op.at("ms").u64()));
      continue;
    }
    if (kind == "reopen") {
      cache.close();  // release the directory lock before opening again
      cache = Cache(opts);
      continue;
    }
    const tc_status expect = status_named(op.at("expect").str());
    const std::string key = minijson::text_or_hex(op, "key");
    tc_status got = TC_OK;

    if (kind == "put") {
      const std::string value = minijson::text_or_hex(op, "value");
      std::chrono::milliseconds ttl(op.has("ttl_ms") ? op.at("ttl_ms").u64() : 0);
      got = status_of([&] { cache.put(key, value, ttl); });
    } else if (kind == "get") {
      std::optional<std::string> value;
      got = status_of([&] { value = cache.get(key); });
      if (got == TC_OK && !value) got = TC_NOT_FOUND;
      bool has_value = false;
      const std::string want = minijson::text_or_hex(op, "value", &has_value);
      if (got == TC_OK && expect == TC_OK && has_value) {
        EXPECT_EQ(*value, want);
      }
    } else if (kind == "contains") {
      bool present = false;
      got = status_of([&] { present = cache.contains(key); });
      if (got == TC_OK && op.has("present")) {
        EXPECT_EQ(present, op.at("present").flag());
      }
    } else if (kind == "remove") {
      bool removed = false;
      got = status_of([&] { removed = cache.remove(key); });
      if (got == TC_OK && !removed) got = TC_NOT_FOUND;
    } else if (kind == "remove_prefix") {
      const std::string prefix = minijson::text_or_hex(op, "prefix");
      std::uint64_t removed = 0;
      got = status_of([&] { removed = cache.remove_prefix(prefix); });
      if (got == TC_OK && op.has("removed")) {
        EXPECT_EQ(removed, op.at("removed").u64());
      }
    } else if (kind == "clear") {
      got = status_of([&] { cache.clear(op.has("memory_only") && op.at("memory_only").flag()); });
    } else if (kind == "flush") {
      got = status_of([&] { cache.flush(); });
    } else if (kind == "purge_expired") {
      std::uint64_t removed = 0;
      got = status_of([&] { removed = cache.purge_expired(); });
      if (got == TC_OK && op.has("removed")) {
        EXPECT_EQ(removed, op.at("removed").u64());
      }
    } else {
      ADD_FAILURE() << "unknown op " << kind;
      continue;
    }
    EXPECT_EQ(got, expect) << "got " << tc_status_str(got) << ", expected "
                           << op.at("expect").str();
  }
}

std::string case_name(const ::testing::TestParamInfo<std::size_t>& info) {
  std::string name = all_cases().array.at(info.param).at("name").str();
  for (char& ch : name) {
    if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
  }
  return name;
}

INSTANTIATE_TEST_SUITE_P(Shared, Vectors, ::testing::ValuesIn(case_indexes()), case_name);

}  // namespace
