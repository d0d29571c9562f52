#include "worker/client_connection.h"

#include <netinet/in.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cerrno>

#include "common/client_read_wake.h"
#include "common/hot_path.h"
#include "common/socket_address.h"
#include "worker/wake_signal.h"

namespace preforkd {
namespace {

using Clock = std::chrono::steady_clock;

PREFORKD_HOT
int remainingMs(Clock::time_point deadline) {
  // Rounded up: a wait never ends before its deadline.
  const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return left <= 0 ? 0 : static_cast<int>(std::min<long long>(left, 1 << 30));
}

}  // namespace

PREFORKD_HOT
ClientConnection::ClientConnection(UniqueFd fd, int channel_fd, ClientWait wait)
    : fd_(std::move(fd)), channel_fd_(channel_fd), wait_(wait), read_timeout_(kClientReadWake) {
  // Nothing to set up (no syscall per connection): TCP_NODELAY and, for BlockingRead, the
  // read timeout are inherited from the listener; sends pass MSG_DONTWAIT.
}

const std::string& ClientConnection::peer() const {
  if (peer_.empty()) {  // looked up on first use only: most sessions never ask
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    peer_ = ::getpeername(fd_.get(), reinterpret_cast<sockaddr*>(&ss), &len) == 0
                ? formatAddress(reinterpret_cast<sockaddr*>(&ss), len)
                : std::string(1, '?');
  }
  return peer_;
}

PREFORKD_HOT
ReadStatus ClientConnection::readSome(std::span<char> into, std::size_t& got,
                                      std::chrono::milliseconds idle) {
  const auto now = Clock::now();
  return wait_ == ClientWait::BlockingRead ? readBlocking(into, got, now, now + idle)
                                           : readPolling(into, got, now + idle);
}

PREFORKD_HOT
ReadStatus ClientConnection::readSome(std::string& out, std::chrono::milliseconds idle) {
  std::array<char, kReadChunk> buf;
  std::size_t got = 0;
  const ReadStatus status = readSome(buf, got, idle);
  if (status == ReadStatus::Data) out.append(buf.data(), got);
  return status;
}

PREFORKD_HOT
ReadStatus ClientConnection::received(ssize_t n, std::size_t& got) {
  if (n == 0) {
    input_ended_ = true;
    return ReadStatus::Closed;
  }
  got = static_cast<std::size_t>(n);
  bytes_in_ += static_cast<std::uint64_t>(n);
  return ReadStatus::Data;
}

PREFORKD_HOT
std::optional<ReadStatus> ClientConnection::glanceAtChannel() const {
  pollfd p{channel_fd_, POLLIN, 0};
  if (::poll(&p, 1, 0) <= 0) return std::nullopt;  // nothing (or EINTR: look again later)
  if (p.revents & (POLLHUP | POLLERR)) return ReadStatus::SupervisorGone;
  if (p.revents & POLLIN) return ReadStatus::ChannelReadable;
  return std::nullopt;
}

PREFORKD_HOT
ReadStatus ClientConnection::readBlocking(std::span<char> into, std::size_t& got,
                                          Clock::time_point now, Clock::time_point deadline) {
  // One recv() per read. The wait is bounded by the socket's SO_RCVTIMEO (at most
  // kClientReadWake, or what is left of the idle wait if that is shorter); a Stop interrupts
  // it with the wake signal. See common/client_read_wake.h.
  for (bool first = true;; first = false) {
    if (takeWake()) {
      if (const auto seen = glanceAtChannel()) return *seen;
    }
    if (!first) now = Clock::now();
    if (now >= deadline) return ReadStatus::IdleTimeout;
    const auto want = std::min(std::chrono::ceil<std::chrono::milliseconds>(deadline - now),
                               std::chrono::milliseconds(kClientReadWake));
    if (want != read_timeout_) {  // only for short waits: the common one is the inherited period
      if (!setReadTimeout(fd_.get(), want)) return ReadStatus::Error;
      read_timeout_ = want;
    }
    const ssize_t n = ::recv(fd_.get(), into.data(), into.size(), 0);
    if (n >= 0) return received(n, got);
    if (errno == EINTR) continue;  // the wake signal (checked above) or another one
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      // The period passed. Far less than that means the fd is non-blocking after all, and a
      // blocking read would spin: wait by poll() from now on.
      if (Clock::now() - now < read_timeout_ / 2) {
        wait_ = ClientWait::Poll;
        return readPolling(into, got, deadline);
      }
      if (const auto seen = glanceAtChannel()) return *seen;
      continue;
    }
    return (errno == ECONNRESET || errno == ETIMEDOUT) ? ReadStatus::Closed : ReadStatus::Error;
  }
}

