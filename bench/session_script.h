// SessionScript and ReplyMatcher: the exact bytes preforkd-bench sends to each service and the
// exact replies it accepts, independent of sockets and of the event loop.
//
// Contract: pure. A script is a list of steps; each step sends some bytes (possibly none),
// optionally half-closes, and expects one reply. Replies are verified byte for byte:
//   - Exact: these bytes and nothing else (echoed payloads, "PONG\r\n", "Goodbye.\r\n");
//   - Pattern: N bytes where byte i is "0123456789abcdef"[i % 16] (the bytes service);
//   - Line: one line ending "\r\n" that matches a template in which '#' stands for one or more
//     decimal digits (banners, whose pid and connection number vary);
//   - Eof: the peer closes without sending anything more.
// The scripts per mode and service (CRLF line ends; PAYLOAD is payloadBytes()):
//   crr  raw-echo  send PAYLOAD, expect PAYLOAD; close
//   crr  bytes     send "N\n", expect N pattern bytes; close
//   crr  echo      expect banner; send "PAYLOAD\r\n", expect it back; send "quit\r\n",
//                  expect "Goodbye.\r\n"; expect EOF
//   crr  shell     expect banner; send "PING\r\n", expect "PONG\r\n"; send "QUIT\r\n",
//                  expect "Goodbye.\r\n"; expect EOF
//   churn echo/shell   the same sessions as crr
//   churn raw-echo/bytes  shutdown(SHUT_WR) without a request, expect EOF (pure hand-off cost)
//   rr   any       set-up once per connection (the banner for echo and shell), then each
//                  operation is one round trip: the payload, "N\n", the echo line or PING
// The client always closes after the last step (for raw-echo and bytes it closes first).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "bench/bench_options.h"

namespace preforkd::bench {

enum class ExpectKind { Exact, Pattern, Line, Eof };

struct Step {
  std::string_view send{};      // sent first; may be empty
  bool shutdown_write = false;  // shutdown(SHUT_WR) once `send` is out
  ExpectKind expect = ExpectKind::Eof;
  std::string_view text{};      // Exact: the reply; Line: the template ('#' = digits)
  std::uint64_t count = 0;      // Pattern: number of bytes
};

// Deterministic request contents. Raw-echo payloads are binary: they start with bytes a line
// or telnet layer would mangle (IAC DO TIMING-MARK, NUL, CR, LF, Ctrl-C, Ctrl-D, ...) and go on
// through every byte value 0..255. Echo payloads are printable: 'a'..'z' repeated.
std::string payloadBytes(Service service, std::size_t size);

// Owns the bytes its steps point into, so it can be neither copied nor moved.
class SessionScript {
 public:
  explicit SessionScript(const BenchOptions& options);
  SessionScript(const SessionScript&) = delete;
  SessionScript& operator=(const SessionScript&) = delete;

  const std::vector<Step>& setup() const noexcept { return setup_; }      // per connection
  const std::vector<Step>& request() const noexcept { return request_; }  // per operation
  bool persistent() const noexcept { return persistent_; }  // rr: the connection is reused

 private:
  std::string payload_;
  std::string request_text_;
  std::string reply_text_;
  std::string quit_text_;
  std::string banner_template_;
  std::vector<Step> setup_;
  std::vector<Step> request_;
  bool persistent_ = false;
};

// Checks the bytes received for one step. feed() consumes bytes until the expectation is met;
// bytes left over after that are the caller's problem (within a request/reply protocol they
// are themselves a mismatch).
class ReplyMatcher {
 public:
  enum class Status { NeedMore, Done, Mismatch };
  struct FeedResult {
    Status status;
    std::size_t consumed;
  };

  void begin(const Step& step) noexcept;
  FeedResult feed(const char* data, std::size_t size);
  // The peer closed. Done if EOF was what the step expects, NeedMore otherwise (a short read).
  Status onEof() const noexcept;
  bool expectsEof() const noexcept { return kind_ == ExpectKind::Eof; }
  // How many bytes of this step's reply arrived so far.
  std::uint64_t received() const noexcept { return received_; }
  // For the report: what went wrong at the last Mismatch, with bytes shown escaped.
  const std::string& mismatchDetail() const noexcept { return detail_; }

 private:
  FeedResult mismatch(std::string detail);

  ExpectKind kind_ = ExpectKind::Eof;
  std::string_view text_;
  std::uint64_t count_ = 0;
  std::uint64_t received_ = 0;
  std::string line_;  // Line: the bytes so far
  std::string detail_;
};

// Whether `line` (with its "\r\n") matches `pattern`, where '#' matches one or more digits.
bool matchesLineTemplate(std::string_view line, std::string_view pattern) noexcept;

// `bytes` with non-printable bytes as \xNN, \r, \n, cut to about `limit` characters.
std::string escapeBytes(std::string_view bytes, std::size_t limit = 80);

inline constexpr std::string_view kBytesPattern = "0123456789abcdef";
inline constexpr std::size_t kMaxLineReply = 1024;  // a longer banner line is a mismatch

}  // namespace preforkd::bench
