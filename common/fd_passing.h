// Descriptor passing over a SOCK_SEQPACKET Unix socket (SCM_RIGHTS).
//
// Contract:
//  - makeChannelPair() creates socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC): one record
//    per send, so a message is never split or coalesced.
//  - sendMessage() sends one record, optionally with one fd attached, with MSG_NOSIGNAL so a dead
//    peer yields EPIPE instead of killing the caller with SIGPIPE. The caller keeps its copy
//    of the fd: the kernel duplicates it into the message.
//  - receiveMessage() reads one record with MSG_CMSG_CLOEXEC and validates the control data
//    (MSG_CTRUNC, SOL_SOCKET, SCM_RIGHTS, length, at most one fd). Anything off: every fd that
//    arrived is closed and the result says why; the payload is still returned so the caller
//    can log it.
// Both are thin wrappers over one syscall each; they never block longer than the socket's mode
// (blocking or not) makes them.
#pragma once

#include <array>
#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <system_error>

#include "common/unique_fd.h"

namespace preforkd {

// Largest record either side ever sends; larger records arrive truncated (MSG_TRUNC).
inline constexpr std::size_t kMaxChannelMessage = 256;

FdPair makeChannelPair();  // throws std::system_error

// Returns 0 on success or an errno value (EAGAIN, EPIPE, ...).
int sendMessage(int sock, std::span<const std::byte> payload, int fd_to_pass = -1) noexcept;

enum class ReceiveStatus {
  Message,         // one record (and maybe one fd) arrived
  WouldBlock,      // non-blocking socket, nothing to read
  PeerClosed,      // EOF: the peer closed its end (or died)
  Error,           // recvmsg failed; see `error`
  BadControl,      // control data was not exactly one SCM_RIGHTS fd: all fds closed
  Truncated,       // MSG_TRUNC or MSG_CTRUNC: record or fds dropped by the kernel; fds closed
};

// The bytes of one record, held inline: receiving allocates nothing.
class Payload {
 public:
  std::string_view view() const noexcept { return {bytes_.data(), size_}; }
  operator std::string_view() const noexcept { return view(); }
  bool empty() const noexcept { return size_ == 0; }
  std::size_t size() const noexcept { return size_; }
  friend bool operator==(const Payload& p, std::string_view other) noexcept {
    return p.view() == other;
  }
  // For receiveMessage(): the buffer to receive into, then how much arrived.
  std::span<char, kMaxChannelMessage> buffer() noexcept { return bytes_; }
  void setSize(std::size_t n) noexcept { size_ = n < bytes_.size() ? n : bytes_.size(); }

 private:
  std::array<char, kMaxChannelMessage> bytes_;
  std::size_t size_ = 0;
};

struct ReceivedMessage {
  ReceiveStatus status = ReceiveStatus::Error;
  Payload payload;      // bytes of the record (possibly partial when Truncated)
  UniqueFd fd;          // the passed fd, only when status == Message
  int error = 0;        // errno when status == Error
};

ReceivedMessage receiveMessage(int sock) noexcept;

const char* toString(ReceiveStatus status) noexcept;

}  // namespace preforkd
