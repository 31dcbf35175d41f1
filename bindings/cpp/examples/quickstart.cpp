// quickstart.cpp: tiercache from C++ in one page: open a cache on a
// directory, put and get, a loader for misses, and what survives a restart.
// Usage: quickstart [DIR]   (default: a directory under /tmp)
#include <tiercache.hpp>

#include <chrono>
#include <iostream>
#include <string>

using namespace std::chrono_literals;

// Stands in for the expensive thing the cache saves you from redoing.
static std::string render(std::string_view page) { return "<h1>" + std::string(page) + "</h1>"; }

int main(int argc, char** argv) {
  const std::string dir = argc > 1 ? argv[1] : "/tmp/tiercache-quickstart";
  try {
    {
      tiercache::Cache cache(tiercache::Options().dir(dir).default_ttl(1h));
      cache.put("greeting", "hello");
      std::cout << "greeting = " << cache.get("greeting").value_or("(none)") << "\n";

      // Misses go to the loader; its answer is cached in memory and on disk.
      cache.set_loader([](std::string_view key) -> std::optional<std::string> {
        if (key.rfind("page:", 0) != 0) return std::nullopt;  // not ours: a miss
        return render(key.substr(5));
      });
      std::cout << "page:home = " << *cache.get("page:home") << "\n";
      std::cout << "other = " << cache.get("other").value_or("(none)") << "\n";
    }  // closed here: flushed, lock released

    // A new handle (think: after a restart) still has both values, from disk.
    tiercache::Cache cache(tiercache::Options().dir(dir));
    std::cout << "after reopen: greeting = " << cache.get("greeting").value_or("(none)")
              << ", page:home = " << cache.get("page:home").value_or("(none)") << "\n";
    tiercache::Stats s = cache.stats();
    std::cout << "disk hits: " << s.l2_hits << ", entries on disk: " << s.l2_entries << "\n";
  } catch (const tiercache::Error& e) {
    // e.g. TC_LOCKED when another process has the directory open
    std::cerr << "tiercache: " << e.status_str() << ": " << e.what() << "\n";
    return 1;
  }
  return 0;
}
