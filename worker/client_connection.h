// ClientConnection: the worker's end of one client TCP connection, with bounded waits.
//
// Contract: owns the client fd (in whatever mode it arrived: every recv/send is MSG_DONTWAIT
// and every wait is a poll() with a deadline). While waiting it also watches the worker's channel to the supervisor (borrowed
// fd): a hang-up there means the supervisor is gone, and a readable channel means a command
// arrived (the session decides when to look at it). Counts bytes in both directions.
// Used only inside a worker process; never touches an event loop.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/unique_fd.h"

namespace preforkd {

enum class ReadStatus {
  Data,            // bytes were appended
  Closed,          // the client closed (EOF) or reset the connection
  IdleTimeout,     // no input within the idle timeout
  ChannelReadable, // the supervisor sent a command (nothing read from the client)
  SupervisorGone,  // the channel hung up: stop serving
  Error,
};

class ClientConnection {
 public:
  ClientConnection(UniqueFd fd, int channel_fd);

  // Waits up to `idle` for input, then appends what is available (at most 16 KiB) to `out`.
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
  UniqueFd fd_;
  int channel_fd_;
  mutable std::string peer_;
  unsigned reads_since_poll_ = 0;
  bool read_first_ = true;    // try recv before poll (see readSome)
  bool input_ended_ = false;  // recv returned 0: the client's FIN was read
  static constexpr unsigned kChannelCheckInterval = 64;
  std::uint64_t bytes_in_ = 0;
  std::uint64_t bytes_out_ = 0;
};

}  // namespace preforkd
