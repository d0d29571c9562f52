// TCP_INFO on a real listening socket: the accept queue's length and limit.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <chrono>
#include <vector>

#include "common/unique_fd.h"
#include "supervisor/listener_stats.h"

namespace preforkd {
namespace {

TEST(ListenerStats, AcceptQueueNowAndLimit) {
  UniqueFd listener(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  ASSERT_TRUE(listener);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(listener.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::listen(listener.get(), 8), 0);
  socklen_t len = sizeof addr;
  ASSERT_EQ(::getsockname(listener.get(), reinterpret_cast<sockaddr*>(&addr), &len), 0);

  ListenerStats s = readListenerStats(listener.get(), "127.0.0.1:x");
  EXPECT_TRUE(s.ok);
  EXPECT_EQ(s.address, "127.0.0.1:x");
  EXPECT_EQ(s.backlog_now, 0u);
  EXPECT_EQ(s.backlog_limit, 8u);

  constexpr std::uint32_t kClients = 3;
  std::vector<UniqueFd> clients;
  for (std::uint32_t i = 0; i < kClients; ++i) {
    clients.emplace_back(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    ASSERT_EQ(::connect(clients.back().get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  }
  // connect() returns on the SYN-ACK; the final ACK moves the connection into the accept
  // queue a moment later: wait (bounded) for the listener to become readable, then for all.
  pollfd p{listener.get(), POLLIN, 0};
  ASSERT_EQ(::poll(&p, 1, 2000), 1);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  while ((s = readListenerStats(listener.get(), "")).backlog_now < kClients &&
         std::chrono::steady_clock::now() < deadline) {
    ::poll(nullptr, 0, 1);
  }
  EXPECT_EQ(s.backlog_now, kClients);
  EXPECT_EQ(s.backlog_limit, 8u);

  UniqueFd accepted(::accept(listener.get(), nullptr, nullptr));
  ASSERT_TRUE(accepted);
  EXPECT_EQ(readListenerStats(listener.get(), "").backlog_now, kClients - 1);
}

TEST(ListenerStats, NotAListenerIsNotOk) {
  UniqueFd udp(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  EXPECT_FALSE(readListenerStats(udp.get(), "udp").ok);
  UniqueFd unbound(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  EXPECT_FALSE(readListenerStats(unbound.get(), "tcp").ok);  // TCP_CLOSE, not listening
  EXPECT_FALSE(readListenerStats(-1, "none").ok);
}

}  // namespace
}  // namespace preforkd
