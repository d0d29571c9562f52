#include "common/fd_passing.h"

#include <sys/socket.h>

#include <array>
#include <cerrno>
#include <cstring>

#include "common/hot_path.h"

namespace preforkd {

FdPair makeChannelPair() {
  int fds[2];
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds) != 0) {
    throw std::system_error(errno, std::generic_category(), "socketpair(SOCK_SEQPACKET)");
  }
  return FdPair{UniqueFd(fds[0]), UniqueFd(fds[1])};
}

PREFORKD_HOT
int sendMessage(int sock, std::span<const std::byte> payload, int fd_to_pass) noexcept {
  iovec iov{const_cast<std::byte*>(payload.data()), payload.size()};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(cmsghdr) std::array<char, CMSG_SPACE(sizeof(int))> control{};
  if (fd_to_pass >= 0) {
    msg.msg_control = control.data();
    msg.msg_controllen = control.size();
    cmsghdr* cmsg = CMSG_FIRSTHDR(&msg);
    cmsg->cmsg_level = SOL_SOCKET;
    cmsg->cmsg_type = SCM_RIGHTS;
    cmsg->cmsg_len = CMSG_LEN(sizeof(int));
    std::memcpy(CMSG_DATA(cmsg), &fd_to_pass, sizeof(int));
  }
  for (;;) {
    ssize_t n = ::sendmsg(sock, &msg, MSG_NOSIGNAL);
    if (n >= 0) return 0;  // SEQPACKET: all or nothing
    if (errno == EINTR) continue;
    return errno;
  }
}

namespace {

// Closes every fd carried by SCM_RIGHTS messages in `msg`; returns how many were closed.
int closeAllPassedFds(msghdr& msg) noexcept {
  int closed = 0;
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    const std::size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (std::size_t i = 0; i < n; ++i) {
      int fd;
      std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
      if (fd >= 0) ::close(fd);
      ++closed;
    }
  }
  return closed;
}

}  // namespace

PREFORKD_HOT
ReceivedMessage receiveMessage(int sock) noexcept {
  ReceivedMessage out;
  // Straight into the result's inline buffer: no copy, no allocation.
  const std::span<char, kMaxChannelMessage> buf = out.payload.buffer();
  iovec iov{buf.data(), buf.size()};
  // Room for a few fds so an unexpected extra fd arrives (and is closed) rather than being
  // silently dropped by the kernel; exactly one is accepted.
  alignas(cmsghdr) std::array<char, CMSG_SPACE(sizeof(int) * 4)> control{};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control.data();
  msg.msg_controllen = control.size();

  ssize_t n;
  do {
    n = ::recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
  } while (n < 0 && errno == EINTR);
  if (n < 0) {
    out.status = (errno == EAGAIN || errno == EWOULDBLOCK) ? ReceiveStatus::WouldBlock
                                                            : ReceiveStatus::Error;
    out.error = errno;
    return out;
  }
  if (n == 0 && msg.msg_controllen == 0) {
    // SEQPACKET never delivers empty records from our peers, so 0 means EOF.
    out.status = ReceiveStatus::PeerClosed;
    return out;
  }
  out.payload.setSize(static_cast<std::size_t>(n));

  if (msg.msg_flags & (MSG_CTRUNC | MSG_TRUNC)) {
    // MSG_CTRUNC: the kernel dropped fds that did not fit; close the ones that arrived.
    closeAllPassedFds(msg);
    out.status = ReceiveStatus::Truncated;
    return out;
  }

  int passed = -1;
  int count = 0;
  bool bad = false;
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS ||
        c->cmsg_len != CMSG_LEN(sizeof(int))) {
      bad = true;
      continue;
    }
    std::memcpy(&passed, CMSG_DATA(c), sizeof(int));
    ++count;
  }
  if (bad || count > 1) {
    closeAllPassedFds(msg);
    out.status = ReceiveStatus::BadControl;
    return out;
  }
  if (count == 1) out.fd.reset(passed);
  out.status = ReceiveStatus::Message;
  return out;
}

const char* toString(ReceiveStatus status) noexcept {
  switch (status) {
    case ReceiveStatus::Message: return "message";
    case ReceiveStatus::WouldBlock: return "would-block";
    case ReceiveStatus::PeerClosed: return "peer-closed";
    case ReceiveStatus::Error: return "error";
    case ReceiveStatus::BadControl: return "bad-control-data";
    case ReceiveStatus::Truncated: return "truncated";
  }
  return "?";
}

}  // namespace preforkd
