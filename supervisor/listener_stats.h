// ListenerStats: a listening TCP socket's accept queue as the kernel sees it (TCP_INFO).
//
// Contract: readListenerStats() is one getsockopt(TCP_INFO) on a listening socket. For a
// socket in LISTEN state Linux reports the accept queue's current length in tcpi_unacked and
// its limit (the effective backlog) in tcpi_sacked. On failure (not a TCP socket, closed) both
// numbers are 0 and `ok` is false. Never blocks; no allocation besides copying `address`.
#pragma once

#include <cstdint>
#include <string>

namespace preforkd {

struct ListenerStats {
  std::string address;
  std::uint32_t backlog_now = 0;    // tcpi_unacked: connections waiting for accept()
  std::uint32_t backlog_limit = 0;  // tcpi_sacked: the backlog limit
  bool ok = true;                   // TCP_INFO could be read
};

ListenerStats readListenerStats(int listen_fd, const std::string& address);

}  // namespace preforkd
