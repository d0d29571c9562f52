#include "worker/client_connection.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <array>
#include <cerrno>

#include "common/socket_address.h"

namespace preforkd {
namespace {

using Clock = std::chrono::steady_clock;

int remainingMs(Clock::time_point deadline) {
  const auto left =
      std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return left <= 0 ? 0 : static_cast<int>(std::min<long long>(left, 1 << 30));
}

}  // namespace

ClientConnection::ClientConnection(UniqueFd fd, int channel_fd)
    : fd_(std::move(fd)), channel_fd_(channel_fd) {
  // The supervisor accepted it in blocking mode; we need bounded writes, so non-blocking.
  const int flags = ::fcntl(fd_.get(), F_GETFL);
  if (flags >= 0) ::fcntl(fd_.get(), F_SETFL, flags | O_NONBLOCK);
  // Line services answer each request at once: do not let Nagle hold replies back.
  const int one = 1;
  ::setsockopt(fd_.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (::getpeername(fd_.get(), reinterpret_cast<sockaddr*>(&ss), &len) == 0) {
    peer_ = formatAddress(reinterpret_cast<sockaddr*>(&ss), len);
  }
}

ReadStatus ClientConnection::readSome(std::string& out, std::chrono::milliseconds idle) {
  const auto deadline = Clock::now() + idle;
  for (;;) {
    std::array<pollfd, 2> fds{{{fd_.get(), POLLIN, 0}, {channel_fd_, POLLIN, 0}}};
    const int n = ::poll(fds.data(), fds.size(), remainingMs(deadline));
    if (n < 0) {
      if (errno == EINTR) continue;
      return ReadStatus::Error;
    }
    if (n == 0) return ReadStatus::IdleTimeout;
    if (fds[1].revents & (POLLHUP | POLLERR)) return ReadStatus::SupervisorGone;
    if (fds[1].revents & POLLIN) return ReadStatus::ChannelReadable;
    if (fds[0].revents == 0) continue;
    std::array<char, 16384> buf;
    const ssize_t got = ::recv(fd_.get(), buf.data(), buf.size(), 0);
    if (got > 0) {
      out.append(buf.data(), static_cast<std::size_t>(got));
      bytes_in_ += static_cast<std::uint64_t>(got);
      return ReadStatus::Data;
    }
    if (got == 0) return ReadStatus::Closed;
    if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK) continue;
    return (errno == ECONNRESET || errno == ETIMEDOUT) ? ReadStatus::Closed : ReadStatus::Error;
  }
}

bool ClientConnection::writeAll(std::string_view data, std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (!data.empty()) {
    const ssize_t n = ::send(fd_.get(), data.data(), data.size(), MSG_NOSIGNAL);
    if (n > 0) {
      data.remove_prefix(static_cast<std::size_t>(n));
      bytes_out_ += static_cast<std::uint64_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      pollfd p{fd_.get(), POLLOUT, 0};
      const int ready = ::poll(&p, 1, remainingMs(deadline));
      if (ready < 0 && errno == EINTR) continue;
      if (ready <= 0) return false;  // the client does not read: give up at the deadline
      continue;
    }
    return false;  // EPIPE, ECONNRESET, ...
  }
  return true;
}

void ClientConnection::close() noexcept {
  if (!fd_) return;
  int unread = 0;
  if (::ioctl(fd_.get(), FIONREAD, &unread) == 0 && unread > 0 &&
      ::shutdown(fd_.get(), SHUT_WR) == 0) {
    const auto deadline = Clock::now() + kLingerTime;
    std::size_t drained = 0;
    std::array<char, 16384> buf;
    while (drained < kLingerBytes) {
      pollfd p{fd_.get(), POLLIN, 0};
      const int ready = ::poll(&p, 1, remainingMs(deadline));
      if (ready < 0 && errno == EINTR) continue;
      if (ready <= 0) break;
      const ssize_t n = ::recv(fd_.get(), buf.data(), buf.size(), 0);
      if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
      if (n <= 0) break;  // EOF: the client saw our FIN and closed too
      drained += static_cast<std::size_t>(n);
    }
  }
  fd_.reset();
}

}  // namespace preforkd
