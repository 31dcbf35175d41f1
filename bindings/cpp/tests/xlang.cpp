// xlang.cpp: tiercache_xlang, the C++ side of the cross-language directory
// test (tests/vectors/README.md). `write DIR` fills a cache directory with
// the data set of tests/vectors/xlang.json; `verify DIR` checks that a
// directory written by any language's writer holds exactly that data.
// The data set path can be given as a third argument or $TIERCACHE_XLANG_JSON.
#include <tiercache.hpp>

#include <cstdlib>
#include <exception>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>

#include "mini_json.hpp"

namespace {

std::string hex(std::string_view bytes) {
  static const char digits[] = "0123456789abcdef";
  std::string out;
  for (unsigned char b : bytes) {
    out += digits[b >> 4];
    out += digits[b & 15];
  }
  return out;
}

minijson::Value load_data_set(int argc, char** argv) {
  std::string path = std::string(TIERCACHE_VECTORS_DIR) + "/xlang.json";
  if (const char* env = std::getenv("TIERCACHE_XLANG_JSON"); env && *env) path = env;
  if (argc > 3) path = argv[3];
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot read " + path);
  std::stringstream buf;
  buf << in.rdbuf();
  return minijson::parse(buf.str());
}

int write(const std::string& dir, const minijson::Value& data) {
  tiercache::Cache cache(tiercache::Options().dir(dir));
  for (const auto& e : data.at("entries").array) {
    tiercache::EntryOptions opts;
    if (e.has("tags_hex")) {
      for (const auto& t : e.at("tags_hex").array) opts.add_tag(minijson::unhex(t.str()));
    }
    cache.put_with(minijson::unhex(e.at("key_hex").str()), minijson::unhex(e.at("value_hex").str()), opts);
  }
  for (const auto& k : data.at("removed_hex").array) {
    const std::string key = minijson::unhex(k.str());
    cache.put(key, "to be removed");
    cache.remove(key);
  }
  cache.close();  // reports a failed final flush, which the destructor cannot
  return 0;
}

int verify(const std::string& dir, const minijson::Value& data) {
  // An L1 of one entry, so that values come from disk.
  tiercache::Cache cache(tiercache::Options().dir(dir).l1_capacity(1, 0));
  int bad = 0;
  for (const auto& e : data.at("entries").array) {
    const std::string key = minijson::unhex(e.at("key_hex").str());
    const std::string want = minijson::unhex(e.at("value_hex").str());
    std::optional<std::string> got = cache.get(key);
    if (!got) {
      std::cout << "missing " << hex(key) << "\n";
      ++bad;
    } else if (*got != want) {
      std::cout << "wrong value for " << hex(key) << ": " << hex(*got) << "\n";
      ++bad;
    }
    const std::uint32_t want_tags =
        e.has("tags_hex") ? static_cast<std::uint32_t>(e.at("tags_hex").array.size()) : 0;
    std::optional<tiercache::EntryInfo> info = cache.info(key);
    if (!info || info->tag_count != want_tags) {
      std::cout << "tag count of " << hex(key) << ": " << (info ? info->tag_count : 0u) << ", want "
                << want_tags << "\n";
      ++bad;
    }
  }
  for (const auto& k : data.at("removed_hex").array) {
    const std::string key = minijson::unhex(k.str());
    if (std::optional<std::string> got = cache.get(key)) {
      std::cout << "removed key present " << hex(key) << ": " << hex(*got) << "\n";
      ++bad;
    }
  }
  cache.close();
  return bad == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3 || (std::string(argv[1]) != "write" && std::string(argv[1]) != "verify")) {
    std::cerr << "usage: tiercache_xlang write|verify DIR [xlang.json]\n";
    return 2;
  }
  try {
    minijson::Value data = load_data_set(argc, argv);
    return std::string(argv[1]) == "write" ? write(argv[2], data) : verify(argv[2], data);
  } catch (const std::exception& e) {
    std::cout << "error: " << e.what() << "\n";
    return 1;
  }
}
