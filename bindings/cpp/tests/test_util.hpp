// test_util.hpp: helpers shared by the tests: a temporary directory that
// removes itself, and a start line that releases many threads at once.
#pragma once

#include <tiercache.hpp>

#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <stdexcept>
#include <string>

namespace tctest {

// A fresh directory under $TMPDIR (or /tmp), deleted with everything in it.
class TempDir {
 public:
  TempDir() {
    const char* base = std::getenv("TMPDIR");
    std::string tmpl = std::string(base && *base ? base : "/tmp") + "/tiercache-cpp-XXXXXX";
    if (::mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  // A path inside it that does not exist yet: the cache creates it.
  std::string sub(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// Threads wait() until `count` have arrived, then all go together, so that
// they really contend instead of running one after another.
class StartLine {
 public:
  explicit StartLine(int count) : left_(count) {}
  void wait() {
    std::unique_lock<std::mutex> lock(mu_);
    if (--left_ == 0) {
      cv_.notify_all();
    } else {
      cv_.wait(lock, [&] { return left_ == 0; });
    }
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int left_;
};

// The status of the tiercache::Error that f throws (TC_OK if it throws none).
template <class F>
tiercache::Status status_of(F&& f) {
  try {
    f();
  } catch (const tiercache::Error& e) {
    return e.status();
  }
  return TC_OK;
}

}  // namespace tctest
