// xlang.cpp: tiercache_xlang, the C++ side of the cross-language directory
// test (tests/vectors/README.md). `write DIR` fills a cache directory with
// the data set of tests/vectors/xlang.json (tags, TTLs, dependencies on the
// files it creates in DIR-deps, changed after the close); `verify DIR`
// checks that a directory written by any language's writer holds exactly
// that data, entry info included.
// The data set path can be given as a third argument or $TIERCACHE_XLANG_JSON.
#include <tiercache.hpp>

#include <cstdlib>
#include <algorithm>
#include <chrono>
#include <exception>
#include <filesystem>
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

std::filesystem::path deps_dir(const std::string& dir) { return dir + "-deps"; }

// Whether the entry depends on a file the writer changes after closing.
bool dependency_changed(const minijson::Value& data, const minijson::Value& e) {
  if (!e.has("depends_on")) return false;
  const auto& changed = data.at("changed_dependencies").array;
  return std::any_of(changed.begin(), changed.end(),
                     [&](const minijson::Value& c) { return c.str() == e.at("depends_on").str(); });
}

void write_file(const std::filesystem::path& path, const std::string& text, std::ios::openmode mode) {
  std::ofstream out(path, mode);
  out << text;
  out.close();
  if (!out) throw std::runtime_error("cannot write " + path.string());
}

int write(const std::string& dir, const minijson::Value& data) {
  const std::filesystem::path deps = deps_dir(dir);
  if (!std::filesystem::create_directory(deps)) throw std::runtime_error(deps.string() + " exists");
  for (const auto& [name, text] : data.at("dependencies").object) write_file(deps / name, text.str(), std::ios::out);
  tiercache::Cache cache(tiercache::Options().dir(dir));
  for (const auto& e : data.at("entries").array) {
    tiercache::EntryOptions opts;
    if (e.has("tags_hex")) {
      for (const auto& t : e.at("tags_hex").array) opts.add_tag(minijson::unhex(t.str()));
    }
    if (e.has("ttl_ms")) opts.ttl(std::chrono::milliseconds(static_cast<std::int64_t>(e.at("ttl_ms").u64())));
    if (e.has("depends_on")) opts.depends_on(deps / e.at("depends_on").str());
    cache.put_with(minijson::unhex(e.at("key_hex").str()), minijson::unhex(e.at("value_hex").str()), opts);
  }
  for (const auto& k : data.at("removed_hex").array) {
    const std::string key = minijson::unhex(k.str());
    cache.put(key, "to be removed");
    cache.remove(key);
  }
  cache.close();  // reports a failed final flush, which the destructor cannot
  // Each changed dependency grows by a line: its size differs whatever the
  // file system's mtime granularity.
  for (const auto& c : data.at("changed_dependencies").array) write_file(deps / c.str(), "changed\n", std::ios::app);
  return 0;
}

int verify(const std::string& dir, const minijson::Value& data) {
  // An L1 of one entry, so that values come from disk.
  tiercache::Cache cache(tiercache::Options().dir(dir).l1_capacity(1, 0));
  int bad = 0;
  for (const auto& e : data.at("entries").array) {
    const std::string key = minijson::unhex(e.at("key_hex").str());
    const std::string want = minijson::unhex(e.at("value_hex").str());
    // Info first: with an L1 of one entry, it comes from disk.
    std::optional<tiercache::EntryInfo> info = cache.info(key);
    std::optional<std::string> got = cache.get(key);
    if (dependency_changed(data, e)) {
      if (info || got) {
        std::cout << "entry on a changed file present " << hex(key) << "\n";
        ++bad;
      }
      continue;
    }
    if (!got) {
      std::cout << "missing " << hex(key) << "\n";
      ++bad;
    } else if (*got != want) {
      std::cout << "wrong value for " << hex(key) << ": " << hex(*got) << "\n";
      ++bad;
    }
    const std::uint32_t want_tags =
        e.has("tags_hex") ? static_cast<std::uint32_t>(e.at("tags_hex").array.size()) : 0;
    const std::chrono::milliseconds ttl(e.has("ttl_ms") ? static_cast<std::int64_t>(e.at("ttl_ms").u64()) : 0);
    const auto now = std::chrono::system_clock::now();
    if (!info) {
      std::cout << "no info for " << hex(key) << "\n";
      ++bad;
    } else if (info->tag_count != want_tags || info->value_len != want.size() || info->tier != tiercache::Tier::disk ||
               (ttl.count() != 0 ? info->expires_at != info->written_at + ttl : info->expires_at.has_value()) ||
               info->written_at < now - std::chrono::hours(24) || info->written_at > now + std::chrono::minutes(1)) {
      std::cout << "info of " << hex(key) << ": tag_count " << info->tag_count << " (want " << want_tags
                << "), value_len " << info->value_len << ", tier " << static_cast<std::uint32_t>(info->tier)
                << ", expiry " << (info->expires_at ? (*info->expires_at - info->written_at).count() : 0)
                << " ms after the write (want " << ttl.count() << ")\n";
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
