// ClientConnection: the worker's end of one client TCP connection, with bounded waits.
//
// Contract: owns the client fd. While waiting for input it also watches the worker's channel to
// the supervisor (borrowed fd): a hang-up there means the supervisor is gone, and a readable
// channel means a command arrived (the session decides when to look at it). Every wait has a
// deadline. Counts bytes in both directions. Used only inside a worker process; never touches
// an event loop. Two ways to wait for input (ClientWait):
//   Poll          poll() client and channel together, then recv(MSG_DONTWAIT); works whatever
//                 the fd's mode and options (exec'd workers);
//   BlockingRead  recv() blocks on the client alone (one system call per read); needs a
//                 blocking fd that carries SO_RCVTIMEO = kClientReadWake and a worker that
//                 installed the wake signal (forked workers: see common/client_read_wake.h).
//                 An fd found non-blocking falls back to Poll.
// Writes never block (MSG_DONTWAIT, then poll() for room until the deadline).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include <sys/types.h>

#include "common/unique_fd.h"

namespace preforkd {

enum class ReadStatus {
  Data,            // bytes were read
  Closed,          // the client closed (EOF) or reset the connection
  IdleTimeout,     // no input within the idle timeout
  ChannelReadable, // the supervisor sent a command (nothing read from the client)
  SupervisorGone,  // the channel hung up: stop serving
  Error,
};

enum class ClientWait { Poll, BlockingRead };

class ClientConnection {
 public:
  ClientConnection(UniqueFd fd, int channel_fd, ClientWait wait = ClientWait::Poll);

  // The most one read takes from the client.
  static constexpr std::size_t kReadChunk = 16384;

  // Waits up to `idle` for input, then reads what is available (at most into.size() bytes)
  // into `into` (not empty) and sets `got` (Data only). No copy, no allocation: the hot path.
  ReadStatus readSome(std::span<char> into, std::size_t& got, std::chrono::milliseconds idle);
  // The same, appending what is available (at most kReadChunk) to `out`.
  ReadStatus readSome(std::string& out, std::chrono::milliseconds idle);
  // Writes all of `data`, waiting at most `timeout` for the client to make room.
  bool writeAll(std::string_view data, std::chrono::milliseconds timeout);

  ClientConnection(ClientConnection&&) = default;
  ClientConnection& operator=(ClientConnection&&) = delete;
  ~ClientConnection() { close(); }

  // Ends the connection cleanly. Closing a TCP socket with unread input makes the kernel send
  // RST instead of FIN (RFC 1122), and the client may then lose our last reply (a goodbye, an
  // error line). So when input is pending we half-close first and read and discard what the
  // client still sends, until its EOF or a bound (kLingerTime, kLingerBytes), as Apache's
  // lingering close does. Without pending input it closes at once; with `shared`
  // (another process may still hold the socket, so our close would not end the connection)
  // it sends the FIN first with shutdown(SHUT_WR), unless the client already closed its side.
  void close(bool shared = false) noexcept;

  static constexpr std::chrono::milliseconds kLingerTime{1000};
  static constexpr std::size_t kLingerBytes = 1 << 20;

  int fd() const noexcept { return fd_.get(); }
  std::uint64_t bytesIn() const noexcept { return bytes_in_; }
  std::uint64_t bytesOut() const noexcept { return bytes_out_; }
  // Numeric peer address ("127.0.0.1:5555"), looked up on first use.
  const std::string& peer() const;

 private:
  ReadStatus readPolling(std::span<char> into, std::size_t& got,
                         std::chrono::steady_clock::time_point deadline);
  ReadStatus readBlocking(std::span<char> into, std::size_t& got,
                          std::chrono::steady_clock::time_point now,
                          std::chrono::steady_clock::time_point deadline);
  ReadStatus received(ssize_t n, std::size_t& got);
  // Hang-up or a command on the channel, without waiting; nothing: std::nullopt.
  std::optional<ReadStatus> glanceAtChannel() const;

  UniqueFd fd_;
  int channel_fd_;
  ClientWait wait_;
  // BlockingRead: the fd's SO_RCVTIMEO as far as we know (inherited from the listener).
  std::chrono::milliseconds read_timeout_;
  mutable std::string peer_;
  unsigned reads_since_poll_ = 0;
  bool read_first_ = true;    // try recv before poll (see readSome)
  bool input_ended_ = false;  // recv returned 0: the client's FIN was read
  static constexpr unsigned kChannelCheckInterval = 64;
  std::uint64_t bytes_in_ = 0;
  std::uint64_t bytes_out_ = 0;
};

}  // namespace preforkd