PREFORKD_HOT
ReadStatus ClientConnection::readPolling(std::span<char> into, std::size_t& got,
                                         Clock::time_point deadline) {
  // Read first only when input is likely there: the session's first read (the request has
  // usually arrived during the hand-off) and after a read that filled the buffer (more is
  // queued). Otherwise we have just answered and the client has yet to read that and reply
  // (or close): a read would fail with EAGAIN and cost a third syscall before poll and recv.
  // A client that never pauses would keep us from seeing a Stop, so every
  // kChannelCheckInterval reads we glance at the channel anyway.
  bool must_poll = !read_first_ || ++reads_since_poll_ >= kChannelCheckInterval;
  for (;;) {
    if (must_poll) {
      reads_since_poll_ = 0;
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
    }
    const ssize_t n = ::recv(fd_.get(), into.data(), into.size(), MSG_DONTWAIT);
    if (n >= 0) {
      read_first_ = static_cast<std::size_t>(n) == into.size();
      return received(n, got);
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      must_poll = true;
      continue;
    }
    return (errno == ECONNRESET || errno == ETIMEDOUT) ? ReadStatus::Closed : ReadStatus::Error;
  }
}

PREFORKD_HOT
bool ClientConnection::writeAll(std::string_view data, std::chrono::milliseconds timeout) {
  // The clock is read only if the client's buffer is full (the usual reply fits at once).
  std::optional<Clock::time_point> deadline;
  while (!data.empty()) {
    const ssize_t n = ::send(fd_.get(), data.data(), data.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      data.remove_prefix(static_cast<std::size_t>(n));
      bytes_out_ += static_cast<std::uint64_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      if (!deadline) deadline = Clock::now() + timeout;
      pollfd p{fd_.get(), POLLOUT, 0};
      const int ready = ::poll(&p, 1, remainingMs(*deadline));
      if (ready < 0 && errno == EINTR) continue;
      if (ready <= 0) return false;  // the client does not read: give up at the deadline
      continue;
    }
    return false;  // EPIPE, ECONNRESET, ...
  }
  return true;
}

PREFORKD_HOT
void ClientConnection::close(bool shared) noexcept {
  if (!fd_) return;
  int unread = 0;
  // After the client's EOF nothing can be unread: skip the probe.
  if (!input_ended_ && ::ioctl(fd_.get(), FIONREAD, &unread) == 0 && unread > 0 &&
      ::shutdown(fd_.get(), SHUT_WR) == 0) {
    const auto deadline = Clock::now() + kLingerTime;
    std::size_t drained = 0;
    std::array<char, kReadChunk> buf;
    while (drained < kLingerBytes) {
      pollfd p{fd_.get(), POLLIN, 0};
      const int ready = ::poll(&p, 1, remainingMs(deadline));
      if (ready < 0 && errno == EINTR) continue;
      if (ready <= 0) break;
      const ssize_t n = ::recv(fd_.get(), buf.data(), buf.size(), MSG_DONTWAIT);
      if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
      if (n <= 0) break;  // EOF: the client saw our FIN and closed too
      drained += static_cast<std::size_t>(n);
    }
  } else if (shared && !input_ended_) {
    ::shutdown(fd_.get(), SHUT_WR);
  }
  fd_.reset();
}

}  // namespace preforkd
