// Test support: runs one service session over real socketpairs in a thread, driven from the
// test (LiveSession), with a fake host whose channel pokes always mean Stop (FakeHost).
#pragma once

#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "common/unique_fd.h"
#include "worker/client_connection.h"
#include "worker/service.h"

namespace preforkd::testing_support {

using namespace std::chrono;

class FakeHost final : public SessionHost {
 public:
  bool checkChannel() override {
    char byte;
    (void)!::read(fd, &byte, 1);
    ++checks;
    return true;
  }
  int fd = -1;
  std::atomic<int> checks{0};
};

class LiveSession {
 public:
  LiveSession(ServiceFunction run, WorkerSettings settings) : settings_(std::move(settings)) {
    int client[2], channel[2];
    EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, client), 0);
    EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, channel), 0);
    peer_.reset(client[1]);
    channel_.reset(channel[0]);
    channel_peer_.reset(channel[1]);
    host_.fd = channel_.get();
    thread_ = std::thread([this, run, fd = client[0]] {
      ClientConnection conn(UniqueFd(fd), channel_.get());
      const ServiceContext ctx{.settings = settings_,
                               .info = {.conn_id = 99, .worker_pid = 4242},
                               .host = host_,
                               .served_before = 3,
                               .started_at = steady_clock::now()};
      end_ = run(conn, ctx);
    });  // `conn` closes the service's end here, so the test sees EOF
  }
  ~LiveSession() {
    peer_.reset();  // unblocks a session that a failed test left waiting
    if (thread_.joinable()) thread_.join();
  }

  void send(std::string_view data) {
    ASSERT_EQ(::send(peer_.get(), data.data(), data.size(), MSG_NOSIGNAL),
              static_cast<ssize_t>(data.size()));
  }
  // Like send(), but a peer that has already closed is not a failure: returns false.
  bool trySend(std::string_view data) {
    return ::send(peer_.get(), data.data(), data.size(), MSG_NOSIGNAL) ==
           static_cast<ssize_t>(data.size());
  }
  // True if data (or EOF) arrives within `timeout`.
  bool readable(milliseconds timeout) {
    pollfd p{peer_.get(), POLLIN, 0};
    return ::poll(&p, 1, static_cast<int>(timeout.count())) > 0;
  }
  void closeWrite() { ::shutdown(peer_.get(), SHUT_WR); }
  void pokeChannel() { ASSERT_EQ(::write(channel_peer_.get(), "S", 1), 1); }

  // Reads until `n` bytes or EOF (or 5 s without progress, so a broken test cannot hang).
  std::string recv(std::size_t n = SIZE_MAX) {
    std::string got;
    std::vector<char> buf(65536);
    while (got.size() < n) {
      pollfd p{peer_.get(), POLLIN, 0};
      if (::poll(&p, 1, 5000) <= 0) {
        ADD_FAILURE() << "no data within 5 s";
        break;
      }
      const ssize_t r = ::recv(peer_.get(), buf.data(), std::min(buf.size(), n - got.size()), 0);
      if (r <= 0) break;
      got.append(buf.data(), static_cast<std::size_t>(r));
    }
    return got;
  }

  SessionEnd finish() {
    thread_.join();
    return end_;
  }
  const FakeHost& host() const { return host_; }

 private:
  WorkerSettings settings_;
  UniqueFd peer_, channel_, channel_peer_;
  FakeHost host_;
  SessionEnd end_ = SessionEnd::Error;
  std::thread thread_;
};

}  // namespace preforkd::testing_support
