// The shared remote tier (Options::remote) against a real redis-server
// started on a free loopback port, and killed when the test ends.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "test_util.hpp"
#include "tiercache.hpp"

using namespace std::chrono_literals;
using tiercache::Cache;
using tiercache::Options;

namespace {

int free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

bool answers(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool ok = false;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) {
    char buf[8] = {};
    ok = ::write(fd, "PING\r\n", 6) == 6 && ::read(fd, buf, 5) == 5 && std::string(buf, 5) == "+PONG";
  }
  ::close(fd);
  return ok;
}

// A redis-server for one test; killed by the destructor.
class Redis {
 public:
  Redis() : port_(free_port()) {
    std::string port = std::to_string(port_);
    pid_ = ::fork();
    if (pid_ == 0) {
      ::execlp("redis-server", "redis-server", "--port", port.c_str(), "--bind", "127.0.0.1", "--save", "",
               "--dir", dir_.path().c_str(), static_cast<char*>(nullptr));
      ::_exit(127);
    }
    for (int i = 0; i < 4000 && !answers(port_); ++i) std::this_thread::sleep_for(5ms);
  }
  ~Redis() {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
  std::string url() const { return "redis://127.0.0.1:" + std::to_string(port_); }

 private:
  tctest::TempDir dir_;
  int port_;
  pid_t pid_;
};

}  // namespace

TEST(Remote, APutInOneCacheIsSeenByAnother) {
  Redis redis;
  Cache a(Options().remote(redis.url(), "cpp-a", {}, 500ms));
  Cache b(Options().remote(redis.url(), "cpp-a"));
  EXPECT_EQ(a.counter("remote_state"), 1u);
  EXPECT_EQ(a.remote_reason(), "");
  a.put("k", "v1");
  EXPECT_EQ(b.get("k"), "v1");
  EXPECT_EQ(b.counter("remote_hits"), 1u);
}

TEST(Remote, SignedValuesNeedTheSecret) {
  Redis redis;
  Cache a(Options().remote(redis.url(), "cpp-s", "0123456789abcdef"));
  Cache plain(Options().remote(redis.url(), "cpp-s"));
  a.put("k", "v");
  EXPECT_FALSE(plain.get("k").has_value());
  EXPECT_EQ(plain.counter("remote_errors"), 1u);
}

TEST(Remote, BadOptionsThrowInvalidArgument) {
  for (auto f : {+[] { Options().remote("http://localhost:1"); },
                 +[] { Options().remote("redis://localhost:1", std::string(256, 'n')); },
                 +[] { Options().remote("redis://localhost:1", "ns", "short"); }}) {
    try {
      f();
      ADD_FAILURE() << "no exception";
    } catch (const tiercache::Error& e) {
      EXPECT_EQ(e.status(), TC_INVALID_ARGUMENT);
    }
  }
}

TEST(Remote, AnUnreachableServerLeavesTheCacheWorking) {
  Cache c(Options().remote("redis://127.0.0.1:" + std::to_string(free_port()), {}, {}, 100ms));
  EXPECT_EQ(c.counter("remote_state"), 2u);
  ASSERT_TRUE(c.remote_reason().has_value());
  EXPECT_FALSE(c.remote_reason()->empty());
  EXPECT_FALSE(Cache(Options()).remote_reason().has_value());
  c.put("k", "v");
  EXPECT_EQ(c.get("k"), "v");
}
