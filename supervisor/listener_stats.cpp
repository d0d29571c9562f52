#include "supervisor/listener_stats.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <cstddef>

namespace preforkd {

ListenerStats readListenerStats(int listen_fd, const std::string& address) {
  ListenerStats out;
  out.address = address;
  tcp_info info{};
  socklen_t len = sizeof info;
  if (::getsockopt(listen_fd, IPPROTO_TCP, TCP_INFO, &info, &len) != 0 ||
      len < offsetof(tcp_info, tcpi_sacked) + sizeof info.tcpi_sacked ||
      info.tcpi_state != TCP_LISTEN) {
    out.ok = false;
    return out;
  }
  out.backlog_now = info.tcpi_unacked;
  out.backlog_limit = info.tcpi_sacked;
  return out;
}

}  // namespace preforkd
