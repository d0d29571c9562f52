#include "supervisor/listener.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

#include <fmt/format.h>

#include "common/client_read_wake.h"
#include "common/hot_path.h"

namespace preforkd {

Listener openListener(const SocketAddress& addr, int backlog) {
  const std::string wanted = formatAddress(addr);
  auto fail = [&](const char* step) {
    return std::runtime_error(fmt::format("listen {}: {}: {}", wanted, step, std::strerror(errno)));
  };
  UniqueFd fd(::socket(addr.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd) throw fail("socket");
  const int one = 1;
  if (::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0) {
    throw fail("SO_REUSEADDR");
  }
  if (addr.family() == AF_INET6 &&
      ::setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one) != 0) {
    throw fail("IPV6_V6ONLY");
  }
  // Accepted sockets inherit TCP_NODELAY from the listener on Linux, so no worker has to set
  // it per connection: request/response services must not wait for Nagle.
  if (::setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0) {
    throw fail("TCP_NODELAY");
  }
  if (::bind(fd.get(), addr.get(), addr.length) != 0) throw fail("bind");
  if (::listen(fd.get(), backlog) != 0) throw fail("listen");
  SocketAddress bound;
  bound.length = sizeof bound.storage;
  if (::getsockname(fd.get(), bound.get(), &bound.length) != 0) throw fail("getsockname");
  return Listener{std::move(fd), formatAddress(bound)};
}

void setClientReadWake(const Listener& listener, std::chrono::milliseconds period) {
  // Set on the listener once, copied by Linux into every accepted socket: no syscall per
  // connection in the supervisor or the worker.
  if (!setReadTimeout(listener.fd.get(), period)) {
    throw std::runtime_error(
        fmt::format("listen {}: SO_RCVTIMEO: {}", listener.address, std::strerror(errno)));
  }
}

PREFORKD_HOT
AcceptResult acceptOne(int listen_fd) {
  AcceptResult r;
  r.peer.length = sizeof r.peer.storage;
  // CLOEXEC so no exec'd program inherits it; the mode does not matter to workers (they pass
  // MSG_DONTWAIT on every call).
  const int fd = ::accept4(listen_fd, r.peer.get(), &r.peer.length, SOCK_CLOEXEC);
  if (fd >= 0) {
    r.outcome = AcceptOutcome::Accepted;
    r.fd.reset(fd);
    return r;
  }
  r.error = errno;
  switch (errno) {
    case EAGAIN:
#if EAGAIN != EWOULDBLOCK
    case EWOULDBLOCK:
#endif
      r.outcome = AcceptOutcome::Drained;
      break;
    case EMFILE:
    case ENFILE:
    case ENOBUFS:
    case ENOMEM:
      r.outcome = AcceptOutcome::ResourceLimit;
      break;
    default:
      // ECONNABORTED, EINTR, EPROTO, EPERM (firewall), and the network errors accept(2) says
      // must be treated like EAGAIN for TCP: skip this one, keep going.
      r.outcome = AcceptOutcome::Transient;
      break;
  }
  return r;
}

}  // namespace preforkd
